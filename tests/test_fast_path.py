"""SPN models compile onto the fast path (XLA) by default, and the benchmark against 0.6.0 runs."""

import logging

import numpy as np
import pytest
import tensorflow as tf
from reference import run_script, subprocess_env
from tensorflow import keras

from libspn_keras import layers, metrics, models, optimizers
from libspn_keras.models.fast_path import fast_kernel_check, layers_within, resolve_jit_compile


def small_rat_spn(sum_op="em", **kwargs):
    return models.build_rat_spn(
        num_vars=8, depth=2, num_decomps=2, num_input_distributions=3, num_sums=3, sum_op=sum_op, **kwargs
    )


def tiny_rat_spn(sum_op="em", **kwargs):
    """For the trace counts, which do not depend on the size of the model: its default compile of a step or query
    costs about two thirds of small_rat_spn's (measured over log_likelihood and complete)."""
    return models.build_rat_spn(
        num_vars=4, depth=1, num_decomps=1, num_input_distributions=2, num_sums=2, sum_op=sum_op, **kwargs
    )


class NoXlaLayer(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_jit = False  # Keras's own flag for layers XLA cannot compile

    def call(self, x):
        return x


def test_default_compile_resolves_to_xla_on_every_spn_model():
    rat = small_rat_spn()
    rat.compile(optimizer=optimizers.OnlineExpectationMaximization(0.05))
    assert rat.jit_compile is True

    leaf = layers.NormalLeaf(num_components=2)
    inputs = keras.Input(shape=(4, 4, 1))
    x = layers.Conv2DProduct(depthwise=True, strides=[2, 2], dilations=[1, 1], kernel_size=[2, 2])(leaf(inputs))
    x = layers.Local2DSum(num_sums=2)(x)
    x = layers.Conv2DProduct(depthwise=True, strides=[2, 2], dilations=[1, 1], kernel_size=[2, 2])(x)
    functional = models.SumProductNetwork(inputs, layers.RootSum()(x))
    functional.compile(optimizer="adam")
    assert functional.jit_compile is True


def test_explicit_settings_are_kept():
    model = small_rat_spn()
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(0.05), jit_compile=False)
    assert model.jit_compile is False
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(0.05), run_eagerly=True)
    assert model.jit_compile is False and model.run_eagerly


def test_a_layer_without_xla_support_keeps_graph_mode():
    inputs = keras.Input(shape=(4, 4, 1))
    x = NoXlaLayer()(inputs)
    x = layers.NormalLeaf(num_components=2)(x)
    x = layers.Conv2DProduct(depthwise=True, strides=[4, 4], dilations=[1, 1], kernel_size=[4, 4])(x)
    model = models.SumProductNetwork(inputs, layers.RootSum()(x))
    assert any(isinstance(layer, NoXlaLayer) for layer in layers_within(model))
    model.compile(optimizer="adam")
    assert model.jit_compile is False


def test_resolve_jit_compile_rules():
    model = small_rat_spn()
    assert resolve_jit_compile(model) is True
    assert resolve_jit_compile(model, jit_compile=False) is False
    assert resolve_jit_compile(model, jit_compile=True) is True
    assert resolve_jit_compile(model, run_eagerly=True) is False
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        assert resolve_jit_compile(model) == "auto"  # Keras decides (it keeps XLA off under tf.distribute)


def test_default_compiled_fit_and_predict_match_graph_mode():
    x = np.random.default_rng(0).integers(0, 2, size=(64, 8)).astype("int32")
    results = []
    for jit_compile in ("auto", False):
        keras.utils.set_random_seed(3)
        model = small_rat_spn()
        model.compile(
            optimizer=optimizers.OnlineExpectationMaximization(0.2),
            metrics=[metrics.LogLikelihood()],
            jit_compile=jit_compile,
        )
        history = model.fit(x, batch_size=16, epochs=2, shuffle=False, verbose=0)
        results.append((history.history["loss"], model.predict(x, batch_size=32, verbose=0)))
    (xla_loss, xla_out), (graph_loss, graph_out) = results
    np.testing.assert_allclose(xla_loss, graph_loss, rtol=1e-4)
    np.testing.assert_allclose(xla_out, graph_out, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_bench_vs_original_quick_runs_without_the_original():
    out = run_script("benchmarks/bench_vs_original.py", "--quick", "--original-python", "/nonexistent/python")
    assert "original: skipped" in out
    assert "| a | ours |" in out
    for query in ("predict", "evaluate", "log_likelihood", "sample", "complete"):
        assert query in out
    assert '"jit_compile": "True"' in out


@pytest.mark.slow
def test_bench_vs_original_quick_with_the_original():
    import subprocess
    from pathlib import Path

    python = Path(__file__).resolve().parents[2] / "venv060" / "bin" / "python"
    probe = "import os; os.environ['TF_USE_LEGACY_KERAS'] = '1'; import libspn_keras"
    if not python.exists() or subprocess.run([str(python), "-I", "-c", probe], capture_output=True).returncode:
        pytest.skip("no virtual environment with libspn-keras 0.6.0 beside the checkout")
    out = run_script("benchmarks/bench_vs_original.py", "--quick", "--original-python", python)
    assert "| a | original |" in out and "training: 0.6.0 s/epoch / ours" in out


XLA_CONSOLE_SCRIPT = """
import logging

import numpy as np
from libspn_keras import models, optimizers

x = (np.random.default_rng(0).random((64, 4)) < 0.5).astype("int32")
model = models.build_rat_spn(num_vars=4, depth=1, num_decomps=1, num_input_distributions=2, num_sums=2, sum_op="em")
model.compile(optimizer=optimizers.OnlineExpectationMaximization(0.05))
assert model.jit_compile is True
model.fit(x, epochs=1, batch_size=16, verbose=0)
model.evaluate(x, verbose=0)
model.predict(x, verbose=0)
model.log_likelihood(x[:4])
print("done")
"""


def test_default_xla_steps_log_no_dropped_assertions(tmp_path):
    """XLA drops graph assertions with an ``Ignoring Assert operator`` warning each; the models build none for it
    (their batch check refuses bad input there: tests/test_input_contract.py), so a default fit/evaluate/predict/
    query prints no such line."""
    import subprocess
    import sys

    script = tmp_path / "xla_console.py"
    script.write_text(XLA_CONSOLE_SCRIPT)
    env = subprocess_env(TF_CPP_MIN_LOG_LEVEL="0")
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "done" in result.stdout
    assert "assert_op.cc" not in result.stderr and "Ignoring Assert" not in result.stderr, result.stderr[-4000:]


def test_the_weight_check_is_one_function_traced_once_per_model_and_setting():
    # A new function per step and query would be traced anew each time, and TensorFlow warns of retracing.
    model = tiny_rat_spn()
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(0.05))
    x = np.random.default_rng(0).integers(0, 2, size=(64, 4)).astype("int32")
    missing = x.copy()
    missing[:, :3] = -1
    model.fit(x, epochs=1, batch_size=32, verbose=0)
    model.predict(x, verbose=0)
    model.evaluate(x, verbose=0)
    model.log_likelihood(x)
    model.complete(missing)
    accumulators, check = fast_kernel_check(model)
    assert check.experimental_get_tracing_count() == 1
    assert bool(check())
    assert [variable.path for variable in accumulators] == [
        layer.accumulators.path for layer in layers_within(model) if getattr(layer, "accumulators", None) is not None
    ]
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(0.05), jit_compile=False)
    assert fast_kernel_check(model)[1] is not check


class RetracingWarnings(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        if "retracing" in record.getMessage():
            self.messages.append(record.getMessage())


def test_queries_of_many_models_in_a_loop_give_no_retracing_warning():
    # TensorFlow counts traces per code object; each model traces its own queries once, as in a hyperparameter
    # search, which must not read as "tracing is expensive ... creating @tf.function repeatedly in a loop".
    handler = RetracingWarnings()
    tf.get_logger().addHandler(handler)
    x = np.random.default_rng(0).integers(0, 2, size=(32, 4)).astype("int32")
    try:
        for seed in range(5):  # TensorFlow warns at the 5th trace of one code object (within 10 calls)
            keras.utils.set_random_seed(seed)
            model = tiny_rat_spn()
            # Graph mode: the queries are the same per-model functions (traced_functions.model_function, which
            # passes jit_compile through), traced as under XLA, which compiled them 10 times here. Default-compiled
            # queries run in test_the_weight_check_is_one_function_traced_once_per_model_and_setting.
            model.compile(jit_compile=False)
            model.log_likelihood(x)
            model.complete(np.where(x > 0, x, -1))
    finally:
        tf.get_logger().removeHandler(handler)
    assert handler.messages == []


def counting_traces(model):
    """Counts how often ``model``'s train and test steps are traced (called in Python)."""
    traces = {"train_step": 0, "test_step": 0}
    for name in traces:
        step = getattr(model, name)

        def counted(data, step=step, name=name):
            traces[name] += 1
            return step(data)

        setattr(model, name, counted)
    return traces


# adam (an unsupervised Adam fit): Adam is built in the first train trace of evaluate_first.
# classifier_with_metrics (the same classifier fitted first): evaluate_first builds its compiled metrics in a first
# trace (of the test step) and Adam in the first train trace; both run with the slow extras.
@pytest.mark.parametrize(
    "case",
    [
        pytest.param("adam", marks=pytest.mark.slow),
        "em_accumulating_batches",
        pytest.param("classifier_with_metrics", marks=pytest.mark.slow),
        "evaluate_first",
    ],
)
def test_the_first_fit_or_evaluate_traces_the_step_once(case):
    # Keras's TensorFlow trainer builds the optimizer and the compiled metrics inside the first trace of a step, and
    # a tf.function whose first trace creates variables is traced again: every first fit traced its step twice.
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(64, 4)).astype("int32")
    labels = rng.integers(0, 2, size=64)
    if case == "em_accumulating_batches":
        model = tiny_rat_spn()
        model.compile(optimizer=optimizers.OnlineExpectationMaximization(0.3, accumulate_batches=2))
    elif case == "adam":
        model = tiny_rat_spn(sum_op="grad")
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
    else:
        model = tiny_rat_spn(sum_op="grad", num_classes=2)
        model.compile(
            optimizer=keras.optimizers.Adam(1e-2),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    traces = counting_traces(model)
    y = labels if "classifier" in case or case == "evaluate_first" else None
    if case == "evaluate_first":
        logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
        # The metrics were built on one row of zeros and reset: the logged accuracy is that of the whole data. The
        # model's outputs are read in an eager call, the same as predict's, without a compile of a predict function.
        predicted = np.argmax(model(x, training=False).numpy(), axis=-1)
        np.testing.assert_allclose(logs["accuracy"], np.mean(predicted == labels), rtol=1e-6)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, validation_data=(x, y) if y is not None else (x,))
    assert traces == {"train_step": 1, "test_step": 1}
    # Built as Keras's apply builds it: under the optimizer's name scope.
    name = model.optimizer.name
    assert all(variable.path.startswith(name + "/") for variable in model.optimizer.variables)
    assert int(model.optimizer.iterations.numpy()) == 8
