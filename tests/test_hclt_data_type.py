"""``build_hclt`` infers the data type: integer-valued data get indicators, real-valued data normal leaves."""

import numpy as np
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
