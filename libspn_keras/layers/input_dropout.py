"""Marginalizing random input variables during training."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.base_leaf import LeafBase, missing_value
from libspn_keras.layers.cell_scopes import KeepsCellScopes, holds_leaf_values
from libspn_keras.layers.full_precision import FullPrecisionLayer
from libspn_keras.layers.validation import check_float, check_seed, layer_label


@keras.utils.register_keras_serializable(package="libspn_keras")
class InputDropout(KeepsCellScopes, FullPrecisionLayer):
    """During training, marks each input variable unobserved with probability ``rate``.

    Place it on the model input, before ``FlatToRegions`` and the leaf
    layer (elsewhere it is refused when the model is built: after
    ``FlatToRegions`` every decomposition holds its own copy of a variable,
    which would be dropped apart; after the leaf the values are
    log-probabilities, not variables). Dropped entries become NaN (float inputs)
    or -1 (signed integer inputs), which every leaf treats as missing, so the SPN
    computes the marginal over the dropped variables. For input
    ``[batch, ..., d]`` of rank 3 or more, all ``d`` dimensions of a variable
    (the last axis) are dropped together; a flat ``[batch, vars]`` input (as
    taken by ``FlatToRegions``) drops every entry independently. Identity at
    inference. Unsigned and bool inputs (e.g. ``uint8`` images) cannot hold
    -1: a training call on them raises ``ValueError``; cast them to a float
    or signed dtype first.

    Args:
        rate: Probability of dropping each variable, in ``[0, 1]``.
        seed: Optional int seed of the layer's ``keras.random.SeedGenerator``
            (``None``: drawn from the global seed of
            ``keras.utils.set_random_seed``); the drops then repeat from run to
            run, under XLA too.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    # Position i of the output holds variable i of the input (see layers.cell_scopes.variable_source).
    keeps_variable_positions = True

    checks_built_shape = False  # elementwise: any shape

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_float(layer_label(self), "rate", rate, minimum=0.0, maximum=1.0)
        self.seed = check_seed(layer_label(self), "seed", seed)
        # Stateless draws as in keras.layers.Dropout: reproducible under XLA too (see LogDropout).
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def call(self, x, training=False):
        if not training or self.rate == 0.0:
            return x
        if x.shape.rank == 2:
            # Flat input [batch, vars] (as taken by FlatToRegions): every entry is one variable.
            keep = keras.random.uniform(tf.shape(x), seed=self.seed_generator) >= self.rate
        else:
            keep = tf.expand_dims(
                keras.random.uniform(tf.shape(x)[:-1], seed=self.seed_generator) >= self.rate, axis=-1
            )
        try:
            missing = missing_value(x.dtype)
        except ValueError as error:
            raise ValueError(f"{layer_label(self)}: {error} InputDropout marks dropped variables missing.") from None
        return tf.where(keep, x, missing)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, *args, **kwargs):
        inputs = args[0] if args else kwargs.get("x")
        history = getattr(inputs, "_keras_history", None)  # (operation, node index, tensor index) of a KerasTensor
        if holds_leaf_values(inputs) or (history and isinstance(history[0], LeafBase)):
            raise ValueError(
                f"{layer_label(self)}: its input comes from FlatToRegions or a leaf layer, where dropping entries "
                f"does not marginalize variables (FlatToRegions gives every decomposition its own copy of each "
                f"variable; a leaf gives log-probabilities). Place InputDropout on the model input, before "
                f"FlatToRegions and the leaf layer."
            )
        return super().compute_output_spec(*args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config
