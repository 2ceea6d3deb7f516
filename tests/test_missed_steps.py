"""Train / test steps check the weights inside the checked function and rerun a missed batch with the exact one."""

import math

import numpy as np
import pytest
import tensorflow as tf
from reference import all_binary
from tensorflow import keras
from test_checked_weights import joint_table_spn, reference_log_likelihoods

from libspn_keras import layers, models
from libspn_keras.models import fast_path

TINY = [0.0, 0.0, 0.0, -200.0]  # log weights: e^-200 is below 2^-100, which only the exact path gets right


def joint_table(jit_compile):
    model = joint_table_spn([0.0, 0.0, 0.0, 0.0])  # log-space weights, trained by gradient
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), jit_compile=jit_compile)
    return model


def assign_tiny(model):
    accumulators = model.layers[-1].accumulators
    accumulators.assign(np.reshape(TINY, accumulators.shape).astype(np.float32))


def mean_reference_log_likelihood(log_weights):
    return float(np.mean(reference_log_likelihoods(np.ravel(log_weights))))


class AssignTinyAfterFirstBatch(tf.keras.callbacks.Callback):
    """Writes a weight below the fast kernel's range after the first call of the train function; keeps the losses."""

    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))
        if len(self.losses) == 1:
            assign_tiny(self.model)


@pytest.mark.parametrize("jit_compile", [True, False])
def test_a_weight_assigned_below_the_range_between_two_steps_gets_an_exact_step(jit_compile):
    model = joint_table(jit_compile)
    batches = 4
    data = np.tile(all_binary(2), (batches, 1))  # every batch holds each of the 4 outcomes once
    callback = AssignTinyAfterFirstBatch()
    model.fit(data, epochs=1, batch_size=4, shuffle=False, verbose=0, callbacks=[callback])
    # Each batch was used once: as many steps as batches, none lost to a second read of the iterator.
    assert len(callback.losses) == batches and int(model.optimizer.iterations) == batches
    # The second step's forward pass ran on the tiny weight exactly (the fast kernel floors it near log 2^-100):
    # the running mean of the loss over the first two steps is the brute-force value.
    second = -(math.log(0.25) + mean_reference_log_likelihood(TINY)) / 2
    assert callback.losses[1] == pytest.approx(second, rel=1e-5)
    log_weights = model.layers[-1].accumulators.numpy().ravel()
    assert np.all(np.isfinite(log_weights)) and np.min(log_weights) < -150.0
    predicted = np.sort(model.predict(all_binary(2), verbose=0).ravel())
    np.testing.assert_allclose(predicted, reference_log_likelihoods(log_weights), rtol=1e-5, atol=2e-6)


# Graph mode: test_a_weight_assigned_below_the_range_between_two_steps_gets_an_exact_step[False] (the exact path
# in a graph-mode step); False here runs with the slow extras.
@pytest.mark.parametrize("jit_compile", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_evaluate_after_weights_were_set_below_the_range_between_two_fits_is_exact(jit_compile):
    model = joint_table(jit_compile)
    data = np.tile(all_binary(2), (3, 1))
    model.fit(data, epochs=1, batch_size=4, verbose=0)
    assign_tiny(model)
    loss = model.evaluate(all_binary(2), batch_size=4, verbose=0)
    assert loss == pytest.approx(-mean_reference_log_likelihood(TINY), rel=1e-5)
    model.fit(data, epochs=1, batch_size=4, verbose=0)
    assert int(model.optimizer.iterations) == 6
    weights = model.layers[-1].accumulators.numpy().ravel()
    loss = model.evaluate(all_binary(2), batch_size=4, verbose=0)
    assert loss == pytest.approx(-mean_reference_log_likelihood(weights), rel=1e-5)


def test_a_missed_step_reads_its_batch_once_and_the_exact_function_reruns_it():
    model = joint_table(True)
    model.make_train_function()
    assign_tiny(model)
    iterator = iter(tf.data.Dataset.from_tensor_slices(np.tile(all_binary(2), (4, 1))).batch(4))
    logs = model.train_function(iterator)
    assert float(logs["loss"]) == pytest.approx(-mean_reference_log_likelihood(TINY), rel=1e-5)
    assert int(model.optimizer.iterations) == 1
    # Weights back in range: the next step runs once (on the checked variant), not again with the exact one.
    accumulators = model.layers[-1].accumulators
    accumulators.assign(np.zeros(accumulators.shape, np.float32))
    logs = model.train_function(iterator)
    running_mean = -(mean_reference_log_likelihood(TINY) + math.log(0.25)) / 2  # the logs are running means
    assert float(logs["loss"]) == pytest.approx(running_mean, rel=1e-5)
    assert int(model.optimizer.iterations) == 2
    assert sum(1 for _ in iterator) == 2  # the two batches left: each step took one
    with pytest.raises(tf.errors.OutOfRangeError):  # as Keras's own function: fit ends the epoch there
        model.train_function(iterator)


def test_steps_check_the_weights_inside_the_compiled_function_not_before_each_call(monkeypatch):
    calls = []
    made = fast_path.fast_kernel_check

    def counting_check(model):
        accumulators, check = made(model)
        return accumulators, lambda: calls.append(tf.executing_eagerly()) or check()

    monkeypatch.setattr(fast_path, "fast_kernel_check", counting_check)
    # Graph mode: the steps are traced and called alike under XLA; XLA-compiled steps check the weights inside the
    # function in test_a_missed_step_reads_its_batch_once_and_the_exact_function_reruns_it and
    # test_a_weight_assigned_below_the_range_between_two_steps_gets_an_exact_step[True].
    model = joint_table(False)
    data = np.tile(all_binary(2), (6, 1))
    model.fit(data, epochs=2, batch_size=4, verbose=0)
    model.evaluate(data, batch_size=4, verbose=0)
    assert calls and not any(calls)  # called only while tracing the steps, never eagerly per step


def test_several_steps_per_call_choose_the_exact_step_inside_the_function():
    model = joint_table_spn([0.0, 0.0, 0.0, 0.0])
    # A learning rate of 0 keeps the weights: every step's loss has a brute-force value.
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), jit_compile=True, steps_per_execution=2)
    callback = AssignTinyAfterFirstBatch()  # called after each call of 2 steps
    model.fit(np.tile(all_binary(2), (6, 1)), epochs=1, batch_size=4, shuffle=False, verbose=0, callbacks=[callback])
    assert int(model.optimizer.iterations) == 6 and len(callback.losses) == 3
    assert callback.losses[0] == pytest.approx(-math.log(0.25), rel=1e-5)
    # Steps 3 and 4 ran on the tiny weight exactly (running means of the loss over the epoch).
    expected = -(2 * math.log(0.25) + 2 * mean_reference_log_likelihood(TINY)) / 4
    assert callback.losses[1] == pytest.approx(expected, rel=1e-5)


def test_a_refused_batch_after_missed_steps_is_counted_once():
    # A refused batch skips the step without writing the missed-step flag: after steps whose weights left the fast
    # range (SGD at 1e3), the flag told of the step before, the batch ran again on the exact path and was counted twice.
    keras.utils.set_random_seed(8)
    model = models.build_rat_spn(
        num_vars=4,
        depth=1,
        num_decomps=1,
        num_input_distributions=2,
        num_sums=2,
        leaf=layers.LaplaceLeaf(num_components=3),
        sum_op="grad",
    )
    model.compile(optimizer=keras.optimizers.SGD(1e3), jit_compile=False)
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    x[3, 3] = np.inf
    with pytest.raises(ValueError, match="'[^']*': 1 training batch\\(es\\) held input values its leaves refuse"):
        model.fit(x, batch_size=1, verbose=0, shuffle=False)
    assert int(model.optimizer.iterations.numpy()) == 3
