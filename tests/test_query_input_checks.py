"""Bad input to the queries and model calls raises a ValueError naming the model, and leaves the model as it was.

Found by fuzzing the query APIs: a scalar x raised IndexError, a rank-1 x a raw InvalidArgumentError from
FlatToRegions, strings / complex numbers / datasets TensorFlow's conversion errors; seeds out of Philox's 64-bit key
range aliased other seeds (-1 drew as 2**64 - 1, 2**64 as 0); a dynamic SPN took num_steps=-1 / 1.5 to TensorFlow
and num_steps=True as 1; direct calls on [x, evidence_mask] or on 0.6.0's [x, sequence_lens] truncated float
categories (0.5 -> 0) and masks (0.5 -> False) where the queries and predict refuse them.
"""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from libspn_keras import layers, models

X = np.array([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 0]], "int32")


def stack(num_vars=4):
    return [
        layers.FlatToRegions(num_decomps=1),
        layers.IndicatorLeaf(num_components=2),
        layers.DenseSum(num_sums=2),
        layers.DenseProduct(num_factors=2),
        layers.DenseSum(num_sums=2),
        layers.ReduceProduct(num_factors=num_vars // 2),
        layers.RootSum(return_weighted_child_logits=False),
    ]


def rat(**kwargs):
    keras.utils.set_random_seed(0)
    return models.build_rat_spn(num_vars=4, depth=2, num_decomps=2, num_input_distributions=2, num_sums=2, **kwargs)


@pytest.fixture(scope="module")
def shared_rat():
    """One ``rat()`` for the tests that make only refused or read-only calls on it: its queries are traced once.

    Each test still compares the model's answers before and after its refused calls, so a call that changed the
    shared model fails the test that made it.
    """
    return rat()


def unchanged(model):
    """The model's answers on good input, to compare after a refused call."""
    partial = X.copy()
    partial[:, 0] = -1
    return np.concatenate([model.log_likelihood(X), model.complete(partial).ravel(), model.sample(2, seed=0).ravel()])


BAD_X = {
    "scalar": (np.int32(1), "shape"),
    "strings": (X.astype(str), "numbers"),
    "complex": (X.astype(np.complex64), "numbers"),
    "ragged": ([[0, 1, 1, 0], [0, 1]], "numeric array"),
    "dataset": (tf.data.Dataset.from_tensor_slices(X).batch(2), "Dataset"),
}


# A diagonal in the core: each bad input and each query once (the queries share one check); the other cases run with
# the slow extras.
BAD_QUERY_CORE = {("complex", "log_likelihood"), ("dataset", "mpe"), ("ragged", "complete"), ("scalar", "mpe"),
                  ("strings", "complete")}  # fmt: skip


@pytest.mark.parametrize(
    "bad,query",
    [
        pytest.param(bad, query, id=f"{bad}-{query}", marks=() if (bad, query) in BAD_QUERY_CORE else pytest.mark.slow)
        for bad in sorted(BAD_X)
        for query in ("log_likelihood", "complete", "mpe")
    ],
)
def test_bad_query_input_raises_value_error_naming_the_model(query, bad, shared_rat):
    model = shared_rat
    before = unchanged(model)
    x, words = BAD_X[bad]
    with pytest.raises(ValueError, match=words) as error:
        getattr(model, query)(x)
    assert model.name in str(error.value)
    np.testing.assert_array_equal(unchanged(model), before)


def test_complex_input_to_a_normal_leaf_is_refused_not_cut_to_its_real_part():
    model = rat(leaf=layers.NormalLeaf(num_components=2))
    x = np.zeros((2, 4), np.complex64) + 1j
    with pytest.raises(ValueError, match="numbers"):
        model.log_likelihood(x)
    with pytest.raises(ValueError, match="numbers"):
        model.complete(x)


def test_a_dict_of_the_input_name_is_read_by_the_queries_as_by_calls():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,), dtype="int32", name="pixels")
    h = inputs
    for layer in stack():
        h = layer(h)
    model = models.SumProductNetwork(inputs, h)
    np.testing.assert_allclose(model.log_likelihood({"pixels": X}), model.log_likelihood(X))
    with pytest.raises(ValueError, match="pixels"):
        model.log_likelihood({"other": X})


@pytest.mark.parametrize("shape", [(4,), ()])
def test_flat_to_regions_refuses_other_ranks_with_a_value_error(shape, shared_rat):
    model = shared_rat
    before = model(X).numpy()
    with pytest.raises(ValueError, match="FlatToRegions"):
        model(np.zeros(shape, "int32"))
    np.testing.assert_array_equal(model(X).numpy(), before)


def test_seeds_outside_philox_keys_are_refused(shared_rat):
    model = shared_rat
    before = unchanged(model)
    for seed in [-1, 2**64, -(2**70), 1.5, "1", True]:
        for query in (lambda seed=seed: model.sample(2, seed=seed), lambda seed=seed: model.mpe(X, seed=seed)):
            with pytest.raises(ValueError, match="seed must be an int or None \\(ints from 0 to 2\\*\\*64 - 1\\)"):
                query()
    np.testing.assert_array_equal(unchanged(model), before)
    # The largest key is a seed of its own.
    assert not np.array_equal(model.sample(64, seed=2**64 - 1), model.sample(64, seed=0))


def test_argument_names_in_messages_and_a_huge_batch_size(shared_rat):
    model = shared_rat
    with pytest.raises(ValueError, match="zero_evidence_inference: size must be an int >= 1"):
        model.zero_evidence_inference(0)
    with pytest.raises(ValueError, match="sample: batch_size must be an int >= 1"):
        model.sample(2, batch_size=0)
    np.testing.assert_allclose(model.log_likelihood(X, batch_size=2**70), model.log_likelihood(X))


def test_sampling_a_model_without_an_input_shape_raises_a_value_error():
    model = models.SequentialSumProductNetwork(stack())
    with pytest.raises(ValueError, match="keras.Input"):
        model.sample(2)
    with pytest.raises(ValueError, match="keras.Input"):
        model.zero_evidence_inference(2)


def infer_model():
    keras.utils.set_random_seed(0)
    return models.SequentialSumProductNetwork([keras.Input((4,), dtype="int32"), *stack()], infer_no_evidence=True)


def test_calls_on_x_and_evidence_mask_check_floats_as_the_queries_do():
    model = infer_model()
    mask = np.array([[True, True, False, False]] * 3)
    before = model([X, mask]).numpy()
    with pytest.raises(ValueError, match="neither valid nor the missing marker"):
        model([np.where(mask, 0.5, np.nan).astype("float32"), mask])  # was read as category 0
    with pytest.raises(ValueError, match="evidence_mask must be boolean"):
        model([X, np.where(mask, 1.0, 0.5)])  # was read as False
    # Float categories and 0 / 1 masks still work, as for the queries.
    np.testing.assert_allclose(model([X.astype("float32"), mask.astype("float32")]).numpy(), before, rtol=1e-6)
    np.testing.assert_array_equal(model([X, mask]).numpy(), before)


def test_a_list_other_than_x_and_mask_is_refused_by_name(shared_rat):
    for model in (infer_model(), shared_rat):
        with pytest.raises(ValueError, match=model.name):
            model([X, X, X])
    with pytest.raises(ValueError, match="infer_no_evidence=True"):
        shared_rat([X, X > 0])


def original_dynamic():
    keras.utils.set_random_seed(0)
    template = keras.Sequential(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[2], dtype=tf.int32),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=3),
            layers.ReduceProduct(num_factors=2),
        ]
    )
    t0 = keras.Sequential([layers.DenseSum(num_sums=2, input_shape=[1, 1, 3])])
    t1 = keras.Sequential([layers.DenseSum(num_sums=2, input_shape=[1, 1, 4])])
    top = keras.Sequential([layers.RootSum(return_weighted_child_logits=False, input_shape=[1, 1, 4])])
    model = models.DynamicSumProductNetwork(template, t0, t1, top)
    model([np.zeros((1, 3, 2), "int32"), np.ones(1)])
    return model


def own_dynamic():
    keras.utils.set_random_seed(0)
    template = keras.Sequential(
        [
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=3),
            layers.ReduceProduct(num_factors=2),
        ]
    )
    model = models.DynamicSumProductNetwork(template, num_interface_sums=2)
    model.build((None, 3, 2))
    return model


@pytest.fixture(scope="module")
def shared_own_dynamic():
    """One ``own_dynamic()`` for the cases that make refused calls on it and check that it still answers as before."""
    return own_dynamic()


def test_dynamic_spn_of_060_form_refuses_float_categories_in_direct_calls():
    model = original_dynamic()
    lengths = np.array([3, 2])
    x = np.zeros((2, 3, 2), "int32")
    before = model([x, lengths]).numpy()
    with pytest.raises(ValueError, match="neither valid nor the missing marker"):
        model([np.full((2, 3, 2), 0.5, "float32"), lengths])  # was read as category 0
    np.testing.assert_array_equal(model([x.astype("float32"), lengths]).numpy(), before)


@pytest.mark.parametrize("num_steps", [0, -1, 1.5, "3", True])
def test_dynamic_sample_checks_num_steps(num_steps, shared_own_dynamic):
    model = shared_own_dynamic
    with pytest.raises(ValueError, match="num_steps must be an int >= 1"):
        model.sample(2, num_steps=num_steps, seed=0)
    assert model.sample(2, num_steps=4, seed=0).shape == (2, 4, 2)


@pytest.mark.parametrize("query", ["log_likelihood", "complete", "mpe"])
def test_dynamic_queries_refuse_sequences_without_steps_by_name(query, shared_own_dynamic):
    model = shared_own_dynamic
    x = np.zeros((2, 3, 2), "int32")
    before = model.log_likelihood(x)
    for bad in (x[:, 0], x[:, :0], np.int32(0)):
        with pytest.raises(ValueError, match=f"{model.name}: queries on a dynamic SPN take sequences"):
            getattr(model, query)(bad)
    np.testing.assert_array_equal(model.log_likelihood(x), before)


def test_dynamic_queries_refuse_sequence_lens_that_are_not_numbers_per_sequence():
    model = original_dynamic()
    x = np.zeros((2, 3, 2), "int32")
    for lengths in (np.array(["3", "2"]), 3):
        with pytest.raises(ValueError, match="sequence_lens must be one whole number per sequence"):
            model.log_likelihood([x, lengths])


def test_queries_of_a_model_whose_leaves_are_in_a_nested_model_name_that_model():
    keras.utils.set_random_seed(0)
    spn = models.build_rat_spn(num_vars=4, depth=1, num_decomps=2, num_input_distributions=2, num_sums=2)
    inputs = keras.Input((4,), dtype="int32")
    outer = models.SumProductNetwork(inputs, spn(inputs))
    x = np.array([[0, 1, 1, 0], [1, -1, 0, 1]], dtype="int32")
    for query in (lambda model: model.log_likelihood(x), lambda model: model.complete(x)):
        with pytest.raises(ValueError, match=f"leaves are inside the nested model or layer '{spn.name}'"):
            query(outer)
    # As the message says, the nested model answers, and gives the outer model's values.
    np.testing.assert_allclose(spn.log_likelihood(x), outer.predict(x, verbose=0).reshape(-1), rtol=1e-6)


def test_queries_of_a_model_with_two_inputs_say_they_take_one():
    # A list [x1, x2] was read as one array with a leading axis of 2 ("built for (None, 4) but got (2, 8, 4)").
    first, second = keras.Input((2,)), keras.Input((2,))
    leaf, regions = layers.NormalLeaf(num_components=2), layers.FlatToRegions(num_decomps=1)
    scopes = keras.layers.Concatenate(axis=1)([leaf(regions(first)), leaf(regions(second))])
    root = layers.RootSum(return_weighted_child_logits=False)(layers.DenseSum(1)(layers.ReduceProduct(4)(scopes)))
    model = models.SumProductNetwork(inputs=[first, second], outputs=root, name="two")
    x = np.random.default_rng(0).normal(size=(3, 2)).astype("float32")
    assert model.predict([x, x], verbose=0).shape == (3, 1)
    for query in (model.log_likelihood, model.complete, model.mpe):
        with pytest.raises(ValueError, match=r"the queries take models of one input; SumProductNetwork 'two' has 2"):
            query([x, x])
