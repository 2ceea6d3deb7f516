"""Variables the models keep for their own bookkeeping (refused-batch counters, flags), out of every checkpoint."""

import tensorflow as tf


def bookkeeping_variable(model, attribute, initial_value, dtype=None, name=None):
    """``model.<attribute>``: a ``tf.Variable`` made on first use, then the same one.

    It is set with ``object.__setattr__``, past Keras's and TensorFlow's attribute tracking: it is no weight of
    the model, and ``tf.train.Checkpoint(model=...)`` does not save it. Saved, it would be in the checkpoint of
    a model that had trained but not in a fresh model restored from it (the variables are made with the first
    training or inference function), so that ``restore(...).assert_consumed()`` failed and TensorFlow warned of
    unrestored values, where it passes for a plain Keras model.
    """
    variable = getattr(model, attribute, None)
    if variable is None:
        with tf.init_scope():
            variable = tf.Variable(initial_value, dtype=dtype, trainable=False, name=name)
        object.__setattr__(model, attribute, variable)
    return variable
