"""``prune_partitions`` keeps each region's best partition (by expected flow) and copies the kept weights.

Reference: the ORIGINAL model with the weights of every removed partition set to 0. A sum whose removed children
have weight 0 is exactly the old sum restricted to its kept children (normalized), which is what the pruned model
must compute; compared on all 64 binary states. With ``threshold=1.0`` no partition of a region with several
reaches the threshold, so each region keeps only its partition of largest flow.
"""

import numpy as np
import pytest
from tensorflow import keras

from libspn_keras import layers, models, optimizers
from libspn_keras.region_graph import RegionNode, topological_regions
from libspn_keras.structure import partition_flows, poon_domingos_region_graph, prune_partitions
from libspn_keras.structure.plan import region_slots


def all_binary(num_vars):
    return ((np.arange(2**num_vars)[:, None] >> np.arange(num_vars)) & 1).astype(np.int32)


def trained_model(seed=2, several_roots=False):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(seed)
    data = (rng.random((600, 6)) < [0.2, 0.7, 0.5, 0.4, 0.8, 0.3]).astype("int32")
    # The image is 2 x 3 (variable row * 3 + col): each variable of the second row copies the one above it, so
    # the root's best partition is the one that keeps columns together, not its first.
    data[:, 3:] = data[:, :3] ^ (rng.random((600, 3)) < 0.05)
    roots = poon_domingos_region_graph(2, 3, 1)
    if several_roots:  # mixed by a region the layer adds over them
        roots = [roots, poon_domingos_region_graph(3, 2, 1)]
    model = models.compile_region_graph(roots, layers.IndicatorLeaf(2), num_sums=3, num_input_sums=3, sum_op="em")
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=0.5), jit_compile=False)
    model.fit(data, batch_size=200, epochs=3, verbose=0)
    return model, data


@pytest.mark.parametrize("several_roots", [False, True])
def test_pruning_to_the_best_partition_equals_zeroing_the_others(tmp_path, several_roots):
    model, data = trained_model(several_roots=several_roots)
    layer = model.layers[-1]
    flows = partition_flows(model, data)
    top = layer.plans[-1].regions[0]
    regions = [r for r in topological_regions([top]) if isinstance(r, RegionNode)]
    assert any(len(r.partitions) > 2 for r in regions)
    # The best partition of the root is not its first: otherwise copying the first partitions' weights would pass.
    best = {id(r): int(np.argmax(flows[id(r)])) for r in regions}
    if not several_roots:
        assert best[id(top)] != 0

    pruned, report = prune_partitions(model, data, threshold=1.0)
    assert report["partitions_removed"] == sum(len(r.partitions) - 1 for r in regions)
    assert all(
        len(r.partitions) == 1 for r in topological_regions(pruned.layers[-1].roots) if isinstance(r, RegionNode)
    )

    # The reference: the original model with every partition but the best one at weight 0.
    values = [sums.accumulators.numpy() for sums in layer.sum_layers]
    for region in regions:
        index, row, columns = region_slots(layer.plans)[id(region)]
        for k, (first, stop) in enumerate(columns):
            if k != best[id(region)]:
                values[index][row, 0, first:stop] = 0.0
    for sums, value in zip(layer.sum_layers, values):
        sums.accumulators.assign(value)
    x = all_binary(6)
    np.testing.assert_allclose(pruned.log_likelihood(x), model.log_likelihood(x), rtol=1e-5, atol=1e-5)
    if several_roots:  # one root is left: the region mixing the roots stays, over that one
        assert len(pruned.layers[-1].roots) == 1 and len(layer.roots) == 2
        pruned.save(tmp_path / "pruned.keras")
        loaded = keras.models.load_model(tmp_path / "pruned.keras")
        np.testing.assert_allclose(loaded.log_likelihood(x), pruned.log_likelihood(x), rtol=1e-6)
