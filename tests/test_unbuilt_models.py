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


class _Batches(keras.utils.PyDataset):
    def __init__(self, x):
        super().__init__()
        self.x = x

    def __len__(self):
        return len(self.x) // 8

    def __getitem__(self, index):
        return (self.x[index * 8 : (index + 1) * 8],)


@pytest.mark.parametrize("first_call", ["fit", "fit_dataset", "fit_generator", "fit_pydataset", "train_on_batch"])
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
    elif first_call == "fit_generator":
        batches = model.fit(((x[i : i + 8],) for i in range(0, len(x), 8)), epochs=1, verbose=0)
        assert len(batches.history["loss"]) == 1 and int(model.optimizer.iterations.numpy()) == len(x) // 8
    elif first_call == "fit_pydataset":
        model.fit(_Batches(x), epochs=1, verbose=0)
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


@pytest.mark.parametrize("shape", [(None, 3), [None, 3], [(None, 3), (None, 3)]])
def test_build_of_a_reconstruction_model_builds_the_layers(shape):
    # (None, 3) is the shape of x, not an [x, evidence_mask] pair whose x shape is unknown.
    model = unbuilt_spn(infer_no_evidence=True)
    model.build(shape)
    assert all(layer.built for layer in model.layers) and model.weights
    assert abs(np_logsumexp(model(all_binary(3)).numpy()[:, 0].astype(np.float64))) < 1e-5


def test_unbuilt_reconstruction_model_names_its_training_form_then_trains(monkeypatch):
    seen = _traced_checked(monkeypatch)
    model = unbuilt_spn(infer_no_evidence=True)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    x = _data(16).astype(np.float32)
    mask = np.random.default_rng(1).uniform(size=x.shape) < 0.5
    with pytest.raises(ValueError, match=r"fit\(x, evidence_mask\).*Got fit\(\[x, evidence_mask\]") as refused:
        model.fit([x, mask], x, verbose=0)
    assert "in user code" not in str(refused.value)  # raised before any step is traced
    assert np.isfinite(model.fit(x, mask, verbose=0).history["loss"][0])
    assert all(layer.built for layer in model.layers) and seen and all(seen)


@pytest.mark.parametrize("query", ["log_likelihood", "complete"])
def test_a_query_on_an_unbuilt_model_builds_it_first(monkeypatch, query):
    seen = _traced_checked(monkeypatch)
    model = unbuilt_spn()
    x = all_binary(3)
    if query == "log_likelihood":
        assert abs(np_logsumexp(model.log_likelihood(x).astype(np.float64))) < 1e-5
    else:
        x[:, 0] = -1
        completed = model.complete(x)
        np.testing.assert_array_equal(completed[:, 1:], x[:, 1:])
        assert set(np.unique(completed[:, 0])) <= {0, 1}
    assert model.built and seen and all(seen)
