"""Compiled region graphs on the node-major path: a fully marginalized network gives exactly log 1 = 0.

``renormalized_node_major`` subtracts the kernel's own value for an all-zero sample so that the float32 rounding
bias of each normalized sum cancels (see ``libspn_keras.math.stable.renormalized``). Without it, a marginalized
HCLT or random region graph gives about 1e-7 instead of 0.
"""

import numpy as np
import pytest
from tensorflow import keras

from libspn_keras import layers, models
from libspn_keras.region_graph import random_region_graph
from libspn_keras.structure.chow_liu import hclt_region_graph


@pytest.mark.parametrize("sum_op", ["grad", "em"])
@pytest.mark.parametrize("structure", ["random", "hclt"])
def test_fully_marginalized_compiled_region_graph_is_exactly_zero(sum_op, structure):
    keras.utils.set_random_seed(0)
    if structure == "random":
        roots, num_vars = random_region_graph(32, 4, 2, seed=0), 32
    else:
        parents = np.array([-1, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7])
        roots, num_vars = hclt_region_graph(parents), len(parents)
    model = models.compile_region_graph(roots, layers.IndicatorLeaf(2), num_sums=8, num_input_sums=8, sum_op=sum_op)
    missing = -np.ones((4, num_vars), dtype="int32")  # every variable marginalized: p = 1 exactly
    np.testing.assert_array_equal(model.predict(missing, verbose=0), np.zeros((4, 1), "float32"))
    np.testing.assert_array_equal(model.log_likelihood(missing), np.zeros(4, "float32"))
