"""Training through Keras: generative, discriminative and joint losses, XLA, and the sum-op plumbing."""

import warnings

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

import libspn_keras
from libspn_keras import layers, losses, metrics
from libspn_keras.sum_ops import (
    SumOpEMBackprop,
    SumOpGradBackprop,
    SumOpHardEMBackprop,
    SumOpUnweightedHardEMBackprop,
)

# --------------------------------------------------------------------- helpers


def _logsumexp(a, axis):
    a = np.asarray(a, dtype=np.float64)
    peak = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(peak, axis=axis) + np.log(np.sum(np.exp(a - peak), axis=axis))


def _log_softmax(a, axis):
    a = np.asarray(a, dtype=np.float64)
    return a - np.expand_dims(_logsumexp(a, axis), axis)


def _spatial_body(num_components=4, num_sums=4):
    """(4, 4, 1) -> (None, 1, 1, num_sums): leaf, 2x2 products, local sums, a final product, regions."""
    return [
        keras.Input((4, 4, 1)),
        layers.NormalLeaf(num_components=num_components),
        layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, depthwise=True),
        layers.Local2DSum(num_sums=num_sums),
        layers.Conv2DProduct(strides=1, dilations=1, kernel_size=2, padding="final", depthwise=True),
        layers.SpatialToRegions(),
    ]


def generative_spn(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(_spatial_body() + [layers.RootSum(return_weighted_child_logits=False)])


def class_spn(seed=0, num_classes=2):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        _spatial_body() + [layers.DenseSum(num_sums=num_classes), layers.RootSum(return_weighted_child_logits=True)]
    )


def numpy_generative_forward(model, x):
    """Independent NumPy forward pass of :func:`generative_spn`: ``log p(x)`` ``[batch]``."""
    leaf, _, local_sum, _, _, root = model.layers
    location = leaf.location.numpy()[..., 0]  # [4, 4, K]
    scale = leaf.scale.numpy()[..., 0]
    x = np.asarray(x, dtype=np.float64)
    log_leaf = -0.5 * ((x - location) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi)  # [B, 4, 4, K]
    # Non-overlapping 2x2 products.
    products = log_leaf.reshape(-1, 2, 2, 2, 2, log_leaf.shape[-1]).sum(axis=(2, 4))  # [B, 2, 2, K]
    log_w = _log_softmax(local_sum.accumulators.numpy(), axis=-2)  # [2, 2, K, S]
    sums = _logsumexp(products[..., :, None] + log_w[None], axis=-2)  # [B, 2, 2, S]
    top = sums.sum(axis=(1, 2))  # the final product joins the 2x2 cells: [B, S]
    root_log_w = _log_softmax(root.accumulators.numpy(), axis=0)[:, 0]  # [S]
    return _logsumexp(top + root_log_w, axis=-1)


def two_cluster_images(num, seed):
    rng = np.random.default_rng(seed)
    centers = rng.choice([-2.0, 2.0], size=(num, 1, 1, 1))
    return (0.5 * rng.normal(size=(num, 4, 4, 1)) + centers).astype("float32")


def two_class_images(num, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=num)
    means = np.where(labels == 0, -1.0, 1.0)[:, None, None, None]
    return (rng.normal(size=(num, 4, 4, 1)) + means).astype("float32"), labels.astype("int32")


# ------------------------------------------------------- (a) generative, by gradient


def test_generative_model_matches_numpy_reference():
    model = generative_spn(seed=1)
    x = two_cluster_images(16, seed=1)
    np.testing.assert_allclose(model(x).numpy()[:, 0], numpy_generative_forward(model, x), rtol=1e-5, atol=1e-4)


def test_generative_training_raises_log_likelihood():
    model = generative_spn(seed=0)
    x = two_cluster_images(256, seed=0)
    dummy = np.zeros(len(x), dtype="float32")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.05),
        loss=losses.NegativeLogLikelihood(),
        metrics=[metrics.LogLikelihood()],
    )
    loss_before, ll_before = model.evaluate(x, dummy, verbose=0, batch_size=64)
    held_out_before = numpy_generative_forward(model, two_cluster_images(128, seed=3)).mean()
    reference_before = numpy_generative_forward(model, x).mean()
    np.testing.assert_allclose(ll_before, reference_before, rtol=1e-5)
    np.testing.assert_allclose(loss_before, -reference_before, rtol=1e-5)

    history = model.fit(x, dummy, epochs=8, batch_size=64, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][-1] < history.history["loss"][0]

    loss_after, ll_after = model.evaluate(x, dummy, verbose=0, batch_size=64)
    reference_after = numpy_generative_forward(model, x).mean()
    np.testing.assert_allclose(ll_after, reference_after, rtol=1e-5)
    np.testing.assert_allclose(loss_after, -ll_after, rtol=1e-6)
    # 16 variables: an average gain of more than 0.5 nat per variable.
    assert ll_after > ll_before + 8.0, (ll_before, ll_after)
    # Training keeps the network normalized: the weights are softmaxes of the accumulators.
    for layer in (model.layers[2], model.layers[5]):
        weights = tf.nn.softmax(layer.accumulators, axis=-2).numpy()
        np.testing.assert_allclose(weights.sum(axis=-2), 1.0, rtol=1e-6)
    # It generalizes: held-out data of the same distribution gains as much (NumPy forward passes, no compile).
    held_out = two_cluster_images(128, seed=3)
    assert numpy_generative_forward(model, held_out).mean() > held_out_before + 8.0


# The core checks held-out data in test_generative_training_raises_log_likelihood, on the model it trains.
@pytest.mark.slow
def test_generative_training_generalizes_to_held_out_data():
    model = generative_spn(seed=2)
    train, test = two_cluster_images(256, seed=2), two_cluster_images(128, seed=3)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05), loss=losses.NegativeLogLikelihood())
    before = numpy_generative_forward(model, test).mean()
    model.fit(train, np.zeros(len(train)), epochs=8, batch_size=64, verbose=0)
    after = numpy_generative_forward(model, test).mean()
    assert after > before + 8.0, (before, after)


# --------------------------------------------------------- (b) discriminative


def test_discriminative_training_separates_classes():
    model = class_spn(seed=0)
    assert model.output_shape == (None, 2)
    x, y = two_class_images(256, seed=0)
    x_test, y_test = two_class_images(256, seed=1)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(x, y, epochs=8, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    logits = model.predict(x_test, verbose=0)
    accuracy = np.mean(np.argmax(logits, axis=1) == y_test)
    # Bayes accuracy of this task is about 1 - Phi(-4) ~ 1; chance is 0.5.
    assert accuracy > 0.9, accuracy
    # Keras' accuracy agrees with the NumPy one.
    np.testing.assert_allclose(model.evaluate(x_test, y_test, verbose=0)[1], accuracy, atol=1e-6)


# --------------------------------------------------------------------- (c) joint


def test_joint_training_raises_log_joint():
    model = class_spn(seed=4)
    x, y = two_class_images(256, seed=4)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.05),
        loss=losses.NegativeLogJoint(),
        metrics=[metrics.LogJoint(), metrics.LogLikelihood()],
    )
    loss_before, joint_before, ll_before = model.evaluate(x, y, verbose=0)
    logits = model.predict(x, verbose=0).astype(np.float64)
    np.testing.assert_allclose(joint_before, logits[np.arange(len(y)), y].mean(), rtol=1e-5)
    np.testing.assert_allclose(loss_before, -joint_before, rtol=1e-5)
    np.testing.assert_allclose(ll_before, _logsumexp(logits, axis=1).mean(), rtol=1e-5)

    history = model.fit(x, y, epochs=8, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss_after, joint_after, ll_after = model.evaluate(x, y, verbose=0)
    logits = model.predict(x, verbose=0).astype(np.float64)
    np.testing.assert_allclose(joint_after, logits[np.arange(len(y)), y].mean(), rtol=1e-5)
    assert joint_after > joint_before + 5.0, (joint_before, joint_after)
    # log p(x, y) <= log p(x) for every sample.
    assert np.all(logits[np.arange(len(y)), y] <= _logsumexp(logits, axis=1) + 1e-6)
    assert ll_after >= joint_after
    # Generatively trained class roots classify as well.
    assert np.mean(np.argmax(logits, axis=1) == y) > 0.9


# ------------------------------------------------------- (d) losses and metrics


@pytest.fixture
def root_outputs():
    rng = np.random.default_rng(0)
    y_pred = (rng.normal(size=(7, 3)) * 5 - 20).astype("float32")
    y_true = rng.integers(0, 3, size=7)
    return y_true, y_pred


def test_negative_log_likelihood_from_class_logits(root_outputs):
    y_true, y_pred = root_outputs
    expected = -_logsumexp(y_pred, axis=1).mean()
    got = losses.NegativeLogLikelihood()(y_true, y_pred)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)
    # Labels are ignored, and may be None (as 0.6.0's Keras 2 loss took them).
    np.testing.assert_allclose(losses.NegativeLogLikelihood()(np.zeros(7), y_pred).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(losses.NegativeLogLikelihood()(None, y_pred).numpy(), expected, rtol=1e-5)


def test_negative_log_likelihood_from_single_root(root_outputs):
    _, y_pred = root_outputs
    single = y_pred[:, :1]
    got = losses.NegativeLogLikelihood()(np.zeros((7, 1)), single)
    np.testing.assert_allclose(got.numpy(), -single.mean(), rtol=1e-6)


def test_negative_log_likelihood_handles_large_magnitudes():
    y_pred = np.array([[-1000.0, -1000.0], [-5000.0, -np.inf]], dtype="float32")
    expected = -np.mean([-1000.0 + np.log(2.0), -5000.0])
    np.testing.assert_allclose(losses.NegativeLogLikelihood()(np.zeros(2), y_pred).numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("label_shape", [(7,), (7, 1)])
def test_negative_log_joint(root_outputs, label_shape):
    y_true, y_pred = root_outputs
    expected = -y_pred[np.arange(7), y_true].astype(np.float64).mean()
    got = losses.NegativeLogJoint()(y_true.reshape(label_shape), y_pred)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)
    # Float labels as Keras passes them are accepted too.
    got = losses.NegativeLogJoint()(y_true.reshape(label_shape).astype("float32"), y_pred)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)


def test_losses_with_sample_weights(root_outputs):
    y_true, y_pred = root_outputs
    weights = np.linspace(0.0, 1.0, 7).astype("float32")
    per_sample = -y_pred[np.arange(7), y_true].astype(np.float64)
    # Keras' default reduction divides by the batch size.
    expected = np.sum(per_sample * weights) / 7
    got = losses.NegativeLogJoint()(y_true, y_pred, sample_weight=weights)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)
    got = losses.NegativeLogLikelihood(reduction="sum")(y_true, y_pred)
    np.testing.assert_allclose(got.numpy(), -_logsumexp(y_pred, axis=1).sum(), rtol=1e-5)


def test_metrics_accumulate_over_batches(root_outputs):
    y_true, y_pred = root_outputs
    ll, joint = metrics.LogLikelihood(), metrics.LogJoint()
    for sl in (slice(0, 3), slice(3, 7)):
        ll.update_state(y_true[sl], y_pred[sl])
        joint.update_state(y_true[sl], y_pred[sl])
    np.testing.assert_allclose(ll.result().numpy(), _logsumexp(y_pred, axis=1).mean(), rtol=1e-5)
    np.testing.assert_allclose(joint.result().numpy(), y_pred[np.arange(7), y_true].mean(), rtol=1e-5)
    ll.reset_state()
    ll.update_state(y_true[:2], y_pred[:2], sample_weight=np.array([1.0, 3.0]))
    weighted = (_logsumexp(y_pred[:1], axis=1)[0] + 3 * _logsumexp(y_pred[1:2], axis=1)[0]) / 4
    np.testing.assert_allclose(ll.result().numpy(), weighted, rtol=1e-5)


def test_losses_and_metrics_config_round_trip():
    for obj in (losses.NegativeLogLikelihood(), losses.NegativeLogJoint(), metrics.LogLikelihood(), metrics.LogJoint()):
        restored = keras.utils.deserialize_keras_object(keras.utils.serialize_keras_object(obj))
        assert type(restored) is type(obj)
        assert restored.get_config() == obj.get_config()


# ----------------------------------------------------------------- (e) XLA


def test_fit_with_jit_compile():
    model = generative_spn(seed=5)
    x = two_cluster_images(128, seed=5)
    dummy = np.zeros(len(x), dtype="float32")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.05),
        loss=losses.NegativeLogLikelihood(),
        metrics=[metrics.LogLikelihood()],
        jit_compile=True,
    )
    _, ll_before = model.evaluate(x, dummy, verbose=0)
    history = model.fit(x, dummy, epochs=5, batch_size=64, verbose=0)
    losses_seen = history.history["loss"]
    assert np.all(np.isfinite(losses_seen))
    assert all(b < a for a, b in zip(losses_seen, losses_seen[1:])), losses_seen
    _, ll_after = model.evaluate(x, dummy, verbose=0)
    np.testing.assert_allclose(ll_after, numpy_generative_forward(model, x).mean(), rtol=1e-4)
    assert ll_after > ll_before + 5.0


def test_tf_function_training_step_matches_eager_and_learns():
    model = generative_spn(seed=6)
    x = tf.constant(two_cluster_images(128, seed=6))
    nll = losses.NegativeLogLikelihood()

    def loss_and_grads(batch):
        with tf.GradientTape() as tape:
            loss = nll(tf.zeros([tf.shape(batch)[0]]), model(batch, training=True))
        return loss, tape.gradient(loss, model.trainable_variables)

    eager_loss, eager_grads = loss_and_grads(x)
    for jit in (False, True):
        graph_loss, graph_grads = tf.function(loss_and_grads, jit_compile=jit)(x)
        np.testing.assert_allclose(graph_loss.numpy(), eager_loss.numpy(), rtol=1e-5)
        for g_graph, g_eager in zip(graph_grads, eager_grads):
            np.testing.assert_allclose(g_graph.numpy(), g_eager.numpy(), rtol=1e-3, atol=1e-5)

    optimizer = keras.optimizers.Adam(learning_rate=0.05)

    @tf.function
    def train_step(batch):
        loss, grads = loss_and_grads(batch)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    step_losses = [float(train_step(x)) for _ in range(15)]
    assert step_losses[-1] < step_losses[0] - 5.0, step_losses
    np.testing.assert_allclose(-numpy_generative_forward(model, x.numpy()).mean(), nll(0.0, model(x)), rtol=1e-4)


def test_jit_forward_matches_eager():
    model = class_spn(seed=7)
    x = two_class_images(32, seed=7)[0]
    eager = model(x).numpy()
    np.testing.assert_allclose(tf.function(model, jit_compile=True)(x).numpy(), eager, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(tf.function(model)(x).numpy(), eager, rtol=1e-5, atol=1e-4)


# ------------------------------------------------------------- (f) sum-op plumbing


@pytest.fixture
def restore_defaults():
    sum_op = libspn_keras.get_default_sum_op()
    yield
    libspn_keras.set_default_sum_op(sum_op)
    libspn_keras.set_default_accumulator_initializer(None)


@pytest.mark.parametrize("cls", [layers.DenseSum, layers.Local2DSum, layers.Conv2DSum])
@pytest.mark.parametrize(
    "kwargs, expected, logspace",
    [
        (dict(), SumOpGradBackprop, True),
        (dict(sum_op="grad"), SumOpGradBackprop, True),
        (dict(sum_op="em"), SumOpEMBackprop, False),
        (dict(sum_op="hard_em"), SumOpHardEMBackprop, False),
        (dict(sum_op="unweighted_hard_em"), SumOpUnweightedHardEMBackprop, False),
        (dict(sum_op=SumOpEMBackprop()), SumOpEMBackprop, False),
        (dict(backprop_mode=libspn_keras.BackpropMode.GRADIENT), SumOpGradBackprop, True),
        (dict(backprop_mode=libspn_keras.BackpropMode.EM), SumOpEMBackprop, False),
        (dict(backprop_mode=libspn_keras.BackpropMode.HARD_EM), SumOpHardEMBackprop, False),
        (dict(backprop_mode=libspn_keras.BackpropMode.HARD_EM_UNWEIGHTED), SumOpUnweightedHardEMBackprop, False),
        (dict(sum_op="grad", logspace_accumulators=False), SumOpGradBackprop, False),
        (dict(sum_op="em", logspace_accumulators=False), SumOpEMBackprop, False),
    ],
)
def test_sum_op_resolution(cls, kwargs, expected, logspace, restore_defaults):
    layer = cls(2, **kwargs)
    assert type(layer.sum_op) is expected
    assert layer.logspace_accumulators is logspace
    restored = cls.from_config(layer.get_config())
    assert type(restored.sum_op) is expected
    assert restored.logspace_accumulators is logspace


def test_root_sum_resolves_backprop_mode():
    root = layers.RootSum(backprop_mode=libspn_keras.BackpropMode.EM)
    assert isinstance(root.sum_op, SumOpEMBackprop)
    assert root.logspace_accumulators is False


def test_set_default_sum_op(restore_defaults):
    assert isinstance(libspn_keras.get_default_sum_op(), SumOpGradBackprop)
    libspn_keras.set_default_sum_op("em")
    assert isinstance(libspn_keras.get_default_sum_op(), SumOpEMBackprop)
    layer = layers.DenseSum(2)
    assert isinstance(layer.sum_op, SumOpEMBackprop) and layer.logspace_accumulators is False
    # An explicit sum op still wins.
    assert isinstance(layers.DenseSum(2, sum_op="grad").sum_op, SumOpGradBackprop)
    libspn_keras.set_default_sum_op(libspn_keras.BackpropMode.HARD_EM)
    assert isinstance(layers.Local2DSum(2).sum_op, SumOpHardEMBackprop)
    with pytest.raises(ValueError, match="nonsense"):
        libspn_keras.set_default_sum_op("nonsense")
    # A rejected value leaves the default unchanged.
    assert isinstance(libspn_keras.get_default_sum_op(), SumOpHardEMBackprop)


def test_default_sum_op_is_restored_by_fixture():
    # Runs after test_set_default_sum_op in file order.
    assert isinstance(libspn_keras.get_default_sum_op(), SumOpGradBackprop)
    assert isinstance(layers.DenseSum(2).sum_op, SumOpGradBackprop)


@pytest.mark.parametrize("logspace", [True, False])
def test_set_default_accumulator_initializer(logspace, restore_defaults):
    libspn_keras.set_default_accumulator_initializer(keras.initializers.Constant(3.0))
    # Initializers give linear values; log-space accumulators hold their log (as in 0.6.0).
    layer = layers.DenseSum(2, logspace_accumulators=logspace)
    layer(keras.Input((1, 1, 3)))
    expected = np.log(3.0) if logspace else 3.0
    np.testing.assert_allclose(layer.accumulators.numpy(), np.full((1, 1, 3, 2), expected), rtol=1e-6)
    root = layers.RootSum(logspace_accumulators=logspace)
    root(keras.Input((3,)))
    np.testing.assert_allclose(root.accumulators.numpy(), np.full((3, 1), expected), rtol=1e-6)
    # An explicit initializer wins over the default.
    explicit = layers.Conv2DSum(2, accumulator_initializer=keras.initializers.Constant(0.25), sum_op="em")
    explicit(keras.Input((2, 2, 3)))
    np.testing.assert_array_equal(explicit.accumulators.numpy(), np.full((3, 2), 0.25))
    # Layers built before the default changes keep theirs; a reset restores the library default.
    libspn_keras.set_default_accumulator_initializer(None)
    fresh = layers.DenseSum(2)
    fresh(keras.Input((1, 1, 3)))
    values = fresh.accumulators.numpy()
    assert np.all((values >= 0.5) & (values <= 1.5)) and values.std() > 0


@pytest.mark.parametrize("bad", ["gradients", "EMM", "", 3])
def test_unknown_sum_op_raises(bad):
    with pytest.raises(ValueError, match="unknown sum op"):
        layers.DenseSum(2, sum_op=bad)
    with pytest.raises(ValueError, match="unknown sum op"):
        libspn_keras.sum_ops.get(bad)


@pytest.mark.parametrize("cls", [layers.DenseSum, layers.Local2DSum, layers.Conv2DSum])
def test_logspace_accumulators_with_em_raises(cls):
    with pytest.raises(ValueError, match="linear-space"):
        cls(2, sum_op="em", logspace_accumulators=True)
    with pytest.raises(ValueError, match="linear-space"):
        cls(2, backprop_mode=libspn_keras.BackpropMode.EM, logspace_accumulators=True)
    with pytest.raises(ValueError, match="linear-space"):
        layers.RootSum(sum_op="em", logspace_accumulators=True)


def test_em_and_grad_agree_in_the_forward_pass():
    rng = np.random.default_rng(0)
    accumulators = rng.uniform(0.1, 2.0, size=(2, 3, 4, 5)).astype("float32")
    x = rng.normal(size=(6, 2, 3, 4)).astype("float32") * 3
    outputs = []
    for sum_op in ("grad", "em", "hard_em"):
        layer = layers.DenseSum(5, sum_op=sum_op, logspace_accumulators=False)
        layer(keras.Input((2, 3, 4)))
        layer.accumulators.assign(accumulators)
        outputs.append(layer(x).numpy())
    weights = accumulators / accumulators.sum(axis=-2, keepdims=True)
    expected = _logsumexp(x[..., :, None] + np.log(weights)[None], axis=-2)
    np.testing.assert_allclose(outputs[0], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(outputs[1], expected, rtol=1e-5, atol=1e-5)
    # Hard EM differs only backward; its forward value is an exact or max-product sum,
    # never above the exact sum.
    assert np.all(outputs[2] <= expected + 1e-4)


def test_em_backward_gives_expected_counts():
    # One sum of 3 children: the EM signal to accumulator c is sum_x w_c S_c(x) / S(x).
    rng = np.random.default_rng(1)
    accumulators = np.array([[0.5], [1.0], [2.5]], dtype="float32")
    x = rng.normal(size=(5, 3)).astype("float32")
    root = layers.RootSum(return_weighted_child_logits=False, sum_op="em")
    root(keras.Input((3,)))
    root.accumulators.assign(accumulators)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(root(x))
    counts = tape.gradient(total, root.accumulators).numpy()[:, 0]
    log_w = np.log(accumulators[:, 0] / accumulators.sum())
    joint = x + log_w
    posterior = np.exp(joint - _logsumexp(joint, axis=1)[:, None])
    np.testing.assert_allclose(counts, posterior.sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(counts.sum(), 5.0, rtol=1e-5)


# ----------------------------------------------------------- compile as tf.keras 2 accepted it


def spn_model(sum_op):
    keras.utils.set_random_seed(0)
    body = _spatial_body()
    body[3] = layers.Local2DSum(num_sums=4, sum_op=sum_op)
    return libspn_keras.models.SequentialSumProductNetwork(
        body + [layers.RootSum(return_weighted_child_logits=False, sum_op=sum_op)]
    )


def test_compile_takes_one_metric_object():
    x = two_cluster_images(32, seed=3)
    model = spn_model("em")
    model.compile(optimizer=libspn_keras.optimizers.OnlineExpectationMaximization(0.5), metrics=metrics.LogLikelihood())
    history = model.fit(x, batch_size=16, epochs=1, verbose=0).history
    assert history["llh"][0] == pytest.approx(-history["loss"][0], rel=1e-5)
    model.compile(weighted_metrics=metrics.LogLikelihood(name="weighted_llh"))
    assert "weighted_llh" in model.evaluate(x, verbose=0, return_dict=True)


def test_labels_given_to_a_model_compiled_without_a_loss_are_named_in_a_warning():
    # The default loss is NegativeLogLikelihood, which sums the classes out: labels reach only the metrics.
    x = two_cluster_images(16, seed=5)
    y = np.arange(16) % 2
    model = spn_model("grad")
    # The warning comes from fit before Keras's step (any compile mode): graph mode spares three XLA compiles. Under
    # the default compile: test_user_warnings.py::test_warnings_of_fit_and_of_the_optimizer_name_the_user_line.
    model.compile(optimizer="adam", jit_compile=False)
    with pytest.warns(UserWarning, match="compiled without a loss.*NegativeLogJoint"):
        model.fit(x, y, verbose=0)
    model.compile(optimizer="adam", loss=losses.NegativeLogLikelihood(), jit_compile=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit(x, y, verbose=0)
        model.compile(optimizer="adam", jit_compile=False)
        model.fit(x, verbose=0)


def test_an_evidence_mask_given_to_fit_is_named_with_how_to_mark_missing_values():
    # fit reads its second argument as labels and has no mask input: a boolean y shaped like x is an evidence mask
    # given in the wrong place, and [x, mask] is refused; both say to mark the missing values in x itself.
    x = two_cluster_images(16, seed=6)
    mask = np.random.default_rng(6).random(x.shape) < 0.5
    model = spn_model("grad")
    # Graph mode: the warning comes before Keras's step and the refusal when the step traces the call, in any
    # compile mode (the default compile traces the same call: test_input_contract.py checks refusals under XLA).
    model.compile(optimizer="adam", loss=losses.NegativeLogLikelihood(), jit_compile=False)
    with pytest.warns(UserWarning, match="shaped like x, as an evidence mask is.*NaN in floats, -1 in categories"):
        model.fit(x, mask, verbose=0)
    with pytest.raises(ValueError, match=r"infer_no_evidence=True.*mark them in x itself"):
        model.fit([x, mask], verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit(x, verbose=0)  # the model still trains, without a warning


def test_compile_without_an_optimizer_evaluates_and_refuses_to_train():
    x = two_cluster_images(16, seed=4)
    # Graph mode: the refusals come before any step is traced. Under the default compile (XLA), compile()'s default
    # optimizer trains in test_input_contract.py's test_data_without_numbers_is_refused_by_name_and_changes_nothing,
    # and EM counts are refused to a gradient optimizer in test_em.py's test_em_statistics_refuse_gradient_optimizers.
    # Evaluation only: no optimizer. The model (the same as generative_spn) gives the NumPy forward pass.
    model = spn_model("grad")
    model.compile(optimizer=None, metrics=[metrics.LogLikelihood()], jit_compile=False)
    logs = model.evaluate(x, verbose=0, return_dict=True)
    assert logs["llh"] == pytest.approx(float(np.mean(numpy_generative_forward(model, x))), rel=1e-5)
    with pytest.raises(ValueError, match="without an optimizer"):
        model.fit(x, verbose=0)
    # compile()'s default optimizer cannot apply EM counts: accepted for evaluation, refused when training starts.
    model = spn_model("em")
    model.compile(metrics=[metrics.LogLikelihood()], jit_compile=False)
    before = model.get_weights()
    assert model.evaluate(x, verbose=0, return_dict=True)["llh"] < 0
    with pytest.raises(ValueError, match="receives EM counts"):
        model.fit(x, verbose=0)
    for got, old in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, old)
    # A gradient model trains with compile()'s default optimizer, as in tf.keras 2.
    model = spn_model("grad")
    model.compile(jit_compile=False)
    before = model.get_weights()
    model.fit(x, verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize(
    "loss", [keras.losses.SparseCategoricalCrossentropy(from_logits=True), "sparse_categorical_crossentropy"]
)
def test_em_on_a_cross_entropy_loss_warns_that_its_gradients_are_no_counts(loss):
    # d(-log p(y | x)) is signed and totals 0 at the root: OnlineExpectationMaximization would apply it as counts.
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, size=32).astype("int32")
    x = (rng.normal(size=(32, 2)) + np.where(y, 1.5, -1.5)[:, None]).astype("float32")
    leaf = layers.NormalLeaf(num_components=2, use_accumulators=True)
    sizes = {"depth": 1, "num_decomps": 1, "num_input_distributions": 2, "num_sums": 2}
    model = libspn_keras.models.build_rat_spn(num_vars=2, leaf=leaf, num_classes=2, sum_op="em", **sizes)
    em = libspn_keras.optimizers.OnlineExpectationMaximization
    model.compile(optimizer=em(0.3), loss=loss, jit_compile=False)
    with pytest.warns(UserWarning, match="cross-entropy loss.*not EM counts.*NegativeLogJoint"):
        model.fit(x, y, batch_size=16, verbose=0)
    # The joint log-likelihood of the labelled data is what EM maximizes: no warning.
    model.compile(optimizer=em(0.3), loss=losses.NegativeLogJoint(), jit_compile=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit(x, y, batch_size=16, verbose=0)
