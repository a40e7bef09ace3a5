"""Result artifacts: one JSON per run, with everything needed to know where a number came from.

An artifact records the resolved config and its hash, profile, backbone, seed, git commit, package
versions, data checksums, per-round per-client metrics and bytes, final per-language metrics and wall
time. A run whose artifact exists is loaded, not recomputed, unless forced (``FEDLIB_FORCE=1``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path

from fedlib.config import REPO_ROOT, data_dir, results_dir
from fedlib.experiment import ExperimentConfig

PACKAGES = ("torch", "transformers", "peft", "flwr", "flwr-datasets", "datasets", "numpy")
SCHEMA_VERSION = 1


def artifact_path(config: ExperimentConfig) -> Path:
    cfg = config.resolved()
    return results_dir() / cfg.profile / cfg.task / f"{config.run_name()}.json"


def force_requested() -> bool:
    return os.environ.get("FEDLIB_FORCE", "0") not in ("", "0", "false", "no")


def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def environment() -> dict:
    import torch

    return {
        "git_sha": git_sha(), "packages": package_versions(), "python": platform.python_version(),
        "machine": platform.machine(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
    }


# Shipped folders each task reads (the NC stand-in reads SIB-200).
_TASK_FOLDERS = {"nc_standin": ("sib200",), "xglue_nc_de_sample": ("xglue_nc",)}


def data_checksums(task: str) -> dict[str, str]:
    """sha256 of the shipped files a task reads (from ``data/SHA256SUMS``)."""
    from fedlib.data import get_task

    sums_file = data_dir() / "SHA256SUMS"
    if not sums_file.exists():
        return {}
    folders = _TASK_FOLDERS.get(get_task(task).name, (task,))
    sums = {}
    for line in sums_file.read_text().splitlines():
        digest, _, name = line.partition("  ")
        if any(name.startswith(f"{folder}/") for folder in folders):
            sums[name] = digest
    return sums


def save_artifact(artifact: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(artifact, indent=1, sort_keys=True, default=float) + "\n")
    tmp.replace(path)
    return path


def load_artifact(path: Path) -> dict:
    try:
        artifact = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"artifact {path} is not valid JSON ({err}); delete it or rerun with FEDLIB_FORCE=1") from err
    if artifact.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"artifact {path} has schema {artifact.get('schema')}, expected {SCHEMA_VERSION}; "
                         "rerun with FEDLIB_FORCE=1")
    return artifact


def fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def artifact_inventory(profile: str | None = None):
    """Every result artifact on disk for ``profile`` (default: the current one): one row per run with
    its task, paradigm, method, seed, average accuracy and the wall time it took to compute."""
    import pandas as pd

    from fedlib.config import get_profile

    folder = results_dir() / get_profile(profile).name
    rows = []
    for path in sorted(folder.glob("*/*.json")):
        artifact = load_artifact(path)
        cfg = artifact["config"]
        rows.append({"task": cfg["task"], "paradigm": cfg["paradigm"], "method": cfg["method"],
                     "seed": cfg["seed"], "train_per_client": cfg["train_per_client"],
                     "accuracy": artifact["average"]["accuracy"], "wall_seconds": artifact["wall_seconds"],
                     "run_name": artifact["run_name"]})
    columns = ["task", "paradigm", "method", "seed", "train_per_client", "accuracy", "wall_seconds", "run_name"]
    return pd.DataFrame(rows, columns=columns)
