"""Batches padded to a row count that XLA has compiled already, the padded rows dropped from the outputs.

XLA compiles a function once per input shape, so a batch of a new number of
rows costs a whole compilation of the model. The padded rows repeat the
batch's first row (valid input wherever the batch is), and every row of an
SPN's outputs depends on the same row of its inputs only.
"""

import tensorflow as tf
from tensorflow import keras


def padded_to_compiled_rows(predict_function):
    """Keras's ``predict_function`` of a model compiled with XLA, padding short batches to a size it has run.

    XLA compiles a function again for every new batch shape, so the last,
    shorter batch of a ``predict`` (and each ``predict_on_batch`` or small
    ``predict`` of a new size) would cost a whole compilation of the model.
    Here a batch of ``rows`` rows is padded to the smallest batch size the
    function has already run that is at least ``rows`` (no padding where
    there is none: that size is then compiled, and kept); the padded rows
    repeat the batch's first row and are dropped from the outputs, so the
    outputs, and what callbacks see of them, are those of the batch itself.
    The extra work is at most one batch the user chose. For one step per
    call: ``predict_function`` takes a list of one batch (a tensor or a
    structure of tensors, all of the same rows).
    """
    sizes_run = set()

    def function(data, *args, **kwargs):
        rows = _common_rows(data) if not args and not kwargs and isinstance(data, list) and len(data) == 1 else None
        if not rows:  # no batch of dense tensors, or no rows to repeat
            return predict_function(data, *args, **kwargs)
        size = min((size for size in sizes_run if size >= rows), default=rows)
        outputs = predict_function(keras.tree.map_structure(lambda part: padded(part, size), data))
        sizes_run.add(size)
        return first_rows(outputs, rows, size)

    return function


def _common_rows(data):
    """The rows of every tensor in ``data`` where all are dense tensors with the same number of rows; else ``None``."""
    parts = keras.tree.flatten(data)
    if not parts or not all(isinstance(part, tf.Tensor) and part.shape.rank for part in parts):
        return None
    rows = {part.shape[0] for part in parts}
    return rows.pop() if len(rows) == 1 and None not in rows else None


def padded(part, size):
    """``part`` with its first row repeated at the end up to ``size`` rows."""
    rows = int(part.shape[0])
    return part if size <= rows else tf.concat([part, tf.repeat(part[:1], size - rows, axis=0)], axis=0)


def first_rows(outputs, rows, size):
    """``outputs`` of a batch padded from ``rows`` to ``size`` rows, without the padded rows."""
    if size <= rows:
        return outputs
    return tf.nest.map_structure(
        lambda output: output[:rows] if output.shape.rank and output.shape[0] == size else output, outputs
    )
