"""The language-distance study of the book: every table it shows and every number its prose quotes.

:func:`language_study` computes everything from the shipped data and the result artifacts (nothing
is trained); :func:`distance_numbers` turns it into the numbers the chapter glues.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from fedlib.config import Profile
from fedlib.data.languages import get_language, language_name
from fedlib.data.tasks import get_task
from fedlib.distance.matrix import (
    DISTANCE_KINDS,
    URIEL_KINDS,
    agreement_extremes,
    closest_pair,
    distance_to,
    matrix_agreement,
)
from fedlib.distance.model import model_options
from fedlib.distance.resources import cc100_table
from fedlib.distance.stats import bootstrap_spearman
from fedlib.distance.table import correlation_table, distance_matrix, english_code, federated_gain, language_table
from fedlib.distance.uriel import uriel_coverage, uriel_matrix

MATRIX_TASK = "xnli"  # its fifteen languages include the five news-classification clients
SHOWN_KINDS = ("syntactic", "genetic", "model_cosine")  # a typological, a genealogical, a model-based
SIGNIFICANCE = 0.05


def distinct_languages(tasks: Iterable[str]) -> list[str]:
    """One code per distinct language of ``tasks``, the first a task uses (``en`` and ``eng`` are one)."""
    first: dict[str, str] = {}
    for task in tasks:
        for lang in get_task(task).languages:
            first.setdefault(get_language(lang).iso639_3, lang)
    return list(first.values())


def resource_confound(languages: Sequence[str]) -> pd.DataFrame:
    """Spearman rho between each URIEL distance to English and CC-100 size, over ``languages``."""
    reference = english_code(languages)
    resources = cc100_table(languages).set_index("language")["cc100_gib"]
    rows = []
    for kind in URIEL_KINDS:
        to_english = distance_to(uriel_matrix(languages, kind), reference)
        rows.append({"distance to English": kind, **vars(bootstrap_spearman(to_english, resources))})
    return pd.DataFrame(rows)


def correlation_summary(task: str, rows: pd.DataFrame) -> str:
    """One sentence on a task's correlations: their range and how many are clearly away from zero."""
    rows = rows.dropna(subset=["rho"])
    if rows.empty:
        return f"{task}: too few languages for a rank correlation"
    low, high = rows.loc[rows["rho"].idxmin()], rows.loc[rows["rho"].idxmax()]
    clear = (rows["lo"] > 0) | (rows["hi"] < 0)
    both = rows.loc[clear & (rows["p_perm"] < SIGNIFICANCE), "predictor"].tolist()
    return (f"{task} ({int(rows['n'].max())} languages): ρ ranges from {low['rho']:.2f} ({low['predictor']}) "
            f"to {high['rho']:.2f} ({high['predictor']}); {len(both)} of {len(rows)} candidates have an "
            f"interval excluding zero and a permutation p below {SIGNIFICANCE}"
            f"{' (' + ', '.join(both) + ')' if both else ''}")


@dataclasses.dataclass(frozen=True)
class DistanceStudy:
    profile: Profile
    model: dict  # the model-distance options (backbone, source, sentences, token limit)
    languages: list[str]  # one code per distinct language of the tasks
    coverage: pd.DataFrame  # URIEL features per language and kind
    matrices: dict[str, pd.DataFrame]  # every distance kind over the MATRIX_TASK languages
    resources: pd.DataFrame  # CC-100 per language, smallest first
    confound: pd.DataFrame  # distance to English against CC-100 size
    agreement: pd.DataFrame  # rank agreement between the distance kinds
    gain_status: pd.DataFrame  # per task: what its artifacts hold
    tables: dict[str, pd.DataFrame]  # per task with gains: its language_table
    correlations: pd.DataFrame  # the gain against every candidate, every task with gains


def gain_tables(tasks: Mapping[str, tuple[str, Sequence[str] | None]], profile: Profile,
                model: dict | None) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """(what each task's artifacts hold, a language_table per task whose artifacts give a gain)."""
    tables, status = {}, {}
    for task, (_, clients) in tasks.items():
        gains = federated_gain(task, clients, profile=profile)
        if gains.empty:
            status[task] = "not computed yet"
            continue
        tables[task] = language_table(task, clients, profile=profile, model=model, gains=gains)
        status[task] = f"{int(gains['seeds'].iloc[0])} seed(s), {len(gains)} languages"
    return pd.Series(status, name="federated and monolingual artifacts").rename_axis("task").to_frame(), tables


def task_correlations(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The gain against every candidate, one block of rows per task."""
    columns = ["task", "predictor", "n", "rho", "lo", "hi", "p_perm", "note"]
    if not tables:
        return pd.DataFrame(columns=columns)
    return pd.concat([correlation_table(table).assign(task=task) for task, table in tables.items()])[columns]


_KIND_NAMES = {"model_cosine": "model (cosine)", "model_cka": "model (CKA)"}
_FEW_LANGUAGES_NOTE = "the interval is too narrow, trust p_perm"  # fedlib.distance.stats; the prose says it


def candidate_name(predictor: str) -> str:
    """``syntactic_to_en`` -> "syntactic distance to English"; ``cc100_gib`` -> "CC-100 size (GiB)"."""
    if predictor == "cc100_gib":
        return "CC-100 size (GiB)"
    for suffix, words in (("_to_en", "distance to English"), ("_mean_to_others", "mean distance to the others")):
        if predictor.endswith(suffix):
            kind = predictor[: -len(suffix)]
            return f"{_KIND_NAMES.get(kind, kind)} {words}"
    return predictor.replace("_", " ")


def shown_correlations(correlations: pd.DataFrame):
    """The correlation table as a reader sees it: human names, ρ with its interval, no index; the
    few-languages caveat (the same on every row of a small task) is left to the prose."""
    from fedlib.display import MISSING, for_reader, interval

    def note(text: str) -> str:
        kept = [part for part in str(text or "").split("; ") if part and _FEW_LANGUAGES_NOTE not in part]
        return "; ".join(kept) or MISSING

    shown = pd.DataFrame({
        "task": correlations["task"].to_numpy(),
        "candidate": [candidate_name(p) for p in correlations["predictor"]],
        "languages": correlations["n"].astype(int).to_numpy(),
        "Spearman ρ [95 % CI]": [interval(r.rho, r.lo, r.hi, 2, signed=True) for r in correlations.itertuples()],
        "permutation p": correlations["p_perm"].astype(float).to_numpy(),
        "note": [note(t) for t in correlations["note"]],
    })
    return for_reader(shown, decimals=2)


def language_study(tasks: Mapping[str, tuple[str, Sequence[str] | None]], profile: Profile) -> DistanceStudy:
    """The whole study over ``tasks`` (task -> (page, client languages or None for all))."""
    model = model_options(profile)
    languages = distinct_languages(tasks)
    matrices = {kind: distance_matrix(get_task(MATRIX_TASK).languages, kind, **model) for kind in DISTANCE_KINDS}
    status, tables = gain_tables(tasks, profile, model)
    return DistanceStudy(
        profile=profile, model=model, languages=languages, coverage=uriel_coverage(languages), matrices=matrices,
        resources=cc100_table(languages).sort_values("cc100_gib"), confound=resource_confound(languages),
        agreement=matrix_agreement(matrices), gain_status=status, tables=tables,
        correlations=task_correlations(tables))


def _names(codes: Iterable[str], joiner: str = ", ") -> str:
    return joiner.join(language_name(code) for code in codes)


def distance_numbers(study: DistanceStudy) -> dict[str, object]:
    """The numbers the chapter's prose quotes, named ``dist_{what}``, ready for MyST-NB ``glue``."""
    gaps = study.coverage[list(URIEL_KINDS)].eq(0)
    absent = study.resources.loc[~study.resources["in_pretraining"], "language"]
    confound = study.confound.set_index("distance to English")["rho"]
    (low_a, low_b, low), (high_a, high_b, high) = agreement_extremes(study.agreement)
    missing = [f"{kind}: {', '.join(m.attrs['missing_languages'])}"
               for kind, m in study.matrices.items() if m.attrs["missing_languages"]]
    summaries = [correlation_summary(task, rows) for task, rows in study.correlations.groupby("task", sort=False)]
    tested = int(study.correlations["rho"].notna().sum())
    return {
        "dist_sentences": study.model["n"],
        "dist_backbone": study.profile.backbone,
        "dist_n_languages": len(study.languages),
        "dist_n_gaps": int(gaps.to_numpy().sum()),
        "dist_no_phonology": _names(study.coverage.index[gaps["phonological"]]) or "none",
        "dist_no_syntax": _names(study.coverage.index[gaps["syntactic"]]) or "none",
        **{f"dist_closest_{kind}": _names(closest_pair(study.matrices[kind]), "–") for kind in SHOWN_KINDS},
        "dist_missing_xnli": ", ".join(missing) or "none",
        "dist_n_absent": len(absent),
        "dist_absent": _names(absent),
        "dist_confound_syntactic": float(confound["syntactic"]),
        "dist_confound_genetic": float(confound["genetic"]),
        "dist_agree_min": low,
        "dist_agree_min_pair": f"{low_a} and {low_b}",
        "dist_agree_max": high,
        "dist_agree_max_pair": f"{high_a} and {high_b}",
        "dist_agree_model_syntax": float(study.agreement.loc["model_cosine", "syntactic"]),
        "dist_tasks_with_gains": ", ".join(study.tables) or "none",
        "dist_corr_summary": "; ".join(summaries) if summaries
        else "no task has artifacts for both arms yet, so no correlation is reported",
        "dist_n_tests": tested,
        "dist_expected_false": SIGNIFICANCE * tested,
    }
