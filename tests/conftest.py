"""Shared test set-up: the smoke profile, quiet progress bars, results and weights in temporary folders."""

import os
import tempfile

os.environ.setdefault("FEDLIB_PROFILE", "smoke")
os.environ.setdefault("FEDLIB_PROGRESS", "0")
# Trained weights of test runs never land in the user's cache (fedlib.model_store).
os.environ.setdefault("FEDLIB_MODELS", tempfile.mkdtemp(prefix="fedlib-test-models-"))

import pytest  # noqa: E402


@pytest.fixture()
def results_tmp(tmp_path, monkeypatch):
    """Write result artifacts into a temporary folder, never into the repo's results/."""
    monkeypatch.setenv("FEDLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("FEDLIB_MODELS", str(tmp_path / "models"))
    return tmp_path / "results"
