"""The compile setting SPN models train and predict with when the user does not choose one.

Keras turns XLA on for ``jit_compile="auto"`` only on GPUs. SPN models are
chains of small contractions wrapped in ``exp``/``log``/``max`` passes, which
XLA fuses; on CPUs too they train about twice as fast compiled with XLA as
in graph mode (``benchmarks/RESULTS.md``). So SPN models resolve ``"auto"``
to XLA on every device, unless one of their layers says it cannot be
compiled (``layer.supports_jit = False``), the model runs eagerly, or a
``tf.distribute`` strategy is active (where Keras itself keeps XLA off).
"""

import contextlib
import functools
import types

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.base_sum import SumLayerBase
from libspn_keras.layers.input_guard import without_value_assertions
from libspn_keras.math.seeding import draw_key, keyed_draws
from libspn_keras.math.stable import without_zero_sample
from libspn_keras.models.batch_padding import PaddedToCompiledRows
from libspn_keras.models.input_shapes import refuse_non_numeric_arrays
from libspn_keras.models.iterator_release import IteratorReleaseMixin, keep_releasing, releasing_iterators
from libspn_keras.models.missed_steps import MissedStepCheck, missed_step_check, rerun_on_miss, step_or_miss
from libspn_keras.models.traced_functions import model_function
from libspn_keras.sum_ops.checked import (
    checked_accumulators,
    undefined_weights,
    weights_defined,
    weights_fit_fast_kernel,
)


def layers_within(layer):
    """``layer`` and every layer (and model) nested in it, depth first."""
    found = [layer]
    for sublayer in getattr(layer, "layers", []):
        found.extend(layers_within(sublayer))
    return found


def resolve_jit_compile(model, jit_compile="auto", run_eagerly=False):
    """The ``jit_compile`` value an SPN model compiles with.

    Args:
        model: The model being compiled.
        jit_compile: What the user passed to ``compile`` (``"auto"`` when nothing).
        run_eagerly: What the user passed to ``compile``.

    Returns:
        ``jit_compile`` unchanged unless it is ``"auto"``; then ``True`` when
        every layer of the model supports XLA, ``False`` when one does not
        or the model runs eagerly, and ``"auto"`` (Keras decides) under a
        distribution strategy.
    """
    if not isinstance(jit_compile, str) or jit_compile != "auto":
        return jit_compile
    if run_eagerly:
        return False
    if tf.distribute.has_strategy():
        return "auto"
    return all(getattr(layer, "supports_jit", True) for layer in layers_within(model))


def sum_layers_in(layer):
    """Every sum layer in ``layer`` and the models nested in it, built or not (one reached twice, twice)."""
    return [found for found in layers_within(layer) if isinstance(found, SumLayerBase)]


def sum_layers_within(model):
    """The built sum layers of ``model`` (each once)."""
    found = {}
    for layer in sum_layers_in(model):
        if getattr(layer, "accumulators", None) is not None:
            found.setdefault(id(layer), layer)
    return list(found.values())


def data_input_shape(sample):
    """The input shape of ``sample`` with the batch axis unknown, nested as it is; ``None`` where any is unknown.

    Args:
        sample: The ``x`` of one batch, as :func:`with_a_sample` returns it:
            arrays, tensors or ``tf.TensorSpec`` objects, alone or nested.
    """
    leaves = keras.tree.flatten(sample) if sample is not None else []
    if not leaves or any(
        getattr(leaf, "shape", None) is None or len(leaf.shape) < 1 or None in tuple(leaf.shape)[1:] for leaf in leaves
    ):
        return None
    return keras.tree.map_structure(lambda leaf: (None, *tuple(leaf.shape)[1:]), sample)


def holds_no_rows(data):
    """Whether ``data`` is arrays or tensors (or a list or dict of them) that all have 0 rows.

    Datasets, ``PyDataset`` objects and generators are leaves of their own
    structure, neither arrays nor tensors: ``False``, and nothing is read.
    """
    arrays = keras.tree.flatten(data)
    shapes = [tuple(array.shape) for array in arrays if isinstance(array, (np.ndarray, tf.Tensor))]
    return bool(arrays) and len(shapes) == len(arrays) and all(shape[:1] == (0,) for shape in shapes)


def with_a_sample(data):
    """``(data, sample)``: ``data`` to use in its place, and the ``x`` of one of its batches (``None`` if none).

    ``data`` is ``x`` as ``fit`` takes it: an array or tensor (its own sample),
    a list or tuple of them, a ``tf.data.Dataset`` (the spec of its ``x``), a
    ``keras.utils.PyDataset`` (its first batch's ``x``), or a generator, whose
    first batch is read and put back in front of the rest.
    """
    if isinstance(data, tf.data.Dataset):
        return data, keras.utils.unpack_x_y_sample_weight(data.element_spec)[0]
    if isinstance(data, keras.utils.PyDataset):
        batch = data[0]
        return data, batch[0] if isinstance(batch, tuple) else batch
    if not isinstance(data, types.GeneratorType):
        return data, data
    first = next(data, None)
    if first is None:
        return data, None
    return _resumed(first, data), first[0] if isinstance(first, tuple) else first


def _resumed(first, rest):
    """A generator of ``first``, then the rest of the generator ``rest`` (whose first item was read)."""
    yield first
    yield from rest


def refuse_undefined_weights(model, eagerly=False):
    """Raises ``ValueError`` naming the first sum layer of ``model`` whose accumulators give some sum no weights.

    Layers refuse such values when they create their variables; this catches
    those set since (``set_weights``, ``assign``, a restored checkpoint),
    which would make every likelihood NaN and an EM step write NaN. The
    steps call it only where the fast-kernel check failed (or, with several
    steps per call or under a distribution strategy, before each call): one
    compiled pass over the accumulators
    (:func:`~libspn_keras.sum_ops.checked.weights_defined`), and the
    diagnosis (:func:`~libspn_keras.sum_ops.checked.undefined_weights`)
    only where that fails; before the first call of a training or test step
    function, ``eagerly=True``: the diagnosis alone, with nothing to compile
    (:func:`refusing_before_first_call`).
    """
    if not eagerly and bool(_weight_checks(model).defined()):
        return
    for layer in sum_layers_within(model):
        problem = undefined_weights(layer.accumulators, layer.logspace_accumulators)
        if problem is not None:
            space = "log-space" if layer.logspace_accumulators else "linear"
            raise ValueError(
                f"{type(model).__name__} '{model.name}': the {space} accumulators of {type(layer).__name__} "
                f"'{layer.name}' give no weights: {problem}, so the network is no distribution. Set each sum's "
                f"accumulators to finite values"
                + (" with one above -inf" if layer.logspace_accumulators else ", none negative, with one above 0")
                + " (e.g. with set_weights) before training or querying the model."
            )


def refusing_undefined_weights(model, function):
    """``function`` (a step or query function), calling :func:`refuse_undefined_weights` before each call."""

    def refusing(*args, **kwargs):
        refuse_undefined_weights(model)
        return function(*args, **kwargs)

    return refusing


def refusing_before_first_call(model, function):
    """``function`` (a step function that checks the weights inside its compiled step), calling
    :func:`refuse_undefined_weights` eagerly before its first call, and again before the next one while that raises.

    The first call traces and compiles the step, which takes seconds (a large
    model under XLA: minutes) before the step's own check could find that
    the weights are no distribution; so a model is refused before that.
    """
    checked = []

    def refusing(*args, **kwargs):
        if not checked:
            refuse_undefined_weights(model, eagerly=True)
            checked.append(True)
        return function(*args, **kwargs)

    return refusing


def fast_kernel_check(model):
    """``(accumulators, check)``: the sum layers' accumulator variables, and a function telling whether all fit.

    ``check()`` returns a scalar bool tensor, ``True`` when every sum layer's
    normalized weights fit the fast log-matmul kernel
    (:func:`~libspn_keras.sum_ops.checked.weights_fit_fast_kernel`); it reads
    the variables' current values (compiled like the model's steps).
    """
    checks = _weight_checks(model)
    return checks.accumulators, checks.check


def _weight_checks(model):
    """The model's kept functions over its sum layers' accumulators: ``check`` (they fit the fast kernel) and
    ``defined`` (:func:`~libspn_keras.sum_ops.checked.weights_defined`), with ``accumulators`` (the variables)."""
    layers = sum_layers_within(model)
    accumulators = [layer.accumulators for layer in layers]
    # One function per model and setting, kept while the accumulators are the same variables: the steps and
    # every query call it, and a new function each time would be traced anew (TensorFlow warns of retracing).
    setting = (model.run_eagerly, model.jit_compile is True, *(layer.logspace_accumulators for layer in layers))
    kept = getattr(model, "_spn_fast_kernel_check", None)
    if (
        kept is not None
        and kept.setting == setting
        and len(kept.accumulators) == len(accumulators)
        and all(a is b for a, b in zip(kept.accumulators, accumulators))
    ):
        return kept

    def over_every_layer(test):
        def holds():
            found = [test(layer.accumulators, layer.logspace_accumulators) for layer in layers]
            return tf.reduce_all(tf.stack(found)) if found else tf.constant(True)

        return holds if model.run_eagerly else model_function(holds, jit_compile=model.jit_compile is True)

    # A namespace: Keras would track a list of variables set on the model as its own.
    model._spn_fast_kernel_check = types.SimpleNamespace(
        setting=setting,
        accumulators=accumulators,
        check=over_every_layer(weights_fit_fast_kernel),
        defined=over_every_layer(weights_defined),
    )
    return model._spn_fast_kernel_check


class FastPathMixin(IteratorReleaseMixin):
    """Runs the training, evaluation and prediction steps without the log-matmul's range check where it is exact.

    Each step checks (one small reduction over the accumulators) that every
    sum's normalized weights are at least
    ``MIN_FAST_WEIGHT``, and runs a copy of
    the step traced with ``checked_weights=True`` in the sum layers when they
    are; otherwise the step with the range check and exact path (traced only
    if ever needed). Both give the same values; the checked one lets XLA fuse
    each sum's ``log`` into the layer above. Train and test steps check inside
    the checked function and, where the weights do not fit, change nothing
    and are run again on the same batch by the exact function
    (:mod:`~libspn_keras.models.missed_steps`); before their first call, a
    model whose weights are no distribution is refused eagerly
    (:func:`refusing_before_first_call`). Predict checks before each
    call, and under XLA pads a short batch (the last one of a call, or a
    small call) to a batch size it has compiled already
    (:class:`~libspn_keras.models.batch_padding.PaddedToCompiledRows`).
    With ``steps_per_execution > 1`` the check chooses between both
    variants inside the function (both are then compiled); under a
    distribution strategy the range check stays. The functions also keep
    the dataset iterator of the last epoch and drop it off the main thread
    when the next epoch starts or the call returns
    (:mod:`~libspn_keras.models.iterator_release`), so no epoch waits for
    tf.data's autotuning thread, and are traced again when a sum layer's op
    was swapped since (:func:`steps_of_current_sum_ops`). Training steps
    trace the sums without their zero sample
    (:func:`~libspn_keras.math.stable.without_zero_sample`), and the optimizer
    and the compiled metrics are built before a step is first traced
    (:func:`build_optimizer_before_tracing`,
    :func:`build_metrics_before_tracing`), so that it is traced once.
    """

    @contextlib.contextmanager
    def _spn_call_scope(self):
        with steps_of_current_sum_ops(self), super()._spn_call_scope():
            yield

    def fit(self, x=None, *args, **kwargs):
        x = self._prepare_for_step(x, "train_function", args, kwargs)
        validation = kwargs.get("validation_data")
        if isinstance(validation, (list, tuple)):  # (x_val, y_val[, sample_weight_val])
            validation = keras.utils.unpack_x_y_sample_weight(tuple(validation))[0]
        if validation is not None and not isinstance(validation, types.GeneratorType):
            self._prepare_for_data(validation, "test_function")
        return super().fit(x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        x = self._prepare_for_step(x, "test_function", args, kwargs)
        return super().evaluate(x, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        x = self._prepare_for_data(x, "predict_function")
        _new_predict_call(self)
        if holds_no_rows(x):
            # Keras's predict loop fails on arrays without rows (UnboundLocalError); one call gives the empty outputs.
            return self.predict_on_batch(x)
        return super().predict(x, *args, **kwargs)

    def train_on_batch(self, x, *args, **kwargs):
        x = self._prepare_for_step(x, "train_function", args, kwargs)
        return super().train_on_batch(x, *args, **kwargs)

    def test_on_batch(self, x, *args, **kwargs):
        x = self._prepare_for_step(x, "test_function", args, kwargs)
        return super().test_on_batch(x, *args, **kwargs)

    def predict_on_batch(self, x):
        x = self._prepare_for_data(x, "predict_function")
        _new_predict_call(self)
        return super().predict_on_batch(x)

    def _prepare_for_step(self, x, attribute, args, kwargs):
        """:meth:`_prepare_for_data`, then the compiled metrics built for ``x`` and the labels among ``args`` /
        ``kwargs`` if ``attribute`` is still to be made (a step made since ``compile`` was traced with them)."""
        x = self._prepare_for_data(x, attribute)
        labels = args[0] if args else kwargs.get("y")
        refuse_non_numeric_arrays(self, labels, what="y")
        if getattr(self, attribute) is None:
            build_metrics_before_tracing(self, x, labels)
        return x

    def _prepare_for_data(self, data, attribute):
        """Readies the model for ``data`` before ``attribute`` (its step function) is made: builds it from the data.

        Returns ``data``, to be used in its place (see :meth:`_build_from_data`).
        """
        refuse_non_numeric_arrays(self, data)
        return self._build_from_data(data)

    def _build_from_data(self, data):
        """Builds an unbuilt model from the shape of ``data``; returns ``data``, to be used in its place.

        Keras builds such a model in the first trace of a step, too late
        twice over: the fast path looks for the sum layers' accumulators
        when the step function is made, and XLA cannot lift variables created
        inside the checked step out of the compiled function. ``fit``,
        ``evaluate``, ``predict``, their ``*_on_batch`` forms and the queries
        call it first. ``data`` is what they take as ``x``: arrays, tensors,
        a list of them, a ``tf.data.Dataset``, a ``keras.utils.PyDataset``
        or a generator, whose first batch is read and put back in front.
        """
        if self.built:
            return data
        data, sample = with_a_sample(data)
        shape = data_input_shape(sample)
        if shape is not None:
            self.build(shape)
        return data

    def make_train_function(self, force=False):
        if self.train_function is None or force:
            build_optimizer_before_tracing(self)
        return _on_fast_path(self, "train_function", super().make_train_function, force)

    def make_test_function(self, force=False):
        return _on_fast_path(self, "test_function", super().make_test_function, force)

    def make_predict_function(self, force=False):
        return _on_fast_path(self, "predict_function", super().make_predict_function, force)

    def train_step(self, data):
        # The zero sample of each sum (math.stable.renormalized) corrects values by float32 rounding only; a
        # training step does without it, evaluate, predict and queries keep it.
        with without_zero_sample():
            return _step_checked_in_graph(self, super().train_step, data, may_miss=True)

    def test_step(self, data):
        return _step_checked_in_graph(self, super().test_step, data, may_miss=True)

    def predict_step(self, data):
        return _step_checked_in_graph(self, super().predict_step, data)


def _new_predict_call(model):
    """Tells the padding of ``model``'s predict function (made under XLA) that a call starts."""
    padding = getattr(model, "_spn_predict_padding", None)
    if padding is not None:
        padding.new_call()


def build_optimizer_before_tracing(model):
    """Builds ``model.optimizer`` on the model's trainable variables, as its first training step would.

    Without a distribution strategy Keras's TensorFlow trainer leaves the
    optimizer to be built inside the first trace of the training step, and a
    ``tf.function`` whose first trace creates variables is traced a second
    time: the first ``fit`` of every model traced its whole step twice. Built
    here, under the optimizer's name scope as Keras's ``apply`` does, the
    step is traced once; the variables and their values are the same.
    """
    optimizer = getattr(model, "optimizer", None)
    if (
        optimizer is None
        or optimizer.built
        or tf.distribute.has_strategy()
        or not all(layer.built for layer in layers_within(model))
        or not model.trainable_variables
    ):
        return
    with keras.name_scope(optimizer.name, caller=optimizer):
        optimizer.build(model.trainable_variables)


def build_metrics_before_tracing(model, x, y):
    """Builds the compiled metrics for data shaped as ``x`` and ``y``, as the first trace of a step would.

    Keras's TensorFlow trainer builds them (choosing, say, sparse or
    categorical accuracy from the labels' shape) inside the first trace of a
    step when no distribution strategy is set, and TensorFlow then traces the
    step again because that trace created variables. Here they are built
    eagerly from one row of zeros shaped as ``x`` and ``y`` and zero
    predictions of the model's output shape, and their state is reset
    (``fit`` and ``evaluate`` reset it anyway). Only arrays, tensors and datasets of fully
    known shapes are read; other data, models of several outputs or without
    symbolic outputs, and ``infer_no_evidence`` models leave it to the trace.
    """
    unbuilt = [metric for metric in model.metrics if getattr(metric, "built", True) is False]
    outputs = getattr(model, "outputs", None) if model.built else None
    if (
        not unbuilt
        or model.run_eagerly
        or tf.distribute.has_strategy()
        or getattr(model, "infer_no_evidence", False)
        or not outputs
        or len(outputs) != 1
        or None in tuple(outputs[0].shape)[1:]
    ):
        return
    if isinstance(x, tf.data.Dataset):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(x.element_spec)
    rows = [_zero_row(x), _zero_row(y) if y is not None else None]
    if any(row is _NO_ROW for row in rows):
        return
    predictions = tf.zeros((1, *tuple(outputs[0].shape)[1:]), dtype=outputs[0].dtype)
    model.compute_metrics(rows[0], rows[1], predictions, sample_weight=None)
    for metric in model.metrics:
        metric.reset_state()


_NO_ROW = object()


def _zero_row(data):
    """One row of zeros shaped and typed as a row of ``data`` (an array, tensor or ``tf.TensorSpec`` of known
    shape and a numeric or bool type); else ``_NO_ROW``. Zeros, not the data: a label out of range would make
    some metrics raise here rather than be refused by the step's input check."""
    if not isinstance(data, (tf.TensorSpec, tf.Tensor, np.ndarray)):
        return _NO_ROW
    if isinstance(data, np.ndarray) and data.dtype.kind not in "biuf":
        return _NO_ROW
    shape, dtype = tuple(data.shape), tf.as_dtype(data.dtype)
    if len(shape) < 1 or None in shape[1:] or not (dtype.is_floating or dtype.is_integer or dtype.is_bool):
        return _NO_ROW
    return tf.zeros((1, *shape[1:]), dtype=dtype)


@contextlib.contextmanager
def steps_of_current_sum_ops(model):
    """Around a ``fit`` / ``evaluate`` / ``predict`` call: drops the traced step functions if a sum op changed.

    A step traces its sum layers' sum ops (their kernels and custom
    gradients) into the function Keras keeps, so an op assigned after a
    call would otherwise go unused. The ops are noted after each call (when
    the layers are built); queries that swap ops and put the same ones back
    change nothing.
    """
    noted = getattr(model, "_spn_traced_sum_ops", None)
    if noted is not None and noted != _sum_ops_in_use(model):
        model.train_function = model.test_function = model.predict_function = None
    try:
        yield
    finally:
        model._spn_traced_sum_ops = _sum_ops_in_use(model)


def _sum_ops_in_use(model):
    return tuple((id(layer), id(layer.sum_op)) for layer in sum_layers_within(model))


def _on_fast_path(model, attribute, make, force):
    """Makes ``model.<attribute>`` with ``make`` and, where it helps, wraps it to pick the checked variant."""
    if getattr(model, attribute) is not None and not force:
        return getattr(model, attribute)
    model._spn_in_graph_check = None
    make(force=force)
    function = exact = getattr(model, attribute)
    accumulators, check = fast_kernel_check(model)
    # Where the steps choose their variant in the graph (several steps per call), or always run the exact one
    # (under a strategy), the weights are checked for a distribution before each call: one pass per call.
    if tf.distribute.has_strategy():
        if accumulators:
            function = refusing_undefined_weights(model, exact)
            setattr(model, attribute, function)
        return function
    if accumulators and getattr(model, "steps_per_execution", 1) > 1:
        model._spn_in_graph_check = MissedStepCheck(accumulators, check)  # read by _step_checked_in_graph
        function = refusing_undefined_weights(model, exact)
    elif accumulators and attribute != "predict_function":
        model._spn_missed_step_check = missed_step_check(model, accumulators, check)  # read by the steps
        make(force=True)
        function = rerun_on_miss(
            model._spn_missed_step_check,
            getattr(model, attribute),
            exact,
            compiled=not model.run_eagerly,
            before_exact=functools.partial(refuse_undefined_weights, model),
        )
        function = refusing_before_first_call(model, function)
    elif accumulators:
        make(force=True)
        refuse = functools.partial(refuse_undefined_weights, model)
        function = checked_or_exact(accumulators, check, getattr(model, attribute), exact, refuse)
    if attribute == "predict_function":
        model._spn_predict_padding = None
        if compiled_by_xla(model) and not model.run_eagerly:
            function = model._spn_predict_padding = PaddedToCompiledRows(function)
    function = releasing_iterators(function)
    keep_releasing(model, attribute, function)
    setattr(model, attribute, function)
    return function


def checked_or_exact(accumulators, check, fast, exact, before_exact=None):
    """A function that calls ``fast`` (traced as checked) where ``check()`` holds, and ``exact`` otherwise.

    ``before_exact`` (a function without arguments, or ``None``) runs first
    where ``check()`` fails: it may raise (:func:`refuse_undefined_weights`).
    """

    def function(*args, **kwargs):
        if accumulators and not tf.distribute.has_strategy():
            if bool(check()):
                with checked_accumulators(accumulators):  # active whenever ``fast`` traces, and only then
                    return fast(*args, **kwargs)
            if before_exact is not None:
                before_exact()
        return exact(*args, **kwargs)

    return function


def _step_checked_in_graph(model, step, data, may_miss=False):
    """``step(data)``, choosing the checked variant inside the graph when several steps run per call.

    With one step per call, a train / test step (``may_miss``) of the checked
    variant checks the weights first and changes nothing where they do not
    fit (:func:`~libspn_keras.models.missed_steps.step_or_miss`).
    """
    found = getattr(model, "_spn_in_graph_check", None)
    if found is None:
        missed = getattr(model, "_spn_missed_step_check", None)
        return step_or_miss(model, missed, step, data) if may_miss and missed is not None else step(data)

    def checked():
        with checked_accumulators(found.accumulators):
            return step(data)

    return tf.cond(found.check(), checked, lambda: step(data))


def compiled_query(model, key, function, random=False):
    """``function`` (tensors in, tensors out) as a ``tf.function`` kept per ``model`` and ``key``.

    Queries call it instead of running the model eagerly. Like the training
    and prediction steps it takes the checked variant (no log-matmul range
    check) while every sum's weights allow it, and it compiles with XLA when
    the model's steps do (``model.jit_compile``; XLA compiles again for each
    new batch shape, which the queries bound with
    :func:`~libspn_keras.models.queries.batches.in_batches`). Functions that draw
    need ``random=True`` (below): otherwise the draws of a trace would not
    follow the seed of each call. Functions closing over per-call values other
    than their tensor arguments do not belong here (the trace would keep the
    first call's). A kept function
    is made again when the model's layers, their sum ops or accumulator
    variables are no longer the ones it was traced with (e.g. after ``pop`` /
    ``add``, or once a deferred-build model is built).

    The returned function's ``jit_compile`` says whether XLA compiles it.

    ``random=True`` is for functions that draw (sampling, tie-breaking): each
    call passes a key drawn from the caller's
    :func:`~libspn_keras.math.seeding.random_source` into the trace
    (:func:`~libspn_keras.math.seeding.keyed_draws`), so the draws follow
    each call's seed. Those run as graphs without XLA, which routes a signal
    down the network slower than graph mode on CPUs (``benchmarks/RESULTS.md``).
    """
    cache = getattr(model, "_spn_compiled_queries", None)
    if cache is None:
        cache = _QueryCache()
        model._spn_compiled_queries = cache
    jit_compile = compiled_by_xla(model) and not random
    key = (key, jit_compile)
    layers = layers_within(model)
    traced_with = [*layers, *(getattr(layer, name, None) for layer in layers for name in ("sum_op", "accumulators"))]
    kept = cache.functions.get(key)
    if kept is None or len(kept[0]) != len(traced_with) or any(a is not b for a, b in zip(kept[0], traced_with)):
        accumulators, check = fast_kernel_check(model)
        body = keyed_draws(function) if random else function
        traced = _traced_for_xla(body) if jit_compile else body
        fast, exact = (model_function(traced, reduce_retracing=True, jit_compile=jit_compile) for _ in range(2))
        refuse = functools.partial(refuse_undefined_weights, model)
        kept = (traced_with, checked_or_exact(accumulators, check, fast, exact, refuse))
        cache.functions[key] = kept
    if random:

        def query(*tensors):
            return kept[1](draw_key(), *tensors)

    else:
        query = kept[1]
    query.jit_compile = jit_compile  # callers pad their batches to a few shapes exactly when XLA compiles per shape
    return query


def compiled_by_xla(model):
    """Whether ``model``'s steps, and so its compiled queries, are compiled with XLA (once per input shape)."""
    return getattr(model, "jit_compile", False) is True


def _traced_for_xla(function):
    """``function``, traced without the input assertions that XLA would drop (:func:`without_value_assertions`)."""

    @functools.wraps(function)
    def traced(*args, **kwargs):
        with without_value_assertions():
            return function(*args, **kwargs)

    return traced


class _QueryCache:
    """Compiled query functions of one model, each with the objects it was traced with (a plain object, so that
    Keras does not track it)."""

    def __init__(self):
        self.functions = {}
