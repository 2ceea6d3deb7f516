"""Argument values libspn-keras 0.6.0 accepted with a well-defined meaning are accepted here with that meaning.

Each case was run under 0.6.0 first (SPEC 7b); the expected values are 0.6.0's. Values that were
meaningless there too (NaN, negative weights, steps beyond the EM estimate, ...) still raise a clear
``ValueError``.
"""

import warnings

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

import libspn_keras as spnk
from libspn_keras import constraints, initializers, layers, losses, models, optimizers

# ------------------------------------------------------- 0-d arrays and scalar tensors are the numbers they hold


@pytest.mark.parametrize("wrap", [np.array, tf.constant], ids=["ndarray", "tensor"])
def test_scalar_arrays_and_tensors_are_numbers(wrap):
    # 0.6.0 handed these arguments to TensorFlow as they were, so np.array(4) / tf.constant(4) worked like 4.
    sums = layers.DenseSum(num_sums=wrap(4))
    assert sums.num_sums == 4 and type(sums.num_sums) is int
    assert layers.DenseSum(num_sums=wrap(4))(tf.zeros([2, 1, 1, 3])).shape == (2, 1, 1, 4)
    assert layers.LogDropout(rate=wrap(0.5)).rate == 0.5
    assert layers.NormalizeStandardScore(wrap(1e-3)).normalization_epsilon == pytest.approx(1e-3)
    assert constraints.GreaterEqualEpsilon(wrap(1.0)).get_config() == {"epsilon": 1.0}
    assert spnk.SumOpHardEMBackprop(sample_prob=wrap(0.25)).sample_prob == 0.25
    assert spnk.SumOpUnweightedHardEMBackprop(sample_prob=wrap(0.25)).sample_prob == 0.25
    optimizer = optimizers.OnlineExpectationMaximization(learning_rate=wrap(0.5), accumulate_batches=wrap(2))
    assert float(optimizer.learning_rate) == 0.5 and optimizer.accumulate_batches == 2


def test_online_em_takes_its_arguments_in_060s_positions():
    # 0.6.0's signature is (learning_rate, accumulate_batches, name); the new arguments are keyword-only.
    optimizer = optimizers.OnlineExpectationMaximization(0.05, 2, "my_em")
    assert float(optimizer.learning_rate) == pytest.approx(0.05)
    assert (optimizer.accumulate_batches, optimizer.name) == (2, "my_em")
    assert optimizer.pseudocount == 0.0
    with pytest.raises(TypeError):
        optimizers.OnlineExpectationMaximization(0.05, 2, "my_em", 0.01)
    assert optimizers.OnlineExpectationMaximization(pseudocount=0.01).pseudocount == 0.01


def test_variables_and_arrays_of_several_values_are_still_refused():
    # A variable read once would be frozen, where 0.6.0 read it at every step; say so instead.
    with pytest.raises(ValueError, match="sample_prob must be None or a number"):
        spnk.SumOpHardEMBackprop(sample_prob=tf.Variable(0.5))
    with pytest.raises(ValueError, match="num_sums must be an int >= 1"):
        layers.DenseSum(num_sums=tf.Variable(4))
    with pytest.raises(ValueError, match="num_sums must be an int >= 1"):
        layers.DenseSum(num_sums=np.array([4]))
    with pytest.raises(ValueError, match="rate must be a finite number"):
        layers.LogDropout(rate=np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="num_sums must be an int >= 1"):
        layers.DenseSum(num_sums=np.array(4.0))
    with pytest.raises(ValueError, match="rate must be a finite number"):
        layers.LogDropout(rate=np.array(True))


def test_zero_evidence_inference_takes_a_tensor_size():
    # 0.6.0's signature: zero_evidence_inference(size: tf.Tensor).
    model = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[4], dtype=tf.int32),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=2),
            layers.DenseProduct(num_factors=4),
            layers.RootSum(return_weighted_child_logits=False),
        ],
        infer_no_evidence=True,
    )
    assert model.zero_evidence_inference(tf.constant(3)).shape == (3, 4)
    assert model.zero_evidence_inference(np.array(2)).shape == (2, 4)


# ------------------------------------------------------------------------------------- constraints, initializers


def test_greater_equal_epsilon_normalized_takes_a_zero_floor():
    w = np.array([[0.2, 1.0], [0.6, -0.5], [0.0, 1.0]], dtype=np.float32)
    # 0.6.0: tf.maximum(w, epsilon / n) / sum, here with epsilon 0.
    expected = np.maximum(w, 0.0) / np.maximum(w, 0.0).sum(axis=0, keepdims=True)
    np.testing.assert_allclose(constraints.GreaterEqualEpsilonNormalized(0.0)(tf.constant(w)).numpy(), expected)
    assert constraints.GreaterEqualEpsilonNormalized(0).get_config() == {"epsilon": 0.0, "axis": -2}
    for bad in (-1.0, float("nan"), "1e-10"):
        with pytest.raises(ValueError, match="GreaterEqualEpsilonNormalized: epsilon must be a finite number in"):
            constraints.GreaterEqualEpsilonNormalized(bad)


def test_epsilon_inverse_fan_in_takes_zero_as_0_6_0_does():
    np.testing.assert_array_equal(initializers.EpsilonInverseFanIn(epsilon=0.0)((3, 2)).numpy(), np.zeros((3, 2)))
    x = tf.math.log(tf.constant([[[[0.2, 0.3, 0.5]]]]))
    # Linear accumulators: the layer's constraint floors the zeros to a flat start, 0.6.0's -log(3) here.
    layer = layers.DenseSum(
        num_sums=2, sum_op="em", accumulator_initializer=initializers.EpsilonInverseFanIn(epsilon=0.0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(layer(x).numpy().ravel(), [-1.0986123, -1.0986123], rtol=1e-6)
    # Log-space accumulators cannot hold log 0 (0.6.0 gave NaN): a clear error.
    with pytest.raises(ValueError, match="positive linear values"):
        layers.DenseSum(
            num_sums=2,
            logspace_accumulators=True,
            accumulator_initializer=initializers.EpsilonInverseFanIn(epsilon=0.0),
        )(x)
    for bad in (-1e-4, float("nan"), "1e-4"):
        with pytest.raises(ValueError, match="EpsilonInverseFanIn: epsilon must be a finite number in"):
            initializers.EpsilonInverseFanIn(epsilon=bad)


def test_log_normalized_axis_none_is_the_last_axis():
    # 0.6.0 typed axis Optional[int] and passed it to tf.nn.log_softmax, where None is the last axis.
    w = tf.constant([[0.5, 0.5], [0.5, 0.0]])
    np.testing.assert_allclose(
        constraints.LogNormalized(axis=None)(w).numpy(),
        [[-0.6931472, -0.6931472], [-0.474077, -0.974077]],
        rtol=1e-5,
    )
    constraint = constraints.LogNormalized.from_config(constraints.LogNormalized(axis=None).get_config())
    assert constraint.axis is None


def test_clip_takes_array_and_tensor_bounds():
    w = tf.constant([0.5, 0.5, 0.5])
    # 0.6.0: tf.clip_by_value(w, min, max), which broadcasts array bounds.
    clip = constraints.Clip(np.array([0.0, 1.0, 2.0]), np.array([3.0, 3.0, 3.0]))
    np.testing.assert_array_equal(clip(w).numpy(), [0.5, 1.0, 2.0])
    assert clip.get_config() == {"min": [0.0, 1.0, 2.0], "max": [3.0, 3.0, 3.0]}
    np.testing.assert_array_equal(constraints.Clip.from_config(clip.get_config())(w).numpy(), [0.5, 1.0, 2.0])
    rows = constraints.Clip([[0.0], [1.0]], 2.0)(tf.fill([2, 2], 0.5)).numpy()
    np.testing.assert_array_equal(rows, [[0.5, 0.5], [1.0, 1.0]])
    np.testing.assert_array_equal(constraints.Clip(np.array(1.0), 2.0)(w).numpy(), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(constraints.Clip(tf.constant(1.0), 2.0)(w).numpy(), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="Clip: min .* is greater than max"):
        constraints.Clip([0.0, 3.0], 2.0)
    with pytest.raises(ValueError, match="do not broadcast"):
        constraints.Clip([0.0, 1.0], [2.0, 2.0, 2.0])


def test_clip_refuses_array_bounds_that_would_change_the_shape_of_the_values():
    # tf.clip_by_value refuses bounds that broadcast the values to another shape; so does Clip.
    clip = constraints.Clip([0.2, 0.3, 0.4], [5.0, 6.0, 7.0])
    with pytest.raises(ValueError, match=r"Clip: min of shape \(3,\) does not fit .* of shape \(4, 1\)"):
        clip(tf.ones((4, 1)))
    with pytest.raises(ValueError, match=r"Clip: max of shape \(2,\) does not fit"):
        constraints.Clip(0.0, [1.0, 2.0])(tf.ones((3,)))
    # On a leaf's scales [cells, components, dims] it is refused when the model is built, naming the leaf.
    leaf = layers.LaplaceLeaf(num_components=3, scale_constraint=clip, name="scales")
    with pytest.raises(ValueError, match=r"LaplaceLeaf 'scales': the constraint of 'scale'.*Clip: min of shape"):
        models.SequentialSumProductNetwork([keras.Input((1,)), layers.FlatToRegions(num_decomps=1), leaf])
    # One bound per component, with a size of 1 for the dimension, fits.
    per_component = constraints.Clip([[0.2], [0.3], [0.4]], 5.0)
    leaf = layers.LaplaceLeaf(num_components=3, scale_initializer="zeros", scale_constraint=per_component)
    models.SequentialSumProductNetwork([keras.Input((1,)), layers.FlatToRegions(num_decomps=1), leaf])
    np.testing.assert_allclose(np.ravel(leaf.scale.numpy()), [0.2, 0.3, 0.4])
    for bad in ([0.0, float("nan")], ["0", "1"], [], tf.Variable(1.0)):
        with pytest.raises(ValueError, match="Clip: min must be a number, an array of numbers or None"):
            constraints.Clip(bad)


# ------------------------------------------------------------------------------------------------------- layers


def test_log_dropout_takes_any_int_seed():
    # 0.6.0 handed the seed to tf.random.uniform, which takes negative op seeds too.
    layer = layers.LogDropout(0.5, seed=-1)
    assert layer.get_config()["seed"] == -1
    out = layer(tf.zeros([4, 2, 1, 8]), training=True).numpy()
    assert np.isneginf(out).any() and (out == 0).any()
    for bad in ("1", 1.5):
        with pytest.raises(ValueError, match="LogDropout '\\w+': seed must be an int"):
            layers.LogDropout(0.5, seed=bad)


# --------------------------------------------------------------------------------------- sum ops and optimizer


def test_grad_sum_op_takes_numpy_bools():
    op = spnk.SumOpGradBackprop(logspace_accumulators=np.bool_(False))
    assert op.logspace_accumulators is False
    assert layers.DenseSum(num_sums=2, sum_op=op).logspace_accumulators is False
    with pytest.raises(ValueError, match="SumOpGradBackprop: logspace_accumulators must be True"):
        spnk.SumOpGradBackprop(logspace_accumulators="yes")


def test_online_em_with_learning_rate_zero_moves_nothing():
    # 0.6.0: (1 - lr) * var + lr * counts, so lr = 0 keeps every variable.
    data = np.random.default_rng(0).integers(0, 2, size=(40, 4)).astype(np.int32)
    model = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[4], dtype=tf.int32),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=2, sum_op="em"),
            layers.DenseProduct(num_factors=4),
            layers.RootSum(return_weighted_child_logits=False, sum_op="em"),
        ]
    )
    before = model.predict(data, verbose=0)
    model.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=0.0))
    model.fit(data, epochs=1, batch_size=20, verbose=0)
    np.testing.assert_allclose(model.predict(data, verbose=0), before, atol=1e-6)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"learning_rate must be a finite number in \[0.0, 1.0\]"):
            optimizers.OnlineExpectationMaximization(learning_rate=bad)


# ------------------------------------------------------------------------------------------------------- losses


# tf.keras.losses.Reduction.AUTO is still defined (the string "auto"), so 0.6.0 code naming it runs unchanged.
KERAS_2_AUTO = getattr(getattr(tf.keras.losses, "Reduction", None), "AUTO", "auto")


@pytest.mark.parametrize("loss", [losses.NegativeLogLikelihood, losses.NegativeLogJoint])
@pytest.mark.parametrize("reduction", ["auto", "AUTO", KERAS_2_AUTO])
def test_losses_take_keras_2_auto_reduction(loss, reduction):
    # 0.6.0's losses were Keras 2 losses, whose default "auto" reduction is the mean over the batch.
    y_pred = tf.constant([[-1.0, -2.0], [-0.5, -3.0]])
    y_true = tf.constant([0, 1])
    auto = loss(reduction=reduction)
    assert auto.get_config()["reduction"] == "sum_over_batch_size"
    np.testing.assert_allclose(auto(y_true, y_pred), loss()(y_true, y_pred))
    if loss is losses.NegativeLogLikelihood:
        np.testing.assert_allclose(auto(y_true, y_pred), 0.5539, atol=1e-4)  # 0.6.0's value
    with pytest.raises(ValueError, match="reduction"):
        loss(reduction="average")


# ----------------------------------------------------------------------------------------------------- drawings


def test_visualize_dense_spn_takes_numpy_flags_and_sizes():
    plotly = pytest.importorskip("plotly")
    from libspn_keras.region_graph import RegionNode, RegionVariable, region_graph_to_dense_spn

    root = RegionNode([RegionNode([RegionVariable(0), RegionVariable(1)]), RegionVariable(2)])
    model = region_graph_to_dense_spn(root, layers.IndicatorLeaf(num_components=2), num_sums_iterable=[2])
    figure = spnk.visualize_dense_spn(model, show_legend=np.bool_(True), node_size=np.int64(12))
    assert isinstance(figure, plotly.graph_objects.Figure)
    assert all(trace.marker.size == 12 for trace in figure.data[1:])
    with pytest.raises(ValueError, match="show_legend must be True"):
        spnk.visualize_dense_spn(model, show_legend=2)
