"""A model without an Input is built from the data by fit / evaluate / predict before its step is traced, so
XLA (the default) can compile the step and the step takes the fast kernel."""

import numpy as np
import pytest
import tensorflow as tf
from reference import all_binary, np_logsumexp
from tensorflow import keras

import libspn_keras.sum_ops.grad as grad_sum_op
from libspn_keras import layers, models
from libspn_keras.sum_ops.checked import is_checked


def unbuilt_spn(**kwargs):
    return models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=2),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=2),
            layers.DenseProduct(num_factors=3),
            layers.RootSum(return_weighted_child_logits=False),
        ],
        **kwargs,
    )


def _data(rows=32):
    return np.random.default_rng(0).integers(0, 2, (rows, 3)).astype(np.int32)


def _traced_checked(monkeypatch):
    """Records, for every sum traced by the gradient sum op, whether its weights were checked for the fast kernel."""
    seen = []
    monkeypatch.setattr(grad_sum_op, "is_checked", lambda acc: seen.append(is_checked(acc)) or seen[-1])
    return seen


@pytest.mark.parametrize("first_call", ["fit", "fit_dataset", "train_on_batch"])
def test_training_an_unbuilt_model_compiles_with_xla_on_the_fast_path(monkeypatch, first_call):
    seen = _traced_checked(monkeypatch)
    model = unbuilt_spn(unsupervised=True)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    assert model.jit_compile is True and not model.built
    x = _data()
    if first_call == "fit":
        history = model.fit(x, epochs=2, batch_size=8, verbose=0).history["loss"]
        assert history[1] < history[0]
    elif first_call == "fit_dataset":
        model.fit(tf.data.Dataset.from_tensor_slices(x).batch(8), epochs=1, verbose=0)
    else:
        model.train_on_batch(x)
    assert model.built
    assert seen and all(seen)  # every sum of the traced step skips the range check
    log_probs = model(all_binary(3)).numpy()[:, 0].astype(np.float64)
    assert abs(np_logsumexp(log_probs)) < 1e-5


@pytest.mark.parametrize("first_call", ["predict", "evaluate", "predict_on_batch", "test_on_batch"])
def test_inference_on_an_unbuilt_model_builds_it_first(monkeypatch, first_call):
    seen = _traced_checked(monkeypatch)
    model = unbuilt_spn(unsupervised=True)
    model.compile()
    x = _data(8)
    result = getattr(model, first_call)(x, **({"verbose": 0} if first_call in ("predict", "evaluate") else {}))
    assert model.built and seen and all(seen)
    expected = model(x).numpy()
    if first_call.startswith("predict"):
        np.testing.assert_allclose(result, expected, atol=1e-5)
    else:
        loss = result if np.ndim(result) == 0 else result[0]
        assert float(loss) == pytest.approx(-float(expected.mean()), abs=1e-4)
