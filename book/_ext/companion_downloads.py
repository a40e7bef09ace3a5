"""Sphinx extension of the book: every chapter downloadable as ``.ipynb``, the result artifacts too.

The chapters are MyST text notebooks; the theme's download menu offers ``.ipynb`` only when a page
names one (``ipynb_source``), which MyST-NB does not do for text notebooks. So each chapter is
written as a notebook (jupytext, without outputs: a reader runs it) next to the page sources, and
the committed ``results/`` folder is copied into the site with one zip of it for the reproduce page.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

NOTEBOOK_PREFIX = "notebooks/"


def _is_chapter(app, docname: str) -> bool:
    return docname.startswith(NOTEBOOK_PREFIX) and (Path(app.srcdir) / f"{docname}.md").exists()


def _name_the_notebook(app, pagename, templatename, context, doctree):
    if _is_chapter(app, pagename):
        context["ipynb_source"] = f"{pagename}.ipynb"


def _write_downloads(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    import jupytext

    out = Path(app.outdir)
    for docname in sorted(app.env.found_docs):
        if _is_chapter(app, docname):
            target = out / "_sources" / f"{docname}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            jupytext.write(jupytext.read(Path(app.srcdir) / f"{docname}.md"), target, fmt="ipynb")
    results = Path(app.srcdir) / "results"
    if results.is_dir():
        copy = out / "results"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(results, copy, ignore=shutil.ignore_patterns("*.ckpt", "*.tmp"))
        with zipfile.ZipFile(out / "results.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(copy.rglob("*.json")):
                archive.write(path, Path("results") / path.relative_to(copy))


def setup(app):
    app.connect("html-page-context", _name_the_notebook)
    app.connect("build-finished", _write_downloads)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
