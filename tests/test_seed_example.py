"""The DGC-SPN of the seed README, run verbatim: structure, parameter counts, summary and training."""

import io
import re
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

SEED_README_CANDIDATES = [
    Path(__file__).resolve().parents[1] / "shared" / "seed" / "README.md",
    Path(__file__).resolve().parents[2] / "shared" / "seed" / "README.md",
]

# Verbatim from the seed README (its example is the contract), except that the
# summary call is left to the tests and trailing spaces are stripped.
SEED_EXAMPLE = """\
from libspn_keras import layers
from tensorflow import keras

sum_kwargs = dict(
    accumulator_initializer=keras.initializers.TruncatedNormal(
        stddev=0.5, mean=1.0),
    logspace_accumulators=True
)

sum_product_network = keras.Sequential([
  layers.NormalLeaf(
      input_shape=(28, 28, 1),
      num_components=16,
      location_trainable=True,
      location_initializer=keras.initializers.TruncatedNormal(
          stddev=1.0, mean=0.0)
  ),
  # Non-overlapping products
  layers.Conv2DProduct(
      depthwise=True,
      strides=[2, 2],
      dilations=[1, 1],
      kernel_size=[2, 2],
      padding='valid'
  ),
  layers.Local2DSum(num_sums=16, **sum_kwargs),
  # Non-overlapping products
  layers.Conv2DProduct(
      depthwise=True,
      strides=[2, 2],
      dilations=[1, 1],
      kernel_size=[2, 2],
      padding='valid'
  ),
  layers.Local2DSum(num_sums=32, **sum_kwargs),
  # Overlapping products, starting at dilations [1, 1]
  layers.Conv2DProduct(
      depthwise=True,
      strides=[1, 1],
      dilations=[1, 1],
      kernel_size=[2, 2],
      padding='full'
  ),
  layers.Local2DSum(num_sums=32, **sum_kwargs),
  # Overlapping products, with dilations [2, 2] and full padding
  layers.Conv2DProduct(
      depthwise=True,
      strides=[1, 1],
      dilations=[2, 2],
      kernel_size=[2, 2],
      padding='full'
  ),
  layers.Local2DSum(num_sums=64, **sum_kwargs),
  # Overlapping products, with dilations [4, 4] and full padding
  layers.Conv2DProduct(
      depthwise=True,
      strides=[1, 1],
      dilations=[4, 4],
      kernel_size=[2, 2],
      padding='full'
  ),
  layers.Local2DSum(num_sums=64, **sum_kwargs),
  # Overlapping products, with dilations [8, 8] and 'final' padding to combine
  # all scopes
  layers.Conv2DProduct(
      depthwise=True,
      strides=[1, 1],
      dilations=[8, 8],
      kernel_size=[2, 2],
      padding='final'
  ),
  layers.SpatialToRegions(),
  # Class roots
  layers.DenseSum(num_sums=10, **sum_kwargs),
  layers.RootSum(
      return_weighted_child_logits=True,
      logspace_accumulators=True,
      accumulator_initializer=keras.initializers.TruncatedNormal(
          stddev=0.0, mean=1.0)
  )
])
"""

LAYER_PARAMS = [25088, 4, 50176, 4, 25088, 4, 65536, 4, 204800, 4, 802816, 4, 0, 40960, 10]
OUTPUT_SHAPES = [
    (None, 28, 28, 16),
    (None, 14, 14, 16),
    (None, 14, 14, 16),
    (None, 7, 7, 16),
    (None, 7, 7, 32),
    (None, 8, 8, 32),
    (None, 8, 8, 32),
    (None, 10, 10, 32),
    (None, 10, 10, 64),
    (None, 14, 14, 64),
    (None, 14, 14, 64),
    (None, 8, 8, 64),
    (None, 1, 1, 4096),
    (None, 1, 1, 10),
    (None, 10),
]
LAYER_CLASSES = (
    ["NormalLeaf"] + ["Conv2DProduct", "Local2DSum"] * 5 + ["Conv2DProduct", "SpatialToRegions", "DenseSum", "RootSum"]
)


def build_seed_model(seed=0):
    keras.utils.set_random_seed(seed)
    namespace = {}
    exec(compile(SEED_EXAMPLE, "<seed README example>", "exec"), namespace)
    return namespace["sum_product_network"]


def _size(weights):
    return int(sum(int(keras.ops.size(w)) for w in weights))


@pytest.fixture(scope="module")
def seed_model():
    return build_seed_model()


def test_example_matches_seed_readme():
    readmes = [path for path in SEED_README_CANDIDATES if path.exists()]
    if not readmes:
        pytest.skip("the seed README is not available")
    blocks = re.findall(r"```python\n(.*?)```", readmes[0].read_text(), flags=re.S)
    assert len(blocks) == 1
    readme_code = "\n".join(line.rstrip() for line in blocks[0].split("\n"))
    # The README block ends with the summary call, which the tests make themselves.
    assert readme_code == SEED_EXAMPLE + "sum_product_network.summary()\n"


def test_total_parameter_counts(seed_model):
    assert seed_model.count_params() == 1_214_498
    assert _size(seed_model.trainable_weights) == 1_201_930
    assert _size(seed_model.non_trainable_weights) == 12_568
    assert _size(seed_model.weights) == 1_214_498


def test_layer_classes_parameters_and_output_shapes(seed_model):
    assert [type(layer).__name__ for layer in seed_model.layers] == LAYER_CLASSES
    assert [layer.count_params() for layer in seed_model.layers] == LAYER_PARAMS
    assert [tuple(layer.output.shape) for layer in seed_model.layers] == OUTPUT_SHAPES
    assert tuple(seed_model.output_shape) == (None, 10)


def test_layer_parameter_breakdown(seed_model):
    leaf = seed_model.layers[0]
    # 28 * 28 cells * 16 components: trainable locations, fixed scales.
    assert _size(leaf.trainable_weights) == 12_544
    assert _size(leaf.non_trainable_weights) == 12_544
    for product in seed_model.layers[1:12:2]:
        assert product.trainable_weights == []
        assert _size(product.non_trainable_weights) == 4
    for layer in seed_model.layers[2:12:2] + seed_model.layers[13:]:
        assert layer.non_trainable_weights == []
    # Local2DSum accumulators are [rows, cols, ch_in, num_sums].
    shapes = [tuple(layer.accumulators.shape) for layer in seed_model.layers[2:12:2]]
    assert shapes == [(14, 14, 16, 16), (7, 7, 16, 32), (8, 8, 32, 32), (10, 10, 32, 64), (14, 14, 64, 64)]
    assert tuple(seed_model.layers[13].accumulators.shape) == (1, 1, 4096, 10)
    assert tuple(seed_model.layers[14].accumulators.shape) == (10, 1)


def test_compute_output_shape_matches(seed_model):
    shape = (None, 28, 28, 1)
    for layer, expected in zip(seed_model.layers, OUTPUT_SHAPES):
        shape = tuple(layer.compute_output_shape(shape))
        assert shape == expected, layer.name


def test_summary_runs(seed_model):
    lines = []
    seed_model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    text = "\n".join(lines)
    assert "1,214,498" in text
    assert "1,201,930" in text
    assert "12,568" in text
    # The plain call (what the README does) prints without raising.
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        seed_model.summary()


def test_forward_pass_is_log_joint(seed_model):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 28, 28, 1)).astype("float32")
    logits = seed_model(x).numpy()
    assert logits.shape == (3, 10)
    assert np.all(np.isfinite(logits))
    # The root accumulators are all 1 (TruncatedNormal with stddev 0), so each
    # class weight is 1/10 and the logits are log(1/10) + the class roots below.
    class_roots = keras.Model(seed_model.inputs[0], seed_model.layers[13].output)(x).numpy().reshape(3, 10)
    np.testing.assert_allclose(logits, class_roots + np.log(0.1), rtol=1e-5, atol=1e-3)
    # Log-densities of 784 variables: far below 0 for standard normal data.
    assert np.all(logits < 0)


def test_forward_pass_of_leaf_matches_scipy_free_reference(seed_model):
    leaf = seed_model.layers[0]
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 28, 28, 1)).astype("float32")
    location = leaf.location.numpy()[..., 0]  # [28, 28, 16]
    scale = leaf.scale.numpy()[..., 0]
    expected = -0.5 * ((x - location) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(leaf(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def _two_class_images(num=64, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(2), num // 2)
    means = np.where(labels == 0, -1.0, 1.0)[:, None, None, None]
    images = (rng.normal(size=(num, 28, 28, 1)) + means).astype("float32")
    order = rng.permutation(num)
    return images[order], labels[order]


def test_trains_with_cross_entropy():
    model = build_seed_model(seed=3)
    x, y = _two_class_images()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    before = model.get_weights()
    history = model.fit(x, y, epochs=5, batch_size=32, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert all(np.isfinite(losses))
    # Ten classes with uniform root weights: the loss starts near log(10).
    assert abs(losses[0] - np.log(10)) < 0.5
    assert losses[-1] < losses[0] - 0.05
    assert all(b < a for a, b in zip(losses, losses[1:]))
    # Independent check of the loss: cross-entropy of the logits by hand.
    logits = model.predict(x, verbose=0)
    log_softmax = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    manual = -np.mean(log_softmax[np.arange(len(y)), y])
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0)[0], manual, rtol=1e-4)
    # Trainable weights moved, non-trainable ones (scales, product kernels) did not.
    after = model.get_weights()
    trainable_ids = {id(w) for w in model.trainable_weights}
    for variable, old, new in zip(model.weights, before, after):
        if id(variable) in trainable_ids:
            continue
        np.testing.assert_array_equal(old, new)
    assert any(not np.allclose(old, new) for old, new in zip(before, after))
    assert tf.reduce_all(tf.math.is_finite(model(x[:4]))).numpy()
