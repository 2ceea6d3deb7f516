"""The DGC-SPN of the seed README, run as the repository's README gives it: structure, parameters, summary, training."""

import hashlib
import io
import re
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

README = Path(__file__).resolve().parents[1] / "README.md"
# sha256 of the seed README's example (trailing spaces stripped, ending with its summary call). The repository's
# README carries that example verbatim: the tests below run the code they read from it.
SEED_EXAMPLE_SHA256 = "c4335e13ae0437e500bddcda1d576e0e1863383c3611e0aaf9b1ba6261a7b920"
SUMMARY_CALL = "sum_product_network.summary()\n"


def readme_example():
    """The README's ``keras.Sequential`` example, trailing spaces stripped, summary call included."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    blocks = [block for block in blocks if "sum_product_network = keras.Sequential(" in block]
    assert len(blocks) == 1, f"expected one DGC-SPN example in {README}, found {len(blocks)}"
    return "\n".join(line.rstrip() for line in blocks[0].split("\n"))


def readme_summary():
    """The summary table the README says the example prints (the plain code block after the example)."""
    text = README.read_text(encoding="utf-8")
    after = text[text.index(SUMMARY_CALL + "```") + len(SUMMARY_CALL + "```") :]
    match = re.search(r"```\n(.*?)```", after, flags=re.S)
    assert match, "no summary block after the README example"
    return match.group(1)


# The example without its summary call, which the tests make themselves.
SEED_EXAMPLE = readme_example().removesuffix(SUMMARY_CALL)

# The parameter figures of the seed README's printed summary. The output shapes are batch first, as Keras 3 prints
# them (the seed's Keras 2 summary showed the two region layers as (1, 1, None, 4096) and (1, 1, None, 10)).
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
    exec(compile(SEED_EXAMPLE, str(README), "exec"), namespace)
    return namespace["sum_product_network"]


def _size(weights):
    return int(sum(int(keras.ops.size(w)) for w in weights))


@pytest.fixture(scope="module")
def seed_model():
    return build_seed_model()


def test_readme_example_is_the_seed_example():
    code = readme_example()
    assert code.endswith(SUMMARY_CALL)
    assert hashlib.sha256(code.encode("utf-8")).hexdigest() == SEED_EXAMPLE_SHA256


def test_readme_summary_shows_the_seed_figures():
    summary = readme_summary()
    rows = re.findall(r"^│ (\w+) .*?│ (\(None[\d, ]*\)) +│ +([\d,]+) │$", summary, flags=re.M)
    assert [int(params.replace(",", "")) for _, _, params in rows] == LAYER_PARAMS
    assert [tuple(None if v == "None" else int(v) for v in shape[1:-1].split(", ")) for _, shape, _ in rows] == (
        OUTPUT_SHAPES
    )
    for label, figure in (("Total", "1,214,498"), ("Trainable", "1,201,930"), ("Non-trainable", "12,568")):
        assert re.search(rf"^ {label} params: {figure} ", summary, flags=re.M), label


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
