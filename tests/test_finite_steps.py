"""A training step that would leave inf or NaN in a weight or in the optimizer's state is undone, and fit says so."""

import warnings

import numpy as np
import pytest
from reference import restore_state, saved_state
from tensorflow import keras

from libspn_keras import constraints, layers, models, optimizers


def normal_rat_spn():
    keras.utils.set_random_seed(0)
    leaf = layers.NormalLeaf(num_components=2, scale_trainable=True)
    return models.build_rat_spn(
        num_vars=4, depth=1, num_decomps=2, num_input_distributions=2, num_sums=2, leaf=leaf, sum_op="grad"
    )


X = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")


def state(model):
    return [v.numpy().copy() for v in model.variables] + [v.numpy().copy() for v in model.optimizer.variables]


def all_finite(model):
    return all(np.isfinite(v).all() for v in state(model) if np.issubdtype(v.dtype, np.floating))


# Graph mode in the core: an undone Adam step under XLA (the default) raises the same message (with its clipnorm
# hint), leaves the model as it was and trains on in test_steps_after_an_undone_one_in_the_same_call_do_not_train[True];
# XLA here runs with the slow extras (its first two steps took about 18 s of a CI worker).
@pytest.mark.parametrize("jit_compile", [pytest.param(True, marks=pytest.mark.slow), False])
def test_overflowing_adam_step_is_undone_and_fit_raises(jit_compile):
    # Adam at 1e10 squares gradients of ~1e20 into an infinite second moment, and the next update is NaN.
    model = normal_rat_spn()
    model.compile(optimizer=keras.optimizers.Adam(1e10), jit_compile=jit_compile)
    for _ in range(6):
        before = state(model)
        try:
            model.fit(X, batch_size=8, epochs=1, verbose=0)
        except ValueError as error:
            assert "non-finite values" in str(error) and "undone" in str(error) and "clipnorm" in str(error)
            break
    else:
        pytest.fail("no step of Adam(1e10) was undone")
    for got, expected in zip(state(model), before):
        np.testing.assert_array_equal(got, expected)
    assert all_finite(model)
    # The model stays usable: finite likelihoods, and training goes on with clipped gradients (the first step
    # left the weights where the gradients are ~1e20, whose squares overflow in float32). The new step is compiled
    # in graph mode: it reads the same restored variables, and an XLA compile of it took about 10 s of this test
    # (XLA training after an undone step: test_steps_after_an_undone_one_in_the_same_call_do_not_train[True]).
    model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=1.0), jit_compile=False)
    # The log-likelihoods of the weights put back by the undone step (left as they are by the compile), from an eager
    # call: a log_likelihood query traced its own function in graph mode here (2.5-5 s of this test, measured).
    assert np.isfinite(model(X, training=False).numpy()).all()
    model.fit(X, batch_size=8, epochs=2, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 2 and all_finite(model)


def test_undone_steps_are_counted_once_under_skip():
    model = normal_rat_spn()
    # Graph mode: under XLA (the default) an undone step is skipped under "skip" in
    # test_an_undone_step_stays_out_of_the_metrics, and counted ("1 training step") in
    # test_steps_after_an_undone_one_in_the_same_call_do_not_train[True].
    model.compile(optimizer=keras.optimizers.Adam(1e10), invalid_batches="skip", jit_compile=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(np.concatenate([X] * 6), batch_size=8, epochs=1, verbose=0, shuffle=False)
    messages = [str(w.message) for w in caught if "non-finite values" in str(w.message)]
    assert len(messages) == 1, messages
    undone = int(messages[0].split(": ")[1].split(" ")[0])
    assert undone >= 1
    # Undone steps do not count as optimizer iterations.
    assert int(model.optimizer.iterations.numpy()) == 6 - undone
    assert all_finite(model)


def test_em_models_skip_the_check():
    # EM updates mix finite counts into finite accumulators; the check would cost a pass over every accumulator.
    keras.utils.set_random_seed(0)
    model = models.build_rat_spn(num_vars=4, depth=1, num_decomps=2, num_input_distributions=2, num_sums=2, sum_op="em")
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(0.05))
    model.fit((X > 0).astype("int32"), batch_size=8, epochs=1, verbose=0)
    assert getattr(model, "_spn_nonfinite_steps", None) is None


@pytest.mark.parametrize("jit_compile", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_steps_after_an_undone_one_in_the_same_call_do_not_train(jit_compile):
    # With steps_per_execution=3, fit raises after the call: as with one step per call, the model must stay as it
    # was before the undone step (a batch with a finite value of 1e19 makes Adam's second moment infinite).
    data = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    bad = data.copy()
    bad[1, 0] = 1e19
    model = normal_rat_spn()
    model.compile(optimizer=keras.optimizers.Adam(0.01), steps_per_execution=3, jit_compile=jit_compile)
    # The reference is this model after one step on data[:1] from its first state, which is then put back: the same
    # compiled step as the fit below, not a second model's.
    initial = saved_state(model)
    model.fit(data[:1], batch_size=1, verbose=0)
    reference = state(model)
    restore_state(initial)
    with pytest.raises(ValueError, match="1 training step") as refused:
        model.fit(bad, batch_size=1, shuffle=False, verbose=0)
    assert "non-finite values" in str(refused.value) and "undone" in str(refused.value)
    assert "clipnorm" in str(refused.value)
    assert int(model.optimizer.iterations.numpy()) == 1
    for value, expected in zip(state(model), reference):
        np.testing.assert_array_equal(value, expected)
    # The flag is cleared: the next fit trains every step.
    model.fit(data[2:5], batch_size=1, shuffle=False, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 4


def test_an_undone_step_stays_out_of_the_metrics():
    # As a refused batch's: the epoch's loss is that of the kept steps (the undone one's was ~1e37).
    data = np.random.default_rng(0).normal(size=(4, 4)).astype("float32")
    bad = data.copy()
    bad[1, 0] = 1e19
    model = normal_rat_spn()
    model.compile(optimizer=keras.optimizers.Adam(0.01), invalid_batches="skip")
    # The reference is this model's loss on the kept rows from its first state, which is then put back (the undone
    # step's loss was ~1e37): the same compiled step, not a second model's.
    initial = saved_state(model)
    kept = np.delete(data, 1, axis=0)
    expected = model.fit(kept, batch_size=1, shuffle=False, verbose=0).history["loss"][0]
    restore_state(initial)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = model.fit(bad, batch_size=1, shuffle=False, verbose=0).history["loss"][0]
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


@pytest.mark.parametrize("use_accumulators", [True, False])
def test_em_counts_of_a_nan_loss_change_nothing(use_accumulators):
    # 1e20 is a valid input whose density underflows to 0 under every class: the cross-entropy of that sample is NaN,
    # and so were the counts; the leaf statistics (or the location) became NaN and the model gave -inf everywhere.
    keras.utils.set_random_seed(0)
    leaf = layers.NormalLeaf(num_components=2, use_accumulators=use_accumulators)
    sizes = {"depth": 1, "num_decomps": 1, "num_input_distributions": 2, "num_sums": 2}
    model = models.build_rat_spn(num_vars=2, leaf=leaf, num_classes=2, sum_op="em", **sizes)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the location of a leaf without accumulators gets 0.6.0's rule
        model.compile(optimizer=optimizers.OnlineExpectationMaximization(0.3), loss=loss)
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(6, 2)).astype("float32"), rng.integers(0, 2, 6)
        model.fit(x, y, batch_size=6, verbose=0)
        before = [w.numpy().copy() for w in model.weights]
        bad = x.copy()
        bad[1, 0] = 1e20
        history = model.fit(bad, y, batch_size=6, verbose=0)
        assert not np.isfinite(history.history["loss"][0])  # the logged loss shows it
        assert all(np.isfinite(w.numpy()).all() for w in model.weights)
        if use_accumulators:  # (0.6.0's rule for a location shrinks it by 1 - lr where its gradient is finite)
            for w, kept in zip(model.weights, before):
                # Every count of the batch was NaN: nothing moved (the sums' weights are renormalized, to rounding).
                np.testing.assert_allclose(w.numpy(), kept, rtol=1e-6)
        model.fit(x, y, batch_size=6, verbose=0)
    assert all(np.isfinite(w.numpy()).all() for w in model.weights)
    assert any(not np.allclose(w.numpy(), kept, rtol=1e-3) for w, kept in zip(model.weights, before))
    assert np.isfinite(model.log_likelihood(x)).all()


def test_a_step_that_takes_unconstrained_linear_accumulators_below_zero_is_undone():
    # Without a floor, Adam wrote finite but negative linear accumulators: the weights, ratios to their totals, were
    # no probabilities, and every likelihood NaN after the step.
    states = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], "int32")
    data = (np.random.default_rng(0).random((64, 2)) < [0.05, 0.95]).astype("int32")
    keras.utils.set_random_seed(0)
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((2,), dtype="int32"),
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(
                num_sums=2,
                sum_op="grad",
                logspace_accumulators=False,
                accumulator_initializer="ones",
                linear_accumulator_constraint=constraints.UNCONSTRAINED,
            ),
            layers.ReduceProduct(num_factors=2),
            layers.RootSum(return_weighted_child_logits=False, sum_op="grad"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.5))
    for step in range(40):
        before = state(model)
        try:
            model.fit(data[step % 4 * 16 :][:16], batch_size=16, epochs=1, verbose=0)  # one step per call
        except ValueError as error:
            assert "negative linear sum accumulators" in str(error) and "undone" in str(error)
            break
    else:
        pytest.fail("no step took the accumulators below 0")
    for got, expected in zip(state(model), before):
        np.testing.assert_array_equal(got, expected)
    accumulators = model.layers[2].accumulators.numpy()
    assert (accumulators >= 0).all()
    np.testing.assert_allclose(np.exp(model.predict(states, verbose=0).astype(np.float64)).sum(), 1.0, atol=1e-5)
