"""Command line: ``python -m fedlib run --task xnli --paradigm federated --method prompt``."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from fedlib.experiment import ENGINES, PARADIGMS, PARTITIONS, STRATEGIES, ExperimentConfig
from fedlib.methods import METHODS

PROFILE_DEFAULT = "(default: $FEDLIB_PROFILE, else cpu)"
LANGUAGES_HELP = ("comma-separated language codes; a task with a hub source also takes languages it does not "
                  "ship (e.g. SIB-200's kin_Latn, read from the Hugging Face hub) (default: every shipped "
                  "language of the task)")
# Budgets whose default is the profile's value (fedlib.config.PROFILES).
BUDGETS = (
    ("rounds", int, "federated rounds (the baselines train rounds x local epochs epochs)"),
    ("local-epochs", int, "local epochs per round"),
    ("lr", float, "learning rate"),
    ("batch-size", int, "batch size"),
    ("max-length", int, "maximum tokens per example"),
    ("train-per-client", int, "training rows per client"),
    ("eval-per-client", int, "test rows per client"),
    ("val-per-client", int, "validation rows per client"),
    ("patience", int, "early stopping: rounds (epochs) without a better validation accuracy"),
)


class CommandError(Exception):
    """An expected refusal of a command (unknown name, invalid value): one line on stderr, exit status 2."""


def _expected_errors() -> tuple[type[Exception], ...]:
    """What a command reports in one line instead of a traceback: its own refusals, bad data
    (:class:`~fedlib.data.DataError`) and a backbone that cannot be had (unreachable, missing assets)."""
    kinds: list[type[Exception]] = [CommandError]
    for module, names in (("fedlib.data.errors", ("DataError",)),
                          ("fedlib.backbone.errors", ("BackboneUnavailableError", "BackboneAssetError"))):
        loaded = sys.modules.get(module)  # a module never imported raised nothing (and stays unimported)
        kinds += [getattr(loaded, name) for name in names] if loaded else []
    return tuple(kinds)


def _one_line(err: Exception) -> str:
    """``err``'s message on one line: a list of problems ("- ..." lines) is joined with "; "."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
    head, items = lines[0], [line.removeprefix("- ") for line in lines[1:]]
    return f"{head} {'; '.join(items)}" if items else head


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default; a help that states its own default keeps it."""

    def _get_help_string(self, action):
        if action.required or "(default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _add_task_options(parser: argparse.ArgumentParser, task_help: str) -> None:
    """``--task NAME``, or ``--data DIR`` (your own languages: fedlib.data.folder) and how to read it."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--task", help=task_help)
    which.add_argument("--data", metavar="DIR", help="a folder of your own languages instead of --task: one "
                       "sub-folder per language with train, dev (or validation) and test files (.tsv, .csv or "
                       ".jsonl, optionally .gz) (default: none)")
    parser.add_argument("--text-column", default="text", help="--data: column holding the text")
    parser.add_argument("--pair-column", help="--data: column holding the second text of a sentence pair "
                        "(default: none, single texts)")
    parser.add_argument("--label-column", default="label", help="--data: column holding the label")
    parser.add_argument("--duplicates", default="refuse", choices=("refuse", "drop"),
                        help="--data: a text found in two splits of a language is an error (refuse), or is "
                        "dropped from train and dev (drop)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fedlib", description=__doc__, formatter_class=_HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one experiment and write its artifact", formatter_class=_HelpFormatter,
                         description="Run one experiment (or load its artifact) and print its per-language scores.")
    _add_task_options(run, "task name, e.g. sib200, xnli, masakhanews, nc_standin "
                      "(default: none; give --task or --data)")
    run.add_argument("--paradigm", default="federated", choices=PARADIGMS, help="training paradigm")
    run.add_argument("--method", default="prompt", choices=METHODS, help="what is trained around the frozen backbone "
                     "(federated-full and federated-lora fix it)")
    run.add_argument("--languages", help=LANGUAGES_HELP)
    run.add_argument("--profile", choices=("smoke", "cpu", "paper"), help=f"run profile {PROFILE_DEFAULT}")
    run.add_argument("--backbone", help="backbone: me5s-q4, tiny-random, a Hugging Face hub id or a local folder "
                     "(default: $FEDLIB_BACKBONE, else the profile's backbone)")
    run.add_argument("--seed", type=int, default=0, help="seed of the run")
    for name, kind, text in BUDGETS:
        run.add_argument(f"--{name}", type=kind, help=f"{text} (default: the profile's value)")
    run.add_argument("--partition", default="language", choices=PARTITIONS,
                     help="one client per language, or Dirichlet label skew within each language")
    run.add_argument("--clients-per-language", type=int, default=1, help="clients per language (dirichlet partition)")
    run.add_argument("--alpha", type=float, default=0.5, help="Dirichlet concentration (dirichlet partition)")
    run.add_argument("--strategy", default="fedavg", choices=STRATEGIES, help="federated aggregation strategy")
    run.add_argument("--engine", default="inprocess", choices=ENGINES, help="where the Flower apps run")
    run.add_argument("--min-successful-clients", type=int,
                     help="abort when fewer clients succeed in a round (default: at least one)")
    run.add_argument("--dp-clipping-norm", type=float,
                     help="differential privacy: clip each client's update to this L2 norm (default: no clipping, "
                     "no differential privacy)")
    run.add_argument("--dp-noise-multiplier", type=float,
                     help="differential privacy: Gaussian noise std = multiplier x clipping norm / clients "
                     "(default: 0, no noise)")
    run.add_argument("--force", action="store_true", help="recompute even if the artifact exists")
    compare = sub.add_parser("compare", help="run (or load) the paper's paradigm comparison for a task, "
                             "every seed of the profile, and print the table", formatter_class=_HelpFormatter)
    _add_task_options(compare, "task name, e.g. sib200, xnli, nc_standin (default: none; give --task or --data)")
    compare.add_argument("--languages", help=LANGUAGES_HELP)
    compare.add_argument("--profile", choices=("smoke", "cpu", "paper"), help=f"run profile {PROFILE_DEFAULT}")
    compare.add_argument("--arms", help="comma-separated arm keys (default: all paper arms)")
    plan = sub.add_parser("plan", help="run (or resume) a task's compute plan of cpu artifacts: learning "
                          "rate on validation, then every seed; finished runs are loaded",
                          formatter_class=_HelpFormatter)
    plan.add_argument("--task", required=True, help="task with a compute plan, e.g. nc_standin (required)")
    plan.add_argument("--arms", help="comma-separated arm keys (default: every arm of the plan)")
    plan.add_argument("--seeds", help="comma-separated seeds of the seed stage to run (default: all); lets two "
                      "workers share one arm without running a seed twice")
    plan.add_argument("--list", action="store_true", help="list the planned runs and which exist; run nothing")
    study = sub.add_parser("study", help="run (or resume) a study of the claims the tables leave open, on the "
                           "plan's models: unseen (languages outside the federation), membership (memorisation), "
                           "dp (accuracy against epsilon), families (aggregation within language families)",
                           formatter_class=_HelpFormatter)
    study.add_argument("name", choices=("unseen", "membership", "dp", "families"), help="which study (required)")
    return parser


def _plan(args) -> int:
    from fedlib.artifacts import artifact_path
    from fedlib.plan import get_plan, planned_runs, run_plan

    try:
        plan = get_plan(args.task)
        arms = tuple(plan.arm(key) for key in args.arms.split(",")) if args.arms else None
        seeds = tuple(int(seed) for seed in args.seeds.split(",")) if args.seeds else None
    except ValueError:
        raise CommandError(f"--seeds takes comma-separated integers, got {args.seeds!r}") from None
    except KeyError as err:
        raise CommandError(err.args[0]) from None
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
    run_plan(plan, arms, seeds=seeds, log=lambda line: print(line, flush=True))
    return 0


def _task_of(args) -> str:
    """The task of a ``run`` or ``compare``: ``--task``, or the folder task of ``--data`` and its columns."""
    if args.data is None:
        return args.task
    from fedlib.data import folder_task_name

    return folder_task_name(args.data, text_column=args.text_column, pair_column=args.pair_column,
                            label_column=args.label_column, duplicates=args.duplicates)


def _languages(text: str | None) -> tuple[str, ...] | None:
    return tuple(lang.strip() for lang in text.split(",") if lang.strip()) if text else None


def _compare(args) -> int:
    from fedlib.config import get_profile
    from fedlib.report import comparison_table, paper_arms, run_comparison

    try:
        profile = get_profile(args.profile)  # the one read of $FEDLIB_PROFILE for this command
    except ValueError as err:
        raise CommandError(str(err)) from None
    arms = paper_arms(profile)
    if args.arms:
        wanted = args.arms.split(",")
        unknown = sorted(set(wanted) - {arm.key for arm in arms})
        if unknown:
            raise CommandError(f"unknown arms {unknown}; choose from {[arm.key for arm in arms]}")
        arms = [arm for arm in arms if arm.key in wanted]
    common = {"languages": _languages(args.languages)}
    try:
        task = _task_of(args)
        ExperimentConfig(task=task, profile=profile.name, **common).resolved()
    except ValueError as err:
        raise CommandError(str(err)) from None
    results = run_comparison(task, arms, profile=profile, **common)
    print(comparison_table(results).to_string())
    return 0


def _study(args) -> int:
    from fedlib.open_claims import run_study

    try:
        run_study(args.name, log=lambda line: print(line, flush=True))
    except RuntimeError as err:  # a plan stage the study needs has not run yet
        raise CommandError(str(err)) from None
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; an expected failure prints one ``fedlib: ...`` line and returns 2."""
    args = _parser().parse_args(argv)
    command = {"run": _run, "compare": _compare, "plan": _plan, "study": _study}[args.command]
    try:
        return command(args)
    except Exception as err:
        if not isinstance(err, _expected_errors()):
            raise  # a bug: the traceback is the report
        print(f"fedlib: {_one_line(err)}", file=sys.stderr)
        return 2


def _run(args) -> int:
    fields = {f.name for f in dataclasses.fields(ExperimentConfig)}
    values = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if args.languages:
        values["languages"] = _languages(args.languages)
    try:
        config = ExperimentConfig(**{**values, "task": _task_of(args)}).resolved()
    except ValueError as err:
        raise CommandError(str(err)) from None
    from fedlib.artifacts import artifact_path
    from fedlib.paradigms import run_experiment

    # A DataError (e.g. a shipped file fails its checksum, a hub dataset is offline) or an unreachable
    # backbone propagates to main, which refuses in one line.
    artifact = run_experiment(config, force=args.force or None)
    print(f"{artifact['run_name']}  ({artifact['profile']} profile, backbone {artifact['backbone']})")
    for lang, metrics in artifact["per_language"].items():
        print(f"  {lang:>10}  accuracy {metrics['accuracy']:.3f}  macro-F1 {metrics['macro_f1']:.3f}")
    print(f"  {'average':>10}  accuracy {artifact['average']['accuracy']:.3f}  "
          f"macro-F1 {artifact['average']['macro_f1']:.3f}")
    print(f"artifact: {artifact_path(config)}  ({artifact['wall_seconds']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
