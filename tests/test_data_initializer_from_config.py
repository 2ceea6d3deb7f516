"""Data-based initializers rebuilt from a partial config (e.g. 0.6.0's KMeans config) keep working."""

import numpy as np

from libspn_keras import initializers

KMEANS_060_CONFIG = {
    "samplewise_normalization": True,
    "normalization_epsilon": 0.01,
    "num_iters": 100,
    "stop_epsilon": 0.0001,
    "group_centroids": True,
}


def test_kmeans_from_060_config_has_defaults_for_the_other_settings():
    restored = initializers.KMeans.from_config(dict(KMEANS_060_CONFIG))
    config = restored.get_config()
    defaults = initializers.KMeans().get_config()
    assert config == {**defaults, **KMEANS_060_CONFIG}
    # Without data it gives the placeholder a loaded model overwrites; after adapt it clusters again.
    assert np.all(restored((2, 3, 1)).numpy() == 0.0)
    restored.adapt(np.random.default_rng(0).normal(size=(50, 2, 1)))
    assert restored((2, 3, 1)).shape == (2, 3, 1)


def test_round_trip_of_data_initializer_configs():
    for initializer in (
        initializers.KMeans(num_iters=7, seed=3),
        initializers.PoonDomingosMeanOfQuantileSplit(),
        initializers.PoonDomingosStddevOfQuantileSplit(epsilon=0.5),
    ):
        restored = type(initializer).from_config(initializer.get_config())
        assert restored.get_config() == initializer.get_config()
        assert restored.restored
