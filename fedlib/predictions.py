"""Per-example test predictions in artifacts: what the confidence intervals resample.

Stored as one compact string per language and field (a digit per example when every label id is
below 10, else comma-separated ids), in the test set's row order. Test sets are fixed across seeds
under data protocol 2, so example *i* is the same sentence in every run of a task and language.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def encode_labels(ids: Sequence[int]) -> str:
    values = [int(i) for i in ids]
    if all(0 <= v < 10 for v in values):
        return "".join(map(str, values))
    return ",".join(map(str, values))


def decode_labels(text: str) -> np.ndarray:
    if "," in text:
        return np.array([int(v) for v in text.split(",")], dtype=np.int64)
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int64) - ord("0")


def majority_share(predictions: np.ndarray) -> float:
    """Share of the most frequent predicted label: near 1 = the model predicts one class."""
    if len(predictions) == 0:
        return float("nan")
    return float(np.bincount(predictions).max() / len(predictions))
