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


def test_book_inputs_fingerprint_follows_artifacts(tmp_path):
    from fedlib.book_inputs import fingerprint, main

    (tmp_path / "results" / "cpu").mkdir(parents=True)
    (tmp_path / "fedlib").mkdir()
    artifact = tmp_path / "results" / "cpu" / "run.json"
    artifact.write_text('{"accuracy": 0.5}')
    (tmp_path / "fedlib" / "report.py").write_text("x = 1\n")
    before = fingerprint(tmp_path)
    assert fingerprint(tmp_path) == before
    artifact.write_text('{"accuracy": 0.6}')
    assert fingerprint(tmp_path) != before
    (tmp_path / "results" / "cpu" / "other.json").write_text("{}")  # a new artifact counts too
    changed = fingerprint(tmp_path)
    assert changed != before

    stamp = tmp_path / "_build" / ".book-inputs"
    assert main(["check", str(stamp)]) == 1  # no earlier build
    assert main(["write", str(stamp)]) == 0
    assert main(["check", str(stamp)]) == 0
    stamp.write_text("0" * 64)
    assert main(["check", str(stamp)]) == 1
    assert main(["bogus"]) == 2
