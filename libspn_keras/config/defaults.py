"""The store of the library-wide defaults: one value per name, ``None`` meaning the built-in default.

Each default is stored under a name (see :data:`DEFAULT_NAMES`). The typed
setters of the other modules of :mod:`libspn_keras.config` validate what they
store; :func:`get_default` and :func:`set_default` read and write the stored
value itself, for code that saves and restores the configuration. This
module imports nothing of the library.
"""

_BUILT_IN = {
    "sum_op": "grad",
    "accumulator_initializer": None,
    "linear_accumulator_constraint": None,
    "logspace_accumulator_constraint": None,
}
_defaults = dict(_BUILT_IN)

DEFAULT_NAMES = tuple(_defaults)
"""Names of the stored defaults."""


def _checked_name(name):
    if name not in _defaults:
        raise ValueError(f"libspn_keras.config: unknown default {name!r}; the defaults are {list(DEFAULT_NAMES)}.")
    return name


def get_default(name):
    """The value stored for the default ``name`` (one of :data:`DEFAULT_NAMES`).

    ``None`` for a default that was not set (the layers then use the built-in
    one); the sum op's stored value is ``"grad"`` until one is set.
    """
    return _defaults[_checked_name(name)]


def set_default(name, value):
    """Stores ``value`` as the default ``name`` as it is, without validation; ``None`` restores the built-in.

    Meant for restoring a value read with :func:`get_default`; to change a
    default, use the typed setters (``set_default_accumulator_initializer``,
    ..., :func:`libspn_keras.sum_ops.set_default_sum_op`), which check it.
    """
    name = _checked_name(name)
    _defaults[name] = _BUILT_IN[name] if value is None else value
