"""The root of an SPN: one sum over every node of a single-scope input."""

import math

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.base_sum import training_sums
from libspn_keras.layers.cell_scopes import JOIN_CELLS_ADVICE, refuse_cells_of_different_scopes
from libspn_keras.layers.dense_sum import DenseSum
from libspn_keras.layers.validation import check_bool, check_known, is_int, layer_label


@keras.utils.register_keras_serializable(package="libspn_keras")
class RootSum(DenseSum):
    """A single sum over all nodes of its input, which must hold one scope.

    Input ``[batch, children]``, or ``[batch, 1, ...]`` whose non-batch axes
    are flattened into the children (e.g. ``[batch, 1, decomps, nodes]`` or
    ``[batch, 1, 1, nodes]``). Accumulators ``[children, 1]``.

    A :class:`~libspn_keras.layers.DenseSum` with a single sum, as in 0.6.0.

    Args:
        return_weighted_child_logits: If ``True`` the output is
            ``log w_i + log S_i(x)`` of shape ``[batch, children]``: for class
            roots, ``log p(x, y=i)``, usable as logits of
            ``SparseCategoricalCrossentropy(from_logits=True)``. If ``False``
            the output is ``log p(x)`` of shape ``[batch, 1]``.
        **kwargs: Sum-layer arguments of
            :class:`~libspn_keras.layers.base_sum.SumLayerBase`; these may
            also be passed by position, in 0.6.0's order
            (``logspace_accumulators``, ``accumulator_initializer``,
            ``trainable``, ``logspace_accumulator_constraint``,
            ``accumulator_regularizer``, ``linear_accumulator_constraint``,
            ``sum_op``). ``num_sums=1``, which 0.6.0's configs hold, is
            accepted; other values raise ``ValueError``.
    """

    fuses_with_region_products = False

    def __init__(
        self,
        return_weighted_child_logits=True,
        logspace_accumulators=None,
        accumulator_initializer=None,
        trainable=True,
        logspace_accumulator_constraint=None,
        accumulator_regularizer=None,
        linear_accumulator_constraint=None,
        sum_op=None,
        **kwargs,
    ):
        # 0.6.0's configs carry num_sums=1 (its roots were dense sums with one sum); nothing else is a root.
        num_sums = kwargs.pop("num_sums", 1)
        if not is_int(num_sums) or num_sums != 1:
            raise ValueError(
                f"RootSum: a root is a single sum, so num_sums can only be 1 (as 0.6.0's configs give it), got "
                f"{num_sums!r}; use DenseSum for several sums."
            )
        super().__init__(
            num_sums=1,  # 0.6.0's attribute: a root is a sum layer with a single sum
            logspace_accumulators=logspace_accumulators,
            accumulator_initializer=accumulator_initializer,
            trainable=trainable,
            logspace_accumulator_constraint=logspace_accumulator_constraint,
            accumulator_regularizer=accumulator_regularizer,
            linear_accumulator_constraint=linear_accumulator_constraint,
            sum_op=sum_op,
            **kwargs,
        )
        self.return_weighted_child_logits = check_bool(
            layer_label(self), "return_weighted_child_logits", return_weighted_child_logits
        )

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(
                f"RootSum '{self.name}' expects input [batch, children] or [batch, 1, ...]; got shape "
                f"{tuple(input_shape)}."
            )
        if len(input_shape) > 2 and input_shape[1] != 1:
            raise ValueError(
                f"RootSum '{self.name}' needs a single scope but its input {tuple(input_shape)} has "
                f"{input_shape[1]} scopes on axis 1. Join the scopes with product layers first "
                f"(ReduceProduct / DenseProduct, or Conv2DProduct with padding='final' followed by "
                f"SpatialToRegions)."
            )
        check_known(self, input_shape, range(1, len(input_shape)), "the children")
        self.build_accumulators([self._num_children(input_shape), 1])

    def call(self, x, training=None):
        x = tf.reshape(x, [-1, self.accumulators.shape[0]])
        with training_sums(training), self.drawing():
            if self.return_weighted_child_logits:
                return self.sum_op.weighted_children(x, self.accumulators, self.logspace_accumulators)
            return self.sum_op.weighted_sum(x, self.accumulators, self.logspace_accumulators)

    @property
    def return_weighted_child_logits(self):
        """Whether the root returns the weighted child logits (one per class) instead of their sum."""
        return self._return_weighted_child_logits

    @return_weighted_child_logits.setter
    def return_weighted_child_logits(self, value):
        self._return_weighted_child_logits = value
        if getattr(self, "accumulators", None) is not None:
            self._tag_accumulators()  # a class root's counts are normalized per sum

    def _counts_per_sum(self):
        # As 0.6.0's weighted_children: a class root's counts are normalized per sum under every counting op, so that
        # its hard-EM step does not scale with the sample weights.
        return self.return_weighted_child_logits or super()._counts_per_sum()

    def compute_output_spec(self, x, *args, **kwargs):
        if self.built:  # on a spatial tensor, the cells along axis 2 are its children: all of one scope
            refuse_cells_of_different_scopes(
                x,
                f"RootSum '{self.name}'",
                "the root would mix nodes of different scopes",
                JOIN_CELLS_ADVICE + ", then SpatialToRegions.",
            )
        return super().compute_output_spec(x, *args, **kwargs)

    def compute_output_shape(self, input_shape):
        if self.return_weighted_child_logits:
            return (input_shape[0], self._num_children(input_shape))
        return (input_shape[0], 1)

    def get_config(self):
        config = super().get_config()
        del config["num_sums"]
        config.update(return_weighted_child_logits=self.return_weighted_child_logits)
        return config

    @staticmethod
    def _num_children(input_shape):
        return math.prod(input_shape[1:])
