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


def sum_estimate(counts, pseudocount=0.0, per_sum=True, with_total=False):
    """EM estimate of every sum's weights from its counts ``n_c`` (children on axis -2), pseudocount ``a`` added.

    With ``per_sum``, ``(n_c + a) / (sum n + K a)`` over the ``K`` children
    (a Dirichlet prior with concentration ``1 + a``): every reached sum gets
    an estimate of total one. Otherwise ``n_c + a`` as they are: with counts
    that are shares of a batch, the total is the share that reached the sum.
    Either way no child of a reached sum gets weight 0 when ``a > 0``, and
    sums that received no count get an all-zero estimate: they carry no
    information. With ``with_total``, returns ``(estimate, total)``: each
    sum's estimate total (``[*lead, 1, sums]``), as the formula gives it
    (1 or ``sum n + K a`` where reached, else 0), with no second pass over
    the estimate.
    """
    total = tf.reduce_sum(counts, axis=-2, keepdims=True)
    reached = total > 0
    estimate = counts + pseudocount
    estimate_total = total + pseudocount * counts.shape[-2]
    if per_sum:
        estimate = estimate / tf.where(reached, estimate_total, tf.ones_like(estimate_total))
        estimate_total = tf.ones_like(estimate_total)
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


def online_em_leaf_update(
    statistics, counts, learning_rate, update_mean, update_variance, pseudocount=0.0, prior_variance=1.0
):
    """Online EM step of a location(-scale) leaf, returning statistics ``(1, mean, variance + mean^2)``.

    ``counts`` are ``(sum r, sum r d, sum r d^2)`` with ``d = x - mean_old``
    (:func:`~libspn_keras.math.em_roles.leaf_counts`). The EM mean is
    ``mean_old + sum r d / sum r``; the EM variance is taken about the mean
    the component ends up with (the EM mean, or the fixed one), with the
    prior ``(sum r (x - mean)^2 + a * prior_variance) / (sum r + a)`` for a
    pseudocount ``a`` (pseudo-observations spread with ``prior_variance``, so
    a variance never collapses to 0). Each moves by ``eta`` towards its EM
    value when updated; components that no sample reached keep their values.
    """
    old_mean, old_variance = leaf_moments(statistics)
    count = counts[..., 0]
    reached = count > 0
    safe = tf.where(reached, count, tf.ones_like(count))
    shift = counts[..., 1] / safe
    centre = shift if update_mean else tf.zeros_like(shift)
    spread = tf.maximum(counts[..., 2] - 2.0 * centre * counts[..., 1] + tf.square(centre) * count, 0.0)
    em_variance = (spread + pseudocount * prior_variance) / (safe + pseudocount)
    mean = old_mean
    if update_mean:
        mean = tf.where(reached, old_mean + learning_rate * shift, old_mean)
    variance = old_variance
    if update_variance:
        variance = tf.where(reached, (1.0 - learning_rate) * old_variance + learning_rate * em_variance, old_variance)
    return pack_leaf_statistics(mean, variance)
