"""Leaves on an image record one image cell per output cell, so layers that mix cells refuse a leaf's output
straight away (not complete); region tensors from FlatToRegions carry no record, so region SPNs mix their
decompositions as before."""

import numpy as np
import pytest
from reference import all_binary, eager_total, np_logsumexp, randomize_accumulators
from tensorflow import keras

from libspn_keras import layers, models


def _root():
    return layers.RootSum(return_weighted_child_logits=False)


# (stack above the leaf, image shape, the layer that must refuse it)
INCOMPLETE_ON_IMAGES = [
    pytest.param(lambda: [layers.SpatialToRegions(), _root()], (2, 1, 1), "SpatialToRegions", id="leaf-to-regions"),
    pytest.param(
        lambda: [layers.DenseProduct(num_factors=2), layers.SpatialToRegions(), _root()],
        (2, 2, 1),
        "SpatialToRegions",
        id="rows-joined-columns-mixed",
    ),
    pytest.param(
        lambda: [layers.DenseSum(num_sums=2), layers.ReduceProduct(num_factors=2), _root()],
        (2, 2, 1),
        "RootSum",
        id="root-mixes-columns",
    ),
    pytest.param(
        lambda: [layers.LogDropout(rate=0.5), layers.DenseProduct(num_factors=2), layers.Undecompose(), _root()],
        (2, 2, 1),
        "Undecompose",
        id="undecompose-mixes-columns",
    ),
]


@pytest.mark.parametrize("stack, shape, refusing", INCOMPLETE_ON_IMAGES)
def test_mixing_cells_of_a_leaf_on_an_image_is_refused(stack, shape, refusing):
    assert abs(eager_total([layers.IndicatorLeaf(num_components=2)] + stack(), shape) - 1.0) > 1e-3
    with pytest.raises(ValueError, match=f"{refusing} '.*'.*cover different parts of the image"):
        keras.Sequential([keras.Input(shape, dtype="int32"), layers.IndicatorLeaf(num_components=2)] + stack())


def test_mixing_cells_is_refused_in_the_functional_api_and_through_elementwise_layers():
    inputs = keras.Input((2, 1, 1))
    x = layers.NormalizeStandardScore()(inputs)
    x = layers.InputDropout(rate=0.2)(x)
    x = layers.NormalLeaf(num_components=2)(x)
    with pytest.raises(ValueError, match="SpatialToRegions '.*'.*cover different parts of the image"):
        layers.SpatialToRegions()(x)


def test_a_leaf_on_an_image_joined_by_products_is_accepted_and_normalized():
    # Rows joined by DenseProduct, then columns by a Conv2DProduct spanning the remaining row: one scope.
    model = keras.Sequential(
        [
            keras.Input((2, 2, 1), dtype="int32"),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=2),
            layers.Conv2DProduct(strides=[1, 2], dilations=[1, 1], kernel_size=[1, 2], padding="valid"),
            layers.SpatialToRegions(),
            _root(),
        ]
    )
    randomize_accumulators(model, np.random.default_rng(3))
    log_probs = model(all_binary(4).reshape(-1, 2, 2, 1).astype(np.int32)).numpy()[:, 0].astype(np.float64)
    assert abs(np_logsumexp(log_probs)) < 1e-5


@pytest.mark.parametrize(
    "between",
    [[], [layers.NormalizeStandardScore]],
    ids=["none", "score"],
)
def test_region_spns_still_mix_their_decompositions(between):
    # FlatToRegions' columns are decompositions of the same variables: a root over them is complete.
    model = keras.Sequential(
        [keras.Input((4,)), layers.FlatToRegions(num_decomps=3)]
        + [make() for make in between]
        + [
            layers.IndicatorLeaf(num_components=2) if not between else layers.NormalLeaf(num_components=2),
            layers.DenseSum(num_sums=2),
            layers.DenseProduct(num_factors=4),
            layers.SpatialToRegions(),
            _root(),
        ]
    )
    assert model.output_shape == (None, 1)
    if between:
        return  # Normal leaves: the build is what is checked here
    randomize_accumulators(model, np.random.default_rng(5))
    log_probs = model(all_binary(4).astype(np.float32)).numpy()[:, 0].astype(np.float64)
    assert abs(np_logsumexp(log_probs)) < 1e-5


def _rows_full_then(second):
    """Leaf on a 3 x 2 image, rows joined with ``padding="full"`` (cells 0-3 cover image rows {0}, {0, 1}, {1, 2},
    {2}), then ``second`` over the rows, then the columns joined: one scope if ``second`` keeps every row."""
    return [
        layers.IndicatorLeaf(num_components=2),
        layers.Conv2DProduct(strides=1, dilations=1, kernel_size=[2, 1], padding="full", depthwise=True),
        layers.Local2DSum(num_sums=2),
        second,
        layers.Local2DSum(num_sums=2),
        layers.Conv2DProduct(strides=[1, 2], dilations=1, kernel_size=[1, 2], depthwise=True),
        layers.SpatialToRegions(),
        _root(),
    ]


def test_windows_may_skip_cells_whose_variables_other_cells_cover():
    # Windows {0, 2} skip cells 1 and 3, whose image rows cells 0 and 2 cover: complete and decomposable.
    skipping = lambda: layers.Conv2DProduct(strides=[2, 1], dilations=[2, 1], kernel_size=[2, 1], depthwise=True)  # noqa: E731
    model = keras.Sequential([keras.Input((3, 2, 1), dtype="int32")] + _rows_full_then(skipping()))
    randomize_accumulators(model, np.random.default_rng(4))
    log_probs = model(all_binary(6).reshape(-1, 3, 2, 1)).numpy()[:, 0].astype(np.float64)
    assert abs(np_logsumexp(log_probs)) < 1e-5
    # Called outside a model the layer cannot tell what the cells cover, and counts each as its own: by position, by
    # keyword, and after an explicit build.
    data = np.zeros((1, 4, 2, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=r"cells \[1, 3\] of axis 0"):
        skipping()(data)
    with pytest.raises(ValueError, match=r"cells \[1, 3\] of axis 0"):
        skipping()(x=data)
    built = skipping()
    built.build(data.shape)
    with pytest.raises(ValueError, match=r"cells \[1, 3\] of axis 0"):
        built(data)


def test_a_saved_model_whose_windows_skip_covered_cells_loads(tmp_path):
    skipping = layers.Conv2DProduct(strides=[2, 1], dilations=[2, 1], kernel_size=[2, 1], depthwise=True)
    model = models.SequentialSumProductNetwork([keras.Input((3, 2, 1), dtype="int32")] + _rows_full_then(skipping))
    randomize_accumulators(model, np.random.default_rng(7))
    x = all_binary(6).reshape(-1, 3, 2, 1)
    model.save(tmp_path / "skipping.keras")
    loaded = keras.models.load_model(tmp_path / "skipping.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_windows_that_drop_variables_are_refused_and_named():
    # Windows {0} and {3} (stride 3): cells 1 and 2 skipped, and image row 1 only they cover.
    dropping = layers.Conv2DProduct(strides=[3, 1], dilations=1, kernel_size=1, depthwise=True, name="drop")
    stack = _rows_full_then(dropping)
    with pytest.raises(ValueError, match=r"Conv2DProduct 'drop': cells \[1, 2\] of axis 0 .*\(row 1 of the image\)"):
        keras.Sequential([keras.Input((3, 2, 1), dtype="int32")] + stack)


def test_region_products_may_skip_decompositions():
    # A region tensor's columns are decompositions of the same 4 variables: keeping every second one drops none.
    model = keras.Sequential(
        [
            keras.Input((4,)),
            layers.FlatToRegions(num_decomps=2),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=2),
            layers.Conv2DProduct(strides=[2, 2], dilations=1, kernel_size=[2, 1], depthwise=True),
            layers.DenseSum(num_sums=2),
            layers.ReduceProduct(num_factors=2),
            _root(),
        ]
    )
    assert model.output_shape == (None, 1)
    randomize_accumulators(model, np.random.default_rng(6))
    log_probs = model(all_binary(4).astype(np.float32)).numpy()[:, 0].astype(np.float64)
    assert abs(np_logsumexp(log_probs)) < 1e-5
