"""Training steps that never leave a non-finite value in a variable: a step that would is undone.

A gradient optimizer can overflow on finite gradients (Adam squares them:
a gradient of 1e20 makes its second moment ``inf``, and the next step's
update ``nan``), and a learning rate far too large can push a weight to
``inf``. The step of an SPN model trained by such an optimizer keeps the
values of its trainable variables and of the optimizer's state from before
the update, and puts them back where any floating value came out
non-finite (or where a linear sum accumulator went negative), counting the
step; ``fit`` then raises (or warns, under
``invalid_batches="skip"``) with the number of undone steps, and the model
stays as it was before them. EM updates mix finite counts into finite
accumulators, and the optimizer keeps every value whose counts are not
finite (a cross-entropy loss on a sample of probability 0 under every class
is NaN) as it was, so models trained by
:class:`~libspn_keras.optimizers.OnlineExpectationMaximization` skip the
check (it would cost a pass over the largest models' accumulators).
Accumulators set to values that give a sum no weights (all 0, say) are
refused before the step
(:func:`~libspn_keras.models.fast_path.refuse_undefined_weights`).
"""

import tensorflow as tf

from libspn_keras.layers.base_sum import linear_floor
from libspn_keras.models.fast_path import sum_layers_within
from libspn_keras.optimizers.online_expectation_maximization import OnlineExpectationMaximization


def checks_finite_steps(model):
    """Whether ``model``'s training steps check their updates (any optimizer but online EM)."""
    optimizer = getattr(model, "optimizer", None)
    return optimizer is not None and not isinstance(optimizer, OnlineExpectationMaximization)


def finite_or_undone(model, step, data, counter, stop=None):
    """``step(data)``; where it leaves a non-finite value in a variable or in the optimizer's state, the values from
    before it are put back and ``counter`` counts the step. Returns the step's logs either way.

    ``stop`` (a boolean variable, or ``None``) is set after an undone step, so that the rest of a call of several
    steps is skipped where ``fit`` raises after the call (the model then stays as it was before the undone step).
    """
    variables = _step_variables(model)
    if counter is None or not any(tf.as_dtype(variable.dtype).is_floating for variable in variables):
        return step(data)
    # The metrics are put back too, so that an undone step's loss stays out of them (as a refused batch's does).
    kept = _unique(variables + _metric_variables(model))
    before = [tf.convert_to_tensor(variable) for variable in kept]
    with tf.control_dependencies(before):  # read before the update writes (tf.function orders them so too)
        logs = step(data)
    # Read after the update: tf.function orders reads after the writes before them.
    zero_weights = {id(accumulators) for accumulators in _logspace_accumulators(model)}
    checks = [
        _holds_values(variable, allow_minus_inf=id(variable) in zero_weights)
        for variable in variables
        if tf.as_dtype(variable.dtype).is_floating
    ]
    checks += [_are_counts(accumulators) for accumulators in _linear_accumulators(model)]
    finite = tf.reduce_all(tf.stack(checks))

    def undo():
        for variable, value in zip(kept, before):
            variable.assign(value)
        counter.assign_add(1)
        if stop is not None:
            stop.assign(True)
        return model.get_metrics_result()

    return tf.cond(finite, lambda: logs, undo)


def _holds_values(variable, allow_minus_inf=False):
    """Whether ``variable`` holds no NaN and no infinity (a scalar bool tensor); with ``allow_minus_inf``, ``-inf``
    is taken: a log-space sum accumulator of ``-inf`` is a weight of 0, which a gradient step keeps."""
    values = tf.convert_to_tensor(variable)
    if not allow_minus_inf:
        return tf.reduce_all(tf.math.is_finite(values))
    return tf.reduce_all(tf.logical_and(tf.logical_not(tf.math.is_nan(values)), values < float("inf")))


def _logspace_accumulators(model):
    """The log-space accumulators of ``model``'s sum layers."""
    return [layer.accumulators for layer in sum_layers_within(model) if layer.logspace_accumulators]


def _linear_accumulators(model):
    """The linear-space accumulators of ``model``'s sum layers that a gradient optimizer trains and whose constraint
    sets no positive floor (one that does, e.g. the default ``GreaterEqualEpsilon``, keeps them counts)."""
    return [
        layer.accumulators
        for layer in sum_layers_within(model)
        if not layer.logspace_accumulators and layer.accumulators.trainable and not _has_positive_floor(layer)
    ]


def _has_positive_floor(layer):
    floor = linear_floor(layer.linear_accumulator_constraint)
    return floor is not None and floor > 0


def _are_counts(accumulators):
    """Whether linear accumulators ``[*lead, children, sums]`` still give weights: none negative, no sum's total 0.

    A gradient step may take them below 0 where their constraint lets it (``UNCONSTRAINED``); the weights, their
    ratios to the totals, would then be no probabilities, and the likelihoods NaN.
    """
    accumulators = tf.convert_to_tensor(accumulators)
    return tf.logical_and(tf.reduce_all(accumulators >= 0), tf.reduce_all(tf.reduce_sum(accumulators, axis=-2) > 0))


def _step_variables(model):
    """The variables a training step may write: trainable weights and the optimizer's state (iterations included,
    so that an undone step does not count), without duplicates."""
    return _unique(list(model.trainable_variables) + list(getattr(model.optimizer, "variables", [])))


def _unique(variables):
    """``variables`` in their order, each once."""
    return list({id(variable): variable for variable in variables}.values())


def _metric_variables(model):
    """The variables of the model's metrics (the loss tracker's included)."""
    return [variable for metric in model.metrics for variable in metric.variables]


def nonfinite_steps_message(model, count):
    """What ``fit`` says after ``count`` training steps were undone for non-finite values."""
    return (
        f"{type(model).__name__} '{model.name}': {count} training step(s) would have left non-finite values (inf or "
        f"NaN) in its weights or in the state of its optimizer {type(model.optimizer).__name__}, or negative linear "
        f"sum accumulators (whose weights are then no probabilities); they were undone, so the model is as it was "
        f"before them. Lower the learning rate, or clip the gradients (e.g. keras.optimizers.Adam(clipnorm=1.0)); "
        f"linear accumulators trained by gradients also need a floor (the default GreaterEqualEpsilon) or log space."
    )
