"""Probabilistic queries answered by back-propagating a signal from the root to the leaves.

The signal reaching a leaf component is, per sample: its posterior
probability given the evidence (exact sums, true gradients), a 0/1 mark of
the max-product path (hard-EM routing) or a 0/1 mark of a path drawn from the
posterior (sample routing). Combining it with each component's mean, mode or
draw fills in the missing inputs. Models are read as a chain of layers: the
layers before the leaf (``FlatToRegions``, ``NormalizeStandardScore``,
``InputDropout``), the leaf, and the SPN above it.
"""

import contextlib

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.base_leaf import LeafBase, missing_value
from libspn_keras.layers.base_sum import SumLayerBase
from libspn_keras.layers.flat_to_regions import FlatToRegions
from libspn_keras.layers.input_dropout import InputDropout
from libspn_keras.layers.normalize_standard_score import NormalizeStandardScore
from libspn_keras.math.routing import argmax_one_hot, sample_one_hot
from libspn_keras.sum_ops.grad import SumOpGradBackprop
from libspn_keras.sum_ops.hard_em import SumOpHardEMBackprop
from libspn_keras.sum_ops.sample import SumOpSampleBackprop

COMPLETION_METHODS = ("posterior_marginal", "mpe", "sample")
_PRE_LEAF_LAYERS = (FlatToRegions, NormalizeStandardScore, InputDropout)
_SIGNAL_SUM_OPS = {
    "posterior_marginal": SumOpGradBackprop,
    "mpe": SumOpHardEMBackprop,
    "sample": SumOpSampleBackprop,
}


def split_at_leaf(model):
    """``(layers before the leaf, leaf, layers above)`` of a chain-shaped SPN model."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    leaf_indices = [i for i, layer in enumerate(layers) if isinstance(layer, LeafBase)]
    if not leaf_indices:
        raise ValueError(
            f"Model '{model.name}' has no leaf layer (NormalLeaf, IndicatorLeaf, ...); queries back-propagate to "
            f"the leaves, so add one."
        )
    index = leaf_indices[0]
    for layer in layers[:index]:
        if not isinstance(layer, _PRE_LEAF_LAYERS):
            raise ValueError(
                f"Model '{model.name}': queries support only FlatToRegions, NormalizeStandardScore and InputDropout "
                f"before the leaf, found {type(layer).__name__} '{layer.name}'."
            )
    return layers[:index], layers[index], layers[index + 1 :]


@contextlib.contextmanager
def sum_ops_replaced(layers, sum_op):
    """Temporarily gives every sum layer among ``layers`` the same ``sum_op``."""
    sum_layers = [layer for layer in layers if isinstance(layer, SumLayerBase)]
    saved = [layer.sum_op for layer in sum_layers]
    for layer in sum_layers:
        layer.sum_op = sum_op
    try:
        yield
    finally:
        for layer, sum_op_before in zip(sum_layers, saved):
            layer.sum_op = sum_op_before


def missing_mask(x, leaf, evidence_mask=None, name="model"):
    """Unobserved entries: those ``leaf`` reads as missing (NaN, negative categories) and ``evidence_mask == False``."""
    missing = tf.logical_not(leaf.observed_mask(x))
    if evidence_mask is not None:
        evidence_mask = tf.convert_to_tensor(evidence_mask, dtype=tf.bool)
        if evidence_mask.shape != x.shape:
            raise ValueError(
                f"{name}: evidence_mask has shape {tuple(evidence_mask.shape)} but x has shape {tuple(x.shape)}; "
                f"pass one boolean per input entry (True = observed)."
            )
        missing = tf.logical_or(missing, tf.logical_not(evidence_mask))
    return missing


def mark_missing(x, missing):
    """``x`` with the missing entries set to NaN (floats) or -1 (integers), which the leaves marginalize."""
    return tf.where(missing, missing_value(x.dtype), x)


def _root_value(output, method):
    """Per-sample scalar whose gradient starts the signal: sum, max or a drawn class of the root outputs."""
    if method == "posterior_marginal":
        return tf.reduce_logsumexp(output, axis=-1)
    if method == "mpe":
        # One class even when several tie (the gradient of reduce_max would split between them).
        choice = tf.stop_gradient(argmax_one_hot(output, axis=-1))
    else:
        choice = tf.stop_gradient(sample_one_hot(output, axis=-1))
    return tf.reduce_sum(tf.where(choice > 0, output, tf.zeros_like(output)), axis=-1)


def _cells_to_inputs(values, pre_layers):
    """Maps per-cell values at the leaf input back to input positions (summing over decompositions)."""
    for layer in reversed(pre_layers):
        if isinstance(layer, FlatToRegions):
            values = tf.reduce_sum(values, axis=2)
    return values


def leaf_signal(layers, x, method):
    """Signal ``[batch, *cells, K]`` at the leaf outputs for ``method``, with the normalization and root values.

    ``layers`` is :func:`split_at_leaf`'s ``(pre, leaf, post)``.
    """
    pre, leaf, post = layers
    leaf_input = x
    normalization = None
    for layer in pre:
        if isinstance(layer, NormalizeStandardScore):
            normalization = (layer, *layer.statistics(leaf_input))
        leaf_input = layer(leaf_input, training=False) if isinstance(layer, InputDropout) else layer(leaf_input)
    leaf_output = leaf(leaf_input)
    if method == "mpe":
        unobserved = tf.cast(tf.logical_not(leaf.observed_mask(leaf_input)), leaf_output.dtype)
        leaf_output += tf.reduce_sum(tf.expand_dims(unobserved, -2) * leaf.mode_log_prob(), axis=-1)
    with tf.GradientTape() as tape:
        tape.watch(leaf_output)
        output = leaf_output
        with sum_ops_replaced(post, _SIGNAL_SUM_OPS[method]()):
            for layer in post:
                output = layer(output)
        root = _root_value(output, method)
        total = tf.reduce_sum(root)
    signal = tape.gradient(total, leaf_output)
    return signal, normalization, root


def complete(model, x, evidence_mask=None, method="posterior_marginal", seed=None):
    """Fills the missing entries of ``x``; see :meth:`QueryMixin.complete`."""
    if method not in COMPLETION_METHODS:
        raise ValueError(f"{model.name}.complete: method must be one of {COMPLETION_METHODS}, got {method!r}.")
    if seed is not None:
        tf.random.set_seed(seed)
    x = tf.convert_to_tensor(x)
    if x.dtype == tf.float64:
        x = tf.cast(x, tf.float32)
    layers = split_at_leaf(model)
    pre, leaf, _ = layers
    missing = missing_mask(x, leaf, evidence_mask, name=model.name)
    check_categories(model, leaf, x, missing)
    check_sample_statistics(model, pre, missing)
    x_marked = mark_missing(x, missing)
    signal, normalization, root = leaf_signal(layers, x_marked, method)
    if not np.all(np.isfinite(root.numpy())):
        raise ValueError(
            f"{model.name}.complete: the evidence of some samples has probability zero under the model, so no "
            f"completion exists for them."
        )
    num_dims = leaf.num_dims
    if leaf.is_categorical:
        probabilities = _cells_to_inputs(signal, pre)
        category = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        filled = tf.broadcast_to(tf.expand_dims(category, -1), tf.concat([tf.shape(category), [num_dims]], 0))
    else:
        if method == "posterior_marginal":
            components = leaf.component_mean()
        elif method == "mpe":
            components = leaf.mode()
        else:
            components = leaf.sample_components(tf.shape(x)[0], seed=seed)
        cell_values = tf.reduce_sum(tf.expand_dims(signal, -1) * components, axis=-2)
        filled = _cells_to_inputs(cell_values, pre)
        if normalization is not None:
            layer, mean, std = normalization
            filled = layer.inverse(tf.reshape(filled, tf.shape(x)), mean, std)
    filled = tf.cast(tf.reshape(filled, tf.shape(x)), x.dtype)
    result = tf.where(missing, filled, x)
    if x.dtype.is_floating and not np.all(np.isfinite(result.numpy())):
        raise ValueError(f"{model.name}.complete: the completion produced non-finite values.")
    return result.numpy()


def check_categories(model, leaf, x, missing):
    """Raises ``ValueError`` if an observed category is outside ``[0, num_components)`` of an indicator leaf."""
    if not leaf.is_categorical:
        return
    observed = tf.boolean_mask(x, tf.logical_not(missing)).numpy()
    if observed.size and np.round(observed).max() >= leaf.num_components:
        raise ValueError(
            f"{model.name}: input holds category {int(np.round(observed).max())} but {type(leaf).__name__} "
            f"'{leaf.name}' has {leaf.num_components} categories (0 to {leaf.num_components - 1}); recode the "
            f"input or raise num_components."
        )


def check_sample_statistics(model, pre, missing):
    """Raises ``ValueError`` when a sample-wise normalizer would estimate a sample's statistics from < 2 values."""
    if not any(isinstance(layer, NormalizeStandardScore) and layer.axes == layer.SAMPLE_WISE for layer in pre):
        return
    observed = tf.reduce_sum(tf.cast(tf.logical_not(missing), tf.int32), axis=list(range(1, missing.shape.rank)))
    if np.any(observed.numpy() < 2):
        raise ValueError(
            f"{model.name}: a sample-wise NormalizeStandardScore needs at least 2 observed entries per sample to "
            f"map values back to input units; use axes='variable_wise' or 'global' (with adapt) for sampling "
            f"or for completing nearly empty samples."
        )


def empty_evidence(model, num_samples):
    """A batch of ``num_samples`` inputs with every entry missing, shaped and typed like the model input."""
    shape = (num_samples, *model.inputs[0].shape[1:])
    dtype = tf.as_dtype(model.inputs[0].dtype)
    if dtype.is_floating:
        return np.full(shape, np.nan, dtype=dtype.as_numpy_dtype)
    return np.full(shape, -1, dtype=dtype.as_numpy_dtype)


class QueryMixin:
    """Queries on SPN models: marginal likelihood, completion, MPE and sampling."""

    def log_likelihood(self, x, evidence_mask=None):
        """Exact ``log p(evidence)`` per sample ``[batch]``: missing entries (NaN, -1, mask False) are marginalized.

        The sums are evaluated exactly even in models whose sum ops compute
        max-product in training (hard EM), whose own outputs are Viterbi values.
        """
        x = tf.convert_to_tensor(x)
        leaf = split_at_leaf(self)[1]
        missing = missing_mask(x, leaf, evidence_mask, name=self.name)
        check_categories(self, leaf, x, missing)
        marked = mark_missing(x, missing)
        # Exact sums whatever the layers' own sum ops (hard EM's forward pass is max-product).
        with sum_ops_replaced(self.layers, SumOpGradBackprop()):
            output = self(marked, training=False)
        return tf.reduce_logsumexp(output, axis=-1).numpy()

    def complete(self, x, evidence_mask=None, method="posterior_marginal", seed=None):
        """Fills in missing entries of ``x`` (NaN, negative category, or ``evidence_mask`` False).

        Args:
            x: Inputs shaped like the model input.
            evidence_mask: Optional booleans shaped like ``x``; ``True`` = observed.
            method: ``"posterior_marginal"`` (conditional mean for continuous
                leaves, most probable category under the posterior marginal
                for indicators), ``"mpe"`` (leaf modes along the max-product
                path) or ``"sample"`` (a draw from ``p(missing | evidence)``).
            seed: Optional int seed for ``"sample"`` (and hard-EM tie breaks).

        Returns:
            A NumPy array shaped like ``x``, with the observed entries unchanged.
        """
        return complete(self, x, evidence_mask=evidence_mask, method=method, seed=seed)

    def mpe(self, x, evidence_mask=None, seed=None):
        """Most probable explanation of the missing entries: ``complete(x, method="mpe")``."""
        return complete(self, x, evidence_mask=evidence_mask, method="mpe", seed=seed)

    def sample(self, num_samples, seed=None):
        """``num_samples`` unconditional samples shaped like the model input."""
        return complete(self, empty_evidence(self, num_samples), method="sample", seed=seed)

    def zero_evidence_inference(self, size, seed=None):
        """The original library's name for :meth:`sample`."""
        return self.sample(size, seed=seed)
