"""The base of the library's layers: full precision under mixed policies, inputs of the shape they were built for."""

from tensorflow import keras

from libspn_keras.layers.validation import check_built_shape

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
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    checks_built_shape = True

    def __init__(self, **kwargs):
        if kwargs.get("dtype") is None and keras.mixed_precision.global_policy().compute_dtype in _HALF_PRECISION:
            kwargs["dtype"] = "float32"
        super().__init__(**kwargs)

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
