"""Functional SPN models."""

from tensorflow import keras

from libspn_keras.layers.full_precision import keep_full_precision
from libspn_keras.layers.validation import check_bool
from libspn_keras.models.fast_path import FastPathMixin
from libspn_keras.models.guarded_training import InputGuardMixin
from libspn_keras.models.leaf_inputs import signed_graph
from libspn_keras.models.queries import QueryMixin
from libspn_keras.models.unsupervised import UnsupervisedTrainingMixin
from libspn_keras.models.weight_files import WeightFilesMixin


@keras.utils.register_keras_serializable(package="libspn_keras")
class SumProductNetwork(
    InputGuardMixin, QueryMixin, UnsupervisedTrainingMixin, FastPathMixin, WeightFilesMixin, keras.Model
):
    """A functional ``keras.Model`` of SPN layers that trains without labels.

    Use as ``SumProductNetwork(inputs, outputs)``.

    Args:
        *args: Passed to ``keras.Model`` (usually ``inputs`` and ``outputs``).
        unsupervised: If ``True``, ``fit(x)`` needs no labels and the loss
            defaults to the negative log-likelihood.
        **kwargs: Passed to ``keras.Model``.
    """

    def __init__(self, *args, unsupervised=True, **kwargs):
        super().__init__(*args, **kwargs)
        keep_full_precision(self)
        self.unsupervised = check_bool(f"{type(self).__name__} '{self.name}'", "unsupervised", unsupervised)

    def call(self, inputs, training=None, mask=None, **kwargs):
        # Keras's functional call casts every input to its declared dtype: a bool or unsigned input would turn the
        # missing marker -1 into True or 255. The same layers run on signed inputs instead.
        signed = signed_graph(self)
        if signed is None:
            return super().call(inputs, training=training, mask=mask, **kwargs)
        return signed(inputs, training=training, mask=mask, **kwargs)

    @property
    def casts_inputs(self):
        """Whether the call casts the data to a bool or unsigned input, losing the missing marker.

        Only where the layers do not run on a signed input
        (``models.leaf_inputs.lost_markers`` then refuses missing entries).
        """
        return signed_graph(self) is None
