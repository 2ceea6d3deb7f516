"""Bad arguments and bad inputs raise ``ValueError`` naming the layer and saying what to change."""

import warnings

import numpy as np
import pytest
from tensorflow import keras

import libspn_keras
from libspn_keras import layers


def _product(name="prod", **kwargs):
    kwargs.setdefault("strides", 1)
    kwargs.setdefault("dilations", 1)
    kwargs.setdefault("kernel_size", 2)
    return layers.Conv2DProduct(name=name, **kwargs)


def _assert_names_layer(excinfo, cls_name, layer_name):
    message = str(excinfo.value)
    assert cls_name in message, message
    assert f"'{layer_name}'" in message, message


# ---------------------------------------------------------------- padding names


@pytest.mark.parametrize("padding", ["same", "VALID", "causal", "", None])
def test_invalid_padding_name(padding):
    with pytest.raises(ValueError) as excinfo:
        _product(name="bad_padding", padding=padding)
    _assert_names_layer(excinfo, "Conv2DProduct", "bad_padding")
    message = str(excinfo.value)
    # The fix: the accepted names are listed.
    for accepted in ("valid", "full", "final"):
        assert accepted in message, message


# ------------------------------------------------------- geometry of the kernels


@pytest.mark.parametrize(
    "input_shape, kwargs",
    [
        # k_eff = (2 - 1) * 4 + 1 = 5 > 3 rows: no window fits.
        ((3, 3, 1), dict(kernel_size=2, dilations=4, padding="valid")),
        # kernel larger than the image.
        ((2, 2, 1), dict(kernel_size=3, padding="valid")),
        # only the column axis is too small.
        ((8, 2, 1), dict(kernel_size=[2, 3], padding="valid")),
    ],
)
def test_kernel_leaving_no_output(input_shape, kwargs):
    with pytest.raises(ValueError, match=r"(?i)reduce kernel_size or dilations") as excinfo:
        _product(name="too_big", **kwargs)(keras.Input(input_shape))
    _assert_names_layer(excinfo, "Conv2DProduct", "too_big")


def test_kernel_leaving_no_output_in_compute_output_shape():
    layer = _product(name="too_big", kernel_size=2, dilations=4)
    with pytest.raises(ValueError, match="too_big"):
        layer.compute_output_shape((None, 3, 3, 1))


@pytest.mark.parametrize(
    "input_shape, kwargs, axis",
    [
        # 5 cells, kernel 2 stride 2: windows start at 0 and 2, cell 4 is in none.
        ((5, 5, 1), dict(kernel_size=2, strides=2), 0),
        ((4, 5, 1), dict(kernel_size=2, strides=2), 1),
        # stride larger than the kernel skips cells 2, 5.
        ((6, 6, 1), dict(kernel_size=2, strides=3), 0),
    ],
)
def test_valid_strides_leaving_cells_uncovered(input_shape, kwargs, axis):
    with pytest.raises(ValueError) as excinfo:
        _product(name="gappy", **kwargs)(keras.Input(input_shape))
    _assert_names_layer(excinfo, "Conv2DProduct", "gappy")
    message = str(excinfo.value)
    assert f"axis {axis}" in message, message
    assert "padding='full'" in message, message  # what to change


def test_uncovered_cells_are_listed():
    with pytest.raises(ValueError, match=r"cells \[2, 5\]"):
        _product(name="gappy", kernel_size=2, strides=3)(keras.Input((6, 6, 1)))


def test_covering_geometries_do_not_raise():
    # Counterparts of the failing cases that do tile the axes.
    assert _product(kernel_size=2, strides=2)(keras.Input((4, 6, 1))).shape == (None, 2, 3, 1)
    assert _product(kernel_size=2, strides=2, padding="full")(keras.Input((5, 5, 1))).shape == (None, 3, 3, 1)
    # 'final': (k_eff - 1) * 2 - size cells on top/left, output ceil(size + pads - k_eff + 1).
    assert _product(kernel_size=2, padding="final")(keras.Input((2, 2, 1))).shape == (None, 1, 1, 1)
    assert _product(kernel_size=2, dilations=2, padding="final")(keras.Input((4, 4, 1))).shape == (None, 2, 2, 1)
    assert _product(kernel_size=2, dilations=8, padding="final")(keras.Input((14, 14, 1))).shape == (None, 8, 8, 1)


@pytest.mark.parametrize(
    "size, dilation",
    [
        (8, 2),  # k_eff 3: (3 - 1) * 2 = 4 < 8
        (5, 2),  # 4 < 5
        (3, 1),  # k_eff 2: 2 < 3
    ],
)
def test_final_padding_too_small(size, dilation):
    with pytest.raises(ValueError, match=r"(?i)double the dilation") as excinfo:
        _product(name="final_prod", dilations=dilation, padding="final")(keras.Input((size, size, 1)))
    _assert_names_layer(excinfo, "Conv2DProduct", "final_prod")
    assert "padding='final'" in str(excinfo.value)


def test_final_padding_too_small_in_compute_output_shape():
    layer = _product(name="final_prod", dilations=2, padding="final")
    with pytest.raises(ValueError, match="final_prod"):
        layer.compute_output_shape((None, 8, 8, 1))


@pytest.mark.parametrize(
    "argument, value",
    [
        ("strides", 0),
        ("strides", [1, 0]),
        ("dilations", -1),
        ("kernel_size", [2, 2, 2]),
        ("kernel_size", 0),
        ("kernel_size", 1.5),
        ("kernel_size", True),
        ("strides", [2, False]),
        ("dilations", "2"),
    ],
)
def test_non_positive_geometry_arguments(argument, value):
    with pytest.raises(ValueError, match=argument) as excinfo:
        _product(name="geom", **{argument: value})
    _assert_names_layer(excinfo, "Conv2DProduct", "geom")
    assert "positive int" in str(excinfo.value)


# ------------------------------------------------------------------ input ranks


@pytest.mark.parametrize(
    "factory, cls_name",
    [
        (lambda: _product(name="rank_layer"), "Conv2DProduct"),
        (lambda: layers.Local2DSum(2, name="rank_layer"), "Local2DSum"),
        (lambda: layers.Conv2DSum(2, name="rank_layer"), "Conv2DSum"),
        (lambda: layers.SpatialToRegions(name="rank_layer"), "SpatialToRegions"),
        (lambda: layers.DenseSum(2, name="rank_layer"), "DenseSum"),
    ],
)
@pytest.mark.parametrize("shape", [(4, 4), (4,), (2, 2, 2, 2)])
def test_non_4d_input(factory, cls_name, shape):
    with pytest.raises(ValueError, match=r"4-D") as excinfo:
        factory()(keras.Input(shape))
    _assert_names_layer(excinfo, cls_name, "rank_layer")
    assert str((None,) + shape) in str(excinfo.value)


@pytest.mark.parametrize(
    "factory, cls_name",
    [
        (lambda: _product(name="rank_layer"), "Conv2DProduct"),
        (lambda: layers.Local2DSum(2, name="rank_layer"), "Local2DSum"),
        (lambda: layers.DenseSum(2, name="rank_layer"), "DenseSum"),
    ],
)
def test_non_4d_eager_input(factory, cls_name):
    with pytest.raises(ValueError, match=r"4-D") as excinfo:
        factory()(np.zeros((3, 4, 4), dtype="float32"))
    _assert_names_layer(excinfo, cls_name, "rank_layer")


# ------------------------------------------------------------ sizes of layers


@pytest.mark.parametrize("cls", [layers.NormalLeaf, layers.LaplaceLeaf, layers.CauchyLeaf, layers.IndicatorLeaf])
@pytest.mark.parametrize("value", [0, -3, 2.0, None, True])
def test_num_components_below_one(cls, value):
    with pytest.raises(ValueError, match="num_components") as excinfo:
        cls(num_components=value, name="leafy")
    _assert_names_layer(excinfo, cls.__name__, "leafy")
    assert ">= 1" in str(excinfo.value)


@pytest.mark.parametrize("cls", [layers.DenseSum, layers.Local2DSum, layers.Conv2DSum])
@pytest.mark.parametrize("value", [0, -1, 1.5, None, False])
def test_num_sums_below_one(cls, value):
    with pytest.raises(ValueError, match="num_sums") as excinfo:
        cls(num_sums=value, name="summy")
    _assert_names_layer(excinfo, cls.__name__, "summy")
    assert ">= 1" in str(excinfo.value)


# --------------------------------------------------------------------- RootSum


@pytest.mark.parametrize("shape", [(2, 1, 4), (3, 2, 2), (4, 4, 1)])
def test_root_sum_needs_a_single_scope(shape):
    with pytest.raises(ValueError) as excinfo:
        layers.RootSum(name="the_root")(keras.Input(shape))
    _assert_names_layer(excinfo, "RootSum", "the_root")
    message = str(excinfo.value)
    assert f"{shape[0]} scopes" in message, message
    assert "product" in message.lower(), message  # what to change


def test_root_sum_single_scope_is_accepted():
    assert layers.RootSum(name="the_root")(keras.Input((1, 2, 3))).shape == (None, 6)
    assert layers.RootSum(return_weighted_child_logits=False)(keras.Input((1, 1, 3))).shape == (None, 1)


# ------------------------------------------------------- Conv2DProduct channels


@pytest.mark.parametrize("num_channels", [1, 4])
def test_depthwise_ignores_num_channels_as_0_6_0_documents(num_channels):
    # 0.6.0: "If True, the value of num_channels will be ignored"; a number other than the input's warns.
    layer = _product(name="dw", depthwise=True, num_channels=num_channels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert layer(keras.Input((4, 4, 4))).shape == (None, 3, 3, 4)
    ignored = [w for w in caught if "num_channels" in str(w.message)]
    assert len(ignored) == (num_channels != 4), [str(w.message) for w in caught]
    if ignored:
        assert "Conv2DProduct 'dw'" in str(ignored[0].message) and "ignored" in str(ignored[0].message)


@pytest.mark.parametrize(
    "channels, kernel_size, num_channels, total",
    [
        (2, 2, 17, 16),  # 2 ** (2 * 2)
        (3, [1, 2], 10, 9),  # 3 ** (1 * 2)
        (1, 2, 2, 1),
    ],
)
def test_num_channels_exceeding_combinations_takes_all_with_a_warning_as_in_060(
    channels, kernel_size, num_channels, total
):
    layer = _product(name="onehot", kernel_size=kernel_size, num_channels=num_channels)
    with pytest.warns(UserWarning) as record:
        out = layer(keras.Input((4, 4, channels)))
    message = str(record[0].message)
    assert "Conv2DProduct 'onehot'" in message and f"num_channels={num_channels}" in message, message
    assert f"{total} distinct" in message and f"using all {total}" in message, message
    assert layer.num_channels == total and out.shape[-1] == total
    assert layer.compute_output_shape((None, 4, 4, channels))[-1] == total


@pytest.mark.parametrize("num_channels", [0, -2])
def test_num_channels_below_one(num_channels):
    with pytest.raises(ValueError, match="num_channels") as excinfo:
        _product(name="onehot", num_channels=num_channels)
    _assert_names_layer(excinfo, "Conv2DProduct", "onehot")


# ------------------------------------------------------------------- sum ops


@pytest.mark.parametrize("cls", [layers.DenseSum, layers.Local2DSum, layers.Conv2DSum])
def test_sum_op_and_backprop_mode_together(cls):
    with pytest.raises(ValueError, match="not both") as excinfo:
        cls(2, sum_op="grad", backprop_mode=libspn_keras.BackpropMode.EM, name="both")
    _assert_names_layer(excinfo, cls.__name__, "both")
    assert "sum_op" in str(excinfo.value) and "backprop_mode" in str(excinfo.value)


def test_root_sum_and_backprop_mode_together():
    with pytest.raises(ValueError, match="not both") as excinfo:
        layers.RootSum(sum_op="em", backprop_mode=libspn_keras.BackpropMode.GRADIENT, name="both")
    _assert_names_layer(excinfo, "RootSum", "both")


def test_unknown_sum_op_names_layer_and_choices():
    with pytest.raises(ValueError) as excinfo:
        layers.DenseSum(2, sum_op="gradient_descent", name="unknown_op")
    _assert_names_layer(excinfo, "DenseSum", "unknown_op")
    message = str(excinfo.value)
    assert "gradient_descent" in message
    for name in ("grad", "em", "hard_em"):
        assert f"'{name}'" in message, message


@pytest.mark.parametrize("sum_op", ["em", "hard_em", "unweighted_hard_em"])
def test_counting_sum_ops_reject_logspace_accumulators(sum_op):
    with pytest.raises(ValueError, match="logspace_accumulators=False") as excinfo:
        layers.Local2DSum(2, sum_op=sum_op, logspace_accumulators=True, name="em_log")
    _assert_names_layer(excinfo, "Local2DSum", "em_log")


def test_numpy_integers_are_accepted_as_python_ints():
    layer = layers.Conv2DProduct(
        strides=np.int64(2), dilations=[np.int32(1), 1], kernel_size=np.int64(2), num_channels=np.int64(3)
    )
    config = layer.get_config()
    assert config["strides"] == [2, 2] and config["kernel_size"] == [2, 2] and config["num_channels"] == 3
    assert all(type(v) is int for v in config["strides"] + config["dilations"] + config["kernel_size"])
    assert type(config["num_channels"]) is int
    assert type(layers.DenseSum(np.int64(3)).get_config()["num_sums"]) is int
    assert type(layers.NormalLeaf(np.int16(2)).get_config()["num_components"]) is int


@pytest.mark.parametrize(
    "factory, built_for, wrong",
    [
        (lambda: layers.RootSum(), (1, 1, 4), (1, 1, 8)),
        (lambda: layers.RootSum(), (1, 1, 4), (2, 1, 2)),
        (lambda: layers.DenseSum(num_sums=2), (4, 1, 3), (4, 1, 5)),
        (lambda: layers.DenseProduct(num_factors=2), (4, 1, 3), (6, 1, 3)),
        (lambda: layers.ReduceProduct(num_factors=2), (4, 1, 3), (2, 1, 3)),
        (lambda: layers.Undecompose(), (1, 2, 3), (2, 2, 3)),
        (lambda: layers.PermuteAndPadScopes(permutations=[[1, 0]]), (2, 1, 3), (3, 1, 3)),
        (lambda: layers.SpatialToRegions(), (1, 1, 4), (2, 2, 4)),
        (lambda: layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, padding="valid"), (4, 4, 2), (6, 6, 2)),
        (lambda: layers.Local2DSum(num_sums=2), (2, 2, 3), (3, 3, 3)),
    ],
)
def test_a_built_layer_refuses_inputs_of_another_shape(factory, built_for, wrong):
    # They reshape by the sizes they get: another shape would pass silently (e.g. scopes folded into the batch).
    layer = factory()
    layer.build((None, *built_for))
    expected = layer(np.zeros((3, *built_for), "float32")).shape  # any batch size is fine
    assert expected[0] == 3
    with pytest.raises(ValueError, match=rf"{type(layer).__name__} '{layer.name}' was built for input of shape"):
        layer(np.zeros((2, *wrong), "float32"))
    assert layer(np.zeros((5, *built_for), "float32")).shape[0] == 5  # still usable


def test_a_model_refuses_inputs_of_another_shape_at_the_first_layer_that_would_misread_them():
    model = keras.Sequential([keras.Input((1, 2, 3)), layers.Undecompose(), layers.RootSum()])
    with pytest.raises(ValueError, match="Undecompose 'undecompose.*' was built for input of shape"):
        model(np.zeros((2, 2, 2, 3), "float32"))
    assert model(np.zeros((2, 1, 2, 3), "float32")).shape == (2, 6)


@pytest.mark.parametrize(
    "above, fix",
    [
        (lambda: layers.NormalLeaf(num_components=2), "Keep one leaf layer per model"),
        (lambda: layers.NormalizeStandardScore(), "Place NormalizeStandardScore before the leaf"),
        (lambda: layers.FlatToRegions(num_decomps=1), "Place FlatToRegions before the leaf"),
    ],
)
def test_a_layer_reading_variables_above_a_leaf_is_refused_by_name(above, fix):
    """Above a leaf the values are log-probabilities: a second leaf there integrated to 0.027, not 1."""
    leaf = layers.NormalLeaf(num_components=2, name="first_leaf")
    later = above()
    with pytest.raises(ValueError, match=rf"'{later.name}' comes after the leaf NormalLeaf 'first_leaf'.*{fix}"):
        libspn_keras.models.SequentialSumProductNetwork(
            [layers.FlatToRegions(num_decomps=1), leaf, later, layers.DenseSum(num_sums=1), layers.ReduceProduct(2)]
        )
    # The same layers below the leaf make a valid model.
    libspn_keras.models.SequentialSumProductNetwork(
        [layers.FlatToRegions(num_decomps=1), layers.NormalizeStandardScore(), layers.InputDropout(rate=0.5), leaf]
    )


def test_adding_a_leaf_above_a_leaf_one_layer_at_a_time_is_refused_too():
    model = libspn_keras.models.SequentialSumProductNetwork()
    model.add(layers.FlatToRegions(num_decomps=1))
    model.add(layers.NormalLeaf(num_components=2, name="the_leaf"))
    with pytest.raises(ValueError, match=r"comes after the leaf NormalLeaf 'the_leaf'"):
        model.add(layers.NormalLeaf(num_components=2))
    assert len(model.layers) == 2
