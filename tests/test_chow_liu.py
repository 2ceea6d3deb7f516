"""Chow-Liu trees and hidden Chow-Liu tree SPNs: mutual information against numpy, tree recovery, normalization."""

import itertools

import numpy as np
import pytest
from reference import np_logsumexp
from scipy.sparse.csgraph import minimum_spanning_tree
from tensorflow import keras

from libspn_keras import models, optimizers
from libspn_keras.region_graph import RegionNode
from libspn_keras.structure.chow_liu import (
    categorical_mutual_information,
    chow_liu_tree,
    gaussian_mutual_information,
    hclt_region_graph,
    maximum_spanning_tree,
    root_at_centre,
)
from libspn_keras.structure.learn_spn import learn_region_graph


def reference_mutual_information(data, num_categories, pseudocount):
    """Pair by pair, from explicit count tables."""
    num_vars = data.shape[1]
    out = np.zeros((num_vars, num_vars))
    for i, j in itertools.combinations(range(num_vars), 2):
        table = np.full((num_categories, num_categories), pseudocount, dtype=np.float64)
        np.add.at(table, (data[:, i], data[:, j]), 1.0)
        joint = table / table.sum()
        outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
        out[i, j] = out[j, i] = np.sum(joint * np.log(joint / outer))
    return out


def sample_tree(parents, num_samples, rng, num_categories=2):
    """Samples of a tree-structured categorical distribution with strong random conditionals."""
    num_vars = len(parents)
    data = np.zeros((num_samples, num_vars), dtype=np.int64)
    order = [int(np.flatnonzero(parents == -1)[0])]
    for vertex in order:
        order.extend(int(c) for c in np.flatnonzero(parents == vertex))
    for vertex in order:
        if parents[vertex] == -1:
            data[:, vertex] = rng.integers(0, num_categories, num_samples)
            continue
        table = rng.dirichlet(np.full(num_categories, 0.3), size=num_categories)
        table = 0.5 * table + 0.5 * np.eye(num_categories)
        probs = table[data[:, parents[vertex]]]
        data[:, vertex] = (probs.cumsum(axis=1) > rng.random((num_samples, 1))).argmax(axis=1)
    return data


def edge_set(parents):
    return {frozenset((v, int(p))) for v, p in enumerate(parents) if p >= 0}


@pytest.mark.parametrize("num_categories", [2, 3])
def test_mutual_information_matches_numpy_reference(num_categories):
    rng = np.random.default_rng(0)
    data = sample_tree(np.array([-1, 0, 0, 1, 3]), 500, rng, num_categories)
    expected = reference_mutual_information(data, num_categories, 0.01)
    np.testing.assert_allclose(categorical_mutual_information(data, num_categories, 0.01), expected, atol=1e-10)


def test_mutual_information_without_pseudocount_counts_unseen_cells_as_zero():
    rng = np.random.default_rng(3)
    first = rng.integers(0, 2, 400)
    # x1 copies x0 (two of four cells never seen), x2 is x0 with 10% flips, x3 is constant 0.
    flipped = np.where(rng.random(400) < 0.1, 1 - first, first)
    data = np.stack([first, first, flipped, np.zeros(400, dtype=np.int64)], axis=1)
    information = categorical_mutual_information(data, 2, pseudocount=0)
    assert np.all(np.isfinite(information))
    p = first.mean()
    np.testing.assert_allclose(information[0, 1], -(p * np.log(p) + (1 - p) * np.log(1 - p)), rtol=1e-9)
    table = np.zeros((2, 2))
    np.add.at(table, (first, flipped), 1.0)
    joint = table / table.sum()
    outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    seen = joint > 0
    np.testing.assert_allclose(information[0, 2], np.sum(joint[seen] * np.log(joint[seen] / outer[seen])))
    np.testing.assert_allclose(information[:, 3], 0.0, atol=1e-12)
    assert edge_set(chow_liu_tree(data, pseudocount=0)) >= {frozenset((0, 1))}


@pytest.mark.parametrize("pseudocount", [-0.5, "0.1", None, True])
def test_mutual_information_refuses_a_bad_pseudocount(pseudocount):
    with pytest.raises(ValueError, match="pseudocount"):
        categorical_mutual_information(np.zeros((4, 2), dtype=np.int64), 2, pseudocount)


def test_gaussian_mutual_information_is_minus_half_log_one_minus_rho_squared():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(1000, 4)) @ rng.normal(size=(4, 4))
    rho = np.corrcoef(data.T)
    expected = -0.5 * np.log(1 - rho**2 + np.eye(4))
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(gaussian_mutual_information(data), expected, atol=1e-8)


def test_maximum_spanning_tree_matches_scipy():
    rng = np.random.default_rng(2)
    weights = rng.random((12, 12))
    weights = weights + weights.T
    edges = maximum_spanning_tree(weights)
    reference = minimum_spanning_tree(-weights).toarray()
    assert len(edges) == 11
    assert np.isclose(sum(weights[u, v] for u, v in edges), -reference.sum())


def test_tree_is_rooted_at_its_centre():
    path = [(i, i + 1) for i in range(6)]
    parents = root_at_centre(path, 7)
    assert parents[3] == -1 and edge_set(parents) == {frozenset(e) for e in path}


@pytest.mark.parametrize("num_categories", [2, 3])
def test_chow_liu_recovers_the_true_tree(num_categories):
    rng = np.random.default_rng(3)
    parents = np.array([-1, 0, 0, 1, 1, 2, 5, 5, 0, 8])
    data = sample_tree(parents, 20000, rng, num_categories)
    assert edge_set(chow_liu_tree(data)) == edge_set(parents)


def test_gaussian_chow_liu_recovers_a_chain():
    rng = np.random.default_rng(4)
    data = np.zeros((5000, 6))
    data[:, 0] = rng.normal(size=5000)
    for v in range(1, 6):
        data[:, v] = 0.8 * data[:, v - 1] + 0.6 * rng.normal(size=5000)
    assert edge_set(chow_liu_tree(data, data_type="gaussian")) == {frozenset((v, v + 1)) for v in range(5)}


def test_hclt_region_graph_has_one_elementwise_region_per_variable():
    root = hclt_region_graph(np.array([1, -1, 1, 2]))
    assert root.variables == frozenset(range(4)) and root.product == "elementwise"
    assert str(root) == "{x1, {x0}, {x2, {x3}}}"
    assert all(isinstance(part, RegionNode) or part.index == 1 for part in root.children)
    with pytest.raises(ValueError, match="one root"):
        hclt_region_graph(np.array([-1, -1, 0]))


def all_states(num_vars, num_categories):
    return np.array(list(itertools.product(range(num_categories), repeat=num_vars)), dtype="int32")


@pytest.mark.parametrize("num_categories", [2, 3])
def test_hclt_sums_to_one_and_learns_with_em(num_categories):
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    data = sample_tree(np.array([-1, 0, 1, 1, 0]), 2000, rng, num_categories).astype("int32")
    model = models.build_hclt(data, num_latents=3)
    log_p = model(all_states(5, num_categories)).numpy()
    assert abs(np_logsumexp(log_p)) < 1e-5
    before = model.log_likelihood(data).mean()
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=0.5))
    model.fit(data, batch_size=200, epochs=3, verbose=0)
    assert model.log_likelihood(data).mean() > before + 0.3
    assert abs(np_logsumexp(model(all_states(5, num_categories)).numpy())) < 1e-5


def test_gaussian_hclt_trains_with_em():
    keras.utils.set_random_seed(6)
    rng = np.random.default_rng(6)
    data = np.zeros((1000, 4), dtype="float32")
    data[:, 0] = rng.normal(size=1000)
    for v in range(1, 4):
        data[:, v] = np.sin(2 * data[:, v - 1]) + 0.3 * rng.normal(size=1000)
    model = models.build_hclt(data, num_latents=4, data_type="gaussian")
    before = model.log_likelihood(data).mean()
    # Graph mode: XLA (the default) is tested on the categorical HCLT above, and costs compile time.
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=0.5), jit_compile=False)
    model.fit(data, batch_size=100, epochs=3, verbose=0)
    after = model.log_likelihood(data).mean()
    assert np.isfinite(after) and after > before + 0.3
    completed = model.complete(np.where(np.eye(4, dtype=bool)[:1], np.nan, data[:5]))
    assert np.isfinite(completed).all()


@pytest.mark.parametrize(
    "learn",
    [
        lambda data, **kw: models.build_hclt(data, num_latents=2, **kw),
        lambda data, **kw: learn_region_graph(data, **kw),
    ],
    ids=["build_hclt", "learn_region_graph"],
)
def test_structure_learning_names_itself_for_missing_codes(learn):
    with pytest.raises(ValueError, match=r"(build_hclt|learn_region_graph): categories must be >= 0.*complete data"):
        learn(np.array([[0, -1, 1], [1, 0, 1], [0, 1, 0]]))


def test_build_hclt_names_a_num_categories_below_the_data():
    with pytest.raises(ValueError, match=r"build_hclt: categories must lie in \[0, num_categories=2\).*up to 2"):
        models.build_hclt(np.array([[0, 2, 1], [1, 0, 1]]), num_latents=2, num_categories=2)


@pytest.mark.parametrize(
    "weights, match",
    [
        (np.zeros((0, 0)), "square"),
        (np.zeros((3, 2)), "square"),
        (np.array([[0.0, np.nan, 1.0], [np.nan, 0.0, 2.0], [1.0, 2.0, 0.0]]), "finite"),
    ],
)
def test_maximum_spanning_tree_refuses_what_is_no_weight_matrix(weights, match):
    with pytest.raises(ValueError, match=f"maximum_spanning_tree: .*{match}"):
        maximum_spanning_tree(weights)
