"""Shared test set-up: the smoke profile, quiet progress bars, results in a temporary folder."""

import os

os.environ.setdefault("FEDLIB_PROFILE", "smoke")
os.environ.setdefault("FEDLIB_PROGRESS", "0")

import pytest  # noqa: E402


@pytest.fixture()
def results_tmp(tmp_path, monkeypatch):
    """Write result artifacts into a temporary folder, never into the repo's results/."""
    monkeypatch.setenv("FEDLIB_RESULTS", str(tmp_path / "results"))
    return tmp_path / "results"
