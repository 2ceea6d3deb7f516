"""Dropout of sum children in log space."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import as_scalar
from libspn_keras.layers.cell_scopes import KeepsCellScopes
from libspn_keras.layers.full_precision import FullPrecisionLayer
from libspn_keras.layers.validation import check_float, check_int, is_int, layer_label


def _noise_shape(owner, noise_shape):
    if noise_shape is None:
        return None
    try:
        sizes = [None if size is None else as_scalar(size) for size in noise_shape]
    except TypeError:
        sizes = []
    # Whole numbers only: int() would silently truncate a size such as 1.5.
    if not sizes or not all(size is None or (is_int(size) and size >= 1) for size in sizes):
        raise ValueError(
            f"{owner}: noise_shape must be None or a list of positive ints (or None) for the non-batch axes, got "
            f"{noise_shape!r}."
        )
    return [None if size is None else int(size) for size in sizes]


@keras.utils.register_keras_serializable(package="libspn_keras")
class LogDropout(KeepsCellScopes, FullPrecisionLayer):
    """During training, sets each log-value to ``-inf`` (probability 0) with probability ``rate``.

    Place it directly below a sum layer: the sum then mixes a random subset of
    its children. Not for the input of a product layer, whose output would be
    zeroed with its child. Identity at inference. Nothing is rescaled, and the
    sum keeps its weights: in training it gives ``log sum_kept w_c S_c``, the
    kept children's share of the mixture, so the network's probabilities
    total less than 1 in training (as in 0.6.0). The arguments are those of
    0.6.0.

    Args:
        rate: Probability of dropping each child, in ``[0, 1]`` (``1`` only with
            ``axis_at_least_one``, which then keeps exactly one child).
        noise_shape: Optional shape of the drop pattern without the batch axis
            (as in 0.6.0), e.g. ``[1, 1, nodes]`` on ``[batch, scopes, decomps,
            nodes]`` drops the same nodes in every scope and decomposition.
            Sizes of 1 broadcast; ``None`` entries take the input's size.
        seed: Optional int seed (any int, as in 0.6.0) of the layer's
            ``keras.random.SeedGenerator`` (``None``: drawn from the global
            seed of ``keras.utils.set_random_seed``); the drops then repeat
            from run to run, under XLA too.
        axis_at_least_one: Optional axis of the input along which at least
            one entry is always kept (the one with the largest noise draw),
            e.g. ``-1`` so that no sum loses all its children.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    checks_built_shape = False  # elementwise: any shape

    def __init__(self, rate, noise_shape=None, seed=None, axis_at_least_one=None, **kwargs):
        super().__init__(**kwargs)
        owner = layer_label(self)
        rate = check_float(owner, "rate", rate, minimum=0.0, maximum=1.0)
        axis_at_least_one = check_int(owner, "axis_at_least_one", axis_at_least_one, allow_none=True)
        if rate == 1.0 and axis_at_least_one is None:
            raise ValueError(
                f"{owner}: rate 1 drops every child, leaving no distribution; use a rate below 1 or set "
                f"axis_at_least_one."
            )
        self.rate = rate
        self.noise_shape = _noise_shape(owner, noise_shape)
        # Any int, as in 0.6.0, which hands it to tf.random.uniform (negative op seeds are seeds too).
        self.seed = check_int(owner, "seed", seed, allow_none=True)
        self.axis_at_least_one = axis_at_least_one
        # Keras's stateless draws, as keras.layers.Dropout makes them: the same seed gives the same drops under XLA
        # too, where a stateful tf.random op is not reproducible.
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def build(self, input_shape):
        if self.noise_shape is not None and len(self.noise_shape) != len(input_shape) - 1:
            raise ValueError(
                f"LogDropout '{self.name}': noise_shape {self.noise_shape} needs one entry per non-batch axis of "
                f"the input {tuple(input_shape)}."
            )
        if self.noise_shape is not None:
            for axis, (size, input_size) in enumerate(zip(self.noise_shape, input_shape[1:]), start=1):
                if size not in (None, 1) and input_size is not None and size != input_size:
                    raise ValueError(
                        f"LogDropout '{self.name}': noise_shape {self.noise_shape} does not broadcast to the input "
                        f"{tuple(input_shape)}: entry {axis - 1} is {size} but input axis {axis} has size "
                        f"{input_size}. Use 1 (the same drop for all of that axis), None or {input_size}."
                    )
        if self.axis_at_least_one is not None and not -len(input_shape) <= self.axis_at_least_one < len(input_shape):
            raise ValueError(
                f"LogDropout '{self.name}': axis_at_least_one {self.axis_at_least_one} is not an axis of the input "
                f"{tuple(input_shape)}."
            )

    def call(self, inputs, training=False):  # 0.6.0's argument name, so layer(inputs=x) binds as it did
        x = inputs
        if not training or self.rate == 0.0:
            return x
        noise = keras.random.uniform(self._noise_shape(x), dtype=x.dtype, seed=self.seed_generator)
        keep = noise >= self.rate
        if self.axis_at_least_one is not None:
            largest = tf.reduce_max(noise, axis=self.axis_at_least_one, keepdims=True)
            keep = tf.logical_or(keep, tf.equal(noise, largest))
        keep = tf.broadcast_to(keep, tf.shape(x))
        return tf.where(keep, x, tf.constant(-float("inf"), x.dtype))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            rate=self.rate, noise_shape=self.noise_shape, seed=self.seed, axis_at_least_one=self.axis_at_least_one
        )
        return config

    def _noise_shape(self, x):
        shape = tf.shape(x)
        if self.noise_shape is None:
            return shape
        sizes = [shape[0]] + [shape[i + 1] if size is None else size for i, size in enumerate(self.noise_shape)]
        return tf.stack(sizes)
