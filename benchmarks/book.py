"""Book build: cold and warm wall time of ``make book``."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from benchmarks.harness import Arm, Options, alternate, median, paired_ratio
from fedlib.benchresults import check

TITLE = "Book build"
REPO = Path(__file__).resolve().parent.parent
ENV_AT_START = dict(os.environ)  # `make book` runs in the user's own environment, not the suite's


def results_status() -> str:
    proc = subprocess.run(["git", "status", "--porcelain", "--", "results"], cwd=REPO, capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else ""


def run(opts: Options, result: dict) -> None:
    if opts.quick:  # a book build takes minutes even warm: quick mode only checks the suite works
        result["notes"].append("skipped in quick mode (run `benchmarks/run.py --only book` for it)")
        return
    make = os.environ.get("MAKE", "make")
    env = dict(ENV_AT_START)
    log_path = opts.out / "book-build.log"
    opts.out.mkdir(parents=True, exist_ok=True)
    result["settings"] = {"command": f"{make} clean-book; {make} book (cold); {make} book (warm)",
                          "profile": env.get("FEDLIB_PROFILE", "cpu"), "samples": opts.book_repeats,
                          "log": str(log_path)}
    result["notes"].append("cold = no _build and no .jupyter_cache, committed result artifacts present; "
                           "this rebuilds the repository's own _build")
    before = results_status()

    def make_target(target: str) -> float:
        start = time.perf_counter()
        with open(log_path, "a") as logfile:
            logfile.write(f"\n===== {make} {target} =====\n")
            logfile.flush()
            proc = subprocess.run([make, target], cwd=REPO, env=env, stdout=logfile, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            raise RuntimeError(f"`{make} {target}` failed (exit {proc.returncode}); see {log_path}")
        return time.perf_counter() - start

    def cold():
        make_target("clean-book")
        return make_target("book")

    log_path.write_text("")
    values = alternate([Arm("cold", cold, opts.book_repeats), Arm("warm", lambda: make_target("book"),
                                                                    opts.book_repeats)])
    changed = results_status() != before
    if changed:
        result["notes"].append("the build changed results/ (an artifact was missing and was recomputed): the "
                               "cold time includes training")
    result["samples"] = {"cold_s": values["cold"], "warm_s": values["warm"]}
    result["medians"] = {"cold_s": median(values["cold"]), "warm_s": median(values["warm"])}
    result["settings"]["results_changed"] = changed
    result["checks"].append(check("warm / cold make book (time)", paired_ratio(values["warm"], values["cold"]),
                                  detail=f"cold {median(values['cold']):.0f} s, warm {median(values['warm']):.1f} s"))
