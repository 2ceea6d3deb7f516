"""MirroredStrategy over 2 logical CPUs trains exactly like a single device.

Splitting a CPU into logical devices must happen before TensorFlow
initializes its devices, so the training runs in a fresh Python process (one
per test, for a group of cases; one for both core tests): it builds every model once on the default
device and once inside ``MirroredStrategy.scope()`` from the same initial
weights, fits both on the same batches (the global batch of the strategy equals the
single-device batch; ``shuffle=False``) and saves the weights. With 63
samples in batches of 16, the last batch of every epoch splits 8/7 over the
two replicas: the models weigh each replica's gradient by its share of the
batch, so SGD sees the full-batch gradient and ``OnlineExpectationMaximization``
the full-batch EM counts, and the leaf counts keep their float64 precision
through the sum over replicas.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from reference import subprocess_env

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import os
    import sys

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    assert len(tf.config.list_logical_devices("CPU")) == 2

    from tensorflow import keras

    from libspn_keras import layers, losses, models, optimizers

    OUT = sys.argv[1]
    SELECTED = sys.argv[2].split(",")
    BATCH = 16
    EPOCHS = 2
    NUM_SAMPLES = 63  # the last batch of each epoch (15 samples) splits 8/7 over the two replicas


    def rat_spn(sum_op, num_classes=None):
        return models.build_rat_spn(
            num_vars=8, depth=2, num_decomps=2, num_input_distributions=3, num_sums=3,
            num_classes=num_classes, sum_op=sum_op,
        )


    def spatial_spn(sum_op):
        em = sum_op == "em"
        leaf = layers.NormalLeaf(num_components=3, use_accumulators=em, scale_trainable=True)

        def product(**kwargs):
            return layers.Conv2DProduct(kernel_size=2, depthwise=True, **kwargs)

        return models.SequentialSumProductNetwork(
            [
                keras.Input((4, 4, 1)),
                leaf,
                product(strides=2, dilations=1, padding="valid"),  # 4 -> 2
                layers.Local2DSum(num_sums=3, sum_op=sum_op),
                product(strides=1, dilations=1, padding="full"),  # 2 -> 3
                layers.Local2DSum(num_sums=3, sum_op=sum_op),
                product(strides=1, dilations=2, padding="final"),  # 3 -> 2, every cell sees the whole image
                layers.SpatialToRegions(),
                layers.DenseSum(num_sums=2, sum_op=sum_op),
                layers.RootSum(return_weighted_child_logits=False, sum_op=sum_op),
            ]
        )


    rng = np.random.default_rng(0)
    x_binary = (rng.random((NUM_SAMPLES, 8)) < np.where(np.arange(8) % 2, 0.25, 0.7)).astype("int32")
    y_binary = (x_binary[:, :4].sum(axis=1) >= 2).astype("int32")
    x_image = (rng.normal(size=(NUM_SAMPLES, 4, 4, 1)) + np.linspace(-1.0, 1.0, 16).reshape(4, 4, 1)).astype("float32")

    CASES = {
        "rat_em": (lambda: rat_spn("em"), lambda: optimizers.OnlineExpectationMaximization(0.5), None, x_binary, None),
        # A summed loss scales every replica's counts alike; EM normalizes the counts, so nothing changes.
        "rat_em_sum_loss": (
            lambda: rat_spn("em"),
            lambda: optimizers.OnlineExpectationMaximization(0.5),
            lambda: losses.NegativeLogLikelihood(reduction="sum"),
            x_binary,
            None,
        ),
        "rat_em_accumulate": (
            lambda: rat_spn("em"),
            lambda: optimizers.OnlineExpectationMaximization(0.5, accumulate_batches=2),
            None,
            x_binary,
            None,
        ),
        "rat_grad": (lambda: rat_spn("grad"), lambda: keras.optimizers.SGD(0.5), None, x_binary, None),
        "rat_classifier_grad": (
            lambda: rat_spn("grad", num_classes=2),
            lambda: keras.optimizers.SGD(0.5),
            lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            x_binary,
            y_binary,
        ),
        # Data 10 standard deviations from the initial locations: the leaf moments about those locations
        # (float64) must keep the variances' precision through the cross-replica sum beside float32 counts.
        "spatial_em": (
            lambda: spatial_spn("em"), lambda: optimizers.OnlineExpectationMaximization(0.5), None, x_image + 10.0, None
        ),
        "spatial_grad": (lambda: spatial_spn("grad"), lambda: keras.optimizers.SGD(0.05), None, x_image, None),
    }

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2

    for name in SELECTED:
        build, optimizer, loss, x, y = CASES[name]
        keras.utils.set_random_seed(0)
        single = build()
        initial = single.get_weights()
        # The reference in graph mode, as Keras runs the mirrored model on CPUs (jit_compile="auto" under a
        # strategy); EM training under XLA: test_em.py::test_fit_under_jit_compile_matches_reference_step.
        single.compile(
            optimizer=optimizer(),
            loss=loss() if loss is not None and "sum_loss" not in name else None,
            jit_compile=False,
        )
        single_loss = single.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0).history["loss"]
        with strategy.scope():
            mirrored = build()
            mirrored.set_weights(initial)
            mirrored.compile(optimizer=optimizer(), loss=loss() if loss is not None else None)
        mirrored_loss = mirrored.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0).history["loss"]
        np.savez(
            os.path.join(OUT, name + ".npz"),
            single_loss=np.array(single_loss),
            mirrored_loss=np.array(mirrored_loss),
            **{f"initial_{i}": w for i, w in enumerate(initial)},
            **{f"single_{i}": w for i, w in enumerate(single.get_weights())},
            **{f"mirrored_{i}": w for i, w in enumerate(mirrored.get_weights())},
        )
        print("done", name, flush=True)
    """
)

RAT_SPN_CASES = ["rat_em", "rat_em_sum_loss", "rat_em_accumulate", "rat_grad", "rat_classifier_grad"]


def run_cases(out, cases, replica_draws=None):
    """Runs ``cases`` of ``SCRIPT`` in a fresh process, saving their results in ``out``; then, given a path
    ``replica_draws``, the replicas' hard EM draws of ``REPLICA_DRAWS_SCRIPT`` too, in the same process."""
    env = subprocess_env(TF_CPP_MIN_LOG_LEVEL="2")
    script = SCRIPT if replica_draws is None else SCRIPT + REPLICA_DRAWS_SCRIPT
    extra = [] if replica_draws is None else [str(replica_draws)]
    result = subprocess.run(
        [sys.executable, "-c", script, str(out), ",".join(cases), *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"the MirroredStrategy script failed:\n{(result.stdout + result.stderr)[-6000:]}"


def check_case(out, name):
    """Weights (all of them, trained or not) and, for a mean loss, the logged loss agree with one device."""
    path = out / f"{name}.npz"
    assert path.exists(), f"the script saved no results for {name}"
    data = np.load(path)
    count = sum(1 for key in data.files if key.startswith("initial_"))
    assert count > 0
    changed = 0
    for index in range(count):
        single, mirrored, initial = data[f"single_{index}"], data[f"mirrored_{index}"], data[f"initial_{index}"]
        np.testing.assert_allclose(mirrored, single, rtol=1e-5, atol=1e-6, err_msg=f"{name}: weight {index}")
        changed += not np.allclose(single, initial)
    assert changed >= 3, f"{name}: training changed only {changed} of {count} weights"
    if name == "spatial_em":
        # Weight 0 holds the leaf statistics n * (1, mean, variance): compare the variances themselves.
        single, mirrored = data["single_0"], data["mirrored_0"]
        assert single.dtype == np.float64
        variances = [s[..., 2] / s[..., 0] for s in (single, mirrored)]
        np.testing.assert_allclose(variances[1], variances[0], rtol=1e-5, err_msg=f"{name}: leaf variances")
    if name != "rat_em_sum_loss":
        # The logged loss is the mean over the global batch whether or not it is split across replicas.
        np.testing.assert_allclose(data["mirrored_loss"], data["single_loss"], rtol=1e-5, err_msg=f"{name}: loss")


def check_cases(out, cases):
    failures = []
    for name in cases:
        try:
            check_case(out, name)
        except AssertionError as error:
            failures.append(f"{name}: {error}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow  # ~70 s; the spatial EM model below checks the same mirrored training in CI
def test_mirrored_rat_spn_and_spatial_sgd_train_like_one_device(tmp_path):
    """Discrete RAT-SPNs: EM (mean loss, summed loss, accumulated batches), SGD, a supervised classifier; and
    the spatial SPN below trained by SGD."""
    cases = RAT_SPN_CASES + ["spatial_grad"]
    run_cases(tmp_path, cases)
    check_cases(tmp_path, cases)


@pytest.fixture(scope="module")
def core_run(tmp_path_factory):
    """The results of the two core tests below, from one process: a start of TensorFlow (6-8 s) fewer."""
    out = tmp_path_factory.mktemp("mirrored")
    run_cases(out, ["spatial_em"], replica_draws=out / "replica_draws.npz")
    return out


def test_mirrored_spatial_spn_trains_like_one_device(core_run):
    """A spatial SPN (NormalLeaf, Conv2DProduct, Local2DSum) trained by EM: each replica's share of the counts,
    and the float64 leaf statistics summed over replicas (its SGD run is with the slow extras)."""
    check_cases(core_run, ["spatial_em"])


# Runs after SCRIPT in the same process (run_cases), which has set up the two logical CPUs; saves in sys.argv[3].
REPLICA_DRAWS_SCRIPT = textwrap.dedent(
    """
    from libspn_keras import layers
    from libspn_keras.sum_ops import SumOpUnweightedHardEMBackprop

    def replica_counts():
        keras.utils.set_random_seed(0)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            layer = layers.DenseSum(
                num_sums=1,
                sum_op=SumOpUnweightedHardEMBackprop(sample_prob=1.0),
                accumulator_initializer=keras.initializers.Constant(1.0),
            )
            layer.build((None, 1, 1, 4))
        # Equal children: every choice is a draw, and both replicas see the same half batch.
        batches = strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensor_slices(np.zeros((128, 1, 1, 4), np.float32)).batch(128)
        )

        @tf.function
        def step(x):
            def counts(x):
                with tf.GradientTape() as tape:
                    total = tf.reduce_sum(layer(x))
                return tape.gradient(total, layer.accumulators)

            return strategy.run(counts, args=(x,))

        return [v.numpy().ravel() for v in strategy.experimental_local_results(step(next(iter(batches))))]

    first, again = replica_counts(), replica_counts()
    np.savez(sys.argv[3], first=np.stack(first), again=np.stack(again))
    """
)


def test_replicas_draw_their_own_hard_em_choices_and_seeded_runs_repeat(core_run):
    # The replicas share each sum layer's seed generator; its seed is folded with the replica's index, so the
    # replicas' draws are independent (they were equal), while a seeded run still repeats.
    out = core_run / "replica_draws.npz"
    assert out.exists(), "the MirroredStrategy script saved no replica draws"
    draws = np.load(out)
    first, again = draws["first"], draws["again"]
    assert first.shape == (2, 4) and np.all(first.sum(axis=1) == 64)
    assert not np.array_equal(first[0], first[1])
    np.testing.assert_array_equal(first, again)
