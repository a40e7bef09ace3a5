"""The book's download extension: chapters as .ipynb next to the page sources, results copied and zipped."""

import importlib.util
import json
import types
import zipfile
from pathlib import Path

import nbformat

from fedlib.artifacts import artifact_links

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("companion_downloads", ROOT / "book" / "_ext" / "companion_downloads.py")
downloads = importlib.util.module_from_spec(spec)
spec.loader.exec_module(downloads)

CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter

```{code-cell} ipython3
print("hello")
```
"""


def _app(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    (src / "notebooks").mkdir(parents=True)
    (src / "notebooks" / "01_a.md").write_text(CHAPTER)
    (src / "book").mkdir()
    (src / "book" / "intro.md").write_text("# Intro\n")
    task = src / "results" / "cpu" / "nc_standin"
    task.mkdir(parents=True)
    (task / "run-s0-abc.json").write_text(json.dumps({"average": {"accuracy": 0.5}}))
    (task / "run-s1-def.json.ckpt").mkdir()  # a run in progress: not part of the site
    env = types.SimpleNamespace(found_docs={"notebooks/01_a", "book/intro"})
    return types.SimpleNamespace(srcdir=str(src), outdir=str(out), env=env,
                                 builder=types.SimpleNamespace(format="html")), out


def test_chapters_name_their_notebook_and_other_pages_do_not(tmp_path):
    app, _ = _app(tmp_path)
    chapter, page = {}, {}
    downloads._name_the_notebook(app, "notebooks/01_a", "page.html", chapter, None)
    downloads._name_the_notebook(app, "book/intro", "page.html", page, None)
    assert chapter == {"ipynb_source": "notebooks/01_a.ipynb"} and page == {}


def test_the_build_writes_notebooks_and_the_results_with_their_zip(tmp_path):
    app, out = _app(tmp_path)
    downloads._write_downloads(app, None)
    notebook = nbformat.read(out / "_sources" / "notebooks" / "01_a.ipynb", as_version=4)
    assert [c.cell_type for c in notebook.cells] == ["markdown", "code"]
    assert 'print("hello")' in notebook.cells[1].source
    assert not (out / "_sources" / "book" / "intro.ipynb").exists()
    assert (out / "results" / "cpu" / "nc_standin" / "run-s0-abc.json").exists()
    assert not (out / "results" / "cpu" / "nc_standin" / "run-s1-def.json.ckpt").exists()
    with zipfile.ZipFile(out / "results.zip") as archive:
        assert archive.namelist() == ["results/cpu/nc_standin/run-s0-abc.json"]


def test_a_failed_build_writes_nothing(tmp_path):
    app, out = _app(tmp_path)
    downloads._write_downloads(app, RuntimeError("build failed"))
    assert not out.exists()


def test_the_reproduce_page_links_every_artifact_and_the_zip(tmp_path, monkeypatch):
    monkeypatch.setenv("FEDLIB_RESULTS", str(tmp_path))
    (tmp_path / "cpu" / "xnli").mkdir(parents=True)
    (tmp_path / "cpu" / "xnli" / "xnli-federated-s0-abc.json").write_text("{}")
    links = artifact_links("cpu", site_root="..")
    assert 'href="../results.zip"' in links and 'href="../results/cpu/xnli/xnli-federated-s0-abc.json"' in links
