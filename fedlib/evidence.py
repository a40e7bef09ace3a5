"""What the compute plan's artifacts say: per-arm accuracy with intervals, paired differences, flags.

Reads only artifacts on disk (nothing trains here). An arm's runs are its seeds at the learning rate
chosen on validation (:mod:`fedlib.plan`); a comparison pairs two arms on the seeds both have.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from fedlib import paper
from fedlib.plan import Arm, TaskPlan, converged, get_plan, load_selection
from fedlib.stats import Estimate, Outcomes, arm_estimate, outcomes, paired_difference

# (A, B) pairs whose difference the chapters and the ledger report, with the paradigm names the paper
# reports them under.
COMPARISONS = (
    ("fed-ptuning", "mono-ptuning"),
    ("fed-ptuning", "central-ptuning"),
    ("fed-ptuning", "fed-prompt"),
    ("fed-prompt", "mono-ptuning"),
    ("fed-lora", "fed-ptuning"),
)
PAPER_PARADIGM = {"fed-ptuning": "federated", "mono-ptuning": "monolingual", "central-ptuning": "centralized",
                  "fed-lora": "federated-lora"}


@dataclasses.dataclass
class ArmResult:
    arm: Arm
    lr: float
    artifacts: list[dict]
    outcomes: Outcomes
    planned_seeds: tuple[int, ...] = ()

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.outcomes.seeds

    @property
    def complete(self) -> bool:
        """Every planned seed has its artifact: only then does a comparison with this arm decide."""
        return set(self.planned_seeds) <= set(self.seeds)

    @property
    def converged_runs(self) -> int:
        return sum(converged(a) for a in self.artifacts)


def arm_result(plan: TaskPlan, arm: Arm, *, profile: str = "cpu") -> ArmResult | None:
    """The arm's seeds at its chosen learning rate, or ``None`` before the choice or without runs."""
    from fedlib.artifacts import artifact_path, load_artifact

    chosen = load_selection(plan, profile).get(arm.key)
    if not chosen:
        return None
    artifacts = []
    for seed in plan.seeds(arm):
        path = artifact_path(plan.config(arm, seed=seed, lr=chosen["lr"], profile=profile))
        if path.exists():
            artifacts.append(load_artifact(path))
    if not artifacts:
        return None
    return ArmResult(arm, chosen["lr"], artifacts, outcomes(artifacts), plan.seeds(arm))


def task_results(task: str, *, profile: str = "cpu") -> dict[str, ArmResult]:
    """Every arm of the task's plan that has artifacts (none for a task without a plan yet)."""
    from fedlib.plan import PLANS

    if task not in PLANS:
        return {}
    plan = get_plan(task)
    results = {arm.key: arm_result(plan, arm, profile=profile) for arm in plan.arms}
    return {key: result for key, result in results.items() if result is not None}


def _paired(a: ArmResult, b: ArmResult) -> Estimate:
    seeds = sorted(set(a.seeds) & set(b.seeds))
    keep = lambda r: outcomes([x for x in r.artifacts if x["seed"] in seeds])  # noqa: E731
    return paired_difference(keep(a), keep(b))


def difference(results: dict[str, ArmResult], a: str, b: str, *, interim: bool = False) -> Estimate | None:
    """``a - b`` in mean accuracy (fraction), paired on the seeds both arms have; ``None`` while either
    arm misses one of its planned seeds (a verdict waits for the whole plan), unless ``interim``."""
    if a not in results or b not in results or not set(results[a].seeds) & set(results[b].seeds):
        return None
    if not interim and not (results[a].complete and results[b].complete):
        return None
    return _paired(results[a], results[b])


def arm_table(results: dict[str, ArmResult]) -> pd.DataFrame:
    """One row per arm: seeds, learning rate, accuracy (%) with its 95 % interval, flags."""
    rows = []
    for key, result in results.items():
        estimate = arm_estimate(result.outcomes)
        rows.append({"arm": key, "label": result.arm.label, "seeds": len(result.seeds), "lr": result.lr,
                     "accuracy": 100 * estimate.mean, "low": 100 * estimate.low, "high": 100 * estimate.high,
                     "collapsed": result.outcomes.collapsed,
                     "converged": f"{result.converged_runs}/{len(result.artifacts)}",
                     "wall_seconds": sum(a["wall_seconds"] for a in result.artifacts)})
    return pd.DataFrame(rows)


def comparison_table(task: str, results: dict[str, ArmResult]) -> pd.DataFrame:
    """One row per reported comparison: our paired difference (points) with its interval, the paper's."""
    from fedlib.verdicts import decide

    reported = paper.reported_averages(task)
    rows = []
    for a, b in COMPARISONS:
        estimate = difference(results, a, b)
        paper_a, paper_b = reported.get(PAPER_PARADIGM.get(a, "")), reported.get(PAPER_PARADIGM.get(b, ""))
        paper_diff = None if paper_a is None or paper_b is None else paper_a - paper_b
        rows.append({"comparison": f"{a} − {b}", "difference": None if estimate is None else 100 * estimate.mean,
                     "low": None if estimate is None else 100 * estimate.low,
                     "high": None if estimate is None else 100 * estimate.high,
                     "paper": paper_diff,
                     "verdict": decide(estimate, 1 if (paper_diff or 0) >= 0 else -1) if paper_diff is not None
                     else ("not assessed" if estimate is None else "no paper value")})
    return pd.DataFrame(rows)


def summary_sentence(task: str, results: dict[str, ArmResult]) -> str:
    """The chapter's headline in words, every number from the artifacts (Markdown)."""
    from fedlib.plan import get_plan

    needed = ("fed-ptuning", "mono-ptuning", "central-ptuning")
    if not all(key in results for key in needed):
        missing = [key for key in needed if key not in results]
        return (f"*The decisive runs of this task are not computed yet* (missing: {', '.join(missing)}); "
                f"`python -m fedlib plan --task {task}` computes them.")
    table = arm_table(results).set_index("arm")

    def arm(key):
        row = table.loc[key]
        return f"{row['accuracy']:.1f} % [{row['low']:.1f}, {row['high']:.1f}]"

    def gap(a, b):
        e = difference(results, a, b, interim=True)  # the verdicts wait for every seed; the sentence says how many
        return f"{100 * e.mean:+.1f} points [{100 * e.low:+.1f}, {100 * e.high:+.1f}]"

    seeds = int(table.loc["fed-ptuning", "seeds"])
    planned = len(get_plan(task).arm("fed-ptuning").seeds)
    return (f"Over {seeds} of {planned} planned seeds, the federated prompt encoder reaches {arm('fed-ptuning')} "
            f"test accuracy (mean over languages, 95 % interval over seeds and test sentences), monolingual "
            f"training {arm('mono-ptuning')} and centralized training {arm('central-ptuning')}. Paired by seed "
            f"and sentence, federated minus monolingual is {gap('fed-ptuning', 'mono-ptuning')} and federated "
            f"minus centralized {gap('fed-ptuning', 'central-ptuning')}."
            + ("" if all(results[key].complete for key in needed) else
               " *Interim: some arms miss planned seeds (seeds per arm in the table below); the verdicts wait "
               "for all of them.*"))
