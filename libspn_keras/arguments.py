"""Checks of constructor arguments, shared by every module of the library (NumPy only, imports nothing above it).

Every helper takes ``(owner, argument, value)``: ``owner`` names the object
being built (e.g. ``"DenseSum 'dense_sum'"`` or ``"build_rat_spn"``),
``argument`` the parameter, and the error says what was given and what is
accepted. Wrong types and wrong values both raise :class:`ArgumentError`, a
``ValueError`` (and a ``TypeError``, so either ``except`` clause catches it).
The layers use them through :mod:`libspn_keras.layers.validation`.
"""

import math
import numbers

import numpy as np


class ArgumentError(ValueError, TypeError):
    """A constructor argument of the wrong type or out of range."""


def as_scalar(value):
    """The number held by a 0-d NumPy array or a scalar eager tensor; any other value unchanged.

    libspn-keras 0.6.0 handed its numeric arguments to TensorFlow as they
    were, so ``np.array(0.5)`` or ``tf.constant(4)`` worked wherever a number
    did; the checks read them as that number. Variables are left as they are
    (and refused by the checks): reading one once would silently freeze a
    value that 0.6.0 read at every step.
    """
    if isinstance(value, np.ndarray):
        return value[()] if value.ndim == 0 else value
    if hasattr(value, "numpy") and not hasattr(value, "assign"):
        try:
            held = np.asarray(value.numpy())
        except Exception:  # a symbolic tensor has no value yet
            return value
        return held[()] if held.ndim == 0 else value
    return value


def is_int(value):
    """Whether ``value`` is a Python or NumPy integer (bools are not integers here)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_real(value):
    """Whether ``value`` is a Python or NumPy real number (bools are not numbers here)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_positive_int(value):
    """Whether ``value`` is an integer >= 1 (Python or NumPy integer, not a bool)."""
    value = as_scalar(value)
    return is_int(value) and value >= 1


def _is_positive_whole(value):
    """Whether ``value`` is an integer >= 1 or a finite float holding one (0.6.0 took ``strides=[2.0, 2.0]``)."""
    value = as_scalar(value)
    return _is_positive_int(value) or (is_real(value) and math.isfinite(value) and value >= 1 and value == int(value))


def positive_int_pair(layer_name, argument, value):
    """Normalizes an int or a pair of ints to a tuple of two positive ints."""
    if is_int(value):
        pair = (value, value)
    else:
        try:
            pair = tuple(value)
        except TypeError:
            pair = ()
    if len(pair) != 2 or not all(_is_positive_whole(v) for v in pair):
        raise ArgumentError(
            f"{layer_name}: {argument} must be a positive int or a pair of positive ints, got {value!r}."
        )
    return tuple(int(as_scalar(v)) for v in pair)


def positive_int(layer_name, argument, value):
    """Validates a positive int argument (Python or NumPy integer) and returns it as a Python int."""
    if not _is_positive_int(value):
        raise ArgumentError(f"{layer_name}: {argument} must be an int >= 1, got {value!r}.")
    return int(as_scalar(value))


def check_int(owner, argument, value, minimum=None, maximum=None, allow_none=False):
    """Validates an int argument in ``[minimum, maximum]`` (bounds optional) and returns it as a Python int."""
    if value is None and allow_none:
        return None
    value = as_scalar(value)
    bounds = _bounds_text(minimum, maximum)
    if not is_int(value) or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        none_text = " or None" if allow_none else ""
        raise ArgumentError(f"{owner}: {argument} must be an int{bounds}{none_text}, got {value!r}.")
    return int(value)


def check_bool(owner, argument, value, allow_none=False):
    """Validates a bool argument (``True``/``False``, a NumPy bool, or the ints 0 and 1 as 0.6.0 read them; not
    strings or other ints) and returns it as a Python bool."""
    if value is None and allow_none:
        return None
    value = as_scalar(value)
    if is_int(value) and value in (0, 1):
        return bool(value)
    if not isinstance(value, (bool, np.bool_)):
        none_text = ", False or None" if allow_none else " or False"
        raise ArgumentError(f"{owner}: {argument} must be True{none_text}, got {value!r} ({type(value).__name__}).")
    return bool(value)


def check_float(owner, argument, value, minimum=None, maximum=None, min_open=False, max_open=False):
    """Validates a finite real argument within the given bounds and returns it as a Python float."""
    value = as_scalar(value)
    ok = is_real(value) and math.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if min_open else value >= minimum
    if ok and maximum is not None:
        ok = value < maximum if max_open else value <= maximum
    if not ok:
        low = "" if minimum is None else ("(" if min_open else "[") + f"{minimum}"
        high = "" if maximum is None else f"{maximum}" + (")" if max_open else "]")
        interval = f" in {low or '(-inf'}, {high or 'inf)'}" if (low or high) else ""
        raise ArgumentError(f"{owner}: {argument} must be a finite number{interval}, got {value!r}.")
    return float(value)


def check_choice(owner, argument, value, choices):
    """Validates that ``value`` is one of ``choices`` (compared with ``==``, so the types must match)."""
    if not isinstance(value, str) and any(isinstance(choice, str) for choice in choices) or value not in choices:
        raise ArgumentError(f"{owner}: {argument} must be one of {tuple(choices)}, got {value!r}.")
    return value


def check_int_list(owner, argument, value, minimum=1, allow_none=False):
    """Validates a non-empty list or tuple of ints ``>= minimum`` and returns it as a list of Python ints."""
    if value is None and allow_none:
        return None
    items = list(value) if isinstance(value, (list, tuple, np.ndarray)) else None
    if not items or not all(is_int(item) and item >= minimum for item in items):
        none_text = " (or None)" if allow_none else ""
        raise ArgumentError(
            f"{owner}: {argument} must be a non-empty list of ints >= {minimum}{none_text}, got {value!r}."
        )
    return [int(item) for item in items]


def check_seed(owner, argument, value):
    """Validates an optional seed: ``None`` or an int ``>= 0``."""
    return check_int(owner, argument, value, minimum=0, allow_none=True)


def _bounds_text(minimum, maximum):
    if minimum is not None and maximum is not None:
        return f" in [{minimum}, {maximum}]"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""
