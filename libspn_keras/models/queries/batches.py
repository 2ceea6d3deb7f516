"""Queries in batches of rows: memory bounded by the batch, and few batch shapes for XLA to compile.

A query over ``n`` inputs runs on batches of ``batch_size`` rows, as Keras's
``predict`` does. Without a ``batch_size`` the model's own layer outputs
choose it: as many rows as fit :data:`QUERY_BATCH_BYTES` of layer outputs,
so that a large model queried on a whole dataset does not hold every
layer's output for every row at once. Under XLA, which compiles once per
batch shape, a batch shorter than ``batch_size`` (the last one, or a small
query) is padded to the next power of two, so that a model compiles a
query for at most ``log2(batch_size) + 2`` shapes whatever sizes it is
asked about; the padded rows repeat the batch's first row and are dropped
from the result.
"""

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import check_int
from libspn_keras.models.batch_padding import first_rows, padded

#: Bytes of layer outputs per query batch that the automatic batch size aims at.
QUERY_BATCH_BYTES = 2**31
#: Rows per query batch where the model's layer outputs do not tell their size (e.g. a dynamic spatial input).
DEFAULT_QUERY_BATCH_SIZE = 1024
#: How many times its layer outputs a row takes in the queries that send a signal from the root back to the
#: leaves (completion, MPE, sampling), which keep the intermediates of both passes (2-4 times on the large
#: RAT-SPN of ``benchmarks/``; MPE and sampling run eagerly and take the most).
SIGNAL_QUERY_MEMORY_FACTOR = 4


def query_batch_size(model, batch_size=None, owner="query", signal=False):
    """``batch_size`` checked (an int >= 1), or the automatic size for ``model`` when it is ``None``.

    The automatic size is the number of rows whose layer outputs fit
    :data:`QUERY_BATCH_BYTES` (a quarter of that for a query that sends a
    ``signal`` back to the leaves, see :data:`SIGNAL_QUERY_MEMORY_FACTOR`).
    """
    if batch_size is not None:
        return min(check_int(owner, "batch_size", batch_size, minimum=1), 2**62)
    per_row = output_bytes_per_row(model)
    if not per_row:
        return DEFAULT_QUERY_BATCH_SIZE
    if signal:
        per_row *= SIGNAL_QUERY_MEMORY_FACTOR
    return max(1, QUERY_BATCH_BYTES // per_row)


def output_bytes_per_row(model):
    """Bytes of all layer outputs of ``model`` for one input row; 0 where some output's size is not known.

    A layer that computes more than its output (a
    :class:`~libspn_keras.structure.CompiledRegionGraph` holds every level's
    products and sums) tells its own count with ``values_per_row()``.
    """
    total = 0
    pending = [model]
    while pending:
        layer = pending.pop()
        own = getattr(layer, "values_per_row", None)
        if callable(own):
            total += own() * np.dtype(layer.compute_dtype).itemsize
            continue
        if isinstance(layer, keras.Model):  # its layers' outputs are counted one by one
            pending.extend(layer.layers)
            continue
        try:
            outputs = tf.nest.flatten(layer.output)
        except (AttributeError, ValueError, RuntimeError):  # never called on a symbolic input, or on several
            return 0
        for output in outputs:
            dims = tuple(output.shape)[1:]
            if any(dim is None for dim in dims):
                return 0
            total += int(np.prod(dims, dtype=np.int64)) * np.dtype(output.dtype).itemsize
    return total


def padded_rows(rows, batch_size):
    """Rows a batch of ``rows`` is padded to under XLA: the next power of two, at most ``batch_size``."""
    if rows >= batch_size or rows == 0:
        return rows
    return min(batch_size, 1 << (rows - 1).bit_length())


def in_batches(function, tensors, batch_size, pad=False):
    """``function(*tensors)`` computed on batches of ``batch_size`` rows and concatenated along the rows.

    Args:
        function: Tensors in, a tensor or a structure of tensors out, each
            row of every output depending on the same row of the inputs only.
        tensors: Inputs with the rows on their first axis (all the same count).
        batch_size: Rows per call of ``function``.
        pad: Pad short batches to :func:`padded_rows` (for a function that
            XLA compiles once per shape).
    """
    count = int(tensors[0].shape[0])
    results = []
    for start in range(0, max(count, 1), batch_size):
        batch = [tensor[start : start + batch_size] for tensor in tensors]
        rows = int(batch[0].shape[0])
        size = padded_rows(rows, batch_size) if pad else rows
        result = function(*(padded(part, size) for part in batch))
        results.append(first_rows(result, rows, size))
    if len(results) == 1:
        return results[0]
    return tf.nest.map_structure(lambda *outputs: tf.concat(outputs, axis=0), *results)
