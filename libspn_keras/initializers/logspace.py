"""Initial values in log space from an initializer of linear values."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.initializers.fitting import initial_values


def gives_log_values(initializer):
    """Whether ``initializer`` already returns log-space values (``logspace=True``), so must not be logged again."""
    return getattr(initializer, "logspace", False) is True


@keras.utils.register_keras_serializable(package="libspn_keras")
class LogspaceWrapper(keras.initializers.Initializer):
    """The natural log of another initializer's (positive, linear) values.

    Sum layers with log-space accumulators wrap their ``accumulator_initializer``
    in it (as libspn-keras 0.6.0 did), so an initializer always describes
    linear accumulator values, whichever space the layer stores them in.

    Args:
        initializer: Initializer of the linear values (a Keras initializer, its
            name, or its serialized config).
    """

    logspace = True

    def __init__(self, initializer):
        self.initializer = keras.initializers.get(initializer)

    def __call__(self, shape, dtype=None):
        return self.log_values(shape, dtype=dtype)

    def log_values(self, shape, dtype=None, owner="LogspaceWrapper", variable="variable"):
        """The log of the wrapped initializer's values for ``shape``; ``ValueError`` naming ``owner`` if any is <= 0."""
        values = initial_values(self.initializer, shape, dtype=dtype, owner=owner, variable=variable)
        if not bool(tf.reduce_all(values > 0)):
            raise ValueError(
                f"{owner}: '{variable}' is stored in log space, so its initializer must give positive linear "
                f"values (their log is stored, as in libspn-keras 0.6.0); "
                f"{type(self.initializer).__name__} gave values <= 0 (smallest "
                f"{float(tf.reduce_min(values)):.3g}). Pass an initializer of positive values, or one that "
                f"gives log values itself (e.g. Dirichlet(logspace=True))."
            )
        return tf.math.log(values)

    def get_config(self):
        return {"initializer": keras.initializers.serialize(self.initializer)}


def logspace_wrapper_initializer(initializer):
    """Wraps ``initializer`` so that it returns the log of its values (0.6.0's helper).

    Args:
        initializer: Initializer of positive linear values.

    Returns:
        A :class:`LogspaceWrapper`; an initializer that already returns
        log values (``logspace=True``) is returned unchanged.
    """
    initializer = keras.initializers.get(initializer)
    if gives_log_values(initializer):
        return initializer
    return LogspaceWrapper(initializer)
