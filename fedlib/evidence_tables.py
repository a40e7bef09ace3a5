"""The plan's evidence as tables and glue numbers for chapters 3-5 (reads artifacts; trains nothing).

Every accuracy carries its 95 % interval (bootstrap over seeds and test sentences, :mod:`fedlib.stats`)
and every comparison is a paired difference. Percentages here are points (0-100).
"""

from __future__ import annotations

import pandas as pd

from fedlib import paper
from fedlib.display import for_reader, interval, number
from fedlib.evidence import COMPARISONS, ArmResult, difference, paired_outcomes, paper_difference
from fedlib.plan import converged, cpu_hours, get_plan, spent_cpu_hours
from fedlib.stats import arm_estimate, paired_difference, per_language
from fedlib.verdicts import decide


def arm_table(results: dict[str, ArmResult]) -> pd.DataFrame:
    """One row per arm: seeds, learning rate, accuracy (%) with its 95 % interval, flags."""
    rows = []
    for key, result in results.items():
        estimate = arm_estimate(result.outcomes)
        rows.append({"arm": key, "label": result.arm.label, "seeds": len(result.seeds),
                     "planned seeds": len(result.planned_seeds), "lr": result.lr,
                     "accuracy": 100 * estimate.mean, "low": 100 * estimate.low, "high": 100 * estimate.high,
                     "collapsed": result.outcomes.collapsed,
                     "one-label share": 100 * result.outcomes.majority_share,
                     "converged": f"{result.converged_runs}/{len(result.artifacts)}",
                     "cpu_hours": sum(cpu_hours(a) for a in result.artifacts)})
    return pd.DataFrame(rows)


def comparison_table(task: str, results: dict[str, ArmResult]) -> pd.DataFrame:
    """One row per reported comparison: our paired difference (points) with its interval, the paper's."""
    rows = []
    for a, b in COMPARISONS:
        estimate = difference(results, a, b)
        paper_diff = paper_difference(task, a, b)
        rows.append({"comparison": f"{a} − {b}", "difference": None if estimate is None else 100 * estimate.mean,
                     "low": None if estimate is None else 100 * estimate.low,
                     "high": None if estimate is None else 100 * estimate.high,
                     "paper": paper_diff,
                     "verdict": decide(estimate, 1 if (paper_diff or 0) >= 0 else -1) if paper_diff is not None
                     else ("not assessed" if estimate is None else "no paper value")})
    return pd.DataFrame(rows)


def language_table(results: dict[str, ArmResult]) -> pd.DataFrame:
    """Long table: one row per arm and language, accuracy (%) with its interval over seeds and sentences."""
    rows = []
    for key, result in results.items():
        for lang, estimate in per_language(result.outcomes).items():
            rows.append({"arm": key, "language": lang, "accuracy": 100 * estimate.mean,
                         "low": 100 * estimate.low, "high": 100 * estimate.high})
    return pd.DataFrame(rows, columns=["arm", "language", "accuracy", "low", "high"])


def language_gains(results: dict[str, ArmResult], a: str, b: str) -> pd.DataFrame:
    """Per language, ``a - b`` in points, paired on the seeds both arms have (empty if either is missing)."""
    columns = ["language", "gain", "low", "high", "seeds"]
    if a not in results or b not in results or not set(results[a].seeds) & set(results[b].seeds):
        return pd.DataFrame(columns=columns)
    oa, ob = paired_outcomes(results[a], results[b])
    rows = []
    for lang in oa.languages:
        estimate = paired_difference(oa.restricted(lang), ob.restricted(lang))
        rows.append({"language": lang, "gain": 100 * estimate.mean, "low": 100 * estimate.low,
                     "high": 100 * estimate.high, "seeds": len(oa.seeds)})
    return pd.DataFrame(rows, columns=columns)


def _rounds(artifact: dict) -> tuple[int, int]:
    """(best round or epoch, rounds or epochs run); monolingual: the latest best over its clients."""
    if "history" in artifact:
        return artifact["best_round"], len(artifact["history"]["rounds"])
    runs = [artifact["training"]] if "training" in artifact else list(artifact["clients"].values())
    return max(r["best_epoch"] for r in runs), max(r["epochs_run"] for r in runs)


def run_table(results: dict[str, ArmResult]) -> pd.DataFrame:
    """One row per run (arm and seed): its rounds, whether it converged, its test accuracy and cost."""
    rows = []
    for key, result in results.items():
        for artifact in sorted(result.artifacts, key=lambda a: a["seed"]):
            best, run = _rounds(artifact)
            rows.append({"arm": key, "seed": artifact["seed"], "lr": result.lr, "best round": best,
                         "rounds run": run, "converged": converged(artifact),
                         "test accuracy": 100 * artifact["average"]["accuracy"],
                         "wall_seconds": artifact["wall_seconds"], "cpu_hours": cpu_hours(artifact)})
    return pd.DataFrame(rows)


def _name(key: str) -> str:
    return key.replace("-", "_")


def interval_text(estimate, *, signed: bool = False, unit: str = " %") -> str:
    """``78.7 % [75.7, 82.0]`` (or ``+1.8 points [-1.1, +5.3]``) from an estimate in [0, 1]."""
    mean, bounds = interval(100 * estimate.mean, 100 * estimate.low, 100 * estimate.high, signed=signed).split(" ", 1)
    return f"{mean}{unit} {bounds}"


MISSING = "not computed yet"


def task_numbers(task: str, results: dict[str, ArmResult], prefix: str, *, profile: str = "cpu") -> dict[str, str]:
    """Every number a chapter glues, as text, for every arm and comparison of the task's plan, whether
    computed yet or not (then :data:`MISSING` / ``not assessed``), so a chapter builds at any stage.

    Keys: ``<prefix>_<arm>`` (mean and interval), ``..._seeds`` ("5 of 5"), ``..._lr``, ``..._converged``,
    ``..._majority`` (largest share of one predicted label); ``<prefix>_<a>_minus_<b>`` (paired
    difference; interim, and said so, until both arms have every seed), ``..._zero`` (whether its
    interval excludes 0) and ``..._verdict``; the paper's
    averages ``<prefix>_paper_<paradigm>``; ``<prefix>_languages`` and ``..._federated_above`` / ``_below``
    (languages whose paired federated − monolingual interval excludes 0 upwards / downwards);
    ``<prefix>_plan_runs`` and ``<prefix>_plan_cpu_hours``
    (every finished run of the plan, learning-rate grid included)."""
    plan = get_plan(task)
    numbers: dict[str, str] = {}
    for arm in plan.arms:
        name = f"{prefix}_{_name(arm.key)}"
        result = results.get(arm.key)
        if result is None:
            numbers.update({name: MISSING, f"{name}_seeds": f"0 of {len(plan.seeds(arm))}", f"{name}_lr": "—",
                            f"{name}_converged": "—", f"{name}_majority": "—"})
            continue
        numbers.update({name: interval_text(arm_estimate(result.outcomes)),
                        f"{name}_seeds": f"{len(result.seeds)} of {len(result.planned_seeds)}",
                        f"{name}_lr": f"{result.lr:g}",
                        f"{name}_converged": f"{result.converged_runs} of {len(result.artifacts)}",
                        f"{name}_majority": f"{100 * result.outcomes.majority_share:.0f} %"})
    for a, b in COMPARISONS:
        name = f"{prefix}_{_name(a)}_minus_{_name(b)}"
        final = difference(results, a, b)
        shown = final or difference(results, a, b, interim=True)
        if shown is None:
            numbers[name] = "not assessed"
        else:
            seeds = len(set(results[a].seeds) & set(results[b].seeds))
            numbers[name] = interval_text(shown, signed=True, unit=" points") + (
                "" if final is not None else f" (interim, {seeds} seeds)")
        numbers[f"{name}_zero"] = ("—" if shown is None else
                                   "excludes 0" if shown.excludes_zero else "includes 0")
        paper_diff = paper_difference(task, a, b)
        if paper_diff is not None:
            numbers[f"{name}_paper"] = f"{paper_diff:+.1f} points"
        numbers[f"{name}_verdict"] = (decide(final, 1 if paper_diff >= 0 else -1) if paper_diff is not None
                                      else "no paper value")
    for paradigm, value in paper.reported_averages(task).items():
        numbers[f"{prefix}_paper_{_name(paradigm)}"] = f"{value:g} %"
    gains = language_gains(results, "fed-ptuning", "mono-ptuning")
    above = gains[gains["low"] > 0]["language"].tolist()
    below = gains[gains["high"] < 0]["language"].tolist()
    numbers[f"{prefix}_languages"] = str(len(gains)) if len(gains) else "—"
    numbers[f"{prefix}_languages_federated_above"] = f"{len(above)}" + (f" ({', '.join(above)})" if above else "")
    numbers[f"{prefix}_languages_federated_below"] = f"{len(below)}" + (f" ({', '.join(below)})" if below else "")
    runs, spent = spent_cpu_hours(plan, profile)
    numbers.update({f"{prefix}_plan_runs": str(runs), f"{prefix}_plan_cpu_hours": f"{spent:.1f}"})
    return numbers


def summary_sentence(task: str, results: dict[str, ArmResult]) -> str:
    """The chapter's headline in words, every number from the artifacts (Markdown)."""
    needed = ("fed-ptuning", "mono-ptuning", "central-ptuning")
    if not all(key in results for key in needed):
        missing = [key for key in needed if key not in results]
        return (f"*The decisive runs of this task are not computed yet* (missing: {', '.join(missing)}); "
                f"`python -m fedlib plan --task {task}` computes them.")
    def arm(key):
        return interval_text(arm_estimate(results[key].outcomes))

    def gap(a, b):  # the verdicts wait for every seed; the sentence says how many
        return interval_text(difference(results, a, b, interim=True), signed=True, unit=" points")

    seeds = len(results["fed-ptuning"].seeds)
    planned = len(get_plan(task).arm("fed-ptuning").seeds)
    return (f"Over {seeds} of {planned} planned seeds, the federated prompt encoder reaches {arm('fed-ptuning')} "
            f"test accuracy (mean over languages, 95 % interval over seeds and test sentences), monolingual "
            f"training {arm('mono-ptuning')} and centralized training {arm('central-ptuning')}. Paired by seed "
            f"and sentence, federated minus monolingual is {gap('fed-ptuning', 'mono-ptuning')} and federated "
            f"minus centralized {gap('fed-ptuning', 'central-ptuning')}."
            + ("" if all(results[key].complete for key in needed) else
               " *Interim: some arms miss planned seeds (seeds per arm in the table below); the verdicts wait "
               "for all of them.*"))


# ---------------------------------------------------------------------------------------------------
# The same tables, formatted for a reader: intervals as "78.7 [75.7, 82.0]", no index, human headers.


def shown_arms(results: dict[str, ArmResult]):
    table = arm_table(results)
    if table.empty:
        return for_reader(pd.DataFrame({"arm": [], "accuracy (%) [95 % CI]": []}))
    return for_reader(pd.DataFrame({
        "arm": table["arm"], "what it is": table["label"],
        "seeds": [f"{s} of {p}" for s, p in zip(table["seeds"], table["planned seeds"], strict=True)],
        "learning rate": [f"{lr:g}" for lr in table["lr"]],
        "accuracy (%) [95 % CI]": [interval(*r) for r in
                                   zip(table["accuracy"], table["low"], table["high"], strict=True)],
        "converged runs": table["converged"], "one-label share (%)": table["one-label share"].round(0).astype(int),
        "collapsed": table["collapsed"].map({True: "yes", False: "no"}),
        "CPU-hours": [f"{h:.2f}" for h in table["cpu_hours"]]}))


def shown_comparisons(task: str, results: dict[str, ArmResult]):
    table = comparison_table(task, results)
    return for_reader(pd.DataFrame({
        "comparison (A − B)": table["comparison"],
        "ours, points [95 % CI]": [interval(*r, signed=True) for r in
                                   zip(table["difference"], table["low"], table["high"], strict=True)],
        "paper, points": [number(v, signed=True) for v in table["paper"]],
        "verdict": table["verdict"]}))


def shown_languages(results: dict[str, ArmResult]):
    table = language_table(results)
    if table.empty:
        return for_reader(pd.DataFrame({"language": []}))
    table["cell"] = [interval(*r) for r in zip(table["accuracy"], table["low"], table["high"], strict=True)]
    wide = table.pivot(index="language", columns="arm", values="cell")[list(dict.fromkeys(table["arm"]))]
    return for_reader(wide.reset_index().rename_axis(columns=None))


def shown_gains(results: dict[str, ArmResult], a: str, b: str):
    table = language_gains(results, a, b)
    return for_reader(pd.DataFrame({
        "language": table["language"],
        f"{a} − {b}, points [95 % CI]": [interval(*r, signed=True) for r in
                                         zip(table["gain"], table["low"], table["high"], strict=True)],
        "interval": ["excludes 0" if lo > 0 or hi < 0 else "includes 0"
                     for lo, hi in zip(table["low"], table["high"], strict=True)]}))


def shown_runs(results: dict[str, ArmResult]):
    table = run_table(results)
    if table.empty:
        return for_reader(table)
    table["lr"] = [f"{lr:g}" for lr in table["lr"]]
    table["converged"] = table["converged"].map({True: "yes", False: "no"})
    table["cpu_hours"] = [f"{h:.2f}" for h in table["cpu_hours"]]
    table["test accuracy"] = [f"{a:.1f}" for a in table["test accuracy"]]
    table["wall_seconds"] = [f"{int(w):,}" for w in table["wall_seconds"]]
    return for_reader(table.rename(columns={"lr": "learning rate", "test accuracy": "test accuracy (%)",
                                            "wall_seconds": "wall-clock (s)", "cpu_hours": "CPU-hours"}))


def pilot_sentence(task: str, results: dict[str, ArmResult]) -> str:
    """Whether any piloted arm learns: its interval's lower end above chance (1 / labels) and not collapsed."""
    from fedlib.data.tasks import get_task

    plan = get_plan(task)
    chance = 1 / get_task(task).num_labels
    missing = [arm.key for arm in plan.arms if arm.key not in results]
    if missing:
        return (f"*The pilot is not computed yet* (missing: {', '.join(missing)}); "
                f"`python -m fedlib plan --task {task}` computes it.")
    parts, learns = [], []
    for key, result in results.items():
        estimate = arm_estimate(result.outcomes)
        above = estimate.low > chance and not result.outcomes.collapsed
        learns.append(above)
        parts.append(f"{key} {interval_text(estimate)} ({100 * result.outcomes.majority_share:.0f} % of its "
                     f"predictions one label{', collapsed' if result.outcomes.collapsed else ''})")
    verdict = ("at least one arm learns beyond chance, so the task earns the full plan" if any(learns) else
               "no arm's interval clears chance, so the task does not earn prompt-method compute at this budget")
    return f"Chance is {100 * chance:.1f} %. Seed 0: {'; '.join(parts)}: {verdict}."
