"""Log-space contractions: weighted sums of children whose values are log-probabilities.

All contractions share one convention. Children ``x`` have shape
``[batch, *lead, children]`` and weights have shape ``[*lead, children, sums]``
or ``[children, sums]`` (shared by every position of ``lead``). The result has
shape ``[batch, *lead, sums]``.
"""

import string

import tensorflow as tf

from libspn_keras.math.stable import finite_max


def _lead_letters(x, weights):
    num_lead = weights.shape.rank - 2
    if x.shape.rank != num_lead + 2:
        raise ValueError(
            f"Cannot contract children of rank {x.shape.rank} with weights of rank "
            f"{weights.shape.rank}: expected children of rank {num_lead + 2}."
        )
    return string.ascii_lowercase[:num_lead]


def _flat_matmul(a, b, out_last, transpose_b=False):
    """``a [..., k] @ b`` on the flattened leading axes of ``a``, reshaped back with last axis ``out_last``."""
    flat = tf.reshape(a, [-1, tf.shape(a)[-1]])
    out = tf.matmul(flat, b, transpose_b=transpose_b)
    return tf.reshape(out, tf.concat([tf.shape(a)[:-1], [out_last]], axis=0))


def _contract(x, weights):
    """``out[b, ..., s] = sum_c x[b, ..., c] * weights[..., c, s]``."""
    if weights.shape.rank == 2:
        return _flat_matmul(x, weights, tf.shape(weights)[-1])
    lead = _lead_letters(x, weights)
    return tf.einsum(f"z{lead}x,{lead}xy->z{lead}y", x, weights)


def _contract_transposed(dz, weights):
    """Backward of :func:`_contract` to its first argument: ``sum_s dz[b, ..., s] * weights[..., c, s]``."""
    if weights.shape.rank == 2:
        return _flat_matmul(dz, weights, tf.shape(weights)[0], transpose_b=True)
    lead = _lead_letters(dz, weights)
    return tf.einsum(f"z{lead}y,{lead}xy->z{lead}x", dz, weights)


def _contract_weights_grad(x, dz, weights):
    """Backward of :func:`_contract` to ``weights``: ``sum over batch (and shared axes) of x_c * dz_s``."""
    if weights.shape.rank == 2:
        flat_x = tf.reshape(x, [-1, tf.shape(x)[-1]])
        flat_dz = tf.reshape(dz, [-1, tf.shape(dz)[-1]])
        return tf.matmul(flat_x, flat_dz, transpose_a=True)
    lead = _lead_letters(x, weights)
    return tf.einsum(f"z{lead}x,z{lead}y->{lead}xy", x, dz)


@tf.custom_gradient
def _log_matmul(x, weights):
    shift = finite_max(x, axis=-1, keepdims=True)
    exp_x = tf.exp(x - shift)
    linear = _contract(exp_x, weights)
    out = tf.math.log(linear) + shift

    def grad(dy):
        # d out_s / d x_c = w_cs exp(x_c - out_s) = exp_x_c * w_cs / linear_s; a sum of value 0 passes nothing.
        scaled = tf.math.divide_no_nan(dy, linear)
        return exp_x * _contract_transposed(scaled, weights), _contract_weights_grad(exp_x, scaled, weights)

    return out, grad


def log_matmul(x, weights):
    """Log of a weighted sum of children given in log space, by the max trick.

    Args:
        x: Log-values of the children, ``[batch, *lead, children]``. May hold
            ``-inf`` (probability 0) and values of any magnitude.
        weights: Non-negative linear-space weights ``[*lead, children, sums]``
            or ``[children, sums]``.

    Returns:
        ``log(sum_c exp(x_c) * weights_cs)`` of shape ``[batch, *lead, sums]``;
        ``-inf`` where every weighted child is 0. The gradient reuses the
        forward's exponentials (two contractions, as for a plain matmul) and
        is 0, never ``nan``, through sums of value 0.
    """
    return _log_matmul(x, weights)


def logspace_max_product(x, log_weights):
    """Weighted children of every sum, ``x_c + log w_cs``: ``[batch, *lead, children, sums]``."""
    return tf.expand_dims(x, axis=-1) + log_weights


def log_outer_matmul(left, right, weights):
    """Sums over all products of two children sets, without forming their log-space outer sum.

    Computes ``log sum_{i,j} exp(left_i + right_j) * weights[(i, j), s]``, the
    ``DenseProduct(num_factors=2)`` -> sum pair, as one kernel: each factor is
    exponentiated with its own maximum and the outer product is taken in
    linear space, so the ``children ** 2`` wide tensor is built once (and its
    gradient once) instead of an outer sum, its maximum and its exponential.
    With per-position weights the small factors are moved batch-inside
    (``[*lead, batch, k]``) before the outer product, so the wide tensor is
    born in the layout of the batched matmul and is never transposed.

    Args:
        left: ``[batch, *lead, k]`` log-values of the first factor's nodes.
        right: ``[batch, *lead, k]`` log-values of the second factor's nodes.
        weights: ``[*lead, k * k, sums]`` or ``[k * k, sums]`` linear weights;
            row ``i * k + j`` weighs the product of ``left_i`` and ``right_j``.

    Returns:
        ``[batch, *lead, sums]``.
    """
    if weights.shape.rank == 2:
        return _log_outer_matmul(left, right, weights)
    rank = left.shape.rank
    to_batch_inside = list(range(1, rank - 1)) + [0, rank - 1]
    back = list(range(rank - 2, rank - 1)) + list(range(0, rank - 2)) + [rank - 1]
    out = _log_outer_matmul(tf.transpose(left, to_batch_inside), tf.transpose(right, to_batch_inside), weights)
    return tf.transpose(out, back)


@tf.custom_gradient
def _log_outer_matmul(left, right, weights):
    """``[..., k]`` factors (batch-inside for per-position weights) against ``weights`` ``[..., k * k, sums]``."""
    left_shift = finite_max(left, axis=-1, keepdims=True)
    right_shift = finite_max(right, axis=-1, keepdims=True)
    exp_left = tf.exp(left - left_shift)
    exp_right = tf.exp(right - right_shift)
    outer_shape = tf.concat([tf.shape(left)[:-1], [left.shape[-1] * right.shape[-1]]], axis=0)
    outer = tf.reshape(tf.expand_dims(exp_left, -1) * tf.expand_dims(exp_right, -2), outer_shape)
    shared = weights.shape.rank == 2
    linear = _contract(outer, weights) if shared else tf.matmul(outer, weights)
    out = tf.math.log(linear) + left_shift + right_shift

    def grad(dy):
        scaled = tf.math.divide_no_nan(dy, linear)
        if shared:
            d_outer = _contract_transposed(scaled, weights)
            d_weights = _contract_weights_grad(outer, scaled, weights)
        else:
            d_outer = tf.matmul(scaled, weights, transpose_b=True)
            d_weights = tf.matmul(outer, scaled, transpose_a=True)
        d_outer = tf.reshape(d_outer, tf.concat([tf.shape(left), [right.shape[-1]]], axis=0))
        d_left = exp_left * tf.reduce_sum(d_outer * tf.expand_dims(exp_right, -2), axis=-1)
        d_right = exp_right * tf.reduce_sum(d_outer * tf.expand_dims(exp_left, -1), axis=-2)
        return d_left, d_right, d_weights

    return out, grad
