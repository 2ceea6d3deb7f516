"""Filling in unobserved inputs from the signal at the leaves: completion, MPE, sampling, reconstruction."""

import numpy as np
import tensorflow as tf

from libspn_keras.layers.leaf_representation import LeafRepresentation
from libspn_keras.math.seeding import random_source, stateless_seed
from libspn_keras.models.fast_path import compiled_query
from libspn_keras.models.input_shapes import input_shape_matches
from libspn_keras.models.queries.batches import in_batches, query_batch_size
from libspn_keras.models.queries.chain import copies_per_input, from_inputs, leaf_input, split_at_leaf, to_inputs
from libspn_keras.models.queries.evidence import (
    check_leaf_values,
    check_sample_statistics,
    checked_labels,
    mark_missing,
    missing_mask,
    query_dtype,
    query_input,
)
from libspn_keras.models.queries.signal import leaf_signal

COMPLETION_METHODS = ("posterior_marginal", "mpe", "sample")


def _one_hot_largest(weights, pre):
    """One-hot of the largest weight per input, among all its copies (decompositions) and components."""
    if not copies_per_input(pre):
        return tf.one_hot(tf.argmax(weights, axis=-1), tf.shape(weights)[-1], dtype=weights.dtype)
    shape = tf.shape(weights)
    flat = tf.reshape(weights, tf.concat([shape[:-2], [-1]], axis=0))
    one_hot = tf.one_hot(tf.argmax(flat, axis=-1), tf.shape(flat)[-1], dtype=weights.dtype)
    return tf.reshape(one_hot, shape)


def fill_from_signal(signal, components, pre, hard=False):
    """Input values ``[batch, *inputs, d]`` combining component values by the signal at the leaves.

    Args:
        signal: ``[batch, *cells, K]`` from :func:`~libspn_keras.models.queries.leaf_signal`.
        components: Value of every component, broadcastable to ``[batch, *cells, K, d]``.
        pre: The layers before the leaf.
        hard: If ``True`` each input takes the value of the one component
            (of any copy) with the largest signal; otherwise the average of
            the components weighted by the signal, normalized per input.
    """
    # Layers given a half-precision dtype send the signal in it, while the components keep the variables'
    # dtype: combine them in the latter.
    components = tf.convert_to_tensor(components)
    signal = tf.cast(signal, components.dtype)
    magnitude = to_inputs(tf.reduce_sum(tf.abs(signal), axis=-1), pre)
    weights = tf.math.divide_no_nan(signal, tf.expand_dims(from_inputs(magnitude, pre), -1))
    if hard:
        weights = _one_hot_largest(weights, pre)
    return to_inputs(tf.reduce_sum(tf.expand_dims(weights, -1) * components, axis=-2), pre)


def _to_input_units(filled, x, normalization):
    filled = tf.reshape(filled, tf.shape(x))
    if normalization is not None:
        layer, mean, std = normalization
        filled = layer.inverse(filled, mean, std)
    return filled


def reconstruct(model, x, evidence_mask=None, weighted=True, training=None):
    """The reconstruction of the unobserved inputs that the model's own sum ops route to (graph-safe).

    What libspn-keras 0.6.0's ``infer_no_evidence`` models return: the
    signal from the root, routed by the sum layers' own ops, weighs each
    leaf component's mode (``weighted=True``) or picks the component with
    the largest signal; a leaf built with ``leaf_representation="sample"``
    contributes a draw from each component instead of its mode. Observed
    entries are returned unchanged; the result is in the leaf's float dtype,
    differentiable for training on it.
    """
    layers = split_at_leaf(model)
    pre, leaf, _ = layers
    x = tf.convert_to_tensor(x)
    x = tf.cast(x, query_dtype(x.dtype, model))
    missing = missing_mask(x, leaf, evidence_mask, name=model.name)
    signal, normalization, _ = leaf_signal(layers, mark_missing(x, missing), None, training=training)
    drawn = getattr(leaf, "leaf_representation", LeafRepresentation.MODE) is LeafRepresentation.SAMPLE
    components = leaf.sample_components(tf.shape(signal)[0], seed=stateless_seed()) if drawn else leaf.mode()
    filled = fill_from_signal(signal, components, pre, hard=not weighted)
    filled = _to_input_units(filled, x, normalization)
    return tf.where(missing, filled, tf.cast(x, filled.dtype))


def _components(leaf, method, num_samples):
    if method == "posterior_marginal":
        return leaf.component_mean()
    if method == "mpe":
        return leaf.mode()
    return leaf.sample_components(num_samples, seed=stateless_seed())


def _signal_and_root(layers, method):
    def signal_and_root(x, *labels):
        signal, _, root = leaf_signal(layers, x, method, labels=labels[0] if labels else None)
        return signal, root

    return signal_and_root


def complete(
    model, x, evidence_mask=None, method="posterior_marginal", seed=None, batch_size=None, labels=None, owner=None
):
    """Fills the missing entries of ``x``; see :meth:`~libspn_keras.models.queries.QueryMixin.complete` (``owner``
    names the query in errors, by default ``<model>.complete``)."""
    owner = owner or f"{model.name}.complete"
    if method not in COMPLETION_METHODS:
        raise ValueError(f"{owner}: method must be one of {COMPLETION_METHODS}, got {method!r}.")
    rows = query_batch_size(model, batch_size, owner, signal=True)
    x = query_input(model, x, owner)
    labels = checked_labels(model, labels, x, owner)
    # A dynamic SPN's query chain holds the sequence lengths of the whole call: it completes all rows at once.
    if x.shape.rank and x.shape[0] > rows and not callable(getattr(model, "query_chain", None)):
        # The whole input's shape and mask are checked here: errors name the input, not a batch, and the batches
        # below would not see rows the mask has beyond those of x.
        input_shape_matches(model, x)
        leaf = split_at_leaf(model)[1]
        missing = missing_mask(tf.cast(x, query_dtype(x.dtype, model)), leaf, evidence_mask, name=model.name)

        def complete_part(part, observed, *part_labels):
            return _complete_batch(model, part, observed, method, rows, owner, *part_labels)

        with random_source(seed):
            completed = in_batches(complete_part, [x, tf.logical_not(missing), *labels], rows)
        return np.asarray(completed)
    with random_source(seed):
        return _complete_batch(model, x, evidence_mask, method, rows, owner, *labels)


def _complete_batch(model, x, evidence_mask, method, batch_size, owner, *labels):
    """:func:`complete` on one batch of rows, inside the caller's random source (``labels``: none, or the class of
    every row)."""
    given = x
    x = tf.cast(x, query_dtype(x.dtype, model))
    layers = split_at_leaf(model)
    pre, leaf, _ = layers
    missing = missing_mask(x, leaf, evidence_mask, name=model.name)
    check_leaf_values(model, leaf, x, missing)
    check_sample_statistics(model, pre, missing)
    marked = mark_missing(x, missing)
    # Compiled once per model and method; sampling and MPE's tie-breaking draw inside the trace from a key per
    # call. Not for a model with its own query chain (a dynamic SPN), whose chain holds the sequence lengths of
    # this call: a kept trace would answer with the first call's.
    if not callable(getattr(model, "query_chain", None)):
        random = method != "posterior_marginal"
        key = f"{method}_signal" + ("_of_labels" if labels else "")
        query = compiled_query(model, key, _signal_and_root(layers, method), random=random)
        signal, root = in_batches(query, [marked, *labels], batch_size, pad=query.jit_compile)
        normalization = leaf_input(pre, marked)[1]
    else:
        signal, normalization, root = leaf_signal(layers, marked, method, labels=labels[0] if labels else None)
    if not np.all(np.isfinite(root.numpy())):
        raise ValueError(
            f"{owner}: the evidence of some samples"
            f"{', or their class (a class root of prior weight 0)' if labels else ''} has probability zero under "
            f"the model, so no completion exists for them."
        )
    if leaf.is_categorical:
        category = tf.argmax(to_inputs(signal, pre), axis=-1, output_type=tf.int32)
        filled = tf.broadcast_to(tf.expand_dims(category, -1), tf.concat([tf.shape(category), [leaf.num_dims]], 0))
    else:
        # One draw per leaf row: a dynamic SPN's leaf sees every time step of every sequence as a row.
        components = _components(leaf, method, tf.shape(signal)[0])
        filled = fill_from_signal(signal, components, pre, hard=method != "posterior_marginal")
        filled = _to_input_units(filled, x, normalization)
    # Observed entries are returned as given (a float64 value would have been rounded to the model's float32).
    filled = tf.reshape(filled, tf.shape(x))
    if filled.dtype.is_floating and not x.dtype.is_floating:
        filled = tf.round(filled)  # a continuous leaf's value for an integer input: the nearest integer, not truncated
    filled = tf.cast(tf.cast(filled, x.dtype), given.dtype)
    result = tf.where(missing, filled, given)
    if result.dtype.is_floating and not np.all(np.isfinite(result.numpy())):
        raise ValueError(f"{owner}: the completion produced non-finite values.")
    return result.numpy()
