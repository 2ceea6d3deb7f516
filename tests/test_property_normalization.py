"""Property-based: random small SPNs with random (extreme but valid) weights are normalized and finite.

Hypothesis draws RAT-SPN and spatial structures, a sum op, an accumulator
space and weights (log-accumulators spread up to +-100 with some at -1e4,
linear ones over up to 60 orders of magnitude). Every model is evaluated on
all binary inputs: each ``log p(x)`` must be finite (or ``-inf`` where the
structure gives an input probability 0), their sum 1, and a variable marked
missing (-1) must give the sum over its values.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import all_binary, np_logsumexp, sum_layers
from tensorflow import keras

from libspn_keras import layers, models

SUM_OPS = [("grad", True), ("grad", False), ("em", False), ("hard_em", False), ("sample", False)]
QUICK = settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck))
THOROUGH = settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@st.composite
def weights(draw):
    """How the accumulators are drawn: a spread, a share set to the smallest log-weight, and a seed."""
    return dict(
        spread=draw(st.sampled_from([0.01, 1.0, 10.0, 100.0])),
        tiny_share=draw(st.sampled_from([0.0, 0.3])),
        seed=draw(st.integers(0, 2**16)),
    )


def assign_weights(model, spec):
    rng = np.random.default_rng(spec["seed"])
    for layer in sum_layers(model):
        shape = tuple(layer.accumulators.shape)
        log_values = rng.normal(scale=spec["spread"], size=shape)
        if layer.logspace_accumulators:
            log_values[rng.random(shape) < spec["tiny_share"]] = -1e4
            layer.accumulators.assign(log_values.astype(np.float32))
        else:
            # Linear accumulators span up to 60 orders of magnitude: from 1e-30 to 1e30.
            layer.accumulators.assign(np.exp(np.clip(log_values, -69.0, 69.0)).astype(np.float32))


def check_distribution(model, num_vars, shape, rng, full_support=True):
    x = all_binary(num_vars)
    log_p = model(x.reshape((-1, *shape))).numpy().astype(np.float64)
    log_p = np_logsumexp(log_p, axis=1) if log_p.shape[1] > 1 else log_p[:, 0]
    assert not np.any(np.isnan(log_p)) and np.all(log_p < np.inf), log_p
    if full_support:
        assert np.all(np.isfinite(log_p)), log_p
    assert abs(np_logsumexp(log_p)) < 2e-5, f"sum over all inputs is exp({np_logsumexp(log_p)})"
    # Marginalizing a variable (-1) gives the sum over its two values.
    variable = int(rng.integers(num_vars))
    rows = x[x[:, variable] == 0]
    marked = rows.copy()
    marked[:, variable] = -1
    marginal = model(marked.reshape((-1, *shape))).numpy().astype(np.float64)
    marginal = np_logsumexp(marginal, axis=1) if marginal.shape[1] > 1 else marginal[:, 0]
    other = log_p[x[:, variable] == 1]
    # rtol: a log-probability near -1e4 (weights of e^-10000) is only resolved to float32's 1e-3 there.
    np.testing.assert_allclose(marginal, np.logaddexp(log_p[x[:, variable] == 0], other), rtol=5e-7, atol=2e-5)


@st.composite
def rat_spn_configs(draw):
    num_vars = draw(st.integers(2, 6))
    max_depth = int(np.floor(np.log2(2 * num_vars)))
    return dict(
        num_vars=num_vars,
        depth=draw(st.integers(1, max_depth)),
        num_decomps=draw(st.integers(1, 3)),
        num_input_distributions=draw(st.integers(1, 3)),
        num_sums=draw(st.integers(1, 3)),
        num_classes=draw(st.sampled_from([None, 2])),
        sum_op=draw(st.sampled_from(SUM_OPS)),
        weights=draw(weights()),
    )


def check_rat_spn(config):
    sum_op, logspace = config["sum_op"]
    keras.utils.set_random_seed(config["weights"]["seed"])
    model = models.build_rat_spn(
        num_vars=config["num_vars"],
        depth=config["depth"],
        num_decomps=config["num_decomps"],
        num_input_distributions=config["num_input_distributions"],
        num_sums=config["num_sums"],
        num_classes=config["num_classes"],
        sum_op=sum_op,
        logspace_accumulators=logspace,
    )
    assign_weights(model, config["weights"])
    check_distribution(model, config["num_vars"], (config["num_vars"],), np.random.default_rng(0))


@st.composite
def spatial_configs(draw):
    rows, cols = draw(st.sampled_from([(1, 2), (2, 1), (2, 2), (1, 4), (2, 4), (4, 2)]))
    levels = []
    size, channels = [rows, cols], 2
    while size != [1, 1]:
        kernel = [2 if s > 1 else 1 for s in size]
        level = dict(
            kernel=kernel, sum=draw(st.sampled_from(["local", "conv", "none"])), num_sums=draw(st.integers(1, 3))
        )
        level["product"] = draw(st.sampled_from(["depthwise", "all", "subset"]))
        channels = level["num_sums"] if level["sum"] != "none" else channels
        combinations = channels ** (kernel[0] * kernel[1])
        if level["product"] == "all":
            channels = combinations
        elif level["product"] == "subset":
            channels = level["num_channels"] = draw(st.integers(1, min(combinations, 4)))
        levels.append(level)
        size = [s // k for s, k in zip(size, kernel)]
    # A depthwise product, or a subset of channel combinations, before any sum gives some inputs probability 0:
    # still a distribution, but without full support.
    full_support, summed = True, False
    for level in levels:
        summed = summed or level["sum"] != "none"
        full_support = full_support and (summed or level["product"] == "all")
    return dict(
        shape=(rows, cols, 1),
        levels=levels,
        top_sums=draw(st.sampled_from([None, 2])),
        sum_op=draw(st.sampled_from(SUM_OPS)),
        weights=draw(weights()),
        full_support=full_support,
    )


def spatial_stack(config):
    sum_op, logspace = config["sum_op"]
    s = dict(sum_op=sum_op, logspace_accumulators=logspace)
    stack = [keras.Input(config["shape"]), layers.IndicatorLeaf(num_components=2)]
    for index, level in enumerate(config["levels"]):
        if level["sum"] == "local":
            stack.append(layers.Local2DSum(num_sums=level["num_sums"], **s))
        elif level["sum"] == "conv":
            stack.append(layers.Conv2DSum(num_sums=level["num_sums"], **s))
        product = dict(kernel_size=level["kernel"], strides=level["kernel"], dilations=1)
        if level["product"] == "depthwise":
            stack.append(layers.Conv2DProduct(depthwise=True, **product))
        elif level["product"] == "subset":
            stack.append(layers.Conv2DProduct(num_channels=level["num_channels"], seed=index, **product))
        else:
            stack.append(layers.Conv2DProduct(**product))
    stack.append(layers.SpatialToRegions())
    if config["top_sums"] is not None:
        stack.append(layers.DenseSum(num_sums=config["top_sums"], **s))
    stack.append(layers.RootSum(return_weighted_child_logits=False, **s))
    return stack


def check_spatial(config):
    keras.utils.set_random_seed(config["weights"]["seed"])
    model = models.SequentialSumProductNetwork(spatial_stack(config))
    assign_weights(model, config["weights"])
    rows, cols, _ = config["shape"]
    check_distribution(model, rows * cols, config["shape"], np.random.default_rng(1), config["full_support"])


@QUICK
@given(rat_spn_configs())
def test_random_rat_spns_are_normalized(config):
    check_rat_spn(config)


@QUICK
@given(spatial_configs())
def test_random_spatial_spns_are_normalized(config):
    check_spatial(config)


@pytest.mark.slow
@THOROUGH
@given(rat_spn_configs())
def test_random_rat_spns_are_normalized_thoroughly(config):
    check_rat_spn(config)


@pytest.mark.slow
@THOROUGH
@given(spatial_configs())
def test_random_spatial_spns_are_normalized_thoroughly(config):
    check_spatial(config)
