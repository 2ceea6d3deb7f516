"""Mean joint log-probability metric."""

from tensorflow import keras

from libspn_keras.losses.root_outputs import log_joint_from_root


@keras.utils.register_keras_serializable(package="libspn_keras")
class LogJoint(keras.metrics.Mean):
    """Mean of ``log p(x, y)`` for integer labels over the samples seen.

    Args:
        name: Name of the metric.
        dtype: Dtype of the result.
    """

    def __init__(self, name="log_joint", dtype=None):
        super().__init__(name=name, dtype=dtype)
        # Higher is better: Keras callbacks in mode='auto' (EarlyStopping, ModelCheckpoint, ...) read this.
        self._direction = "up"

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(
            log_joint_from_root(y_true, y_pred, owner=f"LogJoint '{self.name}'"), sample_weight=sample_weight
        )
