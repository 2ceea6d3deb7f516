"""The built documentation in headless Chromium: every tutorial page shows pictures and no error, offline.

Slow: it builds the docs (executing every notebook) unless ``docs/_build/html``
is newer than every source file, or ``LIBSPN_KERAS_DOCS_HTML`` names an
already built HTML folder. Needs Debian's ``chromium`` package
(``apt-get install -y chromium``); skipped without it. With
``LIBSPN_KERAS_DOCS_SCREENSHOT=PATH`` the completion page is also saved as a
PNG screenshot at ``PATH``.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "docs" / "_build" / "html"
SOURCES = [ROOT / "docs", ROOT / "examples", ROOT / "libspn_keras"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NOTEBOOKS = sorted(path.stem for path in (ROOT / "docs" / "tutorials").glob("*.ipynb"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# The flags this machine's Chromium needs as root and without a network (see the machine notes).
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium: apt-get install -y chromium"),
]


def _newest_source():
    newest = 0.0
    for folder in SOURCES:
        for path in folder.rglob("*"):
            skipped = {"_build", "output", "__pycache__", ".ipynb_checkpoints"} & set(path.parts)
            if not skipped and path.is_file():
                newest = max(newest, path.stat().st_mtime)
    return newest


@pytest.fixture(scope="module")
def html_dir():
    """``docs/_build/html``, (re)built with warnings as errors unless it is newer than every source file."""
    if os.environ.get("LIBSPN_KERAS_DOCS_HTML"):
        return Path(os.environ["LIBSPN_KERAS_DOCS_HTML"])
    index = HTML / "tutorials" / "index.html"
    if not index.is_file() or index.stat().st_mtime < _newest_source():
        command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", str(HTML)]
        subprocess.run(command, cwd=ROOT, check=True, timeout=1800)
    return HTML


def chromium(*args, timeout=180):
    """Runs headless Chromium with a new, empty profile; returns its stdout."""
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


class Page(HTMLParser):
    """What the checks need from a page's DOM: images, scripts, svg elements, classes and text."""

    def __init__(self):
        super().__init__()
        self.images, self.sources, self.svg_classes, self.classes, self.text = [], [], [], [], []
        self.tags = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        self.classes += (attrs.get("class") or "").split()
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag in ("script", "img", "iframe") and attrs.get("src"):
            self.sources.append(attrs["src"])
        if tag == "link" and attrs.get("href") and attrs.get("rel") in ("stylesheet", "preload", "modulepreload"):
            self.sources.append(attrs["href"])
        if tag == "svg":
            self.svg_classes.append(attrs.get("class", ""))

    def handle_data(self, data):
        self.text.append(data)


def rendered(page_path):
    """The page's DOM after its scripts ran (plotly figures drawn, MathJax typeset), parsed."""
    dom = chromium("--virtual-time-budget=20000", "--dump-dom", page_path.as_uri())
    page = Page()
    page.feed(dom)
    return page


def png_images(page, page_path):
    """The ``<img>`` sources of the page that are non-empty PNG files of the build."""
    found = []
    for src in page.images:
        if src.startswith("data:image/png;base64,") and len(src) > 100:
            found.append(src[:40])
            continue
        target = (page_path.parent / unquote(urlparse(src).path)).resolve()
        if target.suffix == ".png" and target.is_file() and target.read_bytes()[:8] == PNG_MAGIC:
            if target.stat().st_size > 1000:
                found.append(target.name)
    return found


def test_every_tutorial_notebook_has_a_page():
    assert set(NOTEBOOKS) >= {
        "dgc_spn_digits",
        "image_completion",
        "sampling",
        "rat_spn_classification",
        "region_spns",
        "debd_density_estimation",
        "dynamic_spn",
        "coming_from_060",
    }


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_tutorial_page_shows_pictures_and_no_error(html_dir, name):
    page_path = html_dir / "tutorials" / f"{name}.html"
    page = rendered(page_path)
    pictures = png_images(page, page_path)
    plots = [c for c in page.svg_classes if "main-svg" in c]  # plotly draws into <svg class="main-svg">
    assert pictures or plots, f"{name}: no rendered picture"
    text = " ".join(page.text)
    assert "Traceback (most recent call last)" not in text, f"{name}: a cell raised"
    assert not [c for c in page.classes if c in ("traceback", "stderr")], f"{name}: an error or stderr output cell"
    # Everything the page loads is served with the docs: no CDN.
    remote = [src for src in page.sources if urlparse(src).scheme in ("http", "https")]
    assert not remote, f"{name} loads {remote}"


def test_region_page_embeds_the_interactive_network_and_typesets_math(html_dir):
    page = rendered(html_dir / "tutorials" / "region_spns.html")
    assert any("main-svg" in c for c in page.svg_classes), "the plotly figure was not drawn"
    # MathJax 3 (served from _static) replaces every formula by an <mjx-container> element.
    assert "mjx-container" in page.tags, "MathJax did not typeset the formulas"


def test_completion_page_screenshot(html_dir, tmp_path):
    path = tmp_path / "image_completion.png"
    page = html_dir / "tutorials" / "image_completion.html"
    chromium("--virtual-time-budget=20000", "--window-size=1280,7000", f"--screenshot={path}", page.as_uri())
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 50_000
    target = os.environ.get("LIBSPN_KERAS_DOCS_SCREENSHOT")
    if target:
        shutil.copyfile(path, target)
