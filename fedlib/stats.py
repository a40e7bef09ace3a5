"""Confidence intervals that respect both sources of noise: training seeds and test examples.

An arm's score is the mean over languages of its per-language test accuracy, averaged over seeds.
Its uncertainty has two crossed sources, so the bootstrap resamples both: seeds with replacement, and
test examples with replacement (``scipy.stats.bootstrap`` with two independent samples, seed ids and
example ids). A paired comparison of two arms resamples the *same* seeds and examples for both: the
same test sentence and the same seed, once trained each way.

Each example carries the weight ``1 / (languages x its language's test rows)``, so a language with a
larger test set does not count more than one with a smaller one.

No language left behind: :func:`worst_language`, :func:`spread` and :func:`paired_worst_difference`
score an arm by its weakest language rather than its average, resampling test examples *within*
each language (:func:`_stratified_bootstrap`) so that every language keeps its size in every resample
(see the comment above :func:`worst_language` for which language is "the worst" in a resample).
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

    def on_seeds(self, seeds: Sequence[int]) -> Outcomes:
        """The same arm kept to ``seeds`` (in that order), to pair it with an arm that lacks some."""
        rows = [self.seeds.index(s) for s in seeds]
        return Outcomes(tuple(seeds), self.languages, self.correct[rows], self.language_of, self.majority_share)

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
            counts = add_counts(counts, found)
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


def add_counts(total: np.ndarray, counts: np.ndarray) -> np.ndarray:
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


def _stratified_bootstrap(statistic, n_seeds: int, strata: Sequence[np.ndarray], *, resamples: int, seed: int,
                          confidence: float) -> tuple[float, float]:
    """:func:`_bootstrap` with test examples resampled within each language: ``statistic(seeds, examples)``
    gets one array of example ids per language, each as long as that language's stratum.

    :func:`_bootstrap` draws examples from one pool, so a language's size varies between resamples and
    a small language can vanish from one, leaving its accuracy (and so a minimum over languages)
    undefined. ``scipy.stats.bootstrap`` resamples each sample of ``data`` on its own at its own size,
    so each language's example ids passed as a sample of their own stratify the resampling. scipy
    cannot resample a sample of one (one seed, a language with one test row): that one stays fixed.
    """
    samples = [np.arange(n_seeds), *strata]
    moving = [i for i, sample in enumerate(samples) if len(sample) >= 2]

    def resampled(*drawn):
        full = list(samples)
        for i, sample in zip(moving, drawn, strict=True):
            full[i] = sample
        return statistic(full[0], full[1:])

    if not moving:
        value = statistic(samples[0], samples[1:])
        return value, value
    result = stats.bootstrap([samples[i] for i in moving], resampled, paired=False, vectorized=False,
                             n_resamples=resamples, confidence_level=confidence, method="percentile",
                             rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _check_paired(a: Outcomes, b: Outcomes) -> None:
    if (a.seeds != b.seeds or a.languages != b.languages or a.correct.shape != b.correct.shape
            or not np.array_equal(a.language_of, b.language_of)):
        raise ValueError(f"arms are not paired: seeds {a.seeds} vs {b.seeds}, languages {a.languages} vs "
                         f"{b.languages}, shapes {a.correct.shape} vs {b.correct.shape} "
                         "(test rows per language must match too)")


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


# ---------------------------------------------------------------------------------------------------
# No language left behind: the worst language and the spread between the best and the worst.
#
# Which language is worst (and best) is read off the full data, then held fixed: the intervals of
# `worst_language` and `spread` are those of that language's accuracy and of that pair's gap. Recomputing
# the minimum (maximum) in every resample instead sounds closer to "whichever language is worst", but a
# minimum of noisy means sits below the true one, and a resampled minimum lower still: where languages
# are within noise of each other the interval moves off its own point estimate (in 100 simulated arms of
# five tied languages x 204 rows x 5 seeds, the spread's interval never held the true 0). A fixed
# language keeps a plain interval; the price is that it does not widen for the chance that another
# language is the worst, which the chapters say next to the tables.
# The ledger's worst-language comparison is different (`paired_worst_difference`): each arm's minimum
# is recomputed in every resample, the same seeds and examples drawn for both arms, so the two biases
# largely cancel -- on two equal arms its interval excluded 0 in at most 1 of 100 simulated draws.
# A language's accuracy is its mean over seeds and its test rows, as in :func:`arm_estimate`.


def _strata(arm: Outcomes) -> list[np.ndarray]:
    strata = [np.flatnonzero(arm.language_of == i) for i in range(len(arm.languages))]
    empty = [lang for lang, rows in zip(arm.languages, strata, strict=True) if not len(rows)]
    if empty:
        raise ValueError(f"no test examples for {empty}")
    return strata


def _language_means(correct: np.ndarray, seeds: np.ndarray, strata: Sequence[np.ndarray]) -> np.ndarray:
    """Each language's accuracy over the given seeds and its given examples, in ``strata``'s order."""
    columns = correct[np.ix_(seeds, np.concatenate(strata))].mean(axis=0)
    sizes = np.array([len(rows) for rows in strata])
    return np.add.reduceat(columns, np.concatenate([[0], np.cumsum(sizes)[:-1]])) / sizes


def _over_languages(arms: Sequence[Outcomes], combine, *, resamples: int, seed: int,
                    confidence: float) -> Estimate:
    """``combine(per-language accuracies of each arm)`` with its stratified, paired bootstrap interval."""
    strata = _strata(arms[0])

    def statistic(seeds, examples):
        return float(combine(*(_language_means(arm.correct, seeds, examples) for arm in arms)))

    mean = statistic(np.arange(len(arms[0].seeds)), strata)
    low, high = _stratified_bootstrap(statistic, len(arms[0].seeds), strata, resamples=resamples, seed=seed,
                                      confidence=confidence)
    return Estimate(mean, low, high)


def _extremes(arm: Outcomes) -> tuple[int, int]:
    """Indices of the worst and the best language on the full data."""
    means = _language_means(arm.correct, np.arange(len(arm.seeds)), _strata(arm))
    return int(np.argmin(means)), int(np.argmax(means))


def worst_language(arm: Outcomes, *, resamples: int = RESAMPLES, seed: int = 0,
                   confidence: float = CONFIDENCE) -> tuple[str, Estimate]:
    """The language with the lowest accuracy, and its accuracy with its interval (language held fixed)."""
    worst, _ = _extremes(arm)
    estimate = _over_languages([arm], lambda means: means[worst], resamples=resamples, seed=seed,
                               confidence=confidence)
    return arm.languages[worst], estimate


def spread(arm: Outcomes, *, resamples: int = RESAMPLES, seed: int = 0, confidence: float = CONFIDENCE) -> Estimate:
    """Best minus worst language accuracy, in [0, 1], for the pair found on the full data (held fixed)."""
    worst, best = _extremes(arm)
    return _over_languages([arm], lambda means: means[best] - means[worst], resamples=resamples, seed=seed,
                           confidence=confidence)


def paired_worst_difference(a: Outcomes, b: Outcomes, *, resamples: int = RESAMPLES, seed: int = 0,
                            confidence: float = CONFIDENCE) -> Estimate:
    """``a - b`` in worst-language accuracy (each arm's own worst, which may be different languages),
    paired: every resample draws the same seeds and the same examples of each language for both."""
    _check_paired(a, b)
    return _over_languages([a, b], lambda ma, mb: ma.min() - mb.min(), resamples=resamples, seed=seed,
                           confidence=confidence)
