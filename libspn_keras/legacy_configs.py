"""Configs written by libspn-keras 0.6.0 (Keras 2), read by Keras 3.

0.6.0 did not register its classes with Keras, so its ``get_config`` and
``model.to_json()`` name them by their bare class names (``"DenseSum"``,
``"Dirichlet"``). Keras 3 looks objects up by their registered names,
``"libspn_keras>DenseSum"`` here. :func:`register_060_names` registers every
class of the library under its bare name as well, so such configs load with
``from_config`` and ``keras.models.model_from_json`` unchanged.
"""

from tensorflow import keras

_PREFIX = "libspn_keras>"


def register_060_names():
    """Registers each of the library's Keras objects under its bare class name too, unless that name is taken."""
    registered = keras.utils.get_custom_objects()
    for name, obj in list(registered.items()):
        if name.startswith(_PREFIX):
            registered.setdefault(name[len(_PREFIX) :], obj)
