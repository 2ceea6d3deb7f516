"""Mean log-likelihood metric."""

from tensorflow import keras

from libspn_keras.losses.root_outputs import log_likelihood_from_root


@keras.utils.register_keras_serializable(package="libspn_keras")
class LogLikelihood(keras.metrics.Mean):
    """Mean of ``log p(x)`` over the samples seen; labels are ignored.

    Args:
        name: Name of the metric; ``"llh"`` as in 0.6.0.
        dtype: Dtype of the result.
    """

    def __init__(self, name="llh", dtype=None):
        super().__init__(name=name, dtype=dtype)
        # Higher is better: Keras callbacks in mode='auto' (EarlyStopping, ModelCheckpoint, ...) read this.
        self._direction = "up"

    def update_state(self, y_true=None, y_pred=None, sample_weight=None, *, y_target=None):
        """Adds ``log p(x)`` of ``y_pred``; ``y_true`` (0.6.0's ``y_target``) is ignored."""
        if y_pred is None:
            raise TypeError(f"LogLikelihood '{self.name}'.update_state: missing y_pred (the model's root output).")
        return super().update_state(log_likelihood_from_root(y_pred), sample_weight=sample_weight)
