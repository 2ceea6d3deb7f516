"""Batches padded to a row count that XLA has compiled already, the padded rows dropped from the outputs.

XLA compiles a function once per input shape, so a batch of a new number of
rows costs a whole compilation of the model. The padded rows repeat the
batch's first row (valid input wherever the batch is), and every row of an
SPN's outputs depends on the same row of its inputs only.
"""

import numpy as np
import tensorflow as tf
from tensorflow import keras

#: A batch is padded to a size run before (outside the last batch of a call) only up to this many times its rows.
MAX_PADDING_RATIO = 2


class PaddedToCompiledRows:
    """Keras's ``predict_function`` of a model compiled with XLA, padding short batches to a size it has run.

    XLA compiles a function again for every new batch shape, so the last,
    shorter batch of a ``predict`` call would cost a whole compilation of the
    model. Here the last batch of a call is padded to the call's own batch
    size (the rows of its first batch), so the extra work is less than one
    batch of that call. Any other batch (a small call, ``predict_on_batch``)
    is padded to the smallest size already run for the same row shape and
    dtype that is at most :data:`MAX_PADDING_RATIO` times its rows; where
    there is none, its own size is compiled and kept. The padded rows repeat
    the batch's first row and are dropped from the outputs, so the outputs,
    and what callbacks see of them, are those of the batch itself. A batch
    of another row shape than those run is not padded (it may be refused,
    and its message then counts its own rows).

    Call :meth:`new_call` when a ``predict`` or ``predict_on_batch`` call
    starts. For one step per call: ``predict_function`` takes a list of one
    batch (an array or tensor or a structure of them, all of the same rows).
    """

    def __init__(self, predict_function):
        self.predict_function = predict_function
        self.sizes_run = {}  # row shapes and dtypes of the batch -> the row counts run with them
        self.call_rows = None

    def new_call(self):
        """Marks the start of a ``predict`` / ``predict_on_batch`` call: its first batch gives its batch size."""
        self.call_rows = None

    def __call__(self, data, *args, **kwargs):
        parts = (
            keras.tree.flatten(data) if not args and not kwargs and isinstance(data, list) and len(data) == 1 else []
        )
        rows = _common_rows(parts)
        if not rows:  # no batch of dense arrays or tensors, or no rows to repeat
            return self.predict_function(data, *args, **kwargs)
        if self.call_rows is None:
            self.call_rows = rows
        signature = tuple((tuple(part.shape[1:]), tf.as_dtype(part.dtype)) for part in parts)
        size = self._size(rows, self.sizes_run.get(signature, ()))
        outputs = self.predict_function(keras.tree.map_structure(lambda part: padded(part, size), data))
        self.sizes_run.setdefault(signature, set()).add(size)
        return first_rows(outputs, rows, size)

    def _size(self, rows, sizes):
        if rows < self.call_rows and self.call_rows in sizes:
            return self.call_rows  # the last batch of a call
        return min((size for size in sizes if rows <= size <= MAX_PADDING_RATIO * rows), default=rows)


def _common_rows(parts):
    """The rows of every part where all are dense arrays or tensors with the same number of rows; else ``None``."""
    if not parts or not all(isinstance(part, (tf.Tensor, np.ndarray)) and len(part.shape) for part in parts):
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
