"""Keras objects given as arguments (initializers, regularizers, constraints), read with an error naming the owner.

Below the layers, so that the config module's setters use it too.
"""

from tensorflow import keras

from libspn_keras.arguments import ArgumentError
from libspn_keras.legacy_configs import names_library_object, objects_060

_KERAS_GETTERS = {
    "initializer": keras.initializers.get,
    "regularizer": keras.regularizers.get,
    "constraint": keras.constraints.get,
}


def keras_object(owner, argument, kind, identifier):
    """``keras.{kind}s.get(identifier)``, with an error naming ``owner`` and ``argument`` when Keras cannot read it.

    ``kind`` is ``"initializer"``, ``"regularizer"`` or ``"constraint"``.
    A config dict of one of the library's objects written by 0.6.0 (named
    without Keras 3's package prefix) is read too.
    """
    try:
        if names_library_object(identifier):
            with keras.utils.custom_object_scope(objects_060()):
                return _KERAS_GETTERS[kind](identifier)
        return _KERAS_GETTERS[kind](identifier)
    except (ValueError, TypeError) as error:
        raise ArgumentError(
            f"{owner}: {argument} must be a Keras {kind} (an object, a callable, a config dict or a name Keras "
            f"knows), got {identifier!r} ({error})."
        ) from None
