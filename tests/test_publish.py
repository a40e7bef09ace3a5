"""`make publish` pushes the built site to gh-pages with ghp-import; the Pages workflow builds and deploys it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix)  # the environment running the tests, which has ghp-import (a dev dependency)

pytestmark = pytest.mark.skipif(not (shutil.which("git") and shutil.which("make")), reason="needs git and make")


def _git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60).stdout


def _publish(work: Path, build_dir: Path, remote: Path) -> subprocess.CompletedProcess:
    """`make publish` from a scratch repository, so the real one never gets a gh-pages branch.

    `-o STAMP` keeps make from reinstalling the environment when pyproject.toml is newer than it.
    """
    env = dict(os.environ, GIT_COMMITTER_NAME="fedlib test", GIT_COMMITTER_EMAIL="test@example.invalid")
    cmd = ["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), "-o", str(VENV / ".installed-stamp"),
           "publish", f"VENV={VENV}", f"BUILD_DIR={build_dir}", f"REMOTE={remote}"]
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture()
def scratch(tmp_path):
    remote, work = tmp_path / "remote.git", tmp_path / "work"
    _git("init", "-q", "--bare", str(remote))
    _git("init", "-q", str(work))
    site = tmp_path / "html"
    (site / "_static").mkdir(parents=True)
    (site / "index.html").write_text("<html><body>fedlib companion</body></html>\n")
    (site / "_static" / "style.css").write_text("body {}\n")
    return work, site, remote


def test_publish_pushes_the_site_to_gh_pages(scratch):
    work, site, remote = scratch
    result = _publish(work, site, remote)
    assert result.returncode == 0, result.stdout + result.stderr
    files = _git("--git-dir", str(remote), "ls-tree", "-r", "--name-only", "gh-pages").split()
    assert {"index.html", ".nojekyll", "_static/style.css"} <= set(files)
    assert "fedlib companion" in _git("--git-dir", str(remote), "show", "gh-pages:index.html")

    (site / "index.html").write_text("<html><body>second build</body></html>\n")  # a rebuild publishes again
    result = _publish(work, site, remote)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "second build" in _git("--git-dir", str(remote), "show", "gh-pages:index.html")


def test_publish_refuses_without_a_built_site(scratch):
    work, site, remote = scratch
    (site / "index.html").unlink()
    result = _publish(work, site, remote)
    assert result.returncode != 0
    assert "run make book first" in result.stderr
    assert "gh-pages" not in _git("--git-dir", str(remote), "branch", "--list")


def test_ghp_import_is_a_dev_dependency_in_both_environment_files():
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    pinned = [d for d in dev if re.match(r"ghp-import\b", d)]
    assert pinned, "pyproject's dev dependencies lack ghp-import"
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert pinned[0] in pip_section


def test_repository_url_is_a_setting_without_a_placeholder():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config.get("repository", {}).get("url", "")
    assert "example" not in url
    # Jupyter Book fills in its own repository when the key is absent, so it stays, empty until set.
    assert "url" in config.get("repository", {})
    if not url:
        assert not any(config.get("html", {}).get(b) for b in ("use_repository_button", "use_issues_button",
                                                                 "use_edit_page_button"))


def test_pages_workflow_builds_and_deploys_the_book():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    jobs = workflow["jobs"]
    steps = [step for job in jobs.values() for step in job["steps"]]
    uses = [step.get("uses", "").split("@")[0] for step in steps]
    for action in ("actions/checkout", "actions/setup-python", "actions/upload-pages-artifact", "actions/deploy-pages"):
        assert action in uses, action
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
    assert str(python["with"]["python-version"]) == "3.11"
    assert any("make book" in step.get("run", "") for step in steps)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"].rstrip("/") == "_build/html"
    # build before upload before deploy
    order = [uses.index(a) for a in ("actions/checkout", "actions/upload-pages-artifact", "actions/deploy-pages")]
    assert order == sorted(order)
    assert any(job.get("permissions", {}).get("pages") == "write" for job in jobs.values()) or \
        workflow.get("permissions", {}).get("pages") == "write"
