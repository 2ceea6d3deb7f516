"""Log-space sums in the node-major layout of compiled region graphs: the batch inside, ``[*lead, batch, k]``.

In this layout the sums of every region of a level are one batched
``tf.matmul`` ``[*lead, batch, children] x [*lead, children, sums]``, with no
transposes around it (the batch-first layout of
:func:`~libspn_keras.math.log_matmul` needs one per operand and result).
"""

import tensorflow as tf

from libspn_keras.math.gradients import custom_gradient
from libspn_keras.math.log_matmul import MIN_FAST_WEIGHT
from libspn_keras.math.stable import finite_max, with_zero_rows, zero_sample_active

__all__ = ["batch_first", "batch_inside", "checked_log_matmul_node_major", "renormalized_node_major"]


def batch_inside(tensor):
    """``[batch, *lead, k]`` -> ``[*lead, batch, k]``."""
    rank = tensor.shape.rank
    return tf.transpose(tensor, list(range(1, rank - 1)) + [0, rank - 1])


def batch_first(tensor):
    """``[*lead, batch, k]`` -> ``[batch, *lead, k]`` (the inverse of :func:`batch_inside`)."""
    rank = tensor.shape.rank
    return tf.transpose(tensor, [rank - 2] + list(range(rank - 2)) + [rank - 1])


def checked_log_matmul_node_major(x, weights):
    """``log(sum_c exp(x_c) * w_cs)`` for weights checked for the fast kernel, node-major.

    Args:
        x: ``[*lead, batch, children]`` log-values (may hold ``-inf``).
        weights: ``[*lead, children, sums]`` linear weights, each sum's
            normalized and none below
            ``MIN_FAST_WEIGHT`` (what
            ``checked_weights=True`` promises to
            :func:`~libspn_keras.math.log_matmul`; exact then, and without its
            range check).

    Returns:
        ``[*lead, batch, sums]``; ``-inf`` where every child is. The gradient
        reuses the forward's exponentials (two batched matmuls) and is 0,
        never ``nan``, through sums of value 0.
    """

    @custom_gradient
    def kernel(x, weights):
        shift = finite_max(x, axis=-1)
        exp_x = tf.exp(x - shift)
        linear = tf.matmul(exp_x, weights)
        # Each sum is at least the weight of its largest child (>= MIN_FAST_WEIGHT), or 0 where all children are.
        floored = tf.maximum(linear, MIN_FAST_WEIGHT)

        def grad(dy):
            scaled = dy / floored
            return exp_x * tf.matmul(scaled, weights, transpose_b=True), tf.matmul(exp_x, scaled, transpose_a=True)

        return tf.math.log(linear) + shift, grad

    return kernel(x, weights)


def renormalized_node_major(log_sum, x):
    """``log_sum(x)`` less its value for a sample of log-values 0, as a constant, node-major.

    As :func:`~libspn_keras.math.stable.renormalized` (which see, for why)
    with the batch on axis -2: the zero sample rides along as more rows of
    the same contraction; inside :func:`~libspn_keras.math.stable.without_zero_sample`, the plain ``log_sum(x)``.
    """
    if not zero_sample_active():
        return log_sum(x)
    padded, rows = with_zero_rows(x, axis=-2)
    out = log_sum(padded)
    return out[..., :rows, :] - tf.stop_gradient(out[..., rows : rows + 1, :])
