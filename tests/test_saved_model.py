"""SPN models exported as TensorFlow SavedModels (``model.export``, ``tf.saved_model.save``) serve what they predict.

The reference is brute force over the joint assignments of a tiny binary RAT-SPN (``reference.all_binary``): the
served log-probabilities of all assignments must sum to 1 and equal the model's own predictions, for every sum op,
the ones that draw routing choices in their backward pass included.
"""

import numpy as np
import pytest
import tensorflow as tf
from reference import all_binary
from tensorflow import keras

from libspn_keras import models, optimizers, sum_ops

SUM_OPS = {
    "em": "em",
    "grad": "grad",
    "hard_em": "hard_em",
    "hard_em_sample_prob": lambda: sum_ops.SumOpHardEMBackprop(sample_prob=0.5),
    "unweighted_hard_em": "unweighted_hard_em",
    "sample": "sample",
}


def trained_rat_spn(sum_op):
    keras.utils.set_random_seed(0)
    sum_op = sum_op() if callable(sum_op) else sum_op
    model = models.build_rat_spn(4, depth=1, num_decomps=2, num_input_distributions=2, num_sums=3, sum_op=sum_op)
    optimizer = keras.optimizers.Adam(0.05) if sum_op == "grad" else optimizers.OnlineExpectationMaximization(0.1)
    # What is exported or saved is the trained variables and the functions traced for serving, not the training step:
    # the ops train in graph mode here (one XLA compile fewer per test; em, grad and the hard EM ops train under the
    # default compile in test_em.py, test_keras_workflows.py and test_hard_em.py), but for sample, whose training
    # under XLA this test keeps in the core.
    model.compile(optimizer=optimizer, jit_compile="auto" if sum_op == "sample" else False)
    x = (np.random.default_rng(0).random((64, 4)) < 0.3).astype("int32")
    model.fit(x, epochs=2, batch_size=16, verbose=0)
    return model


def assert_serves_a_normalized_distribution(serve, model):
    joint = all_binary(4).astype("int32")
    # The model's own inference output, from an eager call: what predict gives, without a compile of a predict
    # function (3-5 s of the 22-25 s of a test here, measured on the loaded 2-core machine).
    expected = model(joint, training=False).numpy()
    served = np.asarray(serve(tf.constant(joint)))
    np.testing.assert_allclose(served, expected, atol=1e-5)
    np.testing.assert_allclose(np.exp(served.astype(np.float64)).sum(), 1.0, atol=1e-5)
    # Another batch size than the one traced first.
    np.testing.assert_allclose(np.asarray(serve(tf.constant(joint[:5]))), expected[:5], atol=1e-5)


# Every sum op runs in the core in one of the two tests below. Slow extras here: em and sample (saved in the core by
# test_a_trained_model_saves_with_tf_saved_model_save[em] and [sample], sample drawing its routing choices as
# hard_em_sample_prob does); hard_em_sample_prob (the hard_em op, exported in the core by [hard_em]).
EXPORT_SLOW = {"em", "sample", "hard_em_sample_prob"}


@pytest.mark.parametrize(
    "sum_op",
    [
        pytest.param(sum_op, marks=pytest.mark.slow, id=name) if name in EXPORT_SLOW else pytest.param(sum_op, id=name)
        for name, sum_op in SUM_OPS.items()
    ],
)
def test_a_trained_model_exports_and_serves_its_predictions(sum_op, tmp_path):
    model = trained_rat_spn(sum_op)
    model.export(str(tmp_path / "exported"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "exported"))  # kept: its functions read its variables
    assert_serves_a_normalized_distribution(loaded.serve, model)


# hard_em: slow extra, exported and served in the core by
# test_a_trained_model_exports_and_serves_its_predictions[hard_em].
@pytest.mark.parametrize("sum_op", ["em", pytest.param("hard_em", marks=pytest.mark.slow), "sample"])
def test_a_trained_model_saves_with_tf_saved_model_save(sum_op, tmp_path):
    # The sum layers' seed generators draw in training calls only: the traced inference functions, and the
    # gradient functions TensorFlow saves beside them, read no generator state it could not save.
    model = trained_rat_spn(SUM_OPS[sum_op])
    tf.saved_model.save(model, str(tmp_path / "saved"))
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    serving = loaded.signatures["serving_default"]
    (name,) = serving.structured_input_signature[1]

    def serve(x):
        (out,) = serving(**{name: x}).values()
        return out

    assert_serves_a_normalized_distribution(serve, model)
