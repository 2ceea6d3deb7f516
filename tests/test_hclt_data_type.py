"""``build_hclt`` infers the data type: integer-valued data get indicators, real-valued data normal leaves."""

import numpy as np
import pytest
from tensorflow import keras

from libspn_keras import layers, models


def test_real_valued_data_get_a_gaussian_hclt():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    data = rng.normal(size=(300, 4))
    data[:, 1] += data[:, 0]
    model = models.build_hclt(data, 2)
    assert any(isinstance(layer, layers.NormalLeaf) for layer in model.layers)
    assert not any(isinstance(layer, layers.IndicatorLeaf) for layer in model.layers)
    assert np.all(np.isfinite(model.log_likelihood(data[:10].astype("float32"))))


def test_integer_valued_data_get_a_categorical_hclt():
    keras.utils.set_random_seed(0)
    data = (np.random.default_rng(1).random((300, 4)) < 0.3).astype("float64")  # 0.0 / 1.0: integer-valued
    model = models.build_hclt(data, 2)
    assert any(isinstance(layer, layers.IndicatorLeaf) for layer in model.layers)


@pytest.mark.parametrize("num_categories", [0, 2.5, "3"])
def test_num_categories_is_checked_by_build_hclt(num_categories):
    data = np.random.default_rng(0).integers(0, 2, (20, 3))
    with pytest.raises(ValueError, match="build_hclt: num_categories"):
        models.build_hclt(data, 2, num_categories=num_categories)


def test_num_categories_with_gaussian_data_is_refused():
    # Normal leaves have no categories: the argument was ignored without a word.
    data = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="num_categories applies to categorical data"):
        models.build_hclt(data, 2, num_categories=3)


def test_gaussian_hclt_leaves_learn_by_the_sum_op_chosen():
    # Under "grad" the default normal leaves train by gradients (before, they kept EM statistics and Adam refused).
    data = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    data[:, 1] += data[:, 0]
    assert models.build_hclt(data, num_latents=2).layers[1].use_accumulators
    model = models.build_hclt(data, num_latents=2, sum_op="grad")
    assert not model.layers[1].use_accumulators
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    before = model.evaluate(data, verbose=0)
    model.fit(data, epochs=3, batch_size=32, verbose=0)
    assert model.evaluate(data, verbose=0) < before
