"""Soft-EM sums over accumulators normalized inside the kernel, with edge counts as their gradient.

:func:`~libspn_keras.math.log_matmul.log_matmul` contracts normalized linear
weights, which the soft-EM sum op computes from its accumulators (a maximum,
a division, a total and another division over every weight) and whose
gradient it turns into edge counts (one more multiplication over every
weight). For accumulators checked for the fast kernel (see
:mod:`libspn_keras.sum_ops.checked`) these kernels contract the accumulators
``a`` themselves and divide each sum by its total ``A_s = sum_c a_cs``,
which only touches the small ``[batch, *lead, sums]`` output:

``log S_s = log(sum_c exp(x_c - m) * a_cs / A_s) + m``.

Backward, with ``g = dy / sum_c exp(x_c - m) a_cs``, the children receive
their gradient ``exp(x_c - m) sum_s g_s a_cs`` and the accumulators the
expected edge counts ``a_cs sum_x exp(x_c - m) g_s`` (``w_cs dL/dw_cs`` for
``w = a / A``, what the soft-EM op hands its accumulators on every path).
Shapes follow :mod:`libspn_keras.math.log_matmul`.
"""

import functools

import tensorflow as tf

from libspn_keras.math.contractions import outer_sum_kernel, sum_kernel
from libspn_keras.math.log_matmul import MIN_FAST_WEIGHT
from libspn_keras.math.products import groups_of, log_product_of_groups, spread_groups

#: Range of each sum's accumulator total in which these kernels are exact when every accumulator is at least
#: ``MIN_FAST_WEIGHT`` too: every sum, at least its smallest accumulator unless all its children are 0, stays far
#: above the floats that flush to 0, and so does its gradient.
MIN_FAST_TOTAL = 2.0**-24
MAX_FAST_TOTAL = 2.0**64


def _normalized(linear, shift, accumulators):
    """``finish`` of the kernels: divides each sum by its total; floors it at ``MIN_FAST_WEIGHT`` of that total."""
    totals = tf.reduce_sum(accumulators, axis=-2)
    return tf.math.log(linear / totals) + shift, tf.maximum(linear, totals * MIN_FAST_WEIGHT)


def _normalized_products(num_factors):
    """``finish`` of :func:`counted_log_matmul` with ``product_factors``: products of groups of the sums.

    The products of the sums' linear values (each a normal float under the
    checks), less those of their totals, which are few: no division per sum.
    """

    def finish(linear, shift, accumulators):
        totals = tf.reduce_sum(accumulators, axis=-2)
        log_totals = tf.broadcast_to(tf.math.log(totals), tf.concat([[1], tf.shape(linear)[1:]], axis=0))
        offsets = tf.reduce_sum(groups_of(shift, num_factors), axis=2) - tf.reduce_sum(
            groups_of(log_totals, num_factors), axis=2
        )
        return log_product_of_groups(linear, num_factors) + offsets, tf.maximum(linear, totals * MIN_FAST_WEIGHT)

    return finish


def _counts(d_accumulators, accumulators):
    return accumulators * d_accumulators


def counted_log_matmul(x, accumulators, product_factors=None):
    """Soft-EM sums of children given in log space, the weights normalized from ``accumulators`` on the fly.

    Args:
        x: Log-values of the children, ``[batch, *lead, children]``.
        accumulators: Linear accumulators ``[*lead, children, sums]`` or
            ``[children, sums]`` (a tensor), each sum's total within
            [``MIN_FAST_TOTAL``, ``MAX_FAST_TOTAL``], and each
            accumulator and each normalized weight at least
            ``MIN_FAST_WEIGHT`` (as
            :func:`~libspn_keras.sum_ops.checked.weights_fit_fast_kernel`
            checks).
        product_factors: ``None``, or the ``num_factors`` of a
            ``ReduceProduct`` taking the sums (at most
            ``MAX_GROUP_FACTORS``): the
            result is then its output, the sums of each group of that many
            adjacent positions on axis 1 (scopes) multiplied, with one
            ``log`` per product (see
            :func:`~libspn_keras.math.products.log_product_of_groups`);
            sums over at most
            :data:`~libspn_keras.math.contractions.MAX_UNROLLED_CHILDREN`
            children are then added up elementwise, not by a matmul.

    Returns:
        ``log(sum_c exp(x_c) * a_cs / sum_c a_cs)``, ``[batch, *lead, sums]``
        (``[batch, lead[0] / product_factors, *lead[1:], sums]`` with
        ``product_factors``); ``-inf`` where every child is. The gradient to
        ``x`` is the true one, to ``accumulators`` the expected edge counts
        (see the module docstring); both are 0, never ``nan``, through sums
        of value 0.
    """
    if product_factors is None:
        return sum_kernel(x, accumulators, _normalized, _counts)
    finish = _normalized_products(product_factors)
    spread = functools.partial(spread_groups, num_factors=product_factors)
    return sum_kernel(x, accumulators, finish, _counts, spread, unroll_small=True)


def counted_log_outer_matmul(left, right, accumulators):
    """:func:`counted_log_matmul` over all products of two children sets (``log_outer_matmul``'s pair).

    Args:
        left: ``[batch, *lead, k]`` log-values of the first factor's nodes.
        right: ``[batch, *lead, k]`` log-values of the second factor's nodes.
        accumulators: ``[*lead, k * k, sums]`` or ``[k * k, sums]``, as for
            :func:`counted_log_matmul`; row ``i * k + j`` weighs the
            product of ``left_i`` and ``right_j``.

    Returns:
        ``[batch, *lead, sums]``.
    """
    return outer_sum_kernel(left, right, accumulators, _normalized, _counts)
