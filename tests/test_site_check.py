"""`make site-check` on a tiny hand-written site: every kind of problem is reported, a clean page passes.

The link, anchor and text checks read HTML and need no browser. The layout and console checks run in
headless Chromium when chromium and chromedriver are installed (Debian: apt-get install chromium
chromium-driver) and are skipped otherwise; the test never installs anything.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from fedlib import site_check
from fedlib.site_check import Report, main, pages_from_toc, parse_page, scan_text, static_check, toc_files

ROOT = Path(__file__).resolve().parent.parent
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5Erk"
                       "Jggg==")


def page(title: str, body: str, css: str = "style.css") -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="stylesheet" href="{css}"></head>
<body><main><article class="bd-article"><section id="top-section"><h1>{title}</h1>
{body}
</section></article></main></body></html>
"""


def wide_table(table_id: str) -> str:
    cells = "".join(f"<td>value-{i:03d}</td>" for i in range(60))
    return f'<table id="{table_id}"><tr>{cells}</tr></table>'


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "html"
    (root / "sub").mkdir(parents=True)
    (root / "_static").mkdir()
    (root / "style.css").write_text("body { margin: 0 } article { max-width: 760px; margin: 0 auto; padding: 0 8px }"
                                    " td { white-space: nowrap } pre { overflow-x: auto }")
    (root / "_static" / "custom.css").write_text((ROOT / "_static" / "custom.css").read_text())
    (root / "dot.png").write_bytes(PNG)
    (root / "clean.html").write_text(page("Clean", """
<p>See <a href="broken.html">the broken page</a>, <a href="#top-section">this section</a>,
<a href="sub/">the sub-folder</a> and <a href="https://example.org/paper">the paper</a>.
A nano banana for Nancy; 12 nanoseconds.</p>
<img src="dot.png" alt="a dot" width="40" height="40">
<div class="cell"><div class="cell_input"><div class="highlight-ipython3"><pre>x = float("nan")</pre></div></div>
<div class="cell_output"><div class="output text_html"><table><tr><th>arm</th><th>accuracy</th></tr>
<tr><td>prompt</td><td>0.71</td></tr></table></div></div></div>
<div class="highlight-python"><pre>np.nan  # a literal code block is source, not output</pre></div>"""))
    (root / "sub" / "index.html").write_text(page("Sub", '<p><a href="../clean.html#top-section">back</a></p>',
                                                  css="../style.css"))
    (root / "broken.html").write_text(page("Broken", """
<p><a href="missing.html">a page that is not there</a>, <a href="clean.html#nowhere">an anchor that is not
there</a>, <a href="clean.html#top-section">a good one</a>.</p>
<img src="gone.png" alt="a missing figure">
<script>console.error("boom from the page")</script>"""))
    (root / "nan.html").write_text(page("Not a number", """
<div class="cell_output"><div class="output text_html"><table><tr><th>lang</th><th>acc</th></tr>
<tr><td>hau</td><td>NaN</td></tr><tr><td>swh</td><td>0.5</td></tr></table></div>
<div class="output stream highlight-myst-ansi"><pre><span class="ansi-red-fg">Traceback</span> (most recent call last):
  File "x.py", line 1, in &lt;module&gt;
ZeroDivisionError: division by zero</pre></div></div>"""))
    (root / "wide.html").write_text(page("Wide", f"""
<div class="cell_output"><div class="output text_html">{wide_table("wide")}</div></div>
<div style="overflow-x: auto">{wide_table("scrolled")}</div>
<p>Prose with <code style="white-space: nowrap">{"an_unbreakable_identifier_" * 6}</code> in it.</p>"""))
    (root / "fixed.html").write_text(page("Fixed by the project's CSS", f"""
<div class="cell_output"><div class="output text_html">{wide_table("fixed")}</div></div>
<img src="dot.png" alt="a big dot" width="3000" height="20">""", css="_static/custom.css"))
    return root


def kinds(report_problems, page_name):
    return sorted((p.kind, p.element) for p in report_problems if p.page == page_name)


def test_links_anchors_and_text_are_checked_without_a_browser(site):
    pages = site_check.html_pages(site)
    assert pages == ["broken.html", "clean.html", "fixed.html", "nan.html", "sub/index.html", "wide.html"]
    report = Report(pages=pages)
    static_check(site, pages, report)

    assert kinds(report.problems, "broken.html") == [
        ("anchor", "<a> clean.html#nowhere"), ("image", "<img> gone.png"), ("link", "<a> missing.html")]
    nan_page = [p for p in report.problems if p.page == "nan.html"]
    assert [p.kind for p in nan_page] == ["text", "text"]
    assert "NaN in the text" in nan_page[0].detail and nan_page[0].element.startswith("table")
    assert "traceback" in nan_page[1].detail
    for clean in ("clean.html", "sub/index.html", "wide.html", "fixed.html"):
        assert kinds(report.problems, clean) == [], clean
    assert report.external_links == {"https://example.org/paper": ["clean.html"]}


def test_nan_is_a_word_and_source_code_is_not_read(tmp_path):
    path = tmp_path / "p.html"
    path.write_text(page("p", """<p>nano, banana, Nancy, NaNa, finance</p><p>loss nan%</p><p>x: NaN</p>
<div class="cell_input"><pre>nan NaN</pre></div><script>var a = NaN;</script>
<table><tr><td>1.0</td><td>NaN</td></tr></table>"""))
    hits = scan_text("p.html", parse_page(path))
    assert [h.element for h in hits] == ["text in #top-section", "text in #top-section", "table in #top-section"]


def test_the_toc_names_the_pages_and_a_missing_page_is_a_problem(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: book/intro\nparts:\n  - caption: A\n    chapters:\n"
                   "      - file: notebooks/01\n        sections:\n          - file: notebooks/01b\n"
                   "      - file: book/refs.md\n")
    assert toc_files(toc) == ["book/intro", "notebooks/01", "notebooks/01b", "book/refs.md"]
    site = tmp_path / "html"
    for name in ("book/intro", "notebooks/01", "book/refs"):
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / f"{name}.html").write_text(page(name, ""))
    pages, missing = pages_from_toc(toc, site)
    assert pages == ["book/intro.html", "notebooks/01.html", "book/refs.html"]
    assert [(p.page, p.kind) for p in missing] == [("notebooks/01b.html", "page")]


def test_no_browser_mode_exits_1_and_lists_the_problems(site, capsys, tmp_path):
    assert main([str(site), "--no-browser", "--report", str(tmp_path / "r.json")]) == 1
    out = capsys.readouterr().out
    assert "broken.html [html] link: <a> missing.html" in out
    assert "broken.html: 3 problem(s)" in out
    assert json.loads((tmp_path / "r.json").read_text())["problems"]


def test_a_missing_site_is_a_usage_error(tmp_path):
    assert main([str(tmp_path / "nothing"), "--no-browser"]) == 2


@pytest.mark.skipif(site_check.find_browser() is None,
                    reason="chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
def test_in_headless_chromium_layout_and_console_problems_are_found(site, tmp_path, capsys):
    pytest.importorskip("selenium")
    shots, report_path = tmp_path / "shots", tmp_path / "report.json"
    assert main([str(site), "--screenshots", str(shots), "--report", str(report_path), "--no-install"]) == 1
    out = capsys.readouterr().out
    report = json.loads(report_path.read_text())
    problems = report["problems"]

    def where(page_name, viewport):
        return [(p["kind"], p["element"]) for p in problems if p["page"] == page_name and p["viewport"] == viewport]

    for viewport in ("1280", "390"):
        # the unwrapped table overflows the column; the one in an overflow-x: auto box is fine
        layout = [element for kind, element in where("wide.html", viewport) if kind == "layout"]
        assert any(e.startswith("table#wide") for e in layout), layout
        assert not any("scrolled" in e for e in layout), layout
        # the project's _static/custom.css makes a wide output table scroll and shrinks a big figure
        assert where("fixed.html", viewport) == []
        assert where("clean.html", viewport) == [] and where("sub/index.html", viewport) == []
        assert any(k == "console" for k, _ in where("broken.html", viewport))
    assert "wide.html [1280] layout: table#wide" in out
    for viewport in ("1280", "390"):  # the column overflows with prose too, and the report names the culprit
        assert any(p["element"].startswith("article") and "code" in p["detail"] for p in problems
                   if p["page"] == "wide.html" and p["viewport"] == viewport)
    broken = [(p["viewport"], p["kind"]) for p in problems if p["page"] == "broken.html"]
    assert sorted(broken) == [("1280", "console"), ("390", "console"), ("html", "anchor"), ("html", "image"),
                              ("html", "link")]
    assert any("boom from the page" in p["detail"] for p in problems)
    notes = {(n["page"], n["element"].split(" ")[0]) for n in report["notes"] if n["kind"] == "scrolls"}
    assert ("wide.html", "table#scrolled") in notes and ("fixed.html", "table#fixed") in notes
    assert sorted(p.name for p in shots.rglob("*.png")) == sorted(
        f"{name}-{w}.png" for name in ("broken", "clean", "fixed", "nan", "index", "wide") for w in (1280, 390))


def test_a_missing_browser_is_installed_with_apt_get_and_never_by_the_tests(monkeypatch):
    calls = []
    monkeypatch.setattr(site_check.shutil, "which", lambda name: f"/usr/bin/{name}" if name in ("apt-get", "sudo")
                        or calls else None)
    monkeypatch.setattr(site_check.os, "geteuid", lambda: 1000)
    done = site_check.subprocess.CompletedProcess
    monkeypatch.setattr(site_check.subprocess, "run", lambda command, env: calls.append(command) or done(command, 0))
    assert site_check.install_browser() == ("/usr/bin/chromium", "/usr/bin/chromedriver")
    assert calls == [["sudo", "-n", "apt-get", "update", "-qq"],
                     ["sudo", "-n", "apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium",
                      "chromium-driver"]]
    calls.clear()
    assert site_check.find_browser() is None
    with pytest.raises(RuntimeError, match="--no-install"):
        site_check.run(Path("."), [], install=False)
