"""Learned and image region graphs: LearnSPN-style and Poon-Domingos graphs compile to normalized SPNs."""

import numpy as np
import pytest
from reference import all_binary, np_logsumexp
from tensorflow import keras

from libspn_keras import layers, models, optimizers
from libspn_keras.region_graph import RegionNode, topological_regions
from libspn_keras.structure import draw_region_graph, learn_region_graph, poon_domingos_region_graph


def clustered_data(rng, num_samples=3000):
    """Two clusters; within each, variables 0-2 copy one coin and 3-5 another."""
    cluster = rng.random(num_samples) < 0.5
    a = rng.random(num_samples) < np.where(cluster, 0.9, 0.2)
    b = rng.random(num_samples) < np.where(cluster, 0.3, 0.7)
    noisy = lambda v: (v ^ (rng.random(num_samples) < 0.05)).astype(np.int32)  # noqa: E731
    return np.stack([noisy(a), noisy(a), noisy(a), noisy(b), noisy(b), noisy(b)], axis=1)


def test_learned_region_graph_splits_weak_dependencies_and_has_several_partitions():
    rng = np.random.default_rng(0)
    data = clustered_data(rng)
    root = learn_region_graph(data, min_instances=500, seed=0)
    assert root.variables == frozenset(range(6))
    # The first split separates the two groups of copies.
    assert {part.variables for part in root.partitions[0]} == {frozenset({0, 1, 2}), frozenset({3, 4, 5})}
    regions = [r for r in topological_regions([root]) if isinstance(r, RegionNode)]
    assert any(len(r.partitions) > 1 for r in regions)


def test_learned_region_graph_trains_and_normalizes():
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    data = clustered_data(rng)
    root = learn_region_graph(data, min_instances=500, seed=1)
    model = models.compile_region_graph(root, layers.IndicatorLeaf(2), num_sums=3, num_input_sums=3, sum_op="em")
    before = model.log_likelihood(data).mean()
    optimizer = optimizers.OnlineExpectationMaximization(learning_rate=0.5, pseudocount=1e-3)
    model.compile(optimizer=optimizer, jit_compile=False)  # XLA, the default, costs compile time; tested elsewhere
    model.fit(data, batch_size=300, epochs=3, verbose=0)
    assert model.log_likelihood(data).mean() > before + 0.5
    assert abs(np_logsumexp(model(all_binary(6)).numpy())) < 1e-5


def test_learned_region_graph_on_gaussian_data():
    rng = np.random.default_rng(2)
    data = rng.normal(size=(600, 5))
    data[:, 1] += data[:, 0]
    root = learn_region_graph(data, data_type="gaussian", min_instances=200, seed=2)
    assert root.variables == frozenset(range(5))
    with pytest.raises(ValueError, match="data_type"):
        learn_region_graph(data, data_type="poisson")


@pytest.mark.parametrize("height, width, step", [(2, 3, 1), (4, 4, 2), (3, 4, 2)])
def test_poon_domingos_region_graphs_normalize(height, width, step):
    keras.utils.set_random_seed(3)
    root = poon_domingos_region_graph(height, width, step)
    assert root.variables == frozenset(range(height * width))
    splits = (height - 1) // step + (width - 1) // step if max(height, width) > step else 1
    assert len(root.partitions) == max(splits, 1)
    model = models.compile_region_graph(root, layers.IndicatorLeaf(2), num_sums=2, num_input_sums=2)
    for variable in model.trainable_variables:
        variable.assign(np.random.default_rng(3).normal(size=variable.shape).astype("float32"))
    assert abs(np_logsumexp(model(all_binary(height * width)).numpy())) < 1e-4


def test_poon_domingos_regions_are_shared_rectangles():
    root = poon_domingos_region_graph(4, 4, 1)
    regions = [r for r in topological_regions([root]) if isinstance(r, RegionNode)]
    # Every rectangle of a 4x4 grid but the single pixels: (4*5/2)^2 - 16.
    assert len(regions) == 100 - 16
    assert len(root.partitions) == 6
    channels = poon_domingos_region_graph(2, 2, 1, channels=3)
    assert channels.variables == frozenset(range(12))


def test_draw_region_graph(tmp_path):
    root = poon_domingos_region_graph(3, 3, 1)
    path = draw_region_graph(root, tmp_path / "pd.png")
    assert path == tmp_path / "pd.png" and path.stat().st_size > 1000
    figure = draw_region_graph([root])
    assert figure.axes[0].get_title().startswith("Region graph: ")
