"""Accuracy parity of bf16 and fp32: NC stand-in, prompt encoder, federated and monolingual, paired by seed.

Not in the default set (about 40 CPU-minutes); resumable, since finished runs are kept and loaded.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
from pathlib import Path

from benchmarks.harness import Options, log, paired_ratio
from fedlib.benchresults import check

TITLE = "Accuracy parity, bf16 vs fp32"
REPO = Path(__file__).resolve().parent.parent
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

    diffs = [b - a for a, b in zip(reference, other, strict=True)]
    mean = statistics.mean(diffs)
    if len(diffs) < 2 or max(diffs) == min(diffs):
        low = high = mean
    else:
        interval = stats.ttest_rel(other, reference).confidence_interval(0.95)
        low, high = float(interval.low), float(interval.high)
    return {"differences": diffs, "mean": mean, "ci95": [low, high], "n": len(diffs)}


def run(opts: Options, result: dict) -> None:
    """NC stand-in, prompt encoder: federated and monolingual runs in fp32 and bf16, paired by seed."""
    from fedlib.data.tasks import NC_LANGUAGES
    from fedlib.experiment import ExperimentConfig
    from fedlib.paradigms import run_experiment

    quick = opts.quick
    seeds = (0, 1) if quick else (0, 1, 2)
    base = dict(task="nc_standin", languages=NC_LANGUAGES, method="ptuning", profile="smoke" if quick else "cpu",
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
