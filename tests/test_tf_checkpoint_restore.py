"""tf.train.Checkpoint of a trained SPN model restores fully into a fresh model, as for a plain Keras model."""

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras import models, optimizers


def _model(seed):
    keras.utils.set_random_seed(seed)
    model = models.build_rat_spn(6, 2, 2, 2, 2, sum_op="em")
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(0.05))
    model(np.zeros((2, 6), "int32"))
    model.optimizer.build(model.trainable_variables)
    return model


def test_checkpoint_of_trained_model_is_consumed_by_fresh_model(tmp_path):
    x = (np.random.default_rng(0).random((80, 6)) < 0.4).astype("int32")
    trained = _model(0)
    trained.fit(x, batch_size=20, epochs=1, verbose=0)
    trained.evaluate(x, batch_size=20, verbose=0)  # predict makes the same inference counter
    path = tf.train.Checkpoint(model=trained, optimizer=trained.optimizer).save(str(tmp_path / "ckpt"))
    assert not [name for name, _ in tf.train.list_variables(path) if "_spn_" in name]

    fresh = _model(1)
    status = tf.train.Checkpoint(model=fresh, optimizer=fresh.optimizer).restore(path)
    status.assert_consumed()
    # Weights, not all variables: the positions of the sum layers' seed generators are left out of checkpoints,
    # as those of keras.layers.Dropout are.
    assert len(trained.weights) == len(fresh.weights) > 0
    for a, b in zip(trained.weights, fresh.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(trained.optimizer.variables, fresh.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(trained.log_likelihood(x), fresh.log_likelihood(x))
    # The bookkeeping still works after the change: training and a refused batch as before.
    fresh.fit(x, batch_size=20, epochs=1, verbose=0)
    bad = x.copy()
    bad[0, 0] = 5
    try:
        fresh.fit(bad, batch_size=20, epochs=1, verbose=0)
    except ValueError as error:
        assert "refuse" in str(error)
    else:
        raise AssertionError("a batch with category 5 for a binary indicator leaf was not refused")
