"""The two constructor forms of ``DynamicSumProductNetwork`` (0.6.0's and this library's), told apart."""

import numbers

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.input_guard import value_checks_active

ORIGINAL_NETWORKS = ("template_network", "interface_network_t0", "interface_network_t_minus_1", "top_network")
ORIGINAL_ARGUMENTS = ORIGINAL_NETWORKS + ("return_last_step", "unsupervised")
OWN_ARGUMENTS = ("template", "num_interface_sums", "return_weighted_child_logits", "unsupervised", "sum_kwargs")


def _uses_original_form(args, kwargs):
    if any(name in kwargs for name in ORIGINAL_ARGUMENTS if name != "unsupervised"):
        return True
    if "num_interface_sums" in kwargs or "template" in kwargs:
        return False
    # Positionally, 0.6.0 passes a network where this library passes the number of interface sums.
    return len(args) > 1 and not isinstance(args[1], numbers.Integral)


def dynamic_arguments(args, kwargs):
    """``(original_form, arguments, remaining keyword arguments)`` for ``DynamicSumProductNetwork(*args, **kwargs)``.

    Raises:
        TypeError: For too many positional arguments or an argument given twice.
        ValueError: When a network of 0.6.0's form or the template is missing
            or is not a Keras layer, or ``num_interface_sums`` is not a positive
            int.
    """
    original = _uses_original_form(args, kwargs)
    names = ORIGINAL_ARGUMENTS if original else OWN_ARGUMENTS
    if len(args) > len(names):
        raise TypeError(
            f"DynamicSumProductNetwork takes at most {len(names)} positional arguments ({', '.join(names)})."
        )
    arguments = dict(zip(names, args))
    remaining = dict(kwargs)
    for name in names:
        if name in remaining:
            if name in arguments:
                raise TypeError(f"DynamicSumProductNetwork got two values for argument '{name}'.")
            arguments[name] = remaining.pop(name)
    required = ORIGINAL_NETWORKS if original else ("template", "num_interface_sums")
    missing = [name for name in required if arguments.get(name) is None]
    if missing:
        form = (
            "0.6.0's form DynamicSumProductNetwork(template_network, interface_network_t0, "
            "interface_network_t_minus_1, top_network)"
            if original
            else "DynamicSumProductNetwork(template, num_interface_sums)"
        )
        raise ValueError(f"DynamicSumProductNetwork: {', '.join(missing)} missing; use {form}.")
    for name in ORIGINAL_NETWORKS if original else ("template",):
        if not isinstance(arguments[name], keras.layers.Layer):
            raise ValueError(
                f"DynamicSumProductNetwork: {name} must be a Keras layer or model (e.g. a keras.Sequential of SPN "
                f"layers), got {type(arguments[name]).__name__} {arguments[name]!r:.80}."
            )
    if not original:
        count = arguments["num_interface_sums"]
        if not isinstance(count, numbers.Integral) or isinstance(count, bool) or count < 1:
            raise ValueError(f"DynamicSumProductNetwork: num_interface_sums must be an int >= 1, got {count!r}.")
    return original, arguments, remaining


def _rank(value):
    shape = getattr(value, "shape", None)
    if shape is None:
        return np.ndim(value) if isinstance(value, (list, tuple, np.ndarray, numbers.Number)) else None
    return len(shape) if isinstance(shape, tuple) else shape.rank


def refuse_lengths_beside_sequences(label, data):
    """A ``ValueError`` for 0.6.0's input ``[x, sequence_lens]`` given to the template form (sequences alone)."""
    if not isinstance(data, (list, tuple)) or len(data) != 2:
        return
    refuse_ranks_of_lengths_beside_sequences(label, _rank(data[0]), _rank(data[1]))


def refuse_ranks_of_lengths_beside_sequences(label, x_rank, lens_rank):
    """:func:`refuse_lengths_beside_sequences` for the ranks of two inputs (``None`` where unknown)."""
    if x_rank is not None and x_rank >= 3 and lens_rank in (1, 2) and lens_rank < x_rank:
        raise ValueError(
            f"{label} takes the sequences x [batch, time, ...] alone; got [x, sequence_lens], the input of 0.6.0's "
            f"four-network form. Pad shorter sequences with missing values (NaN, or -1 for categories) at the front "
            f"instead (see the guide on dynamic SPNs)."
        )


def check_sequence_lens(label, sequence_lens, num_sequences, num_steps):
    """``sequence_lens`` as int32 ``[batch]``, checked: one length per sequence, each from 0 to ``num_steps``.

    Raises ``ValueError`` where the values are known (eagerly, and for NumPy input to ``fit``); in a graph the
    check is an assertion (which XLA compiles away), except in the models' steps, which check the lengths of
    their batch themselves (:func:`lengths_fit`).
    """
    advice = (
        f"{label}: sequence_lens must hold one length per sequence of x, each from 0 to its {num_steps} steps "
        f"(x holds the sequences left-padded to that many steps)"
    )
    lengths = tf.convert_to_tensor(sequence_lens)
    if lengths.dtype.is_floating and tf.executing_eagerly() and not np.all(np.mod(lengths.numpy(), 1) == 0):
        raise ValueError(f"{advice}; got lengths that are not whole numbers: {lengths.numpy().ravel()[:8].tolist()}.")
    lengths = tf.reshape(tf.cast(lengths, tf.int32), [-1])
    if tf.executing_eagerly() and isinstance(num_sequences, int):
        values = lengths.numpy()
        if values.shape[0] != num_sequences or np.any(values < 0) or np.any(values > num_steps):
            raise ValueError(f"{advice}; got {values.shape[0]} length(s) for {num_sequences}: {values[:8].tolist()}.")
        return lengths
    if not value_checks_active():
        # In a step that checks its batch itself (lengths_fit), skips it and raises after: no assertion to stop it.
        return lengths
    assertions = [
        tf.debugging.assert_equal(tf.size(lengths), num_sequences, message=f"{advice}; got another number of them."),
        tf.debugging.assert_greater_equal(lengths, 0, message=f"{advice}; got a negative length."),
        tf.debugging.assert_less_equal(lengths, num_steps, message=f"{advice}; got a length beyond the steps of x."),
    ]
    with tf.control_dependencies(assertions):
        return tf.identity(lengths)


def lengths_fit(sequence_lens, num_sequences, num_steps):
    """Scalar bool tensor: ``sequence_lens`` holds one whole number per sequence, each from 0 to ``num_steps``.

    Graph-safe (no assertion), for the training and evaluation steps, which
    skip a batch whose lengths do not fit (:mod:`~libspn_keras.models.guarded_training`).
    """
    lengths = tf.reshape(tf.convert_to_tensor(sequence_lens), [-1])
    if not (lengths.dtype.is_floating or lengths.dtype.is_integer):
        return tf.constant(False)
    values = tf.cast(lengths, tf.float64)  # NaN fails every comparison below
    whole = tf.equal(tf.math.floor(values), values)
    within = tf.logical_and(values >= 0, values <= num_steps)
    count = tf.equal(tf.size(lengths, out_type=tf.int64), tf.cast(num_sequences, tf.int64))
    return tf.logical_and(count, tf.reduce_all(tf.logical_and(whole, within)))


def step_mask(sequence_lens, num_steps):
    """Boolean ``[batch, num_steps]``: step ``t`` is in a left-padded sequence of length ``L`` iff ``t >= T - L``."""
    lengths = tf.reshape(tf.cast(sequence_lens, tf.int32), [-1, 1])
    return tf.range(num_steps)[tf.newaxis, :] >= num_steps - lengths
