"""Seeded queries are reproducible and leave the process-wide random state alone (issue 11.11)."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from libspn_keras import layers, models


def gaussian_model():
    keras.utils.set_random_seed(0)
    return models.SequentialSumProductNetwork(
        [
            keras.Input((4, 4, 1)),
            layers.NormalLeaf(num_components=3),
            layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, depthwise=True),
            layers.Local2DSum(num_sums=3),
            layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, depthwise=True),
            layers.SpatialToRegions(),
            layers.DenseSum(num_sums=2),
            layers.RootSum(return_weighted_child_logits=True),
        ]
    )


def queries(model, x, seed):
    return [
        model.sample(6, seed=seed),
        model.complete(x, method="sample", seed=seed),
        model.mpe(x, seed=seed),
        model.zero_evidence_inference(3, seed=seed),
    ]


def test_seeded_queries_do_not_touch_the_global_generator():
    model = gaussian_model()
    x = np.random.default_rng(1).normal(size=(5, 4, 4, 1)).astype(np.float32)
    x[:, 2:] = np.nan
    tf.random.set_seed(42)
    expected = [tf.random.uniform([4]).numpy() for _ in range(3)]
    tf.random.set_seed(42)
    seen = [tf.random.uniform([4]).numpy()]
    queries(model, x, seed=7)
    seen += [tf.random.uniform([4]).numpy() for _ in range(2)]
    np.testing.assert_array_equal(seen, expected)
    # A tf.random.Generator the user holds is not advanced either.
    generator = tf.random.Generator.from_seed(3)
    state = generator.state.numpy().copy()
    queries(model, x, seed=7)
    np.testing.assert_array_equal(generator.state.numpy(), state)


def test_same_seed_same_result_and_seeds_matter():
    model = gaussian_model()
    x = np.random.default_rng(2).normal(size=(5, 4, 4, 1)).astype(np.float32)
    x[:, :, 2:] = np.nan
    first, again, other = queries(model, x, 11), queries(model, x, 11), queries(model, x, 12)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0]) and not np.array_equal(first[1], other[1])
    # Without a seed the draws follow NumPy's global state, which keras.utils.set_random_seed sets.
    keras.utils.set_random_seed(5)
    unseeded = model.sample(4)
    keras.utils.set_random_seed(5)
    np.testing.assert_array_equal(model.sample(4), unseeded)


@pytest.mark.parametrize("bad", [-1, 0, 2.5, "3", True, None])
def test_sample_refuses_a_bad_number_of_samples(bad):
    model = gaussian_model()
    with pytest.raises(ValueError, match="num_samples"):
        model.sample(bad)
    with pytest.raises(ValueError, match="num_samples"):
        model.zero_evidence_inference(bad)


def test_sample_accepts_numpy_integers():
    assert gaussian_model().sample(np.int64(3), seed=0).shape == (3, 4, 4, 1)
