"""Training without labels for SPN models."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.base_sum import SUM_ACCUMULATORS_ROLE
from libspn_keras.layers.location_scale_leaf import LEAF_STATISTICS_ROLE
from libspn_keras.losses.negative_log_likelihood import NegativeLogLikelihood
from libspn_keras.optimizers.online_expectation_maximization import OnlineExpectationMaximization


def check_em_variables_have_em_optimizer(model):
    """Raises ``ValueError`` when variables that receive EM statistics would be updated by another optimizer.

    EM sum ops and leaves with ``use_accumulators=True`` send counts and
    moments backward instead of gradients; any optimizer but
    ``OnlineExpectationMaximization`` would apply them as gradient steps.
    """
    if isinstance(model.optimizer, OnlineExpectationMaximization):
        return
    for variable in model.trainable_variables:
        role = getattr(variable, "spn_role", None)
        if role == LEAF_STATISTICS_ROLE or (role == SUM_ACCUMULATORS_ROLE and getattr(variable, "spn_counting", False)):
            raise ValueError(
                f"Model '{model.name}': variable '{variable.path}' receives EM counts, not gradients (an EM sum op "
                f"or a leaf with use_accumulators=True), but the optimizer is {type(model.optimizer).__name__}. "
                f"Compile with libspn_keras.optimizers.OnlineExpectationMaximization, or build those layers with "
                f"sum_op='grad' / use_accumulators=False for gradient training."
            )


class UnsupervisedTrainingMixin:
    """Lets ``fit(x)`` / ``evaluate(x)`` run without labels when ``unsupervised`` is set.

    The loss defaults to :class:`~libspn_keras.losses.NegativeLogLikelihood`,
    and absent labels are replaced by zeros, which likelihood losses and
    metrics ignore.
    """

    unsupervised = True

    def compile(self, optimizer="rmsprop", loss=None, **kwargs):
        if loss is None and self.unsupervised:
            loss = NegativeLogLikelihood()
        super().compile(optimizer=optimizer, loss=loss, **kwargs)
        check_em_variables_have_em_optimizer(self)

    def compile_from_config(self, config):
        # Keras skips restoring the compile state of models that override ``compile``; do what it does.
        self.compile(**keras.utils.deserialize_keras_object(config))
        if hasattr(self, "optimizer") and self.built:
            self.optimizer.build(self.trainable_variables)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return super().compute_loss(
            x=x, y=self._labels_or_zeros(y, y_pred), y_pred=y_pred, sample_weight=sample_weight, training=training
        )

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, self._labels_or_zeros(y, y_pred), y_pred, sample_weight=sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(unsupervised=self.unsupervised)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # Keras rebuilds Sequential and functional models through their own constructors' configs,
        # which know nothing of ``unsupervised``: set it on the rebuilt model.
        config = dict(config)
        unsupervised = config.pop("unsupervised", True)
        model = super().from_config(config, custom_objects=custom_objects)
        model.unsupervised = unsupervised
        return model

    def _labels_or_zeros(self, y, y_pred):
        if y is None and self.unsupervised:
            return tf.zeros(tf.shape(y_pred)[:1], dtype=tf.int32)
        return y
