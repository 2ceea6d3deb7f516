"""Sum layers whose weights were checked for the fast log-matmul kernel.

:func:`~libspn_keras.math.log_matmul` is exact without its range check (and
its exact path) when each sum's weights are normalized and none is below
``MIN_FAST_WEIGHT``. The SPN models check
that for every sum layer before each training, evaluation and prediction step
(:func:`weights_fit_fast_kernel`) and trace the step that runs when it holds
inside :func:`checked_accumulators`; the sum ops then pass
``checked_weights=True`` for the layers whose accumulators were checked
(:func:`is_checked`). Everywhere else, e.g. a layer called on its own, the
range check stays.
"""

import contextlib
import math
import threading

import numpy as np
import tensorflow as tf

from libspn_keras.math.counted_log_matmul import MAX_FAST_TOTAL, MIN_FAST_TOTAL
from libspn_keras.math.log_matmul import MIN_FAST_WEIGHT

_TRACE = threading.local()


@contextlib.contextmanager
def checked_accumulators(accumulators):
    """Within the block (and in this thread), sums over ``accumulators`` (variables) skip the range check.

    Enter it only around code that runs after :func:`weights_fit_fast_kernel`
    held for each of them, with the same values.
    """
    saved = getattr(_TRACE, "accumulators", ())
    _TRACE.accumulators = tuple(accumulators)
    try:
        yield
    finally:
        _TRACE.accumulators = saved


def is_checked(accumulators):
    """Whether ``accumulators`` (the variable a sum layer passes its op) is among the checked ones."""
    return any(accumulators is checked for checked in getattr(_TRACE, "accumulators", ()))


def weights_fit_fast_kernel(accumulators, logspace_accumulators):
    """Scalar bool tensor: every normalized weight of these accumulators ``[*lead, children, sums]`` is large enough.

    ``True`` when each weight, normalized over the children axis as the sum
    ops normalize it, is at least ``MIN_FAST_WEIGHT``, and, for linear
    accumulators, each accumulator is at least ``MIN_FAST_WEIGHT`` too and
    each sum's total is within ``[MIN_FAST_TOTAL, MAX_FAST_TOTAL]``
    (:func:`~libspn_keras.math.counted_log_matmul.counted_log_matmul`
    contracts the accumulators themselves, so its sums are as small as
    their smallest accumulator); ``False`` for a weight of 0 or a
    non-finite accumulator.
    """
    accumulators = tf.convert_to_tensor(accumulators)
    if logspace_accumulators:
        lowest = tf.reduce_min(accumulators, axis=-2) - tf.reduce_logsumexp(accumulators, axis=-2)
        return tf.reduce_all(lowest >= math.log(MIN_FAST_WEIGHT))
    # Two reductions and one division per sum (this runs before every step): a total that overflows or is 0
    # gives a ratio of 0 or NaN, so the check fails rather than passes; the ratio itself cannot underflow
    # above MIN_FAST_WEIGHT.
    # An accumulator below MIN_FAST_WEIGHT (under a total as small as MIN_FAST_TOTAL) would let a sum fall to where
    # the products of its other children flush to 0 while still counting against it.
    totals = tf.reduce_sum(accumulators, axis=-2)
    lowest = tf.reduce_min(accumulators, axis=-2)
    lowest_share = lowest / totals
    in_range = tf.logical_and(totals >= MIN_FAST_TOTAL, totals <= MAX_FAST_TOTAL)
    large_enough = tf.logical_and(lowest_share >= MIN_FAST_WEIGHT, lowest >= MIN_FAST_WEIGHT)
    return tf.reduce_all(tf.logical_and(large_enough, in_range))


def _weight_conditions(accumulators, logspace_accumulators):
    """``[(problem, holds)]``: what accumulators ``[*lead, children, sums]`` need to give every sum weights.

    Each entry is a short phrase naming the problem where the condition
    fails, and a scalar bool tensor telling whether it holds. Linear
    accumulators need to be finite and non-negative, with a child above 0 in
    every sum (values below the smallest normal number count as 0: CPUs
    flush them); log-space ones need to be below ``+inf``, not NaN, with a
    child above ``-inf`` in every sum.
    """
    accumulators = tf.convert_to_tensor(accumulators)
    largest = tf.reduce_max(accumulators, axis=-2)
    if logspace_accumulators:
        usable = tf.logical_not(tf.logical_or(tf.math.is_nan(accumulators), tf.equal(accumulators, math.inf)))
        return [
            ("some are NaN or +inf", tf.reduce_all(usable)),
            ("every child of some sum is -inf (a weight of 0)", tf.reduce_all(largest > -math.inf)),
        ]
    tiny = np.finfo(accumulators.dtype.as_numpy_dtype).tiny
    return [
        ("some are NaN or infinite", tf.reduce_all(tf.math.is_finite(accumulators))),
        ("some are negative", tf.reduce_all(accumulators >= 0)),
        (
            "every child of some sum is 0 (or below the smallest normal number, which CPUs read as 0)",
            tf.reduce_all(largest >= tiny),
        ),
    ]


def weights_defined(accumulators, logspace_accumulators):
    """Scalar bool tensor: the accumulators ``[*lead, children, sums]`` give every sum weights (see
    :func:`undefined_weights`, which says why not)."""
    return tf.reduce_all(tf.stack([holds for _, holds in _weight_conditions(accumulators, logspace_accumulators)]))


def undefined_weights(accumulators, logspace_accumulators):
    """Why the accumulators ``[*lead, children, sums]`` give some sum no weights (a short phrase), or ``None``.

    The conditions are :func:`weights_defined`'s, read eagerly: called after
    that failed, to say which one.
    """
    for problem, holds in _weight_conditions(accumulators, logspace_accumulators):
        if not bool(holds):
            return problem
    return None
