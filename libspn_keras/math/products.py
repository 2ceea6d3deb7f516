"""Products of nodes in log space."""

import math

import tensorflow as tf


def log_outer_product(left, right):
    """Every product of a node of ``left`` with a node of ``right``, in log space.

    Args:
        left: ``[..., k1]`` log-values.
        right: ``[..., k2]`` log-values (leading axes as ``left``).

    Returns:
        ``[..., k1 * k2]``; node ``i * k2 + j`` is ``left_i + right_j``.
    """
    outer = tf.expand_dims(left, -1) + tf.expand_dims(right, -2)
    return tf.reshape(outer, tf.concat([tf.shape(left)[:-1], [left.shape[-1] * right.shape[-1]]], axis=0))


def groups_of(values, num_factors):
    """``[batch, positions, ...]`` -> ``[batch, positions / num_factors, num_factors, ...]`` (adjacent positions)."""
    shape = tf.shape(values)
    return tf.reshape(values, tf.concat([[shape[0], values.shape[1] // num_factors, num_factors], shape[2:]], axis=0))


def spread_groups(values, num_factors):
    """The inverse direction of a reduction over :func:`groups_of`: each group's value repeated for its positions."""
    return tf.repeat(values, num_factors, axis=1)


#: Most factors :func:`log_product_of_groups` multiplies at once (its mantissa products stay below 2**100).
MAX_GROUP_FACTORS = 100


def log_product_of_groups(values, num_factors):
    """``sum log(values)`` over groups of ``num_factors`` adjacent positions on axis 1, with one ``log`` per group.

    The products of a ``ReduceProduct`` over the linear values of the sums
    below it: each value is split into its binary exponent and its mantissa
    in ``[1, 2)``; the mantissas of a group are multiplied (their product
    stays below ``2 ** num_factors``) and the exponents added, so a group
    costs one ``log`` instead of ``num_factors``, and the result is as
    exact as the sum of the logs.

    Args:
        values: ``[batch, positions, ...]`` non-negative linear values, each
            a normal float32 (at least ``2**-126``), 0, ``inf`` or ``nan``
            (which give ``-inf``, ``inf`` and ``nan`` as their logs would).
        num_factors: Positions per group, at most ``MAX_GROUP_FACTORS``;
            ``positions`` must be a multiple of it.

    Returns:
        ``[batch, positions / num_factors, ...]``.
    """
    if num_factors > MAX_GROUP_FACTORS:
        raise ValueError(f"log_product_of_groups: num_factors={num_factors} exceeds {MAX_GROUP_FACTORS}.")
    if values.dtype != tf.float32:  # the split reads float32 bits
        return tf.reduce_sum(groups_of(tf.math.log(values), num_factors), axis=2)
    bits = tf.bitcast(values, tf.int32)
    exponent = tf.cast(tf.bitwise.right_shift(bits, 23) - 127, values.dtype)
    mantissa = tf.bitcast(tf.bitwise.bitwise_or(tf.bitwise.bitwise_and(bits, 0x7FFFFF), 0x3F800000), values.dtype)
    # 0, inf and nan keep their value, so that the product (and its log) is what a sum of logs would give.
    mantissa = tf.where(tf.logical_and(values > 0, values < float("inf")), mantissa, values)
    products = tf.reduce_prod(groups_of(mantissa, num_factors), axis=2)
    return tf.math.log(products) + tf.reduce_sum(groups_of(exponent, num_factors), axis=2) * math.log(2.0)
