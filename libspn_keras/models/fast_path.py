"""The compile setting SPN models train and predict with when the user does not choose one.

Keras turns XLA on for ``jit_compile="auto"`` only on GPUs. SPN models are
chains of small contractions wrapped in ``exp``/``log``/``max`` passes, which
XLA fuses; on CPUs too they train about twice as fast compiled with XLA as
in graph mode (``benchmarks/RESULTS.md``). So SPN models resolve ``"auto"``
to XLA on every device, unless one of their layers says it cannot be
compiled (``layer.supports_jit = False``), the model runs eagerly, or a
``tf.distribute`` strategy is active (where Keras itself keeps XLA off).
"""

import tensorflow as tf


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
