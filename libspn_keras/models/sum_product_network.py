"""Functional SPN models."""

from tensorflow import keras

from libspn_keras.layers.full_precision import keep_full_precision
from libspn_keras.layers.validation import check_bool
from libspn_keras.models.fast_path import FastPathMixin
from libspn_keras.models.guarded_training import InputGuardMixin
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

    # Keras's functional call casts every input to its declared dtype: a bool or unsigned input loses the missing
    # marker there (models.leaf_inputs.lost_markers).
    casts_inputs = True

    def __init__(self, *args, unsupervised=True, **kwargs):
        super().__init__(*args, **kwargs)
        keep_full_precision(self)
        self.unsupervised = check_bool(f"{type(self).__name__} '{self.name}'", "unsupervised", unsupervised)
