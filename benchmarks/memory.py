"""Memory: peak RSS of a federated run with 1 vs 8 virtual clients, each in a fresh process."""

from __future__ import annotations

import time

from benchmarks.fresh_process import maxrss_mb, peak_rss_mb, run_child
from benchmarks.harness import Arm, Options, alternate, median, paired_ratio
from fedlib.benchresults import check

TITLE = "Memory, 1 vs 8 clients"


def child(spec: dict) -> dict:
    """One federated run in this (fresh) process; peak RSS as the kernel counts it."""
    start = time.perf_counter()
    import fedlib.federated.engines  # noqa: F401 - torch, transformers, peft, flwr: the fixed cost
    from fedlib.data import get_task
    from fedlib.experiment import ExperimentConfig
    from fedlib.federated import run_federated

    after_imports = peak_rss_mb()
    langs = tuple(get_task("sib200").languages[: spec["clients"]])
    cfg = ExperimentConfig(task="sib200", languages=langs, profile=spec["profile"], rounds=1,
                           train_per_client=spec["rows"], val_per_client=spec["rows"],
                           eval_per_client=spec["rows"], seed=0, engine="inprocess")
    history = run_federated(cfg)
    return {"clients": spec["clients"], "profile": spec["profile"], "backbone": cfg.resolved().backbone,
            "peak_rss_mb": peak_rss_mb(), "after_imports_mb": after_imports, "ru_maxrss_mb": maxrss_mb(),
            "rounds_run": len(history["rounds"]), "seconds": time.perf_counter() - start}


def run(opts: Options, result: dict) -> None:
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
