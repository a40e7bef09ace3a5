"""Engine overhead: one federated workload on a raw FedAvg loop (no Flower), ``inprocess`` and ``simulation``."""

from __future__ import annotations

import dataclasses
import time

from benchmarks.harness import Arm, Options, alternate, log, median, paired_ratio, seconds
from fedlib.benchresults import check

TITLE = "Engine overhead"


def raw_fedavg(config) -> dict:
    """FedAvg without Flower: the work ``federate`` and the ClientApp do, as direct calls.

    Same as the engines: clients, rows, per-(round, client) seeds, ``train_local``, example-weighted
    averaging (float32, in client order, as Flower's FedAvg computes it), validation of the global
    parameters on every client each round, early stopping on the mean validation accuracy (the
    engines' own ``track_best_round``), and one test evaluation of the best round on every client.
    What differs is only what an engine adds: no Messages, no ArrayRecord (de)serialisation, no
    payload accounting, no strategy object, no ``config.resolved()`` per message.
    """
    from fedlib.client_datasets import build_clients
    from fedlib.federated.client_app import encoded_split
    from fedlib.federated.server_app import track_best_round
    from fedlib.methods import load_trainable_state, trainable_state
    from fedlib.model import get_bundle, model_spec, num_labels_of
    from fedlib.seeds import client_seed
    from fedlib.training import evaluate, state_to_numpy, train_local

    cfg = config.resolved()
    clients = build_clients(cfg)
    bundle = get_bundle(model_spec(cfg, num_labels_of(cfg)))
    model, tokenizer = bundle.model, bundle.tokenizer

    def evaluate_all(state, split):
        per_language: dict[str, dict] = {}
        for i, client in enumerate(clients):  # every client evaluates, as every node is asked
            load_trainable_state(model, state)
            values = evaluate(model, encoded_split(cfg.to_json(), i, split), tokenizer)
            per_language.setdefault(client.lang, values)
        return per_language

    state = state_to_numpy(bundle.initial_state(cfg.seed))
    best, stale, rounds = None, 0, []
    for server_round in range(1, cfg.rounds + 1):
        updates = []
        for i in range(len(clients)):
            load_trainable_state(model, state)
            report = train_local(
                model, tokenizer, encoded_split(cfg.to_json(), i, "train"), epochs=cfg.local_epochs,
                lr=cfg.lr, batch_size=cfg.batch_size, seed=client_seed(cfg.seed, i, server_round),
                progress=False,
            )
            updates.append((report.num_examples, state_to_numpy(trainable_state(model))))
        total = sum(n for n, _ in updates)
        averaged: dict = {}
        for n, update in updates:
            weight = n / total
            for key, value in update.items():
                if key in averaged:
                    averaged[key] += value * weight
                else:
                    averaged[key] = value * weight
        state = averaged
        per_language = evaluate_all(state, "validation")
        val_accuracy = sum(v["accuracy"] for v in per_language.values()) / len(per_language)
        rounds.append({"round": server_round, "val_accuracy": val_accuracy})
        best, stale, stop = track_best_round(best, stale, server_round, val_accuracy, cfg.patience, state=state)
        if stop:
            break
    best["per_language"] = evaluate_all(best.pop("state"), "test")
    return {"final": state, "best": best, "rounds": rounds}


def same_work(raw: dict, engine: dict) -> dict:
    """Does an engine reach what the raw loop reaches? (Evidence that both did the same work.)"""
    import numpy as np

    a, b = raw["final"], engine["_final_arrays"]
    diff = max((float(np.max(np.abs(np.asarray(a[k]) - np.asarray(b[k])))) for k in a), default=0.0) \
        if set(a) == set(b) else None
    test_raw = {lang: v["accuracy"] for lang, v in raw["best"]["per_language"].items()}
    test_engine = {lang: v["test_accuracy"] for lang, v in engine["best"]["per_language"].items()}
    return {"same_keys": set(a) == set(b), "max_abs_param_diff": diff,
            "same_rounds": len(raw["rounds"]) == len(engine["rounds"]),
            "same_best_round": raw["best"]["round"] == engine["best"]["round"],
            "same_test_accuracy": test_raw == test_engine}


def wait_for_children(timeout_s: float = 30.0) -> None:
    """Let processes a run left behind (Ray's) finish before the next timed sample starts."""
    try:
        import psutil
    except ImportError:
        return
    deadline = time.monotonic() + timeout_s
    me = psutil.Process()
    while me.children(recursive=True) and time.monotonic() < deadline:
        time.sleep(0.2)


def run(opts: Options, result: dict) -> None:
    import logging

    from fedlib.data.tasks import NC_LANGUAGES
    from fedlib.experiment import ExperimentConfig
    from fedlib.federated import run_federated
    from fedlib.federated.engines import quiet_flower

    quick = opts.quick
    n_langs, rows, rounds = (2, 8, 2) if quick else (3, 16, 3)
    inner = 2 if quick else 5  # raw / inprocess runs per sample: a smoke run takes well under a second
    sim_samples = 1 if quick else opts.repeats
    smoke = ExperimentConfig(task="nc_standin", languages=NC_LANGUAGES[:n_langs], profile="smoke", rounds=rounds,
                             train_per_client=rows, val_per_client=rows, eval_per_client=rows, seed=0)
    result["settings"] = {
        "workload": smoke.resolved().to_dict(), "runs_per_sample_raw_inprocess": inner,
        "samples": {"raw": opts.repeats, "inprocess": opts.repeats, "simulation": sim_samples},
        "order": "raw, inprocess, simulation, repeated; Ray's processes are waited for after each simulation",
    }
    result["notes"].append(
        "same workload on all three: clients, rows, seeds, local training, FedAvg, validation every round, "
        "test of the best round; the simulation engine runs the clients in Ray actors (1 CPU each, in "
        "parallel) and its time includes starting and stopping Ray, which is its per-run cost")

    log("engine: warm-up (bundle, data, imports)")
    raw_out = raw_fedavg(smoke)
    inproc_out = run_federated(dataclasses.replace(smoke, engine="inprocess"))
    import flwr.simulation  # noqa: F401 - import cost is per process, not per run
    import ray  # noqa: F401

    sim_out: list[dict] = []

    def simulate():
        with quiet_flower(logging.ERROR):
            sim_out.append(run_federated(dataclasses.replace(smoke, engine="simulation")))

    arms = [
        Arm("raw", lambda: seconds(lambda: raw_fedavg(smoke), inner), opts.repeats),
        Arm("inprocess", lambda: seconds(lambda: run_federated(dataclasses.replace(smoke, engine="inprocess")), inner),
            opts.repeats),
        Arm("simulation", lambda: seconds(simulate), sim_samples),
    ]
    samples = alternate(arms, after=lambda name: wait_for_children() if name == "simulation" else None)
    result["samples"].update({f"smoke_{k}_s": v for k, v in samples.items()})
    med = {k: median(v) for k, v in samples.items()}
    result["medians"].update({f"smoke_{k}_s": v for k, v in med.items()})
    result["consistency"] = {"inprocess_vs_raw": same_work(raw_out, inproc_out),
                             "simulation_vs_raw": same_work(raw_out, sim_out[-1])}
    result["checks"] += [
        check("inprocess / raw loop, smoke (time)", paired_ratio(samples["inprocess"], samples["raw"]),
              target="<= 1.05", detail=f"raw {med['raw']:.3f} s, inprocess {med['inprocess']:.3f} s per run"),
        check("simulation / inprocess, smoke (time)", paired_ratio(samples["simulation"], samples["inprocess"]),
              target=">= 3",
              detail=f"simulation {med['simulation']:.1f} s, inprocess {med['inprocess']:.3f} s per run"),
    ]

    if quick:
        result["notes"].append("quick mode: the me5s-q4 pair (raw vs inprocess on real compute) is skipped")
        return
    # The same pair on the cpu profile's backbone: the overhead on a workload whose compute is real.
    real = ExperimentConfig(task="nc_standin", languages=NC_LANGUAGES[:3], profile="cpu", rounds=2,
                            train_per_client=16, val_per_client=16, eval_per_client=16, seed=0)
    result["settings"]["workload_me5s_q4"] = real.resolved().to_dict()
    log("engine: me5s-q4 warm-up")
    raw_real = raw_fedavg(real)
    inproc_real = run_federated(dataclasses.replace(real, engine="inprocess"))
    result["consistency"]["inprocess_vs_raw_me5s_q4"] = same_work(raw_real, inproc_real)
    pair = alternate([
        Arm("raw", lambda: seconds(lambda: raw_fedavg(real)), opts.repeats),
        Arm("inprocess", lambda: seconds(lambda: run_federated(dataclasses.replace(real, engine="inprocess"))),
            opts.repeats),
    ])
    result["samples"].update({f"me5s_q4_{k}_s": v for k, v in pair.items()})
    result["medians"].update({f"me5s_q4_{k}_s": median(v) for k, v in pair.items()})
    result["checks"].append(
        check("inprocess / raw loop, me5s-q4 (time)", paired_ratio(pair["inprocess"], pair["raw"]), target="<= 1.05",
              detail=f"raw {median(pair['raw']):.2f} s, inprocess {median(pair['inprocess']):.2f} s per run"))
