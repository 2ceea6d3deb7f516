"""Checks of data and arguments of the Chow-Liu, HCLT region graph and pruning functions."""

import numpy as np
import pytest

from libspn_keras import layers, models
from libspn_keras.structure import (
    categorical_mutual_information,
    chow_liu_tree,
    hclt_region_graph,
    poon_domingos_region_graph,
    prune_partitions,
)


def test_non_integer_categorical_data_is_refused():
    data = np.random.default_rng(0).random((20, 3))
    with pytest.raises(ValueError, match="categorical_mutual_information.*integer categories"):
        chow_liu_tree(data)
    with pytest.raises(ValueError, match="integer categories"):
        models.build_hclt(data, num_latents=2, data_type="categorical")
    # Integer-valued floats and booleans are categories.
    assert len(chow_liu_tree(np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]))) == 2
    assert len(chow_liu_tree(np.array([[True, False], [False, True], [True, True]]))) == 2


def test_num_categories_must_be_a_positive_int():
    with pytest.raises(ValueError, match="categorical_mutual_information: num_categories"):
        categorical_mutual_information(np.array([[0, 1], [1, 0]]), num_categories=2.5)


@pytest.mark.parametrize("parents", [[-1, 5], [-1, 0, 1.5], [-2, 0]])
def test_hclt_region_graph_refuses_parents_out_of_range(parents):
    with pytest.raises(ValueError, match="hclt_region_graph: parents"):
        hclt_region_graph(parents)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"threshold": -0.1}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": "a"}, "threshold"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_prune_partitions_checks_its_arguments(kwargs, match):
    model = models.compile_region_graph(
        poon_domingos_region_graph(2, 2, 1), layers.IndicatorLeaf(2), num_sums=2, num_input_sums=2, input_dtype="int32"
    )
    data = np.random.default_rng(0).integers(0, 2, (8, 4)).astype(np.int32)
    with pytest.raises(ValueError, match=f"prune_partitions: {match}"):
        prune_partitions(model, data, **kwargs)
