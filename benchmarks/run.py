#!/usr/bin/env python
"""fedlib's benchmark suite: how fast and how lean the companion is, each ratio measured side by side.

Six benchmarks, one function each (``--only`` picks them by these names; all but ``parity`` by default):

``engine``         the same federated workload on a raw FedAvg loop (no Flower), the ``inprocess``
                   engine and Flower's ``simulation`` engine.
``memory``         peak RSS of a federated run with 1 vs 8 virtual clients, each in a fresh process.
``communication``  bytes per client and round for prompt, ptuning, LoRA and full fine-tuning: read from
                   the records of real runs (me5s-q4) and built from parameter shapes (xlm-roberta-base).
``throughput``     ms per example of ``train_local`` and ``evaluate`` in fp32 and bf16 against the floor
                   (the step's FLOPs at the bf16 peak of plain matrix products), where the bf16 step's
                   time goes (torch.profiler), and how round time and memory grow from 5 to 100 clients.
``parity``         bf16 vs fp32 accuracy: NC stand-in, prompt encoder, federated and monolingual, three
                   seeds each (~40 min on 2 cores; resumable, its runs are kept in .parity-artifacts/).
``book``           cold and warm wall time of ``make book``.

Every pair (or triple) is run in alternation (A, B, A, B, ...) so that machine noise hits both sides,
and the median is reported; a ratio of two arms is the median of the per-repeat ratios. Each result
records the machine. Results go to ``benchmarks/results/<name>.json`` plus ``summary.md``, and the
summary table is printed at the end. Timing targets are reported, never asserted: the suite is not
part of ``make test``.

    .venv/bin/python benchmarks/run.py                       # all but parity (make bench)
    .venv/bin/python benchmarks/run.py --only parity         # bf16 vs fp32 accuracy, ~40 min
    .venv/bin/python benchmarks/run.py --quick               # tiny settings, no book, into a tmp dir
    .venv/bin/python benchmarks/run.py --only engine,memory --repeats 5 --out /tmp/bench
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere, with or without the editable install
    sys.path.insert(0, str(REPO))

from fedlib.benchresults import (  # noqa: E402
    DEFAULT as DEFAULT_NAMES,
    ORDER as NAMES,
    SCHEMA,
    check,
    load_results,
    machine_record,
    markdown_table,
    overall_met,
    summary_markdown,
    verdict_lines,
    write_result,
)

DEFAULT_OUT = REPO / "benchmarks" / "results"
TITLES = {
    "engine": "Engine overhead",
    "memory": "Memory, 1 vs 8 clients",
    "communication": "Communication per round",
    "throughput": "Training throughput",
    "parity": "Accuracy parity, bf16 vs fp32",
    "book": "Book build",
}
NC_LANGS = ("en", "de", "es", "fr", "ru")
CHILD_MARK = "BENCH_JSON "
_ENV_AT_START = dict(os.environ)  # the book build runs `make book` in the user's own environment


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Measuring


@dataclasses.dataclass
class Options:
    quick: bool
    repeats: int
    book_repeats: int
    out: Path
    threads: int | None = None
    device: str = "cpu"  # where the throughput benchmark computes (--device)
    random_weights: bool = False  # throughput on the backbone's shapes with random weights (--random-weights)


@dataclasses.dataclass
class Arm:
    """One side of a comparison: ``measure()`` returns one sample (seconds, examples/s, MB...)."""

    name: str
    measure: Callable[[], float]
    samples: int


def alternate(arms: list[Arm], after: Callable[[str], None] | None = None) -> dict[str, list[float]]:
    """Round-robin over the arms (A, B, C, A, B, C, ...) until each has its samples."""
    values: dict[str, list[float]] = {arm.name: [] for arm in arms}
    for r in range(max(arm.samples for arm in arms)):
        for arm in arms:
            if r >= arm.samples:
                continue
            gc.collect()
            value = float(arm.measure())
            values[arm.name].append(value)
            log(f"  {arm.name} [{r + 1}/{arm.samples}]: {value:.4g}")
            if after is not None:
                after(arm.name)
    return values


def seconds(fn: Callable[[], object], inner: int = 1) -> float:
    """Mean wall time of ``inner`` back-to-back calls (short workloads need several per sample)."""
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def paired_ratio(a: list[float], b: list[float]) -> float:
    """Median of a_i / b_i over repeats measured side by side; ratio of medians if counts differ."""
    if len(a) == len(b) and a:
        return median([x / y for x, y in zip(a, b)])
    return median(a) / median(b)


def new_result(name: str, opts: Options) -> dict:
    return {
        "schema": SCHEMA, "name": name, "title": TITLES[name], "quick": opts.quick,
        "settings": {}, "samples": {}, "medians": {}, "checks": [], "met": None,
        "machine": machine_record(), "wall_s": 0.0, "error": None,
        "notes": [f"torch threads pinned to {opts.threads} for this run (--threads)"] if opts.threads else [],
    }


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


@contextlib.contextmanager
def torch_threads(n: int | None):
    import torch

    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# --------------------------------------------------------------------------------------------
# 1. Engine overhead


def raw_fedavg(config) -> dict:
    """FedAvg without Flower: the work ``federate`` and the ClientApp do, as direct calls.

    Same as the engines: clients, rows, per-(round, client) seeds, ``train_local``, example-weighted
    averaging (float32, in client order, as Flower's FedAvg computes it), validation of the global
    parameters on every client each round, early stopping on the mean validation accuracy, and one
    test evaluation of the best round on every client. What differs is only what an engine adds: no
    Messages, no ArrayRecord (de)serialisation, no payload accounting, no strategy object, no
    ``config.resolved()`` per message.
    """
    from fedlib.client_datasets import build_clients
    from fedlib.federated.client_app import encoded_split
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
        if best is None or val_accuracy > best["val_accuracy"]:
            best, stale = {"round": server_round, "val_accuracy": val_accuracy, "state": state}, 0
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    best["per_language"] = evaluate_all(best.pop("state"), "test")
    return {"final": state, "best": best, "rounds": rounds}


def _same_work(raw: dict, engine: dict) -> dict:
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


def bench_engine(opts: Options, result: dict) -> None:
    import logging

    from fedlib.experiment import ExperimentConfig
    from fedlib.federated import run_federated
    from fedlib.federated.engines import quiet_flower

    quick = opts.quick
    n_langs, rows, rounds = (2, 8, 2) if quick else (3, 16, 3)
    inner = 2 if quick else 5  # raw / inprocess runs per sample: a smoke run takes well under a second
    sim_samples = 1 if quick else opts.repeats
    smoke = ExperimentConfig(task="nc_standin", languages=NC_LANGS[:n_langs], profile="smoke", rounds=rounds,
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
    result["consistency"] = {"inprocess_vs_raw": _same_work(raw_out, inproc_out),
                             "simulation_vs_raw": _same_work(raw_out, sim_out[-1])}
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
    real = ExperimentConfig(task="nc_standin", languages=NC_LANGS[:3], profile="cpu", rounds=2,
                            train_per_client=16, val_per_client=16, eval_per_client=16, seed=0)
    result["settings"]["workload_me5s_q4"] = real.resolved().to_dict()
    log("engine: me5s-q4 warm-up")
    raw_real = raw_fedavg(real)
    inproc_real = run_federated(dataclasses.replace(real, engine="inprocess"))
    result["consistency"]["inprocess_vs_raw_me5s_q4"] = _same_work(raw_real, inproc_real)
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


# --------------------------------------------------------------------------------------------
# 2. Memory


def _maxrss_mb() -> float:
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 2**20 if sys.platform == "darwin" else kb / 1024  # bytes on macOS, KiB on Linux


def _peak_rss_mb() -> float:
    """This process image's own peak RSS: VmHWM on Linux, else ru_maxrss.

    On Linux ``ru_maxrss`` survives ``exec``: a child forked from the (large) benchmark process
    reports the parent's RSS at fork time as its peak. VmHWM belongs to the new address space.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _maxrss_mb()


def child_memory(spec: dict) -> dict:
    """One federated run in this (fresh) process; peak RSS as the kernel counts it."""
    start = time.perf_counter()
    from fedlib.data import get_task
    from fedlib.experiment import ExperimentConfig
    from fedlib.federated import run_federated
    import fedlib.federated.engines  # noqa: F401 - torch, transformers, peft, flwr: the fixed cost

    after_imports = _peak_rss_mb()
    langs = tuple(get_task("sib200").languages[: spec["clients"]])
    cfg = ExperimentConfig(task="sib200", languages=langs, profile=spec["profile"], rounds=1,
                           train_per_client=spec["rows"], val_per_client=spec["rows"],
                           eval_per_client=spec["rows"], seed=0, engine="inprocess")
    history = run_federated(cfg)
    return {"clients": spec["clients"], "profile": spec["profile"], "backbone": cfg.resolved().backbone,
            "peak_rss_mb": _peak_rss_mb(), "after_imports_mb": after_imports, "ru_maxrss_mb": _maxrss_mb(),
            "rounds_run": len(history["rounds"]), "seconds": time.perf_counter() - start}


def run_child(kind: str, spec: dict) -> dict:
    env = dict(os.environ, FEDLIB_PROGRESS="0")
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", kind, "--spec", json.dumps(spec)],
                          capture_output=True, text=True, env=env, cwd=REPO)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(CHILD_MARK)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"child {kind} {spec} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len(CHILD_MARK):])


def bench_memory(opts: Options, result: dict) -> None:
    profile = "smoke" if opts.quick else "cpu"
    rows = 4 if opts.quick else 8
    samples = 1 if opts.quick else opts.repeats
    result["settings"] = {"task": "sib200", "profile": profile, "rows_per_split": rows, "rounds": 1,
                          "engine": "inprocess", "clients": [1, 8], "samples": samples,
                          "measure": "peak RSS (VmHWM; ru_maxrss off Linux) of a fresh child process"}
    records: dict[int, list[dict]] = {1: [], 8: []}

    def measure(n):
        def go():
            record = run_child("memory", {"clients": n, "profile": profile, "rows": rows})
            records[n].append(record)
            return record["peak_rss_mb"]
        return go

    values = alternate([Arm("1 client", measure(1), samples), Arm("8 clients", measure(8), samples)])
    result["samples"] = {"peak_rss_mb_1": values["1 client"], "peak_rss_mb_8": values["8 clients"],
                         "children": {str(k): v for k, v in records.items()}}
    one, eight = median(values["1 client"]), median(values["8 clients"])
    imports = median([r["after_imports_mb"] for r in records[1] + records[8]])
    result["medians"] = {"peak_rss_mb_1": one, "peak_rss_mb_8": eight, "after_imports_mb": imports}
    backbone = records[1][0]["backbone"]
    result["checks"].append(check(
        f"peak RSS 8 / 1 clients, {backbone}", paired_ratio(values["8 clients"], values["1 client"]),
        target="<= 1.3", detail=f"1 client {one:.0f} MB, 8 clients {eight:.0f} MB (imports alone {imports:.0f} MB)"))
    result["notes"].append("peak RSS is the child's VmHWM: on Linux ru_maxrss survives exec, so a child forked "
                           "from this (large) process would report the parent's RSS as its own peak")
    if opts.quick:
        result["notes"].append("quick mode: tiny-random backbone instead of me5s-q4")


# --------------------------------------------------------------------------------------------
# 3. Communication


def shape_payloads(backbone: str, method: str, num_labels: int, *, num_virtual_tokens: int,
                   lora_rank: int = 8) -> dict:
    """Bytes of the messages a round exchanges, from the parameter shapes alone.

    The model is built on the meta device (:func:`fedlib.accounting.meta_model`), zeros are
    materialised for the trainable parameters only, and the records are the ones the engines send:
    ``{"arrays", "config"}`` to the client, ``{"arrays", "metrics"}`` back (see ``federated/client_app.py``).
    """
    import torch
    from flwr.app import ConfigRecord, MetricRecord, RecordDict

    from fedlib.accounting import meta_model
    from fedlib.federated.records import payload_bytes, state_to_arrays

    model = meta_model(backbone, method, num_labels, num_virtual_tokens=num_virtual_tokens, lora_rank=lora_rank)
    state = OrderedDict((name, torch.zeros(p.shape, dtype=torch.float32))
                        for name, p in model.named_parameters() if p.requires_grad)
    arrays = state_to_arrays(state)
    down = payload_bytes(RecordDict({"arrays": arrays, "config": ConfigRecord({"server-round": 1})}))
    metrics = MetricRecord({"num-examples": 1, "train-loss": 0.0, "client-index": 0, "seconds": 0.0})
    up = payload_bytes(RecordDict({"arrays": arrays, "metrics": metrics}))
    return {"parameters": int(sum(t.numel() for t in state.values())), "bytes_down": down, "bytes_up": up}


def bench_communication(opts: Options, result: dict) -> None:
    from fedlib.accounting import count_for
    from fedlib.config import get_profile
    from fedlib.data import get_task
    from fedlib.experiment import ExperimentConfig
    from fedlib.federated import run_federated
    from fedlib.methods import METHODS
    from fedlib.model import clear_bundles

    profile = "smoke" if opts.quick else "cpu"
    num_labels = len(get_task("sib200").label_names)
    measured: dict[str, dict] = {}
    backbone = None
    for method in METHODS:
        cfg = ExperimentConfig(task="sib200", languages=("eng_Latn",), profile=profile, method=method, rounds=1,
                               train_per_client=4, val_per_client=4, eval_per_client=4, batch_size=4, seed=0)
        resolved = cfg.resolved()
        backbone = resolved.backbone
        log(f"communication: 1-round run, {backbone}, {method}")
        history = run_federated(cfg)
        client = history["rounds"][0]["clients"]["eng_Latn"]
        measured[method] = {"bytes_down": client["bytes_sent"], "bytes_up": client["bytes_received"],
                            "from_shapes": shape_payloads(backbone, method, num_labels,
                                                          num_virtual_tokens=resolved.num_virtual_tokens,
                                                          lora_rank=resolved.lora_rank)}
        del history
        clear_bundles()  # each method's bundle is a whole backbone; keep at most one alive
        gc.collect()
    paper = get_profile("paper")
    xlmr = paper.backbone
    shapes: dict[str, dict] = {}
    for method in METHODS:
        log(f"communication: shapes, {xlmr}, {method}")
        shapes[method] = shape_payloads(xlmr, method, num_labels, num_virtual_tokens=paper.num_virtual_tokens)
        gc.collect()
    result["settings"] = {"task": "sib200", "num_labels": num_labels, "measured_backbone": backbone,
                          "measured_profile": profile, "shapes_backbone": xlmr,
                          "shapes_num_virtual_tokens": paper.num_virtual_tokens,
                          "unit": "bytes per client per round (down = server to client, up = client to server)"}
    result["samples"] = {"measured": measured, "shapes": shapes}
    result["medians"] = {f"{backbone}_{m}_bytes": v["bytes_down"] + v["bytes_up"] for m, v in measured.items()}
    result["medians"].update({f"{xlmr}_{m}_bytes": v["bytes_down"] + v["bytes_up"] for m, v in shapes.items()})
    result["consistency"] = {f"{backbone}_{m}_records_equal_shapes":
                             (v["bytes_down"], v["bytes_up"]) == (v["from_shapes"]["bytes_down"], v["from_shapes"]["bytes_up"])
                             for m, v in measured.items()}
    result["consistency"].update({  # the shapes send exactly what fedlib.accounting counts as communicated
        f"{xlmr}_{m}_shapes_equal_accounting":
            v["parameters"] == count_for(xlmr, m, num_labels, num_virtual_tokens=paper.num_virtual_tokens).communicated
        for m, v in shapes.items()})

    def add(label: str, table: dict, method: str, targeted: bool):
        total = {m: v["bytes_down"] + v["bytes_up"] for m, v in table.items()}
        ratio = total[method] / total["full"]
        result["checks"].append(check(
            f"{method} / full, {label}", ratio, unit="%", target="<= 0.005" if targeted else None,
            detail=f"{total[method] / 1e3:,.1f} kB vs {total['full'] / 1e6:,.1f} MB per client and round (down + up)"))

    for label, table in ((f"{backbone} (records)", measured), (f"{xlmr.split('/')[-1]} (shapes)", shapes)):
        for method in ("prompt", "ptuning", "lora"):
            add(label, table, method, targeted=method == "prompt")
    if opts.quick:
        result["notes"].append("quick mode: records measured on tiny-random instead of me5s-q4")


# --------------------------------------------------------------------------------------------
# 4. Training throughput


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def gemm_gflops(dtype, shapes: list[tuple[int, int, int]], device: str = "cpu",
                min_seconds: float = 0.5) -> dict[str, float]:
    """GFLOP/s of plain ``a @ b`` for each (m, k, n) shape: the machine's peak for that dtype."""
    import torch

    rates = {}
    for m, k, n in shapes:
        a, b = torch.randn(m, k, dtype=dtype, device=device), torch.randn(k, n, dtype=dtype, device=device)
        a @ b  # first call selects the kernel
        synchronize(device)
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < min_seconds or calls < 3:
            for _ in range(10):
                a @ b
            calls += 10
            synchronize(device)
        rates[f"{m}x{k}x{n}"] = 2.0 * m * k * n * calls / elapsed / 1e9
    return rates


def train_ms(bundle, encoded, *, batch_size: int, lr: float, seed: int):
    """ms per example of one ``train_local`` epoch (the library's own loop) in the bundle's runtime."""
    from fedlib.training import train_local

    def go():
        bundle.reset(seed)
        report = train_local(bundle.model, bundle.tokenizer, encoded, epochs=1, lr=lr, batch_size=batch_size,
                             seed=seed, progress=False, runtime=bundle.runtime)
        return report.seconds * 1000 / len(encoded)
    return go


def eval_ms(bundle, encoded, batch_size: int = 32):
    from fedlib.training import evaluate

    def go():
        start = time.perf_counter()
        evaluate(bundle.model, encoded, bundle.tokenizer, batch_size, runtime=bundle.runtime)
        synchronize(bundle.runtime.device)
        return (time.perf_counter() - start) * 1000 / len(encoded)
    return go


@contextlib.contextmanager
def random_weight_backbones():
    """Bundles built meanwhile get randomly initialised backbones of the named model's shapes.

    Throughput depends on shapes only, so a machine without the backbone's files (a GPU machine with
    no hub) still measures the real model's speed (``--random-weights``). Only the tokenizer's file
    is needed (any XLM-R backbone shares it).
    """
    import fedlib.backbone as backbones
    from transformers import AutoModelForSequenceClassification

    original = backbones.load_backbone

    def shapes_only(name, num_labels=None, *, for_classification=True):
        model = AutoModelForSequenceClassification.from_config(backbones.backbone_config(name, num_labels))
        try:
            tokenizer = backbones.load_tokenizer(name)
        except Exception:  # a hub model's tokenizer out of reach: XLM-R's vocabulary is the same
            tokenizer = backbones.load_tokenizer("me5s-q4")
        return model.eval(), tokenizer

    backbones.load_backbone = shapes_only
    try:
        yield
    finally:
        backbones.load_backbone = original


def top_ops(fn: Callable[[], object], limit: int = 12) -> list[dict]:
    """Where the time of one call goes: the ops with the most self CPU time (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    return [{"op": e.key, "share": e.self_cpu_time_total / total, "calls": e.count} for e in events[:limit]]


def bench_throughput(opts: Options, result: dict) -> None:
    """Training and evaluation against the floor: FLOPs at the bf16 peak of plain matrix products."""
    import dataclasses as dc

    import torch

    from fedlib.backbone import backbone_config
    from fedlib.client_datasets import build_clients
    from fedlib.experiment import ExperimentConfig
    from fedlib.flops import step_flops
    from fedlib.model import get_bundle, model_spec, num_labels_of
    from fedlib.training import batches, encode

    profile = "smoke" if opts.quick else "cpu"
    rows, batch_size, seed = (16, 8, 0) if opts.quick else (64, 8, 0)
    device = opts.device
    backbone = os.environ.get("FEDLIB_BACKBONE") or None
    base = ExperimentConfig(task="sib200", languages=("eng_Latn",), profile=profile, method="prompt",
                            train_per_client=rows, eval_per_client=rows, batch_size=batch_size, seed=seed,
                            backbone=backbone)
    configs = {p: dc.replace(base, precision=p, device=device).resolved() for p in ("fp32", "bf16")}
    cfg = configs["fp32"]
    client = build_clients(cfg)[0]
    if opts.random_weights:
        with random_weight_backbones():
            bundles = {p: get_bundle(model_spec(c, num_labels_of(c))) for p, c in configs.items()}
        result["notes"].append("random weights of the backbone's shapes (--random-weights): speed only")
    else:
        bundles = {p: get_bundle(model_spec(c, num_labels_of(c))) for p, c in configs.items()}
    tokenizer = bundles["fp32"].tokenizer
    encoded = encode(client.train, tokenizer, cfg.max_length)
    test = encode(client.test, tokenizer, cfg.max_length)

    # FLOPs of exactly the batches trained and evaluated (dynamic padding: each batch's longest row).
    model_config = backbone_config(cfg.backbone, num_labels_of(cfg))
    virtual = cfg.num_virtual_tokens

    def padded_lengths(data, size, shuffle, batch_seed=0):
        return [batch["input_ids"].shape[1] + virtual for batch in batches(data, tokenizer, size, shuffle=shuffle,
                                                                              seed=batch_seed)
                for _ in range(len(batch["labels"]))]

    train_lengths = padded_lengths(encoded, batch_size, True, seed * 1_000 + 1)
    eval_lengths = padded_lengths(test, 32, False)
    labels = num_labels_of(cfg)
    train_flops = step_flops(model_config, train_lengths, labels, training=True) / len(train_lengths)
    eval_flops = step_flops(model_config, eval_lengths, labels, training=False) / len(eval_lengths)

    big = 512 if opts.quick else 2048
    tokens = batch_size * int(statistics.mean(train_lengths))
    shapes = [(big, big, big), (tokens, model_config.hidden_size, model_config.hidden_size),
              (tokens, model_config.hidden_size, model_config.intermediate_size)]
    peaks = {"fp32": gemm_gflops(torch.float32, shapes, device), "bf16": gemm_gflops(torch.bfloat16, shapes, device)}

    arms = [Arm("train fp32", train_ms(bundles["fp32"], encoded, batch_size=batch_size, lr=cfg.lr, seed=seed),
                opts.repeats),
            Arm("train bf16", train_ms(bundles["bf16"], encoded, batch_size=batch_size, lr=cfg.lr, seed=seed),
                opts.repeats),
            Arm("eval fp32", eval_ms(bundles["fp32"], test), opts.repeats),
            Arm("eval bf16", eval_ms(bundles["bf16"], test), opts.repeats)]
    log("throughput: warm-up")
    for arm in arms:  # first calls pay one-off allocation and kernel selection costs
        arm.measure()
    values = alternate(arms)
    m = {name: median(v) for name, v in values.items()}
    bf16_peak = max(peaks["bf16"].values())
    floor_train = train_flops / (bf16_peak * 1e9) * 1000
    floor_eval = eval_flops / (bf16_peak * 1e9) * 1000
    figures = {
        "gemm_gflops_fp32": max(peaks["fp32"].values()), "gemm_gflops_bf16": bf16_peak,
        "flops_per_example": train_flops, "eval_flops_per_example": eval_flops,
        "floor_ms_per_example": floor_train, "eval_floor_ms_per_example": floor_eval,
        "train_ms_per_example_fp32": m["train fp32"], "train_ms_per_example_bf16": m["train bf16"],
        "eval_ms_per_example_fp32": m["eval fp32"], "eval_ms_per_example_bf16": m["eval bf16"],
        "train_ratio_to_floor": m["train bf16"] / floor_train, "eval_ratio_to_floor": m["eval bf16"] / floor_eval,
        "speedup_train_vs_fp32": paired_ratio(values["train fp32"], values["train bf16"]),
        "speedup_eval_vs_fp32": paired_ratio(values["eval fp32"], values["eval bf16"]),
    }
    bundles["bf16"].reset(seed)
    profiled = top_ops(train_ms(bundles["bf16"], encoded, batch_size=batch_size, lr=cfg.lr, seed=seed))
    for bundle in bundles.values():
        bundle.reset(seed)
    result["settings"] = {"task": "sib200", "language": "eng_Latn", "backbone": cfg.backbone, "method": cfg.method,
                          "device": device, "rows": rows, "test_rows": len(test), "batch_size": batch_size,
                          "max_length": cfg.max_length, "num_virtual_tokens": virtual,
                          "mean_tokens_trained": float(statistics.mean(train_lengths)),
                          "torch_threads": torch.get_num_threads(), "unit": "ms per example",
                          "gemm_gflops": peaks, "bf16_train_top_ops": profiled}
    result["samples"] = values
    result["medians"] = {**m, **figures}
    result["checks"].append(check("train: bf16 ms / floor", figures["train_ratio_to_floor"], target="<= 3",
                                  detail=f"{m['train bf16']:.1f} ms vs floor {floor_train:.1f} ms per example"))
    result["checks"].append(check("train: fp32 / bf16 ms (speed-up)", figures["speedup_train_vs_fp32"], target=">= 3",
                                  detail=f"{m['train fp32']:.1f} vs {m['train bf16']:.1f} ms per example"))
    result["checks"].append(check("eval: bf16 ms / floor", figures["eval_ratio_to_floor"],
                                  detail=f"{m['eval bf16']:.1f} ms vs floor {floor_eval:.1f} ms per example"))
    result["checks"].append(check("eval: fp32 / bf16 ms (speed-up)", figures["speedup_eval_vs_fp32"],
                                  detail=f"{m['eval fp32']:.1f} vs {m['eval bf16']:.1f} ms per example"))
    result["notes"].append(
        "floor = FLOPs of the batches trained (dynamic padding, virtual tokens included; frozen weights need no "
        "weight gradients) at the bf16 peak of plain matrix products; element-wise work is not counted")
    if device == "cpu":  # the scaling runs are CPU processes of the in-process engine
        scaling(opts, result)
    if opts.quick:
        result["notes"].append("quick mode: tiny-random backbone, 16 rows")


def child_scaling(spec: dict) -> dict:
    """One federated run of ``clients`` Dirichlet shards in this (fresh) process: round time, peak RSS."""
    from fedlib.experiment import ExperimentConfig
    from fedlib.federated import run_federated

    shards = spec["clients"] // len(spec["languages"])
    # train_per_client is a language's budget before it is split: ``rows`` per client on average
    cfg = ExperimentConfig(task="sib200", languages=tuple(spec["languages"]), profile=spec["profile"],
                           partition="dirichlet", clients_per_language=shards, rounds=spec["rounds"],
                           train_per_client=spec["rows"] * shards, val_per_client=spec["rows"],
                           eval_per_client=spec["rows"], seed=0, engine="inprocess")
    history = run_federated(cfg)
    rounds = history["rounds"]
    trained = [sum(c.get("num_examples", 0) for c in r["clients"].values()) for r in rounds]
    return {"clients": len(history["clients"]), "seconds_per_round": median([r["seconds"] for r in rounds]),
            "examples_per_round": median(trained), "peak_rss_mb": _peak_rss_mb()}


def scaling(opts: Options, result: dict) -> None:
    """Round time and peak memory of the in-process engine at 5, 20 and 100 clients."""
    counts = [5, 20] if opts.quick else [5, 20, 100]
    languages = ["eng_Latn", "fra_Latn", "hau_Latn", "swh_Latn", "yor_Latn"]
    spec = {"profile": "smoke" if opts.quick else "cpu", "languages": languages, "rows": 16, "rounds": 2}
    records = []
    for n in counts:
        log(f"scaling: {n} clients")
        records.append(run_child("scaling", {**spec, "clients": n}))
    per_example = [r["seconds_per_round"] / max(r["examples_per_round"], 1) * 1000 for r in records]
    result["settings"]["scaling"] = {**spec, "partition": "dirichlet", "engine": "inprocess",
                                     "measure": "median round time; peak RSS (VmHWM) of a fresh child process"}
    result["samples"]["scaling"] = records
    result["medians"].update({
        "scaling_clients": [r["clients"] for r in records],
        "scaling_seconds_per_round": [r["seconds_per_round"] for r in records],
        "scaling_examples_per_round": [r["examples_per_round"] for r in records],
        "scaling_ms_per_example": per_example,
        "scaling_peak_rss_mb": [r["peak_rss_mb"] for r in records],
    })
    result["checks"].append(check(
        f"scaling: ms per trained example, {counts[-1]} / {counts[0]} clients", per_example[-1] / per_example[0],
        target="<= 1.5", detail="round time grows with the examples trained, not the clients"))
    result["checks"].append(check(
        f"scaling: peak RSS, {counts[-1]} / {counts[0]} clients", records[-1]["peak_rss_mb"] / records[0]["peak_rss_mb"],
        target="<= 1.3", detail=" / ".join(f"{r['clients']}: {r['peak_rss_mb']:.0f} MB" for r in records)))


# --------------------------------------------------------------------------------------------
# 4b. Accuracy parity of bf16 and fp32 (not in the default set: ~40 CPU-minutes)

PARITY_ARTIFACTS = REPO / "benchmarks" / ".parity-artifacts"  # resumable: finished runs are loaded


@contextlib.contextmanager
def results_folder(folder: Path):
    previous = os.environ.get("FEDLIB_RESULTS")
    os.environ["FEDLIB_RESULTS"] = str(folder)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("FEDLIB_RESULTS", None)
        else:
            os.environ["FEDLIB_RESULTS"] = previous


def paired_summary(reference: list[float], other: list[float]) -> dict:
    """Mean of the paired differences ``other - reference`` and its 95 % t interval (scipy)."""
    from scipy import stats

    diffs = [b - a for a, b in zip(reference, other)]
    mean = statistics.mean(diffs)
    if len(diffs) < 2 or max(diffs) == min(diffs):
        low = high = mean
    else:
        interval = stats.ttest_rel(other, reference).confidence_interval(0.95)
        low, high = float(interval.low), float(interval.high)
    return {"differences": diffs, "mean": mean, "ci95": [low, high], "n": len(diffs)}


def bench_parity(opts: Options, result: dict) -> None:
    """NC stand-in, prompt encoder: federated and monolingual runs in fp32 and bf16, paired by seed."""
    import dataclasses as dc

    from fedlib.experiment import ExperimentConfig
    from fedlib.paradigms import run_experiment

    quick = opts.quick
    seeds = (0, 1) if quick else (0, 1, 2)
    base = dict(task="nc_standin", languages=NC_LANGS, method="ptuning", profile="smoke" if quick else "cpu",
                rounds=2 if quick else 12, eval_per_client=16 if quick else 204, device="cpu")
    folder = Path(tempfile.mkdtemp(prefix="fedlib-parity-")) if quick else PARITY_ARTIFACTS
    accuracy: dict[str, dict[str, list[float]]] = {}
    runs = []
    with results_folder(folder):
        for paradigm in ("federated", "monolingual"):
            for seed in seeds:
                for precision in ("fp32", "bf16"):
                    cfg = ExperimentConfig(**base, paradigm=paradigm, seed=seed, precision=precision)
                    log(f"parity: {cfg.run_name()}")
                    artifact = run_experiment(cfg, progress=False)
                    accuracy.setdefault(paradigm, {}).setdefault(precision, []).append(
                        100 * artifact["average"]["accuracy"])
                    runs.append({"paradigm": paradigm, "seed": seed, "precision": precision,
                                 "accuracy": 100 * artifact["average"]["accuracy"],
                                 "per_language": {k: 100 * v["accuracy"] for k, v in artifact["per_language"].items()},
                                 "best_round": artifact.get("best_round"), "wall_seconds": artifact["wall_seconds"],
                                 "config_hash": artifact["config_hash"]})
    result["settings"] = {**{k: list(v) if isinstance(v, tuple) else v for k, v in base.items()},
                          "seeds": list(seeds), "artifacts": str(folder.relative_to(REPO)) if not quick else "tmp",
                          "unit": "accuracy, percentage points"}
    result["samples"] = {"runs": runs}
    medians = {}
    for paradigm, by_precision in accuracy.items():
        summary = paired_summary(by_precision["fp32"], by_precision["bf16"])
        medians[f"{paradigm}_fp32_mean"] = statistics.mean(by_precision["fp32"])
        medians[f"{paradigm}_bf16_mean"] = statistics.mean(by_precision["bf16"])
        medians[f"{paradigm}_bf16_minus_fp32"] = summary
        walls = {p: [r["wall_seconds"] for r in runs if r["paradigm"] == paradigm and r["precision"] == p]
                 for p in ("fp32", "bf16")}
        medians[f"{paradigm}_run_speedup"] = paired_ratio(walls["fp32"], walls["bf16"])
        low, high = summary["ci95"]
        item = check(f"parity, {paradigm}: |bf16 - fp32| accuracy", abs(summary["mean"]), target="<= 2", unit="pt",
                     detail=f"mean {summary['mean']:+.2f} [{low:+.2f}, {high:+.2f}] over {summary['n']} seeds; "
                            f"fp32 {medians[f'{paradigm}_fp32_mean']:.1f}, bf16 {medians[f'{paradigm}_bf16_mean']:.1f}")
        item["met"] = bool(item["met"] and low <= 0 <= high)  # and the interval contains 0
        result["checks"].append(item)
    result["medians"] = medians
    result["notes"].append("parity is met when the mean paired difference is within 2 points and its 95 % "
                           "interval (paired t over seeds) contains 0")


# --------------------------------------------------------------------------------------------
# 5. Book build


def _results_status() -> str:
    proc = subprocess.run(["git", "status", "--porcelain", "--", "results"], cwd=REPO, capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else ""


def bench_book(opts: Options, result: dict) -> None:
    make = os.environ.get("MAKE", "make")
    env = dict(_ENV_AT_START)
    log_path = opts.out / "book-build.log"
    opts.out.mkdir(parents=True, exist_ok=True)
    result["settings"] = {"command": f"{make} clean-book; {make} book (cold); {make} book (warm)",
                          "profile": env.get("FEDLIB_PROFILE", "cpu"), "samples": opts.book_repeats,
                          "log": str(log_path)}
    result["notes"].append("cold = no _build and no .jupyter_cache, committed result artifacts present; "
                           "this rebuilds the repository's own _build")
    before = _results_status()

    def make_target(target: str) -> float:
        start = time.perf_counter()
        with open(log_path, "a") as logfile:
            logfile.write(f"\n===== {make} {target} =====\n")
            logfile.flush()
            proc = subprocess.run([make, target], cwd=REPO, env=env, stdout=logfile, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            raise RuntimeError(f"`{make} {target}` failed (exit {proc.returncode}); see {log_path}")
        return time.perf_counter() - start

    def cold():
        make_target("clean-book")
        return make_target("book")

    log_path.write_text("")
    values = alternate([Arm("cold", cold, opts.book_repeats), Arm("warm", lambda: make_target("book"),
                                                                    opts.book_repeats)])
    changed = _results_status() != before
    if changed:
        result["notes"].append("the build changed results/ (an artifact was missing and was recomputed): the "
                               "cold time includes training")
    result["samples"] = {"cold_s": values["cold"], "warm_s": values["warm"]}
    result["medians"] = {"cold_s": median(values["cold"]), "warm_s": median(values["warm"])}
    result["settings"]["results_changed"] = changed
    result["checks"].append(check("warm / cold make book (time)", paired_ratio(values["warm"], values["cold"]),
                                  detail=f"cold {median(values['cold']):.0f} s, warm {median(values['warm']):.1f} s"))


CHILDREN = {"memory": child_memory, "scaling": child_scaling}  # measured in a fresh process each
BENCHMARKS: dict[str, Callable[[Options, dict], None]] = {
    "engine": bench_engine,
    "memory": bench_memory,
    "communication": bench_communication,
    "throughput": bench_throughput,
    "book": bench_book,
    "parity": bench_parity,
}


def run_one(name: str, opts: Options) -> dict:
    result = new_result(name, opts)
    start = time.perf_counter()
    if name == "book" and opts.quick:
        result["notes"].append("skipped in quick mode (run `benchmarks/run.py --only book` for it)")
    else:
        try:
            BENCHMARKS[name](opts, result)
        except Exception as err:  # one failing benchmark must not lose the others' results
            result["error"] = f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=6)}"
            log(f"{name} failed: {type(err).__name__}: {err}")
    result["wall_s"] = time.perf_counter() - start
    result["machine"]["loadavg_1m_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result["met"] = False if result["error"] else overall_met(result["checks"])
    return result


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(DEFAULT_NAMES),
                        help=f"comma-separated benchmarks to run, from {','.join(NAMES)} "
                             f"(default: {','.join(DEFAULT_NAMES)}; parity trains 12 runs, ~40 min on 2 cores)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="samples per arm, measured in alternation (default 3; 2 with --quick)")
    parser.add_argument("--book-repeats", type=int, default=1, help="cold/warm book build pairs (default 1)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings (smoke backbone, few rows, one simulation run), no book build; "
                             "writes to a temporary folder unless --out is given")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"folder for <name>.json and summary.md (default {DEFAULT_OUT.relative_to(REPO)})")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for the whole run (default: torch's own default; 1 with --quick, "
                             "whose timings only check that the suite works)")
    parser.add_argument("--device", default="cpu",
                        help="device of the throughput benchmark: cpu (default) or cuda[:N]")
    parser.add_argument("--random-weights", action="store_true",
                        help="throughput on the backbone's shapes with random weights, for machines without "
                             "its files (speed does not depend on the values)")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(NAMES)}")
    args.only = names
    if args.repeats is None:
        args.repeats = 2 if args.quick else 3
    if args.threads is None and args.quick:
        args.threads = 1
    if args.repeats < 1 or args.book_repeats < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--repeats, --book-repeats and --threads must be >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        print(CHILD_MARK + json.dumps(CHILDREN[args.child](json.loads(args.spec))), flush=True)
        return 0
    out = args.out or (Path(tempfile.mkdtemp(prefix="fedlib-bench-quick-")) if args.quick else DEFAULT_OUT)
    opts = Options(quick=args.quick, repeats=args.repeats, book_repeats=args.book_repeats, out=out,
                   threads=args.threads, device=args.device, random_weights=args.random_weights)
    os.environ["FEDLIB_PROGRESS"] = "0"
    # Nothing here writes result artifacts, but make sure of it: any artifact goes to a scratch folder.
    os.environ["FEDLIB_RESULTS"] = tempfile.mkdtemp(prefix="fedlib-bench-artifacts-")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)  # recorded in every result's machine record
    started = time.perf_counter()
    failed = False
    for name in args.only:
        log(f"{name}: start")
        result = run_one(name, opts)
        failed |= result["error"] is not None
        path = write_result(result, out)
        log(f"{name}: done in {result['wall_s']:.0f} s -> {path}")
    results = load_results(out)
    (out / "summary.md").write_text(summary_markdown(results))
    print()
    print(markdown_table(results))
    print()
    for line in verdict_lines(results):
        print(f"- {line}")
    print(f"\nwrote {out}/summary.md; this run took {time.perf_counter() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
