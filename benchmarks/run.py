#!/usr/bin/env python
"""fedlib's benchmark suite: how fast and how lean the companion is, each ratio measured side by side.

Five benchmarks, one function each (``--only`` picks them by these names):

``engine``         the same federated workload on a raw FedAvg loop (no Flower), the ``inprocess``
                   engine and Flower's ``simulation`` engine.
``memory``         peak RSS of a federated run with 1 vs 8 virtual clients, each in a fresh process.
``communication``  bytes per client and round for prompt, ptuning, LoRA and full fine-tuning: read from
                   the records of real runs (me5s-q4) and built from parameter shapes (xlm-roberta-base).
``throughput``     examples/s of ``train_local`` vs a plain hand-written loop, and ablations of what a
                   frozen backbone allows (no weight gradients, dynamic padding, length-sorted batches,
                   inference mode in evaluation, torch threads).
``book``           cold and warm wall time of ``make book``.

Every pair (or triple) is run in alternation (A, B, A, B, ...) so that machine noise hits both sides,
and the median is reported; a ratio of two arms is the median of the per-repeat ratios. Each result
records the machine. Results go to ``benchmarks/results/<name>.json`` plus ``summary.md``, and the
summary table is printed at the end. Timing targets are reported, never asserted: the suite is not
part of ``make test``.

    .venv/bin/python benchmarks/run.py                       # all five (make bench), ~15 min on 2 cores
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
    from fedlib.clients import build_clients
    from fedlib.federated.client import encoded_split, model_spec, num_labels_of, round_seed
    from fedlib.methods import load_trainable_state, trainable_state
    from fedlib.model import get_bundle
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
                lr=cfg.lr, batch_size=cfg.batch_size, seed=round_seed(cfg.seed, server_round, i),
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


def child_memory(spec: dict) -> dict:
    """One federated run in this (fresh) process; peak RSS as the kernel counts it."""
    import resource

    def maxrss_mb() -> float:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return kb / 2**20 if sys.platform == "darwin" else kb / 1024  # bytes on macOS, KiB on Linux

    def peak_mb() -> float:
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
        return maxrss_mb()

    start = time.perf_counter()
    from fedlib.data import get_task
    from fedlib.experiment import ExperimentConfig
    from fedlib.federated import run_federated
    import fedlib.federated.engines  # noqa: F401 - torch, transformers, peft, flwr: the fixed cost

    after_imports = peak_mb()
    langs = tuple(get_task("sib200").languages[: spec["clients"]])
    cfg = ExperimentConfig(task="sib200", languages=langs, profile=spec["profile"], rounds=1,
                           train_per_client=spec["rows"], val_per_client=spec["rows"],
                           eval_per_client=spec["rows"], seed=0, engine="inprocess")
    history = run_federated(cfg)
    return {"clients": spec["clients"], "profile": spec["profile"], "backbone": cfg.resolved().backbone,
            "peak_rss_mb": peak_mb(), "after_imports_mb": after_imports, "ru_maxrss_mb": maxrss_mb(),
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
    ``{"arrays", "config"}`` to the client, ``{"arrays", "metrics"}`` back (see ``federated/client.py``).
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


def plain_epoch(model, tensors: dict, *, batch_size: int, lr: float, seed: int, pad: str = "max",
                order: str = "random", backbone_grads: bool = False) -> float:
    """A plain hand-written PyTorch epoch; examples/s.

    The baseline (defaults): AdamW over the parameters that require grad, every batch padded to
    ``max_length`` (tokenised once up front), random order. Each keyword toggles one thing:
    ``backbone_grads`` lets the frozen weights require grad too (their gradients are computed but
    never used: what a frozen backbone saves), ``pad="dynamic"`` trims each batch to its longest row,
    ``order="sorted"`` groups rows of similar length into batches (batches still visited in random order).
    """
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    unfrozen = [p for p in model.parameters() if not p.requires_grad] if backbone_grads else []
    for p in unfrozen:
        p.requires_grad_(True)
    try:
        optimizer = torch.optim.AdamW(params, lr=lr)
        n = len(tensors["labels"])
        generator = torch.Generator().manual_seed(seed)
        if order == "sorted":
            by_length = torch.argsort(tensors["lengths"], stable=True)
            chunks = list(torch.split(by_length, batch_size))
            chunks = [chunks[i] for i in torch.randperm(len(chunks), generator=generator)]
        else:
            chunks = list(torch.split(torch.randperm(n, generator=generator), batch_size))
        model.train()
        start = time.perf_counter()
        for idx in chunks:
            ids, mask = tensors["input_ids"][idx], tensors["attention_mask"][idx]
            if pad == "dynamic":
                width = int(mask.sum(1).max())
                ids, mask = ids[:, :width], mask[:, :width]
            loss = model(input_ids=ids, attention_mask=mask, labels=tensors["labels"][idx]).loss
            model.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return n / (time.perf_counter() - start)
    finally:
        for p in unfrozen:
            p.requires_grad_(False)
        model.zero_grad(set_to_none=True)


def eval_pass(model, encoded, tokenizer, mode: str, batch_size: int = 32) -> float:
    """One evaluation pass with ``fedlib.training.batches`` (length-sorted); examples/s."""
    import torch

    from fedlib.training import batches

    context = {"grad": torch.enable_grad, "no_grad": torch.no_grad, "inference_mode": torch.inference_mode}[mode]
    model.eval()
    start = time.perf_counter()
    with context():
        for batch in batches(encoded, tokenizer, batch_size, shuffle=False):
            model(**batch).logits.argmax(-1)
    return len(encoded) / (time.perf_counter() - start)


def threads_arm(n: int) -> str:
    return f"train_local, {n} thread{'s' if n > 1 else ''}"


def bench_throughput(opts: Options, result: dict) -> None:
    import torch

    from fedlib.clients import build_clients
    from fedlib.experiment import ExperimentConfig
    from fedlib.federated.client import model_spec, num_labels_of
    from fedlib.model import get_bundle
    from fedlib.training import encode, train_local

    profile = "smoke" if opts.quick else "cpu"
    rows, batch_size = (16, 8) if opts.quick else (64, 8)
    cfg = ExperimentConfig(task="sib200", languages=("eng_Latn",), profile=profile, train_per_client=rows,
                           batch_size=batch_size, seed=0).resolved()
    client = build_clients(cfg)[0]
    bundle = get_bundle(model_spec(cfg, num_labels_of(cfg)))
    model, tokenizer = bundle.model, bundle.tokenizer
    encoded = encode(client.train, tokenizer, cfg.max_length)
    padded = tokenizer(list(client.train["text"]), truncation=True, max_length=cfg.max_length,
                       padding="max_length", return_tensors="pt")
    tensors = {"input_ids": padded["input_ids"], "attention_mask": padded["attention_mask"],
               "labels": torch.tensor(list(client.train["label"])),
               "lengths": padded["attention_mask"].sum(1)}
    seed = 0
    epoch_seed = seed * 1_000 + 1  # the permutation train_local draws for its first epoch: the same batches

    def fedlib_train(threads=None):
        def go():
            bundle.reset(seed)
            with torch_threads(threads):
                start = time.perf_counter()
                train_local(model, tokenizer, encoded, epochs=1, lr=cfg.lr, batch_size=batch_size, seed=seed,
                            progress=False)
                return rows / (time.perf_counter() - start)
        return go

    def plain(**toggles):
        def go():
            bundle.reset(seed)
            return plain_epoch(model, tensors, batch_size=batch_size, lr=cfg.lr, seed=epoch_seed, **toggles)
        return go

    def evaluation(mode):
        return lambda: eval_pass(model, encoded, tokenizer, mode)

    default_threads = torch.get_num_threads()
    thread_counts = sorted({1, default_threads, os.cpu_count() or 1})
    arms = [
        Arm("train_local", fedlib_train(), opts.repeats),
        Arm("plain", plain(), opts.repeats),
        Arm("plain + backbone grads", plain(backbone_grads=True), opts.repeats),
        Arm("plain + dynamic padding", plain(pad="dynamic"), opts.repeats),
        Arm("plain + length-sorted, dynamic", plain(pad="dynamic", order="sorted"), opts.repeats),
        *[Arm(threads_arm(n), fedlib_train(n), opts.repeats) for n in thread_counts if n != default_threads],
        Arm("eval grad", evaluation("grad"), opts.repeats),
        Arm("eval no_grad", evaluation("no_grad"), opts.repeats),
        Arm("eval inference_mode", evaluation("inference_mode"), opts.repeats),
    ]
    log("throughput: warm-up")
    for arm in arms:  # first calls pay one-off allocation and kernel selection costs
        arm.measure()
    values = alternate(arms)
    values[threads_arm(default_threads)] = values["train_local"]
    bundle.reset(seed)
    result["settings"] = {"task": "sib200", "language": "eng_Latn", "backbone": cfg.backbone, "method": cfg.method,
                          "rows": rows, "batch_size": batch_size, "max_length": cfg.max_length,
                          "num_virtual_tokens": cfg.num_virtual_tokens, "default_threads": default_threads,
                          "mean_tokens": float(tensors["lengths"].float().mean()), "unit": "examples/s"}
    result["samples"] = values
    result["medians"] = {k: median(v) for k, v in values.items()}
    m = result["medians"]

    def ratio(label, a, b, what):
        result["checks"].append(check(label, paired_ratio(values[a], values[b]),
                                      detail=f"{what}: {m[a]:.1f} vs {m[b]:.1f} examples/s"))

    ratio("train_local / plain loop (speed)", "train_local", "plain", "fedlib vs pad-to-max, random order")
    ratio("train_local / plain + dynamic padding, same batches (speed)", "train_local", "plain + dynamic padding",
          "per-batch collation cost")
    ratio("no weight grads for frozen parts (speed)", "plain", "plain + backbone grads", "frozen vs grads computed")
    ratio("dynamic padding / pad to max_length (speed)", "plain + dynamic padding", "plain", "dynamic vs max")
    ratio("length-sorted + dynamic / pad to max_length (speed)", "plain + length-sorted, dynamic", "plain",
          "sorted vs max")
    ratio("eval: inference_mode / grad enabled (speed)", "eval inference_mode", "eval grad", "inference vs grad")
    ratio("eval: no_grad / grad enabled (speed)", "eval no_grad", "eval grad", "no_grad vs grad")
    ratio("eval: inference_mode / no_grad (speed)", "eval inference_mode", "eval no_grad", "inference vs no_grad")
    for n in thread_counts:
        if n != 1:
            ratio(f"torch threads {n} / 1 (speed)", threads_arm(n), threads_arm(1), f"{n} vs 1 threads")
    result["notes"].append(
        "throughput ratios are speed ratios (>1 = faster); length-sorted batches change which rows train "
        "together, so fedlib sorts only in evaluation")
    if opts.quick:
        result["notes"].append("quick mode: tiny-random backbone, 16 rows")


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


BENCHMARKS: dict[str, Callable[[Options, dict], None]] = {
    "engine": bench_engine,
    "memory": bench_memory,
    "communication": bench_communication,
    "throughput": bench_throughput,
    "book": bench_book,
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
    parser.add_argument("--only", default=",".join(NAMES),
                        help=f"comma-separated benchmarks to run (default: all of {','.join(NAMES)})")
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
    parser.add_argument("--child", choices=["memory"], help=argparse.SUPPRESS)
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
        print(CHILD_MARK + json.dumps(child_memory(json.loads(args.spec))), flush=True)
        return 0
    out = args.out or (Path(tempfile.mkdtemp(prefix="fedlib-bench-quick-")) if args.quick else DEFAULT_OUT)
    opts = Options(quick=args.quick, repeats=args.repeats, book_repeats=args.book_repeats, out=out,
                   threads=args.threads)
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
