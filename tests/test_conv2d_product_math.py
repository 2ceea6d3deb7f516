"""Conv2DProduct values and gradients against an explicit numpy loop over windows."""

import numpy as np
import pytest
import tensorflow as tf

from libspn_keras import layers
from libspn_keras.math.spatial import spatial_output_size, spatial_padding


def numpy_product(x, kernel_size, strides, dilations, padding, picks=None):
    """Log-space window products by explicit loops; ``picks[i, j, o]`` is the input channel of output ``o``."""
    batch, rows, cols, channels = x.shape
    pads = [spatial_padding(padding, size, k, d) for size, k, d in zip((rows, cols), kernel_size, dilations)]
    out_size = [
        spatial_output_size(size, p, k, d, s)
        for size, p, k, d, s in zip((rows, cols), pads, kernel_size, dilations, strides)
    ]
    padded = np.pad(x, [(0, 0), pads[0], pads[1], (0, 0)])
    out_channels = channels if picks is None else picks.shape[-1]
    out = np.zeros((batch, *out_size, out_channels))
    for r in range(out_size[0]):
        for c in range(out_size[1]):
            for i in range(kernel_size[0]):
                for j in range(kernel_size[1]):
                    cell = padded[:, r * strides[0] + i * dilations[0], c * strides[1] + j * dilations[1], :]
                    out[:, r, c, :] += cell if picks is None else cell[:, picks[i, j]]
    return out


GEOMETRIES = [
    # input size, kernel, strides, dilations, padding
    (4, 2, 2, 1, "valid"),
    (5, 2, 1, 1, "full"),
    (5, 2, 1, 2, "full"),
    (7, 2, 1, 4, "final"),
    (6, 3, 3, 1, "valid"),
    (7, 3, 2, 1, "full"),
    (6, 2, 2, 2, "valid"),
]


# Non-depthwise products: 5 of the channel combinations at random, and (kernel 2 only: 3 ** 4 = 81 channels) all.
CHANNEL_CHOICES = [(True, None), (False, 5), (False, "all")]


@pytest.mark.parametrize("size, kernel, stride, dilation, padding", GEOMETRIES)
@pytest.mark.parametrize("depthwise, num_channels", CHANNEL_CHOICES)
def test_values_and_gradients_match_explicit_windows(size, kernel, stride, dilation, padding, depthwise, num_channels):
    if num_channels == "all" and kernel != 2:
        pytest.skip("all channel combinations only for 2x2 kernels (3 ** 9 channels otherwise)")
    rng = np.random.default_rng(size * 10 + kernel)
    channels = 3
    x = rng.normal(size=(2, size, size, channels)).astype(np.float32)
    try:
        layer = layers.Conv2DProduct(
            strides=stride,
            dilations=dilation,
            kernel_size=kernel,
            padding=padding,
            depthwise=depthwise,
            num_channels=None if num_channels == "all" else num_channels,
            seed=1,
        )
        layer(x)  # builds, and checks that the windows cover every cell
    except ValueError:
        pytest.skip("geometry rejected by the layer's coverage checks")
    picks = None if depthwise else np.argmax(layer.kernel.numpy(), axis=2)
    if num_channels == "all":
        # Output channel o takes channel digit k of o (base 3, the first cell's least significant, as in 0.6.0)
        # from cell k (row-major).
        digits = np.array([[o // 3**k % 3 for o in range(3**4)] for k in range(4)])
        np.testing.assert_array_equal(picks, digits.reshape(2, 2, -1))
    kernel_size, strides, dilations = layer.kernel_size, layer.strides, layer.dilations
    expected = numpy_product(x.astype(np.float64), kernel_size, strides, dilations, padding, picks)
    x_tensor = tf.constant(x)
    cotangent = tf.constant(rng.normal(size=expected.shape).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        out = layer(x_tensor)
        total = tf.reduce_sum(out * cotangent)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)
    # The output is linear in x, so the gradient is the window-wise sum of the cotangent, found by differencing.
    basis = np.eye(x.size).reshape(x.size, *x.shape)
    reference = np.array(
        [np.sum(numpy_product(e, kernel_size, strides, dilations, padding, picks) * cotangent.numpy()) for e in basis]
    ).reshape(x.shape)
    np.testing.assert_allclose(tape.gradient(total, x_tensor).numpy(), reference, rtol=1e-4, atol=1e-4)


def test_minus_infinity_passes_through_with_finite_gradients():
    x = np.zeros((1, 5, 5, 1), np.float32)
    x[0, 2, 2, 0] = -np.inf
    layer = layers.Conv2DProduct(strides=1, dilations=2, kernel_size=2, padding="full", depthwise=True)
    x_tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        out = layer(x_tensor)
        total = tf.reduce_sum(tf.where(tf.math.is_finite(out), out, 0.0))
    assert np.isneginf(out.numpy()).sum() == 4
    assert np.all(np.isfinite(tape.gradient(total, x_tensor).numpy()))


@pytest.mark.parametrize("depthwise", [True, False])
def test_compiled_products_match_eager_with_minus_infinity(depthwise):
    """XLA fuses these products into the layers around them; the values, -inf included, stay the eager ones."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 8, 8, 2)).astype(np.float32)
    x[1, 3, 4, 0] = -np.inf
    layer = layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, depthwise=depthwise)
    eager = layer(tf.constant(x)).numpy()
    compiled = tf.function(lambda t: layer(t), jit_compile=True)(tf.constant(x)).numpy()
    assert eager.shape == (3, 4, 4, 2 if depthwise else 16)
    np.testing.assert_array_equal(np.isneginf(compiled), np.isneginf(eager))
    assert np.isneginf(eager).sum() == (1 if depthwise else 8)
    finite = np.isfinite(eager)
    np.testing.assert_allclose(compiled[finite], eager[finite], rtol=1e-6, atol=1e-6)


def reference_060_picks(channels, kernel_size, num_channels):
    """0.6.0's draw of a subset of channel combinations from NumPy's global state, ``[rows, cols, out]``."""
    area = kernel_size[0] * kernel_size[1]
    if num_channels >= channels:
        cells = []
        for _ in range(area):
            cell = np.arange(num_channels) % channels
            np.random.shuffle(cell)
            cells.append(cell)
        return np.asarray(cells).reshape(*kernel_size, num_channels)
    return np.random.randint(channels, size=area * num_channels).reshape(*kernel_size, num_channels)


@pytest.mark.parametrize("channels, num_channels", [(3, 6), (3, 4), (5, 2)])
def test_a_subset_of_combinations_is_drawn_as_060_draws_it(channels, num_channels):
    """From NumPy's global state, call for call, so a seeded 0.6.0 script gets the same structure."""
    np.random.seed(11)
    expected = [reference_060_picks(channels, [2, 2], num_channels) for _ in range(2)]
    np.random.seed(11)
    x = np.random.default_rng(0).normal(size=(2, 4, 4, channels)).astype(np.float32)
    for picks in expected:  # two layers drawn one after the other
        layer = layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, num_channels=num_channels)
        out = layer(x).numpy()
        np.testing.assert_array_equal(np.argmax(layer.kernel.numpy(), axis=2), picks)
        np.testing.assert_allclose(out, numpy_product(x, [2, 2], [2, 2], [1, 1], "valid", picks), rtol=1e-5)
        if num_channels >= channels:  # every cell uses every input channel equally often
            for cell in picks.reshape(4, num_channels):
                assert np.ptp(np.bincount(cell, minlength=channels)) <= 1


def test_an_explicit_seed_draws_the_same_combinations_whatever_the_global_state():
    kernels = []
    for global_seed in (1, 2):
        np.random.seed(global_seed)
        layer = layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, num_channels=5, seed=3)
        layer.build((None, 4, 4, 3))
        kernels.append(layer.kernel.numpy())
    np.testing.assert_array_equal(*kernels)


def test_seeds_beyond_32_bits_draw_too():
    layer = layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, num_channels=5, seed=2**40 + 3)
    layer.build((None, 4, 4, 3))
    again = layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, num_channels=5, seed=2**40 + 3)
    again.build((None, 4, 4, 3))
    np.testing.assert_array_equal(layer.kernel.numpy(), again.kernel.numpy())


def test_final_padding_leaves_an_axis_with_a_one_wide_kernel_unpadded():
    # As in 0.6.0: padding='final' pads only axes along which the kernel joins cells; kernel [2, 1] joins rows only.
    x = np.random.default_rng(0).normal(size=(2, 3, 2, 1)).astype(np.float32)
    layer = layers.Conv2DProduct(strides=1, dilations=[2, 1], kernel_size=[2, 1], padding="final", depthwise=True)
    out = layer(x).numpy()
    # Rows: k_eff 3, one padding row on top, windows (pad, row 1) and (row 0, row 2); columns untouched.
    expected = np.stack([x[:, 1], x[:, 0] + x[:, 2]], axis=1)
    assert layer.compute_output_shape((None, 3, 2, 1)) == (None, 2, 2, 1)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
