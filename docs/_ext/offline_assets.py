"""Sphinx extension of this documentation: MathJax and plotly.js served with the pages, so nothing needs a CDN.

MathJax 3 (SVG output with every TeX extension in one file, so no fonts or
extensions are fetched later) comes from the ``sphinx-mathjax-offline``
package, plotly.js from the ``plotly`` package; both are copied into the
built ``_static`` folder. plotly.js is loaded only on the pages that hold a
plotly figure (the tutorials' notebooks render figures as HTML that expects
it: see ``examples/spn_tutorials``).
"""

import shutil
from importlib.metadata import distribution
from pathlib import Path

MATHJAX = "mathjax/tex-svg-full.js"
PLOTLY_JS = "plotly.min.js"


def _sources():
    """``{path under _static: source file}``."""
    import plotly

    mathjax = distribution("sphinx-mathjax-offline").locate_file(f"sphinx-mathjax-offline/static/{MATHJAX}")
    return {MATHJAX: Path(str(mathjax)), PLOTLY_JS: Path(plotly.__file__).parent / "package_data" / PLOTLY_JS}


def copy_assets(app, exception):
    """Copies MathJax and plotly.js into the built ``_static`` folder."""
    if exception is not None or app.builder.format != "html":
        return
    for target, source in _sources().items():
        destination = Path(app.outdir) / "_static" / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)


def load_plotly(app, pagename, templatename, context, doctree):
    """Loads plotly.js in the ``<head>`` of the pages that hold a plotly figure.

    The theme puts the registered scripts at the end of the body, after the
    figures' inline scripts that call ``Plotly.newPlot``, so plotly.js goes
    into the head through the page's meta tags instead.
    """
    if "plotly-graph-div" in context.get("body", ""):
        src = context["pathto"](f"_static/{PLOTLY_JS}", 1)
        context["metatags"] = context.get("metatags", "") + f'\n<script src="{src}"></script>'


def setup(app):
    app.config.mathjax_path = MATHJAX
    app.connect("html-page-context", load_plotly)
    app.connect("build-finished", copy_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
