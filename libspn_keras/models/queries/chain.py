"""An SPN model read as (layers before the leaf, the leaf, the layers above it), as the queries run it."""

import contextlib
import inspect

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.base_leaf import LeafBase
from libspn_keras.layers.base_sum import SumLayerBase
from libspn_keras.layers.flat_to_regions import FlatToRegions
from libspn_keras.layers.input_dropout import InputDropout
from libspn_keras.layers.normalize_standard_score import NormalizeStandardScore
from libspn_keras.models.fast_path import sum_layers_in
from libspn_keras.models.leaf_inputs import PRE_LEAF_LAYERS, leaves_of


def split_at_leaf(model):
    """``(layers before the leaf, leaf, layers above)`` of an SPN model.

    The layers above the leaf are the model's own layers in order where they
    form a chain; where a functional model's graph branches above the leaf
    (sums side by side, concatenated) or calls a layer twice, they are one
    :class:`~libspn_keras.models.queries.chain.GraphAboveTheLeaf` that runs
    that graph. A model that is not a graph of layers (a dynamic SPN) gives
    its own ``(pre, leaf, above)`` from a ``query_chain()`` method.
    """
    if callable(getattr(model, "query_chain", None)):
        return model.query_chain()
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    leaf_indices = [i for i, layer in enumerate(layers) if isinstance(layer, LeafBase)]
    if not leaf_indices:
        holder = next((layer for layer in layers if leaves_of(layer)), None)
        if holder is not None:
            raise ValueError(
                f"Model '{model.name}': its leaves are inside the nested model or layer '{holder.name}'; queries "
                f"run on a model whose own layers are the leaf and the layers above it. Call the query on "
                f"'{holder.name}' itself (e.g. {holder.name}.log_likelihood(x)), which gives the same values "
                f"where the outer model only passes its input to it."
            )
        raise ValueError(
            f"Model '{model.name}' has no leaf layer (NormalLeaf, IndicatorLeaf, ...); queries back-propagate to "
            f"the leaves, so add one."
        )
    index = leaf_indices[0]
    for layer in layers[:index]:
        if not isinstance(layer, PRE_LEAF_LAYERS):
            raise ValueError(
                f"Model '{model.name}': queries support only FlatToRegions, NormalizeStandardScore and InputDropout "
                f"before the leaf, found {type(layer).__name__} '{layer.name}'. Other layers change what the leaves "
                f"model, so the queries could neither marginalize nor fill in entries of the input; model.predict(x) "
                f"gives the model's output on complete inputs."
            )
    leaf, above = layers[index], layers[index + 1 :]
    if not isinstance(model, keras.Sequential) and not _runs_as_a_chain(model, leaf, above):
        above = [graph_above_the_leaf(model, leaf)]
    return layers[:index], leaf, above


def _runs_as_a_chain(model, leaf, above):
    """Whether each layer in ``above`` takes the output of the one before (the first the leaf's) and the last
    gives the model's output: each called once, in the order of ``model.layers``. A model without a graph of
    layers (a subclassed one) or with several outputs is taken as the chain of its layers."""
    if len(getattr(model, "outputs", None) or []) != 1:
        return True
    outputs = [leaf.output] + [layer.output for layer in above]
    return model.outputs[0] is outputs[-1] and all(layer.input is output for layer, output in zip(above, outputs))


def graph_above_the_leaf(model, leaf):
    """The :class:`GraphAboveTheLeaf` of a functional ``model`` (whose layers never change), made once per model."""
    kept = getattr(model, "_spn_graph_above_the_leaf", None)
    if kept is None:
        kept = GraphAboveTheLeaf(model, leaf)
        # Past Keras's attribute tracking: the graph's layers are the model's own, not new ones.
        object.__setattr__(model, "_spn_graph_above_the_leaf", kept)
    return kept


class GraphAboveTheLeaf:
    """A functional SPN's graph from its leaf's output to its root, for the queries, where it is no chain.

    It runs the model's own layers (a ``keras.Model`` from the leaf's
    output tensor to the model's output), so the queries' signal flows back
    through every branch and every call of a layer called more than once.
    """

    def __init__(self, model, leaf):
        self.graph = keras.Model(leaf.output, model.outputs[0], name=f"{model.name}_above_the_leaf")

    def call(self, leaf_output, training=None):
        return self.graph(leaf_output, training=training)

    __call__ = call

    def sum_layers(self):
        """The sum layers above the leaf, whose sum ops a query replaces."""
        return sum_layers_in(self.graph)


@contextlib.contextmanager
def sum_ops_replaced(layers, sum_op):
    """Temporarily gives every sum layer among ``layers`` the same ``sum_op`` (``None``: keep their own).

    An entry that is not a layer but holds sum layers (a dynamic SPN's
    recurrence) lists them with a ``sum_layers()`` method.
    """
    sum_layers = []
    for layer in layers if sum_op is not None else []:
        sum_layers += [layer] if isinstance(layer, SumLayerBase) else list(getattr(layer, "sum_layers", list)())
    saved = [layer.sum_op for layer in sum_layers]
    for layer in sum_layers:
        layer.route_with(sum_op)
    try:
        yield
    finally:
        for layer, sum_op_before in zip(sum_layers, saved):
            layer.route_with(sum_op_before)


def accepts_training(layer):
    """Whether the layer's ``call`` takes a ``training`` argument."""
    return "training" in inspect.signature(layer.call).parameters


def run_layers(layers, x, training=None):
    """``x`` through ``layers`` in order, passing ``training`` to the layers that take it."""
    for layer in layers:
        x = layer(x, training=training) if training is not None and accepts_training(layer) else layer(x)
    return x


def leaf_input(pre, x):
    """The leaf's input for model input ``x``, and ``(normalizer, mean, std)`` of a ``NormalizeStandardScore``."""
    normalization = None
    for layer in pre:
        if isinstance(layer, NormalizeStandardScore):
            normalization = (layer, *layer.statistics(x))
        x = layer(x, training=False) if isinstance(layer, InputDropout) else layer(x)
    return x, normalization


def to_inputs(values, pre):
    """Per-cell values at the leaf input ``[batch, *cells, ...]`` summed back onto input positions.

    ``FlatToRegions`` copies every variable into each decomposition; the
    copies' values are summed.
    """
    for layer in reversed(pre):
        if isinstance(layer, FlatToRegions):
            values = tf.reduce_sum(values, axis=2)
    return values


def from_inputs(values, pre):
    """Inverse broadcast of :func:`to_inputs`: input-position values repeated onto every copy."""
    for layer in pre:
        if isinstance(layer, FlatToRegions):
            values = tf.expand_dims(values, axis=2)
    return values


def copies_per_input(pre):
    """Whether the leaf sees several copies of each input (decompositions) to choose among."""
    return any(isinstance(layer, FlatToRegions) for layer in pre)
