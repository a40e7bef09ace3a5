"""Data protocols: which rows of a language become its client's train, validation and test sets.

* Protocol 1 (the first artifacts): the shipped splits as they are, test rows drawn with the run's
  seed when a budget is smaller than the test set.
* Protocol 2 (results that decide): **no text in two splits, test rows fixed across seeds.**

  - XNLI's validation rows are split from the development set by us, and every premise occurs with
    three hypotheses: split by row, 396 of 405 validation premises were also training premises. Under
    protocol 2 the development rows are regrouped by premise, whole groups going to validation (the
    same groups in every language: the rows are parallel).
  - In every task a training row whose text also occurs in validation or test is dropped, and so is a
    validation row whose text occurs in test (MasakhaNEWS' ibo/pcm publish such headlines in train).
  - Test rows are drawn with seed 0 (or all are used), so seeds vary training only.

Every dropped row is counted (:func:`apply_protocol` returns the counts; artifacts record them).
"""

from __future__ import annotations

import numpy as np
from datasets import Dataset, concatenate_datasets

PROTOCOLS = (1, 2)
TEST_SEED = 0  # protocol 2: the test rows of a budget are the same for every seed
REGROUP_SEED = 2024
# Tasks whose validation set is carved out of the same pool as training (not an official dev set).
REGROUPED_TASKS = ("xnli",)


def regroup_by_text(train: Dataset, validation: Dataset, seed: int = REGROUP_SEED) -> tuple[Dataset, Dataset]:
    """Pool ``train`` and ``validation`` and split them again so that no ``text`` is in both.

    Groups (rows sharing a text) are visited in a seeded random order and given to validation until
    it holds at least as many rows as before; the rest train. Groups are numbered by first
    occurrence, so parallel languages get the same split.
    """
    pool = concatenate_datasets([train, validation])
    texts = pool["text"]
    group_of: dict[str, int] = {}
    groups = np.array([group_of.setdefault(t, len(group_of)) for t in texts])
    order = np.random.default_rng(seed).permutation(len(group_of))
    sizes = np.bincount(groups, minlength=len(group_of))
    taken = np.cumsum(sizes[order])
    chosen = order[: int(np.searchsorted(taken, len(validation))) + 1]
    in_validation = np.isin(groups, chosen)
    return pool.select(np.flatnonzero(~in_validation)), pool.select(np.flatnonzero(in_validation))


def _without(ds: Dataset, texts: set[str]) -> tuple[Dataset, int]:
    keep = [i for i, t in enumerate(ds["text"]) if t not in texts]
    return (ds if len(keep) == len(ds) else ds.select(keep)), len(ds) - len(keep)


def apply_protocol(task: str, protocol: int, train: Dataset, validation: Dataset,
                   test: Dataset) -> tuple[Dataset, Dataset, Dataset, dict[str, int]]:
    """One language's splits under ``protocol``, and how many rows each rule removed."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown data protocol {protocol!r}; choose one of {list(PROTOCOLS)}")
    if protocol == 1:
        return train, validation, test, {}
    counts = {}
    if task in REGROUPED_TASKS:
        before = set(train["text"]) & set(validation["text"])
        train, validation = regroup_by_text(train, validation)
        counts["validation texts that were also training texts (regrouped)"] = len(before)
    test_texts = set(test["text"])
    validation, counts["validation rows sharing a text with test (dropped)"] = _without(validation, test_texts)
    train, counts["train rows sharing a text with test (dropped)"] = _without(train, test_texts)
    train, counts["train rows sharing a text with validation (dropped)"] = _without(train, set(validation["text"]))
    return train, validation, test, counts
