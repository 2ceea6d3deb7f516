"""Log-space contractions: weighted sums of children whose values are log-probabilities.

All contractions share one convention. Children ``x`` have shape
``[batch, *lead, children]`` and weights have shape ``[*lead, children, sums]``
or ``[children, sums]`` (shared by every position of ``lead``). The result has
shape ``[batch, *lead, sums]``. Weights are given either linearly
(``weights``) or as logarithms (``log_weights``); the kernels work on the
logarithms, so weights from ``e^-10000`` up to the float32 maximum are exact.
"""

import string

import tensorflow as tf

from libspn_keras.math.blockwise import blockwise_log_matmul
from libspn_keras.math.products import log_outer_product
from libspn_keras.math.stable import finite_max

# A sum whose shifted linear value falls below this has lost its leading terms to underflow.
_UNDERFLOW = 2.0**-100


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


def _underflowed(linear, x_max, weight_max):
    """Sums whose shifted value is too small to be trusted although some weighted child is positive."""
    possible = tf.logical_and(x_max > -float("inf"), weight_max > -float("inf"))
    return tf.logical_and(linear < _UNDERFLOW, possible)


@tf.custom_gradient
def _shifted_log_matmul(x, log_weights):
    """The fast kernel: children and weights shifted by their own maxima, one matmul in linear space."""
    x_shift = finite_max(x, axis=-1)
    w_shift = finite_max(log_weights, axis=-2)
    exp_x = tf.exp(x - x_shift)
    exp_w = tf.exp(log_weights - w_shift)
    linear = _contract(exp_x, exp_w)
    out = tf.math.log(linear) + x_shift + tf.squeeze(w_shift, -2)
    weight_max = tf.squeeze(tf.reduce_max(log_weights, axis=-2, keepdims=True), -2)
    underflow = _underflowed(linear, tf.reduce_max(x, axis=-1, keepdims=True), weight_max)

    def grad(dy, _):
        # d out_s / d x_c = d out_s / d log w_cs = exp_x_c * exp_w_cs / linear_s; a sum of value 0 passes nothing.
        scaled = tf.math.divide_no_nan(dy, linear)
        return exp_x * _contract_transposed(scaled, exp_w), exp_w * _contract_weights_grad(exp_x, scaled, exp_w)

    return (out, underflow), grad


def _exact_where_needed(fast, underflow, exact):
    """``fast``, or ``exact()`` when any sum underflowed in the fast kernel."""
    return tf.cond(tf.reduce_any(underflow), exact, lambda: fast)


@tf.custom_gradient
def _log_of_weights(weights):
    """``log(weights)`` whose gradient is 0, not ``nan``, at weights of 0."""

    def grad(dy):
        return tf.math.divide_no_nan(dy, weights)

    return tf.math.log(weights), grad


def _as_log_weights(weights, log_weights, name):
    if (weights is None) == (log_weights is None):
        raise ValueError(f"{name}: pass exactly one of weights (linear) and log_weights.")
    return log_weights if log_weights is not None else _log_of_weights(weights)


def log_matmul(x, weights=None, log_weights=None):
    """Log of a weighted sum of children given in log space.

    Args:
        x: Log-values of the children, ``[batch, *lead, children]``. May hold
            ``-inf`` (probability 0) and values of any magnitude.
        weights: Non-negative linear-space weights ``[*lead, children, sums]``
            or ``[children, sums]``; or instead
        log_weights: Their logarithms (``-inf`` for a weight of 0).

    Returns:
        ``log(sum_c exp(x_c) * w_cs)`` of shape ``[batch, *lead, sums]``;
        ``-inf`` where every weighted child is 0. Children and weights are
        shifted by their own maxima and contracted by one matmul; sums whose
        leading terms would underflow that way (weights and children both far
        below their maxima) are recomputed by
        :func:`~libspn_keras.math.blockwise.blockwise_log_matmul`, so the
        result is exact for any finite inputs. The gradient reuses the
        forward's exponentials (two contractions, as for a plain matmul) and
        is 0, never ``nan``, through sums of value 0.
    """
    log_weights = _as_log_weights(weights, log_weights, "log_matmul")
    fast, underflow = _shifted_log_matmul(x, log_weights)
    return _exact_where_needed(fast, underflow, lambda: blockwise_log_matmul(x, log_weights))


def log_outer_matmul(left, right, weights=None, log_weights=None):
    """Sums over all products of two children sets, without forming their log-space outer sum.

    Computes ``log sum_{i,j} exp(left_i + right_j) * w[(i, j), s]``, the
    ``DenseProduct(num_factors=2)`` -> sum pair, as one kernel: each factor is
    exponentiated with its own maximum and the outer product is taken in
    linear space, so the ``children ** 2`` wide tensor is built once (and its
    gradient once) instead of an outer sum, its maximum and its exponential.
    With per-position weights the small factors are moved batch-inside
    (``[*lead, batch, k]``) before the outer product, so the wide tensor is
    born in the layout of the batched matmul and is never transposed. Where
    that would underflow, the result is that of :func:`log_matmul` on the
    outer sum.

    Args:
        left: ``[batch, *lead, k]`` log-values of the first factor's nodes.
        right: ``[batch, *lead, k]`` log-values of the second factor's nodes.
        weights: ``[*lead, k * k, sums]`` or ``[k * k, sums]`` linear weights;
            row ``i * k + j`` weighs the product of ``left_i`` and ``right_j``.
        log_weights: Their logarithms, instead of ``weights``.

    Returns:
        ``[batch, *lead, sums]``.
    """
    log_weights = _as_log_weights(weights, log_weights, "log_outer_matmul")
    if log_weights.shape.rank == 2:
        fast, underflow = _log_outer_matmul(left, right, log_weights)
    else:
        rank = left.shape.rank
        to_batch_inside = list(range(1, rank - 1)) + [0, rank - 1]
        back = list(range(rank - 2, rank - 1)) + list(range(0, rank - 2)) + [rank - 1]
        left_t, right_t = tf.transpose(left, to_batch_inside), tf.transpose(right, to_batch_inside)
        fast, underflow = (tf.transpose(t, back) for t in _log_outer_matmul(left_t, right_t, log_weights))
    return _exact_where_needed(
        fast, underflow, lambda: log_matmul(log_outer_product(left, right), log_weights=log_weights)
    )


@tf.custom_gradient
def _log_outer_matmul(left, right, log_weights):
    """``[..., k]`` factors (batch-inside for per-position weights) against ``log_weights`` ``[..., k * k, sums]``."""
    left_shift = finite_max(left, axis=-1)
    right_shift = finite_max(right, axis=-1)
    w_shift = finite_max(log_weights, axis=-2)
    exp_left = tf.exp(left - left_shift)
    exp_right = tf.exp(right - right_shift)
    exp_w = tf.exp(log_weights - w_shift)
    outer_shape = tf.concat([tf.shape(left)[:-1], [left.shape[-1] * right.shape[-1]]], axis=0)
    outer = tf.reshape(tf.expand_dims(exp_left, -1) * tf.expand_dims(exp_right, -2), outer_shape)
    shared = log_weights.shape.rank == 2
    linear = _contract(outer, exp_w) if shared else tf.matmul(outer, exp_w)
    out = tf.math.log(linear) + left_shift + right_shift + (tf.squeeze(w_shift, -2) if shared else w_shift)
    x_max = tf.reduce_max(left, axis=-1, keepdims=True) + tf.reduce_max(right, axis=-1, keepdims=True)
    weight_max = tf.reduce_max(log_weights, axis=-2, keepdims=True)
    underflow = _underflowed(linear, x_max, tf.squeeze(weight_max, -2) if shared else weight_max)

    def grad(dy, _):
        scaled = tf.math.divide_no_nan(dy, linear)
        if shared:
            d_outer = _contract_transposed(scaled, exp_w)
            d_w = _contract_weights_grad(outer, scaled, exp_w)
        else:
            d_outer = tf.matmul(scaled, exp_w, transpose_b=True)
            d_w = tf.matmul(outer, scaled, transpose_a=True)
        d_outer = tf.reshape(d_outer, tf.concat([tf.shape(left), [right.shape[-1]]], axis=0))
        d_left = exp_left * tf.reduce_sum(d_outer * tf.expand_dims(exp_right, -2), axis=-1)
        d_right = exp_right * tf.reduce_sum(d_outer * tf.expand_dims(exp_left, -1), axis=-2)
        return d_left, d_right, exp_w * d_w

    return (out, underflow), grad
