"""The environment the tutorial notebooks' kernels run in during a documentation build.

Shared by ``docs/conf.py`` and ``scripts/execute_notebooks.py`` (which executes
the notebooks ahead of Sphinx), so that both run the notebooks the same way.
"""

import os


def set_notebook_environment():
    """Sets the variables that the kernels (which inherit this process's environment) read."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Read through examples/spn_tutorials: small data and few epochs, and plotly figures as HTML that uses the
    # plotly.js served with the pages.
    os.environ.setdefault("LIBSPN_KERAS_TUTORIALS_QUICK", "1")
    os.environ["LIBSPN_KERAS_DOCS_BUILD"] = "1"
