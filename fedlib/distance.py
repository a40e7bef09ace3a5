"""Language distances, a pre-training resource proxy, and their link to the federated gain.

The paper analyses its results with "a notion of language distance" whose formula it does not
publish. This module builds three transparent families of distances between the client languages
of a task, plus the resource proxy the paper's argument also leans on:

* **Typological** (URIEL, Littell et al. 2017, queried offline through ``urielplus``, Khan et
  al. 2025): syntactic, phonological, inventory, featural, genetic and geographic. A distance is
  URIEL+'s own: the angular distance between two languages' feature vectors restricted to the
  features *both* have a value for (union over URIEL's sources). Missing data is never a number:
  a language without any feature of a kind gets NaN (matrices, with a report in ``attrs``) or a
  :class:`MissingFeaturesError` (single distances). Nothing is imputed.
* **Model-based**: how far apart the backbone represents translations of the same sentences.
  ``model_cosine`` is ``1 - mean_i cos(e_a[i], e_b[i])`` over mean-pooled sentence embeddings of
  parallel sentences (range [0, 2]); ``model_cka`` is ``1 - linear CKA`` of the two languages'
  embedding matrices (range [0, 1]; Kornblith et al. 2019). Parallel sentences come from FLORES-200
  via the shipped SIB-200 test files (aligned by ``index_id``) or from the XNLI test files
  (aligned row by row); Nigerian Pidgin has neither.
* **Resource proxy**: the size of each language's share of CC-100, XLM-R's pre-training corpus
  (Conneau et al. 2020, Table 6), 0 GiB and ``in_pretraining=False`` for languages it lacks.

Every matrix is a square :class:`pandas.DataFrame` indexed by the task's own language codes.
:func:`language_table` puts one task's distances to English, the resource proxy and the federated
gain over monolingual training (from result artifacts only) side by side, and
:func:`correlation_table` rank-correlates them with a percentile-bootstrap confidence interval.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import itertools
import logging
import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from fedlib.config import data_dir, get_profile
from fedlib.data.errors import UnknownLanguageError
from fedlib.data.tasks import (LANGUAGE_INFO, SIB200_LANGUAGES, XLMR_CC100_LANGUAGES, XNLI_LANGUAGES, get_task,
                               language_name)

URIEL_KINDS = ("syntactic", "phonological", "inventory", "featural", "genetic", "geographic")
MODEL_KINDS = ("model_cosine", "model_cka")
DISTANCE_KINDS = URIEL_KINDS + MODEL_KINDS
PARALLEL_SOURCES = ("flores", "xnli")
MIN_LANGUAGES = 4  # below this a rank correlation over languages is not reported
FEW_LANGUAGES = 10  # below this a percentile bootstrap interval is known to be too narrow


class DistanceError(ValueError):
    """A distance cannot be computed as asked."""


class MissingFeaturesError(DistanceError):
    """URIEL has no value of the requested kind for a language (or none shared by a pair)."""

    def __init__(self, message: str, language: str, kind: str):
        super().__init__(message)
        self.language = language
        self.kind = kind


class MissingParallelDataError(DistanceError):
    """No parallel sentences are shipped for a language, so no model-based distance exists."""


# --------------------------------------------------------------------------------------------
# Language codes
# --------------------------------------------------------------------------------------------
# Task codes reach these tables through their ISO 639-1 code (LANGUAGE_INFO). Where URIEL has
# both a macrolanguage and an individual language, the code with the most features wins; the
# notes say which and why (feature counts from urielplus 1.3.2's original URIEL data).
URIEL_CODES: dict[str, str] = {
    "en": "eng", "de": "deu", "es": "spa", "fr": "fra", "ru": "rus", "bg": "bul", "el": "ell",
    "hi": "hin", "th": "tha", "tr": "tur", "ur": "urd", "vi": "vie",
    "ar": "ara", "sw": "swa", "zh": "zho",
    "am": "amh", "ha": "hau", "ig": "ibo", "ln": "lin", "lg": "lug", "om": "orm", "rn": "run",
    "sn": "sna", "so": "som", "ti": "tir", "xh": "xho", "yo": "yor",
    "pcm": "pcm",  # Nigerian Pidgin has no ISO 639-1 code
}
URIEL_CODE_NOTES: dict[str, str] = {
    "ar": "macrolanguage 'ara' (98 syntactic, 28 phonological features); 'arb' (Standard Arabic, "
          "SIB-200's arb_Arab) has no phonology or inventory in URIEL",
    "sw": "'swa' (macrolanguage, MasakhaNEWS's code); 'swh' has identical coverage",
    "zh": "macrolanguage 'zho' (102 syntactic features) rather than 'cmn' (94)",
    "om": "macrolanguage 'orm' (73 syntactic features); 'gaz' (SIB-200's gaz_Latn) has 13 and no inventory",
}
# FLORES-200 code of each language in the shipped SIB-200 copy (source of parallel sentences).
FLORES_CODES: dict[str, str] = {LANGUAGE_INFO[code][1]: code for code in SIB200_LANGUAGES}
# CC-100 statistics, Conneau et al. (2020), "Unsupervised Cross-lingual Representation Learning at
# Scale", ACL, Appendix A, Table 6: (tokens in millions, size in GiB), only the task languages.
# Chinese is the "Chinese (Simplified)" row (the tasks' text is Simplified; Traditional adds
# 176 M tokens / 16.6 GiB). Cross-checked against the CSV transcription of Table 6 in
# github.com/mayhewsw/multilingual-data-stats (cc-100/cc-100.csv).
CC100_STATS: dict[str, tuple[int, float]] = {
    "en": (55608, 300.8), "ru": (23408, 278.0), "vi": (24757, 137.3), "de": (10297, 66.6),
    "fr": (9780, 56.8), "es": (9374, 53.3), "bg": (5487, 57.5), "el": (4285, 46.9),
    "th": (1834, 71.7), "zh": (259, 46.9), "ar": (2869, 28.0), "tr": (2736, 20.9),
    "hi": (1715, 20.2), "ur": (730, 5.7), "sw": (275, 1.6), "am": (68, 0.8), "so": (62, 0.4),
    "ha": (56, 0.3), "xh": (13, 0.1), "om": (8, 0.1),
}


def _iso1(lang: str) -> str:
    """ISO 639-1 key of a task language code ('pcm' for Nigerian Pidgin); clear error if unknown."""
    if lang in LANGUAGE_INFO:
        return LANGUAGE_INFO[lang][1] or lang
    if lang in URIEL_CODES:  # a bare ISO 639-1 code that is not a task code
        return lang
    raise UnknownLanguageError(
        f"unknown language {lang!r}: not a language of any task; known codes: {', '.join(sorted(LANGUAGE_INFO))}")


def uriel_code(lang: str) -> str:
    """ISO 639-3 code under which URIEL stores ``lang`` (a task code: ``en``, ``eng``, ``eng_Latn`` ...)."""
    key = _iso1(lang)
    if key not in URIEL_CODES:
        raise UnknownLanguageError(f"no URIEL code is tabulated for language {lang!r}")
    return URIEL_CODES[key]


def flores_code(lang: str) -> str | None:
    """FLORES-200 code of ``lang`` in the shipped SIB-200 copy; None when SIB-200 lacks it (pcm)."""
    return FLORES_CODES.get(_iso1(lang))


def reference_language(task: str) -> str:
    """The task's own code for English, the dominant language of CC-100 (e.g. ``eng`` for MasakhaNEWS)."""
    spec = get_task(task)
    for lang in spec.languages:
        if _iso1(lang) == "en":
            return lang
    raise UnknownLanguageError(f"task {task!r} has no English client")


def _languages(languages: Iterable[str]) -> list[str]:
    langs = list(dict.fromkeys([languages] if isinstance(languages, str) else languages))
    if not langs:
        raise UnknownLanguageError("no language given")
    for lang in langs:
        _iso1(lang)  # raises on unknown codes before any work is done
    return langs


# --------------------------------------------------------------------------------------------
# Pre-training resource proxy
# --------------------------------------------------------------------------------------------
def cc100_table(languages: Iterable[str]) -> pd.DataFrame:
    """Per language: CC-100 tokens (millions), size (GiB) and whether XLM-R's pre-training saw it.

    Languages outside CC-100 get 0 tokens, 0 GiB and ``in_pretraining=False``.
    """
    rows = []
    for lang in _languages(languages):
        key = _iso1(lang)
        if key in CC100_STATS:
            tokens, gib = CC100_STATS[key]
            rows.append((lang, language_name(lang), tokens, gib, True))
        elif key not in XLMR_CC100_LANGUAGES:
            rows.append((lang, language_name(lang), 0, 0.0, False))
        else:
            raise UnknownLanguageError(f"no CC-100 statistics are tabulated for language {lang!r}")
    return pd.DataFrame(rows, columns=["language", "name", "cc100_tokens_m", "cc100_gib", "in_pretraining"])


# --------------------------------------------------------------------------------------------
# URIEL distances
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_logging():
    """Silence urielplus, which logs every call at INFO through the root logger.

    Its module-level ``logging.basicConfig(level=INFO)`` and ``logging.info`` calls install a root
    handler and level; both are undone on exit, so importing urielplus changes nobody's logging.
    """
    root = logging.getLogger()
    handlers, level, disabled = list(root.handlers), root.level, root.manager.disable
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(disabled)
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


@functools.lru_cache(maxsize=1)
def _uriel():
    """The URIEL+ knowledge base (original URIEL data, no database integration, no imputation).

    URIEL+'s extra databases (Grambank, SAPHON, ...) are not integrated: that takes ~2 minutes and
    switches every code to Glottocodes.
    """
    try:
        with _quiet_logging():
            from urielplus.urielplus import URIELPlus

            return URIELPlus()
    except OSError as exc:  # it copies its database files next to itself on first use
        raise DistanceError(
            f"urielplus could not set up its database ({exc}); its package folder must be writable once") from exc


def _check_kind(kind: str, kinds: Sequence[str] = URIEL_KINDS) -> None:
    if kind not in kinds:
        raise DistanceError(f"unknown distance {kind!r}; choose one of {', '.join(kinds)}")


def _uriel_vectors(codes: Sequence[str], kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(values, known): URIEL+'s aggregated vectors of ``kind`` for ISO 639-3 ``codes``; -1 = missing."""
    with _quiet_logging():
        vectors = _uriel().get_vector(kind, list(codes))
    values = np.array([vectors[c] for c in codes], dtype=float)
    return values, values != -1.0


def _angular(values: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """URIEL+'s angular distance for every pair, over the features both languages have.

    Same definition as ``URIELPlus.new_distance`` (which the tests check against), vectorised:
    ``2 arccos(cos) / pi`` in [0, 1]; an all-zero restricted vector counts as a constant vector,
    as urielplus does. Returns (distance with NaN where no feature is shared, shared counts).
    """
    vm = np.where(known, values, 0.0)
    kf = known.astype(float)
    shared = kf @ kf.T
    dot = vm @ vm.T
    sq = (vm**2) @ kf.T  # sq[i, j]: squared norm of i's vector on the features shared with j
    total = kf @ vm.T  # total[i, j]: sum of j's values on the features shared with i
    nu, nv = np.sqrt(sq), np.sqrt(sq.T)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = dot / (nu * nv)
        cos = np.where((nu == 0) & (nv > 0), total / (np.sqrt(shared) * nv), cos)
        cos = np.where((nu > 0) & (nv == 0), total.T / (np.sqrt(shared) * nu), cos)
    cos = np.where((nu == 0) & (nv == 0), 1.0, cos)
    dist = 2.0 * np.arccos(np.clip(cos, -1.0, 1.0)) / np.pi
    dist = np.where(shared > 0, dist, np.nan)
    return _symmetric(dist), shared.astype(int)


def _symmetric(dist: np.ndarray) -> np.ndarray:
    """Mirror the upper triangle (exact symmetry) and put zeros on the diagonal."""
    out = np.zeros_like(dist)
    iu = np.triu_indices(len(dist), 1)
    out[iu] = dist[iu]
    out[(iu[1], iu[0])] = dist[iu]
    return out


def uriel_coverage(languages: Iterable[str], kinds: Sequence[str] = URIEL_KINDS) -> pd.DataFrame:
    """Number of URIEL features with a value, per language (rows) and kind (columns); 0 = missing."""
    langs = _languages(languages)
    codes = [uriel_code(lang) for lang in langs]
    counts = {}
    for kind in kinds:
        _check_kind(kind)
        counts[kind] = _uriel_vectors(codes, kind)[1].sum(axis=1)
    table = pd.DataFrame(counts, index=pd.Index(langs, name="language"))
    table.insert(0, "uriel_code", codes)
    return table


def uriel_matrix(languages: Iterable[str], kind: str, *, missing: str = "nan") -> pd.DataFrame:
    """Pairwise URIEL ``kind`` distances between ``languages`` (task codes), in [0, 1].

    A language with no feature of ``kind`` gets NaN against every other language (0 to itself);
    with ``missing="raise"`` it raises :class:`MissingFeaturesError` instead. The report is in
    ``attrs``: ``missing_languages``, ``missing_pairs`` (no shared feature) and ``imputed`` (always
    False); :func:`uriel_shared_features` gives the number of features each distance rests on.
    """
    _check_kind(kind)
    if missing not in ("nan", "raise"):
        raise DistanceError(f"missing must be 'nan' or 'raise', not {missing!r}")
    langs = _languages(languages)
    codes = [uriel_code(lang) for lang in langs]
    values, known = _uriel_vectors(codes, kind)
    empty = [lang for lang, k in zip(langs, known) if not k.any()]
    if empty and missing == "raise":
        raise MissingFeaturesError(
            f"URIEL has no {kind} feature for {', '.join(f'{l} ({uriel_code(l)})' for l in empty)}; "
            f"use missing='nan' to get NaN for its pairs", empty[0], kind)
    dist, shared = _angular(values, known)
    matrix = pd.DataFrame(dist, index=pd.Index(langs, name="language"), columns=langs)
    pairs = [(a, b) for i, a in enumerate(langs) for j, b in enumerate(langs)
             if i < j and a not in empty and b not in empty and shared[i, j] == 0]
    if pairs and missing == "raise":
        a, b = pairs[0]
        raise MissingFeaturesError(f"{a} and {b} share no URIEL {kind} feature", a, kind)
    matrix.attrs.update(
        distance=kind, source="URIEL via urielplus (union over sources, angular distance)",
        missing_languages=empty, missing_pairs=pairs, imputed=False)
    return matrix


def uriel_shared_features(languages: Iterable[str], kind: str) -> pd.DataFrame:
    """Number of URIEL ``kind`` features both languages of each pair have a value for."""
    _check_kind(kind)
    langs = _languages(languages)
    _, known = _uriel_vectors([uriel_code(lang) for lang in langs], kind)
    kf = known.astype(int)
    return pd.DataFrame(kf @ kf.T, index=pd.Index(langs, name="language"), columns=langs)


def uriel_distance(lang_a: str, lang_b: str, kind: str) -> float:
    """URIEL ``kind`` distance between two languages; :class:`MissingFeaturesError` if undefined."""
    return float(uriel_matrix([lang_a, lang_b], kind, missing="raise").iloc[0, -1])


# --------------------------------------------------------------------------------------------
# Model-based distances
# --------------------------------------------------------------------------------------------
def _read_sib_test(code: str) -> pd.DataFrame:
    from fedlib.data.readers import read_table

    path = data_dir() / "sib200" / code / "test.tsv.gz"
    return read_table(path, ("index_id", "category", "text"), header=True, quoting=csv.QUOTE_MINIMAL).frame


def _read_xnli_test(lang: str) -> pd.DataFrame:
    from fedlib.data.readers import read_table

    path = data_dir() / "xnli" / f"test-{lang}.tsv.gz"
    return read_table(path, ("premise", "hypothesis"), header=False, quoting=csv.QUOTE_NONE).frame


def _source_code(lang: str, source: str) -> str:
    """Code of ``lang`` in the parallel source's files; MissingParallelDataError if absent."""
    if source == "flores":
        code = flores_code(lang)
    elif source == "xnli":
        key = _iso1(lang)
        code = key if key in XNLI_LANGUAGES else None
    else:
        raise DistanceError(f"unknown parallel source {source!r}; choose one of {', '.join(PARALLEL_SOURCES)}")
    if code is None:
        raise MissingParallelDataError(f"no {source} parallel sentences are shipped for language {lang!r}")
    return code


@functools.lru_cache(maxsize=8)
def _parallel_by_code(code: str, source: str, n: int) -> tuple[str, ...]:
    """The ``n`` parallel sentences of one language (same items, same order, in every language).

    FLORES: the first ``n`` ``index_id`` of the English SIB-200 test file, looked up by id.
    XNLI: one premise from each of ``n`` evenly spaced premise groups of the test file (each
    premise has three hypothesis rows); the group boundaries must coincide with English's.
    """
    if source == "flores":
        ref = _read_sib_test("eng_Latn")["index_id"].tolist()
        if n > len(ref):
            raise DistanceError(f"only {len(ref)} FLORES sentences are shipped; asked for {n}")
        frame = _read_sib_test(code).set_index("index_id")
        absent = [i for i in ref[:n] if i not in frame.index]
        if absent:
            raise MissingParallelDataError(f"SIB-200 {code} lacks sentences {absent[:3]} of the English file")
        return tuple(frame.loc[ref[:n], "text"].astype(str))
    ref = _read_xnli_test("en")["premise"].to_numpy()
    frame = _read_xnli_test(code)
    premise = frame["premise"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ref[1:] != ref[:-1]])
    if len(premise) != len(ref) or not np.array_equal(starts, np.flatnonzero(np.r_[True, premise[1:] != premise[:-1]])):
        raise MissingParallelDataError(f"XNLI test file of {code!r} is not row-aligned with English")
    if n > len(starts):
        raise DistanceError(f"only {len(starts)} XNLI premises are shipped; asked for {n}")
    picks = starts[np.linspace(0, len(starts) - 1, n).round().astype(int)]
    return tuple(str(premise[i]).strip() for i in picks)


def parallel_sentences(languages: Iterable[str], *, source: str = "flores", n: int = 64) -> dict[str, list[str]]:
    """``n`` translations of the same sentences per language (MissingParallelDataError if none)."""
    return {lang: list(_parallel_by_code(_source_code(lang, source), source, n)) for lang in _languages(languages)}


@functools.lru_cache(maxsize=2)
def _encoder(backbone: str):
    from fedlib.backbone import load_backbone

    return load_backbone(backbone, for_classification=False)


_EMBEDDINGS: dict[tuple, np.ndarray] = {}  # (backbone, source, code, n, max_length) -> (n, hidden)


def sentence_embeddings(lang: str, *, backbone: str | None = None, source: str = "flores", n: int = 64,
                        max_length: int = 64) -> np.ndarray:
    """L2-normalised mean-pooled embeddings of ``lang``'s parallel sentences (cached in memory)."""
    from fedlib.backbone import embed_sentences

    backbone = backbone or get_profile().backbone
    code = _source_code(lang, source)
    key = (backbone, source, code, n, max_length)
    if key not in _EMBEDDINGS:
        model, tokenizer = _encoder(backbone)
        _EMBEDDINGS[key] = embed_sentences(model, tokenizer, _parallel_by_code(code, source, n),
                                           max_length=max_length, batch_size=32)
    return _EMBEDDINGS[key]


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear centred kernel alignment of two (items x features) matrices, in [0, 1]."""
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    kx, ky = x @ x.T, y @ y.T
    denom = np.linalg.norm(kx) * np.linalg.norm(ky)
    return float(np.sum(kx * ky) / denom) if denom > 0 else float("nan")


def model_matrix(languages: Iterable[str], kind: str = "model_cosine", *, backbone: str | None = None,
                 source: str = "flores", n: int = 64, max_length: int = 64, missing: str = "nan") -> pd.DataFrame:
    """Pairwise model-based distances between ``languages`` from parallel sentences.

    ``model_cosine``: ``1 - mean_i cos(e_a[i], e_b[i])``, in [0, 2]. ``model_cka``: ``1 - linear
    CKA(E_a, E_b)``, in [0, 1]. Languages without parallel sentences get NaN (listed in
    ``attrs["missing_languages"]``) or, with ``missing="raise"``, MissingParallelDataError.
    """
    _check_kind(kind, MODEL_KINDS)
    langs = _languages(languages)
    backbone = backbone or get_profile().backbone
    emb: dict[str, np.ndarray] = {}
    absent = []
    for lang in langs:
        try:
            emb[lang] = sentence_embeddings(lang, backbone=backbone, source=source, n=n, max_length=max_length)
        except MissingParallelDataError:
            if missing == "raise":
                raise
            absent.append(lang)
    dist = np.full((len(langs), len(langs)), np.nan)
    for i, a in enumerate(langs):
        for j, b in enumerate(langs[i + 1:], start=i + 1):
            if a in emb and b in emb:
                if kind == "model_cosine":
                    d = 1.0 - float(np.mean(np.sum(emb[a] * emb[b], axis=1)))
                    dist[i, j] = min(max(d, 0.0), 2.0)
                else:
                    dist[i, j] = min(max(1.0 - linear_cka(emb[a], emb[b]), 0.0), 1.0)
    matrix = pd.DataFrame(_symmetric(dist), index=pd.Index(langs, name="language"), columns=langs)
    matrix.attrs.update(distance=kind, source=f"{backbone} on {n} {source} parallel sentences",
                        missing_languages=absent, missing_pairs=[], imputed=False)
    return matrix


def distance_matrix(languages: Iterable[str], kind: str, **model_options) -> pd.DataFrame:
    """Any distance of :data:`DISTANCE_KINDS` (URIEL kinds, ``model_cosine``, ``model_cka``)."""
    _check_kind(kind, DISTANCE_KINDS)
    if kind in URIEL_KINDS:
        return uriel_matrix(languages, kind)
    return model_matrix(languages, kind, **model_options)


# --------------------------------------------------------------------------------------------
# Per-language summaries
# --------------------------------------------------------------------------------------------
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


def matrix_agreement(matrices: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Spearman rho between distance matrices over the language pairs both define (upper triangles).

    Descriptive only: pairs sharing a language are not independent, so no interval is given.
    """
    names = list(matrices)
    pairs = {name: m.to_numpy(dtype=float)[np.triu_indices(len(m), 1)] for name, m in matrices.items()}
    out = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            keep = np.isfinite(pairs[a]) & np.isfinite(pairs[b])
            rho = spearman(pairs[a][keep], pairs[b][keep]) if keep.sum() >= MIN_LANGUAGES else np.nan
            out.loc[a, b] = out.loc[b, a] = rho
    return out


def federated_gain(task: str, languages: Iterable[str] | None = None) -> pd.DataFrame:
    """Per language: federated prompt tuning minus monolingual accuracy in points, from artifacts only.

    Only seeds with both arms computed count. Empty (columns ``lang, gain, seeds``) when a task has
    no such pair of artifacts yet; nothing is ever trained here.
    """
    from fedlib.report import gain_over, paired_seeds, paper_arms, run_comparison

    arms = [arm for arm in paper_arms() if arm.key in ("federated", "monolingual")]
    langs = None if languages is None else tuple(languages)
    runs = run_comparison(task, arms, languages=langs, load_only=True, progress=False)
    seeds = paired_seeds(runs, "federated", "monolingual") if not runs.empty else []
    if not seeds:
        return pd.DataFrame(columns=["lang", "gain", "seeds"])
    return gain_over(runs, "federated", "monolingual").assign(seeds=len(seeds))


def language_table(task: str, languages: Iterable[str] | None = None, *, model: bool = True,
                   backbone: str | None = None, source: str = "flores", n: int = 64,
                   max_length: int = 64) -> pd.DataFrame:
    """One row per client language of ``task``: distances to English, resource proxy and gain.

    Columns: ``language, name, uriel_code``, ``<kind>_to_en`` for every URIEL kind (and the model
    kinds when ``model``), ``<kind>_mean_to_others`` for syntactic and model_cosine, ``cc100_gib``,
    ``in_pretraining`` and ``gain`` (NaN where no artifacts exist).
    """
    spec = get_task(task)
    langs = list(spec.resolve_languages(languages))
    ref = reference_language(task)
    if ref not in langs:
        langs = [ref, *langs]  # the reference is needed for distances to English
    kinds = URIEL_KINDS + (MODEL_KINDS if model else ())
    table = pd.DataFrame({"language": langs, "name": [language_name(l) for l in langs],
                          "uriel_code": [uriel_code(l) for l in langs]}).set_index("language", drop=False)
    matrices = {kind: model_matrix(langs, kind, backbone=backbone, source=source, n=n, max_length=max_length)
                if kind in MODEL_KINDS else uriel_matrix(langs, kind) for kind in kinds}
    for kind, matrix in matrices.items():
        table[f"{kind}_to_en"] = distance_to(matrix, ref).to_numpy()
    for kind in ("syntactic", "model_cosine"):
        if kind in matrices:
            table[f"{kind}_mean_to_others"] = mean_distance_to_others(matrices[kind]).to_numpy()
    cc = cc100_table(langs).set_index("language")
    table["cc100_gib"] = cc["cc100_gib"]
    table["in_pretraining"] = cc["in_pretraining"]
    gains = federated_gain(task, None if languages is None else spec.resolve_languages(languages))
    table["gain"] = gains.set_index("lang")["gain"].reindex(langs).to_numpy() if not gains.empty else np.nan
    table = table.reset_index(drop=True)
    table.attrs["missing"] = {kind: m.attrs.get("missing_languages", []) for kind, m in matrices.items()}
    return table


def predictor_columns(table: pd.DataFrame) -> list[str]:
    """The columns of a :func:`language_table` that can be correlated with the gain."""
    return [c for c in table.columns if c.endswith(("_to_en", "_mean_to_others")) or c == "cc100_gib"]


# --------------------------------------------------------------------------------------------
# Rank correlation with a bootstrap confidence interval
# --------------------------------------------------------------------------------------------
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


def _ranks(a: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis (ties share the mean of their positions)."""
    from scipy.stats import rankdata

    return rankdata(a, axis=-1)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho: Pearson correlation of average ranks; NaN if either side is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("spearman needs two 1-D sequences of equal length")
    return float(_rowwise_pearson(_ranks(x)[None], _ranks(y)[None])[0])


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denom = np.sqrt((a**2).sum(axis=1) * (b**2).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (a * b).sum(axis=1) / denom
    return np.where(denom > 1e-12, np.clip(r, -1.0, 1.0), np.nan)


def permutation_pvalue(x: Sequence[float], y: Sequence[float], *, n_perm: int = 2000, seed: int = 0) -> float:
    """Two-sided permutation p-value of Spearman's rho (exact enumeration up to 7 pairs)."""
    rx, ry = _ranks(np.asarray(x, dtype=float)), _ranks(np.asarray(y, dtype=float))
    observed = abs(_rowwise_pearson(rx[None], ry[None])[0])
    if np.isnan(observed):
        return float("nan")
    if len(rx) <= 7:
        perms = np.array(list(itertools.permutations(range(len(rx)))))
        rhos = np.abs(_rowwise_pearson(np.broadcast_to(rx, perms.shape), ry[perms]))
        return float(np.mean(rhos >= observed - 1e-12))
    rng = np.random.default_rng(seed)
    perms = np.argsort(rng.random((n_perm, len(rx))), axis=1)
    rhos = np.abs(_rowwise_pearson(np.broadcast_to(rx, perms.shape), ry[perms]))
    return float((1 + np.sum(rhos >= observed - 1e-12)) / (1 + n_perm))


def bootstrap_spearman(x: Sequence[float], y: Sequence[float], *, n_boot: int = 2000, level: float = 0.95,
                       seed: int = 0) -> Correlation:
    """Spearman's rho over the pairs where both values exist, a percentile bootstrap CI and a permutation p.

    Languages are resampled with replacement (``n_boot`` times, seeded). Resamples in which a side is
    constant have no rho and are dropped; their count is reported. Fewer than :data:`MIN_LANGUAGES`
    pairs give NaN with a note; fewer than :data:`FEW_LANGUAGES` get a warning note, because a
    percentile interval from so few languages is too narrow (the permutation p-value is exact there).
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
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    rhos = _rowwise_pearson(_ranks(x[idx]), _ranks(y[idx]))
    valid = rhos[np.isfinite(rhos)]
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(valid, [tail, 100 - tail])
    notes = []
    if n < FEW_LANGUAGES:
        notes.append(f"only {n} languages: the interval is too narrow, trust p_perm")
    if len(valid) < 0.9 * n_boot:
        notes.append(f"only {len(valid)} of {n_boot} resamples had a defined rho")
    return Correlation(n, rho, float(lo), float(hi), permutation_pvalue(x, y, seed=seed), len(valid), "; ".join(notes))


def correlation_table(table: pd.DataFrame, predictors: Sequence[str] | None = None, *, target: str = "gain",
                      n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Spearman rho (with bootstrap CI) of ``target`` against each predictor column of ``table``."""
    rows = []
    for column in predictors or predictor_columns(table):
        result = bootstrap_spearman(table[column], table[target], n_boot=n_boot, seed=seed)
        rows.append({"predictor": column, **dataclasses.asdict(result)})
    return pd.DataFrame(rows, columns=["predictor", "n", "rho", "lo", "hi", "p_perm", "valid_resamples", "note"])
