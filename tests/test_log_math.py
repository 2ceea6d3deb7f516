"""Log-space kernels checked against independent float64 numpy references.

``log_matmul(x, w)`` must equal ``log(exp(x) @ w)``; the reference here is a
stable float64 log-sum-exp over ``x_c + log w_cs`` written from scratch, never
the library's own output. The spatial helpers are checked against the formulas
of SPEC section 3 and a brute-force enumeration of product windows.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from libspn_keras.math import log_matmul, spatial_output_size, spatial_padding
from libspn_keras.math.spatial import uncovered_cells

# ----------------------------------------------------------------------------------------------------------------------
# Independent float64 references
# ----------------------------------------------------------------------------------------------------------------------


def _np_logsumexp(a, axis):
    """Stable float64 log-sum-exp; ``-inf`` where every term is ``-inf``."""
    a = np.asarray(a, dtype=np.float64)
    m = np.max(a, axis=axis, keepdims=True)
    m_safe = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        s = np.log(np.sum(np.exp(a - m_safe), axis=axis, keepdims=True))
    return np.squeeze(s + m_safe, axis=axis)


def _lead_weights(x, w):
    """Broadcasts ``w`` ``[C, S]`` or ``[*lead, C, S]`` against ``x`` ``[batch, *lead, C]`` -> ``[1, *lead, C, S]``."""
    w = np.asarray(w, dtype=np.float64)
    lead_rank = x.ndim - 2
    if w.ndim == 2:
        return w.reshape((1,) * (lead_rank + 1) + w.shape)
    return w[None]


def ref_log_matmul(x, w):
    """``log(sum_c exp(x_c) * w_cs)`` in float64: logsumexp over ``x_c + log w_cs``."""
    x = np.asarray(x, dtype=np.float64)
    wb = _lead_weights(x, w)
    with np.errstate(divide="ignore"):
        terms = x[..., :, None] + np.log(wb)  # [batch, *lead, C, S]
    return _np_logsumexp(terms, axis=-2)


def ref_grads(x, w, cotangent):
    """Analytic float64 gradients of ``sum(cotangent * log_matmul(x, w))`` w.r.t. ``x`` and ``w``.

    ``d out_s / d x_c = w_cs exp(x_c - out_s)`` and ``d out_s / d w_cs = exp(x_c - out_s)``.
    """
    x = np.asarray(x, dtype=np.float64)
    out = ref_log_matmul(x, w)
    wb = _lead_weights(x, w)
    resp = np.exp(x[..., :, None] - out[..., None, :])  # [batch, *lead, C, S]
    dx = np.sum(cotangent[..., None, :] * wb * resp, axis=-1)
    dw_full = cotangent[..., None, :] * resp
    w = np.asarray(w)
    shared_axes = tuple(range(dw_full.ndim - w.ndim))
    dw = np.sum(dw_full, axis=shared_axes)
    return dx, dw


def numeric_grads(x, w, cotangent, eps=1e-6):
    """Central finite differences of the float64 reference (independent of the analytic formula)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)

    def loss(xx, ww):
        return np.sum(cotangent * ref_log_matmul(xx, ww))

    dx = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        dx[idx] = (loss(xp, w) - loss(xm, w)) / (2 * eps)
    dw = np.zeros_like(w)
    for idx in np.ndindex(*w.shape):
        wp, wm = w.copy(), w.copy()
        wp[idx] += eps
        wm[idx] -= eps
        dw[idx] = (loss(x, wp) - loss(x, wm)) / (2 * eps)
    return dx, dw


def tf_value_and_grads(x, w, cotangent, fn=log_matmul):
    x_t = tf.constant(x, dtype=tf.float32)
    w_t = tf.constant(w, dtype=tf.float32)
    c_t = tf.constant(cotangent, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch([x_t, w_t])
        out = fn(x_t, w_t)
        loss = tf.reduce_sum(tf.where(tf.math.is_finite(out), out * c_t, tf.zeros_like(out)))
    dx, dw = tape.gradient(loss, [x_t, w_t])
    return out.numpy(), dx.numpy(), dw.numpy()


# Shapes: (x shape, weight shape)
SHAPES = {
    "dense": ((5, 4), (4, 3)),
    "per_position": ((3, 2, 3, 4), (2, 3, 4, 5)),
    "shared": ((3, 2, 3, 4), (4, 5)),
}


def _weights(rng, shape):
    return rng.uniform(0.05, 2.0, size=shape).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------------------
# Forward values
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape_name", sorted(SHAPES))
@pytest.mark.parametrize("offset", [0.0, -1000.0, 1000.0])
def test_log_matmul_matches_float64_reference(shape_name, offset):
    rng = np.random.default_rng([sorted(SHAPES).index(shape_name), int(offset) + 2000])
    x_shape, w_shape = SHAPES[shape_name]
    x = (offset + rng.normal(scale=3.0, size=x_shape)).astype(np.float32)
    w = _weights(rng, w_shape)
    out = log_matmul(tf.constant(x), tf.constant(w)).numpy()
    expected = ref_log_matmul(x, w)
    assert out.shape == expected.shape
    assert np.all(np.isfinite(out)), "finite inputs, also around +-1000, must give finite results"
    # float32 has an ulp of ~6e-5 at 1000; relative accuracy is what can be asked for.
    np.testing.assert_allclose(out, expected, rtol=2e-6, atol=2e-5)


def test_log_matmul_values_far_apart_in_one_row():
    # exp(-1000) underflows next to exp(0); the result must be the dominant term, not nan / -inf / inf.
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0], [5.0, 5.0, 5.0]], dtype=np.float32)
    w = np.array([[0.5, 0.1], [0.25, 2.0], [0.25, 0.3]], dtype=np.float32)
    out = log_matmul(tf.constant(x), tf.constant(w)).numpy()
    np.testing.assert_allclose(out, ref_log_matmul(x, w), rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(out[0], 1000.0 + np.log(w[0]), atol=1e-4)
    np.testing.assert_allclose(out[1], -1000.0 + np.log(w.sum(axis=0)), atol=1e-4)
    np.testing.assert_allclose(out[2], 5.0 + np.log(w.sum(axis=0)), atol=1e-5)


def test_log_matmul_exact_on_known_numbers():
    # log(0.3 * e^0 + 0.7 * e^log(2)) = log(1.7); log(1 * e^0 + 0 * ...) = 0
    x = np.array([[0.0, np.log(2.0)]], dtype=np.float32)
    w = np.array([[0.3, 1.0], [0.7, 0.0]], dtype=np.float32)
    out = log_matmul(tf.constant(x), tf.constant(w)).numpy()
    np.testing.assert_allclose(out, [[np.log(1.7), 0.0]], atol=1e-6)


@pytest.mark.parametrize("shape_name", sorted(SHAPES))
def test_log_matmul_all_minus_inf_rows(shape_name):
    rng = np.random.default_rng(7)
    x_shape, w_shape = SHAPES[shape_name]
    x = rng.normal(size=x_shape).astype(np.float32)
    x[0] = -np.inf  # a whole batch element of zero-probability children
    if len(x_shape) == 2:
        x[3] = -np.inf
    else:
        x[2, 1, 2, :] = -np.inf  # a single position whose children are all zero
    w = _weights(rng, w_shape)
    cot = rng.normal(size=ref_log_matmul(x, w).shape)

    out, dx, dw = tf_value_and_grads(x, w, cot)
    expected = ref_log_matmul(x, w)
    all_inf = np.all(np.isneginf(x), axis=-1)
    assert np.all(np.isneginf(out[all_inf])), "all -inf children must give -inf (probability 0)"
    assert not np.any(np.isnan(out))
    assert not np.any(np.isposinf(out))
    np.testing.assert_allclose(out[~all_inf], expected[~all_inf], rtol=2e-6, atol=2e-5)

    assert np.all(np.isfinite(dx)), "gradients w.r.t. children must be finite where children are -inf"
    assert np.all(np.isfinite(dw)), "gradients w.r.t. weights must be finite when some rows are all -inf"
    np.testing.assert_array_equal(dx[all_inf], 0.0)
    # The -inf rows contribute nothing; the rest matches the analytic reference.
    x_ref = np.where(np.isneginf(x), -np.inf, x)
    cot_masked = np.where(all_inf[..., None], 0.0, cot)
    ref_dx, ref_dw = ref_grads(np.where(all_inf[..., None], 0.0, x_ref), w, cot_masked)
    np.testing.assert_allclose(dx[~all_inf], ref_dx[~all_inf], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dw, ref_dw, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape_name", sorted(SHAPES))
def test_log_matmul_mix_of_minus_inf_and_finite(shape_name):
    rng = np.random.default_rng(11)
    x_shape, w_shape = SHAPES[shape_name]
    x = rng.normal(scale=2.0, size=x_shape).astype(np.float32)
    mask = rng.uniform(size=x_shape) < 0.4
    mask[..., 0] = False  # keep one finite child everywhere
    x[mask] = -np.inf
    w = _weights(rng, w_shape)
    cot = rng.normal(size=ref_log_matmul(x, w).shape)

    out, dx, dw = tf_value_and_grads(x, w, cot)
    np.testing.assert_allclose(out, ref_log_matmul(x, w), rtol=2e-6, atol=2e-5)
    assert np.all(np.isfinite(dx)) and np.all(np.isfinite(dw))
    np.testing.assert_array_equal(dx[mask], 0.0)
    ref_dx, ref_dw = ref_grads(x, w, cot)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dw, ref_dw, rtol=1e-4, atol=1e-5)


def test_log_matmul_zero_weight_column_gives_minus_inf():
    x = np.array([[0.5, -1.0], [2.0, 3.0]], dtype=np.float32)
    w = np.array([[0.0, 1.0], [0.0, 1.0]], dtype=np.float32)
    cot = np.ones((2, 2))
    out, dx, dw = tf_value_and_grads(x, w, cot)
    assert np.all(np.isneginf(out[:, 0]))
    np.testing.assert_allclose(out[:, 1], ref_log_matmul(x, w)[:, 1], atol=1e-6)
    assert np.all(np.isfinite(dx)) and np.all(np.isfinite(dw))


# ----------------------------------------------------------------------------------------------------------------------
# Gradients
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape_name", sorted(SHAPES))
@pytest.mark.parametrize("offset", [0.0, -1000.0, 1000.0])
def test_log_matmul_gradients_match_float64_reference(shape_name, offset):
    rng = np.random.default_rng([sorted(SHAPES).index(shape_name), int(offset) + 3000])
    x_shape, w_shape = SHAPES[shape_name]
    # Keep the spread small so float32 rounding of x (ulp 6e-5 at 1000) does not dominate.
    x = (offset + rng.normal(scale=1.5, size=x_shape)).astype(np.float32)
    w = _weights(rng, w_shape)
    cot = rng.normal(size=ref_log_matmul(x, w).shape)
    out, dx, dw = tf_value_and_grads(x, w, cot)
    ref_dx, ref_dw = ref_grads(x, w, cot)
    np.testing.assert_allclose(dx, ref_dx, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(dw, ref_dw, rtol=2e-4, atol=2e-5)
    if offset == 0.0:
        # The analytic reference itself agrees with finite differences of the float64 reference.
        num_dx, num_dw = numeric_grads(x, w, cot)
        np.testing.assert_allclose(ref_dx, num_dx, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(ref_dw, num_dw, rtol=1e-6, atol=1e-7)


def test_log_matmul_gradients_sum_to_one_over_children():
    # For a single sum with normalized weights, d out / d x_c are posteriors: they sum to 1.
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    w = rng.uniform(0.1, 1.0, size=(4, 1)).astype(np.float32)
    w /= w.sum()
    _, dx, _ = tf_value_and_grads(x, w, np.ones((6, 1)))
    np.testing.assert_allclose(dx.sum(axis=-1), 1.0, atol=1e-6)


# ----------------------------------------------------------------------------------------------------------------------
# XLA
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape_name", sorted(SHAPES))
def test_log_matmul_under_xla(shape_name):
    rng = np.random.default_rng(13)
    x_shape, w_shape = SHAPES[shape_name]
    x = rng.normal(scale=3.0, size=x_shape).astype(np.float32)
    x[0] = -np.inf
    x[1] += 1000.0
    mask = rng.uniform(size=x_shape) < 0.3
    mask[..., 0] = False
    x[2][mask[2]] = -np.inf
    w = _weights(rng, w_shape)
    cot = rng.normal(size=ref_log_matmul(x, w).shape)

    jitted = tf.function(log_matmul, jit_compile=True)
    out_xla, dx_xla, dw_xla = tf_value_and_grads(x, w, cot, fn=jitted)
    expected = ref_log_matmul(x, w)
    finite = np.isfinite(expected)
    assert np.all(np.isneginf(out_xla[~finite]))
    np.testing.assert_allclose(out_xla[finite], expected[finite], rtol=2e-6, atol=2e-5)
    assert np.all(np.isfinite(dx_xla)) and np.all(np.isfinite(dw_xla))

    out_eager, dx_eager, dw_eager = tf_value_and_grads(x, w, cot)
    np.testing.assert_allclose(out_xla, out_eager, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(dx_xla, dx_eager, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dw_xla, dw_eager, rtol=1e-5, atol=1e-6)


def test_log_matmul_gradient_function_under_xla():
    rng = np.random.default_rng(17)
    x = tf.constant(rng.normal(size=(4, 3)).astype(np.float32))
    w = tf.constant(rng.uniform(0.1, 1.0, size=(3, 2)).astype(np.float32))

    @tf.function(jit_compile=True)
    def grads(x, w):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            loss = tf.reduce_sum(log_matmul(x, w))
        return tape.gradient(loss, [x, w])

    dx, dw = grads(x, w)
    ref_dx, ref_dw = ref_grads(x.numpy(), w.numpy(), np.ones((4, 2)))
    np.testing.assert_allclose(dx.numpy(), ref_dx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dw.numpy(), ref_dw, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------------------------------------------------
# Spatial helpers
# ----------------------------------------------------------------------------------------------------------------------


def _spec_pads(padding, size, k, d):
    k_eff = (k - 1) * d + 1
    # 'final' leaves an axis with a 1-wide kernel unpadded, as 0.6.0's Conv2DProduct._pad_sizes does.
    final = ((k_eff - 1) * 2 - size, 0) if k > 1 else (0, 0)
    return {"valid": (0, 0), "full": (k_eff - 1, k_eff - 1), "final": final}[padding]


def _spec_out(size, pads, k, d, s):
    k_eff = (k - 1) * d + 1
    return math.ceil((size + sum(pads) - k_eff + 1) / s)


def _brute_uncovered(size, pads, k, d, s):
    """Enumerates every window of the padded axis and the real cells it touches."""
    padded = size + sum(pads)
    k_eff = (k - 1) * d + 1
    covered = set()
    start = 0
    while start + k_eff <= padded:
        for j in range(k):
            pos = start + j * d - pads[0]
            if 0 <= pos < size:
                covered.add(pos)
        start += s
    return sorted(set(range(size)) - covered)


@pytest.mark.parametrize("padding", ["valid", "full", "final"])
def test_spatial_padding_matches_spec(padding):
    for size in range(1, 20):
        for k in (1, 2, 3):
            for d in (1, 2, 4, 8):
                assert tuple(spatial_padding(padding, size, k, d)) == _spec_pads(padding, size, k, d)


def test_spatial_padding_rejects_unknown_mode():
    with pytest.raises(ValueError):
        spatial_padding("same", 8, 2, 1)


def test_spatial_output_size_matches_spec_formula():
    for size in range(1, 30):
        for k in (1, 2, 3, 4):
            for d in (1, 2, 3):
                for s in (1, 2, 3):
                    for pads in ((0, 0), (1, 1), (2, 0), (3, 2)):
                        expected = _spec_out(size, pads, k, d, s)
                        assert spatial_output_size(size, pads, k, d, s) == expected, (size, pads, k, d, s)


def test_uncovered_cells_matches_brute_force():
    checked = 0
    for size in range(2, 18):
        for k in (1, 2, 3):
            for d in (1, 2, 3):
                for s in (1, 2, 3):
                    for padding in ("valid", "full"):
                        pads = _spec_pads(padding, size, k, d)
                        if _spec_out(size, pads, k, d, s) < 1:
                            continue
                        got = list(uncovered_cells(size, pads, k, d, s))
                        assert got == _brute_uncovered(size, pads, k, d, s), (size, pads, k, d, s)
                        checked += 1
    assert checked > 500


def test_uncovered_cells_known_cases():
    # Kernel 2 / stride 2 over 5 cells: windows {0,1}, {2,3}; cell 4 is dropped.
    assert list(uncovered_cells(5, (0, 0), 2, 1, 2)) == [4]
    # Kernel 2 / stride 2 over an even size tiles the axis.
    assert list(uncovered_cells(6, (0, 0), 2, 1, 2)) == []
    # Kernel 1 / stride 2 keeps only even cells.
    assert list(uncovered_cells(6, (0, 0), 1, 1, 2)) == [1, 3, 5]


# (kernel, stride, dilation, padding) of the seed's DGC-SPN product layers
SEED_CHAIN = [
    (2, 2, 1, "valid"),
    (2, 2, 1, "valid"),
    (2, 1, 1, "full"),
    (2, 1, 2, "full"),
    (2, 1, 4, "full"),
    (2, 1, 8, "final"),
]


def test_seed_size_chain():
    sizes = [28]
    for k, s, d, padding in SEED_CHAIN:
        size = sizes[-1]
        pads = spatial_padding(padding, size, k, d)
        assert tuple(pads) == _spec_pads(padding, size, k, d)
        assert list(uncovered_cells(size, pads, k, d, s)) == []
        sizes.append(spatial_output_size(size, pads, k, d, s))
    assert sizes == [28, 14, 7, 8, 10, 14, 8]


def test_seed_size_chain_through_layers():
    from tensorflow import keras

    from libspn_keras import layers

    model = keras.Sequential(
        [keras.Input((28, 28, 2))]
        + [
            layers.Conv2DProduct(strides=s, dilations=d, kernel_size=k, padding=p, depthwise=True)
            for k, s, d, p in SEED_CHAIN
        ]
    )
    sizes = [layer.output.shape[1:3] for layer in model.layers]
    assert [tuple(s) for s in sizes] == [(14, 14), (7, 7), (8, 8), (10, 10), (14, 14), (8, 8)]
    out = model(np.zeros((1, 28, 28, 2), dtype=np.float32))
    assert tuple(out.shape) == (1, 8, 8, 2)
