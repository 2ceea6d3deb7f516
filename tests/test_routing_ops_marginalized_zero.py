"""Routing sum ops (hard EM, sampling) compute the exact sums, renormalized: a marginalized network gives exactly 0.

``routed_sum``'s default forward subtracts the kernel's value for an all-zero sample (``renormalized``), as the
other ops do; without it a RAT-SPN under hard EM gives about -6e-8 for ``log p(nothing observed)`` instead of 0.
"""

import numpy as np
import pytest
from tensorflow import keras

from libspn_keras import models


@pytest.mark.parametrize("sum_op", ["hard_em", "unweighted_hard_em", "sample"])
def test_fully_marginalized_rat_spn_is_exactly_zero_under_routing_ops(sum_op):
    keras.utils.set_random_seed(0)
    model = models.build_rat_spn(
        num_vars=8, depth=2, num_decomps=2, num_input_distributions=3, num_sums=3, sum_op=sum_op
    )
    model.build((None, 8))
    missing = -np.ones((3, 8), "int32")
    np.testing.assert_array_equal(model.predict(missing, verbose=0), np.zeros((3, 1), "float32"))
