"""Sequential SPN models."""

from tensorflow import keras

from libspn_keras.layers.base_leaf import LeafBase
from libspn_keras.layers.base_sum import training_sums
from libspn_keras.layers.conv2d_product import Conv2DProduct
from libspn_keras.layers.dense_product import DenseProduct
from libspn_keras.layers.dense_sum import DenseSum
from libspn_keras.layers.full_precision import keep_full_precision
from libspn_keras.layers.input_dropout import InputDropout
from libspn_keras.layers.log_dropout import LogDropout
from libspn_keras.layers.permute_and_pad_scopes_random import PermuteAndPadScopesRandom
from libspn_keras.layers.reduce_product import ReduceProduct
from libspn_keras.models.evidence_inference import EvidenceInferenceMixin, is_input_and_mask
from libspn_keras.models.fast_path import FastPathMixin
from libspn_keras.models.guarded_training import InputGuardMixin
from libspn_keras.models.leaf_inputs import PRE_LEAF_LAYERS
from libspn_keras.models.queries import QueryMixin
from libspn_keras.models.queries.chain import accepts_training
from libspn_keras.models.unsupervised import UnsupervisedTrainingMixin
from libspn_keras.models.weight_files import WeightFilesMixin


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


def check_leaf_placement(layers):
    """Raises ``ValueError`` for a leaf, or a layer meant to come before the leaves, placed above a leaf.

    Above a leaf the values are log-probabilities, not variables: a second
    leaf would read them as data (its density is then no distribution over
    the model's input), and ``NormalizeStandardScore`` / ``FlatToRegions``
    would rescale or reshape them.
    """
    leaf = None
    for layer in layers:
        # InputDropout refuses such a place itself when built, naming the layers it may follow.
        if leaf is not None and isinstance(layer, (LeafBase, *PRE_LEAF_LAYERS)) and not isinstance(layer, InputDropout):
            fix = (
                "Keep one leaf layer per model."
                if isinstance(layer, LeafBase)
                else f"Place {type(layer).__name__} before the leaf."
            )
            raise ValueError(
                f"{type(layer).__name__} '{layer.name}' comes after the leaf {type(leaf).__name__} '{leaf.name}', "
                f"whose outputs are log-probabilities, not variables: the network would be no distribution over its "
                f"input. {fix}"
            )
        if isinstance(layer, LeafBase):
            leaf = layer


def fusable_pair(layer, following):
    """Whether ``layer`` -> ``following`` is a two-factor dense product feeding a sum op that fuses it."""
    return (
        isinstance(layer, DenseProduct)
        and layer.num_factors == 2
        and isinstance(following, DenseSum)
        and following.fuses_with_region_products
        and following.sum_op.fuses_products
    )


def fusable_reduction(layer, following):
    """Whether ``layer`` -> ``following`` is a dense sum feeding a ``ReduceProduct`` through an op that fuses them."""
    return (
        isinstance(layer, DenseSum)
        and layer.fuses_with_region_products
        and isinstance(following, ReduceProduct)
        and layer.sum_op.fuses_reductions
    )


def computes_in(x, *layers):
    """Whether ``layers`` all compute in ``x``'s dtype and keep their variables in it.

    The fused paths call a sum layer's op directly, without the cast of the
    input and the autocast of the variables that calling a Keras layer
    applies; where a layer was given another ``dtype`` (e.g. ``"float64"``,
    ``"mixed_float16"``), the model calls the layers one by one instead.
    """
    dtype = keras.backend.standardize_dtype(x.dtype)
    return all(layer.compute_dtype == dtype and layer.variable_dtype == dtype for layer in layers)


@keras.utils.register_keras_serializable(package="libspn_keras")
class SequentialSumProductNetwork(
    InputGuardMixin,
    EvidenceInferenceMixin,
    QueryMixin,
    UnsupervisedTrainingMixin,
    FastPathMixin,
    WeightFilesMixin,
    keras.Sequential,
):
    """A ``keras.Sequential`` of SPN layers that trains without labels and infers scope factors.

    Called on ``x`` it returns the root's output. Built with
    ``infer_no_evidence=True`` (libspn-keras 0.6.0's mode) and called on
    ``[x, evidence_mask]`` it returns ``x`` with its unobserved entries
    (``evidence_mask`` False) reconstructed by the sum layers' own ops (see
    :meth:`~libspn_keras.models.queries.QueryMixin.zero_evidence_inference`);
    ``fit(x, evidence_mask)`` then trains on the reconstruction of the
    unobserved entries with the compiled loss, and ``predict`` / ``evaluate``
    take ``[x, evidence_mask]``.

    Args:
        layers: The SPN layers, leaf (or region entry) first, root last.
        infer_no_evidence: If ``True``, calls on ``[x, evidence_mask]``
            return reconstructions (see above).
        unsupervised: If ``True``, ``fit(x)`` needs no labels and the loss
            defaults to the negative log-likelihood. ``None`` (the default):
            ``True`` unless ``infer_no_evidence``, which cannot be unsupervised.
        infer_weighted_sum: For reconstructions, if ``True`` (0.6.0's default)
            each unobserved input is the average of the leaf components'
            modes weighted by the signal reaching them; if ``False`` the mode
            of the component with the largest signal (the same for the
            one-child routing of hard-EM and sampling sum ops).
        name: Name of the model.
        **kwargs: Passed to ``keras.Sequential``.
    """

    def __init__(
        self, layers=None, infer_no_evidence=False, unsupervised=None, infer_weighted_sum=True, name=None, **kwargs
    ):
        layers = list(layers) if layers is not None else []
        infer_scope_factors(layers)
        super().__init__(layers=layers, name=name, **kwargs)
        keep_full_precision(self)
        self.unsupervised = self.configure_evidence_inference(infer_no_evidence, infer_weighted_sum, unsupervised)

    def add(self, layer, *args, **kwargs):
        # keras.Sequential's constructor adds its layers one by one too, so every stack is checked here.
        stack = [*self.layers, layer]
        check_log_dropout_placement(stack)
        check_leaf_placement(stack)
        return super().add(layer, *args, **kwargs)

    def build(self, input_shape=None):
        # An infer_no_evidence model may first be called on [x, evidence_mask]: its layers take x. A pair holds
        # two shapes (x's may be None); (None, num_vars) is the shape of x itself.
        if self.infer_no_evidence and isinstance(input_shape, (list, tuple)) and len(input_shape) == 2:
            first, second = input_shape
            if isinstance(first, (list, tuple)) or (first is None and isinstance(second, (list, tuple))):
                input_shape = first
        super().build(input_shape)

    def call(self, inputs, training=None, mask=None, **kwargs):
        if self.infer_no_evidence and is_input_and_mask(inputs):
            return self.reconstruction(inputs, training=training)
        if isinstance(inputs, (list, tuple)):
            form = (
                "one array x, or [x, evidence_mask]"
                if self.infer_no_evidence
                else "one array x ([x, evidence_mask] needs infer_no_evidence=True; or use "
                "model.complete(x, evidence_mask); to train on data with missing values, mark them in x itself: "
                "NaN in floats, -1 in categories)"
            )
            raise ValueError(
                f"{type(self).__name__} '{self.name}' takes {form}; got a {type(inputs).__name__} of {len(inputs)}."
            )
        # Runs the layers in order, handing each DenseProduct(2) -> DenseSum pair to the sum op in one piece
        # so that ops which can (gradient, soft EM) never build the product layer's log-space output. The pairs
        # bypass the sum layers' call, so the model skips the zero sample in training calls as the layers do.
        with training_sums(training):
            x = inputs
            stack = self.layers
            index = 0
            while index < len(stack):
                layer = stack[index]
                following = stack[index + 1] if index + 1 < len(stack) else None
                if fusable_pair(layer, following) and computes_in(x, layer, following):
                    x = following.sum_of_pair_products(layer.grouped(x))
                    index += 2
                    continue
                if fusable_reduction(layer, following) and computes_in(x, layer, following):
                    x = layer.sum_then_product(x, following.num_factors)
                    index += 2
                    continue
                x = layer(x, training=training) if training is not None and accepts_training(layer) else layer(x)
                index += 1
            return x
