"""Exact contractions over the children axis, a block of children at a time.

``max_c (x_c + log w_cs)`` (max-product) and ``log sum_c exp(x_c + log w_cs)``
cannot be written as one matmul without rounding the smallest terms away.
These kernels form ``x_c + log w_cs`` for a block of children at a time, so
memory stays at about ``2**16`` values per sample whatever the layer's size.
Shapes follow :mod:`libspn_keras.math.log_matmul`: children
``[batch, *lead, children]``, log-weights ``[*lead, children, sums]`` or
``[children, sums]``.
"""

import math

import tensorflow as tf

_BLOCK_VALUES_PER_SAMPLE = 2**16


def _blocks(x, log_weights):
    """``(x [batch, *lead, blocks, k], log_weights [*lead, blocks, k, sums], blocks)``, padded with ``-inf``."""
    num_children, num_sums = log_weights.shape[-2:]
    per_child = math.prod(x.shape[1:-1]) * num_sums
    size = max(1, min(num_children, _BLOCK_VALUES_PER_SAMPLE // max(per_child, 1)))
    num_blocks = -(-num_children // size)
    pad = num_blocks * size - num_children
    x = tf.pad(x, [[0, 0]] * (x.shape.rank - 1) + [[0, pad]], constant_values=-float("inf"))
    log_weights = tf.pad(
        log_weights, [[0, 0]] * (log_weights.shape.rank - 2) + [[0, pad], [0, 0]], constant_values=-float("inf")
    )
    x = tf.reshape(x, tf.concat([tf.shape(x)[:-1], [num_blocks, size]], axis=0))
    log_weights = tf.reshape(log_weights, [*log_weights.shape[:-2], num_blocks, size, num_sums])
    return x, log_weights, num_blocks


def _terms(x_blocks, w_blocks, index):
    """``x_c + log w_cs`` of block ``index``: ``[batch, *lead, k, sums]``."""
    return tf.expand_dims(tf.gather(x_blocks, index, axis=-2), -1) + tf.gather(w_blocks, index, axis=-3)


def max_plus_matmul(x, log_weights):
    """``max_c (x_c + log w_cs)``, ``[batch, *lead, sums]``: the sums of a max-product network."""
    x_blocks, w_blocks, num_blocks = _blocks(x, log_weights)
    out_shape = tf.concat([tf.shape(x)[:-1], [log_weights.shape[-1]]], axis=0)

    def step(index, best):
        return index + 1, tf.maximum(best, tf.reduce_max(_terms(x_blocks, w_blocks, index), axis=-2))

    init = tf.fill(out_shape, tf.constant(-float("inf"), x.dtype))
    return tf.while_loop(lambda index, _: index < num_blocks, step, (0, init))[1]


def _finite_or_zero(values):
    return tf.where(tf.math.is_finite(values), values, tf.zeros_like(values))


@tf.custom_gradient
def blockwise_log_matmul(x, log_weights):
    """``log sum_c exp(x_c + log w_cs)`` exactly for any finite inputs, ``[batch, *lead, sums]``.

    Each term is shifted by the maximum term of its own sum before it is
    exponentiated, so no term that matters underflows. Slower than
    :func:`~libspn_keras.math.log_matmul` (elementwise over
    ``children x sums``); that kernel falls back to this one where its
    faster shifts lose precision.
    """
    x_blocks, w_blocks, num_blocks = _blocks(x, log_weights)
    shift = tf.expand_dims(_finite_or_zero(max_plus_matmul(x, log_weights)), -2)

    def add_block(index, total):
        return index + 1, total + tf.reduce_sum(tf.exp(_terms(x_blocks, w_blocks, index) - shift), axis=-2)

    total = tf.while_loop(lambda index, _: index < num_blocks, add_block, (0, tf.zeros_like(shift[..., 0, :])))[1]
    out = tf.math.log(total) + shift[..., 0, :]

    def grad(dy):
        # d out_s / d x_c = d out_s / d log w_cs = exp(x_c + log w_cs - out_s); sums of value 0 pass nothing.
        finite = tf.math.is_finite(out)
        dy = tf.expand_dims(tf.where(finite, dy, tf.zeros_like(dy)), -2)
        out_shift = tf.expand_dims(_finite_or_zero(out), -2)
        batch_axes = list(range(x.shape.rank - log_weights.shape.rank + 1)) if log_weights.shape.rank == 2 else [0]

        def grad_block(index, d_x, d_w):
            flow = tf.exp(_terms(x_blocks, w_blocks, index) - out_shift) * dy
            return (
                index + 1,
                d_x.write(index, tf.reduce_sum(flow, axis=-1)),
                d_w.write(index, tf.reduce_sum(flow, axis=batch_axes)),
            )

        arrays = (tf.TensorArray(x.dtype, size=num_blocks), tf.TensorArray(x.dtype, size=num_blocks))
        _, d_x, d_w = tf.while_loop(lambda index, *_: index < num_blocks, grad_block, (0, *arrays))
        num_children = x.shape[-1]
        d_x = tf.experimental.numpy.moveaxis(d_x.stack(), 0, -2)
        d_x = tf.reshape(d_x, tf.concat([tf.shape(x)[:-1], [-1]], axis=0))[..., :num_children]
        lead = log_weights.shape[:-2]
        d_w = tf.experimental.numpy.moveaxis(d_w.stack(), 0, len(lead))
        d_w = tf.reshape(d_w, [*lead, -1, log_weights.shape[-1]])[..., :num_children, :]
        return d_x, d_w

    return out, grad
