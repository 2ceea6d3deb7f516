"""Packaging for libspn-keras.

The version lives in ``libspn_keras/version.py``. It is read here by parsing
that file as text, so building a wheel never imports the package (and so never
imports TensorFlow).
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent


def read_version() -> str:
    """Return the ``__version__`` string assigned in ``libspn_keras/version.py``."""
    source = (HERE / "libspn_keras" / "version.py").read_text(encoding="utf-8")
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", source, re.MULTILINE)
    if match is None:
        raise RuntimeError("no __version__ assignment found in libspn_keras/version.py")
    return match.group(1)


INSTALL_REQUIRES = [
    "tensorflow>=2.16",
    "tensorflow-probability",
    "tf-keras",
    "numpy",
]

# The docs build executes the tutorial notebooks (myst-nb with an IPython kernel), which use the examples' extras
# and plotly; MathJax is served with the pages from sphinx-mathjax-offline's files, so math renders offline.
DOCS_REQUIRE = [
    "sphinx",
    "myst-nb",
    "jupyter-cache",  # scripts/execute_notebooks.py fills myst-nb's cache ahead of Sphinx
    "furo",
    "ipykernel",
    "sphinx-mathjax-offline",
    "scikit-learn",
    "matplotlib",
    "plotly",
]
EXTRAS_REQUIRE = {
    # The test command (scripts/test.sh) also builds the docs, so the test extra brings the docs' packages.
    "test": ["pytest", "pytest-xdist", "hypothesis", "ruff", *DOCS_REQUIRE],
    "examples": ["scikit-learn", "matplotlib"],
    # matplotlib for the PNG drawings, plotly for the interactive visualize_dense_spn.
    "visualize": ["matplotlib", "plotly"],
    "docs": DOCS_REQUIRE,
}
EXTRAS_REQUIRE["dev"] = sorted({req for reqs in EXTRAS_REQUIRE.values() for req in reqs})

setup(
    name="libspn-keras",
    version=read_version(),
    description="Sum-Product Networks as Keras layers on TensorFlow",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["libspn_keras", "libspn_keras.*"]),
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    classifiers=[
        "Development Status :: 3 - Alpha",
        "Intended Audience :: Science/Research",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
