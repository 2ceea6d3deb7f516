"""Negative joint log-probability of inputs and labels."""

from tensorflow import keras

from libspn_keras.losses.root_outputs import keras_reduction, log_joint_from_root


@keras.utils.register_keras_serializable(package="libspn_keras")
class NegativeLogJoint(keras.losses.Loss):
    """``-log p(x, y)`` for integer labels ``y`` from class-root logits ``[batch, classes]``.

    Minimizing it trains the SPN generatively on labelled data.

    Args:
        reduction: Keras loss reduction; Keras 2's ``"auto"`` (0.6.0's default) means ``"sum_over_batch_size"``.
        name: Name of the loss.
    """

    def __init__(self, reduction="sum_over_batch_size", name="negative_log_joint", **kwargs):
        super().__init__(reduction=keras_reduction(reduction), name=name, **kwargs)

    def call(self, y_true, y_pred):
        return -log_joint_from_root(y_true, y_pred)
