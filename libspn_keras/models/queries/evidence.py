"""Which inputs are observed: missing markers, evidence masks, and the checks made before a query."""

import numpy as np
import tensorflow as tf

from libspn_keras.layers.base_leaf import marker_dtype, missing_value
from libspn_keras.layers.normalize_standard_score import NormalizeStandardScore
from libspn_keras.layers.validation import check_int
from libspn_keras.models.evidence_masks import checked_evidence_mask
from libspn_keras.models.guarded_training import checked_batch, checked_whole_numbers
from libspn_keras.models.input_shapes import input_dtype, input_shape_matches, one_named_input, refuse_non_numeric


def missing_mask(x, leaf, evidence_mask=None, name="model"):
    """Unobserved entries: those ``leaf`` reads as missing (NaN, or the category -1), and those where ``evidence_mask``
    is ``False``."""
    missing = tf.logical_not(leaf.observed_mask(x))
    if evidence_mask is not None:
        evidence_mask = tf.convert_to_tensor(checked_evidence_mask(evidence_mask, name), dtype=tf.bool)
        if not evidence_mask.shape.is_compatible_with(x.shape):
            leaf_shaped = ""
            if evidence_mask.shape.rank is not None and evidence_mask.shape.rank > x.shape.rank:
                # libspn-keras 0.6.0 took the mask of a FlatToRegions model shaped like the leaf input.
                leaf_shaped = (
                    " A mask shaped like the leaf input, as libspn-keras 0.6.0 took it ([batch, variables, "
                    "decompositions, 1]), repeats that one: pass mask[..., 0, 0]."
                )
            raise ValueError(
                f"{name}: evidence_mask has shape {tuple(evidence_mask.shape)} but x has shape {tuple(x.shape)}; "
                f"pass one boolean per input entry (True = observed).{leaf_shaped}"
            )
        missing = tf.logical_or(missing, tf.logical_not(evidence_mask))
    return missing


def query_input(model, x, owner):
    """``x`` of a query as a tensor of numbers; raises ``ValueError`` naming ``owner`` for anything else.

    A dict ``{input_name: array}`` is read as the model's calls read it. A ``tf.data.Dataset``,
    ragged or non-numeric data (strings, ``None``, complex numbers) are refused here, where the
    message can say what the query takes, instead of failing inside TensorFlow.
    """
    x = one_named_input(model, x)
    model_inputs = getattr(model, "inputs", None) or []
    if len(model_inputs) > 1:
        # A list of arrays would be read as one array with a leading axis per input.
        raise ValueError(
            f"{owner}: the queries take models of one input; {type(model).__name__} '{model.name}' has "
            f"{len(model_inputs)}. Query a model whose single input holds all variables (e.g. concatenate the "
            f"inputs with a keras.layers.Concatenate inside it), or use predict for the log-likelihoods."
        )
    if isinstance(x, tf.data.Dataset):
        raise ValueError(
            f"{owner}: x must be an array or tensor shaped like the model input, got a tf.data.Dataset; pass its "
            f"rows (e.g. np.concatenate(list(dataset.as_numpy_iterator()))) or query it batch by batch."
        )
    try:
        x = tf.convert_to_tensor(x)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{owner}: x must be a numeric array shaped like the model input ({error})") from None
    refuse_non_numeric(owner, x.dtype)
    if hasattr(model, "_build_from_data"):  # built here, outside the query's compiled function (fast path, XLA)
        model._build_from_data(x)
    return x


def query_dtype(dtype, model=None):
    """The dtype queries work in for inputs of ``dtype``: float32 for floats, a signed type that holds -1 otherwise.

    Floats stay float64 for a ``model`` whose input is float64, so that its
    data keep their digits.
    """
    dtype = tf.as_dtype(dtype)
    if dtype.is_floating:
        return tf.float64 if model is not None and _reads_float64(model) else tf.float32
    return marker_dtype(dtype)


def _reads_float64(model):
    try:
        return input_dtype(model) == tf.float64
    except (AttributeError, IndexError, ValueError):  # a subclassed model without a functional input
        return False


def mark_missing(x, missing):
    """``x`` with the missing entries set to the marker the leaves marginalize (NaN, or -1 for signed integers).

    Unsigned and bool ``x``, which cannot hold -1, raise ``ValueError``: the queries read them in
    :func:`~libspn_keras.layers.base_leaf.marker_dtype` first."""
    return tf.where(missing, missing_value(x.dtype), x)


def empty_evidence(model, num_samples):
    """``num_samples`` inputs shaped like the model input with every entry missing (in ``query_dtype``)."""
    if not getattr(model, "inputs", None):  # Keras raises AttributeError before a Sequential has an input
        raise ValueError(
            f"{model.name}: sampling needs the model's input shape, and the model has none yet; build it from "
            f"keras.Input(shape) or call it once on data (model(x))."
        )
    shape = (num_samples, *model.inputs[0].shape[1:])
    return tf.fill(shape, missing_value(query_dtype(input_dtype(model))))


def class_roots(model):
    """The number of root outputs per sample of ``model`` (its class roots), or ``None`` where that is unknown."""
    try:
        shape = model.outputs[0].shape[1:]
    except (AttributeError, IndexError, TypeError, ValueError):  # a model without functional outputs
        return None
    return int(np.prod(shape)) if all(size is not None for size in shape) else None


def checked_labels(model, labels, x, owner):
    """``[]`` without ``labels``, else ``[int32 [batch]]``: the class root each row of ``x`` is conditioned on.

    One label serves every row; ``[batch]`` or ``[batch, 1]`` give one per row. Floats that are whole numbers
    count as integers (labels are often read as floats).

    Raises:
        ValueError: For a model without class roots, labels that are not
            whole numbers, not one per row, or outside the class roots.
    """
    if labels is None:
        return []
    classes = class_roots(model)
    if classes is None or classes < 2:
        roots = "one root" if classes == 1 else "no class roots"
        raise ValueError(
            f"{owner}: labels pick one of a model's class roots, and {type(model).__name__} '{model.name}' has "
            f"{roots}; leave labels out (or build the model with class roots, e.g. build_rat_spn(num_classes=...))."
        )
    values = np.asarray(labels)
    if values.size == 0 or (
        np.issubdtype(values.dtype, np.floating) and np.all(np.isfinite(values)) and np.all(values == np.round(values))
    ):
        values = values.astype(np.int64)  # labels read as floats (np.asarray([]) is float too), as Keras's losses take
    if values.dtype == bool or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(
            f"{owner}: labels must be integer class indices (0 to {classes - 1}), got dtype {values.dtype.name}."
        )
    rows = int(x.shape[0])
    if values.ndim == 0:
        values = np.full([rows], values)
    elif values.shape == (rows, 1):  # labels as Keras's sparse losses take them
        values = values.reshape(rows)
    if values.shape != (rows,):
        raise ValueError(
            f"{owner}: labels must be one class index, or one per sample ({rows}), got shape {np.shape(labels)}."
        )
    if values.size and (values.min() < 0 or values.max() >= classes):
        raise ValueError(
            f"{owner}: labels must lie in 0 to {classes - 1} (the model's {classes} class roots), got "
            f"{values.min()} to {values.max()}."
        )
    return [tf.constant(values, tf.int32)]


def check_num_samples(name, num_samples, argument="num_samples"):
    """``num_samples`` as an int >= 1; raises ``ValueError`` naming the ``argument`` otherwise."""
    return check_int(name, argument, num_samples, minimum=1)


def check_leaf_values(model, leaf, x, missing):
    """Raises ``ValueError`` for input of another shape than the model's, an observed category the leaf does not
    have, or another value it refuses (``inf``, a fraction).

    Checked eagerly before a query runs its compiled function, where XLA would compile the leaf's own
    assertions away, and where a function traced for several shapes would check the shape only as it runs.
    """
    input_shape_matches(model, x)
    if leaf.is_categorical:
        observed = tf.boolean_mask(x, tf.logical_not(missing)).numpy()
        categories = observed[np.isfinite(observed) & (observed == np.round(observed))]  # others: checked below
        if categories.size and categories.max() >= leaf.num_components:
            raise ValueError(
                f"{model.name}: input holds category {int(categories.max())} but {type(leaf).__name__} "
                f"'{leaf.name}' has {leaf.num_components} categories (0 to {leaf.num_components - 1}); recode the "
                f"input or raise num_components."
            )
    marked = mark_missing(x, missing)
    checked_batch([leaf], marked)
    checked_whole_numbers(model, marked)  # float data for an integer input are read as integers


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
