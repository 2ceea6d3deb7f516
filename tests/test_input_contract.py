"""Input contract: refused values and shapes never reach a variable; missing markers; dtype conversions.

Issue 11 items 1-4: every case feeds exactly the input of the issue and
asserts the error message or the exact value.
"""

import re

import numpy as np
import pytest
import tensorflow as tf
from reference import np_logsumexp
from tensorflow import keras

from libspn_keras import layers, models
from libspn_keras import losses as spnk_losses
from libspn_keras.optimizers import OnlineExpectationMaximization

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")

FLOAT_CONTRACT = r"NaN marks a missing value"
REFUSED = (ValueError, tf.errors.InvalidArgumentError)


def normal_stack(use_accumulators=False, num_vars=4):
    """FlatToRegions -> NormalLeaf -> DenseSum -> ReduceProduct -> RootSum over ``num_vars`` variables."""
    sum_op = "em" if use_accumulators else "grad"
    return [
        keras.Input((num_vars,)),
        layers.FlatToRegions(num_decomps=1),
        layers.NormalLeaf(num_components=2, use_accumulators=use_accumulators, name="leaf"),
        layers.DenseSum(num_sums=2, sum_op=sum_op),
        layers.ReduceProduct(num_factors=num_vars),
        layers.RootSum(return_weighted_child_logits=False, sum_op=sum_op),
    ]


def nll(_, y_pred):
    return -tf.reduce_mean(y_pred)


def compiled(wrapper, optimizer, mode):
    """A fitted model of ``normal_stack``: an SPN model or a plain ``keras.Sequential``."""
    keras.utils.set_random_seed(0)
    use_em = optimizer == "em"
    stack = normal_stack(use_accumulators=use_em)
    model = models.SequentialSumProductNetwork(stack) if wrapper == "spn" else keras.Sequential(stack)
    model.compile(
        optimizer=OnlineExpectationMaximization(learning_rate=0.5) if use_em else keras.optimizers.Adam(0.05),
        loss=None if wrapper == "spn" else nll,
        run_eagerly=mode == "eager",
        jit_compile=mode == "jit",
    )
    return model


def batch(rng, size=16):
    return rng.normal(size=(size, 4)).astype("float32")


def fit_once(model, x):
    if isinstance(model, models.SequentialSumProductNetwork):
        return model.fit(x, epochs=1, batch_size=len(x), verbose=0, shuffle=False)
    return model.fit(x, np.zeros(len(x)), epochs=1, batch_size=len(x), verbose=0, shuffle=False)


def snapshot(model):
    return [variable.numpy().copy() for variable in model.weights] + [model.optimizer.iterations.numpy()]


def assert_same(before, after):
    assert len(before) == len(after)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def assert_unchanged_and_usable(model, before, good, reference):
    """Refused calls left every variable as it was, and the model still predicts and trains on good data."""
    assert_same(before, snapshot(model))
    np.testing.assert_array_equal(model.predict(good, verbose=0), reference)
    model.fit(good, epochs=1, verbose=0)


# ------------------------------------------------------------------- 11.1 non-finite values in a training batch


# Every optimizer meets every wrapper and every mode in the four core cases; the other four run with the slow extras.
INFINITE_IN_BATCH_CORE = {("adam", "spn", "eager"), ("em", "spn", "graph"), ("em", "sequential", "eager"),
                          ("adam", "sequential", "graph")}  # fmt: skip


@pytest.mark.parametrize(
    "optimizer,bad,wrapper,mode",
    [
        pytest.param(
            optimizer,
            bad,
            wrapper,
            mode,
            id=f"{optimizer}-{bad}-{wrapper}-{mode}",
            marks=() if (optimizer, wrapper, mode) in INFINITE_IN_BATCH_CORE else pytest.mark.slow,
        )
        for mode in ("eager", "graph")
        for wrapper in ("spn", "sequential")
        for optimizer, bad in (("adam", np.inf), ("em", -np.inf))
    ],
)
def test_infinite_value_in_batch_raises_before_any_update(optimizer, bad, wrapper, mode):
    rng = np.random.default_rng(1)
    model = compiled(wrapper, optimizer, mode)
    fit_once(model, batch(rng))
    before = snapshot(model)
    x = batch(rng)
    x[3, 1] = bad
    # The SPN models check the batch themselves and raise ValueError in every mode; a plain Keras model's
    # leaves raise InvalidArgumentError from their assertions in a tf.function.
    with pytest.raises(ValueError if wrapper == "spn" else REFUSED, match=FLOAT_CONTRACT) as excinfo:
        fit_once(model, x)
    assert re.search(r"NormalLeaf ('leaf'|named leaf)", str(excinfo.value))
    if wrapper == "spn":
        assert_same(before, snapshot(model))
    else:
        # A plain Keras model: no variable changes (its optimizer's iteration count may advance in a tf.function).
        assert_same(before[:-1], snapshot(model)[:-1])
    # The model stays usable: the next valid batch trains and everything stays finite.
    fit_once(model, batch(rng))
    assert all(np.all(np.isfinite(v)) for v in snapshot(model))
    assert not np.array_equal(before[0], model.weights[0].numpy())


# Adam under XLA: the core's test_several_steps_per_call_stop_at_a_refused_batch_under_raise[raise-jit] (same error,
# nothing written, then trains) and test_invalid_batches_skip_warns_and_trains_on_the_rest[jit].
@pytest.mark.parametrize("optimizer", [pytest.param("adam", marks=pytest.mark.slow), "em"])
def test_infinite_value_under_xla_skips_the_step_and_raises(optimizer):
    # XLA compiles assertions away: the SPN model checks the batch itself, skips the step and fit raises after it.
    rng = np.random.default_rng(2)
    model = compiled("spn", optimizer, "jit")
    fit_once(model, batch(rng))
    before = snapshot(model)
    x = batch(rng)
    x[0, 0], x[5, 2] = np.inf, -np.inf
    with pytest.raises(ValueError, match=r"1 training batch\(es\) held input values its leaves refuse") as excinfo:
        fit_once(model, x)
    assert "NormalLeaf 'leaf': Accepted: finite numbers; NaN marks a missing value" in str(excinfo.value)
    assert_same(before, snapshot(model))
    fit_once(model, batch(rng))
    assert model.optimizer.iterations.numpy() == before[-1] + 1
    assert all(np.all(np.isfinite(v)) for v in snapshot(model))


@pytest.fixture(scope="module")
def skipping_spn():
    """One ``normal_stack`` SPN per mode compiled with ``invalid_batches="skip"``, shared by the tests of that policy.

    Each test counts the steps its own call ran and checks the warning of that call; the model's compiled step is
    built once per mode.
    """
    cache = {}

    def skipping(mode):
        if mode not in cache:
            keras.utils.set_random_seed(0)
            model = models.SequentialSumProductNetwork(normal_stack())
            model.compile(
                optimizer=keras.optimizers.Adam(0.05),
                invalid_batches="skip",
                run_eagerly=mode == "eager",
                jit_compile=mode == "jit",
            )
            cache[mode] = model
        return cache[mode]

    return skipping


# Eager runs with the slow extras: the graph case checks the same policy outside XLA.
@pytest.mark.parametrize("mode", [pytest.param("eager", marks=pytest.mark.slow), "graph", "jit"])
def test_invalid_batches_skip_warns_and_trains_on_the_rest(mode, skipping_spn):
    rng = np.random.default_rng(12)
    model = skipping_spn(mode)
    good, bad = batch(rng), batch(rng)
    bad[2, 3] = np.inf
    before = snapshot(model)
    with pytest.warns(UserWarning, match=r"1 training batch\(es\) held input values its leaves refuse"):
        model.fit(np.concatenate([bad, good]), epochs=1, batch_size=16, verbose=0, shuffle=False)
    assert model.optimizer.iterations.numpy() == before[-1] + 1
    assert all(np.all(np.isfinite(v)) for v in snapshot(model))


def four_batches_one_refused():
    rng = np.random.default_rng(12)
    first, bad, third, fourth = (batch(rng) for _ in range(4))
    bad[2, 3] = np.inf
    return first, bad, third, fourth


def several_steps_model(policy, mode, steps_per_execution):
    keras.utils.set_random_seed(0)
    model = models.SequentialSumProductNetwork(normal_stack())
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        invalid_batches=policy,
        jit_compile=mode == "jit",
        steps_per_execution=steps_per_execution,
    )
    return model


def fit_batches(model, *batches):
    model.fit(np.concatenate(batches), epochs=1, batch_size=16, verbose=0, shuffle=False)


@pytest.fixture(scope="module")
def one_step_per_call_reference():
    """The weights and iteration count of a one-step-per-call model after ``first`` and after ``first, third,
    fourth``: the expected results of both policies in both modes, from one model.

    It sees only good batches, so its own policy changes nothing (it is compiled with the default, "raise"); fitting
    ``first`` and then ``third, fourth`` runs the same three steps in the same order as one fit of the three. It runs
    in graph mode: its weights match those of an XLA-compiled reference to about 1e-7 (relative), well inside the
    tolerance of the comparison, and its step compiles in half the time.
    """
    first, _, third, fourth = four_batches_one_refused()
    model = several_steps_model("raise", "graph", steps_per_execution=1)
    fit_batches(model, first)
    after_first = snapshot(model)
    fit_batches(model, third, fourth)
    return {"raise": after_first, "skip": snapshot(model)}


# A diagonal in the core ("raise" under XLA, the default, and "skip" in graph mode); the other two run with the slow
# extras.
@pytest.mark.parametrize(
    "policy,mode",
    [
        pytest.param("raise", "graph", marks=pytest.mark.slow),
        pytest.param("skip", "graph"),
        pytest.param("raise", "jit"),
        pytest.param("skip", "jit", marks=pytest.mark.slow),
    ],
)
def test_several_steps_per_call_stop_at_a_refused_batch_under_raise(policy, mode, one_step_per_call_reference):
    # One call runs four steps; under "raise" the batches after the refused one do not train either, so the model is
    # left exactly as after the batches before it; under "skip" the rest of the call trains.
    first, bad, third, fourth = four_batches_one_refused()
    model = several_steps_model(policy, mode, steps_per_execution=4)
    if policy == "raise":
        with pytest.raises(ValueError, match=r"1 training batch\(es\) held input values its leaves refuse"):
            fit_batches(model, first, bad, third, fourth)
    else:
        with pytest.warns(UserWarning, match=r"1 training batch\(es\)"):
            fit_batches(model, first, bad, third, fourth)
    # The reference trained on the batches before the refused one ("raise") or on all the others ("skip").
    expected = one_step_per_call_reference[policy]
    ours = snapshot(model)
    assert len(ours) == len(expected)
    assert ours[-1] == expected[-1]  # the optimizer's iteration count
    for weight, reference_weight in zip(ours[:-1], expected[:-1]):
        np.testing.assert_allclose(weight, reference_weight, rtol=1e-5, atol=1e-6)
    # The flag is cleared with the error: the next call trains all its batches.
    iterations = model.optimizer.iterations.numpy()
    fit_batches(model, first, third, fourth, first)
    assert model.optimizer.iterations.numpy() == iterations + 4


def class_roots_model():
    keras.utils.set_random_seed(0)
    return models.SequentialSumProductNetwork(
        [
            keras.Input((4,)),
            layers.FlatToRegions(num_decomps=1),
            layers.NormalLeaf(num_components=2),
            layers.DenseProduct(num_factors=2),
            layers.DenseSum(num_sums=2),
            layers.DenseProduct(num_factors=2),
            layers.Undecompose(),
            layers.DenseSum(num_sums=3),
            layers.RootSum(),  # three class roots
        ]
    )


@pytest.fixture(scope="module")
def class_roots_compiled():
    """One ``class_roots_model()`` per loss and ``jit_compile``, compiled with Adam and the default policy "raise".

    Shared by the cases that make refused calls (each checks its refused call left the model as it was) and then train
    on good labels: XLA compiles a model's step once per label dtype, not once per case.
    """
    cache = {}

    def compiled_model(loss, jit_compile):
        if (loss, jit_compile) not in cache:
            model = class_roots_model()
            loss_object = {
                "negative_log_joint": lambda: spnk_losses.NegativeLogJoint(),
                "sparse_categorical_crossentropy": lambda: "sparse_categorical_crossentropy",
                "sparse_ignoring_minus_one": lambda: keras.losses.SparseCategoricalCrossentropy(True, ignore_class=-1),
            }[loss]()
            model.compile(optimizer=keras.optimizers.Adam(0.05), loss=loss_object, jit_compile=jit_compile)
            cache[loss, jit_compile] = model
        return cache[loss, jit_compile]

    return compiled_model


@pytest.mark.parametrize(
    "loss, jit_compile, labels",
    [
        ("negative_log_joint", "auto", [0, 1, 2, 3]),
        ("negative_log_joint", False, [0, -2, 1, 2]),
        ("sparse_categorical_crossentropy", "auto", [0.0, 1.0, 2.0, np.nan]),
        # An ignored class -1 passes and other labels are refused, under the default compile, in
        # test_ignored_labels_pass_and_skip_policy_trains_on_the_other_batches; negative labels: labels1.
        pytest.param("sparse_ignoring_minus_one", "auto", [0, -2, 1, 2], marks=pytest.mark.slow),
        ("negative_log_joint", "auto", [0.0, 0.5, 1.0, 2.0]),  # the loss would read 0.5 as class 0
        # Fractions: labels4; this loss: labels2; graph mode: labels1.
        pytest.param("sparse_categorical_crossentropy", False, [0.0, 1.0, 2.9, 2.0], marks=pytest.mark.slow),
    ],
)
def test_labels_outside_the_class_roots_are_refused_before_the_step(loss, jit_compile, labels, class_roots_compiled):
    # A gather of class roots clamps such an index under XLA (the default): the step would train on another class.
    model = class_roots_compiled(loss, jit_compile)
    x = np.random.default_rng(3).normal(size=(4, 4)).astype("float32")
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"1 training batch\(es\) held labels that are not indices of its 3 class"):
        model.fit(x, np.array(labels), batch_size=4, verbose=0)
    assert_same(before, snapshot(model))
    # Still trains on labels it can read, of the refused labels' dtype: the same compiled step, not a new trace.
    model.fit(x, np.array([0, 1, 2, 0]).astype(np.array(labels).dtype), batch_size=4, verbose=0)
    assert int(model.optimizer.iterations) == before[-1] + 1


# Graph mode: the label check of test_labels_outside_the_class_roots_are_refused_before_the_step[...-False-labels1].
@pytest.mark.parametrize("jit_compile", ["auto", pytest.param(False, marks=pytest.mark.slow)])
def test_evaluate_refuses_labels_outside_the_class_roots(jit_compile, class_roots_compiled):
    # Under XLA the loss's gather would clamp label 3 to class 2 and report that class's loss.
    model = class_roots_compiled("negative_log_joint", jit_compile)
    x = np.random.default_rng(5).normal(size=(8, 4)).astype("float32")
    with pytest.raises(
        ValueError, match=r"1 batch\(es\) held labels that are not indices of its 3 class .*results are discarded"
    ):
        model.evaluate(x, np.array([0, 1, 2, 0, 1, 2, 3, 0]), batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="held labels that are not indices of its 3 class roots"):
        model.fit(x, np.zeros(8), validation_data=(x, np.full(8, -1)), batch_size=4, verbose=0)
    loss = model.evaluate(x, np.array([0, 1, 2, 0, 1, 2, 2, 0]), batch_size=4, verbose=0)
    log_joint = model.predict(x, verbose=0)[np.arange(8), [0, 1, 2, 0, 1, 2, 2, 0]]
    np.testing.assert_allclose(loss, -np.mean(log_joint), rtol=1e-5)


# Graph mode: the label check of test_labels_outside_the_class_roots_are_refused_before_the_step[...-False-labels1].
@pytest.mark.parametrize("jit_compile", ["auto", pytest.param(False, marks=pytest.mark.slow)])
def test_one_hot_labels_of_the_log_joint_are_refused_by_fit_evaluate_and_the_loss(jit_compile, class_roots_compiled):
    # Read as a flat list of class indices, [batch, classes] labels picked other samples' logits: evaluate returned
    # a wrong number and fit failed deep inside the gather.
    from libspn_keras import metrics

    model = class_roots_compiled("negative_log_joint", jit_compile)
    x = np.random.default_rng(6).normal(size=(4, 4)).astype("float32")
    one_hot = np.eye(3)[[0, 1, 2, 0]]
    model.fit(x, np.array([0, 1, 2, 0]), batch_size=4, verbose=0)
    model.evaluate(x, np.array([0, 1, 2, 0]), batch_size=4, verbose=0)
    before = snapshot(model)
    # Traced again for the new labels, a step knows their shape (the loss refuses them) or, where TensorFlow
    # relaxes the shapes of a step traced before, not (the models' label check then refuses the batch first).
    message = r"NegativeLogJoint: labels must be integer class indices of shape \[batch\].*got labels of shape"
    refused = rf"({message}|held labels that are not indices of its 3 class roots \(one per sample)"
    for call in (model.evaluate, model.fit):
        with pytest.raises(ValueError, match=refused):
            call(x, one_hot, batch_size=4, verbose=0)
    assert_same(before, snapshot(model))
    log_joints = model.predict(x, verbose=0)
    with pytest.raises(ValueError, match=message):
        spnk_losses.NegativeLogJoint()(one_hot, log_joints)
    with pytest.raises(ValueError, match=r"LogJoint 'log_joint': labels must be integer class indices"):
        metrics.LogJoint().update_state(one_hot, log_joints)
    # Labels of shape [batch, 1] are class indices as before.
    np.testing.assert_allclose(
        float(spnk_losses.NegativeLogJoint()(np.array([[0], [1], [2], [0]]), log_joints)),
        -np.mean(log_joints[np.arange(4), [0, 1, 2, 0]]),
        rtol=1e-6,
    )


def test_the_label_check_wants_one_label_per_sample():
    from libspn_keras.models.label_checks import labels_within

    assert bool(labels_within(np.array([[0], [2]]), 3)) and bool(labels_within(np.array([0, 2]), 3))
    assert not bool(labels_within(np.eye(3)[[0, 2]], 3))  # one-hot rows: whole numbers below 3, two per sample
    unknown_shape = tf.function(lambda t: labels_within(t, 3), input_signature=[tf.TensorSpec(None, tf.float64)])
    assert not bool(unknown_shape(tf.constant(np.eye(3)[[0, 2]])))
    assert bool(unknown_shape(tf.constant([[0.0], [2.0]], tf.float64)))


def test_ignored_labels_pass_and_skip_policy_trains_on_the_other_batches():
    model = class_roots_model()
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1),
        invalid_batches="skip",
    )
    x = np.random.default_rng(4).normal(size=(8, 4)).astype("float32")
    model.fit(x[:4], np.array([0, -1, 2, 1]), batch_size=4, verbose=0)  # -1 is the ignored class: trains
    assert int(model.optimizer.iterations) == 1
    with pytest.warns(UserWarning, match="1 training batch"):
        model.fit(x, np.array([0, 1, 2, 1, 5, 0, 1, 2]), batch_size=4, verbose=0, shuffle=False)
    assert int(model.optimizer.iterations) == 2


def test_invalid_batches_argument_is_checked():
    model = models.SequentialSumProductNetwork(normal_stack())
    with pytest.raises(ValueError, match=r"invalid_batches must be one of \('raise', 'skip'\), got 'ignore'"):
        model.compile(optimizer="adam", invalid_batches="ignore")


def test_infinite_value_under_xla_in_a_plain_sequential_is_read_as_missing():
    # A plain keras.Sequential cannot skip the step: the leaf marginalizes the entry (as if it were NaN), so
    # nothing non-finite is written.
    x = batch(np.random.default_rng(3))
    with_inf, with_nan = x.copy(), x.copy()
    with_inf[3, 1], with_nan[3, 1] = np.inf, np.nan
    # One model trains on both batches from the same state (its weights and optimizer state are put back between
    # the fits, as two fresh models of the same seed would start): XLA compiles its step once.
    model = compiled("sequential", "adam", "jit")
    model.optimizer.build(model.trainable_variables)
    state = model.variables + model.optimizer.variables
    initial = [variable.numpy().copy() for variable in state]
    trained = []
    for data in (with_inf, with_nan):
        for variable, value in zip(state, initial):
            variable.assign(value)
        history = fit_once(model, data)
        assert np.isfinite(history.history["loss"][0])
        trained.append(snapshot(model))
    assert all(np.all(np.isfinite(v)) for v in trained[0])
    for a, b in zip(*trained):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_nan_marks_missing_values_and_trains():
    rng = np.random.default_rng(4)
    model = compiled("spn", "adam", "graph")
    x = batch(rng)
    x[:, 0] = np.nan
    fit_once(model, x)
    assert all(np.all(np.isfinite(v)) for v in snapshot(model))
    # NaN is the marginal: the same as hiding the entry with an evidence mask.
    probe = batch(rng)[:4]
    mask = np.ones(probe.shape, bool)
    mask[:, 0] = False
    marked = probe.copy()
    marked[:, 0] = np.nan
    np.testing.assert_allclose(model.log_likelihood(marked), model.log_likelihood(probe, evidence_mask=mask))
    assert np.all(np.isfinite(model.log_likelihood(marked)))


# A diagonal in the core (the functional model under the default XLA, the sequential one in graph mode); the other two
# run with the slow extras.
@pytest.mark.parametrize(
    "wrapper,jit_compile",
    [
        pytest.param("sequential", "auto", marks=pytest.mark.slow),
        pytest.param("functional", "auto"),
        pytest.param("sequential", False),
        pytest.param("functional", False, marks=pytest.mark.slow),
    ],
)
def test_evaluate_and_predict_refuse_values_instead_of_reading_them_as_missing(wrapper, jit_compile):
    # The SPN models compile with XLA by default, where the leaves' assertions are compiled away: the model
    # counts refused batches itself and raises ValueError after the call (it changed no variable). In graph
    # mode it does the same, rather than let an assertion raise InvalidArgumentError.
    keras.utils.set_random_seed(11)
    stack = normal_stack()
    if wrapper == "sequential":
        model = models.SequentialSumProductNetwork(stack)
    else:
        x = stack[0]
        for layer in stack[1:]:
            x = layer(x)
        model = models.SumProductNetwork(stack[0], x)
    model.compile(optimizer="adam", jit_compile=jit_compile)
    assert model.jit_compile is (jit_compile == "auto")
    good = batch(np.random.default_rng(11))
    reference = model.predict(good, verbose=0)
    before = snapshot(model)
    bad = good.copy()
    bad[4, 2] = -np.inf
    expected = r"a batch held input values its leaves refuse; .*NormalLeaf 'leaf': Accepted: finite numbers; NaN marks"
    with pytest.raises(ValueError, match=expected):
        model.predict(bad, verbose=0)
    with pytest.raises(ValueError, match=expected):
        model.evaluate(bad, verbose=0)
    assert_unchanged_and_usable(model, before, good, reference)
    marked = good.copy()
    marked[4, 2] = np.nan
    assert np.all(np.isfinite(model.predict(marked, verbose=0)))


# Graph mode: test_evaluate_and_predict_refuse_values_instead_of_reading_them_as_missing[sequential-False] (predict
# refuses, nothing written) and test_rat_spn_refuses_another_number_of_variables_and_stays_usable[3-False].
@pytest.mark.parametrize("jit_compile", ["auto", pytest.param(False, marks=pytest.mark.slow)])
def test_predict_of_an_integer_model_refuses_other_categories(jit_compile, trained_rat_spn):
    model = trained_rat_spn(jit_compile)
    before = snapshot(model)
    good = np.random.default_rng(13).integers(0, 2, size=(16, 4)).astype("int32")
    model.predict(good, verbose=0)
    for bad_value, dtype in ((7, "int32"), (0.9, "float32")):
        bad = good.astype(dtype)
        bad[0, 0] = bad_value
        # The first call on a batch of another dtype traces a new step: it refuses too.
        with pytest.raises(ValueError, match=r"IndicatorLeaf '\w+': .*integer categories 0 to 1"):
            model.predict(bad, verbose=0)
        with pytest.raises(ValueError, match=r"IndicatorLeaf '\w+': .*integer categories 0 to 1"):
            model.fit(bad, epochs=1, verbose=0)
    assert_same(before, snapshot(model))
    model.evaluate(good, verbose=0)


@pytest.mark.parametrize("compiled", [False, True])
def test_infinite_value_is_refused_by_queries(compiled):
    # Compiled models run their queries with XLA, which drops the leaves' assertions: checked before.
    model = models.SequentialSumProductNetwork(normal_stack())
    if compiled:
        model.compile(optimizer="adam")
        assert model.jit_compile is True
    bad = np.array([[0.0, np.inf, 1.0, np.nan]], "float32")
    with pytest.raises(ValueError, match=FLOAT_CONTRACT):
        model.log_likelihood(bad)
    with pytest.raises(ValueError, match=FLOAT_CONTRACT):
        model.complete(bad)
    good = np.array([[0.0, 0.5, 1.0, np.nan]], "float32")
    assert np.isfinite(model.log_likelihood(good)).all() and np.isfinite(model.complete(good)).all()


# -------------------------------------------------------------------------------- 11.2 shapes the model was built for


def rat_spn():
    # One product level: the checks read the leaf and the model input, not the depth (XLA compiles a shallower step
    # faster).
    keras.utils.set_random_seed(5)
    return models.build_rat_spn(num_vars=4, depth=1, num_decomps=2, num_input_distributions=2, num_sums=2)


@pytest.fixture(scope="module")
def trained_rat_spn():
    """One ``rat_spn()`` per ``jit_compile``, compiled with Adam and ``invalid_batches="raise"`` and trained one epoch.

    Shared by tests that make refused calls on it (each checks that its refused calls left every variable as it was,
    then uses it on good data): XLA compiles each of its steps once, not once per test. It is trained here, so every
    test finds its training step traced for 16 x 4 int32 batches, whichever test runs first.
    """
    cache = {}

    def trained(jit_compile):
        if jit_compile not in cache:
            model = rat_spn()
            model.compile(optimizer="adam", jit_compile=jit_compile, invalid_batches="raise")
            model.fit(np.random.default_rng(14).integers(0, 2, size=(16, 4)).astype("int32"), epochs=1, verbose=0)
            cache[jit_compile] = model
        return cache[jit_compile]

    return trained


@pytest.mark.parametrize("columns,jit_compile", [(3, False), (5, "auto")])
def test_rat_spn_refuses_another_number_of_variables_and_stays_usable(columns, jit_compile, trained_rat_spn):
    model = trained_rat_spn(jit_compile)
    rng = np.random.default_rng(6)
    good = rng.integers(0, 2, size=(16, 4)).astype("int32")
    model.fit(good, epochs=1, verbose=0)
    reference = model.predict(good, verbose=0)
    before = snapshot(model)
    bad = rng.integers(0, 2, size=(16, columns)).astype("int32")
    expected = (
        r"IndicatorLeaf ('indicator_leaf\w*'|named indicator_leaf\w*) was built for input \[batch, \.\.\., d\] "
        r"of shape \(None, 4, 2, 1\) but got shape"
    )
    with pytest.raises(ValueError, match=expected) as excinfo:
        model(bad)
    assert f"(16, {columns}, 2, 1)" in str(excinfo.value)
    model_message = r"SequentialSumProductNetwork '\w+' was built for input of shape \(None, 4\) but got shape"
    model.log_likelihood(good)  # queries check the shape eagerly, also once their function is traced
    for query in (model.log_likelihood, model.complete, model.mpe):
        with pytest.raises(ValueError, match=model_message):
            query(bad)
    # A tf.function already traced for 4 columns is retraced with unknown sizes: checked when it runs (or compiles).
    # The model checks the batch shape before the training step; predict's leaf checks it when the graph runs.
    # (Under XLA, the default, the compiler refuses the shape when it compiles the step.) With a batch size the
    # retraced step knows the batch axis; the leaf's own shape assertion once let graph optimizations fold the
    # model's check to true, so the step ran and advanced the optimizer's iteration count before failing.
    for batch_size in (None, 16, 8):
        with pytest.raises(ValueError, match=r"batch\(es\) had another shape; (its step was|their steps were) skipped"):
            model.fit(bad, epochs=1, verbose=0, batch_size=batch_size)
        assert_same(before, snapshot(model))
    with pytest.raises(
        REFUSED,
        match=rf"(?s)(indicator_leaf.*\[16,{columns},2,1\] is not compatible with expected"
        rf"|but got shape\] \[16 {columns}\]|batch\(es\) had another shape; nothing was written)",
    ):
        model.predict(bad, verbose=0)
    assert_unchanged_and_usable(model, before, good, reference)
    assert np.all(np.isfinite(model.log_likelihood(good)))


def spatial_normal_model():
    keras.utils.set_random_seed(7)
    return models.SequentialSumProductNetwork(
        [
            keras.Input((4, 4, 1)),
            layers.NormalLeaf(num_components=2, name="leaf"),
            layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, depthwise=True),
            layers.Local2DSum(num_sums=2),
            layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, depthwise=True),
            layers.SpatialToRegions(),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )


OTHER_SHAPES = {"4x4x2": (8, 4, 4, 2), "6x6": (8, 6, 6, 1), "flat": (8, 16), "rank1": (16,)}


def check_spatial_shapes(names):
    model = spatial_normal_model()
    model.compile(optimizer="adam", jit_compile=False)
    rng = np.random.default_rng(8)
    good = rng.normal(size=(8, 4, 4, 1)).astype("float32")
    model.fit(good, epochs=1, verbose=0)
    reference = model.predict(good, verbose=0)
    before = snapshot(model)
    for name, shape in OTHER_SHAPES.items():
        bad = rng.normal(size=shape).astype("float32")
        with pytest.raises(ValueError, match=r"NormalLeaf 'leaf' was built for input .* \(None, 4, 4, 1\) but got"):
            model(bad)
        if name not in names:
            continue
        with pytest.raises(
            ValueError, match=r"was built for input of shape \(None, 4, 4, 1\), but 1 batch\(es\) had another shape"
        ):
            model.fit(bad, epochs=1, verbose=0)
        with pytest.raises(
            REFUSED, match=r"(?s)(leaf|SumProductNetwork).*(was built for input|is not compatible with expected shape)"
        ):
            model.predict(bad, verbose=0)
    assert_unchanged_and_usable(model, before, good, reference)


def test_spatial_model_refuses_other_shapes_and_stays_usable():
    check_spatial_shapes(["4x4x2"])


@pytest.mark.slow
def test_spatial_model_refuses_other_shapes_in_fit_and_predict():
    check_spatial_shapes(list(OTHER_SHAPES))


def test_functional_model_refuses_flat_input_after_training_and_stays_usable():
    # After a fit on 4x4x1 images, a retraced step sees input of unknown rank: still a clear error, nothing written.
    inputs = keras.Input(shape=(4, 4, 1))
    x = layers.NormalLeaf(num_components=2)(inputs)
    x = layers.Conv2DProduct(depthwise=True, strides=[2, 2], dilations=[1, 1], kernel_size=[2, 2])(x)
    x = layers.Local2DSum(num_sums=2)(x)
    x = layers.Conv2DProduct(depthwise=True, strides=[2, 2], dilations=[1, 1], kernel_size=[2, 2])(x)
    model = models.SumProductNetwork(inputs, layers.RootSum()(x), name="images")
    model.compile(optimizer="adam")
    good = np.random.default_rng(8).normal(size=(8, 4, 4, 1)).astype("float32")
    model.fit(good, epochs=1, verbose=0)
    reference = model.predict(good, verbose=0)
    before = snapshot(model)
    flat = good.reshape(8, 16)
    with pytest.raises(ValueError, match=r"SumProductNetwork 'images' was built for input of shape \(None, 4, 4, 1\)"):
        model.fit(flat, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"'images' was built for input of shape \(None, 4, 4, 1\),? but"):
        model.predict(flat, verbose=0)
    with pytest.raises(ValueError, match=r"'images' was built for input of shape \(None, 4, 4, 1\),? but"):
        model.evaluate(flat, verbose=0)
    assert_same(before, snapshot(model))
    np.testing.assert_array_equal(model.predict(good, verbose=0), reference)
    model.fit(good, epochs=1, verbose=0)


# Graph mode runs with the slow extras; XLA (True) covers the check. A step retraced for unknown shapes refuses in graph
# mode in test_rat_spn_refuses_another_number_of_variables_and_stays_usable[3-False].
@pytest.mark.parametrize("jit_compile", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_model_of_two_inputs_refuses_another_shape_of_either_after_a_valid_call(jit_compile):
    # The second input's shape was not checked: after a valid call, predict raised the leaf's raw assertion.
    first, second = keras.Input((4,), name="first"), keras.Input((4,), name="second")
    leaf, to_regions = layers.NormalLeaf(num_components=2), layers.FlatToRegions(num_decomps=1)
    branches = [layers.ReduceProduct(num_factors=4)(leaf(to_regions(x))) for x in (first, second)]
    # The branches' product (a root over their nodes joined would mix p(first) with p(second), and is refused).
    joined = layers.ReduceProduct(num_factors=2)(keras.layers.Concatenate(axis=1)(branches))
    outputs = layers.RootSum(return_weighted_child_logits=False)(joined)
    model = models.SumProductNetwork(inputs=[first, second], outputs=outputs, name="pair")
    model.compile(optimizer="adam", jit_compile=jit_compile)
    good = np.random.default_rng(3).normal(size=(8, 4)).astype("float32")
    model.fit([good, good], epochs=1, verbose=0)
    reference = model.predict([good, good], verbose=0)
    before = snapshot(model)
    built_for = r"'pair' was built for inputs? (\d )?of shapes? .*\(None, 4\)"
    for bad in ([good, good[:, :3]], {"first": good[:, :3], "second": good}):
        with pytest.raises(ValueError, match=built_for):
            model.predict(bad, verbose=0)
        with pytest.raises(ValueError, match=built_for):
            model.fit(bad, epochs=1, verbose=0)
        with pytest.raises(ValueError, match=built_for):
            model.evaluate(bad, verbose=0)
    # Shapes unknown until the step runs (a pipeline without static shapes): the assertion in the step refuses.
    spec = tf.TensorSpec((None, None), tf.float32)
    unknown = tf.data.Dataset.from_generator(lambda: iter([(good, good[:, :3])]), output_signature=(spec, spec))
    unknown = unknown.map(lambda a, b: ((a, b),))  # x = (a, b), no labels
    with pytest.raises(ValueError, match=built_for):
        model.predict(unknown, verbose=0)
    with pytest.raises(ValueError, match=built_for):
        model.fit(unknown, epochs=1, verbose=0)
    assert_same(before, snapshot(model))
    np.testing.assert_array_equal(model.predict({"first": good, "second": good}, verbose=0), reference)
    model.fit([good, good], epochs=1, verbose=0)


def test_a_later_input_takes_the_rank_that_the_functional_call_gives_it():
    # Keras's functional call adds a trailing axis of size 1 to an input of shape (None, 1) fed as [batch].
    first, second = keras.Input((4,), name="first"), keras.Input((1,), name="second")
    branches = [
        layers.ReduceProduct(num_factors=size)(layers.NormalLeaf(num_components=2)(layers.FlatToRegions(1)(x)))
        for x, size in ((first, 4), (second, 1))
    ]
    # The branches' product (a root over their nodes joined would mix p(first) with p(second), and is refused).
    joined = layers.ReduceProduct(num_factors=2)(keras.layers.Concatenate(axis=1)(branches))
    outputs = layers.RootSum(return_weighted_child_logits=False)(joined)
    model = models.SumProductNetwork(inputs=[first, second], outputs=outputs, name="pair")
    # Graph mode: the ranks are the functional call's, whatever the compile; two inputs are checked under XLA (the
    # default) in test_model_of_two_inputs_refuses_another_shape_of_either_after_a_valid_call[True].
    model.compile(optimizer="adam", jit_compile=False)
    rng = np.random.default_rng(4)
    a, c = rng.normal(size=(8, 4)).astype("float32"), rng.normal(size=(8,)).astype("float32")
    np.testing.assert_allclose(model.predict([a, c], verbose=0), model.predict([a, c[:, None]], verbose=0))
    model.fit([a, c], epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"'pair' was built for inputs of shapes"):
        model.predict([a, np.stack([c, c], axis=1)], verbose=0)


# ------------------------------------------------------------------------------- 11.3 categories of integer models


INT_CONTRACT = r"IndicatorLeaf 'leaf': .*integer categories 0 to 2; -1 \(or NaN for float input\) marks a missing"


def indicator(num_components=3):
    return layers.IndicatorLeaf(num_components=num_components, name="leaf")


@pytest.mark.parametrize(
    "value,dtype",
    [
        (0.9, "float32"),
        (-0.5, "float32"),
        (1e30, "float32"),
        (np.inf, "float32"),
        (-np.inf, "float32"),
        (3, "int32"),
        (-2, "int32"),
        (2**32, "int64"),
        (3.0, "float64"),
    ],
)
def test_indicator_refuses_values_that_are_neither_categories_nor_the_marker(value, dtype):
    x = np.array([[[0], [1], [2]]], dtype=dtype)
    x[0, 1, 0] = value
    with pytest.raises(ValueError, match=INT_CONTRACT) as excinfo:
        indicator()(tf.constant(x))
    assert "1 value(s)" in str(excinfo.value)


def test_indicator_refuses_values_inside_tf_function():
    leaf = indicator()
    run = tf.function(lambda x: leaf(x))
    run(tf.constant([[[0], [1]]], tf.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"IndicatorLeaf named leaf: .*neither valid"):
        run(tf.constant([[[0], [7]]], tf.int32))


def test_indicator_missing_markers_per_dtype():
    leaf = indicator()
    for dtype in ("int8", "int16", "int32", "int64"):
        out = leaf(tf.constant(np.array([[[-1], [2], [0]]], dtype))).numpy()
        np.testing.assert_array_equal(out[0], [[0.0, 0.0, 0.0], [-np.inf, -np.inf, 0.0], [0.0, -np.inf, -np.inf]])
    for dtype in ("float16", "float32", "float64"):
        out = leaf(tf.constant(np.array([[[-1.0], [np.nan], [1.0]]], dtype))).numpy()
        np.testing.assert_array_equal(out[0], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [-np.inf, 0.0, -np.inf]])


def test_int64_model_refuses_a_category_that_would_wrap_to_zero():
    keras.utils.set_random_seed(9)
    model = models.build_rat_spn(
        num_vars=2, depth=1, num_decomps=1, num_input_distributions=2, num_sums=2, input_dtype="int64"
    )
    np.testing.assert_allclose(
        np_logsumexp(model.log_likelihood(np.array([[0, 0], [0, 1], [1, 0], [1, 1]]))), 0.0, atol=1e-6
    )
    with pytest.raises(ValueError, match=r"4294967296"):
        model.log_likelihood(np.array([[0, 2**32]], "int64"))


# bool: test_unsigned_inputs.py (bool models queried with markers, a functional bool model trained); int32 is the
# dtype of most core tests. Both run with the slow extras.
@pytest.mark.parametrize(
    "input_dtype",
    ["uint8", pytest.param("bool", marks=pytest.mark.slow), pytest.param("int32", marks=pytest.mark.slow)],
)
def test_unsigned_data_and_models(input_dtype):
    # uint8 and bool cannot hold -1: every entry is observed, and queries mark missing entries in int32.
    # (One product level, as in rat_spn(): the dtypes are read by the leaf, not by the depth.)
    keras.utils.set_random_seed(10)
    model = models.build_rat_spn(
        num_vars=4, depth=1, num_decomps=2, num_input_distributions=2, num_sums=2, input_dtype=input_dtype
    )
    model.compile(optimizer="adam", jit_compile=input_dtype == "uint8")
    data = np.random.default_rng(10).integers(0, 2, size=(32, 4)).astype("uint8")
    model.fit(data.astype(input_dtype), epochs=1, verbose=0)
    assert all(np.all(np.isfinite(v)) for v in snapshot(model))
    mask = np.ones((32, 4), bool)
    mask[:, 1] = False
    masked = model.log_likelihood(data.astype(input_dtype), evidence_mask=mask)
    marked = data.astype("int32")
    marked[:, 1] = -1
    np.testing.assert_allclose(masked, model.log_likelihood(marked), rtol=1e-6)
    assert np.all(np.isfinite(masked))
    samples = model.sample(5, seed=1)
    assert samples.shape == (5, 4) and set(np.unique(samples)) <= {0, 1}
    # -1 written into a uint8 array is 255: not a category of this model, and refused.
    with pytest.raises(ValueError, match=r"255"):
        model.log_likelihood(np.array([[0, 1, 255, 0]], "uint8"))


def test_missing_value_helper_refuses_unsigned_dtypes():
    from libspn_keras.layers.base_leaf import missing_value

    assert np.isnan(missing_value("float32").numpy())
    assert missing_value("int16").numpy() == -1
    with pytest.raises(ValueError, match="uint8 cannot hold the missing marker -1"):
        missing_value("uint8")


# --------------------------------------------------------------------------------------- 11.4 integer data, float leaf


def test_normal_leaf_casts_integer_input_to_its_float_dtype():
    leaf = layers.NormalLeaf(num_components=2, location_initializer=keras.initializers.Constant(0.5))
    as_int = leaf(tf.constant([[[1], [3]]], tf.int32))
    assert as_int.dtype == tf.float32
    np.testing.assert_array_equal(as_int, leaf(tf.constant([[[1.0], [3.0]]], tf.float32)))
    # log N(1; 0.5, 1) exactly.
    np.testing.assert_allclose(as_int[0, 0, 0], -0.125 - 0.5 * np.log(2 * np.pi), rtol=1e-6)


def test_normalizer_before_the_leaf_refuses_infinite_values():
    # A sample-wise normalizer would turn a row holding inf into NaN (missing) before the leaf could refuse it.
    model = keras.Sequential(
        [keras.Input((4,)), layers.NormalizeStandardScore(axes="sample_wise", name="norm"), *normal_stack()[1:]]
    )
    x = np.array([[0.0, 1.0, np.inf, 2.0]], "float32")
    with pytest.raises(ValueError, match=r"NormalizeStandardScore 'norm': the input holds 1 value\(s\)"):
        model(x)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"NormalizeStandardScore named norm"):
        tf.function(model)(x)


def test_a_refused_value_is_shown_once_though_the_leaf_reads_it_once_per_decomposition():
    x = np.zeros((3, 4), "int32")
    x[0, 1] = 5
    with pytest.raises(ValueError, match=r"neither valid nor the missing marker, e\.g\. \[5\]\."):
        rat_spn()(x)  # two decompositions


def test_queries_name_fractions_and_infinities_as_refused_values_not_as_categories():
    # 1.9 once read as "category 2", and inf raised Python's OverflowError while the message was being written.
    model = rat_spn()
    good = np.random.default_rng(9).integers(0, 2, size=(8, 4)).astype("int32")
    refused = r"IndicatorLeaf '\w+': the input holds \d+ value\(s\) that are neither valid nor the missing marker"
    for bad_value in (1.9, 0.5, np.inf, -np.inf):
        bad = good.astype("float32")
        bad[0, 1] = bad_value
        for query in (model.log_likelihood, model.complete):
            with pytest.raises(ValueError, match=refused):
                query(bad)
    too_large = good.astype("float32")
    too_large[0, 1] = 2.0
    with pytest.raises(ValueError, match="input holds category 2 but IndicatorLeaf"):
        model.log_likelihood(too_large)


def test_the_invalid_batch_policy_is_saved_with_the_model(tmp_path, trained_rat_spn):
    good = np.random.default_rng(10).integers(0, 2, size=(16, 4)).astype("int32")
    # The trained "raise" model is the shared one (saving does not change it); the "skip" one is compiled here and
    # saved untrained (the policy is part of its compile config; a fit would only trace and compile another step),
    # its optimizer built as fit builds it (its variables are saved and loaded back).
    skipping = rat_spn()
    skipping.compile(optimizer="adam", invalid_batches="skip")
    skipping.optimizer.build(skipping.trainable_variables)
    for policy, model in (("raise", trained_rat_spn("auto")), ("skip", skipping)):
        path = str(tmp_path / f"{policy}.keras")
        model.save(path)
        loaded = keras.models.load_model(path)
        assert loaded.invalid_batches == policy
    bad = good.astype("float32")
    bad[3, 2] = np.inf
    before = snapshot(loaded)
    with pytest.warns(UserWarning, match=r"1 training batch\(es\) held input values its leaves refuse"):
        loaded.fit(bad, epochs=1, verbose=0, batch_size=16)
    assert_same(before, snapshot(loaded))


@pytest.mark.parametrize("marker", [-1.0, np.nan])
def test_float_data_marks_missing_entries_of_an_integer_model(marker):
    # Keras casts the model input to int32; the query must hand it -1, not NaN (which would become an arbitrary int).
    keras.utils.set_random_seed(12)
    model = models.build_rat_spn(num_vars=3, depth=1, num_decomps=1, num_input_distributions=2, num_sums=2)
    expected = np_logsumexp(
        np.stack([model.log_likelihood(np.array([[0, 1, c]], "int32")) for c in range(2)], axis=-1), axis=-1
    )
    np.testing.assert_allclose(model.log_likelihood(np.array([[0, 1, marker]], "float32")), expected, rtol=1e-5)
    np.testing.assert_array_equal(model.complete(np.array([[0, 1, marker]], "float32"))[:, :2], [[0, 1]])


def test_a_float64_model_is_queried_in_float64():
    # Data around 1e4 with a spread of 1e-2: float32 keeps 3 significant digits of the spread.
    x = np.random.default_rng(0).normal(1e4, 1e-2, (5, 1))
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((1,), dtype="float64"),
            layers.FlatToRegions(num_decomps=1, dtype="float64"),
            layers.NormalLeaf(
                num_components=1,
                location_initializer=keras.initializers.Constant(1e4),
                scale_initializer=keras.initializers.Constant(1e-2),
                dtype="float64",
            ),
            layers.RootSum(return_weighted_child_logits=False, dtype="float64"),
        ]
    )
    expected = -0.5 * ((x[:, 0] - 1e4) / 1e-2) ** 2 - np.log(1e-2 * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(model.log_likelihood(x), expected, rtol=0, atol=1e-9)
    missing = np.array([[np.nan]])
    np.testing.assert_allclose(model.complete(missing), [[1e4]], rtol=0, atol=1e-9)


def test_eager_call_of_an_integer_model_checks_float_data_instead_of_truncating_it():
    keras.utils.set_random_seed(13)
    model = models.build_rat_spn(num_vars=3, depth=1, num_decomps=1, num_input_distributions=2, num_sums=2)
    expected = model(np.array([[0, 1, -1]], "int32")).numpy()
    for marker in (np.nan, -1.0):
        np.testing.assert_allclose(model(np.array([[0, 1, marker]], "float32")).numpy(), expected, rtol=1e-6)
    # Keras alone would read 0.9 as category 0 and 1.5 as 1.
    for refused in (0.9, 1.5, np.inf, -2.0):
        with pytest.raises(ValueError, match=r"IndicatorLeaf .*neither valid nor the missing marker"):
            model(np.array([[0, 1, refused]], "float32"))
    assert np.isfinite(model(np.array([[0, 1, 1]], "float32")).numpy()).all()
    # Inside predict's compiled step too (NaN used to reach the leaf as an arbitrary integer).
    batch = np.array([[0, 1, np.nan], [1, 0, -1.0]], "float32")
    expected_batch = model(np.array([[0, 1, -1], [1, 0, -1]], "int32")).numpy()
    np.testing.assert_allclose(model.predict(batch, verbose=0), expected_batch, rtol=1e-5)
    np.testing.assert_allclose(tf.function(model)(tf.constant(batch)).numpy(), expected_batch, rtol=1e-5)


def test_invalid_batches_skip_warns_once_with_the_number_of_skipped_batches(skipping_spn):
    # One warning per step would carry the same text ("1 training batch(es)") every time, and Python's default
    # warning filter shows only the first: the user would read 1 where 3 batches were skipped.
    import warnings

    rng = np.random.default_rng(13)
    model = skipping_spn("jit")  # XLA, as the default jit_compile="auto" of the SPN models
    batches = [batch(rng) for _ in range(4)]
    for refused in batches[:3]:
        refused[1, 0] = np.inf
    before = model.optimizer.iterations.numpy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(np.concatenate(batches), epochs=1, batch_size=16, verbose=0, shuffle=False)
    messages = [str(w.message) for w in caught if "training batch(es)" in str(w.message)]
    assert len(messages) == 1, messages
    assert "3 training batch(es) held input values its leaves refuse" in messages[0]
    assert model.optimizer.iterations.numpy() == before + 1


# One check refuses every NumPy dtype kind but b, i, u, f (input_shapes.refuse_non_numeric): strings stay in the core;
# complex values are refused by name in the core by test_a_dynamic_spn_refuses_data_without_numbers_by_name.
@pytest.mark.parametrize(
    "bad", ["strings", pytest.param("complex", marks=pytest.mark.slow), pytest.param("objects", marks=pytest.mark.slow)]
)
def test_data_without_numbers_is_refused_by_name_and_changes_nothing(bad):
    # Keras raised its own "Invalid dtype: str32" (naming no model), or a TypeError from inside the step for complex
    # values; the queries already refused such data by name.
    model = models.build_rat_spn(4, depth=1, num_decomps=1, num_input_distributions=2, num_sums=2)
    model.compile()
    good = np.array([[0, 1, 0, 1], [1, 1, 0, 0]], dtype="int32")
    before = model.predict(good, verbose=0)
    weights = [w.copy() for w in model.get_weights()]
    data = {
        "strings": np.array([["0", "1", "0", "1"]]),
        "complex": np.zeros((2, 4), np.complex64),
        "objects": np.array([[0, 1, 0, 1]], dtype=object),
    }[bad]
    message = rf"SequentialSumProductNetwork '{model.name}': x must hold numbers"
    for call in (
        lambda: model.fit(data, epochs=1, verbose=0),
        lambda: model.evaluate(data, verbose=0),
        lambda: model.predict(data, verbose=0),
        lambda: model.predict_on_batch(data),
        lambda: model.train_on_batch(data),
    ):
        with pytest.raises(ValueError, match=message):
            call()
    for old, new in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(model.predict(good, verbose=0), before)
    model.fit(good, epochs=1, verbose=0)  # still trains


def test_labels_without_numbers_are_refused_by_name_and_change_nothing():
    # Class names given as labels: Keras raised its own "Invalid dtype: str32", naming neither the model nor y.
    model = models.build_rat_spn(
        4, depth=1, num_decomps=1, num_input_distributions=2, num_sums=2, leaf=layers.NormalLeaf(num_components=2),
        num_classes=2,
    )  # fmt: skip
    # Graph mode: the labels are refused before any step is traced; a class-root model trains on labels under XLA
    # (the default) in test_labels_outside_the_class_roots_are_refused_before_the_step[negative_log_joint-auto-labels0].
    model.compile(loss=spnk_losses.NegativeLogJoint(), jit_compile=False)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    good = np.arange(8) % 2
    before = model.predict(x, verbose=0)
    weights = [w.copy() for w in model.get_weights()]
    message = rf"SequentialSumProductNetwork '{model.name}': y must hold numbers .* got dtype str"
    labels = np.where(good == 1, "cat", "dog")
    for call in (
        lambda: model.fit(x, labels, epochs=1, verbose=0),
        lambda: model.fit(x, y=labels, epochs=1, verbose=0),
        lambda: model.evaluate(x, labels, verbose=0),
        lambda: model.train_on_batch(x, labels),
        lambda: model.test_on_batch(x, labels),
    ):
        with pytest.raises(ValueError, match=message):
            call()
    for old, new in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)
    model.fit(x, good, epochs=1, verbose=0)  # still trains


def test_a_dynamic_spn_refuses_data_without_numbers_by_name():
    template = keras.Sequential(
        [keras.Input((2,)), layers.FlatToRegions(num_decomps=1), layers.NormalLeaf(num_components=2),
         layers.DenseProduct(num_factors=2), layers.DenseSum(num_sums=2)]
    )  # fmt: skip
    model = models.DynamicSumProductNetwork(template, num_interface_sums=2)
    model.compile()
    with pytest.raises(ValueError, match=rf"DynamicSumProductNetwork '{model.name}': x must hold numbers"):
        model.predict(np.zeros((2, 3, 2), np.complex64), verbose=0)
    assert model.predict(np.zeros((2, 3, 2), "float32"), verbose=0).shape == (2, 1)
