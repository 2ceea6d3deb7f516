"""Builder and initializer options without a test of their own: ``input_dims`` of the region-graph builders, a custom
``leaf`` and ``mutual_information_pseudocount`` of ``build_hclt``, ``stop_epsilon`` and ``normalization_epsilon`` of
``KMeans``, the package version, and how Fashion-MNIST is found. Checked against numpy densities, enumeration,
brute-force spanning trees, a numpy Lloyd's algorithm and fake installations."""

import gzip
import importlib.metadata
import itertools
import os
import stat
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from reference import all_binary, normalized_weights, np_logsumexp, randomize_accumulators
from tensorflow import keras
from test_extension_points import BernoulliLeaf

import libspn_keras
from libspn_keras import datasets, layers, models
from libspn_keras.datasets import fashion_mnist
from libspn_keras.initializers import KMeans
from libspn_keras.region_graph import RegionNode, RegionVariable

LOG_2PI = np.log(2.0 * np.pi)


def normal_logpdf(x, loc, scale):
    return -0.5 * ((x - loc) / scale) ** 2 - np.log(scale) - 0.5 * LOG_2PI


def normal_leaf(rng, num_vars, num_components, dims):
    """A NormalLeaf with random locations and scales ``[vars, 1, K, d]``; returns it and them (float64)."""
    loc = rng.normal(scale=1.5, size=(num_vars, 1, num_components, dims)).astype(np.float32)
    scale = rng.uniform(0.5, 2.0, size=loc.shape).astype(np.float32)
    leaf = layers.NormalLeaf(
        num_components=num_components,
        location_initializer=keras.initializers.Constant(loc),
        scale_initializer=keras.initializers.Constant(scale),
    )
    return leaf, loc[:, 0].astype(np.float64), scale[:, 0].astype(np.float64)


def component_log_densities(x, loc, scale):
    """``log prod_d N(x_vd; loc_vkd, scale_vkd)``, ``[N, vars, K]``, for ``x`` ``[N, vars, d]``."""
    return normal_logpdf(x[:, :, None, :], loc[None], scale[None]).sum(axis=-1)


# --------------------------------------------------------------------------------------------------------------
# C. input_dims of compile_region_graph and region_graph_to_dense_spn


def test_compile_region_graph_with_two_dims_per_variable_is_the_numpy_mixture():
    rng = np.random.default_rng(0)
    leaf, loc, scale = normal_leaf(rng, num_vars=3, num_components=2, dims=2)
    root = RegionNode([RegionVariable(v) for v in range(3)], product="elementwise")
    model = models.compile_region_graph(root, leaf, num_sums=2, input_dims=2)
    assert model.input_shape == (None, 3, 2)
    x = rng.normal(scale=2.0, size=(16, 3, 2)).astype(np.float32)
    model(x)
    (sums,) = model.layers[-1].sum_layers
    randomize_accumulators(model.layers[-1], rng)
    weights = normalized_weights(sums).reshape(2)  # one root sum over the 2 elementwise products
    # p(x) = sum_k w_k prod_v prod_d N(x_vd; loc_vkd, scale_vkd)
    expected = np_logsumexp(np.log(weights) + component_log_densities(x, loc, scale).sum(axis=1), axis=1)
    np.testing.assert_allclose(model.predict(x, verbose=0)[:, 0], expected, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError):
        model.predict(x[:, :, 0], verbose=0)


def test_compile_region_graph_with_two_dims_per_variable_sums_to_one_over_binary_pairs():
    root = RegionNode([RegionNode([RegionVariable(0), RegionVariable(1)]), RegionVariable(2)], product="outer")
    model = models.compile_region_graph(
        root, layers.IndicatorLeaf(num_components=2), num_sums=2, num_input_sums=3, input_dims=2
    )
    assert model.input_shape == (None, 3, 2)
    x = all_binary(6).reshape(-1, 3, 2).astype(np.float32)
    model(x[:1])
    randomize_accumulators(model, np.random.default_rng(1))
    randomize_accumulators(model.layers[-1], np.random.default_rng(2))
    log_p = model(x).numpy()[:, 0]
    # Each variable is a pair of binary values, all 64 assignments enumerated: a normalized network.
    assert abs(np_logsumexp(log_p)) < 1e-5
    assert np.ptp(log_p) > 0.5


def test_region_graph_to_dense_spn_with_two_dims_per_variable_is_the_numpy_mixture():
    rng = np.random.default_rng(3)
    leaf, loc, scale = normal_leaf(rng, num_vars=2, num_components=2, dims=2)
    model = libspn_keras.region_graph_to_dense_spn(
        RegionNode([RegionVariable(0), RegionVariable(1)]), leaf, num_sums_iterable=[], input_dims=2
    )
    assert model.input_shape == (None, 2, 2)
    x = rng.normal(scale=2.0, size=(16, 2, 2)).astype(np.float32)
    model(x)
    randomize_accumulators(model, rng)
    (permutation,) = next(layer for layer in model.layers if isinstance(layer, layers.PermuteAndPadScopes)).permutations
    weights = normalized_weights(model.layers[-1])[:, 0]  # [i * 2 + j]
    log_leaf = component_log_densities(x, loc, scale)[:, list(permutation)]  # [N, scope, K]
    products = (log_leaf[:, 0, :, None] + log_leaf[:, 1, None, :]).reshape(len(x), 4)
    expected = np_logsumexp(np.log(weights) + products, axis=1)
    np.testing.assert_allclose(model.predict(x, verbose=0)[:, 0], expected, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError):
        model.predict(x[:, :, 0], verbose=0)


def test_region_graph_to_dense_spn_with_two_dims_per_variable_sums_to_one_over_binary_pairs():
    pairs = [RegionNode([RegionVariable(0), RegionVariable(1)]), RegionNode([RegionVariable(2), RegionVariable(3)])]
    model = libspn_keras.region_graph_to_dense_spn(
        RegionNode(pairs), layers.IndicatorLeaf(num_components=2), num_sums_iterable=[2], input_dims=2
    )
    assert model.input_shape == (None, 4, 2)
    x = all_binary(8).reshape(-1, 4, 2)
    model(x[:1])
    randomize_accumulators(model, np.random.default_rng(4))
    log_p = model(x).numpy()[:, 0]
    assert abs(np_logsumexp(log_p)) < 1e-5
    assert np.ptp(log_p) > 0.5


# --------------------------------------------------------------------------------------------------------------
# D. build_hclt: leaf= and mutual_information_pseudocount=


def test_build_hclt_uses_the_given_leaf_and_normalizes():
    rng = np.random.default_rng(5)
    data = (rng.random((60, 4)) < [0.2, 0.5, 0.7, 0.4]).astype(np.int32)
    data[:, 1] = data[:, 0] ^ (rng.random(60) < 0.1)
    leaf = BernoulliLeaf(num_components=3)
    model = models.build_hclt(data, num_latents=3, leaf=leaf, sum_op="grad")
    assert any(layer is leaf for layer in model.layers)
    assert not any(isinstance(layer, (layers.IndicatorLeaf, layers.DenseSum)) for layer in model.layers)
    x = all_binary(4)
    randomize_accumulators(model.layers[-1], rng)
    log_p = model(x).numpy()[:, 0]
    assert abs(np_logsumexp(log_p)) < 1e-5
    # The leaf's parameters decide the outputs: making every component the same Bernoulli(p) for every variable
    # leaves p^(ones) (1 - p)^(zeros), whatever the latent weights.
    leaf.logits.assign(np.full(leaf.logits.shape, np.log(0.3 / 0.7), np.float32))
    expected = x.sum(axis=1) * np.log(0.3) + (4 - x.sum(axis=1)) * np.log(0.7)
    np.testing.assert_allclose(model(x).numpy()[:, 0], expected, atol=1e-5)


# Three binary variables, as counts of the patterns x0 + 2 x1 + 4 x2. x2 is rare and 1 only where x0 = x1 = 0:
# unsmoothed, the empty cells of its tables make its links the strongest and x0-x1 (almost independent) the
# weakest; smoothed with 5 per cell, the rare cells weigh little and the x1-x2 link is the weakest.
PATTERN_COUNTS = [10, 7, 6, 3, 3, 0, 0, 0]


def pattern_data():
    return np.repeat(all_binary(3), PATTERN_COUNTS, axis=0)


def smoothed_mutual_information(data, i, j, pseudocount):
    """Mutual information (nats) of the 2 x 2 table of columns ``i``, ``j`` with ``pseudocount`` added to each cell."""
    table = np.array([[np.sum((data[:, i] == a) & (data[:, j] == b)) for b in (0, 1)] for a in (0, 1)], float)
    joint = (table + pseudocount) / (table + pseudocount).sum()
    outer = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum(np.where(joint > 0, joint * np.log(joint / outer), 0.0)))


def brute_force_chow_liu_edges(data, pseudocount):
    """Edges of the spanning tree of largest total mutual information, over every spanning tree of 3 variables."""
    pairs = list(itertools.combinations(range(data.shape[1]), 2))
    weight = {pair: smoothed_mutual_information(data, *pair, pseudocount) for pair in pairs}
    trees = sorted((sum(weight[e] for e in tree), tree) for tree in itertools.combinations(pairs, 2))
    assert trees[-1][0] > 1.2 * trees[-2][0]  # a clear winner
    return {frozenset(edge) for edge in trees[-1][1]}


def hclt_edges(model):
    """Edges of the tree held by a single-tree HCLT: each region is its variable times its children's regions."""
    edges = set()

    def walk(region, parent):
        variable, *children = region.partitions[0]
        if parent is not None:
            edges.add(frozenset((parent, variable.index)))
        for child in children:
            walk(child, variable.index)

    (root,) = model.layers[-1].roots
    walk(root, None)
    return edges


def test_mutual_information_pseudocount_decides_the_tree_as_the_smoothed_counts_say():
    data = pattern_data()
    trees = {}
    for pseudocount in (0.0, 5.0):
        model = models.build_hclt(data, num_latents=2, mutual_information_pseudocount=pseudocount)
        trees[pseudocount] = hclt_edges(model)
        assert trees[pseudocount] == brute_force_chow_liu_edges(data, pseudocount)
    assert trees[0.0] != trees[5.0]
    assert trees[0.0] == {frozenset((0, 2)), frozenset((1, 2))}  # x2 linked to both, as argued above
    assert abs(np_logsumexp(model(all_binary(3)).numpy())) < 1e-5


# --------------------------------------------------------------------------------------------------------------
# E. KMeans(stop_epsilon=..., normalization_epsilon=...)

SHAPE = (2, 3, 2)  # [cells, K, d]
LLOYD = dict(
    data_fraction=1.0,
    group_centroids=False,
    centroid_initialization="random",
    seed=4,
    max_num_clusters=3,
)


def blob_data():
    rng = np.random.default_rng(1)
    return rng.normal(size=(80, 2, 2)) + rng.integers(0, 3, size=(80, 2, 1)) * 1.2


def np_lloyd(data, centres, max_iters, stop_epsilon):
    """Lloyd's algorithm per cell (``data`` ``[N, C, d]``, ``centres`` ``[C, k, d]``), stopping once the mean squared
    distance to the nearest centre changed by less than ``stop_epsilon`` since the previous iteration."""
    previous = None
    for _ in range(max_iters):
        distances = ((data[:, :, None, :] - centres[None]) ** 2).sum(axis=-1)  # [N, C, k]
        nearest, mse = distances.argmin(axis=-1), distances.min(axis=-1).mean()
        centres = centres.copy()
        for c, k in itertools.product(range(centres.shape[0]), range(centres.shape[1])):
            members = data[nearest[:, c] == k, c]
            if len(members):
                centres[c, k] = members.mean(axis=0)
        if previous is not None and abs(previous - mse) < stop_epsilon:
            break
        previous = mse
    return np.take_along_axis(centres, np.argsort(centres[..., 0], axis=-1)[..., None], axis=1)


def is_lloyd_fixed_point(data, centres):
    distances = ((data[:, :, None, :] - centres[None]) ** 2).sum(axis=-1)
    nearest = distances.argmin(axis=-1)
    return all(
        np.allclose(data[nearest[:, c] == k, c].mean(axis=0), centres[c, k], atol=1e-5)
        for c, k in itertools.product(range(centres.shape[0]), range(centres.shape[1]))
    )


def lloyd_centres(data, **kwargs):
    """``KMeans`` locations ``[cells, K, d]`` of unnormalized ``data``, seeded alike in every call."""
    return KMeans(data, samplewise_normalization=False, **LLOYD, **kwargs)(SHAPE).numpy().astype(np.float64)


def test_kmeans_stop_epsilon_stops_lloyd_as_the_mean_squared_distance_settles():
    data = blob_data()
    start = lloyd_centres(data, num_iters=0)  # the seeds, no iteration
    early = lloyd_centres(data, num_iters=100, stop_epsilon=1e9)
    converged = lloyd_centres(data, num_iters=100, stop_epsilon=1e-12)
    # A huge stop_epsilon stops at the first comparison of two iterations' distances, after the second update.
    np.testing.assert_allclose(early, np_lloyd(data, start, 100, 1e9), atol=1e-5)
    np.testing.assert_allclose(early, lloyd_centres(data, num_iters=2, stop_epsilon=0.0))
    np.testing.assert_allclose(converged, np_lloyd(data, start, 100, 1e-12), atol=1e-5)
    assert is_lloyd_fixed_point(data, converged)
    assert not is_lloyd_fixed_point(data, early)
    assert np.abs(early - converged).max() > 0.05


def test_kmeans_normalization_epsilon_is_added_to_each_samples_standard_deviation():
    data = blob_data() * 3.0 + 1.0
    data[0] = 2.5  # a constant sample: standard deviation 0, kept finite by the epsilon
    results = {}
    for epsilon in (1e-2, 10.0):
        normalized = KMeans(data, samplewise_normalization=True, normalization_epsilon=epsilon, **LLOYD)
        axes = (1, 2)
        by_hand = (data - data.mean(axis=axes, keepdims=True)) / (data.std(axis=axes, keepdims=True) + epsilon)
        unnormalized = KMeans(by_hand, samplewise_normalization=False, **LLOYD)
        results[epsilon] = normalized(SHAPE).numpy()
        assert np.isfinite(results[epsilon]).all()
        np.testing.assert_allclose(results[epsilon], unnormalized(SHAPE).numpy(), atol=1e-6)
    # Samples of standard deviation s are scaled by 1 / (s + epsilon): with s about 3 here, epsilon = 10 shrinks the
    # normalized data, and so the centres, about fourfold.
    spread = {epsilon: np.ptp(centres) for epsilon, centres in results.items()}
    assert spread[10.0] < spread[1e-2] / 3


# --------------------------------------------------------------------------------------------------------------
# F. The version, and finding Fashion-MNIST

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_the_one_packaged():
    assert libspn_keras.__version__ == importlib.metadata.version("libspn-keras")
    setup = subprocess.run(
        [sys.executable, "setup.py", "--version"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert setup.stdout.strip().splitlines()[-1] == libspn_keras.__version__


def write_idx(path, array):
    """A gzip-compressed IDX file of unsigned bytes: magic 0 0 8 ndim, big-endian int32 dims, the values."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def fake_fashion_mnist(folder, rng):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(3, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, size=3),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(2, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, size=2),
    }
    for stem, array in arrays.items():
        write_idx(folder / (stem + ".gz"), array)
    return arrays


def fake_dpkg(bin_dir, listing):
    """A ``dpkg`` on ``PATH`` that answers ``dpkg -L dataset-fashion-mnist`` with ``listing`` (else fails)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    lines = "".join(f"echo '{line}'\n" for line in listing)
    script = bin_dir / "dpkg"
    script.write_text(
        '#!/bin/sh\nif [ "$1" = "-L" ] && [ "$2" = "dataset-fashion-mnist" ]; then\n'
        f"{lines}exit 0\nfi\n"
        "echo \"dpkg-query: package '$2' is not installed\" >&2\nexit 1\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def nothing_installed(tmp_path, monkeypatch):
    """No Debian folder and no dpkg: ``DEBIAN_DIR`` points at an empty folder, ``PATH`` at an empty one."""
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(tmp_path / "empty_debian_dir"))
    (tmp_path / "empty_bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty_bin"))
    return tmp_path


def test_find_fashion_mnist_dir_returns_the_debian_folder(tmp_path, monkeypatch):
    folder = tmp_path / "debian" / "fashion-mnist"
    fake_fashion_mnist(folder, np.random.default_rng(0))
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(folder))
    assert datasets.find_fashion_mnist_dir() == str(folder)


def test_find_fashion_mnist_dir_asks_dpkg_where_the_package_put_its_files(nothing_installed, monkeypatch):
    elsewhere = nothing_installed / "elsewhere" / "fashion"
    listing = ["/.", "/usr/share/doc/dataset-fashion-mnist", str(elsewhere / "train-images-idx3-ubyte.gz")]
    fake_dpkg(nothing_installed / "bin", listing)
    monkeypatch.setenv("PATH", str(nothing_installed / "bin"))
    assert datasets.find_fashion_mnist_dir() == str(elsewhere)


def test_find_fashion_mnist_dir_is_none_when_nothing_is_installed(nothing_installed, monkeypatch):
    assert datasets.find_fashion_mnist_dir() is None  # no dpkg at all
    fake_dpkg(nothing_installed / "bin", listing=[])
    monkeypatch.setenv("PATH", str(nothing_installed / "bin"))
    assert subprocess.run(["dpkg", "-L", "other"], capture_output=True).returncode == 1
    assert datasets.find_fashion_mnist_dir() is None  # dpkg without the package


def test_load_fashion_mnist_without_a_folder_reads_the_installed_one(tmp_path, monkeypatch):
    folder = tmp_path / "installed"
    arrays = fake_fashion_mnist(folder, np.random.default_rng(1))
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(folder))
    (x_train, y_train), (x_test, y_test) = datasets.load_fashion_mnist(idx_dir=None)
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(x_test, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])
    assert x_train.dtype == np.uint8 and x_train.shape == (3, 28, 28)


def test_load_fashion_mnist_falls_back_to_keras_when_nothing_is_installed(nothing_installed, monkeypatch):
    sentinel = ((np.zeros((1, 28, 28), np.uint8), np.zeros(1, np.uint8)),) * 2
    calls = []
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", lambda: calls.append(1) or sentinel)
    assert datasets.load_fashion_mnist() is sentinel
    assert calls == [1]
    assert os.listdir(nothing_installed) == ["empty_bin"]  # nothing was written or downloaded here
