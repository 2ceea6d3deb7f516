"""Region graphs: structure checks, layout, and normalization of the compiled dense SPNs."""

import numpy as np
import pytest
from reference import all_binary, np_logsumexp
from tensorflow import keras

import libspn_keras as spn
from libspn_keras import layers, models, optimizers
from libspn_keras.region_graph import region_graph_layout


def two_decompositions():
    v = [spn.RegionVariable(i) for i in range(5)]
    first = spn.RegionNode([spn.RegionNode([v[0], v[1]]), spn.RegionNode([v[2], spn.RegionNode([v[3], v[4]])])])
    second = spn.RegionNode([spn.RegionNode([v[4], v[2], v[0]]), spn.RegionNode([v[1], v[3]])])
    return [first, second]


def test_overlapping_children_raise():
    v = [spn.RegionVariable(i) for i in range(3)]
    with pytest.raises(ValueError, match="overlap on variables \\[1\\]"):
        spn.RegionNode([spn.RegionNode([v[0], v[1]]), spn.RegionNode([v[1], v[2]])])


def test_bad_region_arguments_raise():
    with pytest.raises(ValueError, match="RegionVariable"):
        spn.RegionVariable(-1)
    with pytest.raises(ValueError, match="at least one child"):
        spn.RegionNode([])


def test_scopes_and_heights():
    first, second = two_decompositions()
    assert first.scope == frozenset(range(5)) == second.scope
    assert first.height == 3 and second.height == 2


def test_layout_pads_every_level_to_the_widest_region():
    factors, permutations = region_graph_layout(two_decompositions())
    # Bottom level: the widest region {4, 2, 0} has three children; above it every region splits in two.
    assert factors == [3, 2, 2]
    assert permutations.shape == (2, 12)
    for row in permutations:
        assert sorted(row[row >= 0].tolist()) == list(range(5))
    # Groups of three leaf slots form the bottom regions of the second decomposition.
    groups = [sorted(g[g >= 0].tolist()) for g in permutations[1].reshape(-1, 3)]
    assert [0, 2, 4] in groups and [1, 3] in groups


def test_decomposition_missing_a_variable_raises():
    v = [spn.RegionVariable(i) for i in range(3)]
    with pytest.raises(ValueError, match="does not cover variables \\[2\\]"):
        spn.region_graph_to_dense_spn([spn.RegionNode(v), spn.RegionNode([v[0], v[1]])], layers.IndicatorLeaf(2), [2])


def test_num_sums_length_must_match_levels():
    with pytest.raises(ValueError, match="needs 3 entries"):
        spn.region_graph_to_dense_spn(two_decompositions(), layers.IndicatorLeaf(2), [2, 2])


@pytest.mark.parametrize("sum_op", ["grad", "em", "sample"])
@pytest.mark.parametrize("logits", [False, True])
def test_compiled_region_graph_sums_to_one(sum_op, logits):
    keras.utils.set_random_seed(3)
    model = spn.region_graph_to_dense_spn(
        two_decompositions(), layers.IndicatorLeaf(2), [3, 2, 2], return_weighted_child_logits=logits, sum_op=sum_op
    )
    log_p = model(all_binary(5).astype("float32")).numpy()
    assert abs(np_logsumexp(log_p)) < 1e-5
    # Not trivially uniform.
    assert np.ptp(np_logsumexp(log_p, axis=1)) > 1e-3


@pytest.mark.parametrize("num_vars, depth, num_decomps", [(4, 1, 2), (7, 2, 3), (6, 3, 2)])
def test_random_region_graphs_cover_all_variables_and_normalize(num_vars, depth, num_decomps):
    roots = spn.random_region_graph(num_vars, depth, num_decomps, seed=5)
    assert len(roots) == num_decomps
    assert all(root.scope == frozenset(range(num_vars)) for root in roots)
    model = spn.region_graph_to_dense_spn(
        roots, layers.IndicatorLeaf(2), [2] * (depth + 1) if num_vars > 2**depth else [2] * depth
    )
    assert abs(np_logsumexp(model(all_binary(num_vars).astype("float32")).numpy())) < 1e-5


def test_random_region_graph_is_seeded():
    first = [repr(r) for r in spn.random_region_graph(8, 2, 3, seed=9)]
    assert first == [repr(r) for r in spn.random_region_graph(8, 2, 3, seed=9)]
    assert first != [repr(r) for r in spn.random_region_graph(8, 2, 3, seed=10)]


def test_region_graph_model_trains_with_em_and_round_trips(tmp_path):
    keras.utils.set_random_seed(4)
    data = (np.random.rand(300, 5) < [0.1, 0.8, 0.5, 0.3, 0.9]).astype("float32")
    data[:, 1] = data[:, 0]
    model = spn.region_graph_to_dense_spn(two_decompositions(), layers.IndicatorLeaf(2), [3, 3, 1], sum_op="em")
    before = model.log_likelihood(data).mean()
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=1.0))
    model.fit(data, batch_size=300, epochs=5, verbose=0)
    after = model.log_likelihood(data).mean()
    assert after > before + 0.1
    model.save(tmp_path / "region.keras")
    loaded = keras.models.load_model(tmp_path / "region.keras")
    np.testing.assert_allclose(loaded(data).numpy(), model(data).numpy(), rtol=1e-6)


@pytest.mark.parametrize("num_classes", [None, 3])
def test_build_rat_spn_normalizes(num_classes):
    keras.utils.set_random_seed(2)
    model = models.build_rat_spn(6, 2, 3, 3, 4, num_classes=num_classes)
    out = model(all_binary(6)).numpy()
    assert out.shape == (64, 1 if num_classes is None else num_classes)
    assert abs(np_logsumexp(out)) < 1e-5


def test_build_rat_spn_rejects_too_deep_structures():
    with pytest.raises(ValueError, match="lower the depth"):
        models.build_rat_spn(3, 4, 1, 2, 2)
