"""The signal at the leaves: back-propagation from the root through the sums' routing.

Per sample and leaf component the signal is its posterior probability given
the evidence (exact sums, true gradients), a 0/1 mark of the most probable
induced tree (max-product sums) or of a tree drawn from the posterior
(sampling sums), or whatever the model's own sum ops route (reconstruction).
"""

import tensorflow as tf

from libspn_keras.math.gradients import gradients_taken
from libspn_keras.math.routing import argmax_one_hot, sample_one_hot
from libspn_keras.math.stable import log_sum_exp
from libspn_keras.models.queries.chain import leaf_input, run_layers, sum_ops_replaced
from libspn_keras.sum_ops.grad import SumOpGradBackprop
from libspn_keras.sum_ops.max_product import SumOpMaxProduct
from libspn_keras.sum_ops.sample import SumOpSampleBackprop

SIGNAL_SUM_OPS = {
    "posterior_marginal": SumOpGradBackprop,
    "mpe": SumOpMaxProduct,
    "sample": SumOpSampleBackprop,
}


def root_value(output, method, labels=None):
    """Per-sample scalar whose gradient starts the signal from the root outputs ``[batch, classes]``.

    The log-sum over classes for posterior marginals, one class (the largest,
    or one drawn) for MPE and sampling, and, for the model's own sum ops
    (``method=None``), the sum of the outputs as libspn-keras 0.6.0 did.
    With ``labels`` (int32 ``[batch]``) every method starts at the root of
    each sample's class, ``log p(x, y)``: the queries are then conditioned on
    the class as well as on the evidence.
    """
    if labels is not None:
        choice = tf.one_hot(tf.cast(labels, tf.int32), tf.shape(output)[-1], dtype=output.dtype)
    elif method == "posterior_marginal":
        return log_sum_exp(output, axis=-1)
    elif method is None:
        return tf.reduce_sum(output, axis=-1)
    elif method == "mpe":
        # One class even when several tie (the gradient of reduce_max would split between them).
        choice = tf.stop_gradient(argmax_one_hot(output, axis=-1))
    else:
        choice = tf.stop_gradient(sample_one_hot(output, axis=-1))
    return tf.reduce_sum(tf.where(choice > 0, output, tf.zeros_like(output)), axis=-1)


def leaf_signal(layers, x, method, training=None, labels=None):
    """Signal ``[batch, *cells, K]`` at the leaf outputs, with the normalization and the root values.

    Args:
        layers: :func:`~libspn_keras.models.queries.split_at_leaf`'s ``(pre, leaf, post)``.
        x: Model input with missing entries marked.
        method: A key of ``SIGNAL_SUM_OPS``, whose sum op every sum layer
            uses for the query, or ``None`` for the layers' own sum ops.
        training: Passed to the layers above the leaf that take it.
        labels: Optional int32 ``[batch]``: the class root each sample's
            signal starts from (see ``root_value``).

    Returns:
        ``(signal, normalization, root)``: ``normalization`` is
        ``(layer, mean, std)`` of a ``NormalizeStandardScore`` before the
        leaf or ``None``; ``root`` the per-sample root values.
    """
    pre, leaf, post = layers
    values, normalization = leaf_input(pre, x)
    leaf_output = leaf(values)
    if method == "mpe":
        unobserved = tf.cast(tf.logical_not(leaf.observed_mask(values)), leaf_output.dtype)
        mode_log_prob = tf.cast(leaf.mode_log_prob(), leaf_output.dtype)
        leaf_output += tf.reduce_sum(tf.expand_dims(unobserved, -2) * mode_log_prob, axis=-1)
    sum_op = SIGNAL_SUM_OPS[method]() if method is not None else None
    with gradients_taken(), tf.GradientTape() as tape:
        tape.watch(leaf_output)
        with sum_ops_replaced(post, sum_op):
            output = run_layers(post, leaf_output, training=training)
        root = root_value(tf.reshape(output, [tf.shape(output)[0], -1]), method, labels)
        total = tf.reduce_sum(root)
    return tape.gradient(total, leaf_output), normalization, root
