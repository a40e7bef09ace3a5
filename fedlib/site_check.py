"""A real-browser check of the built book: what a reader would see go wrong on a page.

``make site-check`` builds the book (``make book``, from the execution cache) and runs

    python -m fedlib.site_check _build/html --toc _toc.yml

which opens every page the table of contents builds in headless Chromium (driven by selenium) at
1280 and 390 px wide and exits 1, listing page, viewport and element, when

* a table, figure (``img``, ``svg``) or notebook output (``.cell_output``) is wider than the main content
  column or makes the page scroll sideways. A table inside an ``overflow-x: auto`` box (the fix in
  ``_static/custom.css``) scrolls in place: that is fine, and only noted;
* the text shows ``NaN`` / ``nan`` as a word or a Python traceback (source code cells are not read);
* an internal link, image or stylesheet names a file that is not in the site, or a ``#fragment`` that
  is no id of its target page; a browser finds an image it cannot decode;
* the browser console logs an error (level SEVERE).

External http(s) links are collected in the report, never fetched: the check runs offline, and the
browser resolves no host but 127.0.0.1 (an external script or font that fails to load is noted, not
counted). Pages are served from a loopback HTTP server, as a reader's browser would get them. A
full-page screenshot of each page and width goes to ``_build/screenshots/<page>-<width>.png`` and the
findings to ``_build/site-check.json``.

Chromium and its driver come from the Debian packages ``chromium`` and ``chromium-driver``; when they
are missing the check installs them with apt-get (as root, or through passwordless sudo) unless
``--no-install`` is given. ``--no-browser`` runs only the checks that need no browser (links, anchors,
text). Exit status: 0 clean, 1 problems found, 2 the check could not run.

It lives in the library's entry-point layer so that ``ruff`` and the test suite cover it; the price is
that editing it changes ``fedlib.book_inputs``'s fingerprint, so the next ``make book`` re-executes.
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

WIDTHS = (1280, 390)
HEIGHT = 900
TOLERANCE_PX = 2
MAX_SCREENSHOT_HEIGHT = 32000
SKIPPED_DIRS = {"_static", "_sources", "_images", "_downloads"}
SKIPPED_PAGES = {"genindex.html", "search.html", "py-modindex.html"}
APT_PACKAGES = ("chromium", "chromium-driver")

NAN = re.compile(r"\b(?:NaN|nan)\b")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)")


@dataclass(frozen=True)
class Problem:
    page: str  # path inside the site, e.g. notebooks/03_news_classification.html
    viewport: str  # "1280", "390", or "html" for what is read from the file
    kind: str  # layout, link, anchor, image, text, console, page
    element: str  # what on the page: an element, a URL, a piece of text
    detail: str

    def line(self) -> str:
        return f"{self.page} [{self.viewport}] {self.kind}: {self.element} -- {self.detail}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)  # fine, but worth knowing (tables that scroll)
    external_links: dict[str, list[str]] = field(default_factory=dict)  # URL -> pages linking it
    screenshots: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "pages": self.pages,
            "problems": [asdict(p) for p in self.problems],
            "notes": [asdict(p) for p in self.notes],
            "external_links": self.external_links,
            "screenshots": self.screenshots,
            "seconds": round(self.seconds, 1),
        }


# --- which pages ---------------------------------------------------------------------------------


def html_pages(site: Path) -> list[str]:
    """Every HTML page of a built site, less Sphinx's own (index, search) and its asset folders."""
    pages = []
    for path in sorted(site.rglob("*.html")):
        rel = path.relative_to(site)
        if rel.parts[0] in SKIPPED_DIRS or rel.as_posix() in SKIPPED_PAGES:
            continue
        pages.append(rel.as_posix())
    return pages


def toc_files(toc: Path) -> list[str]:
    """The files a Jupyter Book ``_toc.yml`` names (root, parts, chapters, nested sections), in order."""
    import yaml

    data = yaml.safe_load(toc.read_text())
    found: list[str] = [data["root"]] if data.get("root") else []

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                found.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in data.get("parts", []):
        walk(part.get("chapters"))
    walk(data.get("chapters"))
    walk(data.get("sections"))
    return found


def pages_from_toc(toc: Path, site: Path) -> tuple[list[str], list[Problem]]:
    """The HTML page of each TOC file; a TOC file without its page is a problem."""
    pages, problems = [], []
    for name in toc_files(toc):
        rel = re.sub(r"\.(md|ipynb|rst)$", "", name) + ".html"
        if (site / rel).is_file():
            pages.append(rel)
        else:
            problems.append(Problem(rel, "html", "page", rel, f"{toc.name} lists {name}; the site has no page for it"))
    return pages, problems


# --- what a page's HTML says ---------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
INLINE = {"a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "i", "kbd", "mark", "q", "s", "samp",
          "small", "span", "strong", "sub", "sup", "time", "u", "var", "wbr", "math", "mi", "mn", "mo"}
SKIP_TAGS = {"script", "style", "head", "noscript", "template"}
REF_ATTRS = {"a": ("href",), "link": ("href",), "img": ("src", "srcset"), "script": ("src",), "iframe": ("src",),
             "source": ("src", "srcset"), "video": ("src", "poster"), "audio": ("src",), "embed": ("src",),
             "object": ("data",)}


@dataclass
class PageInfo:
    ids: set[str]
    refs: list[tuple[str, str]]  # (tag, URL)
    text: str
    offsets: list[int]  # start offset of each text chunk ...
    places: list[str]  # ... and where it is (the nearest id around it, and whether in a table)

    def place_at(self, offset: int) -> str:
        i = bisect_right(self.offsets, offset) - 1
        return self.places[i] if i >= 0 else "page"


class _PageParser(HTMLParser):
    """Ids, references and the text a reader sees, leaving out scripts, styles and source code."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.refs: list[tuple[str, str]] = []
        self.stack: list[tuple[str, str | None, bool, bool]] = []  # (tag, id, skipped, output)
        self.parts: list[str] = []
        self.offsets: list[int] = []
        self.places: list[str] = []
        self.length = 0

    def _skipping(self) -> bool:
        return bool(self.stack) and self.stack[-1][2]

    def _place(self) -> str:
        near = next((i for _, i, _, _ in reversed(self.stack) if i), None)
        in_table = any(t in ("table", "td", "th") for t, _, _, _ in self.stack)
        return ("table" if in_table else "text") + (f" in #{near}" if near else "")

    def _emit(self, text: str):
        if not text:
            return
        self.offsets.append(self.length)
        self.places.append(self._place())
        self.parts.append(text)
        self.length += len(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for key in ("id",) + (("name",) if tag == "a" else ()):
            if attributes.get(key):
                self.ids.add(attributes[key])
        for attr in REF_ATTRS.get(tag, ()):
            value = attributes.get(attr)
            if not value:
                continue
            if attr == "srcset":
                self.refs += [(tag, item.split()[0]) for item in value.split(",") if item.strip()]
            elif not (tag == "link" and attributes.get("rel") in ("preconnect", "dns-prefetch")):
                self.refs.append((tag, value))
        if tag in VOID:
            if tag not in INLINE:
                self._emit("\n")
            return
        classes = (attributes.get("class") or "").split()
        parent_skip = self._skipping()
        output = (bool(self.stack) and self.stack[-1][3]) or "cell_output" in classes or "output" in classes
        code_block = any(c.startswith("highlight-") for c in classes) and not output
        skipped = parent_skip or tag in SKIP_TAGS or "cell_input" in classes or code_block
        if tag not in INLINE and not parent_skip:
            self._emit("\n")
        self.stack.append((tag, attributes.get("id"), skipped, output))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_endtag(self, tag):
        if not any(t == tag for t, _, _, _ in self.stack):
            return  # a stray end tag
        while self.stack:
            popped = self.stack.pop()
            if popped[0] == tag:
                break
        if tag not in INLINE and not self._skipping():
            self._emit("\n")

    def handle_data(self, data):
        if not self._skipping():
            self._emit(data)


def parse_page(path: Path) -> PageInfo:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    return PageInfo(parser.ids, parser.refs, "".join(parser.parts), parser.offsets, parser.places)


def scan_text(page: str, info: PageInfo) -> list[Problem]:
    """``NaN``/``nan`` as a word and Python tracebacks in a page's visible text, with where they are."""
    problems = []
    for pattern, what in ((NAN, "NaN in the text"), (TRACEBACK, "a Python traceback")):
        for match in pattern.finditer(info.text):
            start, end = match.span()
            context = " ".join(info.text[max(0, start - 40):end + 40].split())
            problems.append(Problem(page, "html", "text", info.place_at(start), f"{what}: ...{context}..."))
    return problems


def _resolve(site: Path, page: str, url: str) -> tuple[Path, str] | None:
    """The file and fragment an internal URL of ``page`` points to; None when it points outside the site."""
    parts = urlsplit(url)
    fragment = unquote(parts.fragment)
    if not parts.path:
        return site / page, fragment
    target = (site / page).parent / unquote(parts.path)
    if parts.path.endswith("/"):
        target = target / "index.html"
    target = Path(os.path.normpath(target))
    if not target.is_relative_to(site):
        return None
    return target, fragment


def check_links(site: Path, pages: list[str], report: Report, parsed: dict[str, PageInfo]) -> None:
    """Every internal href/src of the pages exists, and so does every #fragment in its target page."""
    site = site.resolve()

    def info_of(path: Path) -> PageInfo:
        key = path.relative_to(site).as_posix()
        if key not in parsed:
            parsed[key] = parse_page(path)
        return parsed[key]

    for page in pages:
        missing_seen = set()
        for tag, url in info_of(site / page).refs:
            parts = urlsplit(url.strip())
            if parts.scheme in ("http", "https") or url.startswith("//"):
                report.external_links.setdefault(url, [])
                if page not in report.external_links[url]:
                    report.external_links[url].append(page)
                continue
            if parts.scheme or url.strip() in ("", "#"):
                continue  # mailto:, data:, javascript:, the theme's "#" toggles
            kind = "image" if tag in ("img", "source", "video") else "link"
            resolved = _resolve(site, page, url.strip())
            if resolved is None:
                report.problems.append(Problem(page, "html", kind, f"<{tag}> {url}", "points outside the site"))
                continue
            target, fragment = resolved
            if not target.is_file():
                if (tag, url) not in missing_seen:
                    missing_seen.add((tag, url))
                    report.problems.append(Problem(page, "html", kind, f"<{tag}> {url}",
                                                   f"no file {target.relative_to(site).as_posix()}"))
                continue
            if fragment and target.suffix == ".html" and fragment != "top" and fragment not in info_of(target).ids:
                if (tag, url) not in missing_seen:
                    missing_seen.add((tag, url))
                    report.problems.append(Problem(page, "html", "anchor", f"<{tag}> {url}",
                                                   f"{target.relative_to(site).as_posix()} has no id {fragment!r}"))


def static_check(site: Path, pages: list[str], report: Report) -> dict[str, PageInfo]:
    parsed: dict[str, PageInfo] = {}
    check_links(site, pages, report, parsed)
    for page in pages:
        report.problems += scan_text(page, parsed[page])
    return parsed


# --- the browser ---------------------------------------------------------------------------------

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver) executables when both are installed."""
    browser = next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def install_browser() -> tuple[str, str]:
    """apt-get install chromium chromium-driver (as root or via passwordless sudo), then find them."""
    if shutil.which("apt-get") is None:
        raise RuntimeError("chromium and chromedriver are missing and there is no apt-get to install them")
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise RuntimeError("chromium is missing; install it as root: apt-get install " + " ".join(APT_PACKAGES))
        prefix = ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("site-check: installing " + " ".join(APT_PACKAGES) + " with apt-get", flush=True)
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *APT_PACKAGES]):
        done = subprocess.run(prefix + command, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(prefix + command)} failed with status {done.returncode}")
    found = find_browser()
    if found is None:
        raise RuntimeError("apt-get installed " + " ".join(APT_PACKAGES) + " but chromium/chromedriver are not on PATH")
    return found


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@functools.cache
def _layout_script() -> str:
    return r"""
const TOL = arguments[0], VIEWPORT = arguments[1];  // the emulated width
const col = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
const colRect = col.getBoundingClientRect();
const colWidth = col.clientWidth;
const px = v => Math.round(v);
function describe(el) {
  let s = el.tagName.toLowerCase();
  if (el.id) s += '#' + el.id;
  const cls = (typeof el.className === 'string' ? el.className : (el.getAttribute('class') || ''))
    .split(/\s+/).filter(Boolean).slice(0, 3);
  if (cls.length) s += '.' + cls.join('.');
  if (el.tagName === 'IMG') s += ' ' + (el.getAttribute('src') || '').split('/').pop();
  if (el.tagName === 'TABLE') {
    const head = (el.querySelector('tr') || el).innerText.replace(/\s+/g, ' ').trim().slice(0, 50);
    if (head) s += ' "' + head + '"';
  }
  const section = el.closest('section[id]');
  if (section) s += ' in #' + section.id;
  return s;
}
function clipper(el) {  // the nearest box from el up to the column that does not let content spill
  for (let a = el; a && a !== col && a !== document.body; a = a.parentElement) {
    const ox = getComputedStyle(a).overflowX;
    if (ox !== 'visible') return [a, ox];
  }
  return [null, null];
}
const problems = [], notes = [], flagged = [];
const els = col.querySelectorAll('img, svg, table, .cell_output');
for (const el of els) {
  if (el.tagName.toLowerCase() === 'svg' && el.ownerSVGElement) continue;
  const r = el.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue;
  const own = (el instanceof HTMLElement) ? el.scrollWidth : r.width;
  const width = Math.max(r.width, own);
  const [box, ox] = clipper(el);
  if (box) {
    const br = box.getBoundingClientRect();
    const inner = box === el ? el.scrollWidth > el.clientWidth + TOL
                             : (r.right > br.right + TOL || r.width > box.clientWidth + TOL);
    if (inner && (ox === 'hidden' || ox === 'clip')) {
      problems.push([el, `${px(width)} px of content cut off to ${px(box.clientWidth)} px by overflow-x: ${ox} on ` +
                         describe(box)]);
      flagged.push(el);
    } else if (inner) {
      notes.push([el, `${px(width)} px wide, scrolls sideways in a ${px(box.clientWidth)} px box (${describe(box)})`]);
    }
    if (br.right > colRect.right + TOL || br.width > colWidth + TOL) {
      problems.push([el, `its scroll box ${describe(box)} is ${px(br.width)} px wide, the column ${colWidth} px`]);
      flagged.push(el);
    }
  } else if (width > colWidth + TOL || r.right > colRect.right + TOL || r.left < colRect.left - TOL) {
    problems.push([el, `${px(width)} px wide in a ${colWidth} px column (overflows by ${px(width - colWidth)} px)`]);
    flagged.push(el);
  }
}
// Report the innermost culprit: an output block is dropped when a table or figure inside it is reported.
const keep = problems.filter(([el]) => !flagged.some(o => o !== el && el.contains(o)));
const out = keep.map(([el, msg]) => ['layout', describe(el), msg, '']);
function right(el) {  // how far right an element or its unclipped content reaches
  const r = el.getBoundingClientRect();
  const ox = getComputedStyle(el).overflowX;
  return (ox === 'visible' && el.scrollWidth) ? Math.max(r.right, r.left + el.scrollWidth) : r.right;
}
let colReported = false;
function culprits(limitRight, root) {  // the innermost elements reaching past limitRight, less those reported
  const found = [];
  for (const el of root.querySelectorAll('*')) {
    if (colReported && col.contains(el)) continue;
    if (right(el) <= limitRight + TOL || el.getBoundingClientRect().width === 0) continue;
    if (flagged.some(f => f.contains(el) || el.contains(f))) continue;
    if (clipper(el)[0] && clipper(el)[0] !== el) continue;
    if ([...el.children].some(c => right(c) > limitRight + TOL)) continue;
    found.push(describe(el) + ` (reaches ${px(right(el))} px)`);
    if (found.length >= 3) break;
  }
  return found;
}
if (col.scrollWidth > col.clientWidth + TOL) {
  const widest = culprits(colRect.right, col);
  if (widest.length || !keep.length) {
    out.push(['layout', describe(col), `the content column scrolls: ${col.scrollWidth} px of content in ` +
              `${col.clientWidth} px; widest: ${widest.join('; ') || 'unknown'}`, '']);
    colReported = true;
  }
}
const docWidth = document.documentElement.scrollWidth;
if (docWidth > VIEWPORT + TOL) {
  const widest = culprits(VIEWPORT, document.body);
  if (widest.length || !out.length) {
    out.push(['layout', 'page', `the page scrolls sideways: ${docWidth} px wide in a ${VIEWPORT} px ` +
              `viewport; widest: ${widest.join('; ') || 'unknown'}`, '']);
  }
}
for (const img of document.images) {
  if (img.complete && img.naturalWidth === 0 && /^https?:\/\/127\.0\.0\.1/.test(img.currentSrc || img.src)) {
    out.push(['image', describe(img), 'the browser could not load or decode it', img.getAttribute('src') || '']);
  }
}
return {problems: out, notes: notes.map(([el, msg]) => [describe(el), msg])};
"""


SETTLE_SCRIPT = """
const done = arguments[arguments.length - 1];
(document.fonts ? document.fonts.ready : Promise.resolve())
  .then(() => requestAnimationFrame(() => requestAnimationFrame(() => done(true))));
"""


def _page_name(page: str) -> str:
    return re.sub(r"\.html$", "", page)


def browser_check(site: Path, pages: list[str], report: Report, widths=WIDTHS, screenshots: Path | None = None,
                  executables: tuple[str, str] | None = None) -> None:
    """Load every page at every width in headless Chromium: layout, broken images, console, screenshots."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = executables or find_browser() or (None, None)
    if browser is None:
        raise RuntimeError("chromium/chromedriver not found")
    handler = functools.partial(_QuietHandler, directory=str(site.resolve()))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-extensions", "--no-first-run", "--hide-scrollbars", "--mute-audio",
                # offline by construction: no host resolves but the loopback server
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                f"--window-size={max(widths)},{HEIGHT}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(30)
    try:
        for width in widths:
            _viewport(driver, width, HEIGHT)
            for page in pages:
                _check_one(driver, base, page, str(width), report, screenshots)
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()


def _viewport(driver, width: int, height: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def _check_one(driver, base: str, page: str, viewport: str, report: Report, screenshots: Path | None) -> None:
    driver.get(base + page)
    try:
        driver.execute_async_script(SETTLE_SCRIPT)
    except Exception:  # a page whose fonts never settle is still checked
        pass
    found = driver.execute_script(_layout_script(), TOLERANCE_PX, int(viewport))
    static = {p.element for p in report.problems if p.page == page and p.viewport == "html"}
    for kind, element, detail, src in found["problems"]:
        if kind == "image" and f"<img> {src}" in static:
            continue  # a missing file, already reported from the HTML
        report.problems.append(Problem(page, viewport, kind, element, f"{detail}: {src}" if src else detail))
    report.notes += [Problem(page, viewport, "scrolls", element, detail) for element, detail in found["notes"]]
    missing = {urljoin(base + page, e.split("> ", 1)[1].split("#")[0]) for e in static if e.startswith("<")}
    for entry in driver.get_log("browser"):
        if entry.get("level") != "SEVERE":
            continue
        message = entry.get("message", "")
        url = message.split(" ", 1)[0]
        if url.startswith(("http://", "https://")) and not url.startswith(base):
            if "net::ERR_" in message:
                report.notes.append(Problem(page, viewport, "offline", url, "external resource not loaded (offline)"))
                continue
        elif url in missing or url == base + "favicon.ico":
            continue  # the missing file is reported from the HTML; Chromium asks for a favicon no page names
        report.problems.append(Problem(page, viewport, "console", entry.get("source", "console"), message))
    if screenshots is not None:
        height = driver.execute_script("return Math.max(document.documentElement.scrollHeight, "
                                       "document.body ? document.body.scrollHeight : 0)")
        # A viewport as tall as the page, not captureBeyondViewport: that mode drew some long pages
        # shifted sideways (the sidebar and the start of every line off the left edge).
        _viewport(driver, int(viewport), min(height, MAX_SCREENSHOT_HEIGHT))
        try:
            shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        finally:
            _viewport(driver, int(viewport), HEIGHT)
        target = screenshots / f"{_page_name(page)}-{viewport}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(shot["data"]))
        report.screenshots.append(target.as_posix())


# --- the command ---------------------------------------------------------------------------------


def run(site: Path, pages: list[str], *, browser: bool = True, install: bool = True, widths=WIDTHS,
        screenshots: Path | None = None) -> Report:
    started = time.monotonic()
    report = Report(pages=list(pages))
    static_check(site, pages, report)
    if browser:
        executables = find_browser()
        if executables is None:
            if not install:
                raise RuntimeError("chromium/chromedriver not found (apt-get install " + " ".join(APT_PACKAGES)
                                   + "), and --no-install was given")
            executables = install_browser()
        browser_check(site, pages, report, widths, screenshots, executables)
    report.seconds = time.monotonic() - started
    return report


def format_report(report: Report) -> str:
    lines = []
    by_page: dict[str, list[Problem]] = {}
    for problem in report.problems:
        by_page.setdefault(problem.page, []).append(problem)
    for page, problems in by_page.items():
        counts = {}
        for p in problems:
            counts[p.kind] = counts.get(p.kind, 0) + 1
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
        lines.append(f"{page}: {len(problems)} problem(s) ({summary})")
        lines += ["  " + p.line() for p in problems]
    scrolls = [n for n in report.notes if n.kind == "scrolls"]
    offline = sorted({n.element for n in report.notes if n.kind == "offline"})
    lines.append(f"site-check: {len(report.pages)} pages, {len(report.problems)} problem(s) on {len(by_page)} page(s); "
                 f"{len(scrolls)} wide element(s) scroll in place; {len(report.external_links)} external links "
                 f"collected, not fetched; {len(offline)} external resource(s) not loaded offline; "
                 f"{len(report.screenshots)} screenshots; {report.seconds:.1f} s")
    if offline:
        lines.append("  not loaded offline: " + ", ".join(offline))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fedlib.site_check", description=__doc__.split("\n")[0])
    parser.add_argument("site", nargs="?", default="_build/html", type=Path, help="built site (default _build/html)")
    parser.add_argument("--toc", type=Path, help="check the pages this _toc.yml builds (default: every HTML page "
                        "of the site less _static, _sources, genindex and search)")
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)), help="viewport widths in px (1280,390)")
    parser.add_argument("--screenshots", type=Path, help="folder for full-page screenshots (<page>-<width>.png)")
    parser.add_argument("--report", type=Path, help="write the findings as JSON here")
    parser.add_argument("--no-browser", action="store_true", help="only links, anchors and text; no Chromium")
    parser.add_argument("--no-install", action="store_true", help="never apt-get install a missing Chromium")
    args = parser.parse_args(argv)

    site = args.site
    if not (site / "index.html").is_file() and not any(site.glob("*.html")):
        print(f"site-check: no built site in {site} (run `make book`)", file=sys.stderr)
        return 2
    missing: list[Problem] = []
    if args.toc:
        pages, missing = pages_from_toc(args.toc, site)
    else:
        pages = html_pages(site)
    try:
        widths = tuple(int(w) for w in args.widths.split(","))
        report = run(site, pages, browser=not args.no_browser, install=not args.no_install, widths=widths,
                     screenshots=args.screenshots)
    except Exception as error:  # no browser, a driver that does not start: the check did not run
        if not isinstance(error, RuntimeError | ValueError) and not type(error).__module__.startswith("selenium"):
            raise
        print(f"site-check: {type(error).__name__}: {error}".strip(), file=sys.stderr)
        return 2
    report.problems[:0] = missing
    print(format_report(report))
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report.to_json(), indent=1) + "\n")
    return 1 if report.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
