"""Confidence intervals that respect both sources of noise: training seeds and test examples.

An arm's score is the mean over languages of its per-language test accuracy, averaged over seeds.
Its uncertainty has two crossed sources, so the bootstrap resamples both: seeds with replacement, and
test examples with replacement (``scipy.stats.bootstrap`` with two independent samples, seed ids and
example ids). A paired comparison of two arms resamples the *same* seeds and examples for both: the
same test sentence and the same seed, once trained each way.

Each example carries the weight ``1 / (languages x its language's test rows)``, so a language with a
larger test set does not count more than one with a smaller one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy import stats

from fedlib.predictions import decode_labels, majority_share

CONFIDENCE = 0.95
RESAMPLES = 2000
COLLAPSED_SHARE = 0.9  # an arm whose predictions are >= 90 % one label has collapsed


@dataclasses.dataclass(frozen=True)
class Outcomes:
    """Per-example correctness of one arm: ``correct[s, i]`` for seed ``seeds[s]`` and example ``i``."""

    seeds: tuple[int, ...]
    languages: tuple[str, ...]
    correct: np.ndarray  # (seeds, examples) of 0/1
    language_of: np.ndarray  # (examples,) index into languages
    majority_share: float  # largest share of one predicted label, over all seeds and examples

    @property
    def weights(self) -> np.ndarray:
        counts = np.bincount(self.language_of, minlength=len(self.languages))
        return 1.0 / (len(self.languages) * counts[self.language_of])

    @property
    def collapsed(self) -> bool:
        return self.majority_share >= COLLAPSED_SHARE

    def restricted(self, language: str) -> Outcomes:
        columns = self.language_of == self.languages.index(language)
        return Outcomes(self.seeds, (language,), self.correct[:, columns], np.zeros(int(columns.sum()), int),
                        self.majority_share)


def outcomes(artifacts: Sequence[dict], languages: Sequence[str] | None = None) -> Outcomes:
    """The :class:`Outcomes` of one arm from its artifacts (one per seed, with test outcomes)."""
    if not artifacts:
        raise ValueError("no artifacts for this arm")
    artifacts = sorted(artifacts, key=lambda a: a["seed"])
    languages = tuple(languages or artifacts[0]["per_language"])
    rows, counts, reference = [], np.zeros(0, dtype=np.int64), None
    for artifact in artifacts:
        row, labels, sizes = [], [], []
        for lang in languages:
            entry = artifact["per_language"].get(lang)
            if entry is None or "correct" not in entry:
                raise ValueError(f"{artifact.get('run_name')}: no per-example test outcomes for {lang!r} "
                                 "(schema-1 artifact? rerun it)")
            row.append(decode_labels(entry["correct"]))
            found = decode_labels(entry["predicted_counts"])
            counts = _add_counts(counts, found)
            sizes.append(len(row[-1]))
            labels.append(entry.get("labels"))
        # Seeds must share one test set: same sizes, and the same labels where a run recorded them.
        identity = (sizes, labels if all(labels) else None)
        if reference is None:
            reference = identity
        elif identity[0] != reference[0] or (identity[1] and reference[1] and identity[1] != reference[1]):
            raise ValueError(f"{artifact.get('run_name')}: its test examples differ from seed "
                             f"{artifacts[0]['seed']}'s; seeds must share one fixed test set (data protocol 2)")
        rows.append(np.concatenate(row))
    language_of = np.repeat(np.arange(len(languages)), reference[0])
    return Outcomes(tuple(a["seed"] for a in artifacts), languages, np.array(rows, dtype=float), language_of,
                    majority_share(np.asarray(counts)))


def _add_counts(total: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Sum label counts that may stop at different labels (a language that never predicts the last)."""
    size = max(len(total), len(counts))
    return np.pad(total, (0, size - len(total))) + np.pad(counts, (0, size - len(counts)))


@dataclasses.dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "low": self.low, "high": self.high}


def _bootstrap(statistic, n_seeds: int, n_examples: int, *, resamples: int, seed: int,
               confidence: float) -> tuple[float, float]:
    data = (np.arange(n_seeds), np.arange(n_examples))
    if n_seeds < 2:  # one seed: only the test examples can be resampled
        data = data[1:]
        one = statistic
        statistic = lambda examples: one(np.arange(1), examples)  # noqa: E731
    result = stats.bootstrap(data, statistic, paired=False, vectorized=False, n_resamples=resamples,
                             confidence_level=confidence, method="percentile",
                             rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _check_paired(a: Outcomes, b: Outcomes) -> None:
    if a.seeds != b.seeds or a.languages != b.languages or a.correct.shape != b.correct.shape:
        raise ValueError(f"arms are not paired: seeds {a.seeds} vs {b.seeds}, languages {a.languages} vs "
                         f"{b.languages}, shapes {a.correct.shape} vs {b.correct.shape}")


def arm_estimate(arm: Outcomes, *, resamples: int = RESAMPLES, seed: int = 0,
                 confidence: float = CONFIDENCE) -> Estimate:
    """Mean accuracy (over languages, then seeds) with its bootstrap interval, in [0, 1]."""
    w = arm.weights

    def statistic(seeds, examples):
        return float(arm.correct[np.ix_(seeds, examples)].mean(axis=0) @ w[examples] / w[examples].sum())

    mean = statistic(np.arange(len(arm.seeds)), np.arange(len(w)))
    low, high = _bootstrap(statistic, len(arm.seeds), len(w), resamples=resamples, seed=seed, confidence=confidence)
    return Estimate(mean, low, high)


def paired_difference(a: Outcomes, b: Outcomes, *, resamples: int = RESAMPLES, seed: int = 0,
                      confidence: float = CONFIDENCE) -> Estimate:
    """``a - b`` in mean accuracy, with the interval of the paired bootstrap (same seeds, same examples)."""
    _check_paired(a, b)
    w = a.weights
    diff = a.correct - b.correct

    def statistic(seeds, examples):
        return float(diff[np.ix_(seeds, examples)].mean(axis=0) @ w[examples] / w[examples].sum())

    mean = statistic(np.arange(len(a.seeds)), np.arange(len(w)))
    low, high = _bootstrap(statistic, len(a.seeds), len(w), resamples=resamples, seed=seed, confidence=confidence)
    return Estimate(mean, low, high)


def per_language(arm: Outcomes, **kwargs) -> dict[str, Estimate]:
    return {lang: arm_estimate(arm.restricted(lang), **kwargs) for lang in arm.languages}
