"""Spatial products refuse windows whose cells overlap, and the layers that mix cells (SpatialToRegions, RootSum,
Undecompose) cells of different scopes, at build time.

The check is exact: on random stacks of products (kernel sizes, strides,
dilations, paddings) over tiny binary images, a model is refused when it is
built if and only if the same layers, called eagerly (where nothing is
checked), give probabilities that do not sum to one over all images.
"""

import numpy as np
import pytest
import tensorflow as tf
from reference import all_binary, np_logsumexp
from tensorflow import keras

from libspn_keras import layers
from libspn_keras.math.spatial import axis_product_scopes

SCOPE_ERRORS = ("would multiply input cells that both cover", "its input cells cover different parts")


def _random_products(rng):
    """Arguments of 1-3 products: half drawn freely, half the DGC-SPN schedule with at most one argument changed."""
    depth = int(rng.integers(1, 4))
    if rng.random() < 0.5:
        return [
            dict(
                strides=[int(s) for s in rng.integers(1, 3, size=2)],
                dilations=[int(d) for d in rng.integers(1, 3, size=2)],
                kernel_size=[int(k) for k in rng.integers(1, 3, size=2)],
                padding=str(rng.choice(["valid", "full", "final"])),
            )
            for _ in range(depth)
        ]
    products = [
        dict(strides=1, dilations=2**i, kernel_size=2, padding="final" if i == depth - 1 else "full")
        for i in range(depth)
    ]
    if rng.random() < 0.5:
        changed = products[int(rng.integers(depth))]
        argument = str(rng.choice(["strides", "dilations", "padding"]))
        changed[argument] = {"strides": 2, "dilations": max(1, changed["dilations"] // 2), "padding": "valid"}[argument]
    return products


def _random_stack(rng):
    stack = [layers.IndicatorLeaf(num_components=2)]
    for arguments in _random_products(rng):
        stack.append(layers.Conv2DProduct(depthwise=bool(rng.random() < 0.3), **arguments))
        stack.append(layers.Local2DSum(num_sums=2))
    # The layers that mix cells: SpatialToRegions as the seed does, or (on one row of cells) a root or Undecompose
    # directly on the spatial tensor.
    ending = [[layers.SpatialToRegions()], [], [layers.Undecompose()]][int(rng.integers(3))]
    return stack + ending + [layers.RootSum(return_weighted_child_logits=False)]


def _eager_log_probabilities(stack, images):
    x = tf.constant(images)
    for layer in stack:
        x = layer(x)
    return x.numpy()[:, 0].astype(np.float64)


def _randomize(stack, rng):
    for layer in stack:
        if hasattr(layer, "accumulators"):
            layer.accumulators.assign(np.exp(rng.normal(scale=1.5, size=layer.accumulators.shape)).astype("float32"))


# (2, 2) and (3, 3): slow extras; the core draws stacks over one row of cells, (1, 3) and (1, 4), and over a
# two-dimensional image, (2, 3).
@pytest.mark.parametrize(
    "image_shape",
    [
        (1, 3),
        pytest.param((2, 2), marks=pytest.mark.slow),
        (1, 4),
        (2, 3),
        pytest.param((3, 3), marks=pytest.mark.slow),
    ],
)
def test_models_are_refused_exactly_when_they_do_not_sum_to_one(image_shape):
    rng = np.random.default_rng(sum(image_shape) * 7 + image_shape[0])
    images = all_binary(image_shape[0] * image_shape[1]).reshape(-1, *image_shape, 1).astype(np.float32)
    outcomes = {"refused": 0, "built": 0}
    for _ in range(300):
        if sum(outcomes.values()) == 10:
            break
        stack = _random_stack(rng)
        try:
            log_p = _eager_log_probabilities(stack, images)
        except ValueError:
            continue  # refused by the layers' own shape checks (coverage, window sizes), eager or not
        _randomize(stack, rng)
        total = np_logsumexp(_eager_log_probabilities(stack, images))
        fresh = [type(layer).from_config(layer.get_config()) for layer in stack]
        try:
            keras.Sequential([keras.Input((*image_shape, 1)), *fresh])
        except ValueError as error:
            assert any(text in str(error) for text in SCOPE_ERRORS), str(error)
            assert abs(total) > 1e-3, f"refused a model that sums to one: {[layer.get_config() for layer in stack]}"
            outcomes["refused"] += 1
        else:
            assert abs(total) < 1e-4, f"built a model that sums to exp({total}): {log_p[:3]}"
            outcomes["built"] += 1
    assert outcomes["refused"] >= 1 and outcomes["built"] >= 1, outcomes


def test_two_overlapping_products_are_refused_naming_the_layer_and_the_fix():
    def stack(second_dilation):
        return [
            keras.Input((1, 3, 1)),
            layers.IndicatorLeaf(num_components=2),
            layers.Conv2DProduct(strides=1, dilations=1, kernel_size=[1, 2], name="first"),
            layers.Local2DSum(num_sums=2),
            layers.LogDropout(rate=0.1),
            layers.Conv2DProduct(
                strides=1, dilations=[1, second_dilation], kernel_size=[1, 2], padding="full", name="second"
            ),
        ]

    with pytest.raises(ValueError, match=r"Conv2DProduct 'second'.*column 1.*not decomposable.*double the dilations"):
        keras.Sequential(stack(1))
    # The cover passes through sums and dropout: with the dilation doubled the same cells are disjoint.
    model = keras.Sequential(stack(2))
    assert model.output_shape == (None, 1, 4, 4)


def test_spatial_to_regions_refuses_cells_of_different_scopes():
    inputs = keras.Input((2, 2, 1))
    x = layers.IndicatorLeaf(num_components=2)(inputs)
    x = layers.Conv2DProduct(strides=1, dilations=1, kernel_size=[1, 2], padding="valid")(x)
    with pytest.raises(ValueError, match=r"SpatialToRegions 'regions'.*rows? 0.*row 1.*padding='final'"):
        layers.SpatialToRegions(name="regions")(x)


@pytest.mark.parametrize("mixing", ["root", "undecompose", "dense sum then root"])
def test_a_root_or_undecompose_on_cells_of_different_scopes_is_refused(mixing):
    # One row of two cells covering columns 0-1 and 2-3: a root over them would sum to 4 over all 16 images.
    stack = [
        keras.Input((1, 4, 1)),
        layers.IndicatorLeaf(num_components=2),
        layers.Conv2DProduct(strides=[1, 2], dilations=1, kernel_size=[1, 2], padding="valid"),
        layers.Local2DSum(num_sums=2),
    ]
    name = {"root": "RootSum 'root'", "undecompose": "Undecompose 'joined'", "dense sum then root": "RootSum 'root'"}[
        mixing
    ]
    mixer = {
        "root": [],
        "undecompose": [layers.Undecompose(name="joined")],
        "dense sum then root": [layers.DenseSum(num_sums=2)],
    }[mixing]
    with pytest.raises(
        ValueError,
        match=rf"(?s){name}.*along axis 2, cell 0 covers image columns 0-1.*2-3.*padding='final'.*SpatialToRegions",
    ):
        keras.Sequential(stack + mixer + [layers.RootSum(name="root")])
    # Cells that cover the whole image may be mixed directly.
    whole = stack[:2] + [layers.Conv2DProduct(strides=1, dilations=1, kernel_size=[1, 4], padding="valid")]
    model = keras.Sequential(whole + [layers.RootSum(return_weighted_child_logits=False)])
    images = all_binary(4).reshape(-1, 1, 4, 1).astype(np.float32)
    np.testing.assert_allclose(np_logsumexp(model(images).numpy()[:, 0].astype(np.float64)), 0.0, atol=1e-5)


def test_the_seed_dgc_spn_schedule_is_accepted_at_28_by_28():
    stack = [keras.Input((28, 28, 1)), layers.NormalLeaf(num_components=4)]
    for strides, dilations, padding in [
        (2, 1, "valid"),
        (2, 1, "valid"),
        (1, 1, "full"),
        (1, 2, "full"),
        (1, 4, "full"),
        (1, 8, "final"),
    ]:
        stack += [
            layers.Conv2DProduct(strides=strides, dilations=dilations, kernel_size=2, padding=padding, depthwise=True),
            layers.Local2DSum(num_sums=4),
        ]
    model = keras.Sequential(stack + [layers.SpatialToRegions(), layers.RootSum()])
    assert model.output_shape[0] is None and len(model.output_shape) == 2


def test_axis_product_scopes_matches_a_window_by_window_reference():
    rng = np.random.default_rng(0)
    for _ in range(50):
        size, image = int(rng.integers(1, 6)), int(rng.integers(1, 8))
        scopes = rng.random((size, image)) < 0.3
        kernel, dilation, stride = (int(v) for v in rng.integers(1, 4, size=3))
        pads = tuple(int(p) for p in rng.integers(0, 3, size=2))
        out_size = -(-(size + sum(pads) - (kernel - 1) * dilation) // stride)
        if out_size < 1:
            continue
        covers, shared = axis_product_scopes(scopes, pads, kernel, dilation, stride, out_size)
        padded = [np.zeros(image, bool)] * pads[0] + list(scopes) + [np.zeros(image, bool)] * pads[1]
        for out in range(out_size):
            cells = [padded[out * stride + k * dilation] for k in range(kernel)]
            np.testing.assert_array_equal(covers[out], np.any(cells, axis=0))
            pairs = [a & b for i, a in enumerate(cells) for b in cells[i + 1 :]]
            np.testing.assert_array_equal(shared[out], np.any(pairs, axis=0) if pairs else np.zeros(image, bool))


def test_a_sequential_without_input_still_infers_output_specs_layer_by_layer():
    # keras.Sequential.compute_output_spec of an unbuilt model calls each layer's with training=...; nothing is checked
    # before the layers are built, and the model checks its stack when it is called on an Input.
    stack = [
        layers.IndicatorLeaf(num_components=2),
        layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2),
        layers.Local2DSum(num_sums=2),
        layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2),
        layers.SpatialToRegions(),
    ]
    model = keras.Sequential(stack)
    assert model.compute_output_spec(keras.KerasTensor((None, 4, 4, 1)), training=False).shape == (None, 1, 1, 16)
    assert model(keras.Input((4, 4, 1))).shape == (None, 1, 1, 16)
