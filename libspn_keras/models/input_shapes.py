"""The input an SPN model was built for: its dtype, and checks of a batch's shape against it (``guarded_training``)."""

import math

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.validation import sizes_conflict

# A batch of another shape adds this to a model's refused-batch counters (values the leaves refuse add 1).
SHAPE_REFUSED = 2**32
# A training batch whose labels fall outside the class roots adds this (below SHAPE_REFUSED, above any count of 1s).
LABELS_REFUSED = 2**20


def refuse_non_numeric(owner, dtype, what="x"):
    """Refuses data of ``dtype`` (NumPy or TensorFlow) that holds no numbers: strings, objects, complex values.

    Keras would raise its own ``Invalid dtype`` error, which names no model,
    or a ``TypeError`` from deep inside the step. ``what`` names the argument
    (``"x"``, or ``"y"`` for labels).
    """
    numpy_kind = getattr(dtype, "kind", None)
    if numpy_kind is not None:
        numeric = numpy_kind in "biuf"
    else:
        dtype = tf.as_dtype(dtype)
        numeric = dtype.is_floating or dtype.is_integer or dtype == tf.bool
    if not numeric:
        name = getattr(dtype, "name", str(dtype))
        fix = (
            "e.g. x.astype('float32')"
            if what == "x"
            else "e.g. class names to class indices with np.unique(y, return_inverse=True)[1]"
        )
        raise ValueError(
            f"{owner}: {what} must hold numbers (floats, integers or bools), got dtype {name}; convert it, {fix}."
        )


def refuse_non_numeric_arrays(model, data, what="x"):
    """:func:`refuse_non_numeric` for every array or tensor in ``data`` (datasets and generators are not read)."""
    for array in keras.tree.flatten(data):
        if isinstance(array, (np.ndarray, tf.Tensor)):
            refuse_non_numeric(f"{type(model).__name__} '{model.name}'", array.dtype, what)


def _input_label(model, index):
    """``"input"``, or ``"input <index>"`` for a model of several inputs (as the messages name it)."""
    return "input" if len(getattr(model, "inputs", None) or []) <= 1 else f"input {index}"


def refused_shape_message(model, count, what="nothing was written"):
    """What ``fit`` / ``evaluate`` / ``predict`` say after ``count`` batches of another shape than ``model``'s input."""
    expected = [(None, *tensor.shape[1:]) for tensor in model.inputs]
    built_for = f"input of shape {expected[0]}" if len(expected) == 1 else f"inputs of shapes {expected}"
    return (
        f"{type(model).__name__} '{model.name}' was built for {built_for}, but {count} batch(es) had "
        f"another shape; {what} and the model is unchanged. Feed data of the shape the model was built for."
    )


def _assertion_text(model, index=0):
    """The start of the graph assertion of :func:`input_shape_matches` (the model's name without quotes)."""
    expected = tuple(model.inputs[index].shape[1:])
    return (
        f"{type(model).__name__} {model.name} was built for {_input_label(model, index)} of shape {(None, *expected)}"
    )


def failed_shape_assertion(model, error):
    """Whether ``error`` is the graph assertion of :func:`input_shape_matches` for ``model`` (graph mode: XLA
    compiles it away and the step is skipped and counted instead)."""
    return (
        isinstance(error, tf.errors.InvalidArgumentError)
        and bool(getattr(model, "inputs", None))
        and any(f"{_assertion_text(model, index)} but got shape" in str(error) for index in range(len(model.inputs)))
    )


def input_shape_matches(model, x, index=0):
    """Whether ``x`` has the shape ``model``'s input ``index`` was built for (a scalar bool tensor), asserted in the
    graph.

    Raises:
        ValueError: When a size known at trace time differs (and eagerly).
    """
    inputs = getattr(model, "inputs", None) or []
    if index >= len(inputs):
        return tf.constant(True)
    expected = tuple(inputs[index].shape[1:])
    label = f"{type(model).__name__} '{model.name}'"
    message = f"{label} was built for {_input_label(model, index)} of shape {(None, *expected)} but got shape"
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
    assertion = tf.debugging.Assert(matches, [f"{_assertion_text(model, index)} but got shape", shape])
    with tf.control_dependencies([assertion]):
        return tf.identity(matches)


def input_shapes_match(model, inputs):
    """Whether every tensor of ``inputs`` (in the order of ``model.inputs``) has the shape its input was built for
    (a scalar bool tensor), as :func:`input_shape_matches` checks one.

    The first input is checked as it is given. The others first get the rank Keras's functional call would
    give them (a trailing axis of size 1 added or dropped), since their shapes were not checked before and
    that call takes them; the first input's rank has always had to match.
    """
    matches = tf.constant(True)
    for index, x in enumerate(inputs):
        x = tf.convert_to_tensor(x)
        if index:
            x = _with_keras_rank(x, getattr(model, "inputs", None) or [], index)
        matches = tf.logical_and(matches, input_shape_matches(model, x, index))
    return matches


def _with_keras_rank(x, model_inputs, index):
    """``x`` with the trailing axis of size 1 that Keras's functional call adds or drops for input ``index``."""
    if index >= len(model_inputs) or x.shape.rank is None:
        return x
    expected = model_inputs[index].shape
    if x.shape.rank == len(expected) + 1 and x.shape[-1] == 1:
        return tf.squeeze(x, axis=-1)
    if x.shape.rank == len(expected) - 1 and expected[-1] == 1:
        return tf.expand_dims(x, axis=-1)
    return x


def with_known_input_shape(model, data, inputs):
    """``data`` whose ``inputs`` (as :func:`~libspn_keras.models.leaf_inputs.flat_inputs` orders them) of partly
    unknown shape (a retraced step) get the shapes the model was built for.

    The step that uses it runs only where :func:`input_shapes_match` held, so tracing it with those shapes
    is safe, and the model's layers see shapes they can build on instead of failing while they trace.
    The values are taken apart and put back without any op that could fail on another shape: graph
    optimizations may run it before the shape assertion, whose message must be the one the user sees. Nor
    may the layers assert the shape of an input itself (``tf.ensure_shape``): Grappler then takes that shape
    as known and folds the check of :func:`input_shape_matches` to true, so a batch of another shape would run
    the step.
    """
    model_inputs = getattr(model, "inputs", None) or []
    x_data, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    if not model_inputs or len(inputs) != len(model_inputs):
        return data
    given = [tf.convert_to_tensor(x) for x in inputs]
    shaped = [_with_known_shape(x, tensor.shape[1:]) for x, tensor in zip(given, model_inputs)]
    if all(new is old for new, old in zip(shaped, given)):
        return data
    names = [tensor.name for tensor in model_inputs]
    if not keras.tree.is_nested(x_data):
        x_data = shaped[0]
    elif isinstance(x_data, dict) and set(names) <= set(x_data):
        x_data = dict(x_data, **dict(zip(names, shaped)))
    elif isinstance(x_data, (list, tuple)) and len(x_data) == len(shaped):
        x_data = type(x_data)(shaped)
    else:
        return data
    return keras.utils.pack_x_y_sample_weight(x_data, y, sample_weight)


def _with_known_shape(x, expected):
    """``x`` reshaped to ``[batch, *expected]`` without an op that could fail (see :func:`with_known_input_shape`),
    or ``x`` itself where its shape is known or ``expected`` is not."""
    if x.shape.rank is not None and x.shape[1:].is_fully_defined():
        return x
    if any(size is None for size in expected):
        return x
    batch = tf.concat([tf.shape(x), [1]], axis=0)[0]
    needed = batch * math.prod(expected)
    flat = tf.reshape(x, [-1])[:needed]
    flat = tf.pad(flat, [[0, needed - tf.size(flat)]])
    shaped = tf.reshape(flat, tf.concat([[batch], expected], axis=0))
    shaped.set_shape((None, *expected))
    return shaped


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
