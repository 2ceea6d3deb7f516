"""Guards against misuse found in review: each test pins one behaviour that used to go wrong silently."""

import math

import numpy as np
import pytest
import tensorflow as tf
from reference import all_binary, np_logsumexp
from tensorflow import keras

from libspn_keras import layers, models, optimizers


def test_undecompose_validates_its_argument():
    with pytest.raises(ValueError, match="num_decomps"):
        layers.Undecompose(num_decomps=0)


