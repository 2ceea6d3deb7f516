"""Weight files written by libspn-keras 0.6.0's ``save_weights`` load into the same models here and give 0.6.0's
numbers; ``save_weights``/``load_weights`` take 0.6.0's file names.

``tests/data/weights_060/`` was written by ``tests/side/weights_060.py`` under 0.6.0 (Keras 2, TF 2.21): per case
a Keras 2 HDF5 file, a TensorFlow checkpoint and 0.6.0's predictions. The variables were filled with values or
trained by 0.6.0's online EM (EM leaves with moment accumulators, random permutations, an adapted global
normalization).
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from tensorflow import keras

import libspn_keras as spnk
from libspn_keras import layers, models

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "weights_060"
sys.path.insert(0, str(HERE / "side"))
import weights_060  # noqa: E402

PREDICTIONS = json.loads((DATA / "predictions.json").read_text())


@pytest.fixture(autouse=True)
def _default_sum_op_restored():
    """The cases set the global default sum op, as 0.6.0 scripts do; later tests get the library's default back."""
    yield
    spnk.set_default_sum_op(None)


# A diagonal in the core: every model once and each file kind for half of them (dgc_trainable_scale,
# rat_em_leaves_trained and rat_indicator from checkpoints, the others from HDF5); the other kind of each is a slow
# extra.
CHECKPOINT_IN_CORE = {"dgc_trainable_scale", "rat_em_leaves_trained", "rat_indicator"}


@pytest.mark.parametrize(
    "name, kind",
    [
        pytest.param(
            name,
            kind,
            id=f"{name}-{kind}",
            marks=[] if (kind == "checkpoint") == (name in CHECKPOINT_IN_CORE) else [pytest.mark.slow],
        )
        for kind in ("h5", "checkpoint")
        for name in sorted(weights_060.CASES)
    ],
)
def test_0_6_0_weight_files_give_0_6_0_predictions(name, kind):
    model = weights_060.build(name)
    x = np.asarray(PREDICTIONS[name]["x"], dtype=weights_060.inputs(name).dtype)
    expected = np.asarray(PREDICTIONS[name]["predict"])
    before = model.predict(x, verbose=0)
    assert not np.allclose(before, expected, atol=1e-3)  # the fresh model's own values are not 0.6.0's
    if kind == "h5":
        assert model.load_weights(DATA / f"{name}.h5") is None
    else:
        model.load_weights(str(DATA / f"{name}_ckpt")).expect_partial()  # as 0.6.0 scripts call it
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("kind", ["h5", "checkpoint"])
def test_0_6_0_dynamic_spn_weight_files_give_0_6_0_values(kind):
    """0.6.0's dynamic SPN holds four networks; its checkpoint names them, its HDF5 file keeps one group each."""
    model = weights_060.dynamic_model()
    case = PREDICTIONS[weights_060.DYNAMIC]
    x, lengths = np.asarray(case["x"], np.int32), np.asarray(case["lengths"], np.int32)
    assert not np.allclose(model([x, lengths]).numpy(), case["predict"], atol=1e-3)
    name = weights_060.DYNAMIC + (".h5" if kind == "h5" else "_ckpt")
    model.load_weights(str(DATA / name))
    np.testing.assert_allclose(model([x, lengths]).numpy(), case["predict"], rtol=1e-5, atol=1e-5)


def test_em_leaf_statistics_hold_0_6_0_moments():
    """A leaf that 0.6.0 trained by EM: location and scale from its moment accumulators, read from the file."""
    import h5py

    model = weights_060.build("rat_em_leaves_trained")
    model.load_weights(DATA / "rat_em_leaves_trained.h5")
    leaf = next(layer for layer in model.layers if isinstance(layer, layers.NormalLeaf))
    with h5py.File(DATA / "rat_em_leaves_trained.h5") as file:
        names = [name.decode() if isinstance(name, bytes) else name for name in file.attrs["layer_names"]]
        group = file[next(name for name in names if name.startswith("normal_leaf"))]
        moments = {
            (key.decode() if isinstance(key, bytes) else key).split("/")[-1].split(":")[0]: np.asarray(group[key])
            for key in group.attrs["weight_names"]
        }
    location = moments["first_order_moment_num_accum"] / moments["first_order_moment_denom_accum"]
    squares = moments["second_order_moment_num_accum"] / moments["second_order_moment_denom_accum"]
    np.testing.assert_allclose(leaf.location_tensor().numpy().ravel(), location.ravel(), rtol=1e-5)
    np.testing.assert_allclose(leaf.scale_tensor().numpy().ravel(), np.sqrt(squares - location**2).ravel(), rtol=1e-4)
    assert not np.allclose(location, 0.0) and not np.allclose(moments["first_order_moment_denom_accum"], 1.0)


@pytest.mark.parametrize("filename", ["spn.h5", "checkpoints/spn", "spn.weights.h5"])
def test_weights_saved_under_0_6_0_names_load_back(tmp_path, filename):
    source = weights_060.build("rat_em_leaves_trained")
    source.load_weights(DATA / "rat_em_leaves_trained.h5")
    x = weights_060.inputs("rat_em_leaves_trained")
    path = tmp_path / filename
    source.save_weights(str(path))
    target = weights_060.build("rat_em_leaves_trained")
    # Eager calls: the values are the weights' (what is tested), without a predict function traced per model.
    expected = source(x).numpy()
    assert not np.allclose(target(x).numpy(), expected)
    target.load_weights(str(path))
    np.testing.assert_allclose(target(x).numpy(), expected, rtol=1e-6)
    for mine, theirs in zip(target.weights, source.weights):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


def test_a_keras_2_style_h5_written_here_loads_too(tmp_path):
    """``model.save("spn.h5")`` (Keras's legacy HDF5 format, with this library's names and shapes) loads back."""
    source = weights_060.build("rat_em_leaves_trained")
    source.load_weights(DATA / "rat_em_leaves_trained.h5")
    source.save(tmp_path / "spn.h5")
    target = weights_060.build("rat_em_leaves_trained")
    target.load_weights(tmp_path / "spn.h5")
    x = weights_060.inputs("rat_em_leaves_trained")
    np.testing.assert_allclose(target(x).numpy(), source(x).numpy(), rtol=1e-6)  # eager: no predict traced


def test_functional_model_loads_0_6_0_weights():
    sequential = weights_060.build("rat_indicator")
    inputs = keras.Input(sequential.inputs[0].shape[1:], dtype=sequential.inputs[0].dtype)
    outputs = inputs
    for layer in weights_060.CASES["rat_indicator"][1]():
        outputs = layer(outputs)
    functional = models.SumProductNetwork(inputs, outputs)
    functional.load_weights(str(DATA / "rat_indicator_ckpt"))
    x = np.asarray(PREDICTIONS["rat_indicator"]["x"], dtype=np.int32)
    np.testing.assert_allclose(functional.predict(x, verbose=0), PREDICTIONS["rat_indicator"]["predict"], rtol=1e-5)


def test_a_plain_keras_sequential_loads_them_with_load_060_weights():
    x = np.asarray(PREDICTIONS["dgc_trainable_scale"]["x"], dtype=np.float32)
    weights_060.build("dgc_trainable_scale")  # sets the case's sum op
    model = keras.Sequential(weights_060.CASES["dgc_trainable_scale"][1]())
    model(x[:1])
    models.load_060_weights(model, DATA / "dgc_trainable_scale.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), PREDICTIONS["dgc_trainable_scale"]["predict"], rtol=1e-5)
    with pytest.raises(ValueError, match="neither a TensorFlow checkpoint .* nor a Keras 2 HDF5 weight file"):
        models.load_060_weights(model, DATA / "predictions.json")


def test_a_file_of_another_model_is_refused_and_nothing_is_written():
    # 0.6.0 trained this leaf by EM (moment accumulators); built without use_accumulators it has location and scale.
    leaf = layers.NormalLeaf(num_components=2, scale_trainable=True)
    stack = weights_060.rat_layers(leaf, layers.PermuteAndPadScopesRandom(), "float32", normalize=True)
    model = weights_060.build("rat_em_leaves_trained", stack)
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(ValueError, match=r"NormalLeaf '.*': .* no value for its variable 'location' .*first_order"):
        model.load_weights(DATA / "rat_em_leaves_trained.h5")
    with pytest.raises(ValueError, match=r"holds variables of 10 layers and this network has 7 layers with variables"):
        model.load_weights(str(DATA / "dgc_trainable_scale_ckpt"))
    # Refused before anything was written: the normalization (first layer) was loadable from the first file.
    for value, variable in zip(before, model.weights):
        np.testing.assert_array_equal(variable.numpy(), value)
    with pytest.raises(ValueError, match="by the order of the layers"):
        model.load_weights(DATA / "rat_em_leaves_trained.h5", by_name=True)


def test_an_unbuilt_model_is_told_to_build_first():
    model = models.SequentialSumProductNetwork(
        [layers.FlatToRegions(num_decomps=1), layers.IndicatorLeaf(num_components=2), layers.RootSum()]
    )
    with pytest.raises(ValueError, match="build the model before loading 0.6.0 weights"):
        model.load_weights(str(DATA / "rat_indicator_ckpt"))


def test_save_weights_keeps_keras_overwrite_refusal(tmp_path):
    model = weights_060.build("rat_indicator")
    path = tmp_path / "spn.h5"
    model.save_weights(str(path))
    with pytest.raises(FileExistsError, match="overwrite=False"):
        model.save_weights(str(path), overwrite=False)


@pytest.mark.slow  # runs 0.6.0 (~15 s); skipped anyway without ../venv060
def test_files_written_by_0_6_0_now_load_as_the_committed_ones(tmp_path):
    """Regenerates tests/data/weights_060 under 0.6.0 (where ../venv060 exists) and loads the fresh files."""
    import subprocess

    from test_same_numbers_060 import ORIGINAL_PYTHON, skip_without_original

    skip_without_original()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    script = HERE / "side" / "weights_060.py"
    result = subprocess.run(
        [str(ORIGINAL_PYTHON), str(script), "original", str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    fresh = json.loads((tmp_path / "predictions.json").read_text())
    for name in weights_060.CASES:
        model = weights_060.build(name)
        x = np.asarray(fresh[name]["x"], dtype=weights_060.inputs(name).dtype)
        model.load_weights(str(tmp_path / f"{name}_ckpt"))
        np.testing.assert_allclose(model.predict(x, verbose=0), fresh[name]["predict"], rtol=1e-5, atol=1e-4)
    dynamic = weights_060.dynamic_model()
    case = fresh[weights_060.DYNAMIC]
    dynamic.load_weights(str(tmp_path / f"{weights_060.DYNAMIC}.h5"))
    inputs = [np.asarray(case["x"], np.int32), np.asarray(case["lengths"], np.int32)]
    np.testing.assert_allclose(dynamic(inputs).numpy(), case["predict"], rtol=1e-5, atol=1e-5)


def test_saving_over_a_0_6_0_checkpoint_replaces_it(tmp_path):
    """``save_weights("ckpt/spn")`` after loading 0.6.0's ``ckpt/spn``: the next load reads what was just saved."""
    import shutil

    for suffix in (".index", ".data-00000-of-00001"):
        shutil.copy(DATA / f"rat_indicator_ckpt{suffix}", tmp_path / f"spn{suffix}")
    model = weights_060.build("rat_indicator")
    model.load_weights(str(tmp_path / "spn"))
    for variable in model.weights:
        variable.assign(np.zeros(variable.shape, np.float32))  # uniform log-space weights
    model.save_weights(str(tmp_path / "spn"))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["spn"]
    reloaded = weights_060.build("rat_indicator")
    reloaded.load_weights(str(tmp_path / "spn"))
    for variable in reloaded.weights:
        np.testing.assert_array_equal(variable.numpy(), 0.0)
    with pytest.raises(ValueError, match="is a folder; pass a file name"):
        model.save_weights(str(tmp_path))


def test_sum_weights_of_the_other_space_are_refused():
    """0.6.0's files do not say whether sums were in log space; values only one space can hold are refused."""
    linear = weights_060.build("dgc_cauchy_linear", weights_060.dgc_layers(layers.CauchyLeaf(num_components=2), True))
    with pytest.raises(ValueError, match="normalized linear sum weights .* logspace_accumulators=False"):
        linear.load_weights(DATA / "dgc_cauchy_linear.h5")
    leaf = layers.NormalLeaf(num_components=2, scale_trainable=True)
    log_space = weights_060.build("dgc_trainable_scale", weights_060.dgc_layers(leaf, False))
    with pytest.raises(ValueError, match="negative sum weights .* logspace_accumulators=True"):
        log_space.load_weights(str(DATA / "dgc_trainable_scale_ckpt"))
