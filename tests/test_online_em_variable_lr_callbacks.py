"""Learning-rate callbacks (LearningRateScheduler, ReduceLROnPlateau) on an online-EM learning rate held in a
variable. References: libspn-keras 0.6.0's behaviour (its callbacks assign the variable) and the same model trained
with the scheduled rate given as a number.
"""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from libspn_keras import models, optimizers


def rat_spn(**kwargs):
    keras.utils.set_random_seed(0)
    return models.build_rat_spn(4, depth=1, num_decomps=2, num_input_distributions=2, num_sums=2, **kwargs)


def binary_data(size=64, seed=1):
    return (np.random.default_rng(seed).random((size, 4)) < 0.4).astype("int32")


def test_learning_rate_scheduler_assigns_a_variable_learning_rate_of_online_em():
    x = binary_data()
    expected = rat_spn(sum_op="em", logspace_accumulators=False)
    # The reference trains in graph mode (one XLA compile fewer; its weights match an XLA-trained one's to rounding,
    # well inside atol=1e-6).
    expected.compile(optimizers.OnlineExpectationMaximization(0.05), jit_compile=False)
    expected.fit(x, epochs=2, batch_size=16, shuffle=False, verbose=0)
    model = rat_spn(sum_op="em", logspace_accumulators=False)
    variable = tf.Variable(0.2)
    model.compile(optimizers.OnlineExpectationMaximization(variable))
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch, rate: 0.05)
    model.fit(x, epochs=2, batch_size=16, shuffle=False, verbose=0, callbacks=[schedule])
    assert float(variable.numpy()) == pytest.approx(0.05)
    for got, want in zip(model.get_weights(), expected.get_weights()):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_reduce_lr_on_plateau_lowers_a_variable_learning_rate_of_online_em(tmp_path):
    model = rat_spn(sum_op="em", logspace_accumulators=False)
    variable = tf.Variable(0.2)
    model.compile(optimizers.OnlineExpectationMaximization(variable))
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=100.0)
    model.fit(binary_data(), epochs=2, batch_size=16, verbose=0, callbacks=[plateau])
    assert float(variable.numpy()) == pytest.approx(0.1)  # halved after the second epoch (no better), as in 0.6.0
    model.save(tmp_path / "model.keras")
    assert float(keras.models.load_model(tmp_path / "model.keras").optimizer.learning_rate) == pytest.approx(0.1)


def test_a_number_learning_rate_of_online_em_is_still_settable():
    optimizer = optimizers.OnlineExpectationMaximization(0.2)
    optimizer.learning_rate = 0.1
    assert float(optimizer.learning_rate) == pytest.approx(0.1)
