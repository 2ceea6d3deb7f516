"""Training without labels for SPN models, with the checks and distribution handling every SPN model shares."""

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.losses.negative_log_likelihood import NegativeLogLikelihood
from libspn_keras.math.em_roles import delivers_em_counts, em_role
from libspn_keras.models.distributed_training import reducible_logs, weigh_by_replica_share
from libspn_keras.models.fast_path import resolve_jit_compile, sum_layers_within
from libspn_keras.optimizers.online_expectation_maximization import (
    OnlineExpectationMaximization,
    check_counting_role,
)
from libspn_keras.user_warnings import warn


def check_optimizer_can_train(model):
    """Raises ``ValueError`` when ``model``'s optimizer cannot train it; runs when training starts.

    EM sum ops and leaves with ``use_accumulators=True`` send counts and
    moments backward instead of gradients; any optimizer but
    ``OnlineExpectationMaximization`` would apply them as gradient steps,
    and that optimizer cannot apply the true gradients of other sum ops.
    """
    if model.optimizer is None:
        raise ValueError(
            f"Model '{model.name}' was compiled without an optimizer (for evaluation only); compile it with one "
            f"(e.g. libspn_keras.optimizers.OnlineExpectationMaximization() or keras.optimizers.Adam()) to train it."
        )
    if isinstance(model.optimizer, OnlineExpectationMaximization):
        for variable in model.trainable_variables:
            check_counting_role(em_role(variable))
        for layer in sum_layers_within(model):
            if layer.accumulator_regularizer is not None and delivers_em_counts(layer.accumulators):
                raise ValueError(
                    f"{type(layer).__name__} '{layer.name}' has an accumulator_regularizer, but its sum op sends EM "
                    f"counts, which OnlineExpectationMaximization applies: the penalty's gradient would be read as "
                    f"counts. Train it by gradients (sum_op='grad' and e.g. keras.optimizers.Adam) to use the "
                    f"regularizer, or build the layer without one for EM."
                )
        _warn_if_the_loss_gives_no_counts(model)
        return
    for variable in model.trainable_variables:
        if delivers_em_counts(variable):
            raise ValueError(
                f"Model '{model.name}': variable '{variable.path}' receives EM counts, not gradients (an EM sum op "
                f"or a leaf with use_accumulators=True), but the optimizer is {type(model.optimizer).__name__}. "
                f"Compile with libspn_keras.optimizers.OnlineExpectationMaximization, or build those layers with "
                f"sum_op='grad' / use_accumulators=False for gradient training."
            )


def _is_cross_entropy(loss):
    name = loss if isinstance(loss, str) else getattr(loss, "name", None) or getattr(loss, "__name__", "")
    return isinstance(name, str) and "crossentropy" in name.replace("_", "").lower()


def _warn_if_the_loss_gives_no_counts(model):
    """Warns when EM sum ops or leaves learn from a cross-entropy loss, whose gradients are no counts.

    EM counts are gradients of a log-likelihood (``NegativeLogLikelihood``,
    ``NegativeLogJoint``). The gradients of ``-log p(y | x)`` are signed and
    total 0 at the root, so the optimizer's updates from them are no EM
    step; 0.6.0 applied them all the same, so this warns rather than refuses.
    """
    if not _is_cross_entropy(getattr(model, "loss", None)):
        return
    if not any(delivers_em_counts(variable) for variable in model.trainable_variables):
        return
    warn(
        f"Model '{model.name}' trains EM sum ops (or leaves with use_accumulators=True) with "
        f"OnlineExpectationMaximization on a cross-entropy loss: its gradients, of the conditional log p(y | x), "
        f"are signed and are not EM counts, so the updates are no EM step. For discriminative training build the "
        f"layers with sum_op='grad' and use a gradient optimizer (e.g. keras.optimizers.Adam); for EM on labelled "
        f"data use loss=libspn_keras.losses.NegativeLogJoint()."
    )


def _shaped_like_a_mask_of(y, x):
    """Whether ``y`` is a boolean array or tensor of ``x``'s shape (an evidence mask passed where labels go)."""
    shape, x_shape, dtype = getattr(y, "shape", None), getattr(x, "shape", None), getattr(y, "dtype", None)
    if shape is None or x_shape is None or dtype is None:
        return False
    try:
        return tf.as_dtype(dtype) == tf.bool and tuple(shape) == tuple(x_shape)
    except TypeError:  # a dtype TensorFlow has no name for (strings as objects, ...): Keras says what it takes
        return False


def _as_list(metrics):
    """Metrics as ``compile`` takes them: one metric object (or name) becomes a list of one, as in tf.keras 2."""
    if metrics is None or isinstance(metrics, (list, tuple, dict)):
        return metrics
    return [metrics]


class UnsupervisedTrainingMixin:
    """Lets ``fit(x)`` / ``evaluate(x)`` run without labels when ``unsupervised`` is set.

    The loss defaults to :class:`~libspn_keras.losses.NegativeLogLikelihood`,
    and absent labels are replaced by zeros, which likelihood losses and
    metrics ignore. ``compile`` takes one metric object as well as a list,
    and ``compile()`` with no usable optimizer still serves ``evaluate``: the
    optimizer is checked when training starts. Under a distribution
    strategy, a mean-reduced loss trains as on one device however the
    global batch splits over the replicas, and step logs reduce over the
    workers of a ``MultiWorkerMirroredStrategy``.
    """

    unsupervised = True

    def compile(
        self, optimizer="rmsprop", loss=None, metrics=None, weighted_metrics=None, jit_compile="auto", **kwargs
    ):
        # Kept to warn when fit is given labels that this default loss ignores.
        self._spn_default_loss = loss is None and self.unsupervised
        if self._spn_default_loss:
            loss = NegativeLogLikelihood()
        super().compile(
            optimizer=optimizer,
            loss=loss,
            metrics=_as_list(metrics),
            weighted_metrics=_as_list(weighted_metrics),
            # "auto" means XLA wherever the layers support it, CPUs included (libspn_keras.models.fast_path).
            jit_compile=resolve_jit_compile(self, jit_compile, kwargs.get("run_eagerly", False)),
            **kwargs,
        )

    def compile_from_config(self, config):
        # Keras skips restoring the compile state of models that override ``compile``; do what it does.
        self.compile(**keras.utils.deserialize_keras_object(config))
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def fit(self, x=None, y=None, *args, **kwargs):
        if self.built and getattr(self, "compiled", False):
            # Before Keras traces the step, so that the message is not buried in a traceback of the trace; the
            # step checks again for models that the first batch builds.
            check_optimizer_can_train(self)
        if _shaped_like_a_mask_of(y, x) and not getattr(self, "infer_no_evidence", False):
            warn(
                f"{type(self).__name__} '{self.name}': fit reads y as labels, and this y is a boolean array shaped "
                f"like x, as an evidence mask is; fit takes no mask (only a model built with infer_no_evidence=True "
                f"trains on fit(x, evidence_mask), on its reconstructions, as in 0.6.0). To train on data with "
                f"missing values, mark them in x itself (NaN in floats, -1 in categories): every step marginalizes "
                f"them."
            )
        # The original form of a dynamic SPN takes its sequence lengths as y.
        elif y is not None and getattr(self, "_spn_default_loss", False) and not getattr(self, "original_form", False):
            warn(
                f"{type(self).__name__} '{self.name}' was compiled without a loss, so fit trains on "
                f"NegativeLogLikelihood, log p(x) with the classes summed out, and the labels y only reach the "
                f"metrics. To train on them, compile with loss=libspn_keras.losses.NegativeLogJoint() (generative) "
                f"or a cross-entropy on the class roots (discriminative)."
            )
        return super().fit(x, self._labels_for_sample_weight(y, kwargs.get("sample_weight")), *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        return super().evaluate(x, self._labels_for_sample_weight(y, kwargs.get("sample_weight")), *args, **kwargs)

    def _labels_for_sample_weight(self, y, sample_weight):
        # Keras drops ``sample_weight`` when ``y`` is None (it packs ``(x,)``). Without labels the loss and metrics
        # of an unsupervised model get zeros anyway (``_labels_or_zeros``): pass those, so the weights are kept.
        if y is not None or sample_weight is None or not self.unsupervised or getattr(self, "original_form", False):
            return y
        return np.zeros([len(sample_weight)], dtype="int32")

    def train_step(self, data):
        check_optimizer_can_train(self)
        return super().train_step(data)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(
            x=x, y=self._labels_or_zeros(y, y_pred), y_pred=y_pred, sample_weight=sample_weight, training=training
        )
        if training:
            loss = weigh_by_replica_share(loss, y_pred, sample_weight, self.loss)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        logs = super().compute_metrics(x, self._labels_or_zeros(y, y_pred), y_pred, sample_weight=sample_weight)
        return reducible_logs(logs)

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
