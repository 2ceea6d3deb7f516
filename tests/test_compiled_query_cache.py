"""The compiled queries (models.fast_path.compiled_query) answer for the model as it is now, not as first traced."""

import sys
from pathlib import Path

import numpy as np
import pytest
from reference import all_binary, np_logsumexp

from libspn_keras import layers

sys.path.insert(0, str(Path(__file__).parent))
from test_checked_weights import joint_table_spn  # noqa: E402
from test_dynamic_spn_queries import left_padded, original_dspn  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")


def joint_table(weights):
    """Brute force for ``joint_table_spn``: ``p(x0, x1)`` is the normalized weight of product ``2 * x0 + x1``."""
    weights = np.asarray(weights, np.float64) / np.sum(weights)
    x = all_binary(2)
    return np.log(weights[2 * x[:, 0] + x[:, 1]])


@pytest.mark.parametrize("jit_compile", [True, False])
def test_queries_follow_a_root_replaced_after_they_ran(jit_compile):
    first, second = [0.1, 0.2, 0.3, 0.4], [0.4, 0.05, 0.05, 0.5]
    model = joint_table_spn(np.log(first))
    model.compile(loss=None, jit_compile=jit_compile)
    x = all_binary(2)
    np.testing.assert_allclose(model.log_likelihood(x), joint_table(first), atol=2e-6)
    model.complete(np.array([[0, -1], [1, -1]], np.int32))

    model.pop()
    root = layers.RootSum(logspace_accumulators=True, return_weighted_child_logits=False)
    model.add(root)
    root.accumulators.assign(np.log(np.reshape(second, root.accumulators.shape)).astype(np.float32))
    expected = joint_table(second)
    np.testing.assert_allclose(model.log_likelihood(x), expected, atol=2e-6)
    # x1 given x0: the most probable value under the new joint (0 given x0 = 0, 1 given x0 = 1; the first gave 1, 1).
    completed = model.complete(np.array([[0, -1], [1, -1]], np.int32))
    np.testing.assert_array_equal(completed[:, 1], np.argmax(expected.reshape(2, 2, order="F"), axis=1))
    assert np_logsumexp(expected) == pytest.approx(0.0, abs=1e-12)


def test_dynamic_spn_completion_uses_the_sequence_lengths_of_each_call():
    x, _ = left_padded(3)
    x = x.copy()
    x[:, 0, :] = -1  # the first step missing: filled only where it lies inside the sequence
    lengths = np.resize([1, 2, 3], len(x))
    model = original_dspn(seed=1)
    model.complete([x, np.full(len(x), 3)])
    np.testing.assert_array_equal(model.complete([x, lengths]), original_dspn(seed=1).complete([x, lengths]))


@pytest.mark.parametrize("jit_compile", [True, False])
def test_sampling_and_mpe_run_one_kept_graph_that_follows_each_calls_seed(jit_compile):
    """Drawing queries trace once per model and method (graph mode: XLA routes slower on CPUs) and still draw
    what each call's seed says: the key goes into the trace as an argument, not as a traced constant."""
    weights = [0.1, 0.2, 0.3, 0.4]
    model = joint_table_spn(np.log(weights))
    model.compile(loss=None, jit_compile=jit_compile)
    first = model.sample(400, seed=1)
    kept = dict(model._spn_compiled_queries.functions)
    assert ("sample_signal", False) in kept
    again, other = model.sample(400, seed=1), model.sample(400, seed=2)
    model.mpe(np.array([[0, -1], [1, -1]], np.int32), seed=3)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    functions = model._spn_compiled_queries.functions
    assert functions[("sample_signal", False)] is kept[("sample_signal", False)]
    assert ("mpe_signal", False) in functions
    # The draws are from the joint: 1,200 samples against p(x0, x1) = weight of 2 * x0 + x1.
    drawn = np.concatenate([first, other, model.sample(400, seed=4)]).astype(np.int64)
    frequencies = np.bincount(2 * drawn[:, 0] + drawn[:, 1], minlength=4) / len(drawn)
    np.testing.assert_allclose(frequencies, np.asarray(weights) / np.sum(weights), atol=0.05)


def test_zero_evidence_inference_runs_one_kept_graph_per_weighting():
    model = joint_table_spn(np.log([0.1, 0.2, 0.3, 0.4]))
    model.compile(loss=None)
    first = model.zero_evidence_inference(8, seed=1)
    kept = model._spn_compiled_queries.functions[(("reconstruction", True), False)]
    np.testing.assert_array_equal(model.zero_evidence_inference(8, seed=1), first)
    assert model._spn_compiled_queries.functions[(("reconstruction", True), False)] is kept
    model.infer_weighted_sum = False
    model.zero_evidence_inference(8, seed=1)
    assert (("reconstruction", False), False) in model._spn_compiled_queries.functions
