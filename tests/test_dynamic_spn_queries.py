"""Dynamic SPNs in 0.6.0's form ([x, sequence_lens], four networks) and queries on both forms."""

import itertools
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from reference import np_logsumexp, restore_state, saved_state
from tensorflow import keras

from libspn_keras import layers, models, optimizers
from libspn_keras.models.fast_path import sum_layers_within
from libspn_keras.models.queries import sum_ops_replaced
from libspn_keras.sum_ops.max_product import SumOpMaxProduct

sys.path.insert(0, str(Path(__file__).resolve().parent / "side"))
import weights_060  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")

NUM_VARS, MAX_STEPS = 2, 3


def networks(sum_op="grad", interface=2):
    """0.6.0's four networks: template, interface at t0, interface from t - 1, top."""
    template = keras.Sequential(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[NUM_VARS], dtype=tf.int32),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=3, sum_op=sum_op),
            layers.ReduceProduct(num_factors=NUM_VARS),
        ]
    )
    t0 = keras.Sequential([layers.DenseSum(num_sums=interface, input_shape=[1, 1, 3], sum_op=sum_op)])
    t_minus_1 = keras.Sequential([layers.DenseSum(num_sums=interface, input_shape=[1, 1, interface**2], sum_op=sum_op)])
    top = keras.Sequential(
        [layers.RootSum(return_weighted_child_logits=False, input_shape=[1, 1, interface**2], sum_op=sum_op)]
    )
    return template, t0, t_minus_1, top


def original_dspn(seed=0, sum_op="grad", **kwargs):
    keras.utils.set_random_seed(seed)
    model = models.DynamicSumProductNetwork(*networks(sum_op), **kwargs)
    model([np.zeros((1, MAX_STEPS, NUM_VARS), "int32"), np.ones(1)])
    rng = np.random.default_rng(seed)
    for weights in model.trainable_weights:
        value = rng.normal(size=weights.shape)
        weights.assign(value if sum_op == "grad" else np.exp(value))
    return model


def template_over(leaf, *above):
    """A template network of this library's form: the step's variables as one region, ``leaf``, then ``above``."""
    return keras.Sequential([layers.FlatToRegions(num_decomps=1), leaf, *above])


def left_padded(length, padding_value=0):
    """All binary sequences of ``length`` steps, left-padded to MAX_STEPS, and their lengths."""
    sequences = np.array(list(itertools.product([0, 1], repeat=NUM_VARS * length)), "int32")
    x = np.full((len(sequences), MAX_STEPS, NUM_VARS), padding_value, "int32")
    x[:, MAX_STEPS - length :] = sequences.reshape(-1, length, NUM_VARS)
    return x, np.full(len(sequences), length)


@pytest.mark.parametrize("length", [1, 2, 3])
def test_every_sequence_length_is_a_normalized_distribution(length):
    model = original_dspn(seed=length)
    x, lens = left_padded(length)
    log_p = model([x, lens]).numpy()
    assert log_p.shape == (len(x), 1)
    assert abs(np_logsumexp(log_p)) < 1e-5
    # The padding steps are left out whatever they hold.
    np.testing.assert_allclose(model([left_padded(length, 1)[0], lens]).numpy(), log_p, rtol=1e-6)


def test_return_last_step_false_gives_every_step_and_zero_padding():
    model = original_dspn(seed=4)
    every = original_dspn(seed=4, return_last_step=False)
    x, _ = left_padded(3)
    lens = np.resize([1, 2, 3], len(x))
    out = every([x, lens]).numpy()
    assert out.shape == (len(x), MAX_STEPS, 1)
    np.testing.assert_allclose(out[:, -1], model([x, lens]).numpy(), rtol=1e-6)
    before_start = np.arange(MAX_STEPS)[None, :] < MAX_STEPS - lens[:, None]
    assert np.all(out[before_start] == 0.0)
    # The root at step t is the distribution of the sequence's prefix: every prefix length sums to 1 too.
    prefixes = every([x, np.full(len(x), 3)]).numpy()[:, 1, 0].reshape(-1, 4)
    assert abs(np_logsumexp(prefixes[:, 0])) < 1e-5


def test_fit_with_lengths_in_place_of_labels_as_in_060():
    model = original_dspn(seed=5)
    x, lens = left_padded(3)
    x, lens = np.repeat(x, 8, axis=0), np.repeat(lens, 8)
    x[::2, :, 0] = x[::2, :, 1]  # a dependence between the variables to learn
    before = model([x, lens]).numpy().mean()
    # Graph mode: three steps to compile here (fit on (x, lens), fit on [x, lens], evaluate), ~3 s each under XLA. The
    # lengths in place of labels run under the default compile (XLA) in the core in fit and evaluate in
    # test_original_form_refuses_lengths_from_a_dataset_in_fit_and_evaluate[lengths1-auto] and in fit in
    # test_em_training_of_the_original_form.
    model.compile(optimizer=keras.optimizers.Adam(0.05), jit_compile=False)
    with warnings.catch_warnings():
        # The lengths are used: no warning that labels would reach only the metrics.
        warnings.filterwarnings("error", message=".*compiled without a loss")
        model.fit(x, lens, epochs=4, batch_size=64, verbose=0)
    after = model([x, lens]).numpy().mean()
    assert after > before + 0.05
    model.fit([x, lens], epochs=1, batch_size=64, verbose=0)
    assert np.isfinite(model.evaluate(x, lens, verbose=0))


def test_em_training_of_the_original_form():
    model = original_dspn(seed=6, sum_op="em")
    x, lens = left_padded(2)
    x = np.repeat(x, 4, axis=0)
    lens = np.repeat(lens, 4)
    x[:8, -1] = 1
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=1.0))
    history = [model([x, lens]).numpy().mean()]
    for _ in range(3):
        model.fit(x, lens, epochs=1, batch_size=len(x), verbose=0)
        history.append(model([x, lens]).numpy().mean())
    assert np.all(np.diff(history) > -1e-5) and history[-1] > history[0]


def test_original_form_config_and_keras_file(tmp_path):
    model = original_dspn(seed=7, return_last_step=False)
    config = model.get_config()
    assert config["return_last_step"] is False and "top_network" in config
    x, lens = left_padded(2)
    model.save(tmp_path / "dynamic.keras")
    loaded = keras.models.load_model(tmp_path / "dynamic.keras")
    assert loaded.original_form and loaded.return_last_step is False
    np.testing.assert_allclose(loaded([x, lens]).numpy(), model([x, lens]).numpy(), rtol=1e-6)


def test_original_form_copy_by_config_takes_the_weights_at_once():
    # The README's copy recipe: from_config rebuilt the networks unbuilt, so set_weights refused the weight count.
    model = original_dspn(seed=8)
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    x, lens = left_padded(2)
    np.testing.assert_array_equal(copy([x, lens]).numpy(), model([x, lens]).numpy())


def test_forms_are_told_apart_and_bad_arguments_named():
    template, t0, t_minus_1, top = networks()
    by_keyword = models.DynamicSumProductNetwork(
        template_network=template, interface_network_t0=t0, interface_network_t_minus_1=t_minus_1, top_network=top
    )
    assert by_keyword.original_form and by_keyword.return_last_step is True
    own = models.DynamicSumProductNetwork(template, 3)
    assert not own.original_form and own.num_interface_sums == 3
    with pytest.raises(ValueError, match="top_network"):
        models.DynamicSumProductNetwork(template, t0, t_minus_1)
    with pytest.raises(ValueError, match="num_interface_sums"):
        models.DynamicSumProductNetwork(template, num_interface_sums=0)
    with pytest.raises(ValueError, match="template must be a Keras layer"):
        models.DynamicSumProductNetwork("template", 3)
    with pytest.raises(ValueError, match="top_network must be a Keras layer"):
        models.DynamicSumProductNetwork(template, t0, t_minus_1, [top])
    with pytest.raises(ValueError, match="sequence_lens"):
        by_keyword(np.zeros((1, MAX_STEPS, NUM_VARS), "int32"))
    bad_top = keras.Sequential([layers.DenseSum(num_sums=3, input_shape=[1, 1, 4])])
    with pytest.raises(ValueError, match="interface_network_t_minus_1"):
        models.DynamicSumProductNetwork(template, t0, bad_top, top)([np.zeros((1, 3, 2), "int32"), np.ones(1)])


# --- queries --------------------------------------------------------------------------------------------------


def test_log_likelihood_marginalizes_missing_steps_inside_sequences():
    model = original_dspn(seed=8)
    x, lens = left_padded(3)
    joint = model.log_likelihood([x, lens]).reshape(-1, 4)  # the last step's 4 values vary fastest
    partial = x.copy()
    partial[:, -1] = -1
    np.testing.assert_allclose(
        model.log_likelihood([partial, lens]).reshape(-1, 4)[:, 0], np_logsumexp(joint, 1), atol=1e-5
    )
    # A step marked unobserved by the evidence mask is marginalized the same way.
    mask = np.ones_like(x, bool)
    mask[:, -1] = False
    np.testing.assert_allclose(
        model.log_likelihood([x, lens], evidence_mask=mask), model.log_likelihood([partial, lens])
    )


@pytest.mark.parametrize("method", ["posterior_marginal", "mpe"])
def test_complete_fills_a_missing_step_by_brute_force(method):
    model = original_dspn(seed=0)
    x, lens = left_padded(3)
    log_p = model([x, lens]).numpy()[:, 0].reshape(-1, 4)  # [first two steps, last step]
    partial = x[::4].copy()
    partial[:, -1] = -1
    filled = model.complete([partial, lens[::4]], method=method)
    last_steps = np.array(list(itertools.product([0, 1], repeat=NUM_VARS)))
    if method == "mpe":
        # MPE is max-product (the most probable induced tree), not the most probable step: the completion's
        # max-product value is the largest among the 4 completions of the last step.
        with sum_ops_replaced(sum_layers_within(model), SumOpMaxProduct()):
            tree_values = model([x, lens]).numpy()[:, 0].reshape(-1, 4)
        # With this seed the most probable step differs from the max-product one in some rows.
        assert np.any(tree_values.argmax(axis=1) != log_p.argmax(axis=1))
        chosen = np.array([np.flatnonzero(np.all(last_steps == step, axis=1))[0] for step in filled[:, -1]])
        np.testing.assert_allclose(tree_values[np.arange(len(chosen)), chosen], tree_values.max(axis=1), rtol=1e-6)
        np.testing.assert_array_equal(model.mpe([partial, lens[::4]]), filled)
    else:
        p = np.exp(log_p)  # posterior marginal of each variable of the last step, its most probable value
        first = (p[:, 2] + p[:, 3] > p[:, 0] + p[:, 1]).astype(int)
        second = (p[:, 1] + p[:, 3] > p[:, 0] + p[:, 2]).astype(int)
        np.testing.assert_array_equal(filled[:, -1], np.stack([first, second], axis=1))
    np.testing.assert_array_equal(filled[:, :-1], partial[:, :-1])
    assert set(np.unique(filled)) <= {0, 1}


@pytest.mark.parametrize("method", ["posterior_marginal", "mpe", "sample"])
def test_complete_hands_the_padding_before_a_sequence_back(method):
    model = original_dspn(seed=4)
    x, lens = left_padded(1, padding_value=-1)
    x[:, 0, 0] = 1  # padding holding a value, and -1 (which inside a sequence would be missing)
    x[:, -1, 1] = -1
    filled = model.complete([x, lens], method=method, seed=0, batch_size=3)
    np.testing.assert_array_equal(filled[:, :-1], x[:, :-1])
    np.testing.assert_array_equal(filled[:, -1, 0], x[:, -1, 0])
    assert set(np.unique(filled[:, -1, 1])) <= {0, 1}


def test_sample_draws_from_the_sequence_distribution():
    model = original_dspn(seed=10)
    x, lens = left_padded(2)
    probabilities = np.exp(model([x, lens]).numpy()[:, 0])
    samples = model.sample(4000, num_steps=2, seed=3)
    assert samples.shape == (4000, 2, NUM_VARS)
    index = (samples.reshape(4000, -1) * 2 ** np.arange(2 * NUM_VARS)[::-1]).sum(axis=1)
    frequencies = np.bincount(index, minlength=16) / 4000
    np.testing.assert_allclose(frequencies, probabilities, atol=0.03)


def test_queries_on_this_librarys_form_with_missing_steps():
    keras.utils.set_random_seed(11)
    template = template_over(
        layers.IndicatorLeaf(num_components=2),
        layers.DenseSum(num_sums=3),
        layers.DenseProduct(num_factors=2),
        layers.DenseSum(num_sums=3),
    )
    model = models.DynamicSumProductNetwork(template, num_interface_sums=2)
    model.build((None, MAX_STEPS, NUM_VARS))
    x, _ = left_padded(3)
    log_p = model.log_likelihood(x)
    np.testing.assert_allclose(log_p, model(x).numpy()[:, 0], rtol=1e-6)
    middle_missing = x.copy()
    middle_missing[:, 1] = -1
    got = model.log_likelihood(middle_missing).reshape(4, 4, 4)[:, 0, :]
    np.testing.assert_allclose(got, np_logsumexp(log_p.reshape(4, 4, 4), axis=1), atol=1e-5)
    completed = model.mpe(middle_missing[::4])
    np.testing.assert_array_equal(completed[:, [0, 2]], middle_missing[::4][:, [0, 2]])
    assert model.sample(5, seed=1).shape == (5, MAX_STEPS, NUM_VARS)


# A diagonal in the core (each query and each form once: False-log_likelihood, True-complete, True-mpe); the
# other three combinations are slow extras.
@pytest.mark.parametrize(
    "original_form, query",
    [
        pytest.param(False, "log_likelihood", id="False-log_likelihood"),
        pytest.param(False, "complete", id="False-complete", marks=pytest.mark.slow),
        pytest.param(False, "mpe", id="False-mpe", marks=pytest.mark.slow),
        pytest.param(True, "log_likelihood", id="True-log_likelihood", marks=pytest.mark.slow),
        pytest.param(True, "complete", id="True-complete"),
        pytest.param(True, "mpe", id="True-mpe"),
    ],
)
def test_a_query_as_first_use_leaves_the_model_callable(query, original_form):
    # Before, a query on an unbuilt model ran the template on batch x steps rows, which fixed the template's input
    # shape to that many rows, and a later call failed to build.
    def fresh():
        keras.utils.set_random_seed(5)
        if original_form:
            return models.DynamicSumProductNetwork(*networks())
        template = template_over(
            layers.IndicatorLeaf(num_components=2), layers.DenseSum(num_sums=3), layers.ReduceProduct(num_factors=2)
        )
        return models.DynamicSumProductNetwork(template, num_interface_sums=2)

    x, lengths = left_padded(2)
    inputs = [x, lengths] if original_form else x
    queried = fresh()
    getattr(queried, query)(inputs)
    called = fresh()
    expected = called(inputs).numpy()
    np.testing.assert_allclose(queried(inputs).numpy(), expected, rtol=1e-6)
    fewer = [x[:3], lengths[:3]] if original_form else x[:3]
    np.testing.assert_allclose(queried(fewer).numpy(), expected[:3], rtol=1e-6)


def test_dynamic_spn_tracks_its_networks_in_the_original_order():
    """0.6.0 assigns template, top, t0, t - 1 in its constructor, and model.weights follows that order: a 0.6.0
    model's get_weights() fits set_weights() here only in that order."""
    model = weights_060.dynamic_model("grad")  # the same networks as 0.6.0's weight files of a dynamic SPN
    template, t0, t_minus_1, top = (
        model.template_network,
        model.interface_network_t0,
        model.interface_network_t_minus_1,
        model.top_network,
    )
    expected = [v for network in (template, top, t0, t_minus_1) for v in network.weights]
    assert [id(v) for v in model.weights] == [id(v) for v in expected]


def test_sampling_a_dynamic_spn_with_continuous_leaves_draws_one_component_per_step():
    # The leaf of a dynamic SPN sees batch x steps rows; its component draws must have that many rows too.
    keras.utils.set_random_seed(12)
    template = template_over(
        layers.NormalLeaf(num_components=3), layers.DenseProduct(num_factors=2), layers.DenseSum(num_sums=4)
    )
    model = models.DynamicSumProductNetwork(template, num_interface_sums=3)
    model.build((None, 5, 2))
    leaf = template.layers[1]
    locations = np.array([[0.0, 5.0, 10.0], [-30.0, -20.0, -10.0]], "float32")  # per variable, per component
    leaf.location.assign(locations.reshape(2, 1, 3, 1))
    leaf.scale.assign(np.full((2, 1, 3, 1), 1e-3, "float32"))
    samples = model.sample(7, seed=4)
    assert samples.shape == (7, 5, 2)
    for variable in range(2):
        distance = np.abs(samples[..., variable, None] - locations[variable]).min(axis=-1)
        assert distance.max() < 0.01, (variable, samples[..., variable])
    x = np.where(np.arange(5)[None, :, None] == 2, np.nan, 5.0 + np.zeros((6, 5, 2), "float32")).astype("float32")
    x[..., 1] = -20.0
    x[:, 2] = np.nan
    completed = model.complete(x, method="sample", seed=5)
    np.testing.assert_array_equal(completed[:, [0, 1, 3, 4]], x[:, [0, 1, 3, 4]])
    for variable in range(2):
        distance = np.abs(completed[:, 2, variable, None] - locations[variable]).min(axis=-1)
        assert distance.max() < 0.01


# Every kind of bad length in the core: -1 under the default compile (XLA on CPU), the others in graph mode on one model
# that meets them in turn (its steps traced once per dtype of the lengths, not once per kind); the other kinds under
# XLA and -1 in graph mode are slow extras.
@pytest.mark.parametrize(
    "bad_lengths, jit_compile",
    [
        pytest.param([[7, 3, 3, 3]], "auto", id="lengths0-auto", marks=pytest.mark.slow),
        pytest.param([[7, 3, 3, 3], [2.5, 3, 3, 3], [np.nan, 3, 3, 3]], False, id="lengths0-2-3-False"),
        pytest.param([[-1, 3, 3, 3]], "auto", id="lengths1-auto"),
        pytest.param([[-1, 3, 3, 3]], False, id="lengths1-False", marks=pytest.mark.slow),
        pytest.param([[2.5, 3, 3, 3]], "auto", id="lengths2-auto", marks=pytest.mark.slow),
        pytest.param([[np.nan, 3, 3, 3]], "auto", id="lengths3-auto", marks=pytest.mark.slow),
    ],
)
def test_original_form_refuses_lengths_from_a_dataset_in_fit_and_evaluate(bad_lengths, jit_compile):
    """Lengths fed by tf.data reach the step as tensors: the step checks them (XLA drops the call's assertions)."""
    import tensorflow as tf

    model = original_dspn(seed=14)
    model.compile(optimizer=keras.optimizers.Adam(0.1), jit_compile=jit_compile)
    x = np.random.default_rng(14).integers(0, 2, size=(4, MAX_STEPS, NUM_VARS)).astype("int32")
    before = [variable.numpy().copy() for variable in model.weights]
    message = r"or sequence_lens that are not one whole number per sequence, from 0 to the number of steps of x"
    for lengths in bad_lengths:
        bad = tf.data.Dataset.from_tensor_slices((x, np.array(lengths))).batch(4)
        with pytest.raises(ValueError, match=message):
            model.fit(bad, verbose=0)
        with pytest.raises(ValueError, match=message):
            model.evaluate(bad, verbose=0)
        for old, variable in zip(before, model.weights):
            np.testing.assert_array_equal(old, variable.numpy())
    # The same batch with fitting lengths trains as the NumPy arrays do. The NumPy run is this model's from the
    # state it had here (its variables and its optimizer's, put back after the dataset's run): the same steps as a
    # fresh twin of the same seed, without a second model to trace and compile.
    kept = saved_state(model)
    good = np.array([0, 1, 2, 3])
    model.fit(tf.data.Dataset.from_tensor_slices((x, good)).batch(4), verbose=0)
    from_dataset = [variable.numpy() for variable in model.trainable_weights]
    restore_state(kept)
    model.fit(x, good, batch_size=4, shuffle=False, verbose=0)
    for ours, expected in zip(from_dataset, model.trainable_weights):
        np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("lengths", [[7, 3, 3, 3], [-2, 3, 3, 3], [3, 3], [1.5, 3, 3, 3]])
def test_original_form_refuses_lengths_that_do_not_fit_the_sequences(lengths):
    model = original_dspn(seed=13)
    model.compile(optimizer=keras.optimizers.Adam(0.1))
    x = np.random.default_rng(13).integers(0, 2, size=(4, MAX_STEPS, NUM_VARS)).astype("int32")
    before = [variable.numpy().copy() for variable in model.weights]
    message = r"sequence_lens must hold one length per sequence of x, each from 0 to its 3 steps"
    with pytest.raises(ValueError, match=message):
        model([x, np.array(lengths)])
    with pytest.raises(ValueError, match=message):
        model.log_likelihood([x, np.array(lengths)])
    with pytest.raises(ValueError, match=message):
        model.fit(x, np.array(lengths), verbose=0)
    for old, variable in zip(before, model.weights):
        np.testing.assert_array_equal(old, variable.numpy())
    # Lengths from 0 (nothing observed: log p = 0) to all the steps are sequences.
    log_p = model([x, np.array([0, 1, 2, 3])]).numpy()[:, 0]
    assert log_p[0] == 0.0 and np.all(np.isfinite(log_p)) and np.all(log_p[1:] < 0)
