"""The book's script extension: sphinx-thebe's doubled inline script is written once, nothing else goes."""

import importlib.util
from pathlib import Path

from sphinx.builders.html._assets import _JavaScript

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("unique_scripts", ROOT / "book" / "_ext" / "unique_scripts.py")
scripts = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scripts)


def test_the_doubled_thebe_configuration_is_kept_once_and_distinct_scripts_stay():
    body = 'const THEBE_JS_URL = "https://unpkg.com/thebe@0.8.2/lib/index.js"'
    page = [_JavaScript("_static/jquery.js"), _JavaScript(None, body=body), _JavaScript("", body=body),
            _JavaScript("sphinx-thebe.js", **{"async": "async"}), _JavaScript("sphinx-thebe.js"),
            _JavaScript("_static/jquery.js", priority=200)]
    kept = scripts.unique_scripts(page)
    assert kept == [page[0], page[1], page[3], page[4], page[5]]


def test_the_book_loads_the_extension():
    assert "unique_scripts: book/_ext" in (ROOT / "_config.yml").read_text()
