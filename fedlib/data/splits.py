"""Reproducible row-index split for tasks published without a usable train split.

XNLI ships only dev (2,490) and test (5,010) rows per language, and the rows are parallel
across languages (row *i* is the same translated pair everywhere). Splitting by **row
index** with one fixed seed gives every language the same disjoint row ids, so no
translation of a validation or test pair is ever seen in training by another client.

XGLUE NC from the Hub (train is English-only) uses the same rule on its per-language
validation sets.
"""

from __future__ import annotations

import numpy as np

from fedlib.data.errors import DataError
from fedlib.data.tasks import XNLI_SPLIT_SEED, XNLI_TRAIN_ROWS

XNLI_DEV_ROWS = 2490


def split_rows(n_rows: int, n_train: int, seed: int) -> dict[str, np.ndarray]:
    """Row ids ``{"train": ..., "validation": ...}`` (each sorted ascending, disjoint, covering ``range(n_rows)``).

    A permutation of ``range(n_rows)`` drawn with ``numpy.random.default_rng(seed)``; its
    first ``n_train`` ids are train, the rest validation.
    """
    if not 0 < n_train < n_rows:
        raise DataError(f"cannot split {n_rows} rows into {n_train} train rows and a non-empty validation part")
    order = np.random.default_rng(seed).permutation(n_rows)
    return {"train": np.sort(order[:n_train]), "validation": np.sort(order[n_train:])}


def xnli_split_rows(n_rows: int = XNLI_DEV_ROWS, seed: int = XNLI_SPLIT_SEED) -> dict[str, np.ndarray]:
    """The XNLI dev-row ids used as client train (2,000) and validation (490), same for every language.

    For a dev file of another length the 2000/2490 ratio is kept.
    """
    n_train = XNLI_TRAIN_ROWS if n_rows == XNLI_DEV_ROWS else round(n_rows * XNLI_TRAIN_ROWS / XNLI_DEV_ROWS)
    return split_rows(n_rows, n_train, seed)
