"""0.6.0's reconstruction on a model with class roots, and infer_weighted_sum surviving a config round trip.

The reconstruction back-propagates the SUM of the root outputs (0.6.0's rule, documented in
``libspn_keras.models.queries.signal.root_value``) and weighs the leaf modes by that signal normalized per input.
With class roots ``log w_k + log S_k(x)`` and no evidence, each class's leaf component then gets the same weight,
whatever ``w_k``: the reconstruction is the plain average of the component modes. Hand-derived reference.
"""

import numpy as np
from tensorflow import keras

from libspn_keras import layers, models

MEANS = [-1.0, 3.0]
CLASS_WEIGHTS = [0.9, 0.1]


def class_root_model(**model_kwargs):
    """One variable, two normal components, a root with one class per component (weights 0.9 and 0.1)."""
    model = models.SequentialSumProductNetwork(
        [
            layers.FlatToRegions(num_decomps=1),
            layers.NormalLeaf(
                num_components=2,
                location_initializer=keras.initializers.Constant(np.reshape(MEANS, (1, 1, 2, 1))),
                scale_initializer=keras.initializers.Constant(0.5),
            ),
            layers.RootSum(return_weighted_child_logits=True, logspace_accumulators=False, sum_op="grad"),
        ],
        **model_kwargs,
    )
    if model_kwargs.get("infer_no_evidence"):
        model([np.zeros((1, 1), np.float32), np.ones((1, 1), bool)])  # builds the layers on x
    else:
        model.build((None, 1))
    model.layers[-1].accumulators.assign(np.reshape(CLASS_WEIGHTS, (2, 1)).astype(np.float32))
    return model


def test_class_root_outputs_are_the_joint_logits():
    model = class_root_model()
    x = np.array([[0.5]], np.float32)
    log_normal = -0.5 * ((x[0, 0] - np.array(MEANS)) / 0.5) ** 2 - np.log(0.5 * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(model(x).numpy()[0], np.log(CLASS_WEIGHTS) + log_normal, rtol=1e-5)


def test_zero_evidence_inference_with_class_roots_averages_the_modes_of_every_class():
    model = class_root_model()
    # d(sum_k log w_k + log S_k)/d log S_k = 1 for each class: equal weights 1/2 after normalization.
    np.testing.assert_allclose(model.zero_evidence_inference(3), np.full((3, 1), np.mean(MEANS)), rtol=1e-5)


def test_infer_no_evidence_call_with_class_roots_averages_the_modes_of_every_class():
    model = class_root_model(infer_no_evidence=True)
    x = np.array([[7.0], [0.25]], np.float32)
    mask = np.array([[False], [True]])
    out = model([x, mask]).numpy()
    np.testing.assert_allclose(out, [[np.mean(MEANS)], [0.25]], rtol=1e-5)


def test_infer_weighted_sum_survives_a_config_round_trip():
    for weighted in (False, True):
        model = models.SequentialSumProductNetwork(
            [
                layers.FlatToRegions(num_decomps=1),
                layers.IndicatorLeaf(num_components=2),
                layers.DenseProduct(num_factors=2),
                layers.RootSum(return_weighted_child_logits=False),
            ],
            infer_no_evidence=True,
            infer_weighted_sum=weighted,
        )
        model.build((None, 2))
        restored = models.SequentialSumProductNetwork.from_config(model.get_config())
        assert restored.infer_no_evidence is True
        assert restored.infer_weighted_sum is weighted


def test_log_likelihood_of_a_class_root_model_marginalizes_the_class():
    model = class_root_model()
    x = np.array([[1.0], [0.9], [1.2]], np.float32)  # between the means: both classes matter
    log_normal = -0.5 * ((x - np.array(MEANS)) / 0.5) ** 2 - np.log(0.5 * np.sqrt(2 * np.pi))  # [3, classes]
    expected = np.log(np.sum(np.array(CLASS_WEIGHTS) * np.exp(log_normal), axis=1))  # log sum_k p(x, y = k)
    np.testing.assert_allclose(model.log_likelihood(x), expected, rtol=1e-5)
