"""DynamicSumProductNetwork.log_likelihood takes the fast path like the other models' log_likelihood.

It ran eagerly, with every sum's range check (the exact kernel), about 5x slower than ``predict`` on the same
sequences. It is now a compiled query: traced once per number of steps with the checked sums, XLA where the
model's steps compile with it. Values are checked against brute force (normalization, marginalization).
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf
from reference import np_logsumexp
from tensorflow import keras

from libspn_keras import layers, models
from libspn_keras.models import dynamic_sum_product_network
from libspn_keras.sum_ops import grad as grad_sum_op
from libspn_keras.sum_ops.checked import is_checked


def binary_dspn(original_form=False):
    keras.utils.set_random_seed(3)
    template = keras.Sequential(
        [
            layers.FlatToRegions(num_decomps=1, input_shape=[2], dtype="int32"),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=2),
            layers.ReduceProduct(num_factors=2),
        ]
    )
    if original_form:
        interface_t0 = keras.Sequential([layers.DenseSum(num_sums=2, input_shape=[1, 1, 2])])
        interface_t_minus_1 = keras.Sequential([layers.DenseSum(num_sums=2, input_shape=[1, 1, 4])])
        top = keras.Sequential([layers.RootSum(return_weighted_child_logits=False, input_shape=[1, 1, 4])])
        return models.DynamicSumProductNetwork(template, interface_t0, interface_t_minus_1, top, return_last_step=True)
    return models.DynamicSumProductNetwork(template, num_interface_sums=2)


def all_sequences(num_steps):
    return np.array(list(itertools.product([0, 1], repeat=2 * num_steps)), "int32").reshape(-1, num_steps, 2)


@pytest.mark.parametrize("jit_compile", ["auto", False])
def test_log_likelihood_is_compiled_with_checked_sums(monkeypatch, jit_compile):
    seen = []
    monkeypatch.setattr(grad_sum_op, "is_checked", lambda acc: seen.append(is_checked(acc)) or seen[-1])
    model = binary_dspn()
    model.compile(jit_compile=jit_compile)
    x = all_sequences(2)
    model.predict(x, verbose=0)
    seen.clear()
    log_p = model.log_likelihood(x)
    assert seen and all(seen)  # traced, every sum with the range check skipped
    assert abs(np_logsumexp(log_p)) < 1e-5  # a distribution over the 16 sequences
    keys = [key for key, _ in model._spn_compiled_queries.functions]
    assert any(key[0] == "log_likelihood" for key in keys)
    seen.clear()
    model.log_likelihood(x[::-1])  # same shape: no new trace
    assert not seen
    # Another number of steps: its own trace, and still a distribution.
    log_p3 = model.log_likelihood(all_sequences(3))
    assert seen and all(seen)
    assert abs(np_logsumexp(log_p3)) < 1e-5
    # Marginalizing the last step (-1 = missing) equals brute-force summing over its four values. All 16 rows, so
    # that the batch keeps the shape already compiled (rows 4a..4a+3 share their first step a).
    missing = x.copy()
    missing[:, 1] = -1
    expected = np.repeat(np_logsumexp(log_p.reshape(4, 4), axis=1), 4)
    np.testing.assert_allclose(model.log_likelihood(missing), expected, atol=2e-5)


def test_original_form_log_likelihood_with_lengths(monkeypatch):
    # The lengths are checked before the compiled query: inside it an assertion would be dropped by XLA (and logged).
    checked_in_graph = []
    check = dynamic_sum_product_network.check_sequence_lens
    monkeypatch.setattr(
        dynamic_sum_product_network,
        "check_sequence_lens",
        lambda *args: checked_in_graph.append(not tf.executing_eagerly()) or check(*args),
    )
    model = binary_dspn(original_form=True)
    model.compile()
    x = all_sequences(2)
    # One batch (one compile) of every sequence of length 1 (the first 4 rows) and of length 2 (the other 16).
    lengths = np.repeat([1, 2], [4, 16])
    padded = np.zeros((len(lengths), 3, 2), "int32")
    padded[:4, 2:] = all_sequences(1)
    padded[4:, 1:] = all_sequences(2)
    log_p = model.log_likelihood([padded, lengths])
    for rows in (log_p[:4], log_p[4:]):
        assert abs(np_logsumexp(rows)) < 1e-5
    assert not any(checked_in_graph)
    with pytest.raises(ValueError, match="sequence_lens"):
        model.log_likelihood([np.zeros((len(x), 2, 2), "int32"), np.full(len(x), 3)])
