"""Training steps that never apply an update computed from input values the leaves refuse.

The SPN models check every training batch against their leaves' input
contract before the step runs. The step runs in a ``tf.cond`` on that check,
so a batch holding a refused value (``+inf``, a category out of range, ...)
changes no variable, optimizer slot or iteration count, in eager mode, in a
``tf.function`` and under XLA alike. Then ``fit`` raises ``ValueError``
(the default, ``compile(..., invalid_batches="raise")``) or, with
``invalid_batches="skip"``, goes on and warns how many batches it skipped.
Under ``"raise"``, with several steps per call (``steps_per_execution``),
the steps after the refused batch in the same call are skipped as well.

Eagerly the error comes from the check itself, before the step. In a
``tf.function`` and under XLA (which compiles assertions away) the steps
build no assertion: the skipped step is counted and ``fit`` raises right
after it returns, so graph mode and XLA raise the same ``ValueError``.
"""

from types import SimpleNamespace

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.input_guard import guard_values, value_checks_active, without_value_assertions
from libspn_keras.layers.validation import check_choice, layer_label
from libspn_keras.math.gradients import no_gradients
from libspn_keras.models.bookkeeping import bookkeeping_variable
from libspn_keras.models.evidence_masks import checked_evidence_mask
from libspn_keras.models.finite_steps import checks_finite_steps, finite_or_undone, nonfinite_steps_message
from libspn_keras.models.input_shapes import (
    LABELS_REFUSED,
    SHAPE_REFUSED,
    failed_shape_assertion,
    input_dtype,
    input_shape_matches,
    input_shapes_match,
    one_named_input,
    refused_shape_message,
    with_known_input_shape,
)
from libspn_keras.models.iterator_release import ending_epoch_on_error
from libspn_keras.models.label_checks import label_range, labels_within, refused_labels_message
from libspn_keras.models.leaf_inputs import (
    as_read,
    computes_leaf_values,
    flat_inputs,
    leaf_input_probe,
    leaf_inputs,
    leaves_of,
    lost_markers,
    not_whole_numbers,
    reads_integers,
)
from libspn_keras.user_warnings import warn

INVALID_BATCH_POLICIES = ("raise", "skip")
WHOLE_NUMBERS = (
    "Accepted as float data for an integer input: whole numbers up to the largest value of the input's dtype; NaN "
    "or a negative number marks a missing value. Convert the data to integers, or give the model a float input for "
    "continuous values."
)

LOST_MARKERS = (
    "Missing entries cannot be given to this model: its input's dtype cannot hold the missing marker, and Keras's "
    "functional call casts every input to its declared dtype, so NaN and negative entries would be read as observed "
    'values. Give the model an int32 input (keras.Input(shape, dtype="int32")) to mark missing entries.'
)


def checked_batch(leaves, x, raise_errors=True):
    """Whether none of the ``leaves`` refuses a value of ``x``, the tensor they read (a scalar bool tensor).

    The leaves' value checks are element-wise, so they are applied to the
    tensor the leaves read, or to the model input where layers allowed
    before a leaf move or normalize it (see :mod:`~libspn_keras.models.leaf_inputs`).
    """
    x = tf.convert_to_tensor(x)
    findings = []
    for leaf in leaves:
        values = leaf.convert_input(x)
        findings.append((layer_label(leaf), values, leaf.invalid_entries(values), leaf.input_contract))
    return none_refused(findings, raise_errors)


def checked_whole_numbers(model, x, raise_errors=True):
    """Whether the float data ``x`` holds for integer inputs are whole numbers in the inputs' range, or missing
    markers (a scalar bool tensor; :func:`~libspn_keras.models.leaf_inputs.not_whole_numbers`)."""
    label = f"{type(model).__name__} '{model.name}'"
    return none_refused(
        [(label, values, invalid, WHOLE_NUMBERS) for values, invalid in not_whole_numbers(model, x)], raise_errors
    )


def checked_markers_kept(model, x, raise_errors=True):
    """Whether ``x`` holds no missing marker that ``model``'s own call would cast away (a scalar bool tensor;
    :func:`~libspn_keras.models.leaf_inputs.lost_markers`)."""
    label = f"{type(model).__name__} '{model.name}'"
    return none_refused(
        [(label, values, invalid, LOST_MARKERS) for values, invalid in lost_markers(model, x)], raise_errors
    )


def none_refused(findings, raise_errors):
    """Whether no entry is flagged in ``findings``, ``(label, values, invalid, contract)`` each (a scalar bool tensor).

    With ``raise_errors`` a flagged entry raises ``ValueError`` eagerly
    (:func:`~libspn_keras.layers.input_guard.guard_values`), and the result
    depends on assertions that raise ``InvalidArgumentError`` in a
    ``tf.function``.
    """
    valid, guards = tf.constant(True), []
    for label, values, invalid, contract in findings:
        if raise_errors:
            guards.append(guard_values(label, values, invalid, contract))
        valid = tf.logical_and(valid, tf.logical_not(tf.reduce_any(tf.reshape(invalid, [-1]))))
    if guards:
        with tf.control_dependencies(guards):
            valid = tf.identity(valid)
    return valid


def checked_inputs(model, x, raise_errors=True):
    """Whether no leaf of ``model`` refuses a value it reads when the model is called on ``x`` (a scalar bool
    tensor); each leaf is checked against the tensor it reads (:func:`checked_batch`)."""
    valid = tf.constant(True)
    for leaves, values in leaf_inputs(model, x):
        valid = tf.logical_and(valid, checked_batch(leaves, values, raise_errors))
    valid = tf.logical_and(valid, checked_whole_numbers(model, x, raise_errors))
    return tf.logical_and(valid, checked_markers_kept(model, x, raise_errors))


def refused_batch_message(model, leaves, skipped):
    """What ``fit`` says after ``skipped`` steps were skipped for values the ``leaves`` refuse."""
    contracts = " ".join(f"{layer_label(leaf)}: {leaf.input_contract}" for leaf in leaves)
    advice = (
        "To skip such batches with a warning instead, compile with invalid_batches='skip'."
        if model.invalid_batches == "raise"
        else ""
    )
    return (
        f"{type(model).__name__} '{model.name}': {skipped} training batch(es) held {_refused_inputs(model)}; their "
        f"steps were skipped and changed nothing. {contracts} {advice}"
    ).rstrip()


def _refused_inputs(model):
    """What a refused batch held, for the messages: values the leaves refuse, or what else the model refuses."""
    note = model._refused_inputs_note()
    return "input values its leaves refuse" + (f" or {note}" if note else "")


def refused_inference_message(model, leaves):
    """What ``evaluate`` / ``predict`` say about a batch holding values the ``leaves`` refuse."""
    contracts = " ".join(f"{layer_label(leaf)}: {leaf.input_contract}" for leaf in leaves)
    return (
        f"{type(model).__name__} '{model.name}': a batch held {_refused_inputs(model)}; the call's outputs are "
        f"discarded (the leaves read refused values as missing). {contracts}"
    )


def integer_values(model, x, dtype, leaves, check_shape=True):
    """Float data ``x`` for a model that reads integers of ``dtype``: checked against ``leaves``, then converted.

    Missing entries (NaN, negative values) become -1, in a signed type for an unsigned or bool ``dtype``
    (:func:`~libspn_keras.models.leaf_inputs.as_read`); anything else is returned unchanged.
    """
    if not reads_integers(dtype):
        return x
    values = tf.convert_to_tensor(x)
    if not leaves or not (values.dtype.is_floating or lost_markers(model, values)):
        return x
    if check_shape and tf.executing_eagerly():
        input_shape_matches(model, values)
    if value_checks_active():
        # Leaves behind a layer that computes their values from this input check those values in the call.
        # Leaves reading the input name their own contract first; the whole numbers cover continuous leaves and
        # leaves behind layers that compute their values (those check the computed values in the call).
        check = tf.constant(True) if computes_leaf_values(model) else checked_batch(leaves, values)
        check = tf.logical_and(check, checked_whole_numbers(model, values))
        check = tf.logical_and(check, checked_markers_kept(model, values))
        with tf.control_dependencies([check]):
            values = tf.identity(values)
    return as_read(values, dtype)


class InputGuardMixin:
    """``compile(..., invalid_batches="raise" | "skip")`` and training steps checked against the leaves."""

    invalid_batches = "raise"

    def compile(self, *args, invalid_batches="raise", **kwargs):
        """``keras.Model.compile`` with one more argument.

        Args:
            *args: Passed to ``compile``.
            invalid_batches: ``"raise"`` (default): ``fit`` raises ``ValueError``
                at a training batch holding values the leaves refuse, after
                skipping its step; ``"skip"``: such batches are skipped and
                ``fit`` warns how many.
            **kwargs: Passed to ``compile``.
        """
        self.invalid_batches = check_choice(
            f"{type(self).__name__} '{self.name}'", "invalid_batches", invalid_batches, INVALID_BATCH_POLICIES
        )
        super().compile(*args, **kwargs)

    def fit(self, *args, **kwargs):
        """``keras.Model.fit``; under ``invalid_batches="skip"`` it warns once, at the end, with the number of
        batches it skipped (a warning per step would show only the first: Python's default filter drops repeats)."""
        if getattr(self, "_spn_skipped_in_fit", None) is not None:  # a fit inside a fit: the outer one warns
            return super().fit(*args, **kwargs)
        # A namespace, not a dict: Keras would track a dict as a part of the model.
        self._spn_skipped_in_fit = SimpleNamespace(values=0, labels=0, undone=0)
        try:
            history = super().fit(*args, **kwargs)
            skipped = self._spn_skipped_in_fit
        finally:
            self._spn_skipped_in_fit = None
        if skipped.labels:
            warn(refused_labels_message(self, skipped.labels, label_range(self)[0]))
        if skipped.values:
            warn(refused_batch_message(self, leaves_of(self), skipped.values))
        if skipped.undone:
            warn(nonfinite_steps_message(self, skipped.undone))
        return history

    def get_compile_config(self):
        # Saved with the model, so that a loaded model skips (or raises at) refused batches as it did.
        config = super().get_compile_config()
        if config is not None and self.invalid_batches != "raise":
            config = {**config, "invalid_batches": self.invalid_batches}
        return config

    def __call__(self, *args, **kwargs):
        if args:
            inputs = one_named_input(self, args[0])
            if getattr(self, "infer_no_evidence", False) and isinstance(inputs, (list, tuple)) and len(inputs) == 2:
                # [x, evidence_mask]: Keras would cast both to an integer input's dtype (0.5 -> 0) unchecked.
                inputs = type(inputs)([self._integer_input(inputs[0]), checked_evidence_mask(inputs[1], self.name)])
            else:
                inputs = self._integer_input(inputs)
            args = (inputs, *args[1:])
        return super().__call__(*args, **kwargs)

    def _integer_input(self, x):
        """Float data for a model that reads integers, checked and converted as ``fit`` and the queries do.

        Keras would cast it to the model's dtype itself, reading 0.9 as
        category 0 and NaN as an arbitrary integer. In a graph the values
        are checked by assertions, except where the caller checks the batch
        itself (:func:`~libspn_keras.layers.input_guard.without_value_assertions`:
        the steps of ``fit``, ``predict`` and ``evaluate``, and queries under
        XLA), which then is the only check.
        """
        if isinstance(x, (list, tuple)) and self.built:
            return self._integer_inputs(x)
        if isinstance(x, (list, tuple, dict, keras.KerasTensor)) or not self.built:
            return x
        reader = self._input_reader()
        try:
            dtype = input_dtype(reader)
        except (AttributeError, ValueError, IndexError):  # no functional input (a model built by subclassing)
            return x
        # The shape is checked against the model's own input only (a template reads one step of a sequence).
        return integer_values(self, x, dtype, leaves_of(reader), check_shape=reader is self)

    def _integer_inputs(self, x):
        """The inputs ``x`` of a functional model with several: float data for its integer inputs checked as its
        leaves read them and converted as :meth:`_integer_input` converts one (Keras would cast each itself)."""
        if leaf_input_probe(self) is None or any(isinstance(tensor, keras.KerasTensor) for tensor in x):
            return x
        specs = self.inputs
        if len(specs) != len(x):
            return x
        tensors = [tf.convert_to_tensor(tensor) for tensor in x]
        dtypes = [tf.as_dtype(spec.dtype) for spec in specs]
        floats = any(t.dtype.is_floating and reads_integers(d) for t, d in zip(tensors, dtypes))
        if not floats and not lost_markers(self, tensors):
            return x
        if value_checks_active():
            with tf.control_dependencies([checked_inputs(self, tensors)]):
                tensors = [tf.identity(tensor) for tensor in tensors]
        return type(x)(as_read(tensor, dtype) for tensor, dtype in zip(tensors, dtypes))

    def _input_reader(self):
        """The model whose input dtype and leaves decide how :meth:`_integer_input` reads float data: this one."""
        return self

    def train_step(self, data):
        with without_value_assertions(self._step_checks_batches("_spn_refused_batches")):
            return self._guarded_train_step(data)

    def test_step(self, data):
        # Neither step differentiates (a query inside one that does asks for its gradients: math.gradients).
        with no_gradients(), without_value_assertions(self._step_checks_batches("_spn_refused_inference_batches")):
            return self._counted_step(super().test_step, data)

    def predict_step(self, data):
        with no_gradients(), without_value_assertions(self._step_checks_batches("_spn_refused_inference_batches")):
            return self._counted_step(super().predict_step, data)

    def _step_checks_batches(self, counter):
        """Whether the step being traced leaves refused batches to the model's own check, not to assertions.

        Under XLA assertions are compiled away anyway. Elsewhere the check
        counts a refused batch in ``counter`` and the function made by
        ``make_*_function`` raises ``ValueError`` after the call, so that
        ``fit``, ``evaluate`` and ``predict`` raise the same error in graph
        mode as under XLA (an assertion would raise a raw
        ``InvalidArgumentError``). Under a distribution strategy the steps
        are not counted, and the leaves' assertions stop them.
        """
        if self.jit_compile is True:
            return True
        return getattr(self, counter, None) is not None and not tf.distribute.has_strategy()

    def _guarded_train_step(self, data):
        keras_step, undone = super().train_step, getattr(self, "_spn_nonfinite_steps", None)
        stopped = self._refusal_stop()
        if checks_finite_steps(self) and not tf.distribute.has_strategy():
            step = lambda data: finite_or_undone(self, keras_step, data, undone, stopped)  # noqa: E731
        else:
            step = keras_step
        leaves = leaves_of(self)
        given = keras.utils.unpack_x_y_sample_weight(data)[0]
        inputs = flat_inputs(self, given)
        if tf.distribute.has_strategy() or not leaves or not inputs:
            # Replicas would have to agree on skipping; the leaves' own assertions stop the step instead.
            return step(data)
        shape_ok = input_shapes_match(self, inputs)
        valid = tf.logical_and(shape_ok, self._checked_inputs(given, raise_errors=self.invalid_batches == "raise"))
        labels_ok = self._labels_within_classes(data)
        valid = tf.logical_and(valid, labels_ok)
        data = with_known_input_shape(self, data, inputs)
        counter = getattr(self, "_spn_refused_batches", None)
        if stopped is not None:
            valid = tf.logical_and(valid, tf.logical_not(stopped))

        def skip():
            if counter is not None:
                refused = tf.where(labels_ok, tf.constant(1, tf.int64), LABELS_REFUSED)
                refused = tf.where(shape_ok, refused, SHAPE_REFUSED)
                if stopped is not None:  # a batch after the refused one: skipped, not checked, not counted
                    refused = tf.where(stopped, tf.constant(0, tf.int64), refused)
                counter.assign_add(refused)
            if stopped is not None:
                stopped.assign(True)
            return self.get_metrics_result()

        return tf.cond(valid, lambda: step(data), skip)

    def _checked_inputs(self, x, raise_errors=True):
        """Whether the model takes every value of the batch's ``x`` (a scalar bool tensor): by default what its
        leaves read (:func:`checked_inputs`); a model taking other inputs beside them checks those too."""
        return checked_inputs(self, x, raise_errors)

    def _refused_inputs_note(self):
        """What else than its leaves' values the model may refuse, for the messages about refused batches (a phrase,
        e.g. ``"sequence_lens that do not fit x"``, or ``""``)."""
        return ""

    def _labels_within_classes(self, data):
        """Whether the batch's labels fit the class roots (a scalar bool tensor), or ``True`` where the loss reads no
        integer labels of class roots."""
        labels = keras.utils.unpack_x_y_sample_weight(data)[1]
        classes = label_range(self) if labels is not None and not isinstance(labels, (list, tuple, dict)) else None
        return True if classes is None else labels_within(labels, *classes)

    def _refusal_stop(self):
        """The flag that skips the rest of a call's steps after a refused batch, or ``None`` where none is needed.

        With ``steps_per_execution > 1`` one call of the train function runs
        several steps; under the ``"raise"`` policy ``fit`` raises after the
        call, so the batches after the refused one must not train either (the
        model is then left as it was before the refused batch, as with one step
        per call). The flag is cleared when the call returns.
        """
        if self.invalid_batches != "raise" or getattr(self, "steps_per_execution", 1) <= 1:
            return None
        return getattr(self, "_spn_refusal_stops_call", None)

    def _counted_step(self, step, data):
        """``step(data)``, counting a batch whose values the leaves refuse (XLA compiles their assertions away).

        A test step also counts a batch whose labels fall outside the class
        roots: under XLA the loss's gather would clamp them and ``evaluate``
        would report a loss of other classes.
        """
        leaves = leaves_of(self)
        given = keras.utils.unpack_x_y_sample_weight(data)[0]
        inputs = flat_inputs(self, given)
        counter = getattr(self, "_spn_refused_inference_batches", None)
        if counter is None or tf.distribute.has_strategy() or not leaves or not inputs:
            return step(data)
        shape_ok = input_shapes_match(self, inputs)
        refused = tf.cast(tf.logical_not(self._checked_inputs(given)), tf.int64)
        labels_ok = self._labels_within_classes(data)
        refused = tf.where(labels_ok, refused, LABELS_REFUSED)
        data = with_known_input_shape(self, data, inputs)
        with tf.control_dependencies([counter.assign_add(tf.where(shape_ok, refused, SHAPE_REFUSED))]):
            if labels_ok is True:
                return step(data)
            # In graph mode the loss's gather would raise a raw error on such labels before the call could.
            return tf.cond(labels_ok, lambda: step(data), self.get_metrics_result)

    def make_test_function(self, force=False):
        return self._counting_function("test_function", super().make_test_function, force)

    def make_predict_function(self, force=False):
        return self._counting_function("predict_function", super().make_predict_function, force)

    def _counting_function(self, attribute, make, force):
        """Makes ``self.<attribute>`` with ``make``, wrapped to raise after a call that met a refused batch."""
        if getattr(self, attribute) is not None and not force:
            return getattr(self, attribute)
        if tf.distribute.has_strategy():
            make(force=force)
            return getattr(self, attribute)
        counter = bookkeeping_variable(
            self, "_spn_refused_inference_batches", 0, dtype=tf.int64, name="refused_inference_batches"
        )
        make(force=force)
        function = getattr(self, attribute)

        def checked_function(*args, **kwargs):
            before = int(counter.numpy())
            try:
                outputs = function(*args, **kwargs)
            except tf.errors.InvalidArgumentError as error:
                if failed_shape_assertion(self, error):  # graph mode stops at the batch: nothing was written
                    raise ValueError(refused_shape_message(self, 1)) from None
                raise
            refused = int(counter.numpy()) - before
            if refused >= SHAPE_REFUSED:
                raise ValueError(refused_shape_message(self, refused // SHAPE_REFUSED))
            if refused >= LABELS_REFUSED:
                raise ValueError(refused_labels_message(self, refused // LABELS_REFUSED, label_range(self)[0], False))
            if refused:
                raise ValueError(refused_inference_message(self, leaves_of(self)))
            return outputs

        checked_function = ending_epoch_on_error(checked_function)
        setattr(self, attribute, checked_function)
        return checked_function

    def make_train_function(self, force=False):
        if self.train_function is not None and not force:
            return self.train_function
        if tf.distribute.has_strategy():
            super().make_train_function(force=force)
            return self.train_function
        # Not weights of the model, and kept out of checkpoints (models.bookkeeping).
        counter = bookkeeping_variable(self, "_spn_refused_batches", 0, dtype=tf.int64, name="refused_batches")
        bookkeeping_variable(self, "_spn_refusal_stops_call", False, name="refusal_stops_call")
        undone = None
        if checks_finite_steps(self):
            undone = bookkeeping_variable(self, "_spn_nonfinite_steps", 0, dtype=tf.int64, name="nonfinite_steps")
        stopped = self._refusal_stop()
        super().make_train_function(force=force)
        function = self.train_function

        def checked_function(iterator):
            before = int(counter.numpy())
            undone_before = None if undone is None else int(undone.numpy())
            try:
                logs = function(iterator)
            except BaseException as error:
                if stopped is not None:
                    stopped.assign(False)
                if failed_shape_assertion(self, error):  # graph mode stops at the batch, before its step
                    raise ValueError(refused_shape_message(self, 1, "its step was skipped")) from None
                raise
            skipped = int(counter.numpy()) - before
            undone_now = 0 if undone is None else int(undone.numpy()) - undone_before
            if (skipped or undone_now) and stopped is not None:
                stopped.assign(False)
            if skipped >= SHAPE_REFUSED:
                raise ValueError(refused_shape_message(self, skipped // SHAPE_REFUSED, "their steps were skipped"))
            if skipped >= LABELS_REFUSED:
                message = refused_labels_message(self, skipped // LABELS_REFUSED, label_range(self)[0])
            elif skipped:
                message = refused_batch_message(self, leaves_of(self), skipped)
            if skipped:
                self._refuse(message, labels=skipped // LABELS_REFUSED, values=skipped % LABELS_REFUSED)
            if undone_now:
                self._refuse(nonfinite_steps_message(self, undone_now), undone=undone_now)
            return logs

        checked_function = ending_epoch_on_error(checked_function)
        self.train_function = checked_function
        return checked_function

    def _refuse(self, message, **counts):
        """Raises ``ValueError(message)``, or under ``invalid_batches="skip"`` warns: at once outside ``fit``
        (``train_on_batch``, the function called directly), else once at the end of ``fit``, which adds up
        ``counts`` (the fields of its tally) over the whole call."""
        if self.invalid_batches == "raise":
            raise ValueError(message)
        pending = getattr(self, "_spn_skipped_in_fit", None)
        if pending is None:
            warn(message)
            return
        for field, count in counts.items():
            setattr(pending, field, getattr(pending, field) + count)
