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
                       ("patience", int)):
        run.add_argument(f"--{name}", type=kind)
    run.add_argument("--partition", default="language", choices=PARTITIONS)
    run.add_argument("--clients-per-language", type=int, default=1)
    run.add_argument("--alpha", type=float, default=0.5)
    run.add_argument("--strategy", default="fedavg", choices=STRATEGIES)
    run.add_argument("--engine", default="inprocess", choices=ENGINES)
    run.add_argument("--force", action="store_true", help="recompute even if the artifact exists")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    fields = {f.name for f in dataclasses.fields(ExperimentConfig)}
    values = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if args.languages:
        values["languages"] = tuple(lang.strip() for lang in args.languages.split(",") if lang.strip())
    try:
        config = ExperimentConfig(**values).resolved()
    except ValueError as err:
        print(f"fedlib: {err}", file=sys.stderr)
        return 2
    from fedlib.artifacts import artifact_path
    from fedlib.paradigms import run_experiment

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
