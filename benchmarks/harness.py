"""What every benchmark shares: its options, alternating timed arms, and the result record it fills.

A benchmark is a function ``run(opts, result)`` that fills ``result`` (the schema of
:mod:`fedlib.benchresults`); :func:`run_benchmark` wraps it with the wall time, the machine record
and the verdict; :func:`fedlib.benchresults.write_result` writes it and :func:`write_summary` the summary.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from fedlib.benchresults import SCHEMA, load_results, machine_record, overall_met, summary_markdown


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


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
        return median([x / y for x, y in zip(a, b, strict=True)])
    return median(a) / median(b)


def new_result(name: str, title: str, opts: Options) -> dict:
    return {
        "schema": SCHEMA, "name": name, "title": title, "quick": opts.quick,
        "settings": {}, "samples": {}, "medians": {}, "checks": [], "met": None,
        "machine": machine_record(), "wall_s": 0.0, "error": None,
        "notes": [f"torch threads pinned to {opts.threads} for this run (--threads)"] if opts.threads else [],
    }


def run_benchmark(name: str, title: str, run: Callable[[Options, dict], None], opts: Options) -> dict:
    """One benchmark's result record; a benchmark that raises is recorded as failed, not propagated."""
    result = new_result(name, title, opts)
    start = time.perf_counter()
    try:
        run(opts, result)
    except Exception as err:  # one failing benchmark must not lose the others' results
        result["error"] = f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=6)}"
        log(f"{name} failed: {type(err).__name__}: {err}")
    result["wall_s"] = time.perf_counter() - start
    result["machine"]["loadavg_1m_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result["met"] = False if result["error"] else overall_met(result["checks"])
    return result


def write_summary(out: Path) -> list[dict]:
    """Rebuild ``summary.md`` from every result in ``out``; return those results."""
    results = load_results(out)
    (out / "summary.md").write_text(summary_markdown(results))
    return results
