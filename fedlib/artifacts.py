"""Result artifacts: one JSON per run, with everything needed to know where a number came from.

An artifact records the resolved config and its hash, profile, backbone, seed, git commit, package
versions, data checksums, per-round per-client metrics and bytes, final per-language metrics and wall
time. A run whose artifact exists is loaded, not recomputed, unless forced (``FEDLIB_FORCE=1``).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path

from fedlib.atomic_file import write_json_atomically
from fedlib.config import REPO_ROOT, data_dir, results_dir
from fedlib.experiment import ExperimentConfig

PACKAGES = ("torch", "transformers", "peft", "flwr", "flwr-datasets", "datasets", "numpy")
# 2: per-example test predictions (fedlib.predictions), precision, device, data protocol report, and
# whether the working tree was dirty. Schema-1 artifacts still load.
SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)
# Outputs, not code: runs write here while they go on, which must not make the tree "dirty".
_NOT_CODE = (":(exclude)results", ":(exclude)benchmarks/results", ":(exclude)benchmarks/.parity-artifacts")


def artifact_path(config: ExperimentConfig) -> Path:
    from fedlib.data import task_file_name

    cfg = config.resolved()
    return results_dir() / cfg.profile / task_file_name(cfg.task) / f"{config.run_name()}.json"


def force_requested() -> bool:
    return os.environ.get("FEDLIB_FORCE", "0") not in ("", "0", "false", "no")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=True)
        return out.stdout
    except (OSError, subprocess.SubprocessError):
        return None


def git_sha() -> str | None:
    out = _git("rev-parse", "HEAD")
    return out.strip() if out else None


def git_tree_state() -> dict:
    """Whether the code differs from ``HEAD`` (tracked changes or untracked files outside the result
    folders), and a sha256 of that difference, so an artifact says which code really produced it."""
    status = _git("status", "--porcelain", "--", ".", *_NOT_CODE)
    if status is None:
        return {"git_dirty": None, "git_diff_sha256": None}
    if not status.strip():
        return {"git_dirty": False, "git_diff_sha256": None}
    diff = (_git("diff", "HEAD", "--", ".", *_NOT_CODE) or "") + status
    return {"git_dirty": True, "git_diff_sha256": hashlib.sha256(diff.encode()).hexdigest()}


@functools.cache
def code_state() -> dict:
    """The commit and tree state of the code this process runs: taken once, on the first call.

    A run calls it before it trains (:func:`fedlib.paradigms.run_experiment`), so an artifact names the
    code that was imported, not whatever the working tree holds when a long run ends (an edit made
    meanwhile, say to the README, would otherwise mark a run of committed code as dirty).
    """
    return {"git_sha": git_sha(), **git_tree_state()}


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

    from fedlib.runtime import native_bf16

    # cpu_bf16_native: whether a bf16 run on the CPU used bf16 instructions or fp32 kernels on bf16-rounded
    # operands (fedlib.kernels.EmulatedBf16Autocast); same numerics up to the order of fp32 sums.
    return {
        **code_state(), "packages": package_versions(), "python": platform.python_version(),
        "machine": platform.machine(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "cpu_bf16_native": native_bf16("cpu"),
    }


# Shipped folders each task reads (the NC stand-in reads SIB-200).
_TASK_FOLDERS = {"nc_standin": ("sib200",), "xglue_nc_de_sample": ("xglue_nc",)}


def data_checksums(task: str) -> dict[str, str]:
    """sha256 of the shipped files a task reads (from ``data/SHA256SUMS``); of a folder task, of each of
    its files (``<language>/<file>``, relative to the folder that :func:`data_folder` names)."""
    from fedlib.data import folder_record, get_task, is_folder_task

    if is_folder_task(task):
        return folder_record(task)["files"]
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


def data_folder(task: str) -> dict | None:
    """What a folder task read, beyond its files' checksums: the folder's path, the column mapping, the
    duplicates rule, the languages, the label set (in label-id order) and the fingerprint; ``None`` for a
    shipped task."""
    from fedlib.data import folder_record, is_folder_task

    if not is_folder_task(task):
        return None
    return {key: value for key, value in folder_record(task).items() if key != "files"}


def save_artifact(artifact: dict, path: Path) -> Path:
    return write_json_atomically(path, artifact)


def load_artifact(path: Path) -> dict:
    try:
        artifact = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"artifact {path} is not valid JSON ({err}); delete it or rerun with FEDLIB_FORCE=1") from err
    if artifact.get("schema") not in READABLE_SCHEMAS:
        raise ValueError(f"artifact {path} has schema {artifact.get('schema')}, expected one of "
                         f"{list(READABLE_SCHEMAS)}; rerun with FEDLIB_FORCE=1")
    return artifact


def fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def artifact_inventory(profile: str):
    """Every result artifact on disk for the profile named ``profile``: one row per run with its task,
    paradigm, method, seed, average accuracy and the wall time it took to compute."""
    import pandas as pd

    from fedlib.config import get_profile

    folder = results_dir() / get_profile(profile).name
    rows = []
    for path in sorted(folder.glob("*/*.json")):
        if path.name == "lr-selection.json":  # the compute plan's record, not a run
            continue
        artifact = load_artifact(path)
        cfg = artifact["config"]
        rows.append({"task": cfg["task"], "paradigm": cfg["paradigm"], "method": cfg["method"],
                     "seed": cfg["seed"], "train_per_client": cfg["train_per_client"],
                     "accuracy": artifact["average"]["accuracy"], "wall_seconds": artifact["wall_seconds"],
                     "run_name": artifact["run_name"]})
    columns = ["task", "paradigm", "method", "seed", "train_per_client", "accuracy", "wall_seconds", "run_name"]
    return pd.DataFrame(rows, columns=columns)


def artifact_links(profile: str, *, site_root: str = "..") -> str:
    """HTML for the reproduce page: the zip of every artifact and one link per artifact, by task.

    The book build copies ``results/`` to ``<site>/results/`` and writes ``<site>/results.zip``
    (book/_ext/companion_downloads.py); ``site_root`` is the page's path back to the site root."""
    import html

    folder = results_dir() / profile
    parts = [f'<p><a href="{site_root}/results.zip" download>results.zip</a>: every artifact of the book '
             f"(JSON).</p>"]
    for task_dir in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
        files = sorted(task_dir.glob("*.json"))
        links = ", ".join(f'<a href="{site_root}/results/{profile}/{task_dir.name}/{html.escape(f.name)}">'
                          f"{html.escape(f.stem)}</a>" for f in files)
        parts.append(f"<details><summary><b>{html.escape(task_dir.name)}</b>: {len(files)} files</summary>"
                     f'<p style="overflow-wrap: anywhere">{links}</p></details>')
    return "\n".join(parts)
