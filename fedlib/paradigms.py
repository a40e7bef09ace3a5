"""The paper's comparison: one call per paradigm, same budgets, one artifact per run.

Fairness: every paradigm sees the same training examples the same number of times. A federated
client trains ``local_epochs`` per round for ``rounds`` rounds; the monolingual and centralized
baselines train for ``rounds * local_epochs`` epochs on the same rows (centralized on all clients'
rows pooled). Every paradigm early-stops on validation accuracy with the same patience and reports
the test metrics of its best epoch / round.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import torch

from fedlib.artifacts import (
    SCHEMA_VERSION,
    artifact_path,
    code_state,
    data_checksums,
    data_folder,
    environment,
    force_requested,
    load_artifact,
    save_artifact,
)
from fedlib.client_datasets import build_clients, pooled, protocol_report
from fedlib.experiment import ExperimentConfig
from fedlib.methods import count_parameters, trainable_state
from fedlib.model import get_bundle, model_spec, num_labels_of
from fedlib.model_store import load_states, save_states
from fedlib.predictions import encode_labels, test_outcomes
from fedlib.seeds import client_seed
from fedlib.training import encode, evaluate, train_local

METRICS = ("accuracy", "macro_f1")
STATES = "_states"  # an outcome's trained weights, kept out of the artifact (fedlib.model_store)
GLOBAL_MODEL, POOLED_MODEL = "global", "pooled"


def _language_means(per_client: list[tuple[str, dict]], num_labels: int) -> dict[str, dict]:
    """Average the metrics of clients that share a language (Dirichlet shards).

    A language with one client keeps its per-example test predictions (see :mod:`fedlib.predictions`).
    """
    by_lang: dict[str, list[dict]] = {}
    for lang, metrics in per_client:
        by_lang.setdefault(lang, []).append(metrics)
    out = {}
    for lang, rows in by_lang.items():
        out[lang] = {m: float(np.mean([r[m] for r in rows])) for m in METRICS}
        if len(rows) == 1 and "predictions" in rows[0]:
            p, y = rows[0]["predictions"], rows[0]["labels"]
            correct, counts = test_outcomes(p, y, num_labels)
            out[lang].update(predictions=encode_labels(p), labels=encode_labels(y), correct=encode_labels(correct),
                             predicted_counts=encode_labels(counts, separator=True))
    return out


def _monolingual(cfg: ExperimentConfig, bundle, progress) -> dict:
    results, details, states = [], {}, {}
    for index, client in enumerate(build_clients(cfg)):
        bundle.reset(cfg.seed)
        report = train_local(
            bundle.model, bundle.tokenizer, encode(client.train, bundle.tokenizer, cfg.max_length),
            validation=encode(client.validation, bundle.tokenizer, cfg.max_length),
            epochs=cfg.rounds * cfg.local_epochs, lr=cfg.lr, batch_size=cfg.batch_size,
            seed=client_seed(cfg.seed, index), patience=cfg.patience, progress=progress,
            desc=f"monolingual {client.name}", runtime=bundle.runtime,
        )
        test = evaluate(bundle.model, encode(client.test, bundle.tokenizer, cfg.max_length), bundle.tokenizer,
                        runtime=bundle.runtime, keep_predictions=True)
        results.append((client.lang, test))
        states[client.name] = trainable_state(bundle.model)  # the best epoch's (train_local restores it)
        details[client.name] = {"best_epoch": report.best_epoch, "epochs_run": report.epochs_run,
                                "history": report.history, "seconds": report.seconds}
    return {"per_language": _language_means(results, bundle.model.config.num_labels), "clients": details,
            STATES: states}


def _centralized(cfg: ExperimentConfig, bundle, progress) -> dict:
    clients = build_clients(cfg)
    bundle.reset(cfg.seed)
    report = train_local(
        bundle.model, bundle.tokenizer, encode(pooled([c.train for c in clients]), bundle.tokenizer, cfg.max_length),
        validation=encode(pooled([c.validation for c in clients]), bundle.tokenizer, cfg.max_length),
        epochs=cfg.rounds * cfg.local_epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed,
        patience=cfg.patience, progress=progress, desc="centralized", runtime=bundle.runtime,
    )
    results = [(c.lang, evaluate(bundle.model, encode(c.test, bundle.tokenizer, cfg.max_length), bundle.tokenizer,
                                 runtime=bundle.runtime, keep_predictions=True))
               for c in clients]
    return {"per_language": _language_means(results, bundle.model.config.num_labels),
            "training": {"best_epoch": report.best_epoch, "epochs_run": report.epochs_run,
                         "history": report.history, "seconds": report.seconds},
            STATES: {POOLED_MODEL: trainable_state(bundle.model)}}


def _federated(cfg: ExperimentConfig, progress, checkpoint_dir=None) -> dict:
    from tqdm.auto import tqdm

    from fedlib.federated import run_federated
    from fedlib.federated.result_file import BEST_ARRAYS, FINAL_ARRAYS
    from fedlib.training import progress_enabled

    with tqdm(total=cfg.rounds, desc=f"federated {cfg.method} rounds", disable=not progress_enabled(progress),
              leave=False) as bar:
        def on_round(record: dict) -> None:
            bar.update(record["round"] - bar.n)  # by round number: a resumed run starts past round 1
            bar.set_postfix(val_acc=f"{record['val_accuracy']:.3f}")

        history = run_federated(cfg, progress=on_round, checkpoint_dir=checkpoint_dir)
    history.pop(FINAL_ARRAYS, None)
    best_state = {k: torch.from_numpy(np.array(v)) for k, v in history.pop(BEST_ARRAYS).items()}
    best = history["best"]
    per_language = {}
    for lang, m in best["per_language"].items():
        per_language[lang] = {"accuracy": m["test_accuracy"], "macro_f1": m["test_macro_f1"]}
        if "test_correct" in m:  # what a client reports of its test set (fedlib.federated.client_app)
            per_language[lang].update(correct=m["test_correct"], predicted_counts=m["test_predicted_counts"])
    first = history["rounds"][0]["clients"]
    return {"per_language": per_language, "history": history, "best_round": best["round"],
            STATES: {GLOBAL_MODEL: best_state},
            "bytes_per_round": {name: {"sent": c.get("bytes_sent", 0), "received": c.get("bytes_received", 0)}
                                for name, c in first.items()}}


def checkpoint_dir_for(path) -> Path:
    """Where a federated run keeps its round checkpoints until its artifact is written."""
    return path.with_name(path.name + ".ckpt")


def _train(cfg, progress, checkpoint_dir) -> tuple[dict, dict]:
    """Run one resolved config: its artifact (not saved) and its trained states."""
    started, cpu_started = time.perf_counter(), time.process_time()
    bundle = get_bundle(model_spec(cfg, num_labels_of(cfg)))
    if cfg.paradigm == "monolingual":
        outcome = _monolingual(cfg, bundle, progress)
    elif cfg.paradigm == "centralized":
        outcome = _centralized(cfg, bundle, progress)
    else:
        outcome = _federated(cfg, progress, checkpoint_dir)
    states = outcome.pop(STATES)
    per_language = outcome["per_language"]
    params = count_parameters(bundle.model)
    artifact = {
        "schema": SCHEMA_VERSION,
        "config": cfg.to_dict(), "config_hash": cfg.config_hash(), "run_name": cfg.run_name(),
        "profile": cfg.profile, "backbone": cfg.backbone, "seed": cfg.seed,
        "precision": cfg.precision, "device": cfg.device, "protocol_report": protocol_report(cfg),
        "environment": environment(), "data_checksums": data_checksums(cfg.task),
        "per_language": per_language,
        "average": {m: float(np.mean([v[m] for v in per_language.values()])) for m in METRICS},
        "parameters": {"total": params.total, "trainable": params.trainable,
                       "communicated": params.communicated, "by_group": params.trainable_by_group},
        "wall_seconds": time.perf_counter() - started,
        # CPU time of this process, all threads: what a run cost on a shared machine, where wall time
        # also counts waiting. Engines that train in other processes (simulation, deployment) leave it out.
        "cpu_seconds": time.process_time() - cpu_started if cfg.engine == "inprocess" else None,
        **{k: v for k, v in outcome.items() if k != "per_language"},
    }
    folder = data_folder(cfg.task)
    if folder is not None:  # shipped tasks' artifacts keep the fields they always had
        artifact["data_folder"] = folder
    return artifact, states


def run_experiment(config: ExperimentConfig, *, force: bool | None = None, progress: bool | None = None) -> dict:
    """Run one experiment, or load its artifact when one with the same config hash exists.

    A federated run checkpoints every round into ``<artifact>.ckpt/``; a run that was killed resumes
    from there (same config hash only) and the folder is removed once the artifact is written. The
    trained weights go to :func:`fedlib.model_store.model_path` (outside the repository).
    """
    cfg = config.resolved()
    path = artifact_path(cfg)
    if path.exists() and not (force if force is not None else force_requested()):
        return load_artifact(path)
    code_state()  # the code this run is about to use, recorded before any time passes
    artifact, states = _train(cfg, progress, checkpoint_dir_for(path))
    save_artifact(artifact, path)
    save_states(cfg, states, {"retrained": False})
    shutil.rmtree(checkpoint_dir_for(path), ignore_errors=True)
    return artifact


def _accuracies(artifact: dict) -> dict[str, float]:
    return {lang: m["accuracy"] for lang, m in artifact["per_language"].items()}


def trained_states(config: ExperimentConfig, *, progress: bool | None = None) -> tuple[dict, dict]:
    """The trained weights of a run, ``({model name: state}, info)``, training it where needed.

    Model names: ``"global"`` (federated), ``"pooled"`` (centralized), the client names (monolingual).
    A run with no artifact is run (artifact and weights saved). A run whose artifact exists but whose
    weights this machine lacks is trained again without touching the artifact; ``info`` then says
    whether the retrained run reproduced the artifact's per-language test accuracies exactly
    (``reproduced``) and the largest difference, so a reader can tell a model that is the committed
    run's from one that only shares its config.
    """
    cfg = config.resolved()
    saved = load_states(cfg)
    if saved is not None:
        return saved
    path = artifact_path(cfg)
    if not path.exists():
        run_experiment(cfg, progress=progress)
        return load_states(cfg)
    committed = load_artifact(path)
    # Its own checkpoint folder: the committed run's (if any is left) must not be resumed or overwritten.
    retrain_checkpoint = checkpoint_dir_for(path).with_name(path.name + ".retrain.ckpt")
    retrained, states = _train(cfg, progress, retrain_checkpoint)
    shutil.rmtree(retrain_checkpoint, ignore_errors=True)
    ours, theirs = _accuracies(retrained), _accuracies(committed)
    gap = max(abs(ours[lang] - theirs[lang]) for lang in theirs)
    from fedlib.run_cost import cpu_hours

    info = {"retrained": True, "reproduced": gap == 0.0, "max_accuracy_difference": gap,
            "retrained_accuracy": retrained["average"]["accuracy"],
            "committed_accuracy": committed["average"]["accuracy"], "retrain_cpu_hours": cpu_hours(retrained)}
    save_states(cfg, states, info)
    return load_states(cfg)
