"""The ``DenseSum`` -> ``ReduceProduct`` pair through the sum ops' ``weighted_sum_then_product``.

Every op computes it (the generic form on :class:`SumOpBase`); only ops that declare
``fuses_reductions`` get the pair handed to them by a model, and all agree with a numpy reference.
"""

import numpy as np
import pytest
from scipy.special import logsumexp

from libspn_keras import layers, sum_ops
from libspn_keras.models.sequential_sum_product_network import fusable_reduction
from libspn_keras.sum_ops.base import SumOpBase


def reference(x, accumulators, num_factors):
    """log of sum_j w_ij exp(x_j) per scope, with w the column-normalized linear accumulators, then products."""
    weights = accumulators / accumulators.sum(axis=-2, keepdims=True)  # [scopes, decomps, children, sums]
    sums = logsumexp(x[..., :, None] + np.log(weights)[None], axis=-2)  # [batch, scopes, decomps, sums]
    batch, scopes = sums.shape[:2]
    return sums.reshape(batch, scopes // num_factors, num_factors, *sums.shape[2:]).sum(axis=2)


@pytest.mark.parametrize("name", ["grad", "em"])
@pytest.mark.parametrize("num_factors", [1, 2, 4])
def test_sum_then_product_matches_numpy(name, num_factors):
    rng = np.random.default_rng(num_factors)
    x = rng.normal(scale=3.0, size=(5, 4, 2, 3)).astype("float32")
    accumulators = rng.uniform(0.1, 2.0, size=(4, 2, 3, 6)).astype("float32")
    op = sum_ops.get(name)
    got = op.weighted_sum_then_product(x, accumulators, False, num_factors)
    np.testing.assert_allclose(got.numpy(), reference(x, accumulators, num_factors), rtol=1e-5, atol=1e-5)
    logspace = op.weighted_sum_then_product(x, np.log(accumulators), True, num_factors)
    np.testing.assert_allclose(logspace.numpy(), reference(x, accumulators, num_factors), rtol=1e-5, atol=1e-5)


def test_only_ops_that_declare_it_fuse_reductions():
    assert SumOpBase.fuses_reductions is False
    declared = {name: sum_ops.get(name).fuses_reductions for name in ("grad", "em", "hard_em", "unweighted_hard_em")}
    assert declared == {"grad": False, "em": True, "hard_em": False, "unweighted_hard_em": False}
    product = layers.ReduceProduct(num_factors=2)
    assert fusable_reduction(layers.DenseSum(num_sums=2, sum_op="em", logspace_accumulators=False), product)
    assert not fusable_reduction(layers.DenseSum(num_sums=2, sum_op="grad"), product)
    assert not fusable_reduction(layers.DenseSum(num_sums=2, sum_op="em", logspace_accumulators=False), None)
