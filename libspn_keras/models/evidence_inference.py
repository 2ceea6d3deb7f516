"""libspn-keras 0.6.0's ``infer_no_evidence`` models: calls on ``[x, evidence_mask]`` return reconstructions.

The reconstruction is :func:`~libspn_keras.models.queries.reconstruct`: the
signal from the root, routed by the sum layers' own ops, weighs (or picks) the
leaf components' modes for every unobserved input. ``fit(x, evidence_mask)``
trains on it as the original did: the compiled loss (e.g. mean squared error)
compares the unobserved entries of ``x`` with their reconstruction. Sample
weights weigh every unobserved entry of their sample (0.6.0 refused them). The
logged ``loss`` is Keras's mean of the batch losses weighed by samples (0.6.0's
Keras 2 weighed them by unobserved entries), and a batch without unobserved
entries adds a loss of 0.
"""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.validation import check_bool, is_shape
from libspn_keras.models.queries import reconstruct

EVALUATE_FORM = (
    "evaluate takes the pair and the targets, evaluate([x, evidence_mask], x) (its loss covers every entry, as in "
    "0.6.0), and so does validation_data: ([x_val, evidence_mask_val], x_val)."
)


def is_input_and_mask(inputs):
    """Whether ``inputs`` is the ``[x, evidence_mask]`` pair of an ``infer_no_evidence`` call."""
    return isinstance(inputs, (list, tuple)) and len(inputs) == 2


class EvidenceInferenceMixin:
    """Reconstruction calls and training for models built with ``infer_no_evidence=True``.

    Attributes set by the model's constructor: ``infer_no_evidence`` and
    ``infer_weighted_sum`` (see
    :class:`~libspn_keras.models.SequentialSumProductNetwork`).
    """

    infer_no_evidence = False
    infer_weighted_sum = True
    _training_on_reconstructions = False

    @property
    def supports_jit(self):
        """Whether ``jit_compile="auto"`` may compile the model with XLA (not with ``infer_no_evidence``).

        Reconstructions back-propagate inside the forward pass (nested
        tapes), which are kept out of XLA by default.
        """
        return not self.infer_no_evidence

    def configure_evidence_inference(self, infer_no_evidence, infer_weighted_sum, unsupervised):
        """Validates the three arguments (``unsupervised=None`` is inferred as in 0.6.0); returns ``unsupervised``."""
        label = f"{type(self).__name__} '{self.name}'"
        self.infer_no_evidence = check_bool(label, "infer_no_evidence", infer_no_evidence)
        self.infer_weighted_sum = check_bool(label, "infer_weighted_sum", infer_weighted_sum)
        if unsupervised is None:
            return not self.infer_no_evidence
        unsupervised = check_bool(label, "unsupervised", unsupervised)
        if unsupervised and self.infer_no_evidence:
            raise ValueError(
                f"{label}: a model with infer_no_evidence=True is trained on reconstructions against the data, so "
                f"it cannot be unsupervised; pass unsupervised=False (or leave it None)."
            )
        return unsupervised

    def compute_output_shape(self, input_shape):
        # A call on [x, evidence_mask] returns x with its unobserved entries filled in: x's shape.
        if self.infer_no_evidence and is_input_and_mask(input_shape) and all(map(is_shape, input_shape)):
            return tuple(input_shape[0])
        return super().compute_output_shape(input_shape)

    def compute_output_spec(self, inputs, *args, **kwargs):
        if self.infer_no_evidence and is_input_and_mask(inputs) and all(hasattr(t, "shape") for t in inputs):
            return keras.KerasTensor(tuple(inputs[0].shape), dtype=self.compute_dtype)
        return super().compute_output_spec(inputs, *args, **kwargs)

    def reconstruction(self, inputs, training=None):
        """The output of a call on ``[x, evidence_mask]``: ``x`` with the unobserved entries reconstructed."""
        x, evidence_mask = inputs
        return reconstruct(self, x, evidence_mask, weighted=self.infer_weighted_sum, training=training)

    def fit(self, x=None, y=None, *args, **kwargs):
        if self.infer_no_evidence and is_input_and_mask(x):  # before the data builds the model from the pair
            self._refuse_training_form(x)
        return super().fit(x, y, *args, **kwargs)

    def train_step(self, data):
        """As 0.6.0: ``data`` is ``(x, evidence_mask)`` (and sample weights); the loss is on the unobserved entries."""
        if not self.infer_no_evidence:
            return super().train_step(data)
        x, evidence_mask, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if is_input_and_mask(x) or evidence_mask is None:
            self._refuse_training_form(x)
        self._training_on_reconstructions = True
        try:
            return super().train_step(keras.utils.pack_x_y_sample_weight((x, evidence_mask), x, sample_weight))
        finally:
            self._training_on_reconstructions = False

    def _refuse_training_form(self, x):
        raise ValueError(
            f"{type(self).__name__} '{self.name}': a model with infer_no_evidence=True trains as 0.6.0 did, with "
            f"fit(x, evidence_mask): the evidence mask takes the place of the labels, and the targets are the "
            f"unobserved entries of x itself. Got "
            f"{'fit([x, evidence_mask], ...)' if is_input_and_mask(x) else 'no evidence mask'}. ({EVALUATE_FORM})"
        )

    def test_step(self, data):
        """As 0.6.0: the model is called on ``[x, evidence_mask]`` and the loss compares its output with ``y``."""
        if self.infer_no_evidence and not is_input_and_mask(keras.utils.unpack_x_y_sample_weight(data)[0]):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': a model with infer_no_evidence=True is evaluated on "
                f"reconstructions, as in 0.6.0; got x alone. {EVALUATE_FORM}"
            )
        return super().test_step(data)

    def _unobserved_only(self, x, y, y_pred, sample_weight=None):
        """``(y, y_pred, sample_weight)`` for the unobserved entries: vectors ``[n]`` (0.6.0's) and ``None``.

        With ``sample_weight`` (one per sample, or one per entry), the entries
        come as ``[n, 1]`` with one weight each, that of their sample, so that
        the loss and metrics weigh every unobserved entry.
        """
        unobserved = tf.logical_not(tf.cast(x[1], tf.bool))
        y = tf.boolean_mask(tf.cast(y, y_pred.dtype), unobserved)
        y_pred = tf.boolean_mask(y_pred, unobserved)
        if sample_weight is None:
            return y, y_pred, None
        weights = tf.cast(sample_weight, y_pred.dtype)
        if weights.shape.rank != unobserved.shape.rank:
            weights = tf.reshape(weights, tf.concat([tf.shape(weights)[:1], tf.ones_like(tf.shape(unobserved)[1:])], 0))
        weights = tf.boolean_mask(tf.broadcast_to(weights, tf.shape(unobserved)), unobserved)
        return y[:, tf.newaxis], y_pred[:, tf.newaxis], weights

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not self._training_on_reconstructions:
            return super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        y, y_pred, sample_weight = self._unobserved_only(x, y, y_pred, sample_weight)
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        # A batch without unobserved entries has no loss: a mean over nothing would be NaN.
        loss = tf.where(tf.shape(y)[0] > 0, loss, tf.zeros_like(loss))
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if self._training_on_reconstructions:
            y, y_pred, sample_weight = self._unobserved_only(x, y, y_pred, sample_weight)
        return super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(infer_no_evidence=self.infer_no_evidence, infer_weighted_sum=self.infer_weighted_sum)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        infer_no_evidence = config.pop("infer_no_evidence", False)
        infer_weighted_sum = config.pop("infer_weighted_sum", True)
        model = super().from_config(config, custom_objects=custom_objects)
        model.infer_no_evidence, model.infer_weighted_sum = infer_no_evidence, infer_weighted_sum
        return model
