"""The default initializer of sum accumulators."""

import math

from tensorflow import keras

from libspn_keras.arguments import check_bool
from libspn_keras.config.defaults import get_default, set_default
from libspn_keras.initializers.dirichlet import Dirichlet
from libspn_keras.keras_objects import keras_object


def set_default_accumulator_initializer(initializer):
    """Sets the initializer used by sum layers created without ``accumulator_initializer``."""
    if initializer is not None:
        initializer = keras_object("set_default_accumulator_initializer", "initializer", "initializer", initializer)
    set_default("accumulator_initializer", initializer)


def get_default_accumulator_initializer(logspace_accumulators=True):
    """Initializer for new accumulators: the one set globally, else a built-in default.

    Initializers give linear accumulator values; layers with log-space
    accumulators store their log. The built-in defaults are values on
    [e^0.5, e^1.5] for log-space accumulators (logs on [0.5, 1.5]: nearly flat
    weights after the softmax) and ``Dirichlet(alpha=1)`` draws for linear
    ones, whose spread breaks the symmetry EM needs broken.

    Args:
        logspace_accumulators: Whether the accumulators it is for are in
            log space (a bool); chooses the built-in default when no
            initializer is set globally.
    """
    logspace_accumulators = check_bool(
        "get_default_accumulator_initializer", "logspace_accumulators", logspace_accumulators
    )
    initializer = get_default("accumulator_initializer")
    if initializer is not None:
        return initializer
    if logspace_accumulators:
        return keras.initializers.RandomUniform(minval=math.exp(0.5), maxval=math.exp(1.5))
    return Dirichlet(alpha=1.0)
