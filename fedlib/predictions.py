"""Per-example test outcomes in artifacts: what the confidence intervals resample.

Each language of an artifact stores ``correct`` (0/1 per test example, in the test set's row order)
and ``predicted_counts`` (how often each label was predicted); runs that trained where they were
evaluated (monolingual, centralized) also keep ``predictions`` and ``labels``. Federated clients send
only the first two (:func:`fedlib.federated.client_app.test_outcome_metrics`). Stored as compact strings:
a digit per value when every value is below 10 and no ``separator`` is asked for, else comma-separated.
Test sets are fixed across seeds under data protocol 2, so example *i* is the same sentence in every
run of a task and language.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def encode_labels(ids: Sequence[int], *, separator: bool = False) -> str:
    values = [int(i) for i in ids]
    if not separator and all(0 <= v < 10 for v in values):
        return "".join(map(str, values))
    return ",".join(map(str, values))


def decode_labels(text: str) -> np.ndarray:
    if not text:
        return np.zeros(0, dtype=np.int64)
    if "," in text:
        return np.array([int(v) for v in text.split(",")], dtype=np.int64)
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int64) - ord("0")


def majority_share(counts: np.ndarray) -> float:
    """Share of the most frequent predicted label, from counts per label: near 1 = one class."""
    total = counts.sum()
    return float(counts.max() / total) if total else float("nan")


def test_outcomes(predictions, labels, num_labels: int) -> tuple[list[int], list[int]]:
    """Whether each example was right (0/1, row order) and how often each label was predicted."""
    p, y = np.asarray(predictions, dtype=np.int64), np.asarray(labels, dtype=np.int64)
    return (p == y).astype(int).tolist(), np.bincount(p, minlength=num_labels).astype(int).tolist()
