"""What EM updates: the roles of the variables that deliver EM counts, and the layout of leaf statistics.

Layers mark each variable they create for EM with :func:`tag_sum_accumulators`
or :func:`tag_leaf_statistics`; the EM optimizer and the SPN models read the
mark with :func:`em_role` and ask :func:`delivers_em_counts` whether the
backward pass of a variable is an EM count rather than a gradient.

Leaf statistics ``[..., 3]`` hold, per component and dimension, the count
``n`` and the moments ``n * (1, mean, variance)``: the running sums ``(n,
sum x, sum x^2)`` with the second one centred, ``sum (x - mean)^2``, so that
no variance is read as the difference of two large numbers for data far
from 0 (:func:`pack_leaf_statistics`, :func:`leaf_moments`). Their backward pass
delivers :func:`leaf_counts`: the responsibility-weighted moments of the
batch about each component's current mean, ``(sum r, sum r d, sum r d^2)``
with ``d = x - mean``, in float64. These add up over samples, batches and
replicas; between replicas they travel in the centred form of
:func:`centre_leaf_counts`, which float32 carries without cancellation.
"""

import dataclasses

import tensorflow as tf

SUM_ACCUMULATORS = "sum_accumulators"
"""Role of sum-layer accumulators ``[*lead, children, sums]``."""
LEAF_STATISTICS = "leaf_statistics"
"""Role of the EM statistics ``[..., 3]`` of location-scale leaves."""
_ATTRIBUTE = "em_role"


@dataclasses.dataclass(frozen=True)
class EMRole:
    """The EM role of one variable.

    Args:
        kind: :data:`SUM_ACCUMULATORS` or :data:`LEAF_STATISTICS`.
        layer: Name of the layer that owns the variable (for messages).
        counting: Whether the backward pass delivers EM counts (EM sum ops,
            leaf statistics) rather than gradients (a gradient sum op).
        update_location: Leaf statistics only: whether EM moves the mean.
        update_variance: Leaf statistics only: whether EM moves the variance.
        per_sum: Sum accumulators only: whether each batch's counts are
            normalized per sum before they are averaged and applied (soft
            EM, as 0.6.0's EM op), so that every reached sum moves at the
            learning rate; otherwise they are taken as shares of the batch
            (hard EM and sampling, as 0.6.0's routing ops), which moves a sum
            in proportion to how much of the batch reached it.
    """

    kind: str
    layer: str
    counting: bool = True
    update_location: bool = True
    update_variance: bool = False
    per_sum: bool = True


def tag_sum_accumulators(variable, layer, counting, per_sum=True):
    """Marks ``variable`` as the accumulators ``[*lead, children, sums]`` of the sum layer named ``layer``."""
    setattr(variable, _ATTRIBUTE, EMRole(SUM_ACCUMULATORS, layer, counting=bool(counting), per_sum=bool(per_sum)))


def tag_leaf_statistics(variable, layer, update_location, update_variance):
    """Marks ``variable`` as the EM statistics ``[..., 3]`` of the leaf named ``layer``."""
    role = EMRole(LEAF_STATISTICS, layer, True, bool(update_location), bool(update_variance))
    setattr(variable, _ATTRIBUTE, role)


def em_role(variable):
    """The :class:`EMRole` of ``variable``, or ``None`` for a variable EM does not update."""
    return getattr(variable, _ATTRIBUTE, None)


def delivers_em_counts(variable):
    """Whether the backward pass of ``variable`` delivers EM counts, which only an EM optimizer may apply."""
    role = em_role(variable)
    return role is not None and role.counting


def pack_leaf_statistics(mean, variance):
    """Leaf statistics ``[..., 3]`` = ``(1, mean, variance)`` from ``mean`` and ``variance`` (times a count)."""
    return tf.stack([tf.ones_like(mean), mean, variance], axis=-1)


def leaf_moments(statistics):
    """``(mean, variance)`` from leaf statistics ``(n, n * mean, n * variance)`` on the last axis."""
    count = statistics[..., 0]
    return statistics[..., 1] / count, statistics[..., 2] / count


def leaf_counts(weights, x, mean):
    """What leaf statistics deliver backward: ``(sum r, sum r d, sum r d^2)`` over the batch, ``d = x - mean``.

    Args:
        weights: Per-sample weights ``r`` ``[batch, *cells, num_components, d]``
            (the signal reaching each component's log-density).
        x: Inputs broadcasting against ``weights``.
        mean: The components' current means ``[*cells, num_components, d]``.

    Returns:
        float64 ``[*cells, num_components, d, 3]``.
    """
    weights = tf.cast(weights, tf.float64)
    deviation = tf.cast(x, tf.float64) - tf.cast(mean, tf.float64)
    weighted = weights * deviation
    return tf.reduce_sum(tf.stack([weights, weighted, weighted * deviation], axis=-1), axis=0)


def centre_leaf_counts(counts):
    """``(n, s1, s2)`` -> ``(n, s1, s2 - s1^2 / n)``: the spread about the counts' own mean as the last entry.

    The spread is what variances are made of; carried instead of ``s2`` it
    keeps its relative precision in float32 however far the data lie from
    the current means. Both forms are homogeneous of degree one, so counts
    and gradients (``-counts``) centre alike. :func:`uncentre_leaf_counts`
    inverts it.
    """
    n, s1, s2 = counts[..., 0], counts[..., 1], counts[..., 2]
    reached = tf.not_equal(n, 0)
    offset = tf.where(reached, tf.square(s1) / tf.where(reached, n, tf.ones_like(n)), tf.zeros_like(n))
    return tf.stack([n, s1, s2 - offset], axis=-1)


def uncentre_leaf_counts(centred):
    """Inverse of :func:`centre_leaf_counts`."""
    n, s1, spread = centred[..., 0], centred[..., 1], centred[..., 2]
    reached = tf.not_equal(n, 0)
    offset = tf.where(reached, tf.square(s1) / tf.where(reached, n, tf.ones_like(n)), tf.zeros_like(n))
    return tf.stack([n, s1, spread + offset], axis=-1)
