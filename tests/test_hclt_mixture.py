"""Mixtures of hidden Chow-Liu trees (``build_hclt(num_trees=...)``): the bootstrap trees, and brute-force semantics."""

import itertools

import numpy as np
import pytest
from reference import np_logsumexp
from tensorflow import keras

from libspn_keras import models, optimizers
from libspn_keras.region_graph import RegionNode
from libspn_keras.structure.chow_liu import chow_liu_tree, hclt_region_graph
from libspn_keras.structure.plan import region_slots


def weakly_dependent_data(num_samples, num_vars, rng):
    """Binary variables, each a noisy copy of the one before: weak links, so bootstrap trees differ."""
    data = np.zeros((num_samples, num_vars), dtype="int32")
    data[:, 0] = rng.random(num_samples) < 0.5
    for v in range(1, num_vars):
        flip = rng.random(num_samples) < 0.35
        data[:, v] = np.where(flip, 1 - data[:, v - 1], data[:, v - 1])
    return data


def all_states(num_vars):
    return np.array(list(itertools.product(range(2), repeat=num_vars)), dtype="int32")


def test_mixture_root_holds_the_trees_of_the_data_and_of_its_bootstrap_resamples():
    data = weakly_dependent_data(200, 6, np.random.default_rng(3))
    model = models.build_hclt(data, num_latents=2, num_trees=3, seed=11)
    (root,) = model.layers[-1].roots
    rng = np.random.default_rng(11)
    samples = [data] + [data[rng.integers(0, len(data), len(data))] for _ in range(2)]
    expected = [hclt_region_graph(chow_liu_tree(sample)).partitions[0] for sample in samples]
    assert root.product == "elementwise"
    assert [str(RegionNode(list(p))) for p in root.partitions] == [str(RegionNode(list(p))) for p in expected]
    # The data are chosen so that the resampled trees differ: otherwise the check above proves little.
    assert len({str(RegionNode(list(p))) for p in root.partitions}) >= 2
    single = models.build_hclt(data, num_latents=2)
    assert str(single.layers[-1].roots[0]) == str(hclt_region_graph(chow_liu_tree(data)))


def test_mixture_of_hclts_is_the_weighted_mixture_of_its_normalized_trees():
    keras.utils.set_random_seed(4)
    data = weakly_dependent_data(400, 5, np.random.default_rng(4))
    num_latents, num_trees = 3, 3
    model = models.build_hclt(data, num_latents=num_latents, num_trees=num_trees, seed=2)
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=0.5), jit_compile=False)
    model.fit(data, batch_size=100, epochs=1, verbose=0)
    states = all_states(5)
    full = model(states).numpy()[:, 0]
    assert abs(np_logsumexp(full)) < 1e-5

    layer = model.layers[-1]
    root_layer, row, columns = region_slots(layer.plans)[id(layer.roots[0])]
    assert [stop - first for first, stop in columns] == [num_latents] * num_trees
    accumulators = layer.sum_layers[root_layer].weights[0]
    weights = accumulators.numpy()
    root_weights = weights[row, 0, :, 0]
    # Each tree alone (the root weights of the other trees set to ~0) must be a normalized distribution, and the
    # full model their mixture with each tree's share of the root weights.
    components = []
    for first, stop in columns:
        alone = weights.copy()
        alone[row, 0, :, 0] = 1e-30
        alone[row, 0, first:stop, 0] = root_weights[first:stop]
        accumulators.assign(alone)
        component = model(states).numpy()[:, 0]
        assert abs(np_logsumexp(component)) < 1e-5
        components.append(component + np.log(root_weights[first:stop].sum() / root_weights.sum()))
    accumulators.assign(weights)
    np.testing.assert_allclose(full, np_logsumexp(np.stack(components), axis=0), atol=1e-5)
    # The trees differ after training (else the mixture would be one tree).
    assert np.max(np.abs(components[0] - components[1])) > 1e-3


def test_build_hclt_refuses_a_bad_number_of_trees():
    data = weakly_dependent_data(50, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="num_trees"):
        models.build_hclt(data, num_latents=2, num_trees=0)


def test_bootstrap_trees_count_every_category_of_the_data():
    # A resample that misses the data's top category still spreads the pseudocount over C x C cells: its tree is the
    # Chow-Liu tree of the resample with the leaf's C categories, drawn as build_hclt draws it (numpy_rng(seed)).
    checked = 0
    for seed in range(400):
        rng = np.random.default_rng(seed)
        data = (rng.random((12, 4)) < 0.5).astype("int32")
        data[0, 0] = 2
        resample = data[np.random.default_rng(seed).integers(0, len(data), len(data))]
        expected = chow_liu_tree(resample, num_categories=3, pseudocount=0.5)
        if np.array_equal(chow_liu_tree(resample, pseudocount=0.5), expected):
            continue  # counting only the resample's categories would give the same tree
        model = models.build_hclt(data, num_latents=2, num_trees=2, seed=seed, mutual_information_pseudocount=0.5)
        assert str(RegionNode(list(model.layers[-1].roots[0].partitions[1]))) == str(
            RegionNode(list(hclt_region_graph(expected).partitions[0]))
        )
        checked += 1
        if checked == 3:
            break
    assert checked == 3
