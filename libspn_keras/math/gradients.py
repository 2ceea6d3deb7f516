"""``tf.custom_gradient`` for the library's kernels, left out of traces that take no gradient.

Each call of a ``tf.custom_gradient`` function while a ``tf.function`` is
traced registers its gradient in TensorFlow's process-wide gradient
registry, and the entry is never removed: it keeps the traced graph alive
after the model is gone (about 50 MB for a small RAT-SPN trained and
queried once). Traces that never differentiate (the steps of ``predict``
and ``evaluate``, ``log_likelihood``) run inside :func:`no_gradients` and
call the kernels' forward functions alone; the values are the same.
"""

import contextlib
import functools
import threading

import tensorflow as tf

_STATE = threading.local()


@contextlib.contextmanager
def no_gradients():
    """Kernels traced inside skip their custom gradients: nothing traced here is differentiated."""
    with _gradients_wanted(False):
        yield


@contextlib.contextmanager
def gradients_taken():
    """Kernels traced inside keep their custom gradients (a query that back-propagates inside a step)."""
    with _gradients_wanted(True):
        yield


@contextlib.contextmanager
def _gradients_wanted(wanted):
    previous = getattr(_STATE, "wanted", True)
    _STATE.wanted = wanted
    try:
        yield
    finally:
        _STATE.wanted = previous


def custom_gradient(function):
    """``tf.custom_gradient(function)``, calling only the forward part of ``function`` in a trace inside
    :func:`no_gradients`.

    Args:
        function: Returns ``(outputs, gradient function)`` as for ``tf.custom_gradient``.
    """
    with_gradient = tf.custom_gradient(function)

    @functools.wraps(function)
    def call(*args, **kwargs):
        if not getattr(_STATE, "wanted", True) and not tf.executing_eagerly():
            return function(*args, **kwargs)[0]
        return with_gradient(*args, **kwargs)

    return call
