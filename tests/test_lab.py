"""`make lab`: a Jupyter server with lab/jupyter_lab_config.py serves the MyST chapters as notebooks."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = "lab/jupyter_lab_config.py"  # the file `make lab` passes with --config
CHAPTER = "notebooks/03_news_classification.md"
START_TIMEOUT_S = 90  # a few seconds on a quiet machine; generous for a loaded one


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server and anything it started (its own process group)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def test_make_lab_uses_the_shared_config():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert f"jupyter lab --config={CONFIG}" in recipe
    assert "FEDLIB_PROFILE" not in recipe  # the profile stays as the user set it


@pytest.fixture()
def lab_server(tmp_path):
    pytest.importorskip("jupyter_server")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    # Keep the user's own Jupyter config and runtime files out of it (the environment's config still applies).
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--config={CONFIG}", "--no-browser", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy

    def get(path: str) -> dict:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                         headers={"Authorization": f"token {token}"})
        with opener.open(request, timeout=30) as response:
            return json.load(response)

    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                get("/api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab not up after {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
                time.sleep(0.25)
        yield get
    finally:
        _stop(proc)


def test_chapter_opens_as_a_notebook(lab_server):
    model = lab_server(f"/api/contents/{CHAPTER}?type=notebook&content=1")
    assert model["type"] == "notebook" and model["format"] == "json"
    notebook = model["content"]
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    text = (ROOT / CHAPTER).read_text()
    code = [cell["source"] for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert len(code) >= 3
    for source in code:
        first = next(line for line in source.splitlines() if line.strip())
        assert first in text  # the chapter's own code, not a text file wrapped in one cell
    markdown = [cell["source"] for cell in notebook["cells"] if cell["cell_type"] == "markdown"]
    assert markdown and not any("{code-cell}" in source for source in markdown)

    # Double-clicking a .md in JupyterLab opens it with jupytext's notebook viewer (a default, not forced).
    settings = lab_server("/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    viewers = settings["schema"]["properties"]["defaultViewers"]["default"]
    assert viewers["markdown"] == viewers["myst"] == "Jupytext Notebook"
