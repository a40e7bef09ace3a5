"""Typological distances from URIEL (Littell et al. 2017), queried offline through ``urielplus``.

Six kinds: syntactic, phonological, inventory, featural, genetic and geographic. A distance is
URIEL+'s own (Khan et al. 2025): the angular distance between two languages' feature vectors
restricted to the features *both* have a value for (union over URIEL's sources). Missing data is
never a number: a language without any feature of a kind gets NaN (matrices, with a report in
``attrs``) or a :class:`MissingFeaturesError` (single distances). Nothing is imputed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from fedlib.data.languages import LANGUAGES, get_language, known_codes, language_name
from fedlib.distance.errors import DistanceError, MissingFeaturesError
from fedlib.distance.matrix import URIEL_KINDS, check_kind, symmetric_frame


def uriel_code(lang: str) -> str:
    """ISO 639-3 code under which URIEL stores ``lang`` (a task code: ``en``, ``eng``, ``eng_Latn`` ...)."""
    return get_language(lang).uriel_code


def uriel_code_notes() -> pd.DataFrame:
    """Why a language's URIEL code is a macrolanguage's (or not), by ISO 639-1 code."""
    notes = {lang.iso639_1: lang.uriel_note for lang in LANGUAGES if lang.uriel_note}
    return pd.Series(notes, name="choice").rename_axis("ISO 639-1").to_frame()


@contextlib.contextmanager
def quiet_logging():
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
def knowledge_base():
    """The URIEL+ knowledge base (original URIEL data, no database integration, no imputation).

    URIEL+'s extra databases (Grambank, SAPHON, ...) are not integrated: that takes ~2 minutes and
    switches every code to Glottocodes.
    """
    try:
        with quiet_logging():
            from urielplus.urielplus import URIELPlus

            return URIELPlus()
    except OSError as exc:  # it copies its database files next to itself on first use
        raise DistanceError(
            f"urielplus could not set up its database ({exc}); its package folder must be writable once") from exc


def feature_vectors(codes: Sequence[str], kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(values, known): URIEL+'s aggregated vectors of ``kind`` for ISO 639-3 ``codes``; -1 = missing."""
    with quiet_logging():
        vectors = knowledge_base().get_vector(kind, list(codes))
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
    return np.where(shared > 0, dist, np.nan), shared.astype(int)


def uriel_coverage(languages: Iterable[str], kinds: Sequence[str] = URIEL_KINDS) -> pd.DataFrame:
    """Number of URIEL features with a value, per language (rows) and kind (columns); 0 = missing."""
    langs = known_codes(languages)
    codes = [uriel_code(lang) for lang in langs]
    counts = {}
    for kind in kinds:
        check_kind(kind, URIEL_KINDS)
        counts[kind] = feature_vectors(codes, kind)[1].sum(axis=1)
    table = pd.DataFrame(counts, index=pd.Index(langs, name="language"))
    table.insert(0, "uriel_code", codes)
    table.insert(0, "name", [language_name(lang) for lang in langs])
    return table


def uriel_matrix(languages: Iterable[str], kind: str, *, missing: str = "nan") -> pd.DataFrame:
    """Pairwise URIEL ``kind`` distances between ``languages`` (task codes), in [0, 1].

    A language with no feature of ``kind`` gets NaN against every other language (0 to itself);
    with ``missing="raise"`` it raises :class:`MissingFeaturesError` instead. The report is in
    ``attrs``: ``missing_languages``, ``missing_pairs`` (no shared feature) and ``imputed`` (always
    False); :func:`uriel_shared_features` gives the number of features each distance rests on.
    """
    check_kind(kind, URIEL_KINDS)
    if missing not in ("nan", "raise"):
        raise DistanceError(f"missing must be 'nan' or 'raise', not {missing!r}")
    langs = known_codes(languages)
    codes = [uriel_code(lang) for lang in langs]
    values, known = feature_vectors(codes, kind)
    empty = [lang for lang, k in zip(langs, known, strict=True) if not k.any()]
    if empty and missing == "raise":
        raise MissingFeaturesError(
            f"URIEL has no {kind} feature for {', '.join(f'{lang} ({uriel_code(lang)})' for lang in empty)}; "
            f"use missing='nan' to get NaN for its pairs", empty[0], kind)
    dist, shared = _angular(values, known)
    matrix = symmetric_frame(dist, langs)
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
    check_kind(kind, URIEL_KINDS)
    langs = known_codes(languages)
    _, known = feature_vectors([uriel_code(lang) for lang in langs], kind)
    kf = known.astype(int)
    return pd.DataFrame(kf @ kf.T, index=pd.Index(langs, name="language"), columns=langs)


def uriel_distance(lang_a: str, lang_b: str, kind: str) -> float:
    """URIEL ``kind`` distance between two languages; :class:`MissingFeaturesError` if undefined."""
    return float(uriel_matrix([lang_a, lang_b], kind, missing="raise").iloc[0, -1])
