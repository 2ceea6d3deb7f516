"""M-steps of online EM, shared by the optimizer; all tensor-wide.

Sum accumulators ``[*lead, children, sums]`` are linear-space weights, up to
normalization over the children axis (-2); updates write normalized weights.
Leaf statistics follow the layout of :mod:`libspn_keras.math.em_roles`.
Counts come as the optimizer receives them: with a mean-reduced loss, the expected counts of one batch divided by
its size, so a pseudocount is measured in those units (one unit is a whole
batch's worth of samples).
"""

import tensorflow as tf

from libspn_keras.math.em_roles import leaf_moments, pack_leaf_statistics

# Smallest running count of a leaf component (float64 statistics): far below any count a batch adds.
_MIN_LEAF_COUNT = 1e-200


def sum_estimate(counts, pseudocount=0.0, per_sum=True, with_total=False):
    """EM estimate of every sum's weights from its counts ``n_c`` (children on axis -2), pseudocount ``a`` added.

    With ``per_sum``, ``(n_c + a) / (sum n + K a)`` over the ``K`` children
    (a Dirichlet prior with concentration ``1 + a``): every reached sum gets
    an estimate of total one. Otherwise ``n_c + a`` as they are: with counts
    that are shares of a batch, the total is the share that reached the sum.
    Signed counts (a discriminative loss's) are taken as they are even with
    ``per_sum``. Either way no child of a reached sum gets weight 0 when ``a > 0``, and
    sums that received no count get an all-zero estimate: they carry no
    information; so do sums whose counts are not finite. With ``with_total``, returns ``(estimate, total)``: each
    sum's estimate total (``[*lead, 1, sums]``), as the formula gives it
    (1 or ``sum n + K a`` where reached, else 0), with no second pass over
    the estimate.
    """
    total = tf.reduce_sum(counts, axis=-2, keepdims=True)
    # Signed "counts" (the gradient of a discriminative loss such as cross-entropy at a class root) total about 0
    # per sample: a sum that has any is reached, and they are taken as they are, never divided by that total.
    signed = tf.reduce_any(counts < 0, axis=-2, keepdims=True)
    # Not finite: counts of a sample of probability 0 under a cross-entropy loss (NaN), which carry nothing.
    reached = tf.logical_and(tf.logical_or(total > 0, signed), tf.math.is_finite(total))
    estimate = counts + pseudocount
    num_children = counts.shape[-2] if counts.shape[-2] is not None else tf.cast(tf.shape(counts)[-2], counts.dtype)
    estimate_total = total + pseudocount * num_children
    if per_sum:
        normalize = tf.logical_and(reached, tf.logical_not(signed))
        estimate = estimate / tf.where(normalize, estimate_total, tf.ones_like(estimate_total))
        estimate_total = tf.where(normalize, tf.ones_like(estimate_total), estimate_total)
    estimate = tf.where(reached, estimate, tf.zeros_like(estimate))
    if not with_total:
        return estimate
    return estimate, tf.where(reached, estimate_total, tf.zeros_like(estimate_total))


def online_em_sum_update(accumulators, estimate, learning_rate, estimate_total=None):
    """Online EM step of sum weights: ``(1 - eta) * w_old + eta * estimate``, renormalized.

    ``estimate`` is a (possibly averaged) :func:`sum_estimate` of total
    ``m`` per sum (below one where some of the averaged batches, or some of
    the batch's samples, did not reach the sum): the result is divided by
    ``1 - eta + eta * m``, as libspn-keras 0.6.0 does by normalizing its
    accumulators after every update. A sum that received no count keeps its
    weights. ``estimate_total`` is ``m`` (``[*lead, 1, sums]``) where the
    caller knows it (:func:`sum_estimate` with ``with_total``), which spares
    a pass over the estimate; by default it is summed.
    """
    if estimate_total is None:
        estimate_total = tf.reduce_sum(estimate, axis=-2, keepdims=True)
    old = accumulators / tf.reduce_sum(accumulators, axis=-2, keepdims=True)
    total = (1.0 - learning_rate) + learning_rate * estimate_total
    kept = total <= 0
    updated = ((1.0 - learning_rate) * old + learning_rate * estimate) / tf.where(kept, tf.ones_like(total), total)
    return tf.where(kept, old, updated)


def _leaf_batch_estimate(counts, update_mean, pseudocount, prior_variance):
    """One batch's EM estimate of each component: ``(reached, count, shift, variance)``.

    ``counts`` are ``(sum r, sum r d, sum r d^2)`` with ``d = x - mean_old``
    (:func:`~libspn_keras.math.em_roles.leaf_counts`). ``shift`` moves the
    old mean to the EM mean ``mean_old + sum r d / sum r`` (0 for fixed
    means). ``variance`` is taken about the mean the component ends up with
    (the EM mean, or the fixed one), with the prior
    ``(sum r (x - mean)^2 + a * prior_variance) / (sum r + a)`` for a
    pseudocount ``a`` (pseudo-observations spread with ``prior_variance``, so
    a variance never collapses to 0); ``count`` is ``sum r + a``, the weight
    of the estimate. Components that no sample reached have ``reached``
    false and count 0.
    """
    count = counts[..., 0]
    reached = count > 0
    safe = tf.where(reached, count, tf.ones_like(count))
    shift = counts[..., 1] / safe
    if not update_mean:
        shift = tf.zeros_like(shift)
    spread = tf.maximum(counts[..., 2] - 2.0 * shift * counts[..., 1] + tf.square(shift) * count, 0.0)
    variance = (spread + pseudocount * prior_variance) / (safe + pseudocount)
    weight = tf.where(reached, count + pseudocount, tf.zeros_like(count))
    return reached, weight, shift, variance


def online_em_leaf_update(
    statistics, counts, learning_rate, update_mean, update_variance, pseudocount=0.0, prior_variance=1.0
):
    """Online EM step of a location(-scale) leaf by running statistics, as libspn-keras 0.6.0 takes it.

    The statistics (``n``, ``sum x`` and ``sum x^2``, stored as ``(n, n * mean,
    n * variance)``) are running averages: each step
    makes them ``(1 - eta) * old + eta * batch``, the batch's
    responsibility-weighted statistics (plus, with a pseudocount ``a``,
    ``a`` pseudo-observations at the batch's EM mean spread with
    ``prior_variance``), and the mean and variance are read off their
    ratios (stepwise online EM, Cappe & Moulines 2009). So a component
    moves by the share of the running count that the batch holds, and the
    counts of components no sample reached decay by ``1 - eta`` while their
    mean and variance stay. The combination is computed from deviations
    about the means (Chan's pairwise update), the same values as the sums
    themselves without their cancellation. A fixed mean stays, and the
    variance is then the spread about it; a fixed variance stays.

    ``counts`` are as for ``_leaf_batch_estimate``. Returns the new
    statistics ``(n, n * mean, n * variance)``.
    """
    old_count = statistics[..., 0]
    old_mean, old_variance = leaf_moments(statistics)
    _, weight, shift, batch_variance = _leaf_batch_estimate(counts, update_mean, pseudocount, prior_variance)
    kept_count = (1.0 - learning_rate) * old_count
    batch_count = learning_rate * weight
    total = kept_count + batch_count
    safe_total = tf.where(total > 0, total, tf.ones_like(total))
    move = batch_count * shift / safe_total
    mean = old_mean + move
    variance = old_variance
    if update_variance:
        kept_spread = kept_count * (old_variance + tf.square(move))
        spread = kept_spread + batch_count * (batch_variance + tf.square(shift - move))
        variance = tf.where(total > 0, spread / safe_total, old_variance)
    # Counts of long-unreached components shrink geometrically; a floor keeps them (and their ratios) finite.
    return pack_leaf_statistics(mean, variance) * tf.expand_dims(tf.maximum(total, _MIN_LEAF_COUNT), -1)


def online_em_leaf_update_towards_estimate(
    statistics, counts, learning_rate, update_mean, update_variance, pseudocount=0.0, prior_variance=1.0
):
    """Online EM step of a location(-scale) leaf that moves its mean and variance towards the batch's estimate.

    The EM mean and variance of ``_leaf_batch_estimate`` are reached by
    a step ``eta`` each, whatever the running counts: ``mean_old + eta *
    shift`` and ``(1 - eta) * variance_old + eta * variance_em``.
    Components that no sample reached keep their values. Returns statistics
    ``(1, mean, variance)``.
    """
    old_mean, old_variance = leaf_moments(statistics)
    reached, _, shift, em_variance = _leaf_batch_estimate(counts, update_mean, pseudocount, prior_variance)
    mean = old_mean
    if update_mean:
        mean = tf.where(reached, old_mean + learning_rate * shift, old_mean)
    variance = old_variance
    if update_variance:
        variance = tf.where(reached, (1.0 - learning_rate) * old_variance + learning_rate * em_variance, old_variance)
    return pack_leaf_statistics(mean, variance)
