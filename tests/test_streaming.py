"""Streaming input: ``fit`` on a ``tf.data.Dataset`` of several batches, for every kind of SPN model.

Each model is trained on a batched ``tf.data.Dataset`` (yielding ``x`` alone
for unsupervised training, or ``(x, y)`` for a classifier) and must run every
batch (the last one partial) and change its weights; for one model of each
input kind (binary, images with labels, sequences) the model is then trained
again from the same initial weights and optimizer state (its traced step
kept) on the same arrays with the same batch size and ``shuffle=False``, and
both runs must end with the same weights. The DEBD test writes a tiny data set in the DEBD
text format and trains on ``libspn_keras.datasets.debd_dataset``.
"""

import math

import numpy as np
import pytest
import tensorflow as tf
from reference import restore_state, saved_state
from tensorflow import keras

from libspn_keras import datasets, layers, models, optimizers, random_region_graph, region_graph_to_dense_spn

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")

NUM_SAMPLES = 72
BATCH = 32  # 3 batches per epoch, the last of 8 samples
EPOCHS = 2


class BatchCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


# ----- models --------------------------------------------------------------------------------------------------


def rat_spn(sum_op, num_classes=None):
    return models.build_rat_spn(
        num_vars=8,
        depth=2,
        num_decomps=2,
        num_input_distributions=3,
        num_sums=3,
        num_classes=num_classes,
        sum_op=sum_op,
    )


def spatial_dgc(num_classes=2):
    """A DGC-SPN for 4x4 images: Normal leaf, products 4 -> 2 -> 3 -> 2 (depthwise), class roots on top."""

    def product(**kwargs):
        return layers.Conv2DProduct(kernel_size=2, depthwise=True, **kwargs)

    return models.SequentialSumProductNetwork(
        [
            keras.Input((4, 4, 1)),
            layers.NormalLeaf(num_components=3, location_trainable=True),
            product(strides=2, dilations=1, padding="valid"),
            layers.Local2DSum(num_sums=3),
            product(strides=1, dilations=1, padding="full"),
            layers.Local2DSum(num_sums=3),
            product(strides=1, dilations=2, padding="final"),
            layers.SpatialToRegions(),
            layers.DenseSum(num_sums=num_classes),
            layers.RootSum(return_weighted_child_logits=True),
        ]
    )


def functional_spn():
    inputs = keras.Input((8,), dtype="int32")
    h = layers.FlatToRegions(num_decomps=2)(inputs)
    h = layers.IndicatorLeaf(num_components=2)(h)
    h = layers.DenseSum(num_sums=3)(h)
    h = layers.PermuteAndPadScopesRandom(factors=[2, 2, 2])(h)
    for num_sums in (3, 3, 1):
        h = layers.DenseProduct(num_factors=2)(h)
        h = layers.DenseSum(num_sums=num_sums)(h)
    outputs = layers.RootSum(return_weighted_child_logits=False)(h)
    return models.SumProductNetwork(inputs, outputs)


def dynamic_spn():
    template = keras.Sequential(
        [
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=3, sum_op="em"),
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=3, sum_op="em"),
        ]
    )
    model = models.DynamicSumProductNetwork(template, num_interface_sums=3, sum_kwargs={"sum_op": "em"})
    model.build((None, 3, 2))
    return model


def region_graph_spn(num_classes=None):
    graph = random_region_graph(num_vars=8, depth=2, num_decomps=2, seed=3)
    return region_graph_to_dense_spn(
        graph,
        layers.IndicatorLeaf(num_components=2),
        [3, 3],
        return_weighted_child_logits=num_classes is not None,
        num_classes=num_classes,
    )


# ----- data ----------------------------------------------------------------------------------------------------


def binary_data(rng):
    x = (rng.random((NUM_SAMPLES, 8)) < np.where(np.arange(8) % 2, 0.25, 0.7)).astype("int32")
    y = (x[:, :4].sum(axis=1) >= 2).astype("int32")
    return x, y


def image_data(rng):
    y = rng.integers(0, 2, size=NUM_SAMPLES).astype("int32")
    x = rng.normal(size=(NUM_SAMPLES, 4, 4, 1)) + np.where(y, 1.0, -1.0)[:, None, None, None]
    return x.astype("float32"), y


def sequence_data(rng):
    x = (rng.random((NUM_SAMPLES, 3, 2)) < 0.3).astype("int32")
    x[: NUM_SAMPLES // 3, 2] = -1  # a third of the sequences are 2 steps long, padded with a missing step
    return x, None


def em(learning_rate=0.3):
    return lambda: optimizers.OnlineExpectationMaximization(learning_rate=learning_rate)


def adam(learning_rate=0.05):
    return lambda: keras.optimizers.Adam(learning_rate=learning_rate)


def cross_entropy():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


# name: (build, data, optimizer, supervised, compare with training on the arrays)
CASES = {
    "rat_spn_em": (lambda: rat_spn("em"), binary_data, em(), False, True),
    "rat_spn_classifier_supervised": (lambda: rat_spn("grad", num_classes=2), binary_data, adam(), True, False),
    # The classifier trained generatively: NegativeLogLikelihood on the class logits.
    "spatial_dgc_unsupervised": (spatial_dgc, image_data, adam(), False, False),
    "spatial_dgc_supervised": (spatial_dgc, image_data, adam(), True, True),
    "functional": (functional_spn, binary_data, adam(), False, False),
    "dynamic_em": (dynamic_spn, sequence_data, em(), False, True),
    "region_graph": (region_graph_spn, binary_data, adam(), False, False),
    "region_graph_classifier_supervised": (lambda: region_graph_spn(num_classes=2), binary_data, adam(), True, True),
}


def compile_model(model, optimizer, supervised, jit_compile="auto"):
    model.compile(optimizer=optimizer(), loss=cross_entropy() if supervised else None, jit_compile=jit_compile)
    return model


def weights_changed(before, after):
    return sum(not np.allclose(b, a) for b, a in zip(before, after))


# Slow extras, each covered in the core run by a kept case: rat_spn_em by test_repeated_dataset_with_steps_per_epoch
# (a RAT-SPN trained by EM on a data set, compared with the arrays); rat_spn_classifier_supervised and
# spatial_dgc_supervised by region_graph_classifier_supervised (an (x, y) data set, compared with the arrays), the
# spatial family by spatial_dgc_unsupervised; region_graph by region_graph_classifier_supervised.
SLOW_CASES = {"rat_spn_em", "rat_spn_classifier_supervised", "spatial_dgc_supervised", "region_graph"}


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_CASES else name for name in CASES]
)
def test_fit_on_dataset(name):
    build, make_data, optimizer, supervised, compare = CASES[name]
    x, y = make_data(np.random.default_rng(0))
    keras.utils.set_random_seed(0)
    # Graph mode: the step is the one Keras runs for arrays too (it streams them as a tf.data.Dataset); under XLA it
    # compiled twice per model (the full batches and the last one of 8). Streaming under the default compile stays in
    # the core in test_repeated_dataset_with_steps_per_epoch and test_training_on_debd_text_files.
    streamed = compile_model(build(), optimizer, supervised, jit_compile=False)
    initial = streamed.get_weights()
    state = saved_state(streamed)
    dataset = tf.data.Dataset.from_tensor_slices((x, y) if supervised else x).batch(BATCH)
    counter = BatchCounter()
    history = streamed.fit(dataset, epochs=EPOCHS, shuffle=False, callbacks=[counter], verbose=0).history["loss"]
    assert counter.batches == EPOCHS * math.ceil(NUM_SAMPLES / BATCH)
    assert len(history) == EPOCHS and np.all(np.isfinite(history)), history
    assert weights_changed(initial, streamed.get_weights()) >= 2
    if not compare:
        return

    streamed_weights = streamed.get_weights()
    restore_state(state)  # the same compiled step again, from the same start, on the arrays
    streamed.fit(x, y if supervised else None, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
    for index, (got, expected) in enumerate(zip(streamed_weights, streamed.get_weights())):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=f"{name}: weight {index}")


def test_repeated_dataset_with_steps_per_epoch():
    """An endless stream (``repeat()``) trains with ``steps_per_epoch`` like the finite data set it repeats."""
    x, _ = binary_data(np.random.default_rng(1))
    x = x[:64]  # 2 full batches per pass
    keras.utils.set_random_seed(0)
    streamed = compile_model(rat_spn("em"), em(), False)
    state = saved_state(streamed)
    counter = BatchCounter()
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(BATCH).repeat()
    streamed.fit(dataset, epochs=3, steps_per_epoch=2, shuffle=False, callbacks=[counter], verbose=0)
    assert counter.batches == 6

    streamed_weights = streamed.get_weights()
    restore_state(state)  # the same compiled step again, from the same start, on the arrays
    streamed.fit(x, batch_size=BATCH, epochs=3, shuffle=False, verbose=0)
    for got, expected in zip(streamed_weights, streamed.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def write_debd(root, name, splits):
    folder = root / name
    folder.mkdir()
    for split, rows in splits.items():
        (folder / f"{name}.{split}.data").write_text("\n".join(",".join(map(str, row)) for row in rows) + "\n")


def test_training_on_debd_text_files(tmp_path):
    rng = np.random.default_rng(2)

    # Two clusters of 8 binary variables: x_i = cluster bit, flipped with probability 0.1.
    def sample(num):
        clusters = rng.integers(0, 2, size=(num, 1))
        return np.where(rng.random((num, 8)) < 0.1, 1 - clusters, clusters).astype(int)

    # Whole batches of 32: under XLA a last short batch would compile the steps once more for its own shape (the
    # short batches stream in test_fit_on_dataset).
    train, valid = sample(128), sample(64)
    write_debd(tmp_path, "toy", {"train": train, "valid": valid})

    keras.utils.set_random_seed(0)
    model = compile_model(rat_spn("em"), em(0.5), False)
    state = saved_state(model)
    valid_set = datasets.debd_dataset(tmp_path, "toy", "valid", batch_size=BATCH)
    valid_before = model.evaluate(valid_set, verbose=0)
    counter = BatchCounter()
    train_set = datasets.debd_dataset(tmp_path, "toy", "train", batch_size=BATCH)
    history = model.fit(train_set, epochs=4, shuffle=False, callbacks=[counter], verbose=0).history["loss"]
    assert counter.batches == 4 * math.ceil(len(train) / BATCH)
    assert history[-1] < history[0]
    valid_after = model.evaluate(valid_set, verbose=0)
    assert valid_after < valid_before - 0.5, (valid_before, valid_after)

    # The same as training on the arrays that load_debd reads (int32 like the data set's batches: the traced step
    # takes them as they are).
    arrays = datasets.load_debd(tmp_path, "toy", "train")
    np.testing.assert_array_equal(arrays, train)
    streamed_weights = model.get_weights()
    restore_state(state)  # the same compiled step again, from the same start, on the arrays
    model.fit(arrays, batch_size=BATCH, epochs=4, shuffle=False, verbose=0)
    for got, expected in zip(streamed_weights, model.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    model.set_weights(streamed_weights)

    # Shuffled streaming trains as well.
    shuffled = datasets.debd_dataset(tmp_path, "toy", "train", batch_size=BATCH, shuffle=True, seed=0)
    model.fit(shuffled, epochs=1, shuffle=False, verbose=0)  # the data set shuffles itself
    assert model.evaluate(valid_set, verbose=0) < valid_before
