"""Benchmark results: the JSON schema the suite in ``benchmarks/`` writes, and the table built from it.

Kept in the library (and free of heavy imports) so that the book's performance page, the benchmark
suite and its unit test format results the same way. A result is one JSON file per benchmark::

    {"schema": 1, "name": "engine", "title": "Engine overhead", "quick": false,
     "settings": {...}, "samples": {"raw_s": [...], ...}, "medians": {...},
     "checks": [{"label": "inprocess / raw", "ratio": 1.02, "unit": "x",
                 "target": {"op": "<=", "value": 1.05}, "met": true, "detail": "..."}],
     "met": true, "machine": {...}, "notes": [...], "wall_s": 93.1, "error": null}

``checks`` holds every ratio the benchmark reports; those with a ``target`` decide ``met`` (``None``
when the benchmark has no target, e.g. the book build).
"""

from __future__ import annotations

import json
import operator
import os
import platform
from pathlib import Path
from typing import Any

SCHEMA = 1
ORDER = ("engine", "memory", "communication", "throughput", "parity", "book")
DEFAULT = tuple(n for n in ORDER if n != "parity")  # parity costs ~40 CPU-minutes: run it by name
REQUIRED = ("schema", "name", "title", "quick", "settings", "samples", "medians", "checks", "met",
            "machine", "notes", "wall_s", "error")
CHECK_KEYS = ("label", "ratio", "unit", "target", "met", "detail")
UNITS = ("x", "%", "pt")  # ratio, fraction shown as percent, percentage points
_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


def check(label: str, ratio: float | None, *, target: str | None = None, unit: str = "x",
          detail: str = "") -> dict[str, Any]:
    """One reported ratio; ``target`` like ``"<= 1.05"`` (in the ratio's own scale, not percent)."""
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, not {unit!r}")
    parsed = None
    if target is not None:
        op, _, value = target.strip().partition(" ")
        if op not in _OPS:
            raise ValueError(f"target {target!r}: expected '<op> <number>' with op in {list(_OPS)}")
        parsed = {"op": op, "value": float(value)}
    met = None
    if parsed is not None and ratio is not None:
        met = bool(_OPS[parsed["op"]](ratio, parsed["value"]))
    return {"label": label, "ratio": None if ratio is None else float(ratio), "unit": unit,
            "target": parsed, "met": met, "detail": detail}


def overall_met(checks: list[dict]) -> bool | None:
    """True when every targeted check is met, False when one is missed, None without targets."""
    verdicts = [c["met"] for c in checks if c["target"] is not None]
    if not verdicts:
        return None
    if any(v is None for v in verdicts):  # a targeted ratio that could not be measured
        return False
    return all(verdicts)


def machine_record() -> dict[str, Any]:
    """Where a result was measured: cores, library versions, threads, load at the time."""
    import torch

    record: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _cpu_model(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    for package in ("flwr", "transformers", "peft"):
        try:
            from importlib.metadata import version

            record[package] = version(package)
        except Exception:  # noqa: BLE001 - a missing version is not worth failing a benchmark
            record[package] = None
    return record


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def validate(result: dict) -> list[str]:
    """Problems with a result's schema (empty when it is well-formed)."""
    problems = [f"missing key {key!r}" for key in REQUIRED if key not in result]
    if problems:
        return problems
    if result["schema"] != SCHEMA:
        problems.append(f"schema {result['schema']!r} != {SCHEMA}")
    if not isinstance(result["checks"], list):
        return problems + ["checks is not a list"]
    for i, c in enumerate(result["checks"]):
        missing = [k for k in CHECK_KEYS if k not in c]
        if missing:
            problems.append(f"check {i} misses {missing}")
        elif c["unit"] not in UNITS:
            problems.append(f"check {i} has unit {c['unit']!r}")
    if result["met"] not in (True, False, None):
        problems.append(f"met is {result['met']!r}")
    for key in ("cpu_count", "torch", "torch_threads", "platform"):
        if key not in result["machine"]:
            problems.append(f"machine record misses {key!r}")
    return problems


def write_result(result: dict, folder: Path) -> Path:
    problems = validate(result)
    if problems:
        raise ValueError(f"benchmark result {result.get('name')!r} is malformed: {problems}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result['name']}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
    return path


def load_results(folder: str | Path) -> list[dict]:
    """Every well-formed ``<name>.json`` in ``folder``, in the suite's order."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    results = []
    for path in sorted(folder.glob("*.json")):
        try:
            result = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(result, dict) and not validate(result):
            results.append(result)
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(results, key=lambda r: (rank.get(r["name"], len(ORDER)), r["name"]))


# --------------------------------------------------------------------------------------------
# Formatting


def _number(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 0.1:
        return f"{value:.3g}" if magnitude < 10 else f"{value:.1f}"
    return f"{value:.2g}"


def format_ratio(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "%":
        return f"{_number(100 * value)} %"
    if unit == "pt":
        return f"{value:.2f} pt"
    return f"{_number(value)}×"


def format_target(target: dict | None, unit: str) -> str:
    if target is None:
        return "—"
    symbol = {"<=": "≤", ">=": "≥", "<": "<", ">": ">"}[target["op"]]
    return f"{symbol} {format_ratio(target['value'], unit)}"


def format_met(met: bool | None, target: dict | None) -> str:
    if target is None:
        return "report"
    return {True: "met", False: "missed", None: "not measured"}[met]


def machine_summary(machine: dict) -> str:
    """``2 cores, torch 2.13.0 (2 threads), load 0.3``."""
    parts = [f"{machine.get('cpu_count')} cores",
             f"torch {machine.get('torch')} ({machine.get('torch_threads')} threads)"]
    if machine.get("loadavg_1m") is not None:
        parts.append(f"load {machine['loadavg_1m']:.1f}")
    return ", ".join(parts)


def table_rows(results: list[dict]) -> list[dict[str, str]]:
    """One row per check (one row for a benchmark that failed or reports nothing)."""
    rows = []
    for result in results:
        name = result["title"] + (" (quick)" if result.get("quick") else "")
        machine = machine_summary(result["machine"])
        if result.get("error"):
            rows.append({"benchmark": name, "measure": "error", "ratio": "n/a", "target": "—",
                         "result": "failed", "detail": str(result["error"]).splitlines()[0][:120],
                         "machine": machine})
            continue
        if not result["checks"]:
            rows.append({"benchmark": name, "measure": "skipped", "ratio": "n/a", "target": "—",
                         "result": "skipped", "detail": (result.get("notes") or [""])[-1][:120],
                         "machine": machine})
        for c in result["checks"]:
            rows.append({"benchmark": name, "measure": c["label"], "ratio": format_ratio(c["ratio"], c["unit"]),
                         "target": format_target(c["target"], c["unit"]),
                         "result": format_met(c["met"], c["target"]), "detail": c["detail"],
                         "machine": machine})
    return rows


COLUMNS = ("benchmark", "measure", "ratio", "target", "result", "detail", "machine")


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(results: list[dict], columns: tuple[str, ...] = COLUMNS) -> str:
    """The summary as a GitHub/MyST markdown table."""
    rows = table_rows(results)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def verdict_lines(results: list[dict]) -> list[str]:
    """``engine: inprocess / raw = 1.02× (target ≤ 1.05×): met`` for every targeted ratio."""
    lines = []
    for result in results:
        for c in result["checks"]:
            if c["target"] is not None:
                lines.append(f"{result['name']}: {c['label']} = {format_ratio(c['ratio'], c['unit'])} "
                             f"(target {format_target(c['target'], c['unit'])}): {format_met(c['met'], c['target'])}")
    return lines


def summary_markdown(results: list[dict]) -> str:
    """The whole ``summary.md``: table, every target met or missed, and the machines."""
    if not results:
        return "No benchmark results yet: run `make bench`.\n"
    out = ["# Benchmark summary", "", markdown_table(results), "", "## Targets", ""]
    out += [f"- {line}" for line in verdict_lines(results)] or ["- (no targeted ratio measured)"]
    notes = [(r["name"], n) for r in results for n in r.get("notes", [])]
    if notes:
        out += ["", "## Notes", ""] + [f"- {name}: {note}" for name, note in notes]
    first = results[0]["machine"]
    out += ["", "## Machine", "", f"{first.get('cpu_model') or 'unknown CPU'}; {first.get('platform')}; "
            f"Python {first.get('python')}; torch {first.get('torch')}, transformers {first.get('transformers')}, "
            f"peft {first.get('peft')}, flwr {first.get('flwr')}.", ""]
    return "\n".join(out)


def results_frame(results: list[dict]):
    """The table as a pandas DataFrame (for the book)."""
    import pandas as pd

    return pd.DataFrame(table_rows(results), columns=list(COLUMNS))
