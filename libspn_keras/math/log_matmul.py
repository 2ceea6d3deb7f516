"""Log-space contractions: weighted sums of children whose values are log-probabilities.

All contractions share one convention. Children ``x`` have shape
``[batch, *lead, children]`` and weights have shape ``[*lead, children, sums]``
or ``[children, sums]`` (shared by every position of ``lead``). The result has
shape ``[batch, *lead, sums]``. Weights are given linearly (``weights``) or
as logarithms (``log_weights``); sums that the fast linear-space kernel
cannot represent are recomputed exactly, so log-weights down to ``-10000``
and linear weights up to the float32 maximum give exact results.

A caller that knows its weights are normalized (each sum's weights add up
to 1) and none is below ``MIN_FAST_WEIGHT`` passes
``checked_weights=True``: the fast kernel is then exact (each sum is at least
the weight of its largest child, ``exp(0) * w``), and the range check, whose
reductions and gated loop keep XLA from fusing a sum's ``log`` into the next
layer, is skipped. The sum ops do so inside the models' training, evaluation
and prediction steps, which check the weights of every sum first (see
:class:`libspn_keras.models.fast_path.FastPathMixin`).
"""

import tensorflow as tf

from libspn_keras.math.blockwise import log_sum_gradients_where_needed, log_sum_where_needed
from libspn_keras.math.contractions import outer_sum_kernel, sum_kernel, without_variables
from libspn_keras.math.gradients import custom_gradient
from libspn_keras.math.products import log_outer_product

# Shifted linear sums outside [_UNDERFLOW, _OVERFLOW] may have lost their leading terms (or overflowed).
_UNDERFLOW = 2.0**-100
_OVERFLOW = 2.0**100

#: Smallest normalized weight with which the fast kernel is exact without a range check (``checked_weights``).
MIN_FAST_WEIGHT = _UNDERFLOW


def _fast_or_exact(linear, shift, children_fn, log_weights_fn, weights, like, checked=False):
    """``(out, linear sums for the gradient[, exact gradients])``: the fast values, or exact ones if any sum is out
    of range.

    The exact path runs only when needed (see
    :func:`~libspn_keras.math.blockwise.log_sum_where_needed`); with
    ``checked`` (normalized weights of at least ``MIN_FAST_WEIGHT``) it is
    never needed and no range check runs. The linear sums are floored at the
    range's lower end, and so is the fast gradient's divisor; the kernels take
    their gradient from the third element instead,
    ``exact_gradients(out, dy, fast, from_children=None)``, which recomputes it
    block by block through the sums out of range where the exact path ran
    (:func:`~libspn_keras.math.blockwise.log_sum_gradients_where_needed`), and
    is ``fast(dy)`` otherwise.
    """
    floored = tf.maximum(linear, _UNDERFLOW)
    if checked:
        # Every sum is at least the weight of its largest child (>= MIN_FAST_WEIGHT), or 0 where all children are.
        return tf.math.log(linear) + shift, floored
    # A sum below 2^-100 of its weights' total (of 1 for weights adding up to less) may have lost the products of
    # children whose exponentials flushed to 0 under large weights: those sums are recomputed.
    lowest = _UNDERFLOW * tf.maximum(tf.reduce_sum(tf.stop_gradient(weights), axis=-2), 1.0)
    exact = tf.logical_or(tf.reduce_any(linear < lowest), tf.reduce_max(linear) > _OVERFLOW)

    # Differentiated (for gradients of gradients) as the fast values: the exact path's loops are never traced back.
    @custom_gradient
    def fast_or_exact(fast, linear):
        out = log_sum_where_needed(children_fn, log_weights_fn, weights.shape, like, exact, fast, linear)
        return out, lambda dy, variables=None: without_variables((dy, None), variables)

    def out_of_range():
        return tf.logical_or(linear < lowest, linear > _OVERFLOW)

    def exact_gradients(out, dy, fast, from_children=None):
        return log_sum_gradients_where_needed(
            children_fn, log_weights_fn, weights, like, exact, out, dy, fast, out_of_range, from_children
        )

    return fast_or_exact(tf.math.log(floored) + shift, floored), floored, exact_gradients


def _weight_forms(weights, log_weights, name):
    """``(linear weights, function giving log-weights)`` from either or both forms."""
    if weights is None and log_weights is None:
        raise ValueError(f"{name}: pass weights (linear), log_weights, or both (the same weights in two forms).")
    if log_weights is None:
        return weights, lambda: tf.math.log(tf.stop_gradient(weights))
    log_weights_fn = log_weights if callable(log_weights) else (lambda: log_weights)
    return (tf.exp(log_weights_fn()) if weights is None else weights), log_weights_fn


def log_matmul(x, weights=None, log_weights=None, checked_weights=False):
    """Log of a weighted sum of children given in log space.

    Args:
        x: Log-values of the children, ``[batch, *lead, children]``. May hold
            ``-inf`` (probability 0) and values of any magnitude.
        weights: Non-negative linear-space weights ``[*lead, children, sums]``
            or ``[children, sums]``.
        log_weights: Their logarithms (``-inf`` for a weight of 0), instead of
            or besides ``weights``: the form for weights too small for float32
            (down to ``e^-10000``). Given with ``weights``, it may be a
            function, called only when the exact path is needed.
        checked_weights: ``True`` when the caller has checked that each
            sum's weights add up to 1 and none is below
            ``MIN_FAST_WEIGHT``: the fast kernel is then exact and runs
            without the range check (nor the exact path).

    Returns:
        ``log(sum_c exp(x_c) * w_cs)`` of shape ``[batch, *lead, sums]``;
        ``-inf`` where every weighted child is 0. The children are shifted by
        their maximum and contracted with the linear weights by one matmul;
        where that leaves a sum's linear value out of the float range in which
        it is exact (weights and children both far below their maxima, or
        weights near the float32 maximum), the result is computed from the
        log-weights one block of children at a time instead (see
        :func:`~libspn_keras.math.blockwise_log_matmul`), so it is exact for
        any finite inputs. The gradient reuses the forward's exponentials (two
        contractions, as for a plain matmul), with respect to ``x`` and the
        linear weights; where the exact path ran it is recomputed block by
        block too. It is 0, never ``nan``, through sums of value 0.
    """
    weights, log_weights_fn = _weight_forms(weights, log_weights, "log_matmul")
    return _log_matmul_with(x, weights, log_weights_fn, checked_weights)


def _log_matmul_with(x, weights, log_weights_fn, checked=False):
    # The function is closed over rather than passed: custom gradients take tensors only.
    def finish(linear, shift, _):
        return _fast_or_exact(linear, shift, lambda: x, log_weights_fn, weights, x, checked)

    return sum_kernel(x, weights, finish, lambda d_weights, _: d_weights)


def log_outer_matmul(left, right, weights=None, log_weights=None, checked_weights=False):
    """Sums over all products of two children sets, without forming their log-space outer sum.

    Computes ``log sum_{i,j} exp(left_i + right_j) * w[(i, j), s]``, the
    ``DenseProduct(num_factors=2)`` -> sum pair, as one kernel: each factor is
    exponentiated with its own maximum and the outer product is taken in
    linear space, so the ``children ** 2`` wide tensor is built once (and its
    gradient once) instead of an outer sum, its maximum and its exponential.
    With per-position weights the small factors are moved batch-inside
    (``[*lead, batch, k]``) before the outer product, so the wide tensor is
    born in the layout of the batched matmul and is never transposed. Where
    that would lose precision, the result is that of :func:`log_matmul` on the
    outer sum.

    Args:
        left: ``[batch, *lead, k]`` log-values of the first factor's nodes.
        right: ``[batch, *lead, k]`` log-values of the second factor's nodes.
        weights: ``[*lead, k * k, sums]`` or ``[k * k, sums]`` linear weights;
            row ``i * k + j`` weighs the product of ``left_i`` and ``right_j``.
        log_weights: Their logarithms, instead of or besides ``weights`` (as
            for :func:`log_matmul`).
        checked_weights: As for :func:`log_matmul`.

    Returns:
        ``[batch, *lead, sums]``.
    """
    weights, log_weights_fn = _weight_forms(weights, log_weights, "log_outer_matmul")

    def finish(linear, shift, _):
        products = lambda: log_outer_product(left, right)  # noqa: E731 (formed only on the exact path)
        return _fast_or_exact(linear, shift, products, log_weights_fn, weights, left, checked_weights)

    return outer_sum_kernel(left, right, weights, finish, lambda d_weights, _: d_weights)
