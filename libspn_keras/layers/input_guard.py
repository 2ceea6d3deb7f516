"""Run-time checks of the data a layer receives: its shape against the built shape, and its values.

Shapes are compared when the call is traced (a ``ValueError`` naming the
layer, the expected and the given shape); axes unknown at trace time are
checked by ``tf.ensure_shape`` when the graph runs or XLA compiles it
(``tf.errors.InvalidArgumentError`` giving both shapes), which also
restores the static shape the layers above rely on.

Values are checked in the graph. Eagerly a bad value raises ``ValueError``;
inside ``tf.function`` an assertion raises ``tf.errors.InvalidArgumentError``
before anything that depends on the layer's output (a loss, a gradient, an
optimizer update) runs. XLA (``jit_compile=True``) compiles assertions away,
so callers also make the offending entries harmless (the leaves read them as
missing) and the SPN models skip the update of such a batch. Where the SPN
models check each batch themselves (their ``fit``, ``evaluate`` and
``predict`` steps, in graph mode and under XLA alike) or trace a query for
XLA, they build no assertion at all (:func:`without_value_assertions`): their
own check raises ``ValueError`` after the step, and XLA would drop each
assertion with a warning on the console at every compilation.
"""

import re

import tensorflow as tf

from libspn_keras.layers.validation import sizes_conflict
from libspn_keras.trace_switch import TraceSwitch

_xla_traced = TraceSwitch()


def without_value_assertions(active=True):
    """Within it (when ``active``), :func:`guard_values` builds no assertion in the code being traced.

    For code compiled by XLA, which compiles assertions away (logging
    ``Ignoring Assert operator`` for each), and for the SPN models' steps:
    what protects the variables there is the models' own check of every
    batch (:class:`~libspn_keras.models.guarded_training.InputGuardMixin`), which raises
    ``ValueError`` after the step, not the assertion.
    """
    return _xla_traced.on(active)


def value_checks_active():
    """Whether :func:`guard_values` checks values here: eagerly, or outside :func:`without_value_assertions`."""
    return tf.executing_eagerly() or not _xla_traced.is_on()


def check_input_shape(label, x, expected, built_for):
    """``x`` after checking ``x.shape[1:]`` against ``expected`` (a tuple of ints).

    Args:
        label: How the error names the layer, e.g. ``"NormalLeaf 'leaf'"``.
        x: The input tensor ``[batch, ...]``.
        expected: Sizes of the non-batch axes the layer was built for.
        built_for: What the axes mean, for the error message (e.g. ``"[batch, rows, cols, d]"``).

    Raises:
        ValueError: When the rank or a size known at trace time differs.
    """
    advice = (
        "Feed data of the shape the model was built for (same number of variables, spatial size, channels and "
        "rank), or build a new model for this shape."
    )
    expected = tuple(int(size) for size in expected)
    given = tuple(x.shape[1:]) if x.shape.rank is not None else None
    if given is not None:
        if sizes_conflict(given, expected):
            raise ValueError(
                f"{label} was built for input {built_for} of shape {(None, *expected)} but got shape "
                f"{(x.shape[0], *given)}. {advice}"
            )
        if all(g is not None for g in given):
            return x
    # Axes unknown when traced (a tf.function relaxed after calls with different shapes, a dataset without static
    # shapes): tf.ensure_shape checks them at run time, or when XLA compiles, and restores the static shape.
    return tf.ensure_shape(x, (None, *expected), name="input_shape")


def guard_values(label, x, invalid, contract):
    """``x``, guarded so that no entry flagged in ``invalid`` passes unnoticed.

    Args:
        label: How the error names the layer.
        x: The input tensor.
        invalid: Boolean tensor shaped like ``x``; ``True`` marks a value the layer refuses.
        contract: Sentence stating the accepted values and the missing marker.

    Returns:
        ``x`` (in graph mode, with the assertion as a control dependency).

    Raises:
        ValueError: Eagerly, when an entry is invalid.
    """
    count = tf.reduce_sum(tf.cast(tf.reshape(invalid, [-1]), tf.int32))
    if tf.executing_eagerly():
        if int(count) > 0:
            # Distinct values: a leaf behind FlatToRegions sees each input value once per decomposition.
            examples = list(dict.fromkeys(tf.boolean_mask(x, invalid).numpy().tolist()))[:5]
            raise ValueError(
                f"{label}: the input holds {int(count)} value(s) that are neither valid nor the missing marker, "
                f"e.g. {examples}. {contract} Nothing was computed or updated."
            )
        return x
    if not value_checks_active():
        return x
    message = f"{_graph_text(label)}: the input holds value(s) that are neither valid nor the missing marker. "
    message += f"{_graph_text(contract)} Count:"
    assertion = tf.debugging.Assert(tf.equal(count, 0), [message, count], name="input_values")
    with tf.control_dependencies([assertion]):
        return tf.identity(x)


def _graph_text(text):
    """``text`` for an assertion message, which TensorFlow prints with quotes escaped: ``A 'b'`` -> ``A named b``."""
    return re.sub(r"(\w+) '([^']*)'", r"\1 named \2", text)
