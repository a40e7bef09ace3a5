"""What every distance matrix shares: its kinds, its shape, and what is read from it.

A matrix is a square :class:`pandas.DataFrame` indexed by the task's own language codes, exactly
symmetric with zeros on the diagonal and NaN where a distance is undefined; ``attrs["distance"]``
names its kind.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from fedlib.data.errors import UnknownLanguageError
from fedlib.distance.errors import DistanceError
from fedlib.distance.stats import MIN_LANGUAGES, spearman

URIEL_KINDS = ("syntactic", "phonological", "inventory", "featural", "genetic", "geographic")
MODEL_KINDS = ("model_cosine", "model_cka")
DISTANCE_KINDS = URIEL_KINDS + MODEL_KINDS


def check_kind(kind: str, kinds: Sequence[str] = DISTANCE_KINDS) -> None:
    if kind not in kinds:
        raise DistanceError(f"unknown distance {kind!r}; choose one of {', '.join(kinds)}")


def symmetric_frame(dist: np.ndarray, languages: Sequence[str]) -> pd.DataFrame:
    """A matrix from the upper triangle of ``dist``, mirrored (exact symmetry), zeros on the diagonal."""
    out = np.zeros_like(dist)
    iu = np.triu_indices(len(dist), 1)
    out[iu] = dist[iu]
    out[(iu[1], iu[0])] = dist[iu]
    return pd.DataFrame(out, index=pd.Index(list(languages), name="language"), columns=list(languages))


def _upper_triangle(matrix: pd.DataFrame) -> np.ndarray:
    return matrix.to_numpy(dtype=float)[np.triu_indices(len(matrix), 1)]


def distance_to(matrix: pd.DataFrame, reference: str) -> pd.Series:
    """Each language's distance to ``reference`` (a language of the matrix)."""
    if reference not in matrix.columns:
        raise UnknownLanguageError(f"{reference!r} is not in the matrix; it has {', '.join(matrix.columns)}")
    return matrix[reference].rename(f"{matrix.attrs.get('distance', 'distance')}_to_{reference}")


def mean_distance_to_others(matrix: pd.DataFrame) -> pd.Series:
    """Each language's mean distance to the other languages of the matrix (NaN pairs skipped)."""
    values = matrix.to_numpy(dtype=float).copy()
    np.fill_diagonal(values, np.nan)
    with warnings.catch_warnings():  # an all-NaN row is a language without data: NaN, said quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(values, axis=1) if len(values) > 1 else np.full(len(values), np.nan)
    return pd.Series(means, index=matrix.index, name=f"{matrix.attrs.get('distance', 'distance')}_mean_to_others")


def closest_pair(matrix: pd.DataFrame) -> tuple[str, str]:
    """The two languages at the smallest defined distance (the first such pair in row order)."""
    values = matrix.to_numpy(dtype=float).copy()
    values[np.tril_indices(len(values))] = np.nan
    i, j = np.unravel_index(np.nanargmin(values), values.shape)
    return matrix.index[i], matrix.columns[j]


def matrix_agreement(matrices: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Spearman rho between distance matrices over the language pairs both define (upper triangles).

    Descriptive only: pairs sharing a language are not independent, so no interval is given.
    """
    names = list(matrices)
    pairs = {name: _upper_triangle(m) for name, m in matrices.items()}
    out = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            keep = np.isfinite(pairs[a]) & np.isfinite(pairs[b])
            rho = spearman(pairs[a][keep], pairs[b][keep]) if keep.sum() >= MIN_LANGUAGES else np.nan
            out.loc[a, b] = out.loc[b, a] = rho
    return out


def agreement_extremes(agreement: pd.DataFrame) -> tuple[tuple[str, str, float], tuple[str, str, float]]:
    """The least and the most agreeing pair of distinct measures: ``(a, b, rho)`` each."""
    names = list(agreement.index)
    upper = pd.Series({(a, b): agreement.loc[a, b] for i, a in enumerate(names) for b in names[i + 1:]}).dropna()
    low, high = upper.idxmin(), upper.idxmax()
    return (*low, float(upper[low])), (*high, float(upper[high]))
