"""Log-space contractions: weighted sums of children whose values are log-probabilities.

All contractions share one convention. Children ``x`` have shape
``[batch, *lead, children]`` and weights have shape ``[*lead, children, sums]``
or ``[children, sums]`` (shared by every position of ``lead``). The result has
shape ``[batch, *lead, sums]``.
"""

import string

import tensorflow as tf

from libspn_keras.math.stable import safe_exp_normalized, safe_log


def _contract(x, weights):
    """Linear-space contraction ``out[b, ..., s] = sum_c x[b, ..., c] * weights[..., c, s]``."""
    if weights.shape.rank == 2:
        num_children = tf.shape(x)[-1]
        flat = tf.reshape(x, [-1, num_children])
        out = tf.matmul(flat, weights)
        out_shape = tf.concat([tf.shape(x)[:-1], tf.shape(weights)[-1:]], axis=0)
        return tf.reshape(out, out_shape)
    num_lead = weights.shape.rank - 2
    if x.shape.rank != num_lead + 2:
        raise ValueError(
            f"Cannot contract children of rank {x.shape.rank} with weights of rank "
            f"{weights.shape.rank}: expected children of rank {num_lead + 2}."
        )
    lead = string.ascii_lowercase[:num_lead]
    return tf.einsum(f"z{lead}x,{lead}xy->z{lead}y", x, weights)


def log_matmul(x, weights):
    """Log of a weighted sum of children given in log space, by the max trick.

    Args:
        x: Log-values of the children, ``[batch, *lead, children]``. May hold
            ``-inf`` (probability 0) and values of any magnitude.
        weights: Non-negative linear-space weights ``[*lead, children, sums]``
            or ``[children, sums]``.

    Returns:
        ``log(sum_c exp(x_c) * weights_cs)`` of shape ``[batch, *lead, sums]``;
        ``-inf`` where every weighted child is 0.
    """
    exp_x, shift = safe_exp_normalized(x, axis=-1)
    return safe_log(_contract(exp_x, weights)) + shift


def log_weighted_sum(x, log_weights):
    """Like :func:`log_matmul` with the weights given as log-weights."""
    return log_matmul(x, tf.exp(log_weights))


def logspace_max_product(x, log_weights):
    """Weighted children of every sum, ``x_c + log w_cs``: ``[batch, *lead, children, sums]``."""
    return tf.expand_dims(x, axis=-1) + log_weights
