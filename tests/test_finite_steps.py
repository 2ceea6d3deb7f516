"""A training step that would leave inf or NaN in a weight or in the optimizer's state is undone, and fit says so."""

import warnings

import numpy as np
import pytest
from tensorflow import keras

from libspn_keras import layers, models, optimizers


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


@pytest.mark.parametrize("jit_compile", [True, False])
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
    # left the weights where the gradients are ~1e20, whose squares overflow in float32).
    assert np.isfinite(model.log_likelihood(X)).all()
    model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=1.0), jit_compile=jit_compile)
    model.fit(X, batch_size=8, epochs=2, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 2 and all_finite(model)


def test_undone_steps_are_counted_once_under_skip():
    model = normal_rat_spn()
    model.compile(optimizer=keras.optimizers.Adam(1e10), invalid_batches="skip")
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
