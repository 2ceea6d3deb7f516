"""A functional SumProductNetwork checks each leaf against the input it reads when the batch is a dict of named
inputs (Keras reads it by input name, a flattened dict is ordered by key) and when a layer holding leaves is
called with its input by keyword (``spn(inputs=x)``, ``leaf(x=regions)``)."""

import numpy as np
import pytest
from tensorflow import keras

from libspn_keras import layers, models
from libspn_keras import losses as spnk_losses

NUM_VARS = 4


def rat_spn(num_categories, seed):
    keras.utils.set_random_seed(seed)
    return models.build_rat_spn(
        num_vars=NUM_VARS,
        depth=1,
        num_decomps=2,
        num_input_distributions=2,
        num_sums=2,
        leaf=layers.IndicatorLeaf(num_components=num_categories),
    )


def categories(seed, high, size=8):
    return np.random.default_rng(seed).integers(0, high, size=(size, NUM_VARS)).astype("int32")


def compiled(model):
    model.compile(keras.optimizers.Adam(0.05), loss=spnk_losses.NegativeLogLikelihood(), jit_compile=False)
    return model


def named_inputs_model():
    """Input "b" (listed first) feeds binary leaves, input "a" leaves of three categories."""
    binary, ternary = rat_spn(2, 0), rat_spn(3, 1)
    b = keras.Input((NUM_VARS,), dtype="int32", name="b")
    a = keras.Input((NUM_VARS,), dtype="int32", name="a")
    return [b, a], keras.layers.Add()([binary(b), ternary(a)])


def test_a_dict_of_named_inputs_is_checked_by_name():
    inputs, outputs = named_inputs_model()
    model, reference = compiled(models.SumProductNetwork(inputs, outputs)), keras.Model(inputs, outputs)
    b, a = categories(1, 2), categories(2, 3)
    assert (a == 2).any()  # valid for the leaves of "a", refused by those of "b"
    np.testing.assert_allclose(
        model.predict({"b": b, "a": a}, verbose=0), reference.predict({"b": b, "a": a}, verbose=0), rtol=1e-6
    )
    model.fit({"b": b, "a": a}, batch_size=8, verbose=0)
    bad_b = b.copy()
    bad_b[0, 0] = 2
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="leaves refuse"):
        model.predict({"b": bad_b, "a": categories(3, 2)}, verbose=0)
    with pytest.raises(ValueError, match="1 training batch"):
        model.fit({"b": bad_b, "a": categories(3, 2)}, batch_size=8, verbose=0)
    for x, y in zip(before, model.get_weights()):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("by_keyword", ["spn", "leaf"])
def test_a_layer_called_with_its_input_by_keyword_is_checked(by_keyword):
    first, second = keras.Input((NUM_VARS,), dtype="int32"), keras.Input((NUM_VARS,), dtype="int32")
    if by_keyword == "spn":
        outputs = keras.layers.Add()([rat_spn(2, 0)(first), rat_spn(2, 1)(inputs=second)])
    else:
        keras.utils.set_random_seed(0)
        leaf = layers.IndicatorLeaf(num_components=2)

        def head(regions):
            return layers.RootSum(return_weighted_child_logits=False)(
                layers.ReduceProduct(num_factors=NUM_VARS)(layers.DenseSum(num_sums=2)(regions))
            )

        outputs = keras.layers.Add()(
            [head(leaf(layers.FlatToRegions(num_decomps=1)(first))), head(leaf(x=layers.FlatToRegions(1)(second)))]
        )
    model = compiled(models.SumProductNetwork([first, second], outputs))
    good = [categories(1, 2), categories(2, 2)]
    np.testing.assert_allclose(model.predict(good, verbose=0), keras.Model([first, second], outputs)(good), rtol=1e-6)
    bad_second = good[1].copy()
    bad_second[3, 1] = 2
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="leaves refuse"):
        model.predict([good[0], bad_second], verbose=0)
    with pytest.raises(ValueError, match="1 training batch"):
        model.fit([good[0], bad_second], batch_size=8, verbose=0)
    for x, y in zip(before, model.get_weights()):
        np.testing.assert_array_equal(x, y)
