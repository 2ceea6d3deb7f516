"""Integer labels of class roots, checked against the number of classes before a training step uses them.

A loss that reads integer labels (``NegativeLogJoint``, Keras's sparse
categorical cross-entropy) gathers each sample's class root. Out of range,
that gather raises a raw ``InvalidArgumentError`` in graph mode, and under
XLA (the SPN models' default) it clamps the index, so the step would train
silently on another class (and ``evaluate`` would report the loss of
another class). The guarded steps of
:mod:`~libspn_keras.models.guarded_training` skip such a training batch
instead and ``fit`` says why; ``evaluate`` raises.
"""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.losses.negative_log_joint import NegativeLogJoint

_SPARSE_NAMES = ("sparse_categorical_crossentropy",)


def label_range(model):
    """``(classes, ignored)`` when ``model``'s compiled loss reads integer labels of its class roots, else ``None``.

    ``classes`` is the size of the model's last output axis; ``ignored`` the
    label the loss skips (Keras's ``ignore_class``), or ``None``.
    """
    loss = getattr(model, "loss", None)
    if isinstance(loss, NegativeLogJoint):
        ignored = None
    elif isinstance(loss, keras.losses.SparseCategoricalCrossentropy):
        ignored = loss.get_config().get("ignore_class")
    elif (isinstance(loss, str) and loss in _SPARSE_NAMES) or loss is keras.losses.sparse_categorical_crossentropy:
        ignored = None
    else:
        return None
    outputs = getattr(model, "outputs", None)
    if not outputs or len(outputs) != 1 or len(outputs[0].shape) != 2 or outputs[0].shape[-1] is None:
        return None
    return int(outputs[0].shape[-1]), ignored


def labels_within(labels, classes, ignored=None):
    """Whether every sample has one label, a class index in ``[0, classes)`` or ``ignored`` (a scalar bool tensor).

    Float labels must be whole numbers: the losses cast them to integers, so
    0.5 would train class 0. Several labels per sample (one-hot rows, whose
    entries are class indices too) would be read as other samples' labels.
    """
    labels = tf.convert_to_tensor(labels)
    if not (labels.dtype.is_integer or labels.dtype.is_floating):
        return tf.constant(True)
    within = tf.logical_and(labels >= tf.cast(0, labels.dtype), labels < tf.cast(classes, labels.dtype))
    if labels.dtype.is_floating:
        within = tf.logical_and(within, tf.equal(labels, tf.floor(labels)))
    if ignored is not None:
        within = tf.logical_or(within, tf.equal(labels, tf.cast(ignored, labels.dtype)))
    if labels.shape.rank is None or labels.shape.rank > 1:
        one_each = tf.equal(tf.size(labels), tf.concat([tf.shape(labels), [1]], axis=0)[0])
        return tf.logical_and(tf.reduce_all(within), one_each)
    return tf.reduce_all(within)


def refused_labels_message(model, count, classes, training=True):
    """What ``fit`` (``training``) or ``evaluate`` says after ``count`` batches held labels outside the class roots."""
    where = f"one per sample, whole numbers 0 to {classes - 1}"
    if not training:
        return (
            f"{type(model).__name__} '{model.name}': {count} batch(es) held labels that are not indices of its "
            f"{classes} class roots ({where}); the call's results are discarded. Pass labels its loss can read."
        )
    advice = (
        " To skip such batches with a warning instead, compile with invalid_batches='skip'."
        if model.invalid_batches == "raise"
        else ""
    )
    return (
        f"{type(model).__name__} '{model.name}': {count} training batch(es) held labels that are not indices of its "
        f"{classes} class roots ({where}); their steps were skipped and changed nothing.{advice}"
    )
