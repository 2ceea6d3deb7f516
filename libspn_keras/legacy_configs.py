"""Configs written by libspn-keras 0.6.0 (Keras 2), read by Keras 3.

0.6.0 did not register its classes with Keras, so its ``get_config`` and
``model.to_json()`` name them by their bare class names (``"DenseSum"``,
``"Dirichlet"``). Keras 3 looks objects up by their registered names,
``"libspn_keras>DenseSum"`` here. Nested objects in a layer's config are
read by bare name where their ``module`` is the library's (the layers'
``from_config``); a whole model from 0.6.0's ``to_json`` loads with
``keras.models.model_from_json(text, custom_objects=objects_060())``.
The bare names are not registered globally: Keras gives global entries
precedence over a caller's ``custom_objects``, so they would shadow a user's
own class of the same name.
"""

from tensorflow import keras

_PREFIX = "libspn_keras>"


def objects_060():
    """The library's Keras objects by bare class name (``{"DenseSum": DenseSum, ...}``), as 0.6.0's configs name
    them: the ``custom_objects`` that read a model serialized by 0.6.0."""
    return {
        name[len(_PREFIX) :]: obj for name, obj in keras.utils.get_custom_objects().items() if name.startswith(_PREFIX)
    }


def names_library_object(config):
    """Whether ``config`` is a serialized object whose ``module`` is the library's (as 0.6.0 wrote them)."""
    return isinstance(config, dict) and str(config.get("module", "")).startswith("libspn_keras")
