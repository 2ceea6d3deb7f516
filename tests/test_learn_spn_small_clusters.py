"""learn_region_graph with small ``min_instances``, and its checks of data and arguments."""

import numpy as np
import pytest
from reference import all_binary

from libspn_keras import layers, models
from libspn_keras.structure import learn_region_graph


@pytest.mark.parametrize("shape", [(10, 5), (3, 5), (2, 4)])
def test_min_instances_one_learns_a_valid_normalized_graph(shape):
    data = np.random.default_rng(0).integers(0, 2, shape).astype(np.int32)
    root = learn_region_graph(data, min_instances=1, seed=0)
    assert sorted(root.variables) == list(range(shape[1]))
    model = models.compile_region_graph(
        root, layers.IndicatorLeaf(2), num_sums=2, num_input_sums=2, input_dtype="int32"
    )
    states = all_binary(shape[1])
    total = np.exp(model.log_likelihood(states).astype(np.float64)).sum()
    np.testing.assert_allclose(total, 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("data", "kwargs", "match"),
    [
        (np.zeros((1, 4), np.int32), {}, "at least 2 of each"),
        (np.random.default_rng(0).random((10, 3)), {}, "integer categories"),
        (np.full((10, 3), np.nan), {}, "complete"),
        (np.zeros((10, 3), np.int32), {"min_instances": 0}, "min_instances"),
        (np.zeros((10, 3), np.int32), {"num_clusters": 2.5}, "num_clusters"),
        (np.zeros((10, 3), np.int32), {"max_cluster_depth": -1}, "max_cluster_depth"),
    ],
)
def test_bad_data_and_arguments_name_learn_region_graph(data, kwargs, match):
    with pytest.raises(ValueError, match=f"learn_region_graph.*{match}"):
        learn_region_graph(data, **kwargs)
