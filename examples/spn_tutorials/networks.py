"""The networks of the tutorials: DGC-SPNs for 8x8 (and 28x28) images and a RAT-SPN for the digits."""

import numpy as np
from tensorflow import keras

from libspn_keras import constraints, initializers, layers, models

NUM_CLASSES = 10

# Product layers (strides, dilations, padding) from the image size down to cells that cover the whole image.
# 8x8: 8 -> 4 -> 5 -> 7 -> 4; 28x28 (the README's DGC-SPN): 28 -> 14 -> 7 -> 8 -> 10 -> 14 -> 8.
PRODUCTS = {
    8: [(2, 1, "valid"), (1, 1, "full"), (1, 2, "full"), (1, 4, "final")],
    28: [(2, 1, "valid"), (2, 1, "valid"), (1, 1, "full"), (1, 2, "full"), (1, 4, "full"), (1, 8, "final")],
}


def _product(stride, dilation, padding):
    return layers.Conv2DProduct(
        depthwise=True, strides=[stride, stride], dilations=[dilation, dilation], kernel_size=[2, 2], padding=padding
    )


def build_dgc_spn(num_components=16, sums=(16, 32, 32), input_shape=(8, 8, 1)):
    """A DGC-SPN classifier for 8x8 images: ``log p(x, y)`` for each of the 10 classes, read as logits.

    Built like the README's DGC-SPN, scaled down: a Normal leaf per pixel, a
    non-overlapping 2x2 product (8 -> 4), overlapping products with 'full'
    padding at dilations 1 and 2 (4 -> 5 -> 7), each followed by per-cell
    sums, and a product at dilation 4 with 'final' padding (7 -> 4) whose
    cells each cover the whole image. Ten class roots on top.
    """
    sum_kwargs = dict(
        accumulator_initializer=keras.initializers.TruncatedNormal(stddev=0.5, mean=1.0),
        logspace_accumulators=True,
    )
    stack = [
        keras.Input(shape=input_shape),
        layers.NormalLeaf(
            num_components=num_components,
            location_trainable=True,
            location_initializer=keras.initializers.TruncatedNormal(stddev=1.0, mean=0.0),
        ),
    ]
    for (stride, dilation, padding), num_sums in zip(PRODUCTS[8], list(sums) + [None]):
        stack.append(_product(stride, dilation, padding))
        if num_sums is not None:
            stack.append(layers.Local2DSum(num_sums=num_sums, **sum_kwargs))
    stack += [
        layers.SpatialToRegions(),
        layers.DenseSum(num_sums=NUM_CLASSES, **sum_kwargs),
        layers.RootSum(
            return_weighted_child_logits=True,
            logspace_accumulators=True,
            accumulator_initializer=keras.initializers.TruncatedNormal(stddev=0.0, mean=1.0),
        ),
    ]
    return keras.Sequential(stack)


def build_generative_dgc_spn(x_train, pixel_max, num_components=16, num_sums=16, leaf_scale=0.5, learn_scales=False):
    """A DGC-SPN ``p(x)`` over raw images, set up for EM: standardization, Normal leaves, products, sums, one root.

    Raw pixels enter through a ``NormalizeStandardScore`` layer adapted on
    ``x_train`` (standard deviations floored at 1/16 of the pixel range, so
    the always-blank border pixels do not divide by ~0); queries such as
    ``complete`` and ``sample`` return pixel units. Every sum uses the EM sum
    op on linear-space accumulators and the leaf keeps EM statistics. Leaf
    locations start at per-pixel k-means centres of the standardized
    training images; scales start at ``leaf_scale`` standard deviations and
    stay fixed, unless ``learn_scales`` (then they are floored at 0.25).
    """
    normalize = layers.NormalizeStandardScore(axes="variable_wise")
    normalize.adapt(x_train)
    normalize.std.assign(np.maximum(normalize.std.numpy(), pixel_max / 16.0))
    standardized = normalize(x_train[:2000]).numpy()

    sum_kwargs = dict(
        sum_op="em", logspace_accumulators=False, accumulator_initializer=initializers.Dirichlet(alpha=1.0)
    )
    leaf_kwargs = {}
    if learn_scales:
        leaf_kwargs = dict(scale_trainable=True, scale_constraint=constraints.GreaterEqualEpsilon(0.25))
    stack = [
        keras.Input(shape=x_train.shape[1:]),
        normalize,
        layers.NormalLeaf(
            num_components=num_components,
            use_accumulators=True,
            location_initializer=initializers.KMeans(standardized, samplewise_normalization=False, num_iters=5),
            scale_initializer=keras.initializers.Constant(leaf_scale),
            **leaf_kwargs,
        ),
    ]
    products = PRODUCTS[x_train.shape[1]]
    for index, (stride, dilation, padding) in enumerate(products):
        stack.append(_product(stride, dilation, padding))
        if index < len(products) - 1:
            stack.append(layers.Local2DSum(num_sums=num_sums, **sum_kwargs))
    stack += [layers.SpatialToRegions(), layers.RootSum(return_weighted_child_logits=False, **sum_kwargs)]
    return models.SequentialSumProductNetwork(stack)


def build_digits_rat_spn(depth=2, num_decomps=10, num_input_distributions=8, num_sums=10, num_components=8):
    """A RAT-SPN classifier over the 64 standardized digit pixels: Normal leaves and 10 class roots.

    ``build_rat_spn`` splits the pixels at random into balanced binary region
    trees, ``num_decomps`` times over, with ``num_input_distributions`` sums
    over the leaf components per pixel and ``num_sums`` sums per inner region.
    """
    return models.build_rat_spn(
        num_vars=64,
        depth=depth,
        num_decomps=num_decomps,
        num_input_distributions=num_input_distributions,
        num_sums=num_sums,
        leaf=layers.NormalLeaf(num_components=num_components),
        num_classes=NUM_CLASSES,
        input_dtype="float32",
    )


def build_debd_rat_spn(num_vars, depth=2, num_decomps=10, num_input_distributions=10, num_sums=10, alpha=0.3):
    """A RAT-SPN density ``p(x)`` over binary variables, set up for online EM.

    Indicator leaves, every sum with the EM sum op on linear-space
    accumulators whose initial weights are drawn from a Dirichlet(``alpha``).
    """
    return models.build_rat_spn(
        num_vars=num_vars,
        depth=depth,
        num_decomps=num_decomps,
        num_input_distributions=num_input_distributions,
        num_sums=num_sums,
        sum_op="em",
        accumulator_initializer=initializers.Dirichlet(alpha=alpha),
    )
