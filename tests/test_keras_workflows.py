"""Ordinary Keras workflows on SPN models: callbacks on the library's metrics, sample weights without labels,
and Keras's mixed-precision policies.

References are brute force over the joint assignments of a tiny binary RAT-SPN (``reference.all_binary``) or the
same model run under the float32 policy, never the library's output alone.
"""

import numpy as np
import pytest
from reference import all_binary
from tensorflow import keras

from libspn_keras import layers, metrics, models, optimizers


def rat_spn(**kwargs):
    keras.utils.set_random_seed(0)
    return models.build_rat_spn(4, depth=1, num_decomps=2, num_input_distributions=2, num_sums=2, **kwargs)


def binary_data(size=64, seed=0):
    return (np.random.default_rng(seed).random((size, 4)) < 0.3).astype("int32")


@pytest.mark.parametrize(
    "callback",
    # The three take mode='auto' from keras.callbacks.MonitorCallback alike: one of them in the core run.
    [
        pytest.param(lambda path: keras.callbacks.EarlyStopping(monitor="val_llh", patience=1), marks=pytest.mark.slow),
        pytest.param(
            lambda path: keras.callbacks.ModelCheckpoint(
                str(path / "best.keras"), monitor="val_llh", save_best_only=True
            ),
            marks=pytest.mark.slow,
        ),
        lambda path: keras.callbacks.ReduceLROnPlateau(monitor="val_llh", patience=1),
    ],
    ids=["early_stopping", "model_checkpoint", "reduce_lr"],
)
def test_callbacks_maximize_the_log_likelihood_metric_in_auto_mode(callback, tmp_path):
    # Keras infers min/max from the metric in mode='auto': a log-likelihood is better when higher.
    assert metrics.LogLikelihood()._direction == "up" and metrics.LogJoint()._direction == "up"
    model = rat_spn()
    # Graph mode: the callbacks read the logged metric, whatever compiled the steps (two XLA compiles fewer; the
    # LogLikelihood metric is logged under XLA in
    # test_em.py::test_tiny_model_soft_em_log_likelihood_never_decreases_against_enumeration).
    model.compile(optimizer=keras.optimizers.Adam(0.1), metrics=[metrics.LogLikelihood()], jit_compile=False)
    x = binary_data()
    made = callback(tmp_path)
    model.fit(x, epochs=2, batch_size=32, verbose=0, validation_data=(x,), callbacks=[made])
    assert made.monitor_op(1.0, 0.0)


def test_sample_weights_without_labels_weigh_the_samples():
    # Keras drops sample_weight when y is None; unsupervised SPN models keep it.
    x = binary_data()
    model = rat_spn()
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    start = model.get_weights()
    model.fit(x, sample_weight=np.zeros(len(x), "float32"), batch_size=len(x), verbose=0)
    for after, before in zip(model.get_weights(), start):
        np.testing.assert_array_equal(after, before)
    # Weight 2 on every sample is the unweighted step at twice the learning rate.
    model.fit(x, sample_weight=np.full(len(x), 2.0, "float32"), batch_size=len(x), verbose=0)
    doubled = model.get_weights()
    # evaluate weighs them too: only the first sample counts (Keras divides the weighted sum by the batch size).
    weights = np.zeros(len(x), "float32")
    weights[0] = 1.0
    loss = model.evaluate(x, sample_weight=weights, batch_size=len(x), verbose=0)
    # The reference: an eager call of the model on the first sample (no query of its own to compile under XLA).
    np.testing.assert_allclose(loss, -model(x[:1], training=False).numpy()[0, 0] / len(x), rtol=1e-5)
    # The unweighted reference step: a stateless SGD at twice the rate, in graph mode (one XLA compile fewer; it
    # matches an XLA step to rounding). The weighted steps under test above ran under the default compile.
    model.set_weights(start)
    model.compile(optimizer=keras.optimizers.SGD(0.2), jit_compile=False)
    model.fit(x, batch_size=len(x), verbose=0)
    for a, b in zip(doubled, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.fixture(params=["mixed_float16", "mixed_bfloat16"])
def mixed_policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    try:
        yield request.param
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_spn_layers_compute_in_float32_under_mixed_precision(mixed_policy):
    model = rat_spn()
    assert all(layer.compute_dtype == "float32" for layer in model.layers)
    assert layers.DenseSum(num_sums=2, dtype="float64").compute_dtype == "float64"  # a given dtype is kept
    x = all_binary(4).astype("int32")
    log_p = model.log_likelihood(x)
    keras.mixed_precision.set_global_policy("float32")
    reference = rat_spn()
    reference.set_weights(model.get_weights())
    # The 16 joint assignments sum to 1, and the values equal the float32 model's (half precision would round
    # them to 0.01-0.1 nats).
    np.testing.assert_allclose(np.exp(log_p).sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(log_p, reference.log_likelihood(x), rtol=1e-6)


# mixed_float16: the float32 compute and the queries of the other mixed-precision tests take both policies.
@pytest.mark.parametrize(
    "mixed_policy", [pytest.param("mixed_float16", marks=pytest.mark.slow), "mixed_bfloat16"], indirect=True
)
def test_queries_and_training_under_mixed_precision(mixed_policy):
    x = binary_data()
    model = rat_spn(sum_op="em", logspace_accumulators=False)
    # The model computes in float32 too, so Keras does not wrap the optimizer to scale the loss (EM counts).
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(0.1))
    assert model.compute_dtype == "float32"
    assert isinstance(model.optimizer, optimizers.OnlineExpectationMaximization)
    before = model.log_likelihood(x).mean()
    model.fit(x, epochs=3, batch_size=32, verbose=0)
    assert model.log_likelihood(x).mean() > before
    with_gaps = x[:4].copy()
    with_gaps[:, 0] = -1
    completed = model.complete(with_gaps)
    assert set(np.unique(completed[:, 0])) <= {0, 1} and np.array_equal(completed[:, 1:], x[:4, 1:])
    assert model.mpe(with_gaps).shape == (4, 4)
    assert set(np.unique(model.sample(8, seed=1))) <= {0, 1}


def test_continuous_queries_under_mixed_precision(mixed_policy):
    # Completion weighs the leaf components' float32 modes by the signal.
    keras.utils.set_random_seed(3)
    model = models.SequentialSumProductNetwork(
        [
            keras.Input((4,)),
            layers.FlatToRegions(num_decomps=1),
            layers.NormalLeaf(num_components=2),
            layers.DenseProduct(num_factors=4),
            layers.RootSum(),
        ]
    )
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    x[:, 0] = np.nan
    for result in (model.complete(x), model.mpe(x), model.sample(2, seed=0)):
        assert result.dtype == np.float32 and np.all(np.isfinite(result))


def test_every_library_layer_keeps_full_precision():
    # A layer deriving from keras.layers.Layer directly would compute in half precision under a mixed policy.
    from libspn_keras import regularizers, structure
    from libspn_keras.layers.full_precision import FullPrecisionLayer

    found = [
        value
        for module in (layers, regularizers, structure)
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, keras.layers.Layer)
    ]
    assert len(found) > 20
    assert [cls.__name__ for cls in found if not issubclass(cls, FullPrecisionLayer)] == []


def sum_layers(model):
    return [layer for layer in model.layers if hasattr(layer, "accumulators")]


def test_a_sum_op_assigned_after_fit_is_used_by_the_next_fit():
    # The first fit traces hard EM into the step Keras keeps; the second must run soft EM, as a recompiled model does.
    x = binary_data(96, seed=3)
    model = rat_spn(sum_op="hard_em")
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=0.3))
    model.fit(x, batch_size=32, shuffle=False, verbose=0)
    trained = model.get_weights()

    def second_epoch(sum_op, recompile=False):
        model.set_weights(trained)
        for layer in sum_layers(model):
            layer.sum_op = sum_op  # a registered name, as the layers' constructor takes it
        if recompile:
            # The references train in graph mode (one XLA compile fewer each): the step under test, the swapped one,
            # runs under the default compile, and the references' weights match XLA-trained ones to rounding.
            model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=0.3), jit_compile=False)
        model.fit(x, batch_size=32, shuffle=False, verbose=0)
        return model.get_weights()

    swapped = second_epoch("em")
    # Queries swap the ops for their own and put them back: no new trace of the steps.
    train_function = model.train_function
    model.sample(2, seed=1)
    model.fit(x[:32], batch_size=32, verbose=0)
    assert model.train_function is train_function
    recompiled = second_epoch("em", recompile=True)
    hard = second_epoch("hard_em")
    for ours, expected in zip(swapped, recompiled):
        np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
    assert max(np.max(np.abs(a - b)) for a, b in zip(swapped, hard)) > 1e-3


def test_the_sum_op_setter_takes_what_the_constructor_takes():
    model = rat_spn(sum_op="grad", logspace_accumulators=False)
    layer = sum_layers(model)[0]
    layer.sum_op = "em"
    assert type(layer.sum_op).__name__ == "SumOpEMBackprop"
    with pytest.raises(ValueError, match=f"{layer.name}.*unknown sum op 'soft'"):
        layer.sum_op = "soft"


# One check refuses every op that needs linear accumulators, the queries after are the same: em, hard_em and sample
# are slow (unweighted_hard_em stays in the core).
@pytest.mark.parametrize(
    "sum_op",
    [
        pytest.param("em", marks=pytest.mark.slow),
        pytest.param("hard_em", marks=pytest.mark.slow),
        "unweighted_hard_em",
        pytest.param("sample", marks=pytest.mark.slow),
    ],
)
def test_the_sum_op_setter_refuses_an_em_op_for_log_space_accumulators_as_the_constructor_does(sum_op):
    with pytest.raises(ValueError, match="needs linear-space accumulators"):
        layers.DenseSum(num_sums=2, sum_op=sum_op, logspace_accumulators=True)
    model = rat_spn(sum_op="grad")
    layer = sum_layers(model)[0]
    assert layer.logspace_accumulators
    before = layer.sum_op
    with pytest.raises(ValueError, match=f"DenseSum '{layer.name}': sum op .* needs linear-space accumulators"):
        layer.sum_op = sum_op
    assert layer.sum_op is before
    # The queries still route through log-space sums with their own ops (max-product, sampling).
    x = binary_data(8)
    completed = model.complete(np.where(np.arange(4) < 2, x, -1), method="mpe")
    assert completed.shape == x.shape and np.all((completed == 0) | (completed == 1))
    assert model.sample(3, seed=0).shape == (3, 4)


def test_a_dict_holding_the_one_named_input_is_taken_like_the_array():
    x = binary_data(48, seed=4)
    model = rat_spn(sum_op="em")
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=0.1))
    name = model.inputs[0].name
    # One batch of all rows: each predict compiles for one batch shape.
    np.testing.assert_allclose(
        model.predict({name: x}, batch_size=len(x), verbose=0),
        model.predict(x, batch_size=len(x), verbose=0),
        rtol=1e-6,
    )
    np.testing.assert_allclose(model({name: x}).numpy(), model(x).numpy(), rtol=1e-6)
    model.fit({name: x}, batch_size=16, verbose=0)
    assert int(model.optimizer.iterations) == 3
    with pytest.raises(ValueError, match=f"takes one input; got a dict with keys \\['pixels'\\].*'{name}': array"):
        model.predict({"pixels": x}, verbose=0)
