"""The base of the library's layers: full precision under mixed policies, inputs of the shape they were built for."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import check_bool
from libspn_keras.layers.validation import check_built_shape
from libspn_keras.user_warnings import warn

_HALF_PRECISION = ("float16", "bfloat16")


class FullPrecisionLayer(keras.layers.Layer):
    """Base of the library's layers: under a ``mixed_float16`` / ``mixed_bfloat16`` policy they compute in float32.

    An SPN's values are log-probabilities of a few hundred nats, which half
    precision resolves to 0.25 (float16) or 2 (bfloat16) nats: classes would
    tie and likelihoods round. As Keras advises for numerically sensitive
    layers, the library's layers therefore keep float32 under a mixed
    global policy; the layers around them still run in half precision, and
    Keras casts the tensors between them. A ``dtype`` passed to the layer is
    used as given.

    Once built, a layer refuses a tensor of another shape than the one it was
    built for (the batch axis and axes unknown at build time aside) with a
    ``ValueError`` naming it, unless it sets ``checks_built_shape = False``:
    leaves check their input in ``call`` instead, against the variables they
    model, and elementwise layers take any shape.

    Args:
        trainable: Whether the layer's weights train (Keras's argument).
        name: The layer's name.
        dtype: The layer's dtype or dtype policy; ``None`` takes the global
            policy (float32 under a mixed one, see above).
        dynamic: Keras 2's flag for layers that can only run eagerly,
            accepted for 0.6.0's scripts and ignored: Keras 3 has no such
            layers (a warning says so when it is ``True``).
        **kwargs: Passed to ``keras.layers.Layer``; Keras 2's
            ``batch_input_shape``, which 0.6.0's configs hold for a model's
            first layer, is read as ``input_shape`` (without the batch axis).
    """

    checks_built_shape = True
    # Whether the layer computes in a floating dtype only (its values are log-probabilities of parameters).
    computes_in_floats = False

    # Keras 2's order of the base arguments, which 0.6.0's layers without arguments of their own took by position.
    def __init__(self, trainable=True, name=None, dtype=None, dynamic=False, **kwargs):
        if check_bool(type(self).__name__, "dynamic", dynamic):
            warn(
                f"{type(self).__name__}: dynamic=True is ignored; Keras 3 has no layers that only run eagerly "
                "(compile the model with run_eagerly=True to run its steps eagerly)."
            )
        if "batch_input_shape" in kwargs and "input_shape" not in kwargs:
            kwargs["input_shape"] = tuple(kwargs.pop("batch_input_shape"))[1:]
        if dtype is None and keras.mixed_precision.global_policy().compute_dtype in _HALF_PRECISION:
            dtype = "float32"
        super().__init__(trainable=trainable, name=name, dtype=dtype, **kwargs)
        if self.computes_in_floats and not tf.as_dtype(self.compute_dtype).is_floating:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': dtype {self.compute_dtype} cannot hold its parameters and "
                "log-probabilities; pass a floating dtype such as 'float32' (the default) or 'float64'."
            )

    def __call__(self, *args, **kwargs):
        if self.built and args and self.checks_built_shape:
            check_built_shape(self, args[0])
        return super().__call__(*args, **kwargs)


def keep_full_precision(model):
    """Sets an SPN model's own policy to float32 under a mixed global policy, as its layers have.

    The models call some of their layers' kernels directly (fused product-sum
    pairs), inside the model's own autocast scope, so the model computes in
    float32 as well.

    Args:
        model: The SPN model, right after ``keras.Model.__init__``.
    """
    if model.compute_dtype in _HALF_PRECISION:
        model.dtype_policy = "float32"
