"""Pruning partitions of compiled region graphs: normalization kept, fewer parameters, LL loss as reported."""

import numpy as np
import pytest
from reference import all_binary, np_logsumexp
from tensorflow import keras

from libspn_keras import layers, models, optimizers
from libspn_keras.region_graph import RegionNode, topological_regions
from libspn_keras.structure import partition_flows, poon_domingos_region_graph, prune_partitions


def trained_model(roots, rng):
    keras.utils.set_random_seed(0)
    data = (rng.random((600, 6)) < [0.2, 0.7, 0.5, 0.4, 0.8, 0.3]).astype("int32")
    data[:, 1] = data[:, 0] ^ (rng.random(600) < 0.1)
    model = models.compile_region_graph(roots, layers.IndicatorLeaf(2), num_sums=3, num_input_sums=3, sum_op="em")
    optimizer = optimizers.OnlineExpectationMaximization(learning_rate=0.5, pseudocount=1e-3)
    model.compile(optimizer=optimizer, jit_compile=False)  # XLA, the default, costs compile time; tested elsewhere
    model.fit(data, batch_size=200, epochs=3, verbose=0)
    return model, data


def num_partitions(roots):
    return sum(len(r.partitions) for r in topological_regions(roots) if isinstance(r, RegionNode))


def test_flows_of_a_region_add_up_to_the_samples_reaching_it():
    rng = np.random.default_rng(1)
    model, data = trained_model(poon_domingos_region_graph(2, 3, 1), rng)
    flows = partition_flows(model, data, batch_size=256)
    top = model.layers[-1].plans[-1].regions[0]
    # Every sample reaches the root; below, a region receives the flow of every partition that uses it.
    assert np.isclose(flows[id(top)].sum(), len(data), rtol=1e-4)
    received = {}
    for region in topological_regions([top]):
        if isinstance(region, RegionNode):
            for parts, flow in zip(region.partitions, flows[id(region)]):
                for part in parts:
                    received[id(part)] = received.get(id(part), 0.0) + flow
    for region_id, flow in flows.items():
        if region_id != id(top):
            assert np.isclose(flow.sum(), received[region_id], rtol=1e-3)


@pytest.mark.parametrize("several_roots", [False, True])
def test_pruning_keeps_normalization_removes_parameters_and_reports_the_loss(tmp_path, several_roots):
    rng = np.random.default_rng(2)
    roots = poon_domingos_region_graph(2, 3, 1)
    if several_roots:
        roots = [roots, poon_domingos_region_graph(3, 2, 1)]
    model, data = trained_model(roots, rng)
    pruned, report = prune_partitions(model, data, threshold=0.35)
    assert report["partitions_removed"] > 0
    assert report["params_after"] == pruned.count_params() < model.count_params() == report["params_before"]
    assert num_partitions(pruned.layers[-1].roots) < num_partitions(model.layers[-1].roots)
    assert abs(np_logsumexp(pruned(all_binary(6)).numpy())) < 1e-5
    before, after = model.log_likelihood(data).mean(), pruned.log_likelihood(data).mean()
    np.testing.assert_allclose(before, report["log_likelihood_before"], atol=1e-4)
    assert before - after <= report["log_likelihood_before"] - report["log_likelihood_after"] + 1e-4
    # The pruned model trains and saves like any other.
    pruned.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=0.5), jit_compile=False)
    pruned.fit(data, batch_size=200, epochs=1, verbose=0)
    pruned.save(tmp_path / "pruned.keras")
    loaded = keras.models.load_model(tmp_path / "pruned.keras")
    np.testing.assert_allclose(loaded(data[:10]).numpy(), pruned(data[:10]).numpy(), rtol=1e-6)


def test_threshold_zero_keeps_the_model():
    rng = np.random.default_rng(3)
    model, data = trained_model(poon_domingos_region_graph(2, 3, 1), rng)
    pruned, report = prune_partitions(model, data, threshold=0.0)
    assert report["partitions_removed"] == 0 and report["params_after"] == report["params_before"]
    np.testing.assert_allclose(pruned(data).numpy(), model(data).numpy(), rtol=1e-5, atol=1e-5)
