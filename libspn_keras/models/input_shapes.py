"""The input an SPN model was built for: its dtype, and checks of a batch's shape against it (``guarded_training``)."""

import math

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.validation import sizes_conflict

# A batch of another shape adds this to a model's refused-batch counters (values the leaves refuse add 1).
SHAPE_REFUSED = 2**32
# A training batch whose labels fall outside the class roots adds this (below SHAPE_REFUSED, above any count of 1s).
LABELS_REFUSED = 2**20


def refused_shape_message(model, count, what="nothing was written"):
    """What ``fit`` / ``evaluate`` / ``predict`` say after ``count`` batches of another shape than ``model``'s input."""
    expected = (None, *model.inputs[0].shape[1:])
    return (
        f"{type(model).__name__} '{model.name}' was built for input of shape {expected}, but {count} batch(es) had "
        f"another shape; {what} and the model is unchanged. Feed data of the shape the model was built for."
    )


def _assertion_text(model):
    """The start of the graph assertion of :func:`input_shape_matches` (the model's name without quotes)."""
    expected = tuple(model.inputs[0].shape[1:])
    return f"{type(model).__name__} {model.name} was built for input of shape {(None, *expected)} but got shape"


def failed_shape_assertion(model, error):
    """Whether ``error`` is the graph assertion of :func:`input_shape_matches` for ``model`` (graph mode: XLA
    compiles it away and the step is skipped and counted instead)."""
    return (
        isinstance(error, tf.errors.InvalidArgumentError)
        and bool(getattr(model, "inputs", None))
        and _assertion_text(model) in str(error)
    )


def input_shape_matches(model, x):
    """Whether ``x`` has the shape ``model`` was built for (a scalar bool tensor), asserted in the graph.

    Raises:
        ValueError: When a size known at trace time differs (and eagerly).
    """
    expected = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
    if expected is None:
        return tf.constant(True)
    label = f"{type(model).__name__} '{model.name}'"
    message = f"{label} was built for input of shape {(None, *expected)} but got shape"
    given = tuple(x.shape[1:]) if x.shape.rank is not None else None
    if given is not None:
        if x.shape.rank == 0 or sizes_conflict(given, expected):
            raise ValueError(f"{message} {tuple(x.shape)}. Feed data of the shape the model was built for.")
        if all(g is not None or e is None for g, e in zip(given, expected)):
            return tf.constant(True)
    shape = tf.shape(x, out_type=tf.int64)
    known = [axis for axis, size in enumerate(expected) if size is not None]
    padded = tf.concat([shape, tf.zeros([len(expected) + 1], tf.int64)], axis=0)[1 : len(expected) + 1]
    matches = tf.logical_and(
        tf.equal(tf.size(shape), len(expected) + 1),
        tf.reduce_all(tf.equal(tf.gather(padded, known), tf.constant([expected[axis] for axis in known], tf.int64))),
    )
    assertion = tf.debugging.Assert(matches, [_assertion_text(model), shape])
    with tf.control_dependencies([assertion]):
        return tf.identity(matches)


def with_known_input_shape(model, data, x):
    """``data`` whose input ``x`` of partly unknown shape (a retraced step) gets the shape the model was built for.

    The step that uses it runs only where :func:`input_shape_matches` held, so tracing it with that shape
    is safe, and the model's layers see a shape they can build on instead of failing while they trace.
    The values are taken apart and put back without any op that could fail on another shape: graph
    optimizations may run it before the shape assertion, whose message must be the one the user sees. Nor
    may the layers assert the shape of ``x`` itself (``tf.ensure_shape``): Grappler then takes that shape as
    known and folds the check of :func:`input_shape_matches` to true, so a batch of another shape would run
    the step.
    """
    x_data, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    if not getattr(model, "inputs", None) or keras.tree.is_nested(x_data):
        return data
    if x.shape.rank is not None and x.shape[1:].is_fully_defined():
        return data
    expected = model.inputs[0].shape[1:]
    if any(size is None for size in expected):
        return data
    batch = tf.concat([tf.shape(x), [1]], axis=0)[0]
    needed = batch * math.prod(expected)
    flat = tf.reshape(x, [-1])[:needed]
    flat = tf.pad(flat, [[0, needed - tf.size(flat)]])
    shaped = tf.reshape(flat, tf.concat([[batch], expected], axis=0))
    shaped.set_shape((None, *expected))
    return keras.utils.pack_x_y_sample_weight(shaped, y, sample_weight)


def input_dtype(model):
    """The dtype of the model's inputs: that of its input, or of its first layer when that is an integer type.

    A first layer built with ``dtype="int32"`` (as 0.6.0 models were) reads
    integers even where Keras gives the model a float input.
    """
    first = next((layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)), None)
    if first is not None and tf.as_dtype(first.compute_dtype).is_integer:
        return tf.as_dtype(first.compute_dtype)
    return tf.as_dtype(model.inputs[0].dtype)


def one_named_input(model, inputs):
    """``inputs`` itself, or the array of ``{input_name: array}`` for a model of one input (as Keras's models take it).

    Raises:
        ValueError: For a dict of other keys, naming the model's input.
    """
    model_inputs = getattr(model, "inputs", None) or []
    if not isinstance(inputs, dict) or len(model_inputs) > 1:
        return inputs
    names = [tensor.name for tensor in model_inputs]
    if len(inputs) == 1 and (not names or next(iter(inputs)) in names):
        return next(iter(inputs.values()))
    expected = f"{{{names[0]!r}: array}}" if names else "one entry"
    raise ValueError(
        f"{type(model).__name__} '{model.name}' takes one input; got a dict with keys {sorted(map(str, inputs))}. "
        f"Pass the array itself or {expected}."
    )
