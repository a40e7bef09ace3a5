"""Project hygiene: the conda environment mirrors pyproject's pins; chapters are text notebooks."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_environment_yml_mirrors_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [d for d in project["dependencies"] if "==" in d]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    normalise = lambda s: re.sub(r"\s+", "", s)  # noqa: E731
    listed = {normalise(p) for p in pip_section}
    missing = [p for p in pins if normalise(p) not in listed]
    assert not missing, f"environment.yml lacks pyproject pins {missing}"


def test_chapters_are_text_notebooks_not_committed_ipynb():
    tracked = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True)
    assert tracked.stdout.strip() == "", "commit chapters as MyST .md text notebooks, without outputs"


def test_every_toc_entry_exists():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    for name in files:
        assert any((ROOT / f"{name}{ext}").exists() for ext in (".md", ".ipynb")), name
