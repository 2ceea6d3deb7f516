"""``tf.function`` for the functions each model makes for itself (its steps' weight check, its compiled queries).

TensorFlow counts the traces of every ``tf.function`` per code object and
warns of retracing ("creating @tf.function repeatedly in a loop") when most
calls trace anew. Each model traces such functions once, so a loop over
models (a hyperparameter search) would warn although nothing is traced
twice: each function gets an identity of its own instead.
"""

import tensorflow as tf


def model_function(function, **kwargs):
    """``tf.function(function, **kwargs)``, whose traces TensorFlow counts apart from other models' functions."""
    return tf.function(_OwnTraceCount(function), **kwargs)


class _OwnTraceCount:
    """Calls ``function``; an object without ``__code__``, which TensorFlow then counts by identity."""

    def __init__(self, function):
        self.function = function

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)
