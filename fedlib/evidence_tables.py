"""The plan's evidence as tables and glue numbers for chapters 3-5 (reads artifacts; trains nothing).

Every accuracy carries its 95 % interval (bootstrap over seeds and test sentences, :mod:`fedlib.stats`)
and every comparison is a paired difference. Beside each arm's mean over languages stand its worst
language and its spread (best minus worst language), and beside each comparison the paired difference
of worst-language accuracy: an average can rise while one language is left behind. Percentages here
are points (0-100).
"""

from __future__ import annotations

import pandas as pd

from fedlib import paper
from fedlib.display import for_reader, interval, number
from fedlib.evidence import (
    COMPARISONS,
    WORST_PAIR,
    ArmResult,
    difference,
    paired_outcomes,
    paper_difference,
    worst_difference,
)
from fedlib.plan import converged, get_plan, spent_cpu_hours
from fedlib.run_cost import cpu_hours
from fedlib.stats import arm_estimate, paired_difference, per_language, spread, worst_language
from fedlib.verdicts import decide


def arm_table(results: dict[str, ArmResult]) -> pd.DataFrame:
    """One row per arm: seeds, learning rate, accuracy (%) with its 95 % interval, its worst language
    and the accuracy there, the spread (best − worst language, points), each with its interval, flags."""
    rows = []
    for key, result in results.items():
        estimate = arm_estimate(result.outcomes)
        language, worst = worst_language(result.outcomes)
        gap = spread(result.outcomes)
        rows.append({"arm": key, "label": result.arm.label, "seeds": len(result.seeds),
                     "planned seeds": len(result.planned_seeds), "lr": result.lr,
                     "accuracy": 100 * estimate.mean, "low": 100 * estimate.low, "high": 100 * estimate.high,
                     "worst language": language, "worst": 100 * worst.mean, "worst low": 100 * worst.low,
                     "worst high": 100 * worst.high, "spread": 100 * gap.mean, "spread low": 100 * gap.low,
                     "spread high": 100 * gap.high,
                     "collapsed": result.outcomes.collapsed,
                     "one-label share": 100 * result.outcomes.majority_share,
                     "converged": f"{result.converged_runs}/{len(result.artifacts)}",
                     "cpu_hours": sum(cpu_hours(a) for a in result.artifacts)})
    return pd.DataFrame(rows)


def comparison_table(task: str, results: dict[str, ArmResult]) -> pd.DataFrame:
    """One row per reported comparison: our paired difference (points) with its interval, the paper's,
    and our paired difference of worst-language accuracy (each arm's own worst language)."""
    rows = []
    for a, b in COMPARISONS:
        estimate, worst = difference(results, a, b), worst_difference(results, a, b)
        paper_diff = paper_difference(task, a, b)
        rows.append({"comparison": f"{a} − {b}", "difference": None if estimate is None else 100 * estimate.mean,
                     "low": None if estimate is None else 100 * estimate.low,
                     "high": None if estimate is None else 100 * estimate.high,
                     "worst difference": None if worst is None else 100 * worst.mean,
                     "worst low": None if worst is None else 100 * worst.low,
                     "worst high": None if worst is None else 100 * worst.high,
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


def interval_text(estimate, *, signed: bool = False, unit: str = " %", scale: float = 100,
                  decimals: int = 1) -> str:
    """``78.7 % [75.7, 82.0]`` (or ``+1.8 points [-1.1, +5.3]``) from an estimate in [0, 1];
    ``scale=1, unit=""`` keeps it as it is (an AUC); :data:`MISSING` for no estimate."""
    if estimate is None:
        return MISSING
    mean, bounds = interval(scale * estimate.mean, scale * estimate.low, scale * estimate.high, decimals,
                            signed=signed).split(" ", 1)
    return f"{mean}{unit} {bounds}"


def seeds_text(count: int) -> str:
    """``1 seed``, ``3 seeds``."""
    return f"{count} seed{'' if count == 1 else 's'}"


def points_text(estimate, results: dict, a: str, b: str) -> str:
    """``+1.8 points [-1.1, +5.3] (5 seeds)``: a paired difference of arms ``a`` and ``b`` in ``results``
    (anything with ``.seeds``), counting the seeds they share."""
    if estimate is None:
        return _why_missing(results, a, b)
    seeds = sorted(set(results[a].seeds) & set(results[b].seeds))
    return (f"{100 * estimate.mean:+.1f} points [{100 * estimate.low:+.1f}, {100 * estimate.high:+.1f}] "
            f"({seeds_text(len(seeds))})")


def _why_missing(results: dict, a: str, b: str) -> str:
    """Why a comparison has no estimate: an arm never run, or one still short of its planned seeds."""
    absent = [key for key in (a, b) if key not in results]
    if absent:
        return "no runs of " + " or ".join(absent)
    short = [f"{key} has {len(results[key].seeds)} of {len(results[key].planned_seeds)}" for key in (a, b)
             if not getattr(results[key], "complete", True)]
    if short:
        return "waiting for seeds: " + "; ".join(short)
    return "the arms share no seed"


MISSING = "not computed yet"


def task_numbers(task: str, results: dict[str, ArmResult], prefix: str, *, profile: str = "cpu") -> dict[str, str]:
    """Every number a chapter glues, as text, for every arm and comparison of the task's plan, whether
    computed yet or not (then :data:`MISSING` / ``not assessed``), so a chapter builds at any stage.

    Keys: ``<prefix>_<arm>`` (mean and interval), ``..._seeds`` ("5 of 5"), ``..._lr``, ``..._converged``,
    ``..._majority`` (largest share of one predicted label); for fed-ptuning and mono-ptuning also
    ``..._worst`` (worst-language accuracy and interval), ``..._worst_language`` (which one) and
    ``..._spread`` (best − worst language); ``<prefix>_<a>_minus_<b>`` (paired
    difference; interim, and said so, until both arms have every seed), ``..._zero`` (whether its
    interval excludes 0) and ``..._verdict``; the same three for
    ``<prefix>_fed_ptuning_minus_mono_ptuning_worst`` (worst-language accuracy; claimed positive); the paper's
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
            if arm.key in WORST_PAIR:
                numbers.update({f"{name}_worst": MISSING, f"{name}_worst_language": "—", f"{name}_spread": MISSING})
            continue
        numbers.update({name: interval_text(arm_estimate(result.outcomes)),
                        f"{name}_seeds": f"{len(result.seeds)} of {len(result.planned_seeds)}",
                        f"{name}_lr": f"{result.lr:g}",
                        f"{name}_converged": f"{result.converged_runs} of {len(result.artifacts)}",
                        f"{name}_majority": f"{100 * result.outcomes.majority_share:.0f} %"})
        if arm.key in WORST_PAIR:
            language, worst = worst_language(result.outcomes)
            numbers.update({f"{name}_worst": interval_text(worst), f"{name}_worst_language": language,
                            f"{name}_spread": interval_text(spread(result.outcomes), unit=" points")})
    for a, b in COMPARISONS:
        name = f"{prefix}_{_name(a)}_minus_{_name(b)}"
        paper_diff = paper_difference(task, a, b)
        numbers.update(_difference_numbers(name, results, a, b, difference,
                                           None if paper_diff is None else 1 if paper_diff >= 0 else -1))
        if paper_diff is not None:
            numbers[f"{name}_paper"] = f"{paper_diff:+.1f} points"
    a, b = WORST_PAIR
    numbers.update(_difference_numbers(f"{prefix}_{_name(a)}_minus_{_name(b)}_worst", results, a, b,
                                       worst_difference, 1))
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


def _difference_numbers(name: str, results: dict[str, ArmResult], a: str, b: str, compare,
                        sign: int | None) -> dict[str, str]:
    """A paired difference ``compare(results, a, b)`` as glue: its text (interim, and said so, until both
    arms have every seed), whether its interval excludes 0, and its verdict on the sign ``sign``
    (``no paper value`` where there is no claimed sign)."""
    final = compare(results, a, b)
    shown = final or compare(results, a, b, interim=True)
    if shown is None:
        text = "not assessed"
    else:
        seeds = len(set(results[a].seeds) & set(results[b].seeds))
        text = interval_text(shown, signed=True, unit=" points") + (
            "" if final is not None else f" (interim, {seeds_text(seeds)})")
    return {name: text, f"{name}_zero": "—" if shown is None else "excludes 0" if shown.excludes_zero else "includes 0",
            f"{name}_verdict": "no paper value" if sign is None else decide(final, sign)}


def summary_sentence(task: str, results: dict[str, ArmResult]) -> str:
    """The chapter's headline in words, every number from the artifacts (Markdown)."""
    needed = ("fed-ptuning", "mono-ptuning", "central-ptuning")
    if not all(key in results for key in needed):
        missing = [key for key in needed if key not in results]
        return (f"*The decisive runs of this task are not computed yet* (missing: {', '.join(missing)}); "
                f"`python -m fedlib plan --task {task}` computes them.")
    def arm(key):
        return interval_text(arm_estimate(results[key].outcomes))

    def gap(a, b, compare=difference):  # the verdicts wait for every seed; the sentence says how many
        return interval_text(compare(results, a, b, interim=True), signed=True, unit=" points")

    def worst(key):
        language, estimate = worst_language(results[key].outcomes)
        return f"{language} at {interval_text(estimate)}"

    seeds = len(results["fed-ptuning"].seeds)
    planned = len(get_plan(task).arm("fed-ptuning").seeds)
    return (f"Over {seeds} of {planned} planned seeds, the federated prompt encoder reaches {arm('fed-ptuning')} "
            f"test accuracy (mean over languages, 95 % interval over seeds and test sentences), monolingual "
            f"training {arm('mono-ptuning')} and centralized training {arm('central-ptuning')}. Paired by seed "
            f"and sentence, federated minus monolingual is {gap('fed-ptuning', 'mono-ptuning')} and federated "
            f"minus centralized {gap('fed-ptuning', 'central-ptuning')}. The worst language is "
            f"{worst('fed-ptuning')} federated and {worst('mono-ptuning')} monolingual; paired, federated minus "
            f"monolingual in worst-language accuracy is {gap('fed-ptuning', 'mono-ptuning', worst_difference)}."
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
        "worst language (%) [95 % CI]": [f"{lang} {interval(*r)}" for lang, *r in
                                         zip(table["worst language"], table["worst"], table["worst low"],
                                             table["worst high"], strict=True)],
        "spread, best − worst (points) [95 % CI]": [
            interval(*r) for r in zip(table["spread"], table["spread low"], table["spread high"], strict=True)],
        "converged runs": table["converged"],
        # one column for both flags keeps the table within the page
        "one-label share (%)": [f"{share:.0f}" + (", collapsed" if collapsed else "") for share, collapsed in
                                zip(table["one-label share"], table["collapsed"], strict=True)],
        "CPU-hours": [f"{h:.2f}" for h in table["cpu_hours"]]}))


def shown_comparisons(task: str, results: dict[str, ArmResult]):
    table = comparison_table(task, results)
    return for_reader(pd.DataFrame({
        "comparison (A − B)": table["comparison"],
        "ours, points [95 % CI]": [interval(*r, signed=True) for r in
                                   zip(table["difference"], table["low"], table["high"], strict=True)],
        "paper, points": [number(v, signed=True) for v in table["paper"]],
        "verdict": table["verdict"],
        "worst language, points [95 % CI]": [
            interval(*r, signed=True) for r in
            zip(table["worst difference"], table["worst low"], table["worst high"], strict=True)]}))


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
