"""Constructor arguments are type-checked, initial values are distributions, sizes that cannot fit are refused.

Issue 11 items 5-7: each case feeds exactly the argument of the issue and asserts the message.
"""

import warnings

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from libspn_keras import constraints, initializers, layers, models, regularizers
from libspn_keras.layers.validation import ArgumentError, check_bool, check_float, check_int, check_int_list
from libspn_keras.optimizers import OnlineExpectationMaximization

# --------------------------------------------------------------------------------- 11.5 bools are bools, ints are ints


def functional_spn(**kwargs):
    inputs = keras.Input((2,), dtype="int32")
    leaves = layers.IndicatorLeaf(num_components=2)(layers.FlatToRegions(num_decomps=1)(inputs))
    root = layers.RootSum(return_weighted_child_logits=False)(layers.ReduceProduct(num_factors=2)(leaves))
    return models.SumProductNetwork(inputs, root, **kwargs)


@pytest.mark.parametrize(
    "build, argument",
    [
        (lambda v: layers.DenseSum(num_sums=2, logspace_accumulators=v), "logspace_accumulators"),
        (lambda v: layers.RootSum(return_weighted_child_logits=v), "return_weighted_child_logits"),
        (lambda v: layers.NormalLeaf(num_components=2, location_trainable=v), "location_trainable"),
        (lambda v: layers.NormalLeaf(num_components=2, scale_trainable=v), "scale_trainable"),
        (lambda v: layers.NormalLeaf(num_components=2, use_accumulators=v), "use_accumulators"),
        (lambda v: layers.Conv2DProduct(strides=1, dilations=1, kernel_size=2, depthwise=v), "depthwise"),
        (lambda v: models.SequentialSumProductNetwork([layers.RootSum()], unsupervised=v), "unsupervised"),
        (lambda v: functional_spn(unsupervised=v), "unsupervised"),
    ],
)
@pytest.mark.parametrize("value", ["False", "no", 2, -1, None])  # 0 and 1 read as 0.6.0 read them
def test_bool_arguments_refuse_strings_and_ints(build, argument, value):
    if value is None and argument == "logspace_accumulators":
        build(value)  # None takes the sum op's default
        return
    if value is None and argument == "unsupervised" and isinstance(build(True), models.SequentialSumProductNetwork):
        build(value)  # 0.6.0's default, inferred by the sequential model
        return
    with pytest.raises(ValueError, match=rf"{argument} must be True"):
        build(value)
    with pytest.raises(TypeError):
        build(value)


@pytest.mark.parametrize("value", [True, False, np.bool_(True), np.bool_(False)])
def test_bool_arguments_take_python_and_numpy_bools(value):
    leaf = layers.NormalLeaf(num_components=2, location_trainable=value)
    assert leaf.location_trainable is bool(value)
    assert layers.RootSum(return_weighted_child_logits=value).return_weighted_child_logits is bool(value)


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3)])
def test_int_arguments_take_python_and_numpy_ints(value):
    assert layers.DenseSum(num_sums=value).num_sums == 3
    assert type(layers.DenseSum(num_sums=value).num_sums) is int
    assert layers.FlatToRegions(num_decomps=value).num_decomps == 3
    assert OnlineExpectationMaximization(accumulate_batches=value).accumulate_batches == 3


@pytest.mark.parametrize("value", ["3", 3.0, 2.5, True, 0, -1, None])
def test_int_arguments_refuse_other_types(value):
    with pytest.raises(ValueError, match=r"DenseSum '\w+': num_sums must be an int >= 1"):
        layers.DenseSum(num_sums=value)
    with pytest.raises(ValueError, match=r"OnlineExpectationMaximization: accumulate_batches must be an int >= 1"):
        OnlineExpectationMaximization(accumulate_batches=value)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(num_vars="4"), "num_vars"),
        (dict(num_vars=4.0), "num_vars"),
        (dict(depth=-1), "depth"),
        (dict(depth=0), "depth"),
        (dict(num_decomps=0), "num_decomps"),
        (dict(num_input_distributions=1.5), "num_input_distributions"),
        (dict(num_sums="2"), "num_sums"),
        (dict(num_classes=0), "num_classes"),
        (dict(num_classes="3"), "num_classes"),
        (dict(leaf="normal"), "leaf"),
    ],
)
def test_build_rat_spn_checks_its_arguments(kwargs, argument):
    arguments = dict(num_vars=4, depth=2, num_decomps=2, num_input_distributions=2, num_sums=2)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=rf"build_rat_spn: {argument} must be"):
        models.build_rat_spn(**arguments)


@pytest.mark.parametrize("value", ["0.1", True, -0.5, 1.5, float("nan")])
def test_em_learning_rate_is_a_number_in_0_1(value):
    with pytest.raises(ValueError, match=r"OnlineExpectationMaximization: learning_rate must be a finite number in"):
        OnlineExpectationMaximization(learning_rate=value)


def test_em_learning_rate_takes_numpy_floats_and_schedules():
    assert float(OnlineExpectationMaximization(learning_rate=np.float32(0.5)).learning_rate) == 0.5
    schedule = keras.optimizers.schedules.ExponentialDecay(0.5, decay_steps=10, decay_rate=0.9)
    OnlineExpectationMaximization(learning_rate=schedule)


@pytest.mark.parametrize(
    "build, argument",
    [
        (lambda: layers.InputDropout(rate="0.5"), "rate"),
        (lambda: layers.InputDropout(rate=1.5), "rate"),
        (lambda: layers.InputDropout(rate=0.5, seed="1"), "seed"),
        (lambda: layers.InputDropout(rate=0.5, seed=-1), "seed"),
        (lambda: layers.Conv2DProduct(strides=1, dilations=1, kernel_size=2, seed=1.5), "seed"),
    ],
)
def test_rates_and_seeds_are_checked(build, argument):
    with pytest.raises(ValueError, match=rf"{argument} must be"):
        build()


def test_helpers_name_owner_argument_and_value():
    with pytest.raises(ArgumentError, match=r"^Owner: flag must be True or False, got 'no' \(str\)\.$"):
        check_bool("Owner", "flag", "no")
    assert check_bool("Owner", "flag", None, allow_none=True) is None
    assert check_int("Owner", "count", np.int16(4), minimum=0) == 4
    with pytest.raises(ArgumentError, match=r"^Owner: count must be an int in \[0, 3\], got 4\.$"):
        check_int("Owner", "count", 4, minimum=0, maximum=3)
    assert check_float("Owner", "rate", np.float16(0.5), minimum=0, maximum=1) == 0.5
    with pytest.raises(ArgumentError, match=r"^Owner: rate must be a finite number in \(0, 1\], got 0\.0\.$"):
        check_float("Owner", "rate", 0.0, minimum=0, maximum=1, min_open=True)
    assert check_int_list("Owner", "factors", (np.int64(2), 3)) == [2, 3]
    for bad in ([1.7, 2.9], [-2, -2], [], "22", [2, None]):
        with pytest.raises(ArgumentError, match=r"^Owner: factors must be a non-empty list of ints >= 1"):
            check_int_list("Owner", "factors", bad)


# ---------------------------------------------------------------------- 11.6 initial values that are a distribution


def normal_leaf_output(leaf, x):
    out = leaf(tf.constant(x))
    assert np.all(np.isfinite(out.numpy())), out
    return out


@pytest.mark.parametrize("initializer", ["zeros", keras.initializers.Constant(-1.0)])
def test_non_positive_initial_scales_start_at_the_scale_constraint(initializer):
    leaf = layers.NormalLeaf(num_components=2, scale_initializer=initializer, name="leaf")
    with pytest.warns(UserWarning, match=r"NormalLeaf 'leaf': 4 initial value\(s\) of 'scale' are not valid"):
        normal_leaf_output(leaf, np.zeros((3, 2, 1), "float32"))
    np.testing.assert_allclose(leaf.scale.numpy(), 1e-4)


def test_tiny_initial_scale_is_lifted_by_the_constraint_or_refused():
    leaf = layers.NormalLeaf(num_components=1, scale_initializer=keras.initializers.Constant(1e-38), name="leaf")
    with pytest.warns(UserWarning, match="initial value"):
        normal_leaf_output(leaf, np.zeros((3, 1, 1), "float32"))
    np.testing.assert_allclose(leaf.scale.numpy(), 1e-4)
    # A constraint that keeps the subnormal scale: refused when the variable is created.
    tiny = layers.NormalLeaf(
        num_components=1,
        scale_initializer=keras.initializers.Constant(1e-38),
        scale_constraint=constraints.GreaterEqualEpsilon(1e-45),
        name="tiny",
    )
    with pytest.raises(ValueError, match=r"NormalLeaf 'tiny': the initial values of 'scale' must be positive"):
        tiny(tf.zeros((3, 1, 1)))


def test_non_positive_initial_scale_without_a_repairing_constraint_is_refused():
    leaf = layers.NormalLeaf(
        num_components=2, scale_initializer="zeros", scale_constraint=keras.constraints.NonNeg(), name="leaf"
    )
    with pytest.raises(ValueError, match=r"NormalLeaf 'leaf': the initial values of 'scale' must be positive") as e:
        leaf(tf.zeros((3, 2, 1)))
    assert "scale_initializer" in str(e.value)


def test_non_finite_initial_locations_are_refused():
    leaf = layers.NormalLeaf(num_components=2, location_initializer=keras.initializers.Constant(np.nan), name="leaf")
    with pytest.raises(ValueError, match=r"NormalLeaf 'leaf': the initial values of 'location' must be finite"):
        leaf(tf.zeros((3, 2, 1)))


def test_statistics_of_em_leaves_are_checked_too():
    leaf = layers.NormalLeaf(num_components=2, use_accumulators=True, scale_initializer="zeros", name="leaf")
    with pytest.warns(UserWarning, match="'scale' are not valid"):
        normal_leaf_output(leaf, np.zeros((3, 2, 1), "float32"))
    np.testing.assert_allclose(leaf.scale_tensor().numpy(), 1e-4, rtol=1e-5)


def test_random_uniform_linear_accumulators_start_at_the_constraint():
    # Keras' RandomUniform() is in [-0.05, 0.05], as the original's EinsumNetworks-benchmark tutorial used it.
    keras.utils.set_random_seed(0)
    layer = layers.DenseSum(num_sums=3, sum_op="em", accumulator_initializer=keras.initializers.RandomUniform())
    with pytest.warns(UserWarning, match=r"initial value\(s\) of 'accumulators' are not valid"):
        out = layer(tf.zeros((2, 4, 1, 5)))
    assert np.all(np.isfinite(out.numpy()))
    accumulators = layer.accumulators.numpy()
    assert accumulators.min() >= 1e-10
    # All-zero children (probability 1) give log 1 = 0: the weights are normalized.
    np.testing.assert_allclose(out.numpy(), 0.0, atol=1e-6)


def test_zero_linear_accumulators_start_uniform():
    layer = layers.DenseSum(num_sums=1, sum_op="em", accumulator_initializer="zeros")
    with pytest.warns(UserWarning, match="accumulators"):
        layer(tf.zeros((1, 1, 1, 4)))
    out = layer(tf.constant(np.log([[[[0.1, 0.2, 0.3, 0.4]]]]), tf.float32)).numpy()
    np.testing.assert_allclose(out, np.log(0.25), rtol=1e-6)


def test_valid_default_initial_values_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layers.DenseSum(num_sums=3, sum_op="em")(tf.zeros((2, 4, 1, 5)))
        layers.DenseSum(num_sums=3)(tf.zeros((2, 4, 1, 5)))
        layers.NormalLeaf(num_components=2)(tf.zeros((2, 3, 1)))


# -------------------------------------------------------------------------- 11.7 sizes that cannot fit are refused


def test_dense_product_refuses_a_node_count_that_cannot_fit():
    layer = layers.DenseProduct(num_factors=20, name="product")
    with pytest.raises(ValueError) as excinfo:
        layer(keras.Input((20, 1, 4)))
    message = str(excinfo.value)
    assert "DenseProduct 'product' would output 1,099,511,627,776 nodes per scope" in message
    assert "from 4 input nodes and num_factors=20" in message
    assert "Lower num_factors" in message


def test_dense_product_at_the_limit_builds():
    layer = layers.DenseProduct(num_factors=2)
    assert layer.compute_output_shape((None, 2, 1, 1024)) == (None, 1, 1, 2**20)
    layer.build((None, 2, 1, 1024))


@pytest.mark.parametrize("factors", [[1.7, 2.9], [-2, -2], [2, "2"], [], 4])
def test_permute_and_pad_scopes_random_checks_factors(factors):
    with pytest.raises(ValueError, match=r"PermuteAndPadScopesRandom '\w+': factors must be a non-empty list of ints"):
        layers.PermuteAndPadScopesRandom(factors=factors)


def test_permute_and_pad_scopes_random_takes_numpy_factors():
    assert layers.PermuteAndPadScopesRandom(factors=np.array([2, 2])).factors == [2, 2]
    assert layers.PermuteAndPadScopesRandom(factors=(np.int64(3),), seed=np.int32(1)).factors == [3]


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(depth=-1), "depth"),
        (dict(depth=1.0), "depth"),
        (dict(num_decomps=0), "num_decomps"),
        (dict(num_vars="4"), "num_vars"),
        (dict(num_vars=1), "num_vars"),
    ],
)
def test_random_region_graph_checks_its_arguments(kwargs, argument):
    from libspn_keras.region_graph import random_region_graph

    arguments = dict(num_vars=4, depth=1, num_decomps=2)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=rf"random_region_graph: {argument} must be an int"):
        random_region_graph(**arguments)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: initializers.Dirichlet(logspace="False"), r"Dirichlet: logspace must be True or False"),
        (lambda: initializers.KMeans(use_groups="no"), r"KMeans: use_groups must be True or False"),
        (lambda: initializers.KMeans(data_fraction="0.1"), r"KMeans: data_fraction must be a finite number in \(0"),
        (lambda: initializers.KMeans(data_fraction=None), r"KMeans: data_fraction must be a finite number"),
        (lambda: initializers.KMeans(jitter_factor=float("nan")), r"KMeans: jitter_factor must be a finite number"),
        (lambda: initializers.KMeans(stop_epsilon=-1), r"KMeans: stop_epsilon must be a finite number in \[0"),
        (lambda: initializers.KMeans(normalization_epsilon="x"), r"KMeans: normalization_epsilon must be a finite"),
        (
            lambda: initializers.PoonDomingosStddevOfQuantileSplit(epsilon="0.1"),
            r"PoonDomingosStddevOfQuantileSplit: epsilon must be a finite number in \(0",
        ),
        (lambda: layers.IndicatorLeaf(2, dtype="string"), r"IndicatorLeaf '.*': dtype string cannot hold"),
        (lambda: initializers.EpsilonInverseFanIn(axis=1.5), r"EpsilonInverseFanIn: axis must be an int"),
        (lambda: constraints.LogNormalized(axis="-2"), r"LogNormalized: axis must be an int"),
        (lambda: constraints.GreaterEqualEpsilonNormalized(axis=-2.0), r"GreaterEqualEpsilonNormalized: axis must"),
        (lambda: regularizers.NormalizedLp(logspace_accumulators="no"), r"NormalizedLp: logspace_accumulators must"),
        (lambda: regularizers.NormalizedEntropy(logspace_accumulators=2), r"NormalizedEntropy: logspace_accumulators"),
        (lambda: initializers.Dirichlet(alpha="0.1"), r"Dirichlet: alpha must be a positive number"),
        (lambda: initializers.Dirichlet(alpha=[0.5, True]), r"Dirichlet: alpha must be a positive number"),
        # Gamma draws of an infinite concentration (or one that overflows float32) are NaN.
        (lambda: initializers.Dirichlet(alpha=float("inf")), r"Dirichlet: alpha must be finite"),
        (lambda: initializers.Dirichlet(alpha=[0.5, 1e39]), r"Dirichlet: alpha must be finite"),
        (lambda: constraints.Clip("0"), r"Clip: min must be a number, .* or None, got '0'"),
        (lambda: constraints.Clip(0.0, max=float("nan")), r"Clip: max must be a number, .* or None, got nan"),
        (lambda: constraints.Clip(min_value=True), r"Clip: min must be a number, .* or None, got True"),
    ],
)
def test_initializers_constraints_and_regularizers_check_bools_and_ints(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_numeric_initializer_and_constraint_arguments_take_numpy_numbers():
    assert constraints.Clip(np.float32(0.5), max=np.int64(2)).get_config() == {"min": 0.5, "max": 2.0}
    assert initializers.Dirichlet(alpha=np.array([0.5, 2.0])).alpha == [0.5, 2.0]


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(product_first="no"), "product_first"),
        (dict(with_root="False"), "with_root"),
        (dict(with_root=2), "with_root"),
        (dict(input_dims="2"), "input_dims"),
        (dict(input_dims=0), "input_dims"),
    ],
)
def test_region_graph_to_dense_spn_checks_its_arguments(kwargs, argument):
    from libspn_keras.region_graph import random_region_graph

    root = random_region_graph(num_vars=4, depth=1, num_decomps=1, seed=0)
    with pytest.raises(ValueError, match=rf"region_graph_to_dense_spn: {argument} must be"):
        models.region_graph_to_dense_spn(
            root, leaf_node=layers.IndicatorLeaf(num_components=2), num_sums_iterable=[2], **kwargs
        )


@pytest.mark.parametrize(
    "factory, argument",
    [
        (lambda: layers.DenseSum(2, accumulator_initializer="dirichlet_typo", name="x"), "accumulator_initializer"),
        (lambda: layers.DenseSum(2, accumulator_regularizer="l3", name="x"), "accumulator_regularizer"),
        (
            lambda: layers.DenseSum(2, linear_accumulator_constraint="positive", name="x"),
            "linear_accumulator_constraint",
        ),
        (lambda: layers.DenseSum(2, logspace_accumulator_constraint=3, name="x"), "logspace_accumulator_constraint"),
        (lambda: layers.RootSum(accumulator_initializer=1.5, name="x"), "accumulator_initializer"),
        (lambda: layers.NormalLeaf(2, location_initializer=5, name="x"), "location_initializer"),
        (lambda: layers.CauchyLeaf(2, scale_initializer="nope", name="x"), "scale_initializer"),
        (lambda: layers.NormalLeaf(2, scale_constraint="nonneg_typo", name="x"), "scale_constraint"),
        (lambda: layers.LaplaceLeaf(2, accumulator_initializer=[1], name="x"), "accumulator_initializer"),
    ],
)
def test_keras_identifiers_that_keras_cannot_read_are_named_with_the_layer(factory, argument):
    with pytest.raises(ValueError, match=rf"'x': {argument} must be a Keras"):
        factory()


@pytest.mark.parametrize("constraint", [lambda: constraints.GreaterEqualEpsilon(-1.0), lambda: constraints.Clip(-0.5)])
def test_a_linear_accumulator_constraint_with_a_negative_floor_is_refused(constraint):
    # Negative accumulators are finite, so no step would be refused, and every likelihood would be NaN.
    with pytest.raises(ValueError, match=r"DenseSum 'd': linear_accumulator_constraint .* floor of -"):
        layers.DenseSum(2, logspace_accumulators=False, linear_accumulator_constraint=constraint(), name="d")
    # A floor of 0 keeps a proper (if sparse) distribution; log-space accumulators take any floor.
    layers.DenseSum(2, logspace_accumulators=False, linear_accumulator_constraint=constraints.GreaterEqualEpsilon(0.0))
    layers.DenseSum(2, logspace_accumulators=True, logspace_accumulator_constraint=constraint())


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.DenseSum(2, dtype="int32", name="s"),
        lambda: layers.RootSum(dtype="int64", name="s"),
        lambda: layers.NormalLeaf(num_components=2, dtype="int32", name="s"),
        lambda: layers.CauchyLeaf(num_components=2, dtype="bool", name="s"),
    ],
)
def test_sum_and_location_scale_layers_refuse_a_dtype_that_holds_no_log_probabilities(make):
    # Accepted, they failed at their first call with a raw TensorFlow error (a log of int32).
    with pytest.raises(ValueError, match=r"'s': dtype (int32|int64|bool) cannot hold its parameters"):
        make()
    assert layers.DenseSum(2, dtype="float64").compute_dtype == "float64"
    layers.IndicatorLeaf(num_components=2, dtype="int32")  # reads integers, as in 0.6.0
