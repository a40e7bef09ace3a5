"""What the compute plan's artifacts say: per-arm accuracy with intervals, paired differences, flags.

Reads only artifacts on disk (nothing trains here). An arm's runs are its seeds at the learning rate
chosen on validation (:mod:`fedlib.plan`); a comparison pairs two arms on the seeds both have, in mean
accuracy (:func:`difference`) or in worst-language accuracy (:func:`worst_difference`).
"""

from __future__ import annotations

import dataclasses

from fedlib import paper
from fedlib.plan import Arm, TaskPlan, converged, get_plan, load_selection
from fedlib.stats import Estimate, Outcomes, outcomes, paired_difference, paired_worst_difference

# (A, B) pairs whose difference the chapters and the ledger report, with the paradigm names the paper
# reports them under.
COMPARISONS = (
    ("fed-ptuning", "mono-ptuning"),
    ("fed-ptuning", "central-ptuning"),
    ("fed-ptuning", "fed-prompt"),
    ("fed-prompt", "mono-ptuning"),
    ("fed-lora", "fed-ptuning"),
)
# The pair whose worst languages the chapters glue and the ledger decides ("no language left behind").
WORST_PAIR = ("fed-ptuning", "mono-ptuning")
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

    chosen = load_selection(plan, profile).get(arm.selection_key)
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


def paper_difference(task: str, a: str, b: str) -> float | None:
    """The paper's reported ``a - b`` (points) for ``task``, or ``None`` where it reports either arm not."""
    reported = paper.reported_averages(task)
    pa, pb = reported.get(PAPER_PARADIGM.get(a, "")), reported.get(PAPER_PARADIGM.get(b, ""))
    return None if pa is None or pb is None else pa - pb


def paired_outcomes(a: ArmResult, b: ArmResult) -> tuple[Outcomes, Outcomes]:
    """Both arms' outcomes restricted to the seeds they share, ready for a paired comparison."""
    seeds = sorted(set(a.seeds) & set(b.seeds))
    keep = lambda r: outcomes([x for x in r.artifacts if x["seed"] in seeds])  # noqa: E731
    return keep(a), keep(b)


def _paired(results: dict[str, ArmResult], a: str, b: str, interim: bool, compare) -> Estimate | None:
    if a not in results or b not in results or not set(results[a].seeds) & set(results[b].seeds):
        return None
    if not interim and not (results[a].complete and results[b].complete):
        return None
    return compare(*paired_outcomes(results[a], results[b]))


def difference(results: dict[str, ArmResult], a: str, b: str, *, interim: bool = False) -> Estimate | None:
    """``a - b`` in mean accuracy (fraction), paired on the seeds both arms have; ``None`` while either
    arm misses one of its planned seeds (a verdict waits for the whole plan), unless ``interim``."""
    return _paired(results, a, b, interim, paired_difference)


def worst_difference(results: dict[str, ArmResult], a: str, b: str, *, interim: bool = False) -> Estimate | None:
    """``a - b`` in worst-language accuracy (each arm's own worst language), paired and waiting for
    every planned seed as :func:`difference` does."""
    return _paired(results, a, b, interim, paired_worst_difference)
