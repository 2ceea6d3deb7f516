"""Float data for integer inputs, unsigned ones (``uint8`` images) and bools included.

NaN and negative numbers mark missing entries for every integer input. An
unsigned or bool input cannot hold the marker -1 itself, so the data are
read in a signed type that does (Keras would cast NaN and -1.0 to 0 or
``True``, an observed value). A functional model, whose call casts its
inputs (Keras's functional call), runs its layers on a signed input, or
refuses the markers where a layer before the leaves was built for the
declared dtype.
Fractions and values beyond the input's dtype are refused, also for
continuous leaves behind ``NormalizeStandardScore``, where nothing else
would see them before they were cut to integers.
"""

import itertools
import os

import numpy as np
import pytest
from reference import seeded_rat_spn
from tensorflow import keras

from libspn_keras import layers, models

NUM_VARS = 3


def indicator_spn(dtype, seed=0):
    return seeded_rat_spn(NUM_VARS, 3, seed, input_dtype=dtype)


def normal_spn(dtype, seed=0):
    keras.utils.set_random_seed(seed)
    return models.SequentialSumProductNetwork(
        [
            keras.Input((NUM_VARS,), dtype=dtype),
            layers.NormalizeStandardScore(axes="global"),
            layers.FlatToRegions(num_decomps=1),
            layers.NormalLeaf(num_components=2),
            layers.DenseProduct(num_factors=NUM_VARS),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )


def joint_table(model):
    """``log p`` of every assignment of 3 categories to the variables, from uint8 data (observed, no markers)."""
    rows = np.array(list(itertools.product(range(3), repeat=NUM_VARS)), dtype=np.uint8)
    return rows, model.log_likelihood(rows)


# Each marker in the core once per unsigned dtype: NaN here, -1.0 for the bool input below (the others run as slow).
@pytest.mark.parametrize("marker", [np.nan, pytest.param(-1.0, marks=pytest.mark.slow)])
def test_float_markers_are_marginalized_for_a_uint8_input(marker):
    model = indicator_spn("uint8")
    rows, log_joint = joint_table(model)
    assert abs(np.logaddexp.reduce(log_joint.astype(np.float64))) < 1e-5
    x = np.array([[2, marker, 1], [0, 1, marker]], dtype=np.float32)
    # Brute force: the missing variable summed out of the joint table.
    expected = [
        np.logaddexp.reduce(log_joint[(rows[:, 0] == 2) & (rows[:, 2] == 1)].astype(np.float64)),
        np.logaddexp.reduce(log_joint[(rows[:, 0] == 0) & (rows[:, 1] == 1)].astype(np.float64)),
    ]
    np.testing.assert_allclose(model.log_likelihood(x), expected, rtol=1e-5)
    np.testing.assert_allclose(model.predict(x, verbose=0)[:, 0], expected, rtol=1e-5)
    np.testing.assert_allclose(model(x).numpy()[:, 0], expected, rtol=1e-5)
    # Observed whole numbers in floats read as the uint8 data would.
    np.testing.assert_allclose(model.log_likelihood(rows.astype(np.float32)), log_joint, rtol=1e-6)


def test_completion_fills_float_markers_of_a_uint8_input():
    model = indicator_spn("uint8", seed=1)
    rows, log_joint = joint_table(model)
    completed = model.complete(np.array([[np.nan, 2, 0]], dtype=np.float32), method="mpe")
    candidates = (rows[:, 1] == 2) & (rows[:, 2] == 0)
    best = rows[candidates][np.argmax(log_joint[candidates])]
    np.testing.assert_array_equal(completed[0], best)


def test_training_on_float_data_with_markers_equals_training_on_int32_data():
    rng = np.random.default_rng(3)
    ints = rng.integers(0, 3, size=(64, NUM_VARS)).astype(np.int32)
    ints[::4, 1] = -1
    floats = np.where(ints < 0, np.nan, ints).astype(np.float32)
    trained = []
    for dtype, data in (("int32", ints), ("uint8", floats)):
        model = indicator_spn(dtype, seed=2)
        # The int32 reference trains in graph mode (one XLA compile fewer; its weights match an XLA-trained copy's
        # to rounding, well inside rtol=1e-6): the uint8 model under test trains under the default compile.
        model.compile(optimizer=keras.optimizers.SGD(0.1), **({"jit_compile": False} if dtype == "int32" else {}))
        model.fit(data, epochs=2, batch_size=16, verbose=0, shuffle=False)
        trained.append(model.get_weights())
    for a, b in zip(*trained):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.fixture(scope="module")
def adapted_normal_spn():
    """One adapted and compiled ``normal_spn`` per dtype, shared by the cases below: none changes it (each checks
    that its weights stay as they were), and the second case of a dtype reuses the queries the first traced."""
    built = {}

    def get(dtype):
        if dtype not in built:
            model = normal_spn(dtype)
            model.layers[0].adapt(np.array([[0, 1, 2], [3, 4, 5]], dtype=np.float32))
            model.compile(optimizer=keras.optimizers.SGD(0.1))
            built[dtype] = model
        return built[dtype]

    return get


# Each value and each dtype in the core: 0.5 and 300.0 for int32 (300.0 a valid observation there), inf and 300.0 for
# uint8; the other two cases run with the slow extras.
@pytest.mark.parametrize(
    "value,dtype",
    [
        pytest.param(0.5, "uint8", marks=pytest.mark.slow),
        pytest.param(0.5, "int32"),
        pytest.param(300.0, "uint8"),
        pytest.param(300.0, "int32"),
        pytest.param(np.inf, "uint8"),
        pytest.param(np.inf, "int32", marks=pytest.mark.slow),
    ],
)
def test_fractions_and_values_out_of_range_are_refused_for_continuous_leaves(adapted_normal_spn, dtype, value):
    model = adapted_normal_spn(dtype)
    x = np.array([[1, 2, 3], [1, value, 3]], dtype=np.float32)
    if value == 300.0 and dtype == "int32":
        # Within int32: a valid observation for a Normal leaf.
        assert np.isfinite(model.log_likelihood(x)).all()
        return
    before = [w.copy() for w in model.get_weights()]
    for call in (lambda: model(x), lambda: model.log_likelihood(x), lambda: model.predict(x, verbose=0)):
        with pytest.raises(ValueError, match="neither valid nor the missing marker|leaves refuse"):
            call()
    with pytest.raises(ValueError, match="training batch"):
        model.fit(x, epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # NaN marks a missing entry there too: marginalized, as an evidence mask marginalizes it.
    x[1, 1] = np.nan
    mask = np.ones_like(x, dtype=bool)
    mask[1, 1] = False
    np.testing.assert_allclose(model.log_likelihood(x), model.log_likelihood(np.nan_to_num(x), mask), rtol=1e-6)


# -1.0 in the core; NaN for a bool input: test_functional_models_marginalize_markers_that_their_input_cast_would_lose
# [bool], and NaN for an unsigned input: test_float_markers_are_marginalized_for_a_uint8_input[nan].
@pytest.mark.parametrize("marker", [pytest.param(np.nan, marks=pytest.mark.slow), -1.0])
def test_float_markers_are_marginalized_for_a_bool_input(marker):
    model = seeded_rat_spn(NUM_VARS, 2, 4, input_dtype="bool")
    rows = np.array(list(itertools.product(range(2), repeat=NUM_VARS)), dtype=bool)
    log_joint = model.log_likelihood(rows).astype(np.float64)
    assert abs(np.logaddexp.reduce(log_joint)) < 1e-5
    x = np.array([[1, marker, 0]], dtype=np.float32)
    expected = np.logaddexp.reduce(log_joint[rows[:, 0] & ~rows[:, 2]])  # Keras's cast read NaN and -1.0 as True
    for call in (lambda: model.log_likelihood(x), lambda: model.predict(x, verbose=0), lambda: model(x).numpy()):
        np.testing.assert_allclose(np.ravel(call()), [expected], rtol=1e-5)
    with pytest.raises(ValueError, match="neither valid nor the missing marker"):
        model(np.array([[1, 2.0, 0]], dtype=np.float32))  # was cast to True


def functional_spn(dtype, before_leaf=None):
    keras.utils.set_random_seed(5)
    inputs = keras.Input((NUM_VARS,), dtype=dtype)
    x = inputs if before_leaf is None else before_leaf(inputs)
    x = layers.FlatToRegions(num_decomps=1)(x)
    x = layers.IndicatorLeaf(num_components=2)(x)
    x = layers.DenseSum(num_sums=2)(x)
    x = layers.DenseProduct(num_factors=NUM_VARS)(x)
    return models.SumProductNetwork(inputs, layers.RootSum(return_weighted_child_logits=False)(x))


# uint32 runs with the slow extras: its -1 wraps as uint8's does (to the largest value), and the queries' reading of
# uint32 data in int64 stays in the core in test_queries_read_uint32_values_above_the_int32_range. The saved model,
# completion and fit (whole) run in the core for bool; for uint8 they are a slow extra (its markers, whose cast wraps
# rather than turns True, are marginalized in the core in the uint8-marginals case).
@pytest.mark.parametrize(
    "dtype, whole",
    [
        pytest.param("bool", True, id="bool"),
        pytest.param("uint8", False, id="uint8-marginals"),
        pytest.param("uint8", True, id="uint8", marks=pytest.mark.slow),
        pytest.param("uint32", True, id="uint32", marks=pytest.mark.slow),
    ],
)
def test_functional_models_marginalize_markers_that_their_input_cast_would_lose(dtype, whole, tmp_path):
    # Keras's functional call casts every input to its declared dtype: -1 became True (log_likelihood with an
    # evidence mask returned the joint, silently) or 255. The model runs its layers on a signed input instead.
    model = functional_spn(dtype)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    rows = np.array(list(itertools.product(range(2), repeat=NUM_VARS))).astype(dtype)
    log_joint = model.log_likelihood(rows).astype(np.float64)
    assert abs(np.logaddexp.reduce(log_joint)) < 1e-5
    observed, mask = rows[6:7], np.array([[True, False, True]])
    candidates = (rows[:, 0] == observed[0, 0]) & (rows[:, 2] == observed[0, 2])
    expected = np.logaddexp.reduce(log_joint[candidates])
    floats = np.where(mask, observed, np.nan).astype(np.float32)
    ints = np.where(mask, observed.astype(np.int32), -1)
    for call in (
        lambda: model.log_likelihood(observed, mask),
        lambda: model.log_likelihood(floats),
        lambda: model(floats).numpy(),
        lambda: model(ints).numpy(),
        lambda: model.predict(floats, verbose=0),
    ):
        np.testing.assert_allclose(np.ravel(call()), [expected], rtol=1e-5)
    # The marker is kept inside a model too: called symbolically, the network sees the marginal.
    outer_input = keras.Input((NUM_VARS,), dtype="int32")
    outer = keras.Model(outer_input, model(outer_input))
    np.testing.assert_allclose(np.ravel(outer.predict(ints, verbose=0)), [expected], rtol=1e-5)
    assert model.inputs[0].dtype == dtype  # the model keeps the input it was given
    if not whole:
        return
    # A saved model runs its layers on a signed input too.
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.log_likelihood(observed, mask), [expected], rtol=1e-5)
    # Completion's most probable value of the missing variable, from the table.
    best = rows[candidates][np.argmax(log_joint[candidates])]
    np.testing.assert_array_equal(model.complete(observed, mask, method="mpe")[0], best)
    # fit on float data with NaN trains as an int32 copy of the model does on -1.
    signed = functional_spn("int32")
    signed.set_weights(model.get_weights())
    # The reference trains in graph mode (one XLA compile fewer; its weights match an XLA-trained copy's to rounding,
    # well inside rtol=1e-6).
    signed.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False)
    model.fit(np.repeat(floats, 4, axis=0), epochs=1, batch_size=4, verbose=0)
    signed.fit(np.repeat(ints, 4, axis=0), epochs=1, batch_size=4, verbose=0)
    for a, b in zip(model.get_weights(), signed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert model.inputs[0].dtype == dtype  # the model keeps the input it was given


def test_a_functional_model_computing_from_a_bool_input_refuses_markers():
    # A layer between the input and the leaves was built for bools: the model keeps Keras's cast and refuses what
    # the cast would lose.
    model = functional_spn("bool", before_leaf=keras.layers.Lambda(lambda t: t, output_shape=(NUM_VARS,)))
    rows = np.array(list(itertools.product(range(2), repeat=NUM_VARS)), dtype=bool)
    assert abs(np.logaddexp.reduce(model(rows).numpy().astype(np.float64).ravel())) < 1e-5
    floats = np.array([[1, np.nan, 0]], dtype=np.float32)
    before = [w.copy() for w in model.get_weights()]
    for call in (lambda: model(floats), lambda: model.predict(floats, verbose=0)):
        with pytest.raises(ValueError, match="int32 input|leaves refuse"):
            call()
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_queries_read_uint32_values_above_the_int32_range():
    # The queries read unsigned data in int32, where 3e9 wrapped to -1294967296 (log_likelihood -8.4e17 against
    # predict's -4.5e18); 32- and 64-bit unsigned data are read in int64, as the model's own call reads them.
    model = normal_spn("uint32")
    big = np.array([[3_000_000_000, 1, 2]], dtype=np.uint32)
    expected = model.log_likelihood(big.astype(np.float64))
    np.testing.assert_allclose(model.log_likelihood(big), expected, rtol=1e-6)
    np.testing.assert_allclose(np.ravel(model.predict(big, verbose=0)), expected, rtol=1e-6)
    np.testing.assert_array_equal(model.complete(big, np.array([[True, False, True]]))[:, 0], big[:, 0])
