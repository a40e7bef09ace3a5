"""One task's languages side by side: distances to English, the resource proxy and the federated gain.

The gain is read from result artifacts only (nothing is trained here); :func:`correlation_table`
rank-correlates it with each candidate explanation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from fedlib.config import Profile
from fedlib.data.errors import UnknownLanguageError
from fedlib.data.languages import get_language, language_name
from fedlib.data.tasks import get_task
from fedlib.distance.matrix import (
    DISTANCE_KINDS,
    MODEL_KINDS,
    URIEL_KINDS,
    check_kind,
    distance_to,
    mean_distance_to_others,
)
from fedlib.distance.model import model_matrix
from fedlib.distance.resources import cc100_table
from fedlib.distance.stats import bootstrap_spearman
from fedlib.distance.uriel import uriel_code, uriel_matrix

CORRELATION_COLUMNS = ["predictor", "n", "rho", "lo", "hi", "p_perm", "valid_resamples", "note"]


def english_code(languages: Iterable[str]) -> str:
    """The code among ``languages`` that stands for English (``en``, ``eng`` or ``eng_Latn``)."""
    for lang in languages:
        if get_language(lang).iso639_1 == "en":
            return lang
    raise UnknownLanguageError("no English among the languages")


def reference_language(task: str) -> str:
    """The task's own code for English, the dominant language of CC-100 (e.g. ``eng`` for MasakhaNEWS)."""
    try:
        return english_code(get_task(task).languages)
    except UnknownLanguageError:
        raise UnknownLanguageError(f"task {task!r} has no English client") from None


def distance_matrix(languages: Iterable[str], kind: str, **model_options) -> pd.DataFrame:
    """Any distance of :data:`DISTANCE_KINDS`; ``model_options`` go to :func:`model_matrix`."""
    check_kind(kind, DISTANCE_KINDS)
    if kind in URIEL_KINDS:
        return uriel_matrix(languages, kind)
    return model_matrix(languages, kind, **model_options)


def federated_gain(task: str, languages: Iterable[str] | None = None, *, profile: Profile) -> pd.DataFrame:
    """Per language: the federated prompt encoder minus monolingual accuracy in points, paired by seed
    and test sentence, from the compute plan's artifacts only (:mod:`fedlib.evidence`).

    Columns ``lang, gain, low, high, seeds`` (the 95 % interval of the paired difference); empty when the
    task has no such pair of artifacts yet; nothing is ever trained here.
    """
    from fedlib.evidence import task_results
    from fedlib.evidence_tables import language_gains

    gains = language_gains(task_results(task, profile=profile.name), "fed-ptuning", "mono-ptuning")
    gains = gains.rename(columns={"language": "lang"})
    if languages is not None:
        gains = gains[gains["lang"].isin(tuple(languages))]
    return gains.reset_index(drop=True)


def language_table(task: str, languages: Iterable[str] | None = None, *, profile: Profile,
                   model: dict | None = None, gains: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per client language of ``task``: distances to English, resource proxy and gain.

    Columns: ``language, name, uriel_code``, ``<kind>_to_en`` for every URIEL kind (and the model
    kinds when ``model`` gives :func:`model_matrix`'s options), ``<kind>_mean_to_others`` for
    syntactic and model_cosine, ``cc100_gib``, ``in_pretraining`` and ``gain`` (NaN where no
    artifacts of ``profile`` exist). ``gains``: :func:`federated_gain`'s table when the caller has it.
    """
    spec = get_task(task)
    langs = list(spec.resolve_languages(languages))
    ref = reference_language(task)
    if ref not in langs:
        langs = [ref, *langs]  # the reference is needed for distances to English
    kinds = URIEL_KINDS + (MODEL_KINDS if model is not None else ())
    table = pd.DataFrame({"language": langs, "name": [language_name(lang) for lang in langs],
                          "uriel_code": [uriel_code(lang) for lang in langs]}).set_index("language", drop=False)
    matrices = {kind: distance_matrix(langs, kind, **(model or {})) for kind in kinds}
    for kind, matrix in matrices.items():
        table[f"{kind}_to_en"] = distance_to(matrix, ref).to_numpy()
    for kind in ("syntactic", "model_cosine"):
        if kind in matrices:
            table[f"{kind}_mean_to_others"] = mean_distance_to_others(matrices[kind]).to_numpy()
    cc = cc100_table(langs).set_index("language")
    table["cc100_gib"] = cc["cc100_gib"]
    table["in_pretraining"] = cc["in_pretraining"]
    if gains is None:  # a caller that already has them (study.gain_tables) saves the bootstrap
        gains = federated_gain(task, None if languages is None else spec.resolve_languages(languages),
                               profile=profile)
    table["gain"] = gains.set_index("lang")["gain"].reindex(langs).to_numpy() if not gains.empty else np.nan
    table = table.reset_index(drop=True)
    table.attrs["missing"] = {kind: m.attrs.get("missing_languages", []) for kind, m in matrices.items()}
    return table


def predictor_columns(table: pd.DataFrame) -> list[str]:
    """The columns of a :func:`language_table` that can be correlated with the gain."""
    return [c for c in table.columns if c.endswith(("_to_en", "_mean_to_others")) or c == "cc100_gib"]


def correlation_table(table: pd.DataFrame, predictors: Sequence[str] | None = None, *, target: str = "gain",
                      n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Spearman rho (with bootstrap CI) of ``target`` against each predictor column of ``table``."""
    rows = []
    for column in predictors or predictor_columns(table):
        result = bootstrap_spearman(table[column], table[target], n_boot=n_boot, seed=seed)
        rows.append({"predictor": column, **dataclasses.asdict(result)})
    return pd.DataFrame(rows, columns=CORRELATION_COLUMNS)
