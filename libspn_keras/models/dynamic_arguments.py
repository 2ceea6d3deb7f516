"""The two constructor forms of ``DynamicSumProductNetwork`` (0.6.0's and this library's), told apart."""

import numbers

import tensorflow as tf

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
        ValueError: When a network of 0.6.0's form or the template is missing,
            or ``num_interface_sums`` is not a positive int.
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
    if not original:
        count = arguments["num_interface_sums"]
        if not isinstance(count, numbers.Integral) or isinstance(count, bool) or count < 1:
            raise ValueError(f"DynamicSumProductNetwork: num_interface_sums must be an int >= 1, got {count!r}.")
    return original, arguments, remaining


def step_mask(sequence_lens, num_steps):
    """Boolean ``[batch, num_steps]``: step ``t`` is in a left-padded sequence of length ``L`` iff ``t >= T - L``."""
    lengths = tf.reshape(tf.cast(sequence_lens, tf.int32), [-1, 1])
    return tf.range(num_steps)[tf.newaxis, :] >= num_steps - lengths
