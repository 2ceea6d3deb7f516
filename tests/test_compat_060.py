"""libspn-keras 0.6.0's API as its users wrote it: import paths, tutorial-style models, training, checked in numpy.

Every model here is written the way 0.6.0's tutorials and API reference
wrote them (global sum ops, ``input_shape=`` and ``dtype=tf.int32`` on the
first layer, ``[x, sequence_lens]`` for dynamic SPNs, one metric object),
and checked against independent numpy references or by enumeration.
"""

import importlib
import itertools

import numpy as np
import pytest
import tensorflow as tf
from reference import all_binary, normalized_weights, np_logsumexp
from tensorflow import keras

import libspn_keras as spnk
from libspn_keras import layers, models

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")

# --- import paths ----------------------------------------------------------------------------------------------

ORIGINAL_NAMES = {
    "libspn_keras": [
        "config", "get_default_accumulator_initializer", "set_default_accumulator_initializer",
        "set_default_logspace_accumulators_constraint", "set_default_linear_accumulators_constraint",
        "get_default_linear_accumulators_constraint", "get_default_logspace_accumulators_constraint",
        "get_default_sum_op", "set_default_sum_op", "logspace_wrapper_initializer", "optimizers", "metrics",
        "losses", "layers", "constraints", "RegionNode", "RegionVariable", "region_graph_to_dense_spn",
        "visualize_dense_spn", "initializers", "models", "SumOpSampleBackprop", "SumOpUnweightedHardEMBackprop",
        "SumOpHardEMBackprop", "SumOpEMBackprop", "SumOpGradBackprop",
    ],
    "libspn_keras.config": ["get_default_sum_op", "set_default_sum_op"],
    "libspn_keras.config.sum_op": ["get_default_sum_op", "set_default_sum_op"],
    "libspn_keras.config.accumulator_initializer": [
        "get_default_accumulator_initializer", "set_default_accumulator_initializer",
    ],
    "libspn_keras.config.linear_accumulator_constraint": [
        "get_default_linear_accumulators_constraint", "set_default_linear_accumulators_constraint",
    ],
    "libspn_keras.config.logspace_accumulator_constraint": [
        "get_default_logspace_accumulators_constraint", "set_default_logspace_accumulators_constraint",
    ],
    "libspn_keras.layers": [
        "Conv2DProduct", "DenseProduct", "DenseSum", "IndicatorLeaf", "NormalLeaf", "LaplaceLeaf", "CauchyLeaf",
        "LocationScaleLeafBase", "LogDropout", "SpatialToRegions", "RootSum", "Local2DSum", "Undecompose",
        "NormalizeAxes", "NormalizeStandardScore", "BaseLeaf", "PermuteAndPadScopes", "FlatToRegions",
        "ReduceProduct", "PermuteAndPadScopesRandom", "TemporalDenseProduct", "Conv2DSum",
    ],
    "libspn_keras.layers.base_leaf": ["BaseLeaf", "LeafRepresentation"],
    "libspn_keras.layers.location_scale_leaf": ["LocationScaleLeafBase", "NormalLeaf", "LaplaceLeaf", "CauchyLeaf"],
    "libspn_keras.layers.normalize_standard_score": ["NormalizeAxes", "NormalizeStandardScore"],
    "libspn_keras.initializers": [
        "Dirichlet", "EpsilonInverseFanIn", "Equidistant", "PoonDomingosMeanOfQuantileSplit", "KMeans",
        "PoonDomingosStddevOfQuantileSplit",
    ],
    "libspn_keras.initializers.kmeans": ["KMeans"],
    "libspn_keras.initializers.poon_domingos": [
        "PoonDomingosMeanOfQuantileSplit", "PoonDomingosStddevOfQuantileSplit",
    ],
    "libspn_keras.logspace": ["logspace_wrapper_initializer"],
    "libspn_keras.constraints": ["Clip", "GreaterEqualEpsilon", "GreaterEqualEpsilonNormalized", "LogNormalized"],
    "libspn_keras.metrics": ["LogLikelihood", "LogJoint"],
    "libspn_keras.losses": ["NegativeLogLikelihood", "NegativeLogJoint"],
    "libspn_keras.optimizers": ["OnlineExpectationMaximization"],
    "libspn_keras.models": ["DynamicSumProductNetwork", "SumProductNetwork", "SequentialSumProductNetwork"],
    "libspn_keras.models.dynamic_spn": ["DynamicSumProductNetwork"],
    "libspn_keras.models.sequential_spn": ["SequentialSumProductNetwork"],
    "libspn_keras.models.spn": ["SumProductNetwork"],
    "libspn_keras.sum_ops": [
        "SumOpUnweightedHardEMBackprop", "SumOpSampleBackprop", "SumOpBase", "SumOpGradBackprop",
        "SumOpEMBackprop", "SumOpHardEMBackprop",
    ],
    "libspn_keras.sum_ops.grad_backprop": ["SumOpGradBackprop"],
    "libspn_keras.sum_ops.em_backprop": ["SumOpEMBackprop"],
    "libspn_keras.sum_ops.hard_em_backprop": ["SumOpHardEMBackprop"],
    "libspn_keras.sum_ops.unweighted_hard_em_backprop": ["SumOpUnweightedHardEMBackprop"],
    "libspn_keras.sum_ops.sample_backprop": ["SumOpSampleBackprop"],
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(ORIGINAL_NAMES))
def test_every_060_name_imports_from_its_060_path(module):
    imported = importlib.import_module(module)
    missing = [name for name in ORIGINAL_NAMES[module] if not hasattr(imported, name)]
    assert not missing, f"{module} lacks {missing}"


def test_each_060_name_is_one_object_on_every_path():
    # A path bound to a stale copy or another class would pass the test above; scripts that mix paths (isinstance,
    # registration, set_default_sum_op) need the very same object.
    found = {}
    for module, names in ORIGINAL_NAMES.items():
        imported = importlib.import_module(module)
        for name in names:
            found.setdefault(name, {})[module] = getattr(imported, name)
    shared = {name: paths for name, paths in found.items() if len(paths) > 1}
    assert len(shared) >= 25
    for name, paths in shared.items():
        objects = list(paths.values())
        assert all(obj is objects[0] for obj in objects), f"{name} differs between {sorted(paths)}"
    assert type(spnk.sum_ops.get("em")) is found["SumOpEMBackprop"]["libspn_keras.sum_ops.em_backprop"]
    assert found["BaseLeaf"]["libspn_keras.layers"] is layers.LeafBase


# Subclass relations among 0.6.0's public classes, read from its source: scripts that pick layers out of a model
# with isinstance (0.6.0's own drawing code does) find the same layers here.
SUBCLASSES_060 = {
    "PermuteAndPadScopesRandom": "PermuteAndPadScopes",
    "Conv2DSum": "DenseSum",
    "Local2DSum": "DenseSum",
    "RootSum": "DenseSum",
    "IndicatorLeaf": "BaseLeaf",
    "NormalLeaf": "LocationScaleLeafBase",
    "LaplaceLeaf": "LocationScaleLeafBase",
    "CauchyLeaf": "LocationScaleLeafBase",
    "LocationScaleLeafBase": "BaseLeaf",
}


@pytest.mark.parametrize("name,base", sorted(SUBCLASSES_060.items()))
def test_060_class_hierarchy(name, base):
    assert issubclass(getattr(layers, name), getattr(layers, base))


def test_060_subclasses_keep_their_own_configs():
    root = layers.RootSum(return_weighted_child_logits=False)
    assert root.num_sums == 1 and "num_sums" not in root.get_config()
    assert layers.RootSum.from_config(root.get_config()).get_config() == root.get_config()
    random = layers.PermuteAndPadScopesRandom(factors=[2, 2], seed=3)
    random(np.zeros((1, 3, 2, 2), "float32"))
    assert "permutations" not in random.get_config()
    assert layers.PermuteAndPadScopesRandom.from_config(random.get_config()).get_config() == random.get_config()


def test_config_submodules_share_one_state():
    from libspn_keras.config.sum_op import get_default_sum_op, set_default_sum_op

    try:
        set_default_sum_op(spnk.SumOpEMBackprop())
        assert isinstance(spnk.get_default_sum_op(), spnk.SumOpEMBackprop)
        assert isinstance(layers.DenseSum(num_sums=2).sum_op, spnk.SumOpEMBackprop)
    finally:
        set_default_sum_op(None)
    assert isinstance(get_default_sum_op(), spnk.SumOpGradBackprop)


def test_060_leaf_and_root_attributes():
    """0.6.0's ``loc``, ``get_modes()`` ``[1, *cells, K, d]``, ``get_leaf_representation(size)`` and the root's
    ``num_sums``, checked against the variables in numpy."""
    normal = layers.NormalLeaf(num_components=3)
    normal.build((None, 4, 2, 1))
    location = np.random.default_rng(0).normal(size=(4, 2, 3, 1)).astype(np.float32)
    normal.location.assign(location)
    assert normal.loc is normal.location
    np.testing.assert_array_equal(normal.get_modes().numpy(), location[None])
    np.testing.assert_array_equal(normal.get_leaf_representation(5).numpy(), np.repeat(location[None], 5, axis=0))
    sampled = layers.NormalLeaf(num_components=3, leaf_representation=layers.LeafRepresentation.SAMPLE)
    sampled.build((None, 4, 2, 1))
    draws = sampled.get_leaf_representation(200).numpy()
    spread = draws - sampled.location.numpy()[None]
    assert draws.shape == (200, 4, 2, 3, 1) and abs(spread.std() - 1.0) < 0.1  # draws around each location, scale 1
    em = layers.NormalLeaf(num_components=3, use_accumulators=True)
    em.build((None, 4, 2, 1))
    with pytest.raises(AttributeError, match="location_tensor"):
        em.loc  # noqa: B018 -- the attribute access is what is tested

    indicator = layers.IndicatorLeaf(num_components=2)
    indicator.build((None, 3, 2, 1))
    expected = np.broadcast_to(np.arange(2, dtype=np.float32)[:, None], (4, 3, 2, 2, 1))
    np.testing.assert_array_equal(indicator.get_leaf_representation(4).numpy(), expected)
    assert layers.RootSum().num_sums == 1


# --- numpy references of the layers ----------------------------------------------------------------------------


def np_sum(x, weights):
    """Sums ``[batch, *lead, children]`` with normalized weights ``[*lead, children, sums]`` in log space."""
    return np_logsumexp(x[..., :, None] + np.log(weights)[None], axis=-2)


def np_dense_product(x):
    """Two-factor products of adjacent scopes ``[batch, scopes, decomps, n]`` -> ``[.., scopes/2, .., n*n]``."""
    left, right = x[:, 0::2], x[:, 1::2]
    outer = left[..., :, None] + right[..., None, :]
    return outer.reshape(*outer.shape[:-2], -1)


def np_permute(x, permutations):
    """Scope ``permutations[r][j]`` of decomposition ``r`` at position ``j``; index ``scopes`` is padding (0)."""
    padded = np.concatenate([x, np.zeros_like(x[:, :1])], axis=1)
    return np.stack([padded[:, permutations[r], r] for r in range(x.shape[2])], axis=2)


def np_layer(layer, x):
    """The output of a 0.6.0 region layer for input ``x``, computed in numpy from the layer's settings."""
    name = type(layer).__name__
    if name == "FlatToRegions":
        return np.repeat(x[:, :, None, None], layer.num_decomps, axis=2).astype(np.float64)
    if name == "IndicatorLeaf":
        return np.where(np.arange(layer.num_components) == x, 0.0, -np.inf)
    if name == "NormalLeaf":
        loc, scale = layer.location.numpy(), layer.scale.numpy()
        log_pdf = -0.5 * ((x[..., None, :] - loc) / scale) ** 2 - np.log(scale * np.sqrt(2 * np.pi))
        return log_pdf.sum(axis=-1)
    if name == "DenseSum":
        return np_sum(x, normalized_weights(layer))
    if name == "PermuteAndPadScopesRandom":
        return np_permute(x, np.asarray(layer.permutations))
    if name == "ReduceProduct":
        return x.reshape(x.shape[0], -1, layer.num_factors, *x.shape[2:]).sum(axis=2)
    if name == "DenseProduct":
        return np_dense_product(x)
    if name == "RootSum":
        children = x.reshape(len(x), -1)
        weighted = children + np.log(normalized_weights(layer))[:, 0]
        return weighted if layer.return_weighted_child_logits else np_logsumexp(weighted, axis=1)[:, None]
    raise AssertionError(name)


def check_layer_by_layer(model, x):
    h_ours, h_np = tf.convert_to_tensor(x), np.asarray(x)
    for layer in model.layers:
        h_ours, h_np = layer(h_ours), np_layer(layer, h_np)
        ours = h_ours.numpy()
        assert ours.shape == h_np.shape, type(layer).__name__
        np.testing.assert_array_equal(np.isneginf(ours), np.isneginf(h_np), err_msg=type(layer).__name__)
        finite = np.isfinite(h_np)
        np.testing.assert_allclose(ours[finite], h_np[finite], rtol=1e-4, atol=1e-4, err_msg=type(layer).__name__)
    np.testing.assert_allclose(model(x).numpy(), h_np, rtol=1e-4, atol=1e-4)
    return h_np


def rat_spn(num_vars, leaf, num_decomps=3, sums=3, depth=2, num_classes=1, dtype=None):
    """The RAT-SPN of 0.6.0's tutorials in a ``SequentialSumProductNetwork``."""
    return models.SequentialSumProductNetwork(rat_stack(num_vars, leaf, num_decomps, sums, depth, num_classes, dtype))


def rat_stack(num_vars, leaf, num_decomps=3, sums=3, depth=2, num_classes=1, dtype=None):
    """The layers of 0.6.0's tutorial RAT-SPN: ``FlatToRegions(input_shape=, dtype=)``, leaf, products and sums."""
    first = dict(num_decomps=num_decomps, input_shape=[num_vars])
    if dtype is not None:
        first["dtype"] = dtype
    stack = [layers.FlatToRegions(**first), leaf, layers.DenseSum(num_sums=sums), layers.PermuteAndPadScopesRandom()]
    stack.append(layers.ReduceProduct(num_factors=int(np.ceil(num_vars / 2**depth))))
    for level in range(depth):
        stack += [layers.DenseProduct(num_factors=2), layers.DenseSum(num_sums=sums if level < depth - 1 else 1)]
    stack.append(layers.RootSum(return_weighted_child_logits=num_classes > 1))
    return stack


def randomize(model, seed):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if hasattr(layer, "accumulators"):
            value = rng.normal(scale=1.5, size=tuple(layer.accumulators.shape))
            layer.accumulators.assign(value if layer.logspace_accumulators else np.exp(value))
        if hasattr(layer, "location"):
            layer.location.assign(rng.normal(size=layer.location.shape))
            layer.scale.assign(rng.uniform(0.5, 2.0, size=layer.scale.shape))


# --- discrete and continuous SPNs, layer by layer ---------------------------------------------------------------


def test_discrete_rat_spn_layer_by_layer_and_normalized():
    keras.utils.set_random_seed(0)
    model = rat_spn(6, layers.IndicatorLeaf(num_components=2), dtype=tf.int32)
    x = all_binary(6)
    model(x)
    randomize(model, 1)
    log_p = check_layer_by_layer(model, x)
    assert abs(np_logsumexp(log_p)) < 1e-5


def test_keras_and_tf_keras_sequential_take_the_same_stack_and_weights():
    keras.utils.set_random_seed(10)
    x = all_binary(6)
    reference = rat_spn(6, layers.IndicatorLeaf(num_components=2), dtype=tf.int32)
    reference(x)
    randomize(reference, 11)
    expected = reference(x).numpy()
    for sequential in (keras.Sequential, tf.keras.Sequential):
        stack = rat_stack(6, layers.IndicatorLeaf(num_components=2), dtype=tf.int32)
        stack[3].set_factors([2, 2, 2])  # the SPN models infer them; plain Sequential models take them as in 0.6.0
        model = sequential(stack)
        model(x)
        model.set_weights(reference.get_weights())
        np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5)


def test_continuous_rat_spn_layer_by_layer():
    keras.utils.set_random_seed(2)
    model = rat_spn(5, layers.NormalLeaf(num_components=3), num_decomps=2)
    x = np.random.default_rng(3).normal(size=(30, 5)).astype("float32")
    model(x)
    randomize(model, 4)
    check_layer_by_layer(model, x)


# --- convolutional SPNs under every sum op ----------------------------------------------------------------------------


def dgc_spn():
    """A small DGC-SPN over 4x4 binary images, as 0.6.0's tutorials stack them."""
    return keras.Sequential(
        [
            layers.IndicatorLeaf(num_components=2, input_shape=(4, 4, 1)),
            layers.Conv2DProduct(depthwise=True, strides=[2, 2], dilations=[1, 1], kernel_size=[2, 2], padding="valid"),
            layers.Local2DSum(num_sums=3),
            layers.Conv2DProduct(depthwise=True, strides=[1, 1], dilations=[1, 1], kernel_size=[2, 2], padding="full"),
            layers.Conv2DSum(num_sums=2),
            layers.Conv2DProduct(depthwise=True, strides=[1, 1], dilations=[2, 2], kernel_size=[2, 2], padding="final"),
            layers.SpatialToRegions(),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )


@pytest.mark.parametrize(
    "sum_op",
    [
        spnk.SumOpGradBackprop(),
        spnk.SumOpEMBackprop(),
        spnk.SumOpHardEMBackprop(),
        spnk.SumOpUnweightedHardEMBackprop(),
        spnk.SumOpSampleBackprop(),
    ],
    ids=lambda op: type(op).__name__,
)
def test_conv_spn_sums_to_one_under_every_sum_op(sum_op):
    spnk.set_default_sum_op(sum_op)
    try:
        keras.utils.set_random_seed(5)
        model = dgc_spn()
    finally:
        spnk.set_default_sum_op(None)
    images = all_binary(16).reshape(-1, 4, 4, 1)
    model(images[:1])
    randomize(model, 6)
    log_p = model.predict(images, batch_size=8192, verbose=0)
    assert log_p.shape == (2**16, 1)
    assert abs(np_logsumexp(log_p)) < 1e-4
    assert np.ptp(log_p) > 1.0


# --- dynamic SPN on [x, sequence_lens] -------------------------------------------------------------------------


def dynamic_spn_060(root, num_vars=2):
    """A 0.6.0-form dynamic SPN over ``num_vars`` binary variables per step whose top network is ``root``."""
    template = keras.Sequential(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[num_vars], dtype=tf.int32),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=2),
            layers.ReduceProduct(num_factors=num_vars),
        ]
    )
    interface_t0 = keras.Sequential([layers.DenseSum(num_sums=2, input_shape=[1, 1, 2])])
    interface_t_minus_1 = keras.Sequential([layers.DenseSum(num_sums=2, input_shape=[1, 1, 4])])
    top = keras.Sequential([keras.Input([1, 1, 4]), root])
    return models.DynamicSumProductNetwork(template, interface_t0, interface_t_minus_1, top, return_last_step=True)


def left_padded_sequences(length, num_vars, max_len):
    """Every binary sequence of ``length`` steps, left-padded with zeros to ``max_len`` steps, and their lengths."""
    x = np.zeros((2 ** (num_vars * length), max_len, num_vars), "int32")
    if length:
        sequences = np.array(list(itertools.product([0, 1], repeat=num_vars * length)), "int32")
        x[:, max_len - length :] = sequences.reshape(-1, length, num_vars)
    return x, np.full(len(x), length)


def test_dynamic_spn_on_x_and_sequence_lens():
    keras.utils.set_random_seed(7)
    num_vars, max_len = 2, 3
    dspn = dynamic_spn_060(layers.RootSum(return_weighted_child_logits=False), num_vars)
    for length in range(0, max_len + 1):
        log_p = dspn(list(left_padded_sequences(length, num_vars, max_len))).numpy()
        assert abs(np_logsumexp(log_p)) < 1e-5


def test_dynamic_spn_whose_root_returns_weighted_child_logits_gives_a_sequence_of_length_0_probability_1():
    # RootSum's default (return_weighted_child_logits=True): log w_i + log S_i per child. With nothing observed every
    # child is log 1, so the outputs are the root's log weights; masking them set each to 0, and log p to log 4.
    keras.utils.set_random_seed(3)
    num_vars, max_len = 2, 3
    root = layers.RootSum(accumulator_initializer=keras.initializers.RandomUniform(0.1, 2.0))
    dspn = dynamic_spn_060(root, num_vars)
    for length in range(0, max_len + 1):
        logits = dspn(list(left_padded_sequences(length, num_vars, max_len))).numpy()
        assert logits.shape[1] == 4
        assert abs(np_logsumexp(logits)) < 1e-5, length
    empty = left_padded_sequences(0, num_vars, max_len)
    np.testing.assert_allclose(dspn(list(empty)).numpy()[0], np.log(normalized_weights(root)).ravel(), atol=1e-5)
    np.testing.assert_allclose(dspn.log_likelihood(list(empty)), [0.0], atol=1e-5)


# --- EM training as 0.6.0 users compiled it --------------------------------------------------------------------------


def test_em_training_with_one_metric_object():
    spnk.set_default_sum_op(spnk.SumOpEMBackprop())
    try:
        keras.utils.set_random_seed(8)
        model = rat_spn(6, layers.IndicatorLeaf(num_components=2), dtype=tf.int32)
    finally:
        spnk.set_default_sum_op(None)
    rng = np.random.default_rng(9)
    x = (rng.random((500, 6)) < np.linspace(0.1, 0.9, 6)).astype("int32")
    x[:, 1] = x[:, 0]
    model.compile(
        optimizer=spnk.optimizers.OnlineExpectationMaximization(learning_rate=0.5),
        loss=spnk.losses.NegativeLogLikelihood(),
        metrics=spnk.metrics.LogLikelihood(),
    )
    history = model.fit(x, epochs=4, batch_size=100, verbose=0).history["llh"]
    assert history[-1] > history[0] + 0.05
    assert abs(np_logsumexp(model(all_binary(6)).numpy())) < 1e-5


def test_060_positional_and_keyword_arguments_bind_as_in_060():
    # Sum layers: 0.6.0's positional order after num_sums / return_weighted_child_logits.
    dense = layers.DenseSum(3, False, keras.initializers.Constant(1.0), "em")
    assert dense.logspace_accumulators is False and dense.sum_op == spnk.sum_ops.get("em")
    assert isinstance(dense.accumulator_initializer, keras.initializers.Constant)
    for layer_class in (layers.Local2DSum, layers.Conv2DSum):
        assert layer_class(2, False).logspace_accumulators is False
    root = layers.RootSum(False, True, None, False)
    assert (root.return_weighted_child_logits, root.logspace_accumulators, root.trainable) == (False, True, False)
    # Leaves: 0.6.0's positional order of each leaf, and IndicatorLeaf's dtype (0.6.0's default tf.int32).
    assert layers.CauchyLeaf(4, None, True, None, None, False, True).scale_trainable is True
    assert layers.LaplaceLeaf(4, None, False).location_trainable is False
    indicator = layers.IndicatorLeaf(2, tf.int32)
    out = indicator(np.array([[[1]], [[0]]], dtype=np.int32)).numpy()
    np.testing.assert_array_equal(out.reshape(2, 2), [[-np.inf, 0.0], [0.0, -np.inf]])
    assert indicator.compute_dtype == "float32"
    assert layers.IndicatorLeaf(num_components=2, dtype=tf.int32).compute_dtype == "float32"
    leaf_arguments = layers.BaseLeaf.__init__.__code__.co_varnames[:4]
    assert leaf_arguments == ("self", "num_components", "leaf_representation", "dtype")
    # Keyword names of the configuration functions.
    spnk.set_default_sum_op(op="hard_em")
    try:
        assert spnk.get_default_sum_op() == spnk.sum_ops.get("hard_em")
    finally:
        spnk.set_default_sum_op(op=None)
    saved = {name: spnk.config.get_default(name) for name in spnk.config.DEFAULT_NAMES}
    spnk.set_default_linear_accumulators_constraint(op=spnk.constraints.GreaterEqualEpsilon())
    spnk.set_default_logspace_accumulators_constraint(op=spnk.constraints.Clip(-5.0))
    try:
        assert isinstance(layers.DenseSum(2).linear_accumulator_constraint, spnk.constraints.GreaterEqualEpsilon)
        assert isinstance(layers.DenseSum(2).logspace_accumulator_constraint, spnk.constraints.Clip)
        # None means no constraint, as in 0.6.0.
        spnk.set_default_linear_accumulators_constraint(op=None)
        spnk.set_default_logspace_accumulators_constraint(op=None)
        assert layers.DenseSum(2).linear_accumulator_constraint is None
        assert layers.DenseSum(2).logspace_accumulator_constraint is None
    finally:
        for name, value in saved.items():
            spnk.config.set_default(name, value)
    # PermuteAndPadScopes without permutations, set before building (0.6.0's None default).
    permute = layers.PermuteAndPadScopes()
    with pytest.raises(ValueError, match="no permutations"):
        permute(np.zeros((1, 2, 1, 3), np.float32))
    permute = layers.PermuteAndPadScopes()
    permute.permutations = [[1, 0, -1]]
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 1, 3)
    np.testing.assert_array_equal(permute(x).numpy()[0, :, 0], [[3, 4, 5], [0, 1, 2], [0, 0, 0]])


def config_060(module, class_name, **config):
    """A nested object as 0.6.0's get_config wrote it under Keras 2: the class name without a package prefix."""
    return {"module": module, "class_name": class_name, "config": config, "registered_name": class_name}


SUM_CONFIG_060 = {
    "trainable": True,
    "dtype": "float32",
    "accumulator_initializer": config_060("libspn_keras.initializers.dirichlet", "Dirichlet", alpha=0.5, axis=-2),
    "logspace_accumulators": False,
    "accumulator_regularizer": None,
    "linear_accumulator_constraint": config_060(
        "libspn_keras.constraints.greater_equal_epsilon_normalized",
        "GreaterEqualEpsilonNormalized",
        epsilon=1e-6,
        axis=-2,
    ),
}


@pytest.mark.parametrize(
    "name, extra",
    [
        ("DenseSum", {"num_sums": 2}),
        ("Conv2DSum", {"num_sums": 2}),
        ("Local2DSum", {"num_sums": 2}),
        ("RootSum", {"num_sums": 1, "return_weighted_child_logits": False}),
    ],
)
def test_sum_layer_configs_written_by_060_load_with_their_objects(name, extra):
    config = dict(SUM_CONFIG_060, name=f"{name.lower()}_060", **extra)
    layer = getattr(layers, name).from_config(config)
    assert isinstance(layer.accumulator_initializer, spnk.initializers.Dirichlet)
    assert layer.accumulator_initializer.alpha == 0.5
    constraint = layer.linear_accumulator_constraint
    assert isinstance(constraint, spnk.constraints.GreaterEqualEpsilonNormalized) and constraint.epsilon == 1e-6
    assert layer.num_sums == extra["num_sums"]


def test_a_leaf_config_written_by_060_loads_its_initializer():
    config = {
        "name": "normal_leaf",
        "trainable": True,
        "dtype": "float32",
        "num_components": 3,
        "leaf_representation": "mode",
        "location_initializer": config_060("libspn_keras.initializers.equidistant", "Equidistant", minval=-1, maxval=1),
        "scale_initializer": {"module": "keras.initializers", "class_name": "Ones", "config": {}},
        "location_trainable": True,
        "scale_trainable": False,
        "use_accumulators": False,
    }
    leaf = layers.NormalLeaf.from_config(config)
    leaf.build((None, 1, 1, 1))
    np.testing.assert_allclose(np.ravel(leaf.location_tensor()), [-1.0, 0.0, 1.0])


@pytest.mark.parametrize("num_sums", [2, 1.0, True])
def test_a_root_has_one_sum_only(num_sums):
    with pytest.raises(ValueError, match="RootSum: a root is a single sum"):
        layers.RootSum(num_sums=num_sums)
