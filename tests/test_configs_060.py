"""Architectures serialized by libspn-keras 0.6.0 (``model.to_json()`` under Keras 2) load here unchanged: with
0.6.0's weight files they give 0.6.0's predictions.

``tests/data/configs_060/`` was written by ``tests/side/configs_060.py`` under 0.6.0, from the cases whose weights
and predictions ``tests/data/weights_060/`` holds (see ``tests/test_weight_files_060.py``).
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from tensorflow import keras

import libspn_keras as spnk
from libspn_keras import layers, models
from libspn_keras.legacy_configs import objects_060

HERE = Path(__file__).resolve().parent
CONFIGS = HERE / "data" / "configs_060"
WEIGHTS = HERE / "data" / "weights_060"
sys.path.insert(0, str(HERE / "side"))
import weights_060  # noqa: E402

PREDICTIONS = json.loads((WEIGHTS / "predictions.json").read_text())
CASES = sorted(path.stem for path in CONFIGS.glob("*.json"))


def test_every_case_0_6_0_could_serialize_is_here():
    # 0.6.0's PermuteAndPadScopesRandom.get_config fails, so the cases with random permutations have no config.
    assert CASES == sorted(name for name in weights_060.CASES if "trained" not in name)


@pytest.mark.parametrize("name", CASES)
def test_a_0_6_0_model_json_loads_and_gives_0_6_0_predictions_with_its_weights(name):
    model = keras.models.model_from_json((CONFIGS / f"{name}.json").read_text(), custom_objects=objects_060())
    assert isinstance(model, models.SequentialSumProductNetwork)
    built_here = weights_060.build(name)
    assert [type(layer) for layer in model.layers] == [type(layer) for layer in built_here.layers]
    assert [w.shape for w in model.weights] == [w.shape for w in built_here.weights]
    x = np.asarray(PREDICTIONS[name]["x"], dtype=weights_060.inputs(name).dtype)
    model.load_weights(WEIGHTS / f"{name}.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), PREDICTIONS[name]["predict"], rtol=1e-5, atol=1e-4)
    # The nested objects are the library's: 0.6.0's default constraints and initializers, by their bare names.
    sums = [layer for layer in model.layers if isinstance(layer, layers.DenseSum)]
    assert sums and all(
        isinstance(layer.linear_accumulator_constraint, spnk.constraints.GreaterEqualEpsilonNormalized)
        for layer in sums
    )
    assert all(isinstance(layer.accumulator_initializer, spnk.initializers.Dirichlet) for layer in sums)


class Clip(keras.constraints.Constraint):
    """A user's own constraint that shares its bare name with the library's ``Clip``."""

    def __init__(self, lo):
        self.lo = lo

    def __call__(self, w):
        return keras.ops.maximum(w, self.lo)

    def get_config(self):
        return {"lo": self.lo}


def test_the_bare_names_of_0_6_0_do_not_shadow_a_users_own_classes(tmp_path):
    # Keras gives globally registered names precedence over custom_objects: 0.6.0's bare names stay out of them.
    assert "Clip" not in keras.utils.get_custom_objects() and "DenseSum" not in keras.utils.get_custom_objects()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_constraint=Clip(0.25))])
    model.save(tmp_path / "user.keras")
    loaded = keras.models.load_model(tmp_path / "user.keras", custom_objects={"Clip": Clip})
    constraint = loaded.layers[0].kernel_constraint
    assert type(constraint) is Clip and constraint.lo == 0.25
    assert objects_060()["Clip"] is spnk.constraints.Clip


@pytest.fixture(autouse=True)
def _default_sum_op_restored():
    yield
    spnk.set_default_sum_op(None)
