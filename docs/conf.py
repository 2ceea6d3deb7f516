"""Sphinx configuration of the libspn-keras documentation.

Build with ``bash scripts/docs.sh`` (warnings are errors there), or directly:
``python3 -m sphinx -W --keep-going -b html docs docs/_build/html``.

Pages are Markdown (MyST) and, for the tutorials, Jupyter notebooks read by
myst-nb, which executes every notebook on each build (in quick mode: see
``examples/spn_tutorials``), so the pages show what the current code outputs
and a notebook that raises fails the build. ``LIBSPN_KERAS_DOCS_EXECUTE``
chooses myst-nb's execution mode: ``force`` (the default), ``cache`` (reuse
outputs of unchanged notebooks from ``docs/_build/.jupyter_cache``, for
editing prose; they may be stale against changed library code) or ``off``.
MathJax and plotly.js are served with the pages (the local extension
``docs/_ext/offline_assets.py``), so math and interactive figures render
without network access.

The API reference uses autodoc with Google-style docstrings read by
napoleon. Every object is documented once, at its public
path (``libspn_keras.layers.DenseSum``, not ``libspn_keras.layers.dense_sum.DenseSum``);
cross-references that docstrings write with the defining module's path are
redirected to the public entry by :func:`_resolve_defining_path` below.
"""

import enum
import importlib
import inspect
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))
from notebook_environment import set_notebook_environment  # noqa: E402

set_notebook_environment()

import libspn_keras  # noqa: E402

# -- Project -----------------------------------------------------------------

project = "libspn-keras"
author = "libspn-keras contributors"
copyright = "libspn-keras contributors"
version = libspn_keras.__version__
release = libspn_keras.__version__

# -- General -----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.mathjax",
    "myst_nb",
    "offline_assets",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
templates_path = []

# -- Notebooks (myst-nb) -------------------------------------------------------

nb_execution_mode = os.environ.get("LIBSPN_KERAS_DOCS_EXECUTE", "force")
nb_execution_cache_path = str(ROOT / "docs" / "_build" / ".jupyter_cache")
nb_execution_timeout = 600  # seconds per cell; quick-mode cells take seconds
nb_execution_raise_on_error = True
nb_execution_show_tb = True
# TensorFlow writes start-up logs (CUDA probing, oneDNN notes) to the process's stderr; they are noise on a page.
nb_output_stderr = "remove"
nb_merge_streams = True

# Unresolvable references to Keras / TensorFlow classes (base classes, argument types) are not errors.
nitpicky = False
# Only the duplicate-description check is silenced, and only as a safety net: the API pages list every object once.
suppress_warnings = ["autodoc.duplicate_object"]

myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc / napoleon --------------------------------------------------------

autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
# Keras' own docstrings (of build, call, get_config, ...) are not ours to render.
autodoc_inherit_docstrings = False
autodoc_class_signature = "mixed"
autoclass_content = "class"
autodoc_typehints = "none"

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_param = True
napoleon_use_rtype = True
napoleon_include_init_with_doc = False

# -- HTML --------------------------------------------------------------------

html_theme = "furo"
html_title = f"libspn-keras {release}"
html_logo = str(ROOT / "logo.png")
html_static_path = ["_static"] if (Path(__file__).parent / "_static").is_dir() else []
html_theme_options = {"sidebar_hide_name": False}
pygments_style = "sphinx"
pygments_dark_style = "monokai"


# -- Public-path redirection ---------------------------------------------------


# Where each object is documented, in order of preference: a subpackage path wins over a top-level re-export.
_DOCUMENTED_MODULES = [
    "libspn_keras.layers",
    "libspn_keras.models",
    "libspn_keras.models.queries",
    "libspn_keras.sum_ops",
    "libspn_keras.optimizers",
    "libspn_keras.losses",
    "libspn_keras.metrics",
    "libspn_keras.initializers",
    "libspn_keras.constraints",
    "libspn_keras.datasets",
    "libspn_keras.math",
    "libspn_keras.region_graph",
    "libspn_keras.visualize",
    "libspn_keras",
]


def _public_names():
    """``{defining or re-exported path: documented path}`` for the public objects of the library."""
    mapping = {}
    for module_name in _DOCUMENTED_MODULES:
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None)
        if names is None:
            names = [
                name
                for name, obj in vars(module).items()
                if not name.startswith("_") and getattr(obj, "__module__", None) == module_name
            ]
        for name in names:
            obj = getattr(module, name, None)
            if obj is None or inspect.ismodule(obj) or not hasattr(obj, "__qualname__"):
                continue
            documented = mapping.setdefault(f"{obj.__module__}.{obj.__qualname__}", f"{module_name}.{name}")
            if module_name == "libspn_keras":
                mapping.setdefault(f"libspn_keras.{name}", documented)
    return mapping


_PUBLIC = _public_names()


def _resolve_defining_path(app, env, node, contnode):
    """Resolves ``:class:`` references written with a defining module path to the documented public path."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    public = _PUBLIC.get(target)
    if public is None:
        # Methods and attributes: ``pkg.module.Class.method`` -> ``pkg.Class.method``.
        owner, _, member = target.rpartition(".")
        if owner in _PUBLIC:
            public = f"{_PUBLIC[owner]}.{member}"
    if public is None or public == target:
        return None
    domain = env.get_domain("py")
    node = node.deepcopy()
    node["reftarget"] = public
    return domain.resolve_xref(env, node["refdoc"], app.builder, node.get("reftype"), public, node, contnode)


def _init_signature(app, what, name, obj, options, signature, return_annotation):
    """Shows the arguments of a class's ``__init__``.

    Keras layers define ``__new__(*args, **kwargs)``, which autodoc would show
    instead. Classes that inherit ``__init__`` from Keras show ``(**kwargs)``:
    their own docstrings say which Keras arguments they pass on.
    """
    if what != "class" or not inspect.isclass(obj) or issubclass(obj, enum.Enum):
        return None
    owner = next((klass for klass in obj.__mro__ if "__init__" in vars(klass)), object)
    if owner is object:
        return None
    if not owner.__module__.startswith("libspn_keras"):
        return "(**kwargs)", return_annotation
    try:
        init = inspect.signature(owner.__init__)
    except (TypeError, ValueError):
        return None
    parameters = list(init.parameters.values())[1:]
    return str(init.replace(parameters=parameters, return_annotation=inspect.Signature.empty)), return_annotation


def _public_bases(app, name, obj, options, bases):
    """Shows base classes by their public paths: ``keras.layers.Layer``, ``libspn_keras.layers.SumLayerBase``."""
    public = []
    for base in bases:
        defining = f"{base.__module__}.{base.__qualname__}"
        keras_path = getattr(base, "_api_export_path", None)
        if defining in _PUBLIC:
            public.append(f":py:class:`~{_PUBLIC[defining]}`")
        elif keras_path and base.__module__.startswith("keras"):
            path = keras_path[-1] if isinstance(keras_path, (list, tuple)) else keras_path
            public.append(f":py:class:`{path}`")
        else:
            public.append(base)
    bases[:] = public


def setup(app):
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("missing-reference", _resolve_defining_path)
    app.connect("autodoc-process-signature", _init_signature)
