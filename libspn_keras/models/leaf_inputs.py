"""Which tensor each leaf of a model reads, so that a batch is checked against the values the leaves will see.

In a model built layer by layer (``SequentialSumProductNetwork``) the
leaves read the model input, moved or normalized by the layers allowed
before them (which never turn a refused value into an accepted one), so the
model input is checked. A functional model may feed its leaves from any of
its inputs, the same SPN from several of them, or through a Keras layer
that computes the values (``Discretization``, a ``Lambda``): there each
leaf is checked against the tensor it is called on (read through the layers
in ``PRE_LEAF_LAYERS``, as in a model layer by layer). That tensor comes from
a probe, a functional model from the model's inputs to the inputs of the
layers holding leaves. It shares every layer with the model and is built
once, eagerly, with ``keras.models.clone_model`` (the public way to run a
functional graph with a hook at each call).
"""

import inspect
from types import SimpleNamespace

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.base_leaf import LeafBase, holds_missing_marker, marker_dtype
from libspn_keras.layers.flat_to_regions import FlatToRegions
from libspn_keras.layers.input_dropout import InputDropout
from libspn_keras.layers.normalize_standard_score import NormalizeStandardScore

# The layers allowed before a leaf in a model that is queried: they move or normalize values, or drop some.
PRE_LEAF_LAYERS = (FlatToRegions, NormalizeStandardScore, InputDropout)


def leaves_of(layer):
    """Every leaf layer in ``layer`` and the layers (and models) nested in it."""
    if isinstance(layer, LeafBase):
        return [layer]
    found = []
    for sublayer in getattr(layer, "layers", []):
        found.extend(leaves_of(sublayer))
    return found


def leaf_inputs(model, x):
    """``[(leaves, tensor)]``: the leaves of ``model`` and the tensor each reads when the model is called on ``x``.

    Where no probe can be made (a model layer by layer, a subclassed model)
    or ``x`` does not match the model's inputs, all leaves are paired with
    the first tensor of ``x``. The probe is only called where a leaf reads
    computed values; a leaf reading a model input is paired with it.
    """
    leaves = leaves_of(model)
    inputs = flat_inputs(model, x)
    if not leaves or not inputs:
        return []
    probe = leaf_input_probe(model)
    if probe is None or len(inputs) != probe.num_inputs:
        return [(leaves, tf.convert_to_tensor(inputs[0]))]
    computed = []
    if probe.model is not None:
        given = [as_read(tensor, spec.dtype) for tensor, spec in zip(inputs, probe.model.inputs)]
        computed = keras.tree.flatten(probe.model(given, training=False))
    found = []
    for layer, sources in probe.readers:
        read = [inputs[index] if kind == "input" else computed[index] for kind, index in sources]
        if isinstance(layer, LeafBase):
            found.append(([layer], tf.convert_to_tensor(read[0])))
        else:
            found.extend(leaf_inputs(layer, read))
    return found


def computes_leaf_values(model):
    """Whether a leaf of ``model`` reads values that a layer computes from the model's inputs (through its probe)."""
    probe = leaf_input_probe(model)
    return probe is not None and probe.model is not None


def reads_integers(dtype):
    """Whether a model input of ``dtype`` holds integers (bools included: categories 0 and 1)."""
    dtype = tf.as_dtype(dtype)
    return dtype.is_integer or dtype == tf.bool


def not_whole_numbers(model, x):
    """``[(values, invalid)]`` for the float data ``x`` holds for integer inputs of ``model``: ``invalid`` marks
    entries that are neither whole numbers within the input dtype's range nor NaN (``inf``, ``0.5``, ``300`` for a
    ``uint8`` input, ``2`` for a bool one); negative numbers are missing markers, as NaN is.

    The model reads such data as integers (:func:`as_read`), so a fraction
    would be cut off before any leaf could see it.
    """
    found = []
    for values, dtype in _given_inputs(model, x):
        if values.dtype.is_floating and reads_integers(dtype):
            whole = tf.logical_and(tf.math.is_finite(values), tf.equal(values, tf.round(values)))
            # In float64, which holds int32's largest value (float32 rounds it up to 2**31, which would overflow).
            largest = 1 if dtype == tf.bool else dtype.max
            whole = tf.logical_and(whole, tf.cast(values, tf.float64) <= largest)
            found.append((values, tf.logical_not(tf.logical_or(whole, tf.math.is_nan(values)))))
    return found


def lost_markers(model, x):
    """``[(values, invalid)]`` for the data ``x`` holds for inputs that ``model``'s own call casts to a dtype without
    the missing marker (bool, unsigned): ``invalid`` marks NaN and negative entries, which the cast would turn into
    observed values (``True``, 255).

    Only for models whose call casts (``casts_inputs``: Keras's functional
    call casts every input to its declared dtype, and a functional
    ``SumProductNetwork`` avoids it where it can, see :func:`signed_graph`);
    the others hand the marker to their leaves as it is (:func:`as_read`).
    """
    if not getattr(model, "casts_inputs", False):
        return []
    found = []
    for values, dtype in _given_inputs(model, x):
        signed = values.dtype.is_floating or (values.dtype.is_integer and not values.dtype.is_unsigned)
        if signed and not holds_missing_marker(dtype):
            invalid = values < tf.zeros([], values.dtype)
            if values.dtype.is_floating:
                invalid = tf.logical_or(invalid, tf.math.is_nan(values))
            found.append((values, invalid))
    return found


def _given_inputs(model, x):
    """``[(values, input dtype)]``: the tensors of ``x`` with the dtypes of ``model``'s inputs (none without them)."""
    try:
        specs = model.inputs or []
    except (AttributeError, ValueError):  # a model without a functional input
        return []
    tensors = flat_inputs(model, x)
    return [(tf.convert_to_tensor(tensor), tf.as_dtype(spec.dtype)) for tensor, spec in zip(tensors, specs)]


def as_read(tensor, dtype):
    """``tensor`` as a model input of ``dtype`` reads it: float data for an integer input with NaN and ``-1.0`` as
    the missing marker -1 (see ``InputGuardMixin._integer_input``), anything else as it is.

    For an unsigned or bool input (``uint8`` images, binary data) the data
    are read in a signed type that holds the marker (``int32``, ``int64`` for
    32 and 64 bits), as integer data with ``-1`` are: the marker is kept,
    not cast to 0, 255 or ``True``.
    """
    values = tf.convert_to_tensor(tensor)
    dtype = tf.as_dtype(dtype)
    if not values.dtype.is_floating or not reads_integers(dtype):
        return values
    dtype = marker_dtype(dtype)
    # Other negative values are data for continuous leaves (an indicator leaf refuses them, or reads them as
    # missing where XLA compiles the check away).
    missing = tf.logical_or(tf.math.is_nan(values), tf.equal(values, -1))
    observed = tf.cast(tf.where(missing, tf.zeros_like(values), values), dtype)
    return tf.where(missing, tf.constant(-1, dtype), observed)


def flat_inputs(model, x):
    """The tensors of ``x`` in the order of ``model.inputs``.

    A dict given to a model whose inputs are a list (or one input) is read
    by input name, as Keras's functional models read it; flattening it would
    order it by key.
    """
    if isinstance(x, dict):
        try:
            structure, inputs = model.input, model.inputs
        except (AttributeError, ValueError):  # a model without a functional input
            return keras.tree.flatten(x)
        names = [tensor.name for tensor in inputs or []]
        if not isinstance(structure, dict) and names and set(names) <= set(x):
            return [x[name] for name in names]
    return keras.tree.flatten(x)


def _first_argument(layer, args, kwargs):
    """What ``layer`` was called on: its first positional argument, or that argument passed by name."""
    if args:
        return args[0]
    try:
        name = next(iter(inspect.signature(layer.call).parameters))
    except (TypeError, ValueError, StopIteration):
        return None
    return kwargs.get(name)


def signed_graph(model):
    """``model``'s graph run on inputs that hold the missing marker, for a functional model with a bool or unsigned
    input; ``None`` where every input holds it, or where the graph does not run on the signed inputs.

    Keras's functional call casts the data to each input's declared dtype,
    which would turn the marker -1 into ``True`` or 255. This model has the
    same layers (and weights), called on an input of :func:`marker_dtype` in
    place of each bool or unsigned one, so the marker reaches the leaves.
    Only where such an input goes to leaves alone, directly or through the
    layers of ``PRE_LEAF_LAYERS``: a layer that computes values from it (a
    ``Lambda``, a nested model with its own cast) was built for the declared
    dtype. The model then keeps its own call, and refuses missing entries
    (:func:`lost_markers`).
    """
    cached = getattr(model, "_spn_signed_graph", None)
    if cached is not None:
        return cached.graph
    graph = None
    try:
        specs = keras.tree.flatten(model.input)
    except (AttributeError, ValueError):  # not a functional model
        specs = []
    if any(not holds_missing_marker(spec.dtype) for spec in specs):
        with tf.init_scope():
            graph = _run_on_signed_inputs(model)
    # A namespace, not the model itself: Keras would track a model attribute as a part of this one.
    model._spn_signed_graph = SimpleNamespace(graph=graph)
    return graph


def _run_on_signed_inputs(model):
    signed = keras.tree.map_structure(
        lambda spec: keras.Input(batch_shape=spec.shape, dtype=marker_dtype(spec.dtype), name=spec.name), model.input
    )
    # The new inputs of another dtype, and what PRE_LEAF_LAYERS make of them (kept, so that no other tensor takes
    # their ids).
    recast = {
        id(tensor): tensor
        for tensor, spec in zip(keras.tree.flatten(signed), keras.tree.flatten(model.input))
        if not holds_missing_marker(spec.dtype)
    }
    refused = []

    def call(layer, *args, **kwargs):
        reads_recast = any(id(tensor) in recast for tensor in keras.tree.flatten((args, kwargs)))
        outputs = layer(*args, **kwargs)
        if reads_recast and isinstance(layer, PRE_LEAF_LAYERS) and isinstance(outputs, keras.KerasTensor):
            recast[id(outputs)] = outputs
        elif reads_recast and not isinstance(layer, LeafBase):
            refused.append(layer)
        return outputs

    clone = _graph_called_again(model, call, input_tensors=signed)
    return None if refused else clone


def _graph_called_again(model, call_function, input_tensors=None):
    """``model``'s graph with every layer called again through ``call_function(layer, *args, **kwargs)``, on
    ``input_tensors`` (in the structure of ``model.input``) or on new inputs like ``model.inputs``; ``None`` where
    ``model`` is not a functional model.

    A plain functional model over the same graph: ``clone_model`` would also
    compile a copy of a compiled model, which fails for a loss that cannot be
    deserialized. The clone shares every layer (``clone_function`` returns
    it); only its graph of calls is new.
    """
    try:
        # Given inputs come in the structure of model.input (clone_model checks it); the probe indexes a flat list.
        ends = (model.inputs, model.outputs) if input_tensors is None else (model.input, model.output)
        graph = keras.Model(*ends)
        return keras.models.clone_model(
            graph, input_tensors=input_tensors, clone_function=lambda layer: layer, call_function=call_function
        )
    except (AttributeError, ValueError, TypeError, NotImplementedError):  # not a functional model
        return None


def leaf_input_probe(model):
    """The probe of a functional ``model`` (built once, outside any graph being traced), or ``None`` without one.

    ``readers`` lists each call of a layer holding leaves as ``(layer,
    sources)``: a source is ``("input", i)``, the model's ``i``-th input
    (flattened), or ``("computed", j)``, the ``j``-th output of ``model``, a
    functional model from the inputs to the values computed from them
    (``None`` where every leaf reads an input).
    """
    cached = getattr(model, "_spn_leaf_input_probe", None)
    if cached is not None:
        return cached.probe
    with tf.init_scope():
        probe = _build_probe(model)
    # A namespace, not the probe model itself: Keras would track a model attribute as a part of this one.
    model._spn_leaf_input_probe = SimpleNamespace(probe=probe)
    return probe


def _build_probe(model):
    if isinstance(model, keras.Sequential) or not isinstance(model, keras.Model) or not leaves_of(model):
        return None
    calls, passed_through, kept = [], {}, []

    def record(layer, *args, **kwargs):
        first = _first_argument(layer, args, kwargs)
        given = keras.tree.flatten(first) if first is not None else []
        if leaves_of(layer) and given:
            calls.append((layer, [passed_through.get(id(tensor), tensor) for tensor in given]))
        outputs = layer(*args, **kwargs)
        if isinstance(layer, PRE_LEAF_LAYERS) and len(given) == 1 and isinstance(outputs, keras.KerasTensor):
            # Read as the value it came from: these layers never turn a refused value into an accepted one, and
            # NormalizeStandardScore would turn +-inf into NaN (missing) before a leaf could refuse it.
            passed_through[id(outputs)] = passed_through.get(id(given[0]), given[0])
            kept.append(outputs)  # so that no other tensor takes its id
        return outputs

    clone = _graph_called_again(model, record)
    if clone is None or not calls:
        return None
    inputs = keras.tree.flatten(clone.inputs)
    computed, readers = [], []
    for layer, tensors in calls:
        sources = []
        for tensor in tensors:
            index = next((i for i, given in enumerate(inputs) if given is tensor), None)
            if index is not None:
                sources.append(("input", index))
            else:
                sources.append(("computed", len(computed)))
                computed.append(tensor)
        readers.append((layer, sources))
    return SimpleNamespace(
        model=keras.Model(inputs, computed) if computed else None, readers=readers, num_inputs=len(inputs)
    )
