"""Seeded queries are reproducible and leave the process-wide random state alone (issue 11.11)."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from libspn_keras import layers, models
from libspn_keras.math import seeding


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
    with pytest.raises(ValueError, match="zero_evidence_inference: size must be an int"):  # its argument's name
        model.zero_evidence_inference(bad)


def test_sample_accepts_numpy_integers():
    assert gaussian_model().sample(np.int64(3), seed=0).shape == (3, 4, 4, 1)


def test_nearby_seeds_draw_independent_streams():
    # tf.random.Generator.from_seed(s) starts Philox's counter at s under one key, so seeds s and s + 1 gave the same
    # numbers four apart, and sample(n, seed=s) nearly repeated sample(n, seed=s + 2), shifted by a row.
    from libspn_keras.math.seeding import random_source, uniform

    draws = []
    for seed in range(5):
        with random_source(seed):
            draws.append(uniform([64]).numpy())
    for a in range(5):
        for b in range(a + 1, 5):
            for shift in range(16):
                assert not np.array_equal(draws[a][shift : shift + 8], draws[b][:8]), (a, b, shift)
                assert not np.array_equal(draws[b][shift : shift + 8], draws[a][:8]), (a, b, shift)
    # On a model: sample(n, seed=s + 2) repeated 86% of the rows of sample(n, seed=s), one row apart, where
    # independent draws agree on sum(p ** 2) of them (about 0.1 here).
    from libspn_keras.region_graph import RegionNode, RegionVariable

    pairs = RegionNode(
        [RegionNode([RegionVariable(0), RegionVariable(1)]), RegionNode([RegionVariable(2), RegionVariable(3)])]
    )
    model = models.compile_region_graph(
        pairs, layers.IndicatorLeaf(2), num_sums=2, num_input_sums=2, input_dtype="int32", sum_op="em"
    )
    rng = np.random.default_rng(0)
    for variable in model.trainable_variables:
        variable.assign(np.exp(2.0 * rng.normal(size=variable.shape)).astype(np.float32))
    grid = np.array(np.meshgrid(*[[0, 1]] * 4, indexing="ij")).reshape(4, -1).T.astype(np.int32)
    probabilities = np.exp(model.log_likelihood(grid).astype(np.float64))
    assert abs(probabilities.sum() - 1.0) < 1e-5
    independent = float(np.sum(probabilities**2))
    first = model.sample(5000, seed=2000)
    for seed in (2001, 2002, 2003):
        other = model.sample(5000, seed=seed)
        for shift in range(3):
            same = np.mean(np.all(first[shift:] == other[: len(other) - shift], axis=1))
            assert same < independent + 0.05, (seed, shift, same, independent)


@pytest.mark.parametrize("bad", ["a", 1.5, True, [1]])
def test_queries_refuse_a_seed_that_is_not_an_int(bad):
    model = gaussian_model()
    with pytest.raises(ValueError, match="seed must be an int or None"):
        model.sample(2, seed=bad)
    assert model.sample(2, seed=np.int64(3)).shape == (2, 4, 4, 1)


def test_evidence_mask_must_be_boolean_or_zero_one():
    model = gaussian_model()
    x = np.random.default_rng(3).normal(size=(2, 4, 4, 1)).astype(np.float32)
    mask = np.random.default_rng(4).random(x.shape) < 0.5
    expected = model.log_likelihood(x, evidence_mask=mask)
    np.testing.assert_array_equal(model.log_likelihood(x, evidence_mask=mask.astype(np.int32)), expected)
    np.testing.assert_array_equal(model.log_likelihood(x, evidence_mask=mask.astype(np.float32)), expected)
    with pytest.raises(ValueError, match=r"evidence_mask must be boolean \(True = observed\), or 0 and 1"):
        model.log_likelihood(x, evidence_mask=np.where(mask, 1.0, 0.5))


def test_keyed_draws_follow_the_key_of_each_call_traced_or_not():
    from libspn_keras.math.seeding import draw_key, keyed_draws, random_source, uniform

    draw = keyed_draws(lambda: uniform([6]))
    traced = tf.function(draw)
    keys = [tf.constant(key, tf.int64) for key in (5, 5, 6)]
    eager = [draw(key).numpy() for key in keys]
    graph = [traced(key).numpy() for key in keys]
    np.testing.assert_array_equal(eager, graph)
    np.testing.assert_array_equal(graph[0], graph[1])
    assert not np.array_equal(graph[0], graph[2])
    # Keys come from the innermost random_source: the same seed, the same keys.
    with random_source(9):
        first = [int(draw_key()) for _ in range(3)]
    with random_source(9):
        assert [int(draw_key()) for _ in range(3)] == first
    assert len(set(first)) == 3


def test_a_layers_seed_generator_is_a_source_of_draws_that_gives_way_to_a_query_seed():
    def draws(generator):
        with seeding.drawing_from(generator):
            assert seeding.current_source() is generator
            uniform = seeding.uniform([3], dtype=tf.float64, minval=2.0, maxval=3.0).numpy()
            pair, key = seeding.stateless_seed(), seeding.draw_key()
        assert seeding.current_source() is None
        assert pair.dtype == tf.int32 and pair.shape == (2,) and key.dtype == tf.int64 and key.shape == ()
        return uniform, pair.numpy(), int(key)

    first, second = draws(keras.random.SeedGenerator(5)), draws(keras.random.SeedGenerator(5))
    assert np.all((first[0] >= 2.0) & (first[0] < 3.0))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[2] == second[2]
    assert not np.array_equal(first[0], draws(keras.random.SeedGenerator(6))[0])
    # A layer's generator is the default only: inside a query's source, that source decides every draw.
    layer_generator = keras.random.SeedGenerator(5)
    with seeding.random_source(11) as query_generator, seeding.default_source(layer_generator):
        assert seeding.current_source() is query_generator
    with seeding.training_draws(), seeding.default_source(layer_generator):
        assert seeding.current_source() is layer_generator
    # Outside training calls a layer installs nothing: inference functions read no generator state.
    with seeding.default_source(layer_generator):
        assert seeding.current_source() is None
    with seeding.drawing_from(None):
        assert seeding.current_source() is None


def test_a_backward_pass_draws_from_a_seed_drawn_in_the_forward_pass():
    def backward_draws(seed):
        generator = keras.random.SeedGenerator(seed)
        with seeding.training_draws(), seeding.default_source(generator):
            later = seeding.backward_source()
        before = generator.state.numpy().copy()
        source = later()
        assert isinstance(source, seeding.SeededDraws)
        with seeding.drawing_from(source):
            draws = [seeding.uniform([4]).numpy() for _ in range(2)]
        # The seed was drawn in the forward pass: the backward pass leaves the generator alone.
        np.testing.assert_array_equal(generator.state.numpy(), before)
        with seeding.drawing_from(later()):  # a fresh source from the same seed repeats the draws
            np.testing.assert_array_equal(seeding.uniform([4]).numpy(), draws[0])
        return draws

    first = backward_draws(5)
    assert not np.array_equal(first[0], first[1])
    np.testing.assert_array_equal(first, backward_draws(5))
    assert not np.array_equal(first[0], backward_draws(6)[0])
    # Any other source is handed on as it is.
    with seeding.random_source(3) as query_generator:
        assert seeding.backward_source()() is query_generator
    assert seeding.backward_source()() is None
