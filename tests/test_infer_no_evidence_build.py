"""model.build((None, num_vars)) builds an infer_no_evidence model: (None, n) is x's shape, not a pair
[x_shape, evidence_mask_shape] whose x shape is unknown."""

import numpy as np
import pytest
from reference import all_binary, np_logsumexp
from tensorflow import keras

import libspn_keras.sum_ops.grad as grad_sum_op
from libspn_keras import layers, models
from libspn_keras.sum_ops.checked import is_checked


def reconstructing_spn():
    return models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=2),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=2),
            layers.DenseProduct(num_factors=3),
            layers.RootSum(return_weighted_child_logits=False),
        ],
        infer_no_evidence=True,
    )


@pytest.mark.parametrize("shape", [(None, 3), [None, 3], [(None, 3), (None, 3)]])
def test_build_builds_the_layers(shape):
    model = reconstructing_spn()
    model.build(shape)
    assert all(layer.built for layer in model.layers) and model.weights
    log_probs = model(all_binary(3)).numpy()[:, 0].astype(np.float64)
    assert abs(np_logsumexp(log_probs)) < 1e-5


def test_an_unbuilt_model_trains_on_the_fast_kernel(monkeypatch):
    seen = []
    monkeypatch.setattr(grad_sum_op, "is_checked", lambda acc: seen.append(is_checked(acc)) or seen[-1])
    model = reconstructing_spn()
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (16, 3)).astype(np.int32)
    model.fit(x, rng.random((16, 3)) > 0.3, batch_size=8, epochs=1, verbose=0)
    assert all(layer.built for layer in model.layers)
    assert seen and all(seen)
