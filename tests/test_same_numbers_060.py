"""This library gives libspn-keras 0.6.0's numbers: the same scripts run under both, side by side.

``side/em_steps.py``: two online-EM steps on a small SPN. ``side/forward_values.py``: the
output of every layer, log-likelihoods, marginals and 0.6.0's ``infer_no_evidence`` queries of
DGC-SPN and RAT-SPN-like stacks built from every layer the two libraries share, with the same
values in every variable.

Runs only where a virtual environment with 0.6.0 sits beside the checkout (``../venv060``, see
``../shared/ANCHORS.md``); skipped elsewhere, e.g. in CI.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ORIGINAL_PYTHON = HERE.parents[1] / "venv060" / "bin" / "python"


def run_side(python, library, *arguments, script="em_steps.py"):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # each side its own library
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run(
        [str(python), str(HERE / "side" / script), library, *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])  # 0.6.0 may print progress bars before it


def skip_without_original():
    probe = "import os; os.environ['TF_USE_LEGACY_KERAS'] = '1'; import libspn_keras"
    if not ORIGINAL_PYTHON.exists() or subprocess.run([str(ORIGINAL_PYTHON), "-I", "-c", probe]).returncode:
        pytest.skip("no virtual environment with libspn-keras 0.6.0 beside the checkout")


def run_both(*arguments, script="em_steps.py"):
    """``(0.6.0's result, this library's)`` of ``side/script``; skips without ../venv060."""
    skip_without_original()
    original = run_side(ORIGINAL_PYTHON, "original", *arguments, script=script)
    return original, run_side(sys.executable, "ours", *arguments, script=script)


@pytest.mark.slow  # two processes per case (~30 s); skipped anyway without ../venv060
@pytest.mark.parametrize("sum_op", ["em", "hard_em"])
def test_online_em_steps_match_the_original(sum_op):
    original, ours = run_both(sum_op)
    assert original.keys() == ours.keys() and len(ours) == 4
    for name, value in original.items():
        np.testing.assert_allclose(ours[name], value, atol=2e-6, err_msg=name)


# --- forward values and queries (side/forward_values.py) -------------------------------------------------------

FORWARD_CASES = [
    "dgc_normal_local2d",  # README's DGC-SPN: depthwise valid/full/final products, Local2DSum, class roots
    "dgc_normal_root_sum",  # the same with a plain root (return_weighted_child_logits=False)
    "dgc_cauchy_conv2d",  # CauchyLeaf, Conv2DSum
    "dgc_laplace_hard_em",  # LaplaceLeaf, linear accumulators, hard EM: 0.6.0's MPE-like completion
    "dgc_normal_em_normalized",  # NormalizeStandardScore in front, soft EM, Conv2DSum
    "dgc_all_combinations",  # non-depthwise products over every channel combination
    "rat_indicator",  # FlatToRegions, IndicatorLeaf, PermuteAndPadScopes, ReduceProduct, DenseProduct, Undecompose
    "rat_indicator_hard_em",
    "rat_normal_em",  # NormalLeaf on regions, LogDropout at inference
]
TOLERANCE = dict(rtol=1e-5, atol=1e-5)  # float32 log-values; -inf must match exactly
# Variables are listed by [layer index, layer class, name, size, trainable]; names differ as documented
# (docs/guide/migration.md, "Variable names"), shapes by leading axes of size 1 ("Variable shapes").
ORIGINAL_VARIABLE_NAMES = {"sum_weights": "accumulators", "onehot_kernel": "kernel"}
# 0.6.0's infer_no_evidence models only run where the evidence mask broadcasts against the leaf output:
# images ([batch, rows, cols, 1] against [batch, rows, cols, components]). On regions, a mask shaped like the
# input ([batch, vars]) meets a leaf output [batch, vars, decomps, components] in tf.where and raises.
ORIGINAL_QUERIES_FAIL_ON_REGIONS = ("complete", "complete_argmax", "zero_evidence")
# A sample-wise NormalizeStandardScore in 0.6.0 computes each sample's mean and std over all of its entries,
# the hidden ones included, so its completions depend on the values they are meant to infer. This library
# uses the observed entries only. With the hidden entries set to values that leave the statistics unchanged
# (complete_stats_preserving) the two completions agree; on other values they differ, 0.6.0 being the one
# that reads what it should not.
NORMALIZED_COMPLETIONS = ("complete", "complete_argmax")
NORMALIZED_CASES = ("dgc_normal_em_normalized", "dgc_all_combinations")


@pytest.fixture(scope="module")
def forward_values():
    return run_both(script="forward_values.py")


def assert_same(ours, original, name):
    assert not isinstance(original, dict), f"{name}: 0.6.0 raised {original}"
    assert not isinstance(ours, dict), f"{name}: this library raised {ours}"
    ours, original = np.asarray(ours, dtype=np.float64), np.asarray(original, dtype=np.float64)
    assert ours.shape == original.shape, name
    np.testing.assert_array_equal(np.isneginf(ours), np.isneginf(original), err_msg=name)
    np.testing.assert_allclose(ours, original, **TOLERANCE, err_msg=name)


def logsumexp(values, axis):
    top = np.max(values, axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.sum(np.exp(values - top), axis=axis))


@pytest.mark.slow  # one process per library for all cases (~25 s + ~35 s); skipped anyway without ../venv060
@pytest.mark.parametrize("case", FORWARD_CASES)
def test_forward_values_and_queries_match_the_original(forward_values, case):
    original, ours = (side[case] for side in forward_values)
    renamed = [
        [i, cls, ORIGINAL_VARIABLE_NAMES.get(name, name), *rest] for i, cls, name, *rest in original["variables"]
    ]
    assert ours["variables"] == renamed  # same variables, same order, same sizes: 0.6.0 weights transfer
    assert {"layer_0", "model", "masked", "complete", "complete_argmax", "zero_evidence"} <= original.keys()
    for key, value in original.items():
        if key == "variables":
            continue
        if case.startswith("rat_") and key in ORIGINAL_QUERIES_FAIL_ON_REGIONS:
            assert "tf.Tensor(shape=(None, 7), dtype=bool)" in value["error"], value
            assert not isinstance(ours[key], dict), ours[key]  # this library answers them
            continue
        if case in NORMALIZED_CASES and key in NORMALIZED_COMPLETIONS:
            continue  # see NORMALIZED_COMPLETIONS; complete_stats_preserving is compared instead
        assert_same(ours[key], value, key)
    # This library's own queries against 0.6.0's marginalization (leaf outputs set to 0 where unobserved);
    # with a normalization in front, on inputs whose hidden entries leave its statistics unchanged.
    masked = original["masked_stats_preserving" if case in NORMALIZED_CASES else "masked"]
    assert_same(ours["api_marked"], masked, "NaN / -1 marked inputs")
    assert_same(ours["api_log_likelihood"], logsumexp(np.asarray(masked), axis=1), "log_likelihood")
    if not isinstance(original["zero_evidence"], dict):
        assert_same(ours["api_zero_evidence"], original["zero_evidence"], "zero_evidence_inference")


@pytest.mark.slow
def test_temporal_dense_product_and_global_normalization_match_the_original(forward_values):
    for side in forward_values:
        assert not any(isinstance(value, dict) for value in side["normalize_global"].values())
    original, ours = forward_values
    assert_same(ours["temporal_dense_product"]["layer_0"], original["temporal_dense_product"]["layer_0"], "temporal")
    assert_same(ours["normalize_global"]["layer_0"], original["normalize_global"]["layer_0"], "global")


@pytest.mark.slow
def test_undecompose_by_default_matches_the_original(forward_values):
    original, ours = (side["undecompose"] for side in forward_values)
    assert_same(ours["default"], original["default"], "Undecompose()")


@pytest.mark.slow
def test_undecompose_num_decomps_means_what_it_meant_in_the_original(forward_values):
    original, ours = (side["undecompose"] for side in forward_values)
    for key in ("num_decomps_1", "num_decomps_2"):
        assert_same(ours[key], original[key], key)


@pytest.mark.slow
def test_all_combination_products_take_the_original_channel_order(forward_values):
    original, ours = (side["dgc_all_combinations"] for side in forward_values)
    assert_same(ours["model_with_original_kernels"], original["model"], "0.6.0's kernels loaded")
    for key in ("kernel_2", "layer_2", "model", "masked", "complete_stats_preserving", "zero_evidence"):
        assert_same(ours[key], original[key], key)


@pytest.mark.slow
def test_temporal_dense_product_takes_several_scopes_as_the_original(forward_values):
    original, ours = (side["temporal_dense_product"] for side in forward_values)
    assert_same(ours["several_scopes"], original["several_scopes"], "several scopes")


@pytest.mark.slow  # two processes; skipped anyway without ../venv060
def test_random_structures_are_drawn_as_in_060():
    """After np.random.seed, Conv2DProduct channel subsets and PermuteAndPadScopesRandom permutations are 0.6.0's."""
    original, ours = run_both(script="random_structures.py")
    assert original.keys() == ours.keys() and len(ours) == 12
    for name, value in original.items():
        np.testing.assert_allclose(ours[name], value, rtol=1e-6, atol=1e-6, err_msg=name)
