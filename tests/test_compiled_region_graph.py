"""The region-graph compiler: random DAGs sum to one under every sum op; trees equal the dense stack."""

import itertools

import numpy as np
import pytest
import tensorflow as tf
from reference import all_binary, np_logsumexp
from tensorflow import keras

import libspn_keras as spn
from libspn_keras import layers, models, optimizers
from libspn_keras.region_graph import RegionNode, RegionVariable
from libspn_keras.structure import plan_region_graph

SUM_OPS = ["grad", "em", "hard_em", "unweighted_hard_em", "sample"]


def random_dag(num_vars, rng, max_partitions=3):
    """Random region DAG: several partitions per region, 2-3 parts, shared regions, both product kinds."""
    memo = {}

    def region(scope):
        if len(scope) == 1:
            return RegionVariable(scope[0])
        key = frozenset(scope)
        if key in memo and rng.random() < 0.7:
            return memo[key]
        partitions = []
        for _ in range(rng.integers(1, max_partitions + 1)):
            order = rng.permutation(scope).tolist()
            num_parts = min(len(order), int(rng.integers(2, 4)))
            cuts = sorted(rng.choice(np.arange(1, len(order)), size=num_parts - 1, replace=False).tolist())
            partitions.append([region(part) for part in np.split(np.array(order), cuts)])
        memo[key] = RegionNode(partitions=partitions, product=str(rng.choice(["outer", "elementwise"])))
        return memo[key]

    return region(list(range(num_vars)))


def randomize(model, rng):
    for variable in model.trainable_variables:
        variable.assign(rng.uniform(0.2, 1.0, variable.shape).astype("float32"))


def dag_model(root, sum_op, num_sums=3, num_classes=None):
    return models.compile_region_graph(
        root,
        layers.IndicatorLeaf(2),
        num_sums=num_sums,
        num_input_sums=num_sums,
        num_classes=num_classes,
        sum_op=sum_op,
    )


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("sum_op", SUM_OPS)
def test_random_dags_sum_to_one_under_every_sum_op(seed, sum_op):
    rng = np.random.default_rng(seed)
    root = random_dag(5 + seed % 2, rng)
    model = dag_model(root, sum_op, num_classes=2 if seed == 3 else None)
    randomize(model, rng)
    log_p = model(all_binary(len(root.variables))).numpy()
    assert abs(np_logsumexp(log_p)) < 1e-5
    assert np.ptp(np_logsumexp(log_p, axis=1)) > 1e-3


def test_random_dags_have_shared_regions_several_partitions_and_uneven_depths():
    rng = np.random.default_rng(0)
    roots = [random_dag(6, rng) for _ in range(4)]
    plans = [plan_region_graph([root], 3, 3)[0] for root in roots]
    regions = [r for plan in plans for level in plan for r in level.regions]
    assert any(len(r.partitions) > 1 for r in regions)
    assert {r.product for r in regions} == {"outer", "elementwise"}
    parents = {}
    for region in regions:
        for child in region.children:
            parents.setdefault(id(child), set()).add(id(region))
    assert any(len(p) > 1 for p in parents.values())
    depths = {len(r.partitions[0]) for r in regions}
    assert len(depths) > 1


def test_several_roots_are_mixed_by_the_root_sums():
    rng = np.random.default_rng(5)
    roots = spn.random_region_graph(5, 2, 3, seed=2)
    model = dag_model(roots, "em")
    randomize(model, rng)
    assert abs(np_logsumexp(model(all_binary(5)).numpy())) < 1e-5


def tree(arities, variables):
    """A balanced tree splitting ``variables`` by ``arities`` (root first)."""
    if not arities:
        return (
            RegionNode([RegionVariable(v) for v in variables]) if len(variables) > 1 else RegionVariable(variables[0])
        )
    size = len(variables) // arities[0]
    return RegionNode([tree(arities[1:], variables[i * size : (i + 1) * size]) for i in range(arities[0])])


@pytest.mark.parametrize("arities", [[2, 2], [3, 2], [2, 2, 2]])
def test_compiled_tree_equals_the_dense_stack(arities):
    keras.utils.set_random_seed(1)
    num_vars = int(np.prod(arities)) * 1
    root = tree(arities[:-1], list(range(num_vars))) if len(arities) > 1 else tree([], list(range(num_vars)))
    dense = spn.region_graph_to_dense_spn(
        root, layers.IndicatorLeaf(2), itertools.cycle([3]), logspace_accumulators=True, sum_op="grad"
    )
    compiled = models.compile_region_graph(root, layers.IndicatorLeaf(2), num_sums=3, sum_op="grad")
    rng = np.random.default_rng(2)
    dense_sums = [layer for layer in dense.layers if isinstance(layer, layers.SumLayerBase)]
    compiled_sums = compiled.layers[-1].sum_layers
    assert len(dense_sums) == len(compiled_sums)
    for dense_layer, compiled_layer in zip(dense_sums, compiled_sums):
        values = rng.normal(size=dense_layer.accumulators.shape).astype("float32")
        dense_layer.accumulators.assign(values)
        compiled_layer.accumulators.assign(values.reshape(compiled_layer.accumulators.shape))
    data = all_binary(num_vars)
    np.testing.assert_allclose(compiled(data).numpy(), dense(data).numpy(), rtol=1e-5, atol=1e-5)
    marginal = data.copy()
    marginal[:, 1] = -1
    np.testing.assert_allclose(compiled.log_likelihood(marginal), dense.log_likelihood(marginal), atol=1e-5)


def test_marginals_completion_and_sampling_match_enumeration():
    rng = np.random.default_rng(3)
    root = random_dag(5, rng)
    model = dag_model(root, "em")
    randomize(model, rng)
    states = all_binary(5)
    joint = np.exp(model.log_likelihood(states))
    # Marginal of x0, x1 missing.
    evidence = states[:4].copy()
    evidence[:, :2] = -1
    expected = [np.log(joint[(states[:, 2:] == row[2:]).all(axis=1)].sum()) for row in evidence]
    np.testing.assert_allclose(model.log_likelihood(evidence), expected, atol=1e-5)
    # Posterior-marginal completion picks, per missing variable, the likelier value given the evidence.
    completed = model.complete(evidence)
    for row, filled in zip(evidence, completed):
        match = (states[:, 2:] == row[2:]).all(axis=1)
        for i in range(2):
            p_one = joint[match & (states[:, i] == 1)].sum() / joint[match].sum()
            if abs(p_one - 0.5) > 1e-3:
                assert filled[i] == int(p_one > 0.5)
    # Samples follow the distribution.
    samples = model.sample(4000, seed=0)
    codes = samples.astype(int) @ (2 ** np.arange(5)[::-1])
    frequencies = np.bincount(codes, minlength=32) / 4000
    assert np.abs(frequencies - joint).max() < 0.04
    mpe = model.mpe(evidence, seed=0)
    assert ((mpe == 0) | (mpe == 1)).all() and (mpe[:, 2:] == evidence[:, 2:]).all()


def test_em_training_xla_and_saving(tmp_path):
    keras.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    data = (rng.random((400, 6)) < [0.1, 0.8, 0.5, 0.3, 0.9, 0.6]).astype("float32")
    data[:, 1] = data[:, 0]
    data[:, 4] = 1 - data[:, 3]
    model = dag_model(random_dag(6, rng), "em")
    # log p(data) from the model's own call (eager; the data is complete, so it equals log_likelihood): the query
    # would compile once before and once after compile() (log_likelihood under XLA: test_query_batches.py).
    before = model(data).numpy().mean()
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=0.5), jit_compile=True)
    model.fit(data, batch_size=100, epochs=2, verbose=0)  # 8 steps gain about 2.2 nats, 6 epochs 2.4
    after = model(data).numpy().mean()
    assert after > before + 0.3
    assert all(np.isfinite(v.numpy()).all() for v in model.trainable_variables)
    model.save(tmp_path / "dag.keras")
    loaded = keras.models.load_model(tmp_path / "dag.keras")
    np.testing.assert_allclose(loaded(data).numpy(), model(data).numpy(), rtol=1e-6)
    assert str(loaded.layers[-1].roots[0]) == str(model.layers[-1].roots[0])


def test_gradient_training_on_a_dag():
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    data = (rng.random((300, 5)) < 0.3).astype("float32")
    data[:, 2] = data[:, 0]
    model = dag_model(random_dag(5, rng), "grad")
    before = model(data).numpy().mean()  # log p(data), eager as in test_em_training_xla_and_saving
    model.compile(optimizer=keras.optimizers.Adam(0.05), jit_compile=False)  # XLA: test_em_training_xla_and_saving
    model.fit(data, batch_size=50, epochs=5, verbose=0)
    assert model(data).numpy().mean() > before + 0.2


def test_deep_chain_reads_only_the_leaves_and_the_level_below():
    x = [RegionVariable(i) for i in range(101)]
    region = RegionNode([x[0], x[1]], product="elementwise")
    for i in range(2, 101):
        region = RegionNode([region, x[i]], product="elementwise")
    plans, num_vars = plan_region_graph([region], 4, 4)
    assert num_vars == 101 and len(plans) == 100
    for level, plan in enumerate(plans):
        sources = {source for entries in plan.tables.values() for source, _ in entries}
        assert sources <= {0, level}
    model = models.compile_region_graph(region, layers.NormalLeaf(num_components=4), num_sums=4)
    out = model(tf.random.normal([3, 101]))
    assert out.shape == (3, 1) and np.isfinite(out.numpy()).all()


def test_elementwise_products_of_unequal_sizes_raise():
    x = [RegionVariable(i) for i in range(3)]
    root = RegionNode([RegionNode([x[0], x[1]]), x[2]], product="elementwise")
    with pytest.raises(ValueError, match="elementwise product needs children with equally many nodes"):
        models.compile_region_graph(root, layers.IndicatorLeaf(2), num_sums=3)


def test_a_region_graph_that_skips_a_variable_is_refused():
    # Variables 0, 1 and 3: input 2 would be read by no region, and the model would sum to 2 over its four inputs.
    graph = RegionNode([RegionNode([RegionVariable(0), RegionVariable(1)]), RegionVariable(3)])
    with pytest.raises(ValueError, match=r"does not cover variables \[2\].*0 \.\. 3"):
        models.compile_region_graph(graph, layers.IndicatorLeaf(2), num_sums=2, num_input_sums=2)
