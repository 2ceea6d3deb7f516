"""PermuteAndPadScopes refuses a scope listed twice; PermuteAndPadScopesRandom pads where 0.6.0 padded.

0.6.0's rule (hand-derived reference): per decomposition a permutation of the scopes drawn from NumPy's
``RandomState``, then ``num_padding`` entries ``-1`` inserted one after the other at positions
``i * (total // num_padding)``.
"""

import numpy as np
import pytest
import tensorflow as tf

from libspn_keras import layers


@pytest.mark.parametrize("row", [[0, 0, 1, 2], [0, 1, 1, 2, -1], [2, 1, 0, 0]])
def test_a_scope_listed_twice_is_refused(row):
    layer = layers.PermuteAndPadScopes(permutations=[row])
    with pytest.raises(ValueError, match="exactly once"):
        layer(tf.zeros([2, 3, 1, 2]))


def test_a_missing_scope_is_refused_and_a_valid_row_gathers():
    with pytest.raises(ValueError, match="exactly once"):
        layers.PermuteAndPadScopes(permutations=[[0, 1, -1]])(tf.zeros([2, 3, 1, 2]))
    x = tf.reshape(tf.range(12, dtype=tf.float32), [2, 3, 1, 2])
    out = layers.PermuteAndPadScopes(permutations=[[2, -1, 0, 1]])(x).numpy()
    expected = np.stack([x.numpy()[:, 2], np.zeros((2, 1, 2)), x.numpy()[:, 0], x.numpy()[:, 1]], axis=1)
    np.testing.assert_array_equal(out, expected)


def test_random_permutations_pad_at_060s_positions():
    num_scopes, num_decomps, factors, seed = 5, 2, [2, 2, 2], 7
    layer = layers.PermuteAndPadScopesRandom(factors=factors, seed=seed)
    layer(tf.zeros([1, num_scopes, num_decomps, 2]))
    random = np.random.RandomState(seed)
    expected = []
    for _ in range(num_decomps):
        row = list(random.permutation(num_scopes))
        for i in range(3):  # 8 slots for 5 scopes: padding inserted at 0, 2, 4
            row.insert(i * 2, -1)
        expected.append(row)
    assert [row[::2] for row in expected] == [[-1, -1, -1, r[6]] for r in expected]  # the rule, spelled out
    np.testing.assert_array_equal(np.asarray(layer.permutations), expected)


@pytest.mark.parametrize(
    "permutations",
    [[[0.5, 1.7]], [[1.9, 0.2, -1.0]], [[True, False]], [[-2, 0, 1]], [[0, 1], [0]], "ab", [[0, float("nan")]]],
)
def test_permutations_that_are_not_a_table_of_scope_indices_are_refused_at_construction(permutations):
    # Before, floats were truncated, bools read as 0/1 and any negative value taken as padding, silently.
    with pytest.raises(ValueError, match=r"PermuteAndPadScopes 'p': permutations must be a table of ints"):
        layers.PermuteAndPadScopes(permutations=permutations, name="p")


def test_integral_floats_and_numpy_tables_are_taken_as_ints():
    assert layers.PermuteAndPadScopes(permutations=[[1.0, 0.0, -1.0]]).permutations == [[1, 0, -1]]
    assert layers.PermuteAndPadScopes(permutations=np.array([[1, 0]], "int32")).permutations == [[1, 0]]
