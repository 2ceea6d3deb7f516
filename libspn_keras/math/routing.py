"""Choosing one child per sum and routing a backward signal along the choice.

Hard EM, unweighted hard EM, MPE and sampling all send what arrives at a
sum to exactly one of its children. The choice is a one-hot tensor
``[batch, *lead, children, sums]`` over the children axis (-2).
"""

import tensorflow as tf


def argmax_one_hot(values, axis=-2):
    """One-hot of the maximum over ``axis``, ties broken uniformly at random."""
    max_values = tf.reduce_max(values, axis=axis, keepdims=True)
    is_max = tf.equal(values, max_values)
    noise = tf.random.uniform(tf.shape(values), dtype=values.dtype)
    scores = tf.where(is_max, noise, -tf.ones_like(values))
    axis = axis % values.shape.rank
    depth = tf.shape(values)[axis]
    return tf.one_hot(tf.argmax(scores, axis=axis), depth=depth, axis=axis, dtype=values.dtype)


def sample_one_hot(logits, axis=-2):
    """One-hot of a child drawn with probability ``softmax(logits)`` over ``axis`` (Gumbel-max)."""
    uniform = tf.random.uniform(tf.shape(logits), minval=1e-20, maxval=1.0, dtype=logits.dtype)
    gumbel = -tf.math.log(-tf.math.log(uniform))
    return argmax_one_hot(logits + gumbel, axis=axis)


def route_to_children(one_hot, dy):
    """Signal reaching each child: ``sum_s one_hot[..., c, s] * dy[..., s]`` -> ``[batch, *lead, children]``."""
    return tf.reduce_sum(one_hot * tf.expand_dims(dy, axis=-2), axis=-1)


def route_to_weights(one_hot, dy, weights_rank):
    """Signal reaching each weight, summed over the batch and any axes the weights are shared over."""
    counts = one_hot * tf.expand_dims(dy, axis=-2)
    shared_axes = list(range(counts.shape.rank - weights_rank))
    return tf.reduce_sum(counts, axis=shared_axes)
