"""Initial values fitted to a variable's shape, as libspn-keras 0.6.0 (on TensorFlow's Keras 2) filled them.

In 0.6.0 a ``Constant`` holding an array, or an initializer returning values
of another shape, filled a variable whenever the number of elements matched:
the values were laid out in row-major order. Keras 3 instead broadcasts a
``Constant`` array against the shape (``[4]`` against ``[4, 1]`` gives
``[4, 4]``). The helpers here restore the 0.6.0 rule for every variable the
library creates; the variables keep the element order of 0.6.0's layouts
(``[1, 1, children, 1]`` for a root, ``[scopes, decomps, children, sums]``
for dense sums, ``[1, *cells, components, d]`` for leaf parameters), so a
0.6.0 array fills the same entries here.
"""

import math

import numpy as np
import tensorflow as tf
from tensorflow import keras


def initial_values(initializer, shape, dtype=None, owner="libspn_keras", variable="variable"):
    """Values of ``initializer`` for a variable of ``shape``, reshaped when only the layout differs.

    Args:
        initializer: A Keras initializer or a callable ``(shape, dtype) -> values``.
        shape: Shape of the variable.
        dtype: Dtype of the variable (default float32).
        owner: Who creates the variable, for error messages (e.g. ``"RootSum 'root'"``).
        variable: Name of the variable, for error messages.

    Returns:
        A tensor of ``shape``: a single value fills the variable; as many
        values as the variable has elements fill it in row-major order.

    Raises:
        ValueError: If the number of values is neither 1 nor the variable's size.
    """
    shape = tuple(int(size) for size in shape)
    dtype = tf.as_dtype(dtype or "float32")
    if hasattr(initializer, "log_values"):
        # A LogspaceWrapper: fit (and check) the linear values under this owner's name, then take their log.
        return initializer.log_values(shape, dtype=dtype, owner=owner, variable=variable)
    if isinstance(initializer, keras.initializers.Constant):
        # Keras 3 would broadcast an array against the shape; 0.6.0 reshaped it.
        values = tf.convert_to_tensor(np.asarray(initializer.value), dtype=dtype)
    else:
        values = tf.convert_to_tensor(initializer(shape, dtype=dtype))
        values = tf.cast(values, dtype) if values.dtype != dtype else values
    if tuple(values.shape) == shape:
        return values
    size = math.prod(shape)
    if values.shape.num_elements() == 1:
        return tf.fill(shape, tf.reshape(values, []))
    if values.shape.num_elements() == size:
        return tf.reshape(values, shape)
    raise ValueError(
        f"{owner}: the initializer of '{variable}' gives values of shape {tuple(values.shape)} "
        f"({values.shape.num_elements()} values) but the variable has shape {shape} ({size} values). "
        f"Give one value or exactly {size} values (any layout with that many elements)."
    )


def fitted(initializer, owner, variable):
    """A callable initializer for ``add_weight`` that applies :func:`initial_values` with error context.

    Args:
        initializer: A Keras initializer or a callable ``(shape, dtype) -> values``.
        owner: Who creates the variable, e.g. ``"DenseSum 'dense_sum'"``.
        variable: Name of the variable.

    Returns:
        A callable ``(shape, dtype=None) -> values``.
    """
    initializer = keras.initializers.get(initializer)

    def initialize(shape, dtype=None):
        return initial_values(initializer, shape, dtype=dtype, owner=owner, variable=variable)

    return initialize
