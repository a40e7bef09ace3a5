"""The compute plan of the ``cpu`` results: which runs, at which budgets, chosen how.

Per task, every run shares the budgets of :data:`PLANS` (data protocol 2: no text in two splits, full
or fixed test sets; validation sets large enough to select on; enough rounds to converge, with
early stopping after ``patience`` rounds without a better validation score). Two stages:

1. **Learning rate**, per arm, on validation only: seed 0 at every value of the arm's grid; the value
   with the best validation accuracy wins (:func:`select_lr`, recorded in ``lr-selection.json``).
2. **Seeds**: the chosen value with seeds 0-4 for the headline arms and 0-2 for the secondary ones.

Every run is one artifact; finished ones are loaded, so :func:`run_plan` resumes where it stopped
(``python -m fedlib plan --task nc_standin``) and the artifacts can be committed as they land.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator

from fedlib.atomic_file import write_json_atomically
from fedlib.experiment import ExperimentConfig
from fedlib.run_cost import THREADS, cpu_hours

HEADLINE_SEEDS = (0, 1, 2, 3, 4)
SECONDARY_SEEDS = (0, 1, 2)


@dataclasses.dataclass(frozen=True)
class Arm:
    key: str
    label: str
    paradigm: str
    method: str
    lr_grid: tuple[float, ...]
    headline: bool = True
    partition: str = "language"
    clients_per_language: int = 1
    budgets: tuple[tuple[str, object], ...] = ()  # this arm's own budgets over the task's
    # An arm that reuses another arm's chosen learning rate instead of searching its own grid (a study
    # that varies one budget of that arm): it has no lr stage, and every one of its seeds is a seed run.
    lr_from: str | None = None

    @property
    def seeds(self) -> tuple[int, ...]:
        return HEADLINE_SEEDS if self.headline else SECONDARY_SEEDS

    @property
    def selection_key(self) -> str:
        """Whose entry of ``lr-selection.json`` gives this arm's learning rate."""
        return self.lr_from or self.key

    @property
    def seed_stage(self) -> slice:
        """Which of its seeds are seed runs: all but 0 (the lr stage's) for an arm with a grid."""
        return slice(0 if self.lr_from else 1, None)


PROMPT_GRID = (1e-3, 3e-3, 1e-2)
ARMS = (
    Arm("fed-ptuning", "federated, prompt encoder (the paper's method)", "federated", "ptuning", PROMPT_GRID),
    Arm("fed-prompt", "federated, soft prompt", "federated", "prompt", PROMPT_GRID),
    Arm("mono-ptuning", "monolingual, prompt encoder", "monolingual", "ptuning", PROMPT_GRID),
    Arm("central-ptuning", "centralized, prompt encoder", "centralized", "ptuning", PROMPT_GRID),
    # Secondary arms: grids of two around what earlier runs found (LoRA 5e-3 and full fine-tuning 5e-5
    # learnt; full fine-tuning at 5e-3 collapsed), since a full fine-tuning run costs ~5 prompt runs.
    Arm("fed-lora", "federated LoRA", "federated-lora", "lora", (1e-3, 5e-3), headline=False),
    # Full fine-tuning reached 85 % in 6 rounds before; 15 rounds bound a run that costs ~5x the others.
    Arm("fed-full", "federated full fine-tuning", "federated-full", "full", (2e-5, 5e-5), headline=False,
        budgets=(("rounds", 15),)),
    # Non-IID: a grid of two from the value every NC prompt arm chose (1e-3) upwards.
    Arm("fed-ptuning-noniid", "federated, prompt encoder, non-IID (Dirichlet 0.5, 2 clients per language)",
        "federated", "ptuning", (1e-3, 3e-3), headline=False, partition="dirichlet", clients_per_language=2),
)


@dataclasses.dataclass(frozen=True)
class TaskPlan:
    task: str
    budgets: dict
    arms: tuple[Arm, ...] = ARMS
    languages: tuple[str, ...] | None = None
    note: str = ""
    pilot: bool = False  # seed 0 at each grid value only: decides whether the task earns a full plan
    # Arms of studies on top of the comparison (the data-efficiency curve), which chapters 3-5 leave out.
    study_arms: tuple[Arm, ...] = ()

    @property
    def all_arms(self) -> tuple[Arm, ...]:
        return self.arms + self.study_arms

    def seeds(self, arm: Arm) -> tuple[int, ...]:
        return (0,) if self.pilot else arm.seeds

    def arm(self, key: str) -> Arm:
        for arm in self.all_arms:
            if arm.key == key:
                return arm
        raise KeyError(f"no arm {key!r} in the {self.task} plan; arms: {[a.key for a in self.all_arms]}")

    def config(self, arm: Arm, *, seed: int, lr: float, profile: str = "cpu") -> ExperimentConfig:
        return ExperimentConfig(task=self.task, languages=self.languages, profile=profile, paradigm=arm.paradigm,
                                method=arm.method, partition=arm.partition,
                                clients_per_language=arm.clients_per_language, seed=seed, lr=lr,
                                **{**self.budgets, **dict(arm.budgets)})


# Budgets from the pilots (prompt encoder, seed 0): NC stand-in 64 rows x 12 rounds reached 80.2 %
# with the best round 10 of 12 (not converged by the rule below): rounds go up to 30 with early
# stopping. SIB-200 has 99 validation and 204 test rows per language: all of them.
_COMMON = dict(protocol=2, precision="bf16", local_epochs=1, batch_size=4, max_length=64, patience=5)
EFFICIENCY_ROWS = (16, 32)  # with the plan's 64: a quarter, a half and all of each client's training rows


def efficiency_arms(rows: tuple[int, ...] = EFFICIENCY_ROWS) -> tuple[Arm, ...]:
    """The data-efficiency curve: the headline pair at fewer training rows per client, 3 seeds each, at
    the learning rate each arm chose with all its rows (a grid per budget would triple the cost)."""
    return tuple(Arm(f"{arm.key}-{n}", f"{arm.label}, {n} training rows per client", arm.paradigm, arm.method, (),
                     headline=False, budgets=(("train_per_client", n),), lr_from=arm.key)
                 for arm in ARMS if arm.key in ("fed-ptuning", "mono-ptuning") for n in rows)


PLANS = {
    "nc_standin": TaskPlan("nc_standin", dict(_COMMON, train_per_client=64, val_per_client=99,
                                              eval_per_client=204, rounds=30), study_arms=efficiency_arms()),
    # MasakhaNEWS pilot: 64 rows x 12 rounds reached 65.7 % and was still rising: up to 30 rounds.
    # Every test row (fewer than 100,000 in any language); 64 validation rows where a language has them.
    # 16 clients make a run ~3x an NC run: the paper's arms for this task only (LoRA is its best), grids
    # of two from NC's choices: every NC prompt arm chose 1e-3, so the prompt grids are (1e-3, 3e-3).
    "masakhanews": TaskPlan(
        "masakhanews", dict(_COMMON, train_per_client=64, val_per_client=64, eval_per_client=100_000, rounds=30),
        arms=tuple(dataclasses.replace(arm, lr_grid=arm.lr_grid[:2]) for arm in ARMS
                   if arm.key in ("fed-ptuning", "fed-prompt", "mono-ptuning", "central-ptuning", "fed-lora"))),
}


# XNLI pilot: 64 pairs x 12 rounds left the prompt encoder predicting one class. Before any prompt
# compute, twice the rows and up to 20 rounds for the arm most likely to learn (LoRA) and the paper's
# method; 1,000 fixed test pairs per language. The full plan follows only if one of them learns.
PLANS["xnli"] = TaskPlan(
    "xnli", dict(_COMMON, train_per_client=128, val_per_client=64, eval_per_client=1_000, rounds=20),
    arms=(dataclasses.replace(ARMS[4], lr_grid=(5e-3,)), dataclasses.replace(ARMS[0], lr_grid=(3e-3,))),
    pilot=True)


def get_plan(task: str) -> TaskPlan:
    try:
        return PLANS[task]
    except KeyError:
        raise KeyError(f"no compute plan for task {task!r}; planned: {sorted(PLANS)}") from None


def validation_score(artifact: dict) -> float:
    """The validation accuracy a run selected its parameters on (mean over clients for monolingual)."""
    if "history" in artifact:
        return float(artifact["history"]["best"]["val_accuracy"])
    if "training" in artifact:
        return max(r["val_accuracy"] for r in artifact["training"]["history"])
    clients = artifact["clients"].values()
    return sum(max(r["val_accuracy"] for r in c["history"]) for c in clients) / len(clients)


def converged(artifact: dict) -> bool:
    """Whether the best round (epoch) came at least ``patience`` rounds before the last one run,
    for the run (federated, centralized) or for every client (monolingual)."""
    patience = artifact["config"]["patience"]
    if "history" in artifact:
        return artifact["best_round"] <= len(artifact["history"]["rounds"]) - patience
    runs = [artifact["training"]] if "training" in artifact else list(artifact["clients"].values())
    return all(r["best_epoch"] <= r["epochs_run"] - patience for r in runs)


def _artifact(cfg: ExperimentConfig, *, compute: bool, progress) -> dict | None:
    from fedlib.artifacts import artifact_path, load_artifact
    from fedlib.paradigms import run_experiment

    path = artifact_path(cfg)
    if path.exists():
        return load_artifact(path)
    return run_experiment(cfg, progress=progress) if compute else None


def select_lr(plan: TaskPlan, arm: Arm, *, compute: bool = True, progress=None) -> dict | None:
    """Seed 0 at every learning rate of the arm's grid; the best validation accuracy wins.

    Returns ``{"lr": ..., "scores": {lr: score}, "at_edge": bool}``, or ``None`` when a grid run is
    missing and ``compute`` is off.
    """
    scores = {}
    for lr in arm.lr_grid:
        artifact = _artifact(plan.config(arm, seed=0, lr=lr), compute=compute, progress=progress)
        if artifact is None:
            return None
        scores[lr] = validation_score(artifact)
    # Ties go to the smaller step. Validation accuracy is a mean of per-client fractions, so equal
    # counts can differ in the last bits of a float: compare at 1e-9, far below one validation row.
    best = max(arm.lr_grid, key=lambda lr: (round(scores[lr], 9), -lr))
    return {"lr": best, "scores": {str(k): v for k, v in scores.items()},
            "at_edge": best in (arm.lr_grid[0], arm.lr_grid[-1]) and len(arm.lr_grid) > 1}


def selection_path(plan: TaskPlan, profile: str = "cpu"):
    from fedlib.config import results_dir

    return results_dir() / profile / plan.task / "lr-selection.json"


def planned_runs(plan: TaskPlan, arms: tuple[Arm, ...] | None = None, *,
                 profile: str = "cpu") -> Iterator[tuple[str, Arm, ExperimentConfig]]:
    """Every run of the plan as (stage, arm, config); seed runs need the arm's selection to exist."""
    selection = load_selection(plan, profile)
    for arm in arms or plan.all_arms:
        for lr in arm.lr_grid:
            yield "lr", arm, plan.config(arm, seed=0, lr=lr, profile=profile)
        if arm.selection_key in selection:
            for seed in plan.seeds(arm)[arm.seed_stage]:
                yield "seeds", arm, plan.config(arm, seed=seed, lr=selection[arm.selection_key]["lr"],
                                                profile=profile)


def load_selection(plan: TaskPlan, profile: str = "cpu") -> dict:
    path = selection_path(plan, profile)
    return json.loads(path.read_text()) if path.exists() else {}


def _record_selection(plan: TaskPlan, arm: Arm, chosen: dict) -> None:
    # Re-read just before writing, and replace atomically: two workers may run different arms of one
    # plan at once, and each must keep the other's entries.
    selection = load_selection(plan)
    selection[arm.key] = chosen
    write_json_atomically(selection_path(plan), selection)


def run_plan(plan: TaskPlan, arms: tuple[Arm, ...] | None = None, *, seeds: tuple[int, ...] | None = None,
             log=print, progress=None) -> dict:
    """Run (or load) every run of the plan, arm by arm; returns the learning-rate selection.

    ``seeds`` restricts the seed stage (the learning-rate stage always runs at seed 0)."""
    for arm in arms or plan.all_arms:
        started = time.perf_counter()
        if arm.lr_from:
            chosen = load_selection(plan).get(arm.lr_from)
            if chosen is None:
                raise RuntimeError(f"{plan.task} {arm.key} takes {arm.lr_from}'s learning rate: run that arm first")
            log(f"{plan.task} {arm.key}: lr {chosen['lr']:g}, chosen by {arm.lr_from}")
        else:
            chosen = select_lr(plan, arm, progress=progress)
            _record_selection(plan, arm, chosen)
            log(f"{plan.task} {arm.key}: lr {chosen['lr']:g} (validation {chosen['scores']}"
                f"{', at the edge of the grid' if chosen['at_edge'] else ''})")
        for seed in plan.seeds(arm)[arm.seed_stage]:
            if seeds is not None and seed not in seeds:
                continue
            artifact = _artifact(plan.config(arm, seed=seed, lr=chosen["lr"]), compute=True, progress=progress)
            log(f"{plan.task} {arm.key} seed {seed}: test {artifact['average']['accuracy']:.3f}, "
                f"converged {converged(artifact)}")
        log(f"{plan.task} {arm.key}: done in {time.perf_counter() - started:.0f} s")
    return load_selection(plan)


# Cost model of a run, measured on 2 cores in bf16 (me5s-q4, ~40 tokens): ms per example trained and
# evaluated (benchmarks/results/throughput.json); full fine-tuning also updates all 118 M weights.
TRAIN_MS, EVAL_MS = 22.0, 7.0
METHOD_COST = {"prompt": 1.0, "ptuning": 1.0, "lora": 1.1, "full": 5.0}


def _rows(cfg: ExperimentConfig) -> tuple[int, int, int]:
    """Training, validation and test rows of a config, over all its clients."""
    from fedlib.client_datasets import build_clients

    clients = build_clients(cfg)
    return tuple(sum(len(getattr(c, split)) for c in clients) for split in ("train", "validation", "test"))


def run_cost_hours(plan: TaskPlan, arm: Arm) -> float:
    """Upper bound of one run in CPU-hours: every round run (early stopping usually ends sooner)."""
    cfg = plan.config(arm, seed=0, lr=arm.lr_grid[0] if arm.lr_grid else 1e-3)  # the rate costs nothing
    train, validation, test = _rows(cfg)
    rounds = cfg.resolved().rounds
    ms = rounds * (train * TRAIN_MS * METHOD_COST[arm.method] + validation * EVAL_MS) + test * EVAL_MS
    return ms / 1000 / 3600 * THREADS


def plan_summary(plan: TaskPlan) -> dict:
    """Planned runs, the upper bound of their cost, and what the finished ones measured (CPU-hours)."""
    runs = {arm.key: len(arm.lr_grid) + len(plan.seeds(arm)[arm.seed_stage]) for arm in plan.all_arms}
    planned = sum(runs.values())
    bound = sum(runs[arm.key] * run_cost_hours(plan, arm) for arm in plan.all_arms)
    done, spent = spent_cpu_hours(plan)
    return {"task": plan.task, "planned_runs": planned, "finished_runs": done,
            "upper_bound_cpu_hours": bound, "spent_cpu_hours": spent}


def spent_cpu_hours(plan: TaskPlan, profile: str = "cpu") -> tuple[int, float]:
    """(finished runs, their measured CPU-hours) of the plan, grid runs included; nothing is built."""
    from fedlib.artifacts import artifact_path, load_artifact

    done, spent = 0, 0.0
    for _, _, cfg in planned_runs(plan, profile=profile):
        path = artifact_path(cfg)
        if path.exists():
            done += 1
            spent += cpu_hours(load_artifact(path))
    return done, spent


def budget_sentence(plan: TaskPlan) -> str:
    """The plan's budgets in one sentence, with the row counts the clients really hold."""
    cfg = plan.config(plan.arms[0], seed=0, lr=plan.arms[0].lr_grid[0]).resolved()
    train, validation, test = _rows(cfg)
    clients = len(cfg.languages)
    return (f"backbone {cfg.backbone} in {cfg.precision}, {clients} language clients holding {train:,} training, "
            f"{validation:,} validation and {test:,} test rows in all (the same test rows for every seed), up to "
            f"{cfg.rounds} rounds of {cfg.local_epochs} local epoch(s) with early stopping after {cfg.patience} "
            f"rounds without a better validation accuracy, batch {cfg.batch_size}, at most {cfg.max_length} "
            f"tokens, each arm's learning rate chosen on validation")
