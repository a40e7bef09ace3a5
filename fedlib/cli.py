"""Command line: ``python -m fedlib run --task xnli --paradigm federated --method prompt``."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from fedlib.experiment import ENGINES, PARADIGMS, PARTITIONS, STRATEGIES, ExperimentConfig
from fedlib.methods import METHODS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fedlib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one experiment and write its artifact")
    run.add_argument("--task", required=True)
    run.add_argument("--paradigm", default="federated", choices=PARADIGMS)
    run.add_argument("--method", default="prompt", choices=METHODS)
    run.add_argument("--languages", help="comma-separated language codes (default: all of the task)")
    run.add_argument("--profile", choices=("smoke", "cpu", "paper"))
    run.add_argument("--backbone")
    run.add_argument("--seed", type=int, default=0)
    for name, kind in (("rounds", int), ("local-epochs", int), ("lr", float), ("batch-size", int),
                       ("max-length", int), ("train-per-client", int), ("eval-per-client", int),
                       ("val-per-client", int), ("patience", int)):
        run.add_argument(f"--{name}", type=kind)
    run.add_argument("--partition", default="language", choices=PARTITIONS)
    run.add_argument("--clients-per-language", type=int, default=1)
    run.add_argument("--alpha", type=float, default=0.5)
    run.add_argument("--strategy", default="fedavg", choices=STRATEGIES)
    run.add_argument("--engine", default="inprocess", choices=ENGINES)
    run.add_argument("--min-successful-clients", type=int,
                     help="abort when fewer clients succeed in a round (default: at least one)")
    run.add_argument("--dp-clipping-norm", type=float,
                     help="differential privacy: clip each client's update to this L2 norm")
    run.add_argument("--dp-noise-multiplier", type=float,
                     help="differential privacy: Gaussian noise std = multiplier x clipping norm / clients")
    run.add_argument("--force", action="store_true", help="recompute even if the artifact exists")
    compare = sub.add_parser("compare", help="run (or load) the paper's paradigm comparison for a task, "
                             "every seed of the profile, and print the table")
    compare.add_argument("--task", required=True)
    compare.add_argument("--languages", help="comma-separated language codes (default: all of the task)")
    compare.add_argument("--profile", choices=("smoke", "cpu", "paper"))
    compare.add_argument("--arms", help="comma-separated arm keys (default: all paper arms)")
    plan = sub.add_parser("plan", help="run (or resume) a task's compute plan of cpu artifacts: learning "
                          "rate on validation, then every seed; finished runs are loaded")
    plan.add_argument("--task", required=True)
    plan.add_argument("--arms", help="comma-separated arm keys (default: every arm of the plan)")
    plan.add_argument("--list", action="store_true", help="list the planned runs and which exist; run nothing")
    return parser


def _plan(args) -> int:
    from fedlib.artifacts import artifact_path
    from fedlib.plan import get_plan, planned_runs, run_plan

    try:
        plan = get_plan(args.task)
        arms = tuple(plan.arm(key) for key in args.arms.split(",")) if args.arms else None
    except KeyError as err:
        print(f"fedlib: {err.args[0]}", file=sys.stderr)
        return 2
    if args.list:
        runs = list(planned_runs(plan, arms))
        done = 0
        for stage, arm, cfg in runs:
            exists = artifact_path(cfg).exists()
            done += exists
            print(f"{'done' if exists else 'todo'}  {stage:5}  {arm.key:20}  seed {cfg.seed}  lr {cfg.lr:g}  "
                  f"{cfg.run_name()}")
        print(f"{done} of {len(runs)} planned runs exist (seed runs appear once an arm's learning rate is chosen)")
        return 0
    run_plan(plan, arms, log=lambda line: print(line, flush=True))
    return 0


def _languages(text: str | None) -> tuple[str, ...] | None:
    return tuple(lang.strip() for lang in text.split(",") if lang.strip()) if text else None


def _compare(args) -> int:
    from fedlib.config import get_profile
    from fedlib.report import comparison_table, paper_arms, run_comparison

    try:
        profile = get_profile(args.profile)  # the one read of $FEDLIB_PROFILE for this command
    except ValueError as err:
        print(f"fedlib: {err}", file=sys.stderr)
        return 2
    arms = paper_arms(profile)
    if args.arms:
        wanted = args.arms.split(",")
        unknown = sorted(set(wanted) - {arm.key for arm in arms})
        if unknown:
            print(f"fedlib: unknown arms {unknown}; choose from {[arm.key for arm in arms]}", file=sys.stderr)
            return 2
        arms = [arm for arm in arms if arm.key in wanted]
    common = {"languages": _languages(args.languages)}
    try:
        ExperimentConfig(task=args.task, profile=profile.name, **common).resolved()
    except ValueError as err:
        print(f"fedlib: {err}", file=sys.stderr)
        return 2
    results = run_comparison(args.task, arms, profile=profile, **common)
    print(comparison_table(results).to_string())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "compare":
        return _compare(args)
    if args.command == "plan":
        return _plan(args)
    fields = {f.name for f in dataclasses.fields(ExperimentConfig)}
    values = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if args.languages:
        values["languages"] = _languages(args.languages)
    try:
        config = ExperimentConfig(**values).resolved()
    except ValueError as err:
        print(f"fedlib: {err}", file=sys.stderr)
        return 2
    from fedlib.artifacts import artifact_path
    from fedlib.data import DataError
    from fedlib.paradigms import run_experiment

    try:
        artifact = run_experiment(config, force=args.force or None)
    except DataError as err:  # e.g. a shipped file fails its checksum: refuse, say which and why
        print(f"fedlib: {err}", file=sys.stderr)
        return 2
    print(f"{artifact['run_name']}  ({artifact['profile']} profile, backbone {artifact['backbone']})")
    for lang, metrics in artifact["per_language"].items():
        print(f"  {lang:>10}  accuracy {metrics['accuracy']:.3f}  macro-F1 {metrics['macro_f1']:.3f}")
    print(f"  {'average':>10}  accuracy {artifact['average']['accuracy']:.3f}  "
          f"macro-F1 {artifact['average']['macro_f1']:.3f}")
    print(f"artifact: {artifact_path(config)}  ({artifact['wall_seconds']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
