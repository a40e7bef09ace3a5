#!/usr/bin/env python
"""fedlib's benchmark suite: how fast and how lean the companion is, each ratio measured side by side.

Six benchmarks, one module each (``--only`` picks them by these names; all but ``parity`` by default):

``engine``         the same federated workload on a raw FedAvg loop (no Flower), the ``inprocess``
                   engine and Flower's ``simulation`` engine.
``memory``         peak RSS of a federated run with 1 vs 8 virtual clients, each in a fresh process.
``communication``  bytes per client and round for prompt, ptuning, LoRA and full fine-tuning: read from
                   the records of real runs (me5s-q4) and built from parameter shapes (xlm-roberta-base).
``throughput``     ms per example of ``train_local`` and ``evaluate`` in fp32 and bf16 against the floor
                   (the step's FLOPs at the bf16 peak of plain matrix products), where the bf16 step's
                   time goes (torch.profiler), and how round time and memory grow from 5 to 100 clients.
``parity``         bf16 vs fp32 accuracy: NC stand-in, prompt encoder, federated and monolingual, three
                   seeds each (~40 min on 2 cores; resumable, its runs are kept in .parity-artifacts/).
``book``           cold and warm wall time of ``make book``.

Every pair (or triple) is run in alternation (A, B, A, B, ...) so that machine noise hits both sides,
and the median is reported; a ratio of two arms is the median of the per-repeat ratios. Each result
records the machine. Results go to ``benchmarks/results/<name>.json`` plus ``summary.md``, and the
summary table is printed at the end. Timing targets are reported, never asserted: the suite is not
part of ``make test``.

    .venv/bin/python benchmarks/run.py                       # all but parity (make bench)
    .venv/bin/python benchmarks/run.py --only parity         # bf16 vs fp32 accuracy, ~40 min
    .venv/bin/python benchmarks/run.py --quick               # tiny settings, no book, into a tmp dir
    .venv/bin/python benchmarks/run.py --only engine,memory --repeats 5 --out /tmp/bench
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# Run as a script, Python puts this folder first on sys.path, where the benchmark modules (memory,
# book, ...) would shadow any top-level module of the same name: they are imported as a package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(REPO) not in sys.path:  # run as a script from anywhere, with or without the editable install
    sys.path.insert(0, str(REPO))

from benchmarks import book, communication, engine, memory, parity, scaling, throughput  # noqa: E402
from benchmarks.fresh_process import report_to_parent  # noqa: E402
from benchmarks.harness import Options, log, run_benchmark, write_summary  # noqa: E402
from fedlib.benchresults import DEFAULT as DEFAULT_NAMES  # noqa: E402
from fedlib.benchresults import ORDER as NAMES  # noqa: E402
from fedlib.benchresults import markdown_table, verdict_lines, write_result  # noqa: E402

DEFAULT_OUT = REPO / "benchmarks" / "results"
BENCHMARKS = {"engine": engine, "memory": memory, "communication": communication, "throughput": throughput,
              "parity": parity, "book": book}  # each has TITLE and run(opts, result)
CHILDREN = {"memory": memory.child, "scaling": scaling.child}  # measured in a fresh process each
assert tuple(BENCHMARKS) == NAMES, "the suite's order lives in fedlib.benchresults.ORDER"


def run_one(name: str, opts: Options) -> dict:
    module = BENCHMARKS[name]
    return run_benchmark(name, module.TITLE, module.run, opts)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(DEFAULT_NAMES),
                        help=f"comma-separated benchmarks to run, from {','.join(NAMES)} "
                             f"(default: {','.join(DEFAULT_NAMES)}; parity trains 12 runs, ~40 min on 2 cores)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="samples per arm, measured in alternation (default 3; 2 with --quick)")
    parser.add_argument("--book-repeats", type=int, default=1, help="cold/warm book build pairs (default 1)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings (smoke backbone, few rows, one simulation run), no book build; "
                             "writes to a temporary folder unless --out is given")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"folder for <name>.json and summary.md (default {DEFAULT_OUT.relative_to(REPO)})")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for the whole run (default: torch's own default; 1 with --quick, "
                             "whose timings only check that the suite works)")
    parser.add_argument("--device", default="cpu",
                        help="device of the throughput benchmark: cpu (default) or cuda[:N]")
    parser.add_argument("--random-weights", action="store_true",
                        help="throughput on the backbone's shapes with random weights, for machines without "
                             "its files (speed does not depend on the values)")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(NAMES)}")
    args.only = names
    if args.repeats is None:
        args.repeats = 2 if args.quick else 3
    if args.threads is None and args.quick:
        args.threads = 1
    if args.repeats < 1 or args.book_repeats < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--repeats, --book-repeats and --threads must be >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        report_to_parent(CHILDREN[args.child](json.loads(args.spec)))
        return 0
    out = args.out or (Path(tempfile.mkdtemp(prefix="fedlib-bench-quick-")) if args.quick else DEFAULT_OUT)
    opts = Options(quick=args.quick, repeats=args.repeats, book_repeats=args.book_repeats, out=out,
                   threads=args.threads, device=args.device, random_weights=args.random_weights)
    os.environ["FEDLIB_PROGRESS"] = "0"
    # Nothing here writes result artifacts, but make sure of it: any artifact goes to a scratch folder.
    os.environ["FEDLIB_RESULTS"] = tempfile.mkdtemp(prefix="fedlib-bench-artifacts-")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)  # recorded in every result's machine record
    started = time.perf_counter()
    failed = False
    for name in args.only:
        log(f"{name}: start")
        result = run_one(name, opts)
        failed |= result["error"] is not None
        path = write_result(result, out)
        log(f"{name}: done in {result['wall_s']:.0f} s -> {path}")
    results = write_summary(out)
    print()
    print(markdown_table(results))
    print()
    for line in verdict_lines(results):
        print(f"- {line}")
    print(f"\nwrote {out}/summary.md; this run took {time.perf_counter() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
