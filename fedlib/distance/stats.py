"""Spearman's rho over languages, with a percentile-bootstrap interval and a permutation p-value.

Built on ``scipy.stats``: ``spearmanr`` for rho, ``bootstrap`` (paired: languages are resampled with
replacement) for the interval and ``permutation_test`` (the pairings of one side permuted) for the
p-value. Both resamplings are seeded, so every result is deterministic.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

MIN_LANGUAGES = 4  # below this a rank correlation over languages is not reported
FEW_LANGUAGES = 10  # below this a percentile bootstrap interval is known to be too narrow
EXACT_PERMUTATIONS_UP_TO = 7  # languages; 7! = 5,040 orderings are still cheap to enumerate


@dataclasses.dataclass(frozen=True)
class Correlation:
    """A Spearman correlation over ``n`` languages: bootstrap interval and permutation p-value."""

    n: int
    rho: float
    lo: float
    hi: float
    p_perm: float = float("nan")
    valid_resamples: int = 0
    note: str = ""


def _rank_correlation(ranks_x: np.ndarray, ranks_y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Pearson correlation of ranks along ``axis``; NaN where a side is constant."""
    with warnings.catch_warnings():  # a constant side has no rho: NaN, said quietly
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return stats.pearsonr(ranks_x, ranks_y, axis=axis).statistic


def _spearman_along(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return _rank_correlation(stats.rankdata(x, axis=axis), stats.rankdata(y, axis=axis), axis)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho of two 1-D sequences of equal length; NaN if either side is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("spearman needs two 1-D sequences of equal length")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(stats.spearmanr(x, y).statistic)


def permutation_pvalue(x: Sequence[float], y: Sequence[float], *, n_perm: int = 2000, seed: int = 0) -> float:
    """Two-sided permutation p-value of Spearman's rho: the share of pairings with ``|rho|`` as large.

    Exact (every ordering) up to :data:`EXACT_PERMUTATIONS_UP_TO` languages; beyond, ``n_perm``
    random orderings and the usual ``(1 + hits) / (1 + n_perm)``.
    """
    ranks_x, ranks_y = stats.rankdata(np.asarray(x, dtype=float)), stats.rankdata(np.asarray(y, dtype=float))
    if np.isnan(_rank_correlation(ranks_x, ranks_y)):
        return float("nan")

    def abs_rho(permuted_x, axis):
        return np.abs(_rank_correlation(permuted_x, ranks_y, axis))

    n_resamples = np.inf if len(ranks_x) <= EXACT_PERMUTATIONS_UP_TO else n_perm
    result = stats.permutation_test((ranks_x,), abs_rho, permutation_type="pairings", vectorized=True,
                                    n_resamples=n_resamples, alternative="greater",
                                    rng=np.random.default_rng(seed))
    return float(result.pvalue)


def bootstrap_spearman(x: Sequence[float], y: Sequence[float], *, n_boot: int = 2000, level: float = 0.95,
                       seed: int = 0) -> Correlation:
    """Spearman's rho over the pairs where both values exist, a percentile bootstrap CI and a permutation p.

    Languages are resampled with replacement (``n_boot`` times, seeded). Resamples in which a side is
    constant have no rho: the interval is taken over the others, and their count is reported (scipy's
    own interval would be NaN). Fewer than :data:`MIN_LANGUAGES` pairs give NaN with a note; fewer
    than :data:`FEW_LANGUAGES` get a warning note, because a percentile interval from so few languages
    is too narrow (the permutation p-value is exact there).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(keep.sum())
    if n < MIN_LANGUAGES:
        return Correlation(n, np.nan, np.nan, np.nan, note=f"fewer than {MIN_LANGUAGES} languages with both values")
    rho = spearman(x, y)
    if np.isnan(rho):
        return Correlation(n, rho, np.nan, np.nan, note="one side is constant")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        resampled = stats.bootstrap((x, y), _spearman_along, paired=True, vectorized=True, n_resamples=n_boot,
                                    method="percentile", rng=np.random.default_rng(seed)).bootstrap_distribution
    valid = resampled[np.isfinite(resampled)]
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(valid, [tail, 100 - tail])
    notes = []
    if n < FEW_LANGUAGES:
        notes.append(f"only {n} languages: the interval is too narrow, trust p_perm")
    if len(valid) < 0.9 * n_boot:
        notes.append(f"only {len(valid)} of {n_boot} resamples had a defined rho")
    return Correlation(n, rho, float(lo), float(hi), permutation_pvalue(x, y, seed=seed), len(valid), "; ".join(notes))
