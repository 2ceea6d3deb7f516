"""Code shared by the example scripts in ``examples/`` and the tutorial notebooks in ``docs/tutorials/``.

The scripts are for the command line (``python3 examples/NAME.py --quick``);
the notebooks walk through the same models with pictures. Both import the
data loaders, network builders and plots from here, so they cannot drift
apart. A notebook finds this package by putting ``examples/`` on
``sys.path`` (its first code cell does).

``QUICK`` is true when the environment variable
``LIBSPN_KERAS_TUTORIALS_QUICK`` is set to anything but ``0`` or empty. The
documentation build sets it, so that every notebook trains for fewer epochs
(and on less or synthetic data where the full data are large) and the pages
build in minutes on two CPU cores; run a notebook yourself without it for the
full numbers.
"""

import os

QUICK = os.environ.get("LIBSPN_KERAS_TUTORIALS_QUICK", "") not in ("", "0")

if os.environ.get("LIBSPN_KERAS_DOCS_BUILD", "") not in ("", "0"):  # pragma: no cover - docs build only
    from spn_tutorials.plots import use_offline_plotly_renderer

    use_offline_plotly_renderer()
