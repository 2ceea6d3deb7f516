"""Queries refuse evidence masks holding values other than booleans or 0 / 1 (``missing_mask``)."""

import numpy as np
import pytest

from libspn_keras import layers, models


def binary_model():
    model = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseProduct(num_factors=2),
            layers.RootSum(return_weighted_child_logits=False),
        ]
    )
    model.build((None, 2))
    root = model.layers[-1]
    uniform = np.zeros if root.logspace_accumulators else np.ones  # equal weights on the four products
    root.accumulators.assign(uniform(root.accumulators.shape, np.float32))
    return model


X = np.array([[0, 1], [1, 1]], np.int32)


@pytest.mark.parametrize("mask", [np.array([[2, 1], [1, 0]]), np.array([[0.5, 1.0], [1.0, 0.0]])])
@pytest.mark.parametrize("query", ["log_likelihood", "complete"])
def test_evidence_mask_other_than_0_and_1_is_refused(mask, query):
    model = binary_model()
    with pytest.raises(ValueError, match="evidence_mask must be boolean"):
        getattr(model, query)(X, evidence_mask=mask)


@pytest.mark.parametrize("mask", [np.array([[True, False], [True, True]]), np.array([[1, 0], [1, 1]])])
def test_boolean_and_0_1_masks_agree(mask):
    model = binary_model()
    # p(x0, x1) = 1/4 for every pair: the first sample observes x0 only (p = 1/2), the second both (p = 1/4).
    np.testing.assert_allclose(model.log_likelihood(X, evidence_mask=mask), [np.log(0.5), np.log(0.25)], rtol=1e-5)
