"""The library's warnings name the line of the user's code that led to them, not a line inside the library."""

import warnings

import numpy as np
from tensorflow import keras

from libspn_keras import layers, models, optimizers
from libspn_keras.user_warnings import warn


def _caught(action):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        action()
    return caught


def _library_warnings(caught, text):
    found = [warning for warning in caught if text in str(warning.message)]
    assert found, [str(warning.message) for warning in caught]
    return found


def test_a_layer_argument_warning_names_the_line_that_built_the_layer():
    caught = _caught(lambda: layers.NormalLeaf(num_components=2, dynamic=True))
    for warning in _library_warnings(caught, "dynamic=True is ignored"):
        assert warning.filename == __file__


def test_a_warning_raised_in_build_names_the_line_that_built_the_model():
    def build():
        product = layers.Conv2DProduct(
            num_channels=5, strides=[2, 2], dilations=[1, 1], kernel_size=[2, 2], depthwise=True
        )
        keras.Sequential([keras.Input((4, 4, 1)), layers.NormalLeaf(num_components=2), product])

    for warning in _library_warnings(_caught(build), "num_channels=5 is ignored"):
        assert warning.filename == __file__


def test_warnings_of_fit_and_of_the_optimizer_name_the_user_line():
    caught = _caught(lambda: optimizers.OnlineExpectationMaximization(0.1, clipnorm=1.0))
    for warning in _library_warnings(caught, "clip"):
        assert warning.filename == __file__
    model = models.build_rat_spn(4, depth=1, num_decomps=1, num_input_distributions=2, num_sums=2, num_classes=2)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    x = np.random.default_rng(0).integers(0, 2, size=(8, 4)).astype("int32")
    caught = _caught(lambda: model.fit(x, np.zeros(8, "int32"), epochs=1, verbose=0))
    for warning in _library_warnings(caught, "was compiled without a loss"):
        assert warning.filename == __file__


def test_warn_called_from_user_code_points_at_that_call():
    caught = _caught(lambda: warn("from the user's own code"))
    (warning,) = _library_warnings(caught, "from the user's own code")
    assert warning.filename == __file__
