"""Random per-decomposition permutation of scopes, padded to fit the product factors."""

import math

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.permute_and_pad_scopes import PermuteAndPadScopes, permute_and_pad
from libspn_keras.layers.validation import check_int_list, check_known, check_rank, check_seed, layer_label
from libspn_keras.math.seeding import structure_random_state


@keras.utils.register_keras_serializable(package="libspn_keras")
class PermuteAndPadScopesRandom(PermuteAndPadScopes):
    """Shuffles the scopes of every decomposition independently and pads them to ``prod(factors)``.

    A :class:`~libspn_keras.layers.PermuteAndPadScopes` (as in 0.6.0) whose
    permutations are drawn when it is built instead of given.

    Input ``[batch, scopes, decomps, nodes]``, output
    ``[batch, prod(factors), decomps, nodes]``. Padding scopes hold 0 in log
    space (marginalized), so the product layers above can split the scopes
    evenly whatever the number of variables. The drawn permutations are a
    non-trainable weight, so saved models keep them.

    Args:
        factors: Scope factors of the product layers above, bottom first (e.g.
            ``[14, 2, 2, 2]``). ``None`` lets
            :class:`~libspn_keras.models.SequentialSumProductNetwork` infer them,
            or :meth:`set_factors` give them later.
        seed: Optional int seed; by default the draw follows NumPy's global
            state (which ``keras.utils.set_random_seed`` sets) exactly as
            0.6.0's does, so a seeded 0.6.0 script gets the same permutations
            (padding scopes stored as ``-1``, as there).
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def __init__(self, factors=None, seed=None, **kwargs):
        super().__init__(permutations=None, **kwargs)
        self.factors = check_int_list(layer_label(self), "factors", factors, minimum=1, allow_none=True)
        self.seed = check_seed(layer_label(self), "seed", seed)

    def set_factors(self, factors):
        """Sets the scope factors of the product layers above (0.6.0's way to give them after construction).

        Args:
            factors: The ``num_factors`` of the product layers above, bottom first.
        """
        if self.built:
            raise ValueError(
                f"PermuteAndPadScopesRandom '{self.name}' is already built with factors {self.factors}; set the "
                f"factors before the layer is first called."
            )
        self.factors = check_int_list(layer_label(self), "factors", factors)

    def build(self, input_shape):
        check_rank(self, input_shape, 4, "[batch, scopes, decomps, nodes]")
        check_known(self, input_shape, (1, 2, 3), "scopes, decompositions and nodes")
        if self.factors is None:
            raise ValueError(
                f"PermuteAndPadScopesRandom '{self.name}' has no factors. Pass factors=[...] (the num_factors of "
                f"the product layers above, bottom first) or build it inside "
                f"libspn_keras.models.SequentialSumProductNetwork, which infers them."
            )
        num_scopes, num_decomps = input_shape[1], input_shape[2]
        total = math.prod(self.factors)
        if total < num_scopes:
            raise ValueError(
                f"PermuteAndPadScopesRandom '{self.name}': factors {self.factors} cover {total} scopes but the "
                f"input has {num_scopes}. Increase the factors (their product must be >= {num_scopes})."
            )
        # 0.6.0's draw, call for call: a permutation of the scopes per decomposition, then padding scopes (-1)
        # inserted at regular positions.
        random = structure_random_state(self.seed)
        rows = [list(random.permutation(num_scopes)) for _ in range(num_decomps)]
        num_padding = total - num_scopes
        if num_padding:
            for row in rows:
                for i in range(num_padding):
                    row.insert(i * (total // num_padding), -1)
        permutations = np.asarray(rows, dtype=np.int64)
        # int64, not int32: TensorFlow keeps int32 variables in host memory on a GPU, where an XLA-compiled step
        # (Keras's default there) cannot read them.
        self.permutations = self.add_weight(
            name="permutations",
            shape=permutations.shape,
            dtype="int64",
            initializer=keras.initializers.Constant(permutations),
            trainable=False,
        )

    def call(self, x):
        # Padding scopes are -1, as in 0.6.0's weights; models saved before store the number of scopes there.
        return permute_and_pad(x, tf.convert_to_tensor(self.permutations))

    def compute_output_shape(self, input_shape):
        total = math.prod(self.factors) if self.factors is not None else None
        return (input_shape[0], total, input_shape[2], input_shape[3])

    def get_config(self):
        # The drawn permutations are a weight, saved with the model's weights rather than in the config.
        config = keras.layers.Layer.get_config(self)
        config.update(factors=self.factors, seed=self.seed)
        return config
