"""Languages that never joined: the trained models of the NC stand-in on the other SIB-200 languages.

The paper claims that federated prompt tuning generalises better across languages. A federation's
own test sets cannot show that: its languages took part. SIB-200 is sentence-parallel with the same
seven topics in every language, so the models trained on the stand-in's five clients (en, de, es,
fr, ru) can be scored, without any training, on every other shipped SIB-200 language (all test rows).

The study runs in three steps, each resumable, and the order is the point:

1. **Transfer pairs**: each monolingual model on the other federation languages' test sets.
2. **Prediction**, written once and never overwritten, *before* any unseen language is scored: a
   least-squares line of transfer accuracy against language distance, fitted on the pairs of step
   1, predicts each unseen language's accuracy from its mean distance to the federation
   (:data:`PREDICTION_FILE`). The distances are passed in by the caller (the distance study lives
   a layer above), one matrix per kind.
3. **Unseen languages**: every model of every run on every unseen language; one file per run, with
   per-example outcomes, so intervals and paired differences use the same bootstrap as the tables.

Models come from :func:`fedlib.paradigms.trained_states`, which retrains a committed run when this
machine lacks its weights and records whether the retrained run reproduced the committed scores.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fedlib.atomic_file import write_json_atomically
from fedlib.config import results_dir
from fedlib.experiment import ExperimentConfig
from fedlib.stats import Outcomes, add_counts

SCHEMA = 1
SOURCE_TASK = "nc_standin"
TARGET_TASK = "sib200"  # the same files, by FLORES code, with the same label set
ALL_ROWS = 100_000  # above any split: every test row
STUDY_FOLDER = "unseen"
PREDICTION_FILE = "prediction.json"
TRANSFER_FILE = "transfer.json"


def study_dir(profile: str = "cpu") -> Path:
    return results_dir() / profile / SOURCE_TASK / STUDY_FOLDER


def federation_codes() -> tuple[str, ...]:
    """The stand-in's clients by FLORES code (the files they read)."""
    from fedlib.data import get_task

    return tuple(code for _, code in get_task(SOURCE_TASK).file_codes)


def unseen_languages() -> tuple[str, ...]:
    """Every shipped SIB-200 language that is not a client of the stand-in, by FLORES code."""
    from fedlib.data import get_task

    seen = set(federation_codes())
    return tuple(code for code in get_task(TARGET_TASK).languages if code not in seen)


def target_config(source: ExperimentConfig, languages: Sequence[str]) -> ExperimentConfig:
    """The SIB-200 test rows of ``languages`` under the source run's data protocol and token limit."""
    cfg = source.resolved()
    return ExperimentConfig(task=TARGET_TASK, languages=tuple(languages), profile=cfg.profile, seed=cfg.seed,
                            protocol=cfg.protocol, max_length=cfg.max_length, train_per_client=16,
                            val_per_client=16, eval_per_client=ALL_ROWS, precision=cfg.precision)


def score_states(source: ExperimentConfig, states: Mapping[str, Mapping], languages: Sequence[str]) -> dict:
    """``{model: {language: outcomes}}``: every state on every language's test rows; nothing trains."""
    from fedlib.client_datasets import build_clients
    from fedlib.methods import load_trainable_state
    from fedlib.model import get_bundle, model_spec, num_labels_of
    from fedlib.predictions import encode_labels, test_outcomes
    from fedlib.training import encode, evaluate

    cfg = source.resolved()
    bundle = get_bundle(model_spec(cfg, num_labels_of(cfg)))
    tests = {client.lang: encode(client.test, bundle.tokenizer, cfg.max_length)
             for client in build_clients(target_config(cfg, languages))}
    scored = {}
    for name, state in states.items():
        load_trainable_state(bundle.model, state)
        scored[name] = {}
        for lang, rows in tests.items():
            result = evaluate(bundle.model, rows, bundle.tokenizer, runtime=bundle.runtime, keep_predictions=True)
            correct, counts = test_outcomes(result["predictions"], result["labels"], bundle.model.config.num_labels)
            scored[name][lang] = {"accuracy": result["accuracy"], "macro_f1": result["macro_f1"],
                                  "correct": encode_labels(correct), "labels": encode_labels(result["labels"]),
                                  "predicted_counts": encode_labels(counts, separator=True)}
    return scored


def _provenance() -> dict:
    from fedlib.artifacts import environment

    return {"environment": environment(),
            "written_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}


def transfer_pairs(monolingual: Sequence[ExperimentConfig], *, progress: bool | None = None) -> pd.DataFrame:
    """Step 1: each monolingual model on the other federation languages (cached in one file).

    One row per (seed, source language, target language) with the accuracy.
    """
    from fedlib.paradigms import trained_states

    path = study_dir(monolingual[0].resolved().profile) / TRANSFER_FILE
    done = json.loads(path.read_text()) if path.exists() else {"schema": SCHEMA, "runs": {}}
    codes = dict(zip(_client_names(monolingual[0]), federation_codes(), strict=True))
    for cfg in monolingual:
        name = cfg.run_name()
        if name in done["runs"]:
            continue
        states, info = trained_states(cfg, progress=progress)
        scored = {}
        for client, state in states.items():
            others = [code for other, code in codes.items() if other != client]
            scored[client] = score_states(cfg, {client: state}, others)[client]
        done["runs"][name] = {"seed": cfg.resolved().seed, "model": info, "per_model": scored}
        write_json_atomically(path, {**done, **_provenance()})
    rows = [{"seed": run["seed"], "source": codes[client], "target": target, "accuracy": m["accuracy"]}
            for run in done["runs"].values() for client, per_lang in run["per_model"].items()
            for target, m in per_lang.items()]
    return pd.DataFrame(rows)


def _client_names(cfg: ExperimentConfig) -> list[str]:
    from fedlib.client_datasets import build_clients

    return [client.name for client in build_clients(cfg)]


def fit_prediction(pairs: pd.DataFrame, distances: Mapping[str, pd.DataFrame]) -> dict:
    """Step 2's model, per distance kind: transfer accuracy = a + b x distance(source, target).

    Fitted on the mean accuracy over seeds of each (source, target) pair; pairs a distance does not
    define are left out (and counted). Returns ``{kind: {"intercept", "slope", "pairs"}}``.
    """
    mean = pairs.groupby(["source", "target"], as_index=False)["accuracy"].mean()
    fits = {}
    for kind, matrix in distances.items():
        d = np.array([matrix.loc[s, t] if s in matrix.index and t in matrix.columns else np.nan
                      for s, t in zip(mean["source"], mean["target"], strict=True)], dtype=float)
        keep = ~np.isnan(d)
        if keep.sum() < 3:
            fits[kind] = {"intercept": None, "slope": None, "pairs": int(keep.sum())}
            continue
        slope, intercept = np.polyfit(d[keep], mean["accuracy"].to_numpy()[keep], 1)
        fits[kind] = {"intercept": float(intercept), "slope": float(slope), "pairs": int(keep.sum())}
    return fits


def distance_to_federation(matrix: pd.DataFrame, language: str) -> float:
    """Mean distance from ``language`` to the federation languages the matrix defines (NaN if none)."""
    values = [matrix.loc[language, code] for code in federation_codes()
              if language in matrix.index and code in matrix.columns and pd.notna(matrix.loc[language, code])]
    return float(np.mean(values)) if values else float("nan")


def predict(fits: Mapping[str, dict], distances: Mapping[str, pd.DataFrame],
            languages: Sequence[str]) -> dict[str, dict[str, float | None]]:
    """``{kind: {language: predicted accuracy}}`` (None where the distance or the fit is missing)."""
    out = {}
    for kind, fit in fits.items():
        out[kind] = {}
        for lang in languages:
            d = distance_to_federation(distances[kind], lang)
            ok = fit["slope"] is not None and not np.isnan(d)
            out[kind][lang] = float(fit["intercept"] + fit["slope"] * d) if ok else None
    return out


def record_prediction(pairs: pd.DataFrame, distances: Mapping[str, pd.DataFrame], *,
                      profile: str = "cpu") -> dict:
    """Step 2: write the prediction once; an existing one is returned unchanged (pre-registered)."""
    path = study_dir(profile) / PREDICTION_FILE
    if path.exists():
        return json.loads(path.read_text())
    languages = unseen_languages()
    fits = fit_prediction(pairs, distances)
    payload = {"schema": SCHEMA, "rule": "accuracy = intercept + slope x mean distance to the federation's "
                                         "languages; fitted on monolingual transfer between federation languages",
               "fits": fits, "predicted_accuracy": predict(fits, distances, languages),
               "distance_to_federation": {kind: {lang: distance_to_federation(m, lang) for lang in languages}
                                          for kind, m in distances.items()},
               "unseen_languages": list(languages), "scored_before": False, **_provenance()}
    if any(p.name != PREDICTION_FILE and p.suffix == ".json" and p.name != TRANSFER_FILE
           for p in path.parent.glob("*.json")):
        payload["scored_before"] = True  # an unseen language was scored first: the prediction says so
    write_json_atomically(path, payload)
    return payload


def score_unseen(configs: Sequence[ExperimentConfig], *, progress: bool | None = None,
                 log: Callable[[str], None] = print) -> list[dict]:
    """Step 3: every model of each run on every unseen language; one file per run, resumable."""
    from fedlib.paradigms import trained_states

    languages = unseen_languages()
    out = []
    for cfg in configs:
        resolved = cfg.resolved()
        path = study_dir(resolved.profile) / f"{cfg.run_name()}.json"
        if path.exists():
            out.append(json.loads(path.read_text()))
            continue
        if not (study_dir(resolved.profile) / PREDICTION_FILE).exists():
            raise RuntimeError("record the prediction (record_prediction) before scoring unseen languages")
        states, info = trained_states(cfg, progress=progress)
        payload = {"schema": SCHEMA, "source_run": cfg.run_name(), "source_config_hash": resolved.config_hash(),
                   "paradigm": resolved.paradigm, "method": resolved.method, "seed": resolved.seed,
                   "model": info, "languages": list(languages),
                   "per_model": score_states(cfg, states, languages), **_provenance()}
        write_json_atomically(path, payload)
        log(f"unseen languages: {cfg.run_name()} scored "
            f"({np.mean([m['accuracy'] for per in payload['per_model'].values() for m in per.values()]):.3f})")
        out.append(payload)
    return out


def unseen_artifacts(profile: str = "cpu") -> list[dict]:
    """Every scored run of the study on this profile (no prediction or transfer file)."""
    folder = study_dir(profile)
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))
            if p.name not in (PREDICTION_FILE, TRANSFER_FILE)] if folder.is_dir() else []


def arm_outcomes(scored_runs: Sequence[dict], *, model: str | None = None) -> Outcomes:
    """The :class:`~fedlib.stats.Outcomes` of one arm on the unseen languages, one row per seed.

    A federated or centralized run has one model. A monolingual run has one per client: ``model``
    picks one, and ``None`` averages their per-example correctness -- the accuracy of a monolingual
    model picked at random from the federation's languages -- which keeps every arm paired example
    by example with the others.
    """
    from fedlib.predictions import decode_labels, majority_share

    runs = sorted(scored_runs, key=lambda run: run["seed"])
    if not runs:
        raise ValueError("no scored runs for this arm")
    languages = tuple(runs[0]["languages"])
    rows, counts, sizes = [], np.zeros(0, dtype=np.int64), None
    for run in runs:
        models = [run["per_model"][model]] if model is not None else list(run["per_model"].values())
        per_model = []
        for per_lang in models:
            per_model.append(np.concatenate([decode_labels(per_lang[lang]["correct"]) for lang in languages]))
            for lang in languages:
                counts = add_counts(counts, decode_labels(per_lang[lang]["predicted_counts"]))
        these = [len(decode_labels(models[0][lang]["correct"])) for lang in languages]
        if sizes is not None and these != sizes:
            raise ValueError(f"{run['source_run']}: its unseen test sets differ from the other seeds'")
        sizes = these
        rows.append(np.mean(per_model, axis=0))
    language_of = np.repeat(np.arange(len(languages)), sizes)
    return Outcomes(tuple(run["seed"] for run in runs), languages, np.array(rows, dtype=float), language_of,
                    majority_share(np.asarray(counts)))
