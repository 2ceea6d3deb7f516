"""Online EM as a Keras optimizer."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.base_sum import SUM_ACCUMULATORS_ROLE
from libspn_keras.layers.location_scale_leaf import LEAF_STATISTICS_ROLE
from libspn_keras.math.em import online_em_leaf_update, online_em_sum_update


@keras.utils.register_keras_serializable(package="libspn_keras")
class OnlineExpectationMaximization(keras.optimizers.Optimizer):
    """Applies EM M-steps from the counts that EM sum ops and leaf statistics send backward.

    Minimizing a negative log-likelihood, the gradient of a linear
    accumulator under an EM sum op is minus its (batch-averaged) edge count,
    so this optimizer reads ``counts = -gradient``. With rate ``eta`` every sum
    gets ``(1 - eta) * w_old + eta * w_em`` with ``w_em`` the normalized
    counts of the last ``accumulate_batches`` batches; ``eta = 1`` with one
    full-data batch is one batch EM step. Leaves built with
    ``use_accumulators=True`` get the matching update of their location (and
    variance when the scale is trainable). Other variables are left unchanged.

    Args:
        learning_rate: ``eta`` in ``(0, 1]``.
        accumulate_batches: Number of batches whose counts are summed before an update.
        name: Name of the optimizer.
        **kwargs: Passed to ``keras.optimizers.Optimizer``.
    """

    def __init__(self, learning_rate=0.05, accumulate_batches=1, name="online_expectation_maximization", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if isinstance(learning_rate, (int, float)) and not 0.0 < learning_rate <= 1.0:
            raise ValueError(
                f"OnlineExpectationMaximization: learning_rate is the EM step size eta and must be in (0, 1], "
                f"got {learning_rate}."
            )
        if not isinstance(accumulate_batches, int) or accumulate_batches < 1:
            raise ValueError(
                f"OnlineExpectationMaximization: accumulate_batches must be an int >= 1, got {accumulate_batches!r}."
            )
        self.accumulate_batches = accumulate_batches

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        # Keras hands update_step the backend variable, so the roles the layers tag are read here, by index.
        self._roles = [getattr(variable, "spn_role", None) for variable in variables]
        self._update_location = [getattr(variable, "spn_update_location", True) for variable in variables]
        self._update_variance = [getattr(variable, "spn_update_variance", False) for variable in variables]
        for variable, role in zip(variables, self._roles):
            if role == SUM_ACCUMULATORS_ROLE and not getattr(variable, "spn_counting", False):
                raise ValueError(
                    f"OnlineExpectationMaximization: sum layer '{getattr(variable, 'spn_layer', variable.path)}' "
                    f"does not deliver edge counts (its sum op computes true gradients). Build every sum layer "
                    f"with an EM sum op (sum_op='em', 'hard_em', ...) and linear-space accumulators, or train "
                    f"with a gradient optimizer."
                )
        self._counts = []
        if self.accumulate_batches > 1:
            for variable in variables:
                self._counts.append(self.add_variable_from_reference(variable, name="counts"))

    def _all_reduce_sum_gradients(self, grads_and_vars):
        # Under a distribution strategy Keras' TensorFlow backend sums the gradients (here the EM counts) over the
        # replicas in one batched all-reduce, which packs them into one tensor and fails on mixed dtypes (float64
        # leaf statistics beside float32 accumulators); reduce each dtype on its own.
        grads_and_vars = list(grads_and_vars)
        groups = {}
        for index, (gradient, _) in enumerate(grads_and_vars):
            if gradient is not None:
                groups.setdefault(gradient.dtype, []).append(index)
        if len(groups) <= 1:
            return super()._all_reduce_sum_gradients(grads_and_vars)
        reduced = list(grads_and_vars)
        for indices in groups.values():
            group = super()._all_reduce_sum_gradients([grads_and_vars[index] for index in indices])
            for index, pair in zip(indices, group):
                reduced[index] = pair
        return reduced

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        role = self._roles[index]
        if role not in (SUM_ACCUMULATORS_ROLE, LEAF_STATISTICS_ROLE):
            return
        learning_rate = tf.cast(learning_rate, variable.dtype)
        counts = -tf.convert_to_tensor(gradient)
        value = tf.convert_to_tensor(variable)
        if self.accumulate_batches > 1:
            slot = self._counts[index]
            counts = counts + slot
            apply_now = tf.equal((self.iterations + 1) % self.accumulate_batches, 0)
            slot.assign(tf.where(apply_now, tf.zeros_like(counts), counts))
        if role == SUM_ACCUMULATORS_ROLE:
            updated = online_em_sum_update(value, counts, learning_rate)
        else:
            updated = online_em_leaf_update(
                value, counts, learning_rate, self._update_location[index], self._update_variance[index]
            )
        if self.accumulate_batches > 1:
            updated = tf.where(apply_now, updated, value)
        variable.assign(updated)

    def get_config(self):
        config = super().get_config()
        config.update(accumulate_batches=self.accumulate_batches)
        return config
