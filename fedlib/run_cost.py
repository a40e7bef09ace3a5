"""What a finished run cost in CPU-hours, read from its artifact.

Its own module because both the compute plan (:mod:`fedlib.plan`, which runs experiments) and
:mod:`fedlib.paradigms` (which records what a retraining cost) need it.
"""

from __future__ import annotations

THREADS = 2  # CPU-hours = wall-clock hours x the cores a run keeps busy (the bound assumes 2)


def cpu_hours(artifact: dict) -> float:
    """What a finished run cost: its CPU time where recorded, else wall-clock hours x its threads
    (an upper bound on a machine it shared with other work). A federated run resumed from a round
    checkpoint recorded only the resumed process's time: the rounds before it count as well."""
    threads = artifact.get("environment", {}).get("torch_threads") or THREADS
    if artifact.get("cpu_seconds") is not None:
        return (artifact["cpu_seconds"] + _rounds_before_resume_cpu_seconds(artifact, threads)) / 3600
    return artifact["wall_seconds"] / 3600 * threads


def _rounds_before_resume_cpu_seconds(artifact: dict, threads: int) -> float:
    resumed = artifact.get("history", {}).get("resumed_after_rounds")
    if not resumed:
        return 0.0
    earlier = [r for r in artifact["history"]["rounds"] if r["round"] <= max(resumed)]
    # Rounds written before rounds kept their CPU time: their wall time x threads, an upper bound.
    return sum(r["cpu_seconds"] if "cpu_seconds" in r else r["seconds"] * threads for r in earlier)
