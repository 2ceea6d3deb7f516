"""Accumulators set after creation that give a sum no weights are refused by name; nothing is written."""

import numpy as np
import pytest
from reference import all_binary, np_logsumexp
from tensorflow import keras
from test_checked_weights import joint_table_spn as checked_weights_spn

from libspn_keras import optimizers


def joint_table_spn(sum_op, logspace, steps_per_execution=1, jit_compile="auto"):
    """The joint-table SPN of ``test_checked_weights`` with flat weights, compiled with an optimizer its op takes."""
    model = checked_weights_spn([0.0, 0.0, 0.0, 0.0], sum_op, logspace)
    optimizer = keras.optimizers.Adam(0.01) if sum_op == "grad" else optimizers.OnlineExpectationMaximization(0.5)
    model.compile(optimizer=optimizer, steps_per_execution=steps_per_execution, jit_compile=jit_compile)
    return model


# Per sum op and accumulator space, the accumulator values that give the root no weights and the problem named.
CASES = {
    ("em", False): [
        ([0.0, 0.0, 0.0, 0.0], "every child of some sum is 0"),
        ([1.0, -0.5, 1.0, 1.0], "some are negative"),
        ([1.0, np.nan, 1.0, 1.0], "some are NaN or infinite"),
    ],
    ("hard_em", False): [([1e-39, 1e-40, 0.0, 0.0], "every child of some sum is 0")],
    ("grad", False): [([1.0, np.inf, 1.0, 1.0], "some are NaN or infinite")],
    ("grad", True): [
        ([-np.inf] * 4, r"every child of some sum is -inf"),
        ([0.0, np.inf, 0.0, 0.0], r"some are NaN or \+inf"),
    ],
}


# One model per sum op and space meets each of its values in turn (the first refused call traces and compiles its
# steps; the next values reuse them), instead of a model compiled per value. Each runs in the core with one number
# of steps per call (both numbers appear, each with linear and log-space accumulators); the other number runs with
# the slow extras.
CORE_STEPS_PER_EXECUTION = {("em", False): 1, ("hard_em", False): 2, ("grad", False): 1, ("grad", True): 2}
CASES_BY_STEPS = [
    pytest.param(
        sum_op,
        logspace,
        steps,
        id=f"{sum_op}-{logspace}-{steps}",
        marks=() if steps == CORE_STEPS_PER_EXECUTION[sum_op, logspace] else pytest.mark.slow,
    )
    for sum_op, logspace in CASES
    for steps in (1, 2)
]


@pytest.mark.parametrize("sum_op, logspace, steps_per_execution", CASES_BY_STEPS)
def test_predict_fit_and_queries_refuse_accumulators_without_weights_and_change_nothing(
    sum_op, logspace, steps_per_execution
):
    model = joint_table_spn(sum_op, logspace, steps_per_execution)
    root = model.layers[-1]
    x = all_binary(2)
    for values, problem in CASES[sum_op, logspace]:
        invalid = np.reshape(np.asarray(values, np.float32), root.accumulators.shape)
        root.set_weights([invalid])
        before = [variable.numpy().copy() for variable in model.variables]
        message = rf"RootSum '{root.name}' give no weights: {problem}.*set_weights"
        with pytest.raises(ValueError, match=message):
            model.predict(x, verbose=0)
        with pytest.raises(ValueError, match=message):
            model.fit(x, epochs=1, batch_size=4, verbose=0)
        with pytest.raises(ValueError, match=message):
            model.log_likelihood(x)
        with pytest.raises(ValueError, match=message):
            model.evaluate(x, verbose=0)
        for variable, value in zip(model.variables, before):
            np.testing.assert_array_equal(variable.numpy(), value, err_msg=variable.path)

    # Valid weights again: the model trains and stays normalized.
    table = np.array([0.1, 0.2, 0.3, 0.4])
    root.set_weights([np.reshape(np.log(table) if logspace else table, root.accumulators.shape).astype(np.float32)])
    model.fit(x, epochs=1, batch_size=4, verbose=0)
    log_probabilities = model.predict(x, verbose=0).ravel()
    assert np.all(np.isfinite(log_probabilities))
    assert np_logsumexp(log_probabilities) == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("call", ["fit", "evaluate"])
def test_a_first_step_is_refused_before_it_is_traced_and_compiled(call):
    """Its compilation would take seconds (minutes for a large model under XLA) only to refuse the call."""
    model = joint_table_spn("em", False)
    root = model.layers[-1]
    traced = []
    for name in ("train_step", "test_step"):
        step = getattr(model, name)
        setattr(model, name, lambda data, step=step: traced.append(1) or step(data))
    x = all_binary(2)
    root.set_weights([np.zeros(root.accumulators.shape, np.float32)])
    with pytest.raises(ValueError, match=rf"RootSum '{root.name}' give no weights: every child of some sum is 0"):
        getattr(model, call)(x, batch_size=4, verbose=0)
    assert traced == []
    # Valid weights: the next call traces its step and runs; the joint table is normalized.
    root.set_weights([np.full(root.accumulators.shape, 0.25, np.float32)])
    getattr(model, call)(x, batch_size=4, verbose=0)
    assert traced
    assert np_logsumexp(model.predict(x, verbose=0).ravel()) == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("logspace", [False, True])
def test_weights_of_zero_on_some_children_stay_exact_and_train(logspace):
    # Linear EM accumulators in graph mode: weights below the fast kernel's range (0 among them) take the exact path
    # under XLA (the default) in the core in test_checked_weights.py's
    # test_training_with_em_stays_exact_after_a_weight_leaves_the_fast_range (predict, EM steps), and log-space
    # weights of 0 (-inf) here with logspace=True.
    model = joint_table_spn("em" if not logspace else "grad", logspace, jit_compile="auto" if logspace else False)
    root = model.layers[-1]
    table = np.array([0.25, 0.0, 0.75, 0.0])
    with np.errstate(divide="ignore"):
        root.set_weights([np.reshape(np.log(table) if logspace else table, root.accumulators.shape).astype(np.float32)])
    log_probabilities = model.predict(all_binary(2), verbose=0).ravel()
    got = np.sort(np.exp(log_probabilities))
    np.testing.assert_allclose(got, np.sort(table), atol=1e-7)
    # Training goes on: gradient steps keep a log-space -inf (no overflow), EM lifts a linear 0 to the floor of the
    # default constraint.
    x = np.array([[0, 0], [1, 0]] * 4, np.int32)
    # Row i of all_binary(2) is (i & 1, i >> 1): the probabilities of x's rows are read off the prediction above, not
    # predicted again in a batch of another size (another trace of the predict step).
    x = x[np.exp(log_probabilities[x[:, 0] + 2 * x[:, 1]]) > 0]
    model.fit(x, batch_size=4, verbose=0)
    after = np.exp(model.predict(all_binary(2), verbose=0).ravel())
    assert np.count_nonzero(after < 1e-9) == 2 and np.sum(after) == pytest.approx(1.0, abs=1e-6)
    if logspace:
        assert np.count_nonzero(root.accumulators.numpy() == -np.inf) == 2


def test_a_model_under_a_distribution_strategy_refuses_them_too():
    import tensorflow as tf

    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        model = joint_table_spn("em", False)
        root = model.layers[-1]
        root.set_weights([np.zeros(root.accumulators.shape, np.float32)])
        with pytest.raises(ValueError, match=f"RootSum '{root.name}' give no weights"):
            model.fit(all_binary(2), batch_size=4, verbose=0)
    np.testing.assert_array_equal(root.accumulators.numpy(), 0.0)
