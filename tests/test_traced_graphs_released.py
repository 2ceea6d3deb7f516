"""Traces that take no gradient leave nothing behind once their model is gone.

TensorFlow registers every ``tf.custom_gradient`` call made while a function
is traced in a process-wide registry and never removes it, which keeps the
traced graph alive. The steps of ``predict`` and ``evaluate`` and
``log_likelihood`` trace the kernels without their custom gradients
(``libspn_keras.math.gradients``), so a model that was only evaluated and
queried leaves no graph behind, as in a hyperparameter search that builds
many models in one process.
"""

import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf
from reference import subprocess_env

from libspn_keras.math.gradients import custom_gradient, gradients_taken, no_gradients

# Run in a fresh process: counting the graphs of a worker that already ran hundreds of tests takes a minute.
SCRIPT = textwrap.dedent(
    """
    import gc
    import weakref

    import numpy as np
    from tensorflow import keras
    import tensorflow as tf

    from libspn_keras import models


    def graphs_alive():
        return sum(isinstance(item, tf.Graph) for item in gc.get_objects())


    def evaluate_and_drop(seed, x, **compile_kwargs):
        keras.utils.set_random_seed(seed)
        model = models.build_rat_spn(num_vars=8, depth=2, num_decomps=2, num_input_distributions=2, num_sums=2)
        model.compile(**compile_kwargs)
        model.predict(x, verbose=0)
        model.evaluate(x, verbose=0)
        model.log_likelihood(x)
        return weakref.ref(model)


    x = np.random.default_rng(0).integers(0, 2, size=(64, 8)).astype("int32")
    # Whatever TensorFlow and Keras set up once per process, in graph mode: a third of an XLA warm-up's time, and
    # enough (after it the default-compiled model below leaves 0 graphs on this tree and 6 before the fix).
    evaluate_and_drop(0, x, jit_compile=False)
    gc.collect()
    before = graphs_alive()
    references = [evaluate_and_drop(1, x)]  # before the fix, one model left 6 graphs
    gc.collect()
    print("models alive:", sum(reference() is not None for reference in references))
    print("graphs left:", graphs_alive() - before)
    """
)


def test_a_model_only_evaluated_and_queried_leaves_no_graph_behind():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=subprocess_env(TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "models alive: 0\ngraphs left: 0\n" in result.stdout, result.stdout


@custom_gradient
def doubled_with_gradient_ten(x):
    return 2.0 * x, lambda dy: 10.0 * dy


def test_custom_gradients_are_kept_wherever_a_gradient_is_taken():
    x = tf.constant([1.0, 3.0])

    @tf.function
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = doubled_with_gradient_ten(x)
        return y, tape.gradient(y, x)

    @tf.function
    def forward(x):
        return doubled_with_gradient_ten(x)

    @tf.function
    def query_inside_inference(x):  # as a query that back-propagates inside a predict step
        with no_gradients(), gradients_taken(), tf.GradientTape() as tape:
            tape.watch(x)
            y = doubled_with_gradient_ten(x)
        return tape.gradient(y, x)

    values, gradients = gradient(x)
    np.testing.assert_array_equal(values.numpy(), [2.0, 6.0])
    np.testing.assert_array_equal(gradients.numpy(), [10.0, 10.0])
    with no_gradients():
        np.testing.assert_array_equal(forward(x).numpy(), [2.0, 6.0])
        assert "IdentityN" not in {op.type for op in forward.get_concrete_function(x).graph.get_operations()}
        # Eagerly a custom gradient registers nothing: it is kept.
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = doubled_with_gradient_ten(x)
        np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [10.0, 10.0])
    np.testing.assert_array_equal(query_inside_inference(x).numpy(), [10.0, 10.0])
