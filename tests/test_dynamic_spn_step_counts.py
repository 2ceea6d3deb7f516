"""Dynamic SPNs on several numbers of time steps (Keras functions traced for each), and on inputs without any."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from libspn_keras import layers, models


def _template():
    return keras.Sequential(
        [
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=2),
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=3),
        ]
    )


def _sequences(num_steps, seed):
    return np.random.default_rng(seed).integers(0, 2, size=(8, num_steps, 2)).astype("int32")


def test_predict_evaluate_fit_on_a_second_number_of_steps():
    model = models.DynamicSumProductNetwork(_template(), num_interface_sums=2)
    model.build((None, 3, 2))
    # Keras relaxes the shapes it retraces with in graph mode and under XLA alike; graph mode compiles faster.
    model.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=False)
    x3, x5 = _sequences(3, 0), _sequences(5, 1)
    np.testing.assert_allclose(model.predict(x3, verbose=0), model(x3).numpy(), atol=1e-5)
    np.testing.assert_allclose(model.predict(x5, verbose=0), model(x5).numpy(), atol=1e-5)
    np.testing.assert_allclose(model.predict_on_batch(x3), model(x3).numpy(), atol=1e-5)
    history = model.fit(x3, validation_data=(x5,), epochs=1, verbose=0).history
    assert history["val_loss"][0] == pytest.approx(-float(np.mean(model(x5).numpy())), abs=1e-4)
    model.fit(x5, epochs=1, verbose=0)
    assert model.evaluate(x5, verbose=0) == pytest.approx(-float(np.mean(model(x5).numpy())), abs=1e-4)
    assert model.evaluate(x3, verbose=0) == pytest.approx(-float(np.mean(model(x3).numpy())), abs=1e-4)


def test_original_form_predict_on_a_second_number_of_steps():
    template = _template()
    interface_t0 = keras.Sequential([layers.DenseSum(num_sums=2)])
    interface_t_minus_1 = keras.Sequential([layers.DenseSum(num_sums=2)])
    top = keras.Sequential([layers.RootSum(return_weighted_child_logits=False)])
    model = models.DynamicSumProductNetwork(template, interface_t0, interface_t_minus_1, top)
    x3, x6 = _sequences(3, 2), _sequences(6, 3)
    lengths = np.arange(8) % 3 + 1
    model([x3, lengths])
    model.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=False)
    np.testing.assert_allclose(model.predict([x3, lengths], verbose=0), model([x3, lengths]).numpy(), atol=1e-5)
    np.testing.assert_allclose(model.predict([x6, lengths], verbose=0), model([x6, lengths]).numpy(), atol=1e-5)


def test_unknown_number_of_steps_is_a_clear_error():
    model = models.DynamicSumProductNetwork(_template(), num_interface_sums=2)
    model.build((None, 3, 2))
    traced = tf.function(model, input_signature=[tf.TensorSpec([None, None, 2], tf.int32)])
    with pytest.raises(ValueError, match="unknown"):
        traced.get_concrete_function()


def test_fit_an_unbuilt_model_as_in_the_guide():
    # docs/guide/dynamic.md: compile (XLA by default for SPN models) and fit a model that the data build.
    model = models.DynamicSumProductNetwork(_template(), num_interface_sums=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = _sequences(4, 4)
    model.fit(x, epochs=1, verbose=0)
    assert model.built
    np.testing.assert_allclose(model.predict(x, verbose=0), model(x).numpy(), atol=1e-5)


def test_no_time_steps_is_a_clear_error():
    model = models.DynamicSumProductNetwork(_template(), num_interface_sums=2)
    with pytest.raises(ValueError, match="DynamicSumProductNetwork '.*'.*no time steps"):
        model(np.zeros((2, 0, 2), "int32"))


def test_original_form_called_without_lengths_is_a_clear_error():
    interface_t0 = keras.Sequential([layers.DenseSum(num_sums=2)])
    interface_t_minus_1 = keras.Sequential([layers.DenseSum(num_sums=2)])
    top = keras.Sequential([layers.RootSum(return_weighted_child_logits=False)])
    model = models.DynamicSumProductNetwork(_template(), interface_t0, interface_t_minus_1, top)
    x = _sequences(3, 7)
    model([x, np.full(len(x), 3)])
    with pytest.raises(ValueError, match=r"0.6.0's form\) is called on \[x, sequence_lens\]"):
        model(x)


def test_fit_an_unbuilt_model_on_a_generator():
    model = models.DynamicSumProductNetwork(_template(), num_interface_sums=2)
    # Graph mode: an unbuilt dynamic SPN fits under the default compile (XLA) in
    # test_fit_an_unbuilt_model_as_in_the_guide, and an unbuilt model on a generator in test_unbuilt_models.py::
    # test_training_an_unbuilt_model_compiles_with_xla_on_the_fast_path[fit_generator].
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    x = _sequences(4, 8)
    model.fit(((x[i : i + 4],) for i in range(0, len(x), 4)), epochs=1, verbose=0)
    assert model.built and int(model.optimizer.iterations.numpy()) == 2
