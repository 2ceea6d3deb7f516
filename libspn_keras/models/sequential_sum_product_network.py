"""Sequential SPN models."""

import inspect

from tensorflow import keras

from libspn_keras.layers.conv2d_product import Conv2DProduct
from libspn_keras.layers.dense_product import DenseProduct
from libspn_keras.layers.dense_sum import DenseSum
from libspn_keras.layers.log_dropout import LogDropout
from libspn_keras.layers.permute_and_pad_scopes_random import PermuteAndPadScopesRandom
from libspn_keras.layers.reduce_product import ReduceProduct
from libspn_keras.models.queries import QueryMixin
from libspn_keras.models.unsupervised import UnsupervisedTrainingMixin


def infer_scope_factors(layers):
    """Gives every ``PermuteAndPadScopesRandom`` without factors the ``num_factors`` of the products above it."""
    for index, layer in enumerate(layers):
        if isinstance(layer, PermuteAndPadScopesRandom) and layer.factors is None:
            factors = [
                above.num_factors for above in layers[index + 1 :] if isinstance(above, (DenseProduct, ReduceProduct))
            ]
            if not factors:
                raise ValueError(
                    f"PermuteAndPadScopesRandom '{layer.name}' has no DenseProduct or ReduceProduct above it to "
                    f"infer its factors from; pass factors=[...]."
                )
            layer.factors = factors


def check_log_dropout_placement(layers):
    """Raises ``ValueError`` for a ``LogDropout`` directly below a product layer, which would zero whole products."""
    for layer, following in zip(layers, layers[1:]):
        if isinstance(layer, LogDropout) and isinstance(following, (DenseProduct, ReduceProduct, Conv2DProduct)):
            raise ValueError(
                f"LogDropout '{layer.name}' sits directly below {type(following).__name__} '{following.name}': "
                f"dropping a factor drops the whole product. Place LogDropout directly below a sum layer."
            )


def fusable_pair(layer, following):
    """Whether ``layer`` -> ``following`` is a two-factor dense product feeding a sum op that fuses it."""
    return (
        isinstance(layer, DenseProduct)
        and layer.num_factors == 2
        and isinstance(following, DenseSum)
        and following.sum_op.fuses_products
    )


def accepts_training(layer):
    """Whether the layer's ``call`` takes a ``training`` argument."""
    return "training" in inspect.signature(layer.call).parameters


@keras.utils.register_keras_serializable(package="libspn_keras")
class SequentialSumProductNetwork(QueryMixin, UnsupervisedTrainingMixin, keras.Sequential):
    """A ``keras.Sequential`` of SPN layers that trains without labels and infers scope factors.

    Args:
        layers: The SPN layers, leaf (or region entry) first, root last.
        unsupervised: If ``True``, ``fit(x)`` needs no labels and the loss
            defaults to the negative log-likelihood.
        name: Name of the model.
        **kwargs: Passed to ``keras.Sequential``.
    """

    def __init__(self, layers=None, unsupervised=True, name=None, **kwargs):
        layers = list(layers) if layers is not None else []
        check_log_dropout_placement(layers)
        infer_scope_factors(layers)
        super().__init__(layers=layers, name=name, **kwargs)
        self.unsupervised = bool(unsupervised)

    def call(self, inputs, training=None, mask=None, **kwargs):
        # Runs the layers in order, handing each DenseProduct(2) -> DenseSum pair to the sum op in one piece
        # so that ops which can (gradient, soft EM) never build the product layer's log-space output.
        x = inputs
        stack = self.layers
        index = 0
        while index < len(stack):
            layer = stack[index]
            following = stack[index + 1] if index + 1 < len(stack) else None
            if fusable_pair(layer, following):
                x = following.sum_of_pair_products(layer.grouped(x))
                index += 2
                continue
            x = layer(x, training=training) if training is not None and accepts_training(layer) else layer(x)
            index += 1
        return x
