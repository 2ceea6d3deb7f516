"""Data softening for discrete leaves: each observed category is read as soft evidence while training."""

import math

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.full_precision import FullPrecisionLayer
from libspn_keras.layers.validation import check_float, layer_label


@keras.utils.register_keras_serializable(package="libspn_keras")
class DataSoftening(FullPrecisionLayer):
    """Softens indicators in training: the observed category keeps probability ``beta``, the others share the rest.

    Place directly after an :class:`~libspn_keras.layers.IndicatorLeaf`
    (``[batch, ..., categories]`` log-indicators). In training the output is
    ``log(M exp(x))`` with ``M = beta * I + (1 - beta) / (C - 1) * (1 - I)``:
    each sample counts as a little evidence for every category, the
    regularization of Liu & Van den Broeck (2021). Every column of ``M`` sums
    to one, so the model stays a normalized distribution, and missing entries
    (all indicators 1) stay marginalized. Outside training (evaluation,
    queries) the layer passes its input through unchanged.

    Args:
        beta: Probability kept by the observed category, in ``(1 / C, 1]``.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    checks_built_shape = False  # elementwise over the categories: any shape

    def __init__(self, beta=0.999, **kwargs):
        super().__init__(**kwargs)
        self.beta = check_float(layer_label(self), "beta", beta, minimum=0.0, maximum=1.0, min_open=True)

    def build(self, input_shape):
        num_categories = input_shape[-1]
        if num_categories is None or num_categories < 2 or self.beta <= 1.0 / num_categories:
            raise ValueError(
                f"{layer_label(self)}: needs a known number of categories >= 2 on the last axis and beta above "
                f"1 / categories; got input shape {tuple(input_shape)} and beta={self.beta}."
            )
        other = math.log((1.0 - self.beta) / (num_categories - 1)) if self.beta < 1.0 else -float("inf")
        # Numbers, not a tensor: a tensor made while a tf.function traces the first call would belong to that graph.
        own = math.log(self.beta)
        self.log_mixing = tuple(
            tuple(own if i == j else other for j in range(num_categories)) for i in range(num_categories)
        )

    def call(self, x, training=None):
        if not training or self.beta == 1.0:
            return x
        log_mixing = tf.constant(self.log_mixing, dtype=x.dtype)
        return tf.reduce_logsumexp(tf.expand_dims(x, -2) + log_mixing, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(beta=self.beta)
        return config
