"""Online EM as a Keras optimizer."""

import numbers

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import as_scalar
from libspn_keras.layers.validation import check_choice, check_float, positive_int
from libspn_keras.math.em import (
    online_em_leaf_update,
    online_em_leaf_update_towards_estimate,
    online_em_sum_update,
    sum_estimate,
)
from libspn_keras.math.em_roles import (
    LEAF_STATISTICS,
    SUM_ACCUMULATORS,
    centre_leaf_counts,
    em_role,
    uncentre_leaf_counts,
)
from libspn_keras.optimizers.variable_learning_rate import VariableLearningRate
from libspn_keras.user_warnings import warn

#: How ``OnlineExpectationMaximization`` updates leaf statistics (its ``leaf_update`` argument).
LEAF_UPDATES = {
    "running_statistics": online_em_leaf_update,
    "towards_estimate": online_em_leaf_update_towards_estimate,
}


def _is_leaf(role):
    return role is not None and role.kind == LEAF_STATISTICS


def _backend_handles(variable):
    """The objects ``update_step`` may receive for ``variable``: itself, its backend variable, and its replicas."""
    value = variable.value
    strategy = getattr(value, "distribute_strategy", None) or tf.distribute.get_strategy()
    return (variable, value, *strategy.experimental_local_results(value))


def check_counting_role(role):
    """Raises ``ValueError`` for sum accumulators whose sum op delivers gradients rather than edge counts."""
    if role is not None and role.kind == SUM_ACCUMULATORS and not role.counting:
        raise ValueError(
            f"OnlineExpectationMaximization: sum layer '{role.layer}' does not deliver edge counts (its sum "
            f"op computes true gradients). Build every sum layer with an EM sum op (sum_op='em', "
            f"'hard_em', ...) and linear-space accumulators, or train with a gradient optimizer."
        )


@keras.utils.register_keras_serializable(package="libspn_keras")
class OnlineExpectationMaximization(keras.optimizers.Optimizer):
    """Applies EM M-steps from the counts that EM sum ops and leaf statistics send backward.

    Minimizing a negative log-likelihood, the gradient of a linear
    accumulator under an EM sum op is minus its edge count (divided by the
    batch size for the usual mean-reduced loss), so this optimizer reads
    ``counts = -gradient``. As in libspn-keras 0.6.0, each batch's counts
    give an estimate per sum, the estimates of the last
    ``accumulate_batches`` batches are averaged into ``w_em``, and every sum
    gets the weights ``(1 - eta) * w_old + eta * w_em``, renormalized (a sum
    no batch reached keeps its weights; one that ``m`` of ``k`` batches
    reached averages ``m`` estimates of total 1 with ``k - m`` empty ones, so
    it steps ``(eta m / k) / (1 - eta + eta m / k)`` towards their mean). Under soft EM each batch's estimate
    is the sum's normalized counts; under hard EM and sampling it is the
    counts as shares of the batch, so a sum moves in proportion to how much
    of the batch reached it, and more than ``eta`` of the way when each
    sample reaches it several times (a ``Conv2DSum``'s sums once per cell;
    see the guide on sum ops and
    :class:`~libspn_keras.math.em_roles.EMRole`). ``eta = 1`` with one full-data batch is one batch EM
    step. Leaves built with ``use_accumulators=True`` get the matching update
    of their location (and variance when the scale is trainable), from the
    moments averaged over the same batches (see ``leaf_update``). Other
    trainable variables (e.g. the locations of leaves built without
    ``use_accumulators``) get 0.6.0's rule for them,
    ``(1 - eta) * value - eta * gradient`` (the gradient averaged over the
    same batches), so that 0.6.0 scripts give the same numbers; that is no EM
    step, and the optimizer warns, naming them, when it is built. Counts that
    are not finite (a cross-entropy loss is NaN for a sample that has
    probability 0 under every class; the logged loss shows it) change
    nothing they reach: a sum keeps its weights, a leaf component its
    statistics, so no step writes a non-finite value.

    Args:
        learning_rate: ``eta`` in ``[0, 1]`` (0.6.0's ``lr`` is accepted too; ``0`` leaves the weights and leaf
            parameters as they are, though stored linear accumulators that do not sum to 1 are rescaled to do so),
            or a ``keras.optimizers.schedules.LearningRateSchedule`` giving
            ``eta`` per step (e.g. a decaying step, with which online EM
            settles instead of wandering around a fixed point), or a scalar
            ``tf.Variable`` read at every step (as 0.6.0 read one). A schedule's or variable's
            values are clipped to ``[0, 1]``, the range a number is checked
            against (a larger step overshoots the EM estimate and can make
            counts and leaf variances negative).
        accumulate_batches: Number of batches whose counts are averaged before
            an update (an int; a NumPy int as 0.6.0 users pass works too).
        name: Name of the optimizer (third by position, as in 0.6.0).
        pseudocount: Keyword-only, as are the two below. Added to the count of every child of a sum before it is
            normalized (a Dirichlet prior), so that no child of a reached
            sum gets weight 0; leaves use it as the weight of
            ``prior_variance`` in their variance estimate. Measured in the
            units of the counts: with the usual mean-reduced loss one unit
            is a whole batch, e.g. ``0.01`` with batches of 500 samples adds
            5 samples' worth per child. ``0`` (default) applies no prior.
        prior_variance: Variance of the pseudo-observations that keep leaf
            variances from collapsing (suits standardized data).
        leaf_update: How leaf statistics learn. ``"running_statistics"``
            (default, libspn-keras 0.6.0's rule): each component keeps
            running averages of its responsibility-weighted count, ``x`` and
            ``x^2``, each ``(1 - eta) * old + eta * batch`` (starting from the
            leaf's ``accumulator_initializer`` counts), and its location and
            variance are their ratios, so a component moves by the share of
            its running count that the batch holds (stepwise online EM).
            ``"towards_estimate"``: the location and variance move by
            ``eta`` towards each batch's EM estimate, whatever the counts.
            Both have the EM estimates as fixed points and agree for
            ``eta = 1``.
        decay: Keyword-only. 0.6.0's (Keras 2's) time-based decay: step
            ``t`` (from 0) uses ``eta / (1 + decay * t)``. Keras 3's
            optimizers dropped it; 0.6.0 scripts that pass it get its steps.
            ``0`` (default) keeps ``eta`` as it is.
        **kwargs: Passed to ``keras.optimizers.Optimizer``.
    """

    def __init__(
        self,
        learning_rate=0.01,
        accumulate_batches=1,
        name="online_expectation_maximization",
        *,
        pseudocount=0.0,
        prior_variance=1.0,
        leaf_update="running_statistics",
        decay=0.0,
        **kwargs,
    ):
        learning_rate = as_scalar(kwargs.pop("lr", learning_rate))  # 0.6.0 also took np.array(0.1), tf.constant(0.1)
        if isinstance(learning_rate, (tf.Variable, keras.Variable)):
            learning_rate = VariableLearningRate(learning_rate)  # read at every step, as 0.6.0 read it
        if isinstance(learning_rate, (numbers.Real, str, np.bool_)):
            # eta, the EM step size; NumPy floats become Python floats (Keras takes no others). 0 (nothing moves, as
            # in 0.6.0) is allowed; above 1 the step would overshoot the EM estimate and can make counts negative.
            learning_rate = check_float(
                "OnlineExpectationMaximization", "learning_rate", learning_rate, minimum=0.0, maximum=1.0
            )
        accumulate_batches = positive_int("OnlineExpectationMaximization", "accumulate_batches", accumulate_batches)
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        clipped = [argument for argument in ("clipnorm", "clipvalue", "global_clipnorm") if kwargs.get(argument)]
        if clipped:
            warn(
                f"OnlineExpectationMaximization: {' and '.join(clipped)} would clip the EM counts as if they were "
                f"gradients, so a step no longer moves towards the EM estimate (0.6.0 clipped its normalized counts, "
                f"with other numbers). Leave clipping out for EM."
            )
        self._keep_variable_learning_rate(learning_rate)
        self.accumulate_batches = accumulate_batches
        owner = "OnlineExpectationMaximization"
        self.pseudocount = check_float(owner, "pseudocount", pseudocount, minimum=0.0)
        self.prior_variance = check_float(owner, "prior_variance", prior_variance, minimum=0.0, min_open=True)
        self.decay = check_float(owner, "decay", decay, minimum=0.0)
        self.leaf_update = check_choice(owner, "leaf_update", leaf_update, tuple(LEAF_UPDATES))

    @property
    def learning_rate(self):
        return keras.optimizers.Optimizer.learning_rate.fget(self)

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        # A learning rate given as a variable takes a new value by assignment, as 0.6.0's did (Keras would refuse
        # to set it, as it refuses for a schedule): callbacks such as LearningRateScheduler and ReduceLROnPlateau
        # then lower it, and the caller's variable reads the value they set.
        current = getattr(self, "_variable_learning_rate", lambda: None)()
        if current is not None and not (
            isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule) or callable(learning_rate)
        ):
            current.variable.assign(learning_rate)
            return
        keras.optimizers.Optimizer.learning_rate.fset(self, learning_rate)
        self._keep_variable_learning_rate(learning_rate)

    def _keep_variable_learning_rate(self, learning_rate):
        # A function, not the object itself, so that the optimizer does not track it a second time.
        kept = learning_rate if isinstance(learning_rate, VariableLearningRate) else None
        self._variable_learning_rate = lambda: kept

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._roles = [em_role(variable) for variable in variables]
        # The roles are read again at every update: a sum layer whose sum op is swapped (e.g. from hard to soft
        # EM) retags its accumulators. A function, not a list, so that Keras does not track the model's variables.
        self._current_role = lambda index, variables=tuple(variables): em_role(variables[index])
        # Keras hands update_step the backend variable (one replica's under a distribution strategy): map them all.
        self._variable_index = {
            id(handle): index for index, variable in enumerate(variables) for handle in _backend_handles(variable)
        }
        for role in self._roles:
            check_counting_role(role)
        ignored = [variable.path for variable, role in zip(variables, self._roles) if role is None]
        if ignored:
            warn(
                f"OnlineExpectationMaximization: {len(ignored)} trainable variable(s) receive gradients, not EM "
                f"counts: {', '.join(ignored)}. As in libspn-keras 0.6.0 they are updated by "
                f"(1 - learning_rate) * value - learning_rate * gradient, which is not an EM step. Build leaves "
                f"with use_accumulators=True to learn their locations by EM, or make these variables non-trainable."
            )
        self._counts = []
        if self.accumulate_batches > 1:
            for variable in variables:
                self._counts.append(self.add_variable_from_reference(variable, name="counts"))

    def apply(self, grads, trainable_variables=None):
        if trainable_variables is None and not self.built:
            return super().apply(grads)  # Keras explains what is missing
        roles = [em_role(v) for v in trainable_variables] if trainable_variables is not None else self._roles
        return super().apply(self._transport(list(grads), roles), trainable_variables)

    def _transport(self, grads, roles):
        """The gradients as Keras should sum them over replicas: leaf counts summed here, exactly, and centred.

        Keras sums all gradients in one all-reduce, which needs one dtype; the
        float64 leaf counts are summed here in float64 instead, then handed on
        centred (see :func:`~libspn_keras.math.em_roles.centre_leaf_counts`)
        by the first replica only, so that Keras' sum, in float32 where the
        other gradients are, leaves them as they are.
        """
        leaves = [i for i, (grad, role) in enumerate(zip(grads, roles)) if grad is not None and _is_leaf(role)]
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1
        if replicas > 1 and leaves:
            totals = context.all_reduce(tf.distribute.ReduceOp.SUM, [grads[i] for i in leaves])
            first = tf.equal(context.replica_id_in_sync_group, 0)
            for i, total in zip(leaves, totals):
                grads[i] = tf.where(first, centre_leaf_counts(total), tf.zeros_like(total))
        else:
            for i in leaves:
                grads[i] = centre_leaf_counts(grads[i])
        dtypes = {grad.dtype for grad in grads if grad is not None}
        if replicas > 1 and len(dtypes) > 1:
            grads = [grad if grad is None else tf.cast(grad, tf.float32) for grad in grads]
        return grads

    def update_step(self, gradient, variable, learning_rate):
        index = self._variable_index.get(id(variable))
        if index is None:
            raise ValueError(
                f"OnlineExpectationMaximization: variable '{variable.name}' was not among the variables the "
                f"optimizer was built for."
            )
        role = self._current_role(index)
        check_counting_role(role)
        # A schedule is not checked at construction as a number is: keep its values in [0, 1] (see learning_rate).
        learning_rate = tf.clip_by_value(tf.cast(learning_rate, variable.dtype), 0.0, 1.0)
        if self.decay:
            learning_rate = learning_rate / (1.0 + self.decay * tf.cast(self.iterations, variable.dtype))
        counts = -tf.cast(gradient, variable.dtype)
        value = tf.convert_to_tensor(variable)
        estimate_total = None  # of a sum estimate: known from one batch's counts, summed from averaged ones
        if role is None:
            pass  # 0.6.0's rule below, on the (averaged) negative gradient itself
        elif role.kind == SUM_ACCUMULATORS:
            counts, estimate_total = sum_estimate(counts, self.pseudocount, role.per_sum, with_total=True)
        else:
            counts = uncentre_leaf_counts(counts)
        if self.accumulate_batches > 1:
            slot = self._counts[index]
            total = counts + slot
            apply_now = tf.equal((self.iterations + 1) % self.accumulate_batches, 0)
            slot.assign(tf.where(apply_now, tf.zeros_like(total), total))
            counts = total / self.accumulate_batches
            estimate_total = None
        if role is None:
            # What libspn-keras 0.6.0 did to every variable, so that its scripts give the same numbers; for a
            # variable that receives a gradient rather than EM counts this is no EM step (see the warning in build).
            updated = (1.0 - learning_rate) * value + learning_rate * counts
        elif role.kind == SUM_ACCUMULATORS:
            updated = online_em_sum_update(value, counts, learning_rate, estimate_total)
        else:
            updated = LEAF_UPDATES[self.leaf_update](
                value,
                counts,
                learning_rate,
                role.update_location,
                role.update_variance,
                self.pseudocount,
                self.prior_variance,
            )
        if role is None or role.kind != SUM_ACCUMULATORS:
            # Counts that are not finite (a cross-entropy loss on a sample that has probability 0 under every
            # class is NaN) leave the values they reach as they were: no step writes a non-finite value. Leaf
            # statistics are kept per component, so that their moments stay consistent. (Sums keep their weights
            # through sum_estimate, which takes a sum whose total is not finite as not reached.)
            finite = tf.math.is_finite(updated)
            if role is not None:
                finite = tf.reduce_all(finite, axis=-1, keepdims=True)
            updated = tf.where(finite, updated, value)
        if self.accumulate_batches > 1:
            updated = tf.where(apply_now, updated, value)
        variable.assign(updated)

    def get_config(self):
        config = super().get_config()
        config.update(
            accumulate_batches=self.accumulate_batches,
            pseudocount=self.pseudocount,
            prior_variance=self.prior_variance,
            leaf_update=self.leaf_update,
            decay=self.decay,
        )
        return config
