"""0.6.0's reconstruction queries: ``infer_no_evidence`` models and ``zero_evidence_inference``.

References are brute force over the latent choices of the tiny two-level
model of ``test_em`` (numpy joint ``tiny_joint``), never the library's output.
"""

import warnings

import numpy as np
import pytest
from reference import all_binary
from tensorflow import keras
from test_em import normalize, random_tiny_accumulators, set_accumulators, tiny_joint, tiny_model

from libspn_keras import layers, models

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")


def built_tiny(sum_op, seed, **model_kwargs):
    acc = random_tiny_accumulators(np.random.default_rng(seed))
    model = tiny_model(sum_op, logspace=False, **model_kwargs)
    set_accumulators(model, acc)
    return model, acc


def posterior_of_leaf_choice(joint, var):
    """``P(decomposition r, category c of variable var's leaf | evidence)``: ``[N, R, 2]``."""
    axes = (2, 3, 4, 6) if var == 0 else (2, 3, 4, 5)
    marginal = joint.sum(axis=axes)
    return marginal / marginal.sum(axis=(1, 2), keepdims=True)


@pytest.mark.parametrize("weighted", [True, False])
def test_infer_no_evidence_call_reconstructs_unobserved_entries(weighted):
    model, acc = built_tiny("grad", 0, infer_no_evidence=True, infer_weighted_sum=weighted)
    x = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], np.int32)
    mask = np.array([[True, False], [False, True], [True, False], [False, False]])
    out = model([x, mask]).numpy()
    assert out.shape == (4, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out[mask], x[mask])
    evidence = np.where(mask, x, -1)
    joint = tiny_joint(evidence, acc)
    for var in (0, 1):
        post = posterior_of_leaf_choice(joint, var)  # [N, R, category]
        # Weighted: the categories' average under the posterior, E[x_var | evidence].
        # Unweighted: the category of the leaf component (of any decomposition) with the largest posterior.
        expected = post[:, :, 1].sum(axis=1) if weighted else post.reshape(len(x), -1).argmax(axis=1) % 2
        rows = ~mask[:, var]
        np.testing.assert_allclose(out[rows, var], expected[rows], atol=1e-5)
    assert model.get_config()["infer_no_evidence"] and model.get_config()["infer_weighted_sum"] == weighted


def test_infer_no_evidence_output_shape_is_that_of_x_symbolically_too():
    # A call on [x, evidence_mask] returns x's shape; compute_output_shape / _spec and symbolic calls on the pair
    # raised ("expects 1 named input(s)") while eager calls, predict and fit worked.
    model, _ = built_tiny("grad", 1, infer_no_evidence=True)
    x = np.array([[1, 0], [0, 1], [1, 1]], np.int32)
    eager = model([x, np.ones_like(x, bool)])
    assert model.compute_output_shape([(None, 2), (None, 2)]) == (None, 2)
    spec = model.compute_output_spec(
        [keras.KerasTensor((None, 2), dtype="int32"), keras.KerasTensor((None, 2), "bool")]
    )
    assert spec.shape == (None, 2) and spec.dtype == eager.dtype
    assert model([keras.Input((2,), dtype="int32"), keras.Input((2,), dtype="bool")]).shape == (None, 2)
    assert model.compute_output_shape((None, 2)) == (None, 1)  # a call on x alone gives log p(x)


def test_zero_evidence_inference_of_a_sampling_model_draws_from_the_distribution():
    model, acc = built_tiny("sample", 1)
    draws = model.zero_evidence_inference(20000, seed=3)
    assert draws.shape == (20000, 2)
    np.testing.assert_array_equal(model.zero_evidence_inference(20000, seed=3), draws)
    exact = tiny_joint(all_binary(2), acc).reshape(4, -1).sum(axis=1)
    codes = (draws[:, 0] + 2 * draws[:, 1]).astype(int)
    frequencies = np.bincount(codes, minlength=4) / len(draws)
    assert 0.5 * np.abs(frequencies - exact[[0, 1, 2, 3]]).sum() < 0.02
    assert len(np.unique(draws, axis=0)) > 1


def test_zero_evidence_inference_of_a_hard_em_model_follows_the_largest_weights():
    model, acc = built_tiny("hard_em", 2)
    w0, w1, w2 = (normalize(a) for a in acc)
    # No evidence: every child value is 1, so each sum on the path takes its largest weight.
    r, k = divmod(int(np.argmax(w2[:, 0])), 2)
    i, j = divmod(int(np.argmax(w1[0, r, :, k])), 2)
    expected = [int(np.argmax(w0[0, r, :, i])), int(np.argmax(w0[1, r, :, j]))]
    np.testing.assert_array_equal(model.zero_evidence_inference(5, seed=0), [expected] * 5)


def test_zero_evidence_inference_of_a_gradient_model_is_the_prior_mean():
    model, acc = built_tiny("grad", 4)
    joint = tiny_joint(np.full((1, 2), -1), acc)
    expected = [posterior_of_leaf_choice(joint, var)[0, :, 1].sum() for var in (0, 1)]
    np.testing.assert_allclose(model.zero_evidence_inference(3), [expected] * 3, atol=1e-5)


def continuous_model(**model_kwargs):
    keras.utils.set_random_seed(5)
    return models.SequentialSumProductNetwork(
        [
            keras.Input((4, 4, 1)),
            layers.NormalizeStandardScore(axes="global"),
            layers.NormalLeaf(num_components=3),
            layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, depthwise=True),
            layers.Local2DSum(num_sums=2),
            layers.Conv2DProduct(strides=2, dilations=1, kernel_size=2, depthwise=True),
            layers.SpatialToRegions(),
            layers.RootSum(return_weighted_child_logits=False),
        ],
        **model_kwargs,
    )


def test_fit_evaluate_predict_on_reconstructions():
    rng = np.random.default_rng(6)
    x = (rng.normal(size=(64, 4, 4, 1)) * 2.0 + 10.0).astype(np.float32)
    mask = rng.uniform(size=x.shape) < 0.5
    model = continuous_model(infer_no_evidence=True)
    model.layers[0].adapt(x)
    assert model.unsupervised is False
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    predicted = model.predict([x, mask], verbose=0)
    np.testing.assert_allclose(predicted[mask], x[mask], rtol=1e-6)
    assert np.all(np.isfinite(predicted))
    before = model.evaluate([x, mask], x, verbose=0)
    history = model.fit(x, mask, batch_size=32, epochs=4, verbose=0).history["loss"]
    after = model.evaluate([x, mask], x, verbose=0)
    assert history[-1] < history[0] and after < before, (history, before, after)
    # The density is still there: log_likelihood and sample work on the same model.
    assert model.log_likelihood(x[:3]).shape == (3,)
    assert model.sample(2, seed=0).shape == (2, 4, 4, 1)
    restored = models.SequentialSumProductNetwork.from_config(model.get_config())
    assert (restored.infer_no_evidence, restored.infer_weighted_sum, restored.unsupervised) == (True, True, False)


def reconstruction_model(x, jit_compile):
    model = continuous_model(infer_no_evidence=True)
    model.layers[0].adapt(x)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", jit_compile=jit_compile)
    return model


def test_reconstruction_training_weighs_entries_and_sample_weights():
    rng = np.random.default_rng(8)
    x = (rng.normal(size=(7, 4, 4, 1)) * 2.0 + 10.0).astype(np.float32)
    mask = rng.uniform(size=x.shape) < 0.5
    mask[3:6] = True  # the second batch of 3 has no unobserved entry
    model = reconstruction_model(x, jit_compile=False)
    start = model.get_weights()
    # The logged loss is Keras's mean of the batch losses weighed by samples; a batch without unobserved entries
    # adds 0, not NaN.
    losses, counts = [], []
    for begin in range(0, 7, 3):
        xb, mb = x[begin : begin + 3], mask[begin : begin + 3]
        hidden = ~mb
        prediction = model.predict([xb, mb], verbose=0)
        losses.append(np.mean((prediction[hidden] - xb[hidden]) ** 2) if hidden.any() else 0.0)
        counts.append(len(xb))
        model.train_on_batch(xb, mb)
    stepped = model.get_weights()
    model.set_weights(start)
    logged = model.fit(x, mask, batch_size=3, epochs=1, shuffle=False, verbose=0).history["loss"][0]
    np.testing.assert_allclose(logged, np.dot(losses, counts) / np.sum(counts), rtol=1e-5)
    for trained, expected in zip(model.get_weights(), stepped):
        np.testing.assert_allclose(trained, expected, rtol=1e-5, atol=1e-6)
    # Sample weights weigh the unobserved entries of their sample: weight 0 changes nothing, and weight 2 on
    # every sample of a batch doubles the SGD step of the unweighted loss.
    model.set_weights(start)
    model.fit(x, mask, sample_weight=np.zeros(7, np.float32), batch_size=7, epochs=1, verbose=0)
    for trained, expected in zip(model.get_weights(), start):
        np.testing.assert_array_equal(trained, expected)
    model.set_weights(start)
    model.fit(x, mask, sample_weight=np.full(7, 2.0, np.float32), batch_size=7, epochs=1, verbose=0)
    doubled = model.get_weights()
    model.set_weights(start)
    model.optimizer.learning_rate.assign(0.1)
    model.fit(x, mask, batch_size=7, epochs=1, verbose=0)
    for trained, expected in zip(doubled, model.get_weights()):
        np.testing.assert_allclose(trained, expected, rtol=1e-5, atol=1e-6)


def test_infer_no_evidence_arguments_are_checked():
    with pytest.raises(ValueError, match="unsupervised"):
        continuous_model(infer_no_evidence=True, unsupervised=True)
    with pytest.raises(ValueError, match="infer_no_evidence"):
        continuous_model(infer_no_evidence="yes")
    with pytest.raises(ValueError, match="infer_weighted_sum"):
        continuous_model(infer_weighted_sum=2)
    assert continuous_model().unsupervised is True
    assert continuous_model(infer_no_evidence=True).unsupervised is False


def test_reconstruction_training_names_its_form():
    rng = np.random.default_rng(8)
    x = (rng.normal(size=(8, 4, 4, 1)) + 10.0).astype(np.float32)
    mask = rng.uniform(size=x.shape) < 0.5
    model = reconstruction_model(x, jit_compile=False)
    weights = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"fit\(x, evidence_mask\).*Got fit\(\[x, evidence_mask\]"):
        model.fit([x, mask], x, verbose=0)
    with pytest.raises(ValueError, match="no evidence mask"):
        model.fit(x, verbose=0)
    with pytest.raises(ValueError, match=r"got x alone.*evaluate\(\[x, evidence_mask\], x\)"):
        model.evaluate(x, mask, verbose=0)
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)
    with pytest.raises(ValueError, match=r"validation_data: \(\[x_val, evidence_mask_val\], x_val\)"):
        model.fit(x, mask, validation_data=(x, mask), verbose=0)  # after the epoch's training steps
    assert np.isfinite(model.evaluate([x, mask], x, verbose=0))
    with warnings.catch_warnings():  # fit(x, evidence_mask) is this model's form: no warning about a mask as labels
        warnings.filterwarnings("error", message=".*as an evidence mask is")
        assert np.isfinite(model.fit(x, mask, verbose=0).history["loss"][0])
