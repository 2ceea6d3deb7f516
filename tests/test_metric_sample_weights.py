"""LogJoint and LogLikelihood metrics weigh samples by ``sample_weight`` (NumPy references)."""

import numpy as np

from libspn_keras import metrics


def _root_outputs():
    rng = np.random.default_rng(0)
    y_pred = rng.normal(-3.0, 1.0, size=(5, 3)).astype("float32")  # class-root logits log p(x, y)
    y_true = np.array([0, 2, 1, 1, 0])
    return y_true, y_pred


def test_log_joint_metric_weighs_samples():
    y_true, y_pred = _root_outputs()
    weights = np.array([1.0, 0.0, 3.0, 0.5, 2.0])
    joint = metrics.LogJoint()
    joint.update_state(y_true, y_pred, sample_weight=weights)
    per_sample = y_pred[np.arange(5), y_true].astype(np.float64)
    np.testing.assert_allclose(joint.result().numpy(), np.sum(per_sample * weights) / weights.sum(), rtol=1e-5)


def test_log_likelihood_metric_weighs_samples():
    y_true, y_pred = _root_outputs()
    weights = np.array([0.0, 2.0, 1.0, 1.0, 4.0])
    llh = metrics.LogLikelihood()
    llh.update_state(y_true, y_pred, sample_weight=weights)
    per_sample = np.logaddexp.reduce(y_pred.astype(np.float64), axis=1)
    np.testing.assert_allclose(llh.result().numpy(), np.sum(per_sample * weights) / weights.sum(), rtol=1e-5)
