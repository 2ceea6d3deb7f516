"""Warnings that name the line of the user's code that led to them."""

import contextlib
import os
import sys
import warnings

import tensorflow as tf
from tensorflow import keras


def _folder(module_file):
    return os.path.dirname(os.path.abspath(module_file)) + os.sep


# The library, Keras and TensorFlow call each other between the user's line and a warning (a layer's build from
# Keras's __call__, a model's fit through its mixins, a trace); generator-based context managers add contextlib.
_NOT_USER_CODE = (
    _folder(__file__),
    _folder(sys.modules[keras.layers.Layer.__module__.split(".")[0]].__file__),  # Keras itself, not tf.keras's alias
    _folder(tf.__file__),
    os.path.abspath(contextlib.__file__),
)
# Functions that autograph converted while tracing run from generated files.
_AUTOGRAPH_FILE = "__autograph_generated_file"


def _is_user_code(filename):
    return not filename.startswith(_NOT_USER_CODE) and _AUTOGRAPH_FILE not in filename


def warn(message, category=UserWarning):
    """``warnings.warn`` at the first caller outside the library, Keras and TensorFlow.

    The warning then shows the user's line rather than one inside a mixin
    or a layer's ``build``, and Python's default filter shows it once per
    such line (Python 3.12's ``skip_file_prefixes`` does the same; this
    library supports 3.11).
    """
    frame = sys._getframe(1)
    level = 2  # stacklevel 1 is this function's own line
    while frame is not None and not _is_user_code(os.path.abspath(frame.f_code.co_filename)):
        frame = frame.f_back
        level += 1
    if frame is None:  # nothing outside the library on the stack (e.g. a thread it started): this function's caller
        level = 2
    warnings.warn(message, category, stacklevel=level)
