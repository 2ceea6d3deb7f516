"""What the SPN models do under a ``tf.distribute`` strategy so that training matches one device.

Keras divides a mean-reduced loss by the number of replicas and sums the
replicas' gradients: each replica then weighs its own batch mean equally,
which is the global mean only when the global batch splits evenly. The
models scale each replica's gradient (not the loss, whose logged value stays
Keras') by its share of the samples, so the summed gradients, and the EM
counts they carry, are those of the whole batch for any split.
"""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.math.gradients import custom_gradient

MEAN_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


def _losses(compiled):
    if isinstance(compiled, dict):
        return list(compiled.values())
    if isinstance(compiled, (list, tuple)):
        return list(compiled)
    return [compiled]


def compiled_reduction(compiled):
    """The reduction shared by every compiled loss (strings and functions reduce by the batch mean), else ``None``."""
    reductions = {getattr(loss, "reduction", "sum_over_batch_size") for loss in _losses(compiled) if loss is not None}
    return reductions.pop() if len(reductions) == 1 else None


def scale_gradient(value, factor):
    """``value`` unchanged, with its gradient multiplied by ``factor``."""

    @custom_gradient
    def identity(tensor):
        return tf.identity(tensor), lambda upstream: upstream * factor

    return identity(value)


def weigh_by_replica_share(loss, y_pred, sample_weight, compiled):
    """Gives one replica's mean-reduced ``loss`` the gradient of its share of the global batch mean.

    Scales the gradient by ``n_r * R / N`` (``n_r`` samples here, ``N`` in all
    ``R`` replicas; sample weights instead of counts for the
    ``mean_with_sample_weight`` reduction). Nothing changes on one device or
    for losses that are not mean-reduced (a summed loss already adds up).
    """
    context = tf.distribute.get_replica_context()
    reduction = compiled_reduction(compiled)
    if context is None or context.num_replicas_in_sync == 1 or reduction not in MEAN_REDUCTIONS:
        return loss
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        local = tf.reduce_sum(tf.cast(sample_weight, tf.float32))
    else:
        local = tf.cast(tf.shape(keras.tree.flatten(y_pred)[0])[0], tf.float32)
    total = context.all_reduce(tf.distribute.ReduceOp.SUM, local)
    share = tf.math.divide_no_nan(local * context.num_replicas_in_sync, total)
    return scale_gradient(loss, tf.cast(share, loss.dtype))


def across_workers():
    """Whether training runs under a ``MultiWorkerMirroredStrategy`` of more than one worker."""
    strategy = tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    cluster = strategy.cluster_resolver.cluster_spec()
    return sum(len(cluster.job_tasks(job)) for job in ("chief", "worker") if job in cluster.jobs) > 1


def reducible_logs(logs):
    """Step logs that Keras can reduce over the workers of a ``MultiWorkerMirroredStrategy``.

    Keras 3 reduces every value there along axis 0, which a scalar lacks:
    scalars become vectors of length 1, whose reduction is the scalar mean.
    Elsewhere the logs are returned as they are.
    """
    if not across_workers():
        return logs
    logs = {name: tf.convert_to_tensor(value) for name, value in logs.items()}
    return {name: tf.reshape(value, [1]) if value.shape.rank == 0 else value for name, value in logs.items()}
