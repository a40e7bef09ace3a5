"""Every chapter executes end to end on the smoke profile, so a broken chapter fails CI.

The chapters are MyST text notebooks; jupytext reads them and nbclient runs them in a fresh kernel
with ``FEDLIB_PROFILE=smoke`` and results written to a temporary folder.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
# Chapters plus the book pages that execute code (a kernelspec in their front matter).
CHAPTERS = sorted((ROOT / "notebooks").glob("*.md")) + sorted(
    page for page in (ROOT / "book").glob("*.md") if "kernelspec:" in page.read_text()[:400])


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_executes_on_smoke_profile(chapter, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDLIB_PROFILE", "smoke")
    monkeypatch.setenv("FEDLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("FEDLIB_PROGRESS", "0")
    notebook = jupytext.read(chapter)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(chapter.parent)}}).execute()
    errors = [out for cell in notebook.cells for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors


def test_there_are_chapters():
    assert len(CHAPTERS) >= 2
