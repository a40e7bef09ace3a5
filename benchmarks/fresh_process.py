"""Measurements taken in a fresh Python process, so that peak memory is the workload's own.

The parent runs ``run.py --child KIND --spec JSON``; the child prints one ``BENCH_JSON {...}`` line
with what it measured (``run.py`` maps each kind to its benchmark's child function).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

RUN_PY = Path(__file__).resolve().with_name("run.py")
REPO = RUN_PY.parent.parent
CHILD_MARK = "BENCH_JSON "


def maxrss_mb() -> float:
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 2**20 if sys.platform == "darwin" else kb / 1024  # bytes on macOS, KiB on Linux


def peak_rss_mb() -> float:
    """This process image's own peak RSS: VmHWM on Linux, else ru_maxrss.

    On Linux ``ru_maxrss`` survives ``exec``: a child forked from the (large) benchmark process
    reports the parent's RSS at fork time as its peak. VmHWM belongs to the new address space.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return maxrss_mb()


def run_child(kind: str, spec: dict) -> dict:
    """Run the ``kind`` measurement on ``spec`` in a fresh process; what it measured."""
    env = dict(os.environ, FEDLIB_PROGRESS="0")
    proc = subprocess.run([sys.executable, str(RUN_PY), "--child", kind, "--spec", json.dumps(spec)],
                          capture_output=True, text=True, env=env, cwd=REPO)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(CHILD_MARK)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"child {kind} {spec} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len(CHILD_MARK):])


def report_to_parent(measured: dict) -> None:
    print(CHILD_MARK + json.dumps(measured), flush=True)
