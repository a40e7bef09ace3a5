"""Client scaling: round time and peak memory of the in-process engine from 5 to 100 clients.

Part of the throughput result (CPU only); each count runs in a fresh process so that its peak RSS
is its own.
"""

from __future__ import annotations

from benchmarks.fresh_process import peak_rss_mb, run_child
from benchmarks.harness import Options, log, median
from fedlib.benchresults import check


def child(spec: dict) -> dict:
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
            "examples_per_round": median(trained), "peak_rss_mb": peak_rss_mb()}


def run(opts: Options, result: dict) -> None:
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
        f"scaling: peak RSS, {counts[-1]} / {counts[0]} clients",
        records[-1]["peak_rss_mb"] / records[0]["peak_rss_mb"],
        target="<= 1.3", detail=" / ".join(f"{r['clients']}: {r['peak_rss_mb']:.0f} MB" for r in records)))
