"""Checks of data and arguments of the Chow-Liu, HCLT region graph and pruning functions."""

import numpy as np
import pytest

from libspn_keras import layers, models
from libspn_keras.region_graph import RegionNode, RegionVariable
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


@pytest.mark.parametrize(
    ("data", "kwargs", "match"),
    [
        (np.zeros((10, 1), np.int32), {}, "at least 2 of each"),
        (np.zeros((1, 4), np.int32), {}, "at least 2 of each"),
        (np.where(np.eye(4, dtype=bool), np.nan, 1.0), {}, "complete"),
        (np.where(np.eye(4, dtype=bool), np.nan, 1.0), {"data_type": "categorical"}, "complete"),
        (np.full((4, 3), 0.5), {"data_type": "categorical"}, "integer categories"),
    ],
)
def test_build_hclt_names_itself_for_bad_data(data, kwargs, match):
    with pytest.raises(ValueError, match=f"build_hclt: .*{match}"):
        models.build_hclt(data, num_latents=2, **kwargs)


def test_build_hclt_reads_integer_valued_floats_as_categories_and_others_as_gaussian():
    rng = np.random.default_rng(0)
    categorical = models.build_hclt(rng.integers(0, 3, (30, 4)).astype("float64"), num_latents=2)
    gaussian = models.build_hclt(rng.normal(size=(30, 4)), num_latents=2)
    assert any(isinstance(layer, layers.IndicatorLeaf) for layer in categorical.layers)
    assert any(isinstance(layer, layers.NormalLeaf) for layer in gaussian.layers)


def _two_pairs():
    pair = lambda first: RegionNode([RegionVariable(first), RegionVariable(first + 1)])  # noqa: E731
    return RegionNode([pair(0), pair(2)])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_classes": 0}, "num_classes must be an int >= 1"),
        ({"input_dims": 0}, "input_dims must be an int >= 1"),
        ({"input_dims": True}, "input_dims must be an int"),
        ({"input_dims": "2"}, "input_dims must be an int"),
        ({"num_sums": 0}, "num_sums must be an int >= 1"),
        ({"num_input_sums": 0}, "num_input_sums must be an int >= 1"),
        ({"leaf": layers.DenseSum(num_sums=2)}, "leaf must be a leaf layer"),
    ],
)
def test_compile_region_graph_checks_its_arguments(kwargs, match):
    # num_classes=0 gave a one-class classifier, input_dims=0 an input of shape (None, 4, 0), and a DenseSum as leaf
    # a model predicting log p(x) > 0; others failed in TensorFlow or named an inner layer.
    arguments = {"leaf": layers.NormalLeaf(num_components=2), "num_sums": 2, **kwargs}
    with pytest.raises(ValueError, match=f"compile_region_graph: {match}"):
        models.compile_region_graph(_two_pairs(), **arguments)


def test_region_graph_to_dense_spn_refuses_a_sum_as_leaf():
    with pytest.raises(ValueError, match="region_graph_to_dense_spn: leaf must be a leaf layer"):
        models.region_graph_to_dense_spn(_two_pairs(), leaf=layers.DenseSum(num_sums=2), num_sums_iterable=[2])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mutual_information_pseudocount": float("nan")}, "mutual_information_pseudocount must be a finite number"),
        ({"seed": "1"}, "seed must be an int"),
        ({"seed": 1.5}, "seed must be an int"),
    ],
)
def test_build_hclt_checks_its_arguments(kwargs, match):
    data = np.random.default_rng(0).integers(0, 2, size=(20, 4))
    with pytest.raises(ValueError, match=f"build_hclt: {match}"):
        models.build_hclt(data, num_latents=2, **kwargs)


def test_dynamic_spn_sum_kwargs_must_be_a_dict():
    with pytest.raises(ValueError, match="sum_kwargs must be a dict"):
        models.DynamicSumProductNetwork(layers.DenseSum(num_sums=2), num_interface_sums=2, sum_kwargs="abc")


def test_dynamic_spn_names_itself_and_sum_kwargs_when_its_sums_refuse_them():
    # The interface and root sums are the model's own layers: their names would not tell the user what to change.
    with pytest.raises(
        ValueError, match=r"DynamicSumProductNetwork 'dyn': sum_kwargs: .*sum op 'em' needs linear-space accumulators"
    ):
        models.DynamicSumProductNetwork(
            layers.DenseSum(num_sums=2),
            num_interface_sums=2,
            sum_kwargs={"sum_op": "em", "logspace_accumulators": True},
            name="dyn",
        )


@pytest.mark.parametrize("key", ["num_sums", "return_weighted_child_logits", "name"])
def test_dynamic_spn_sum_kwargs_may_not_hold_what_the_model_sets(key):
    with pytest.raises(ValueError, match=rf"sum_kwargs holds \['{key}'\], which the model sets itself"):
        models.DynamicSumProductNetwork(layers.DenseSum(num_sums=2), num_interface_sums=2, sum_kwargs={key: 5})
