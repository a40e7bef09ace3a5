"""Sphinx extension of the book: each script tag once per page.

sphinx-thebe 0.3.1 registers its inline configuration script (``const THEBE_JS_URL = ...``) once in
the registry and once on the builder, so Sphinx 7 writes it twice and the browser throws
"Identifier 'THEBE_JS_URL' has already been declared" on every page. The two copies differ only in
how they name "no file" (``None`` in one, ``""`` in the other), so they are compared with that
normalised: same file, priority and attributes (the inline body included) is the same script.
"""

from __future__ import annotations


def _script_key(script) -> tuple:
    return (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))


def unique_scripts(scripts: list) -> list:
    """The scripts in page order, each equal script kept once (the first)."""
    seen, kept = set(), []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    return kept


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    if "script_files" in context:
        context["script_files"] = unique_scripts(context["script_files"])


def setup(app):
    app.connect("html-page-context", _drop_duplicate_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
