"""Log-matmul at the edges of float32: log-space weights down to -1e4, linear accumulators up to float32 max.

Rule (issue 11.8): relative error <= 1e-5 in log space for any finite inputs
and positive weights. The reference is a float64 log-sum-exp over
``x_c + log w_cs`` written here, never the library's output.
"""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras

from libspn_keras import layers, models, optimizers
from libspn_keras.math import blockwise_log_matmul, log_matmul, log_outer_matmul
from libspn_keras.sum_ops import SumOpGradBackprop, SumOpHardEMBackprop, SumOpSampleBackprop
from libspn_keras.sum_ops.base import normalized_weights

RTOL = 1e-5


def reference(x, log_weights):
    """float64 ``log sum_c exp(x_c + log w_cs)`` for ``x`` ``[batch, *lead, C]`` and ``[C, S]`` / ``[*lead, C, S]``."""
    x = np.asarray(x, np.float64)
    log_weights = np.asarray(log_weights, np.float64)
    if log_weights.ndim == 2:
        log_weights = log_weights.reshape((1,) * (x.ndim - 1) + log_weights.shape)
    terms = x[..., :, None] + log_weights
    top = terms.max(axis=-2, keepdims=True)
    return np.squeeze(top + np.log(np.exp(terms - top).sum(axis=-2, keepdims=True)), axis=-2)


def assert_log_close(got, expected):
    np.testing.assert_array_less(np.abs(np.asarray(got, np.float64) - expected), RTOL * np.abs(expected) + 1e-5)


def test_issue_example_weights_e_minus_110_on_children_0_and_minus_110():
    x = np.array([[0.0, -110.0]], np.float32)
    log_w = np.array([[-110.0], [0.0]], np.float32)
    assert_log_close(log_matmul(tf.constant(x), log_weights=tf.constant(log_w)), [[-109.30685281944005]])
    # The same through a sum layer with log-space accumulators (normalized: [-110, 0] is already a distribution).
    root = layers.RootSum(return_weighted_child_logits=False, logspace_accumulators=True)
    root(x)
    root.accumulators.assign(log_w)
    assert_log_close(root(x), [[-109.30685281944005]])


@pytest.mark.parametrize("lead", [(), (3, 2)], ids=["shared", "per_position"])
def test_log_weights_down_to_minus_1e4(lead):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1e4, 0.0, size=(5, *lead, 6)).astype(np.float32)
    log_w = rng.uniform(-1e4, 0.0, size=(*lead, 6, 4)).astype(np.float32)
    # One sum per case whose only sizeable terms pair a tiny weight with a large child and vice versa.
    x[0, ..., :2] = [0.0, -1e4]
    log_w[..., :2, 0] = [-1e4, 0.0]
    log_w[..., 2:, 0] = -1e4
    got = log_matmul(tf.constant(x), log_weights=tf.constant(log_w)).numpy()
    assert np.all(np.isfinite(got))
    assert_log_close(got, reference(x, log_w))
    np.testing.assert_allclose(got[0, ..., 0], -1e4 + np.log(2.0), rtol=RTOL)


@pytest.mark.parametrize("jit", [False, True])
def test_exact_values_and_finite_gradients_in_and_out_of_xla(jit):
    rng = np.random.default_rng(1)
    x = tf.constant(rng.uniform(-300.0, 0.0, size=(4, 3, 5)).astype(np.float32))
    log_w = tf.constant(rng.uniform(-300.0, 0.0, size=(3, 5, 2)).astype(np.float32))

    @tf.function(jit_compile=jit)
    def value_and_grads(x, log_w):
        with tf.GradientTape() as tape:
            tape.watch([x, log_w])
            out = log_matmul(x, log_weights=log_w)
        return out, tape.gradient(out, [x, log_w])

    out, grads = value_and_grads(x, log_w)
    assert_log_close(out, reference(x, log_w))
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)


def reference_gradients(x, weights, dy):
    """float64 gradients of ``sum(dy * log sum_c exp(x_c) w_cs)`` to ``x`` and to the linear ``weights`` (``[C, S]``),
    the latter clipped to the float32 range (``exp(x_c - out_s)`` is ``1 / w_cs`` where child ``c`` dominates) and 0
    for weights of 0 (whose log-weight's gradient is 0)."""
    x, weights, dy = (np.asarray(a, np.float64) for a in (x, weights, dy))
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    out = reference(x, log_weights)[..., None, :]  # [batch, 1, S]
    d_x = np.sum(np.exp(x[..., :, None] + log_weights - out) * dy[..., None, :], axis=-1)
    with np.errstate(over="ignore"):
        d_weights = np.sum(np.exp(x[..., :, None] - out) * dy[..., None, :], axis=0)
    largest = np.finfo(np.float32).max
    return d_x, np.where(weights > 0, np.clip(d_weights, -largest, largest), 0.0)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize(
    "x, weights",
    [
        # The largest child's weight is e^-80: the sum (e^-80) is below the fast kernel's range but a normal float.
        ([[0.0, -100.0], [0.0, -10.0], [0.0, -300.0]], [[np.exp(-80.0)], [1.0 - np.exp(-80.0)]]),
        # A weight of 0 on the largest child: the sum, e^-100, is not even a normal float32 (and its gradient to
        # that weight, e^100, no float32 at all: 0 is what the chain rule through the weight needs).
        ([[0.0, -100.0], [-1.0, -200.0]], [[0.0], [1.0]]),
        # Two sums, one of them in range: both get their own exact gradient.
        ([[0.0, -200.0, -300.0]], [[np.exp(-86.0), 0.5], [0.5, 0.25], [0.5, 0.25]]),
    ],
    ids=["weight_e-80", "weight_0", "two_sums"],
)
def test_gradients_through_sums_below_the_fast_range_are_exact(x, weights, jit):
    # The fast kernel divides by each linear sum, floored at 2^-100; where the exact path computed the sums, so does
    # the gradient (found by an audit: it was 4e4 times too small).
    x, weights = np.array(x, np.float32), np.array(weights, np.float32)
    dy = np.linspace(0.5, 1.5, x.shape[0] * weights.shape[1]).reshape(x.shape[0], -1).astype(np.float32)

    @tf.function(jit_compile=jit)
    def grads(x, weights):
        with tf.GradientTape() as tape:
            tape.watch([x, weights])
            out = log_matmul(x, weights)
        return tape.gradient(out, [x, weights], output_gradients=tf.constant(dy))

    d_x, d_weights = grads(tf.constant(x), tf.constant(weights))
    expected_x, expected_weights = reference_gradients(x, weights, dy)
    np.testing.assert_allclose(d_x.numpy(), expected_x, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(d_weights.numpy(), expected_weights, rtol=1e-5, atol=1e-30)


@pytest.mark.parametrize("jit", [False, True])
def test_gradients_of_a_product_sum_pair_below_the_fast_range_are_exact(jit):
    # log_outer_matmul's exact gradients reach both factors: d left_i = sum_j d product_ij, d right_j = sum_i.
    left = np.array([[[0.0, -100.0]], [[-1.0, -2.0]]], np.float32)  # [batch, 1 position, 2]
    right = np.array([[[-100.0, 0.0]], [[-3.0, 0.0]]], np.float32)
    weights = np.full((1, 4, 2), 0.25, np.float32)
    # Products (0,0) (0,1) (1,0) (1,1): the largest, (0,1) = 0 in the first row, weighs e^-85 in the first sum.
    weights[0, :, 0] = [0.5, np.exp(-85.0), 0.25, 0.25 - np.exp(-85.0)]

    @tf.function(jit_compile=jit)
    def grads(left, right, weights):
        with tf.GradientTape() as tape:
            tape.watch([left, right, weights])
            out = log_outer_matmul(left, right, weights)
        return out, tape.gradient(out, [left, right, weights])

    out, (d_left, d_right, d_weights) = grads(tf.constant(left), tf.constant(right), tf.constant(weights))
    products = (left[..., :, None] + right[..., None, :]).reshape(2, 1, 4)
    with np.errstate(divide="ignore"):
        assert_log_close(out, reference(products, np.log(weights)))
    expected_products, expected_weights = reference_gradients(products[:, 0], weights[0], np.ones((2, 2)))
    expected_products = expected_products.reshape(2, 1, 2, 2)
    np.testing.assert_allclose(d_left.numpy(), expected_products.sum(-1), rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(d_right.numpy(), expected_products.sum(-2), rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(d_weights.numpy()[0], expected_weights, rtol=1e-5, atol=1e-30)


@pytest.mark.parametrize("jit", [False, True])
def test_log_space_accumulators_get_exact_gradients_through_a_tiny_weight_on_the_largest_child(jit):
    # d out / d a_c = p_c - w_c for softmax-normalized accumulators a, with p_c the child's posterior.
    x = np.array([[0.0, -100.0], [0.0, -75.0], [-1.0, -2.0]], np.float32)
    accumulators = np.array([[-80.0], [0.0]], np.float32)
    root = layers.RootSum(return_weighted_child_logits=False, logspace_accumulators=True, sum_op="grad")
    root(x)
    root.accumulators.assign(accumulators)

    @tf.function(jit_compile=jit)
    def grads(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = tf.reduce_sum(root(x))
        return tape.gradient(out, [x, root.accumulators])

    d_x, d_accumulators = grads(tf.constant(x))
    log_weights = accumulators[:, 0].astype(np.float64) - np.logaddexp.reduce(accumulators[:, 0].astype(np.float64))
    terms = x.astype(np.float64) + log_weights
    posterior = np.exp(terms - np.logaddexp.reduce(terms, axis=1, keepdims=True))
    np.testing.assert_allclose(d_x.numpy(), posterior, rtol=1e-5, atol=1e-12)
    expected = np.sum(posterior - np.exp(log_weights), axis=0)
    np.testing.assert_allclose(d_accumulators.numpy()[:, 0], expected, rtol=1e-5, atol=1e-6)


def test_linear_accumulators_up_to_float32_max():
    big = np.finfo(np.float32).max
    layer = layers.DenseSum(num_sums=2, logspace_accumulators=False)
    x = np.array([[[[-1.0, -2.0, -3.0]]]], np.float32)
    layer(x)
    layer.accumulators.assign(np.array([[[[big, 1.0], [big, 1.0], [1.0, big]]]], np.float32))
    weights = np.array([[0.5, 1.0 / big], [0.5, 1.0 / big], [1.0 / big, 1.0]])
    assert_log_close(layer(x), reference(x, np.log(weights)))
    # Unnormalized linear weights near the float32 maximum straight into the kernel.
    w = np.full((3, 1), big / 2, np.float32)
    assert_log_close(log_matmul(tf.constant(x[0, 0]), tf.constant(w)), reference(x[0, 0], np.log(w)))


@pytest.mark.parametrize("jit", [False, True])
def test_large_unnormalized_weights_on_children_that_underflow_stay_exact(jit):
    """A sum of 2^-18 whose leading term, a child of e^-100 times a weight of 1e38, flushes to 0 after the shift.

    The other term alone (1e-20) is within the float range, so only a range relative to the weights' total finds it.
    """
    x = np.array([[0.0, -100.0], [-3.0, -1.0]], np.float32)
    log_weights = np.log(np.array([[1e-20, 0.5], [1e38, 0.25]], np.float32))
    forward = tf.function(log_matmul, jit_compile=jit)
    for form in ({"weights": tf.exp(tf.constant(log_weights))}, {"log_weights": tf.constant(log_weights)}):
        x_tensor = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x_tensor)
            got = forward(x_tensor, **form)
        gradient = tape.gradient(got, x_tensor).numpy()
        expected = reference(x, log_weights)
        assert_log_close(got, expected)
        # d/dx_c of sum_s log S_s is sum_s exp(x_c + log w_cs - log S_s).
        terms = np.exp(x.astype(np.float64)[:, :, None] + log_weights.astype(np.float64) - expected[:, None, :])
        np.testing.assert_allclose(gradient, terms.sum(axis=-1), rtol=1e-5, atol=1e-12)


# True: slow extra; "auto" (kept) compiles with XLA on CPU as True does, and False (kept) is graph mode.
@pytest.mark.parametrize("jit_compile", [False, pytest.param(True, marks=pytest.mark.slow), "auto"])
def test_a_soft_em_step_from_linear_accumulators_near_the_float32_maximum(jit_compile):
    """Accumulators whose total overflows float32: at rate 1 the step takes the batch's shares in every mode.

    The four products of two binary indicators get the rows [0, 0], [0, 1], [1, 1], [1, 1]: shares 1/4, 1/4,
    0 and 1/2 (in the products' order of ``reference.all_binary``).
    """
    spn = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseProduct(num_factors=2),
            layers.RootSum(return_weighted_child_logits=False, sum_op="em", logspace_accumulators=False),
        ]
    )
    spn.build((None, 2))
    root = spn.layers[-1]
    root.accumulators.assign(np.reshape([3e38, 1e38, 3e38, 1e38], root.accumulators.shape).astype(np.float32))
    spn.compile(optimizer=optimizers.OnlineExpectationMaximization(learning_rate=1.0), jit_compile=jit_compile)
    spn.fit(np.array([[0, 0], [0, 1], [1, 1], [1, 1]], np.float32), batch_size=4, verbose=0)
    accumulators = root.accumulators.numpy().astype(np.float64).ravel()
    np.testing.assert_allclose(accumulators / accumulators.sum(), [0.25, 0.25, 0.0, 0.5], atol=1e-7)


@pytest.mark.parametrize("scale", [1e38, 1e-25])
def test_normalized_linear_weights_and_their_gradient_agree_in_and_out_of_xla(scale):
    """Weights ``a / sum(a)`` of accumulators whose total overflows, or whose largest is far below 1."""
    accumulators = tf.Variable(np.array([[3.0], [1.0], [3.0]], np.float32) * np.float32(scale))
    upstream = tf.constant([[1.0], [2.0], [0.5]])

    def weights_and_gradient():
        with tf.GradientTape() as tape:
            weights = normalized_weights(accumulators, False)
            loss = tf.reduce_sum(weights * upstream)
        return weights, tape.gradient(loss, accumulators)

    a = accumulators.numpy().astype(np.float64)
    total = a.sum()
    expected_weights = a / total
    # d/da_j sum_c u_c a_c / T = (u_j - sum_c u_c w_c) / T
    expected_gradient = (upstream.numpy() - (upstream.numpy() * expected_weights).sum()) / total
    for jit in (False, True):
        weights, gradient = tf.function(weights_and_gradient, jit_compile=jit)()
        np.testing.assert_allclose(weights.numpy(), expected_weights, rtol=1e-6)
        # Below the smallest normal float the gradient flushes to 0 (for the total of 7e38).
        np.testing.assert_allclose(gradient.numpy(), expected_gradient, rtol=1e-5, atol=2 * np.finfo(np.float32).tiny)


@pytest.mark.parametrize("sum_op", [SumOpGradBackprop(), SumOpSampleBackprop(), SumOpHardEMBackprop()])
def test_sum_op_layers_are_exact_with_extreme_log_space_weights(sum_op):
    rng = np.random.default_rng(2)
    x = rng.uniform(-400.0, 0.0, size=(3, 2, 2, 4)).astype(np.float32)
    acc = rng.uniform(-400.0, 0.0, size=(2, 2, 4, 3))
    top = acc.max(-2, keepdims=True)
    log_w = acc - top - np.log(np.exp(acc - top).sum(-2, keepdims=True))
    layer = layers.Local2DSum(num_sums=3, logspace_accumulators=True)
    layer(x)
    layer.accumulators.assign(acc.astype(np.float32))
    layer.route_with(sum_op)  # as the queries do: the routing ops read log-space accumulators too
    assert_log_close(layer(x), reference(x, log_w))


def test_fused_product_sum_is_exact_with_extreme_weights():
    rng = np.random.default_rng(3)
    left = rng.uniform(-200.0, 0.0, size=(3, 2, 4)).astype(np.float32)
    right = rng.uniform(-200.0, 0.0, size=(3, 2, 4)).astype(np.float32)
    log_w = rng.uniform(-1e4, 0.0, size=(2, 16, 3)).astype(np.float32)
    outer = (left[..., :, None] + right[..., None, :]).reshape(3, 2, 16)
    for weights in (log_w, log_w[0]):
        got = log_outer_matmul(tf.constant(left), tf.constant(right), log_weights=tf.constant(weights))
        assert_log_close(got, reference(outer, weights))


def test_blockwise_log_matmul_gradient_matches_reference():
    rng = np.random.default_rng(4)
    x = tf.constant(rng.uniform(-50.0, 0.0, size=(3, 2, 5)).astype(np.float32))
    log_w = tf.constant(rng.uniform(-50.0, 0.0, size=(2, 5, 4)).astype(np.float32))
    cot = rng.normal(size=(3, 2, 4))
    with tf.GradientTape() as tape:
        tape.watch([x, log_w])
        out = blockwise_log_matmul(x, log_w)
        total = tf.reduce_sum(out * cot)
    d_x, d_w = tape.gradient(total, [x, log_w])
    out64 = reference(x.numpy(), log_w.numpy())
    flow = np.exp(x.numpy()[..., :, None] + log_w.numpy()[None].astype(np.float64) - out64[..., None, :])
    flow *= cot[..., None, :]
    np.testing.assert_allclose(out.numpy(), out64, rtol=1e-6)
    np.testing.assert_allclose(d_x.numpy(), flow.sum(-1), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(d_w.numpy(), flow.sum(0), rtol=1e-4, atol=1e-6)


def test_model_outputs_stay_exact_and_normalized_with_extreme_log_space_weights():
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [
            keras.Input((2,), dtype="int32"),
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=2, logspace_accumulators=True),
            layers.DenseProduct(num_factors=2),
            layers.RootSum(return_weighted_child_logits=False, logspace_accumulators=True),
        ]
    )
    leaf_acc = np.array([[0.0, -300.0], [-300.0, 0.0]])  # [category, sum]: sum 0 ~ category 0, sum 1 ~ category 1
    root_acc = np.array([0.0, -200.0, -200.0, -500.0])  # over the products (i, j) = i * 2 + j
    model.layers[2].accumulators.assign(np.broadcast_to(leaf_acc, (2, 1, 2, 2)).astype(np.float32))
    model.layers[4].accumulators.assign(root_acc[:, None].astype(np.float32))
    table = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.int32)
    leaf_w = leaf_acc - np.logaddexp.reduce(leaf_acc, axis=0, keepdims=True)
    root_w = root_acc - np.logaddexp.reduce(root_acc)
    expected = [
        np.logaddexp.reduce([root_w[i * 2 + j] + leaf_w[a, i] + leaf_w[b, j] for i in range(2) for j in range(2)])
        for a, b in table
    ]
    log_p = model(table).numpy()[:, 0]
    assert_log_close(log_p, np.array(expected))
    assert abs(np.logaddexp.reduce(log_p.astype(np.float64))) < 1e-5
