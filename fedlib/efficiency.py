"""Data efficiency from the compute plan: the headline pair at 16, 32 and 64 training rows per client.

The 64-row points are the plan's own arms (5 seeds); the smaller budgets are the plan's study arms
(:func:`fedlib.plan.efficiency_arms`, 3 seeds, each at the learning rate its 64-row arm chose).
Every comparison is paired on the seeds both arms have and on the same test sentences, so a
difference between budgets is a difference between training sets, not between test draws. Nothing
trains here.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from fedlib.display import MISSING, for_reader
from fedlib.evidence import ArmResult, arm_result, difference, task_results
from fedlib.plan import converged, get_plan
from fedlib.stats import arm_estimate

TASK = "nc_standin"
BASE_ARMS = ("fed-ptuning", "mono-ptuning")
CLAIM = ("fed-ptuning-16", "mono-ptuning")  # a quarter of the rows, federated, against all of them alone
CLAIM_TEXT = "federated prompt tuning with a quarter of the training rows beats monolingual tuning with all"


def _rows_of(results: dict[str, ArmResult], key: str) -> int:
    return int(dict(results[key].arm.budgets).get("train_per_client") or
               get_plan(TASK).budgets["train_per_client"])


def efficiency_results(task: str = TASK, *, profile: str = "cpu") -> dict[str, ArmResult]:
    """The base arms and every study arm of the plan that has artifacts, by arm key."""
    plan = get_plan(task)
    base = {k: v for k, v in task_results(task, profile=profile).items() if k in BASE_ARMS}
    study = {arm.key: arm_result(plan, arm, profile=profile) for arm in plan.study_arms}
    return {**base, **{k: v for k, v in study.items() if v is not None}}


def efficiency_table(results: dict[str, ArmResult]) -> pd.DataFrame:
    """One row per (paradigm arm, rows per client): seeds and accuracy (%) with its interval."""
    rows = []
    for key, result in results.items():
        estimate = arm_estimate(result.outcomes)
        base = key if key in BASE_ARMS else result.arm.lr_from
        rows.append({"arm": base, "rows per client": _rows_of(results, key), "key": key, "seeds": len(result.seeds),
                     "accuracy": 100 * estimate.mean, "low": 100 * estimate.low, "high": 100 * estimate.high})
    columns = ["arm", "rows per client", "key", "seeds", "accuracy", "low", "high"]
    return pd.DataFrame(rows, columns=columns).sort_values(["arm", "rows per client"], ignore_index=True)


def efficiency_comparisons(results: dict[str, ArmResult]) -> pd.DataFrame:
    """Federated minus monolingual at each budget, and each smaller federated budget against all of
    monolingual's rows: the paired difference (points) with its interval, or missing."""
    pairs = [(f"fed-ptuning{s}", f"mono-ptuning{s}") for s in ("-16", "-32", "")]
    pairs += [("fed-ptuning-16", "mono-ptuning"), ("fed-ptuning-32", "mono-ptuning")]
    rows = []
    for a, b in pairs:
        estimate = difference(results, a, b, interim=True)
        complete = difference(results, a, b) is not None
        rows.append({"comparison": f"{a} − {b}", "a": a, "b": b,
                     "difference": None if estimate is None else 100 * estimate.mean,
                     "low": None if estimate is None else 100 * estimate.low,
                     "high": None if estimate is None else 100 * estimate.high,
                     "excludes 0": None if estimate is None else estimate.excludes_zero, "complete": complete})
    return pd.DataFrame(rows)


def shown_efficiency(results: dict[str, ArmResult]):
    from fedlib.display import interval

    table = efficiency_table(results)
    shown = pd.DataFrame({"arm": table["arm"], "rows per client": table["rows per client"], "seeds": table["seeds"],
                          "test accuracy (%) [95 % CI]": [interval(r.accuracy, r.low, r.high)
                                                          for r in table.itertuples()]})
    return for_reader(shown)


def shown_efficiency_comparisons(results: dict[str, ArmResult]):
    from fedlib.display import interval

    rows = efficiency_comparisons(results).to_dict("records")
    shown = pd.DataFrame({
        "comparison": [r["comparison"] for r in rows],
        "paired difference, points [95 % CI]": [interval(r["difference"], r["low"], r["high"], signed=True)
                                                for r in rows],
        "interval": [MISSING if pd.isna(r["difference"]) else ("excludes 0" if r["excludes 0"] else "includes 0")
                     + ("" if r["complete"] else " (interim)") for r in rows]})
    return for_reader(shown)


def efficiency_numbers(results: dict[str, ArmResult], prefix: str = "eff") -> dict[str, str]:
    """Glue text: each arm at each budget, and the claim's paired difference with its verdict."""
    from fedlib.evidence_tables import MISSING as NOT_YET
    from fedlib.evidence_tables import interval_text
    from fedlib.verdicts import decide

    numbers = {}
    for base in BASE_ARMS:
        for rows in (16, 32, 64):
            key = base if rows == 64 else f"{base}-{rows}"
            numbers[f"{prefix}_{base.replace('-', '_')}_{rows}"] = (
                interval_text(arm_estimate(results[key].outcomes)) if key in results else NOT_YET)
    final = difference(results, *CLAIM)
    shown = final or difference(results, *CLAIM, interim=True)
    numbers[f"{prefix}_claim"] = "not assessed" if shown is None else (
        interval_text(shown, signed=True, unit=" points") + ("" if final else " (interim)"))
    numbers[f"{prefix}_claim_verdict"] = decide(final, 1)
    return numbers


def _seed_runs(result: ArmResult) -> str:
    """``67.8 % (best round 30 of 30), 30.6 % (best round 3 of 8)``: each seed's test accuracy and where
    it stopped, from the artifacts."""
    def stopped(artifact: dict) -> str:
        if "history" in artifact:
            return f"best round {artifact['best_round']} of {len(artifact['history']['rounds'])}"
        return "converged" if converged(artifact) else "not converged"

    return ", ".join(f"{100 * a['average']['accuracy']:.1f} % ({stopped(a)})"
                     for a in sorted(result.artifacts, key=lambda a: a["seed"]))


def efficiency_finding(results: dict[str, ArmResult]) -> str:
    """Chapter 6's "what we found" in words (Markdown): the claim's paired difference and verdict, how
    the small federated runs went seed by seed, and what in our setting bears on the verdict."""
    from fedlib.evidence_tables import interval_text
    from fedlib.verdicts import decide

    a, b = CLAIM
    if a not in results or b not in results:
        missing = [key for key in CLAIM if key not in results]
        return (f"*Not computed yet* (missing: {', '.join(missing)}); `python -m fedlib plan --task {TASK}` "
                f"computes them.")
    final = difference(results, a, b)
    shown = final or difference(results, a, b, interim=True)
    seeds = sorted(set(results[a].seeds) & set(results[b].seeds))
    verdict = decide(final, 1)
    text = (f"With a quarter of its rows (16 per client), the federated prompt encoder scores "
            f"{interval_text(arm_estimate(results[a].outcomes))}, each language alone with all 64 "
            f"{interval_text(arm_estimate(results[b].outcomes))}; paired over the {len(seeds)} seeds both have, "
            f"the difference is {interval_text(shown, signed=True, unit=' points')}: **{verdict}**. "
            f"Seed by seed, the 16-row federated runs end at {_seed_runs(results[a])}.")
    patience = get_plan(TASK).budgets["patience"]
    if verdict == "contradicted":
        text += (" Here the federation does not make up for three quarters of the rows. Two choices of our "
                 "plan weigh against the small budgets: each keeps the learning rate its 64-row arm chose "
                 "(a grid per budget would triple the cost), and early stopping ends a run after "
                 f"{patience} rounds without a better validation accuracy, which a slow start on 16 rows "
                 "per client can trigger long before the prompt has learnt the task.")
    elif verdict == "inconclusive":
        text += (f" The interval includes zero: with {len(seeds)} seeds and these test sets the data cannot "
                 "tell a quarter of the rows federated from all of them alone.")
    elif verdict == "reproduced":
        text += " As the paper argues, the federation makes up for the rows each language lacks."
    return text


def plot_efficiency(results: dict[str, ArmResult], ax=None, title: str | None = None):
    """Accuracy against training rows per client, each arm with its 95 % intervals (log-2 axis)."""
    from fedlib.evidence_figures import arm_colour

    table = efficiency_table(results)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for offset, (arm, rows) in zip((-0.03, 0.03), table.groupby("arm", sort=False), strict=False):
        x = rows["rows per client"].to_numpy() * 2 ** offset  # side by side, never on top of each other
        ax.errorbar(x, rows["accuracy"], yerr=[rows["accuracy"] - rows["low"], rows["high"] - rows["accuracy"]],
                    fmt="o-", color=arm_colour(arm), capsize=3, label=arm)
    ax.set_xscale("log", base=2)
    ax.set_xticks([16, 32, 64], ["16", "32", "64"])
    ax.minorticks_off()
    ax.set_xlabel("training rows per client (log scale)")
    ax.set_ylabel("test accuracy (%), 95 % interval")
    ax.axhline(100 / 7, color="grey", ls="--", lw=1, label="chance (7 topics)")
    ax.legend(fontsize="small", frameon=False)
    ax.set_title(title or "Data efficiency: NC stand-in, prompt encoder")
    if table.empty:
        ax.text(0.5, 0.5, "not computed yet", transform=ax.transAxes, ha="center")
    return ax



# ------------------------------------------------------------------ communication
FEDERATED_ARMS = ("fed-ptuning", "fed-prompt", "fed-lora", "fed-full")


def plan_traffic(task: str = TASK, *, profile: str = "cpu") -> pd.DataFrame:
    """Per federated arm of the plan: parameters sent, bytes one client sends per round (measured from
    its Flower records), rounds run (mean over seeds) and MB per client over a run; share of full
    fine-tuning's bytes."""
    results = task_results(task, profile=profile)
    rows = []
    for key in FEDERATED_ARMS:
        if key not in results:
            continue
        runs = results[key].artifacts
        sent = [c["received"] for c in runs[0]["bytes_per_round"].values()]  # what the server received
        rounds = sum(len(a["history"]["rounds"]) for a in runs) / len(runs)
        per_round = sum(sent) / len(sent)
        rows.append({"arm": key, "parameters sent": runs[0]["parameters"]["communicated"],
                     "bytes per round": per_round, "rounds run": rounds,
                     "MB per client per run": per_round * rounds / 1e6})
    table = pd.DataFrame(rows, columns=["arm", "parameters sent", "bytes per round", "rounds run",
                                        "MB per client per run"])
    full = table.loc[table["arm"] == "fed-full", "bytes per round"]
    table["% of full fine-tuning"] = 100 * table["bytes per round"] / float(full.iloc[0]) if len(full) else None
    return table


def traffic_numbers(traffic: pd.DataFrame, prefix: str = "comm") -> dict[str, str]:
    from fedlib.display import number
    from fedlib.evidence_tables import MISSING as NOT_YET

    by_arm = traffic.set_index("arm")
    out = {}
    for key in FEDERATED_ARMS:
        present = key in by_arm.index
        name = f"{prefix}_{key.replace('-', '_')}"
        out[f"{name}_bytes"] = number(float(by_arm.loc[key, "bytes per round"]), 0) if present else NOT_YET
        share = by_arm.loc[key, "% of full fine-tuning"] if present else None
        out[f"{name}_pct_full"] = number(None if share is None else float(share), 2)
    return out
