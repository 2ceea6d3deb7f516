"""Common base of the products that join groups of adjacent scopes."""

import numpy as np
import tensorflow as tf

from libspn_keras.layers.cell_scopes import (
    cell_scopes,
    describe_cells,
    describe_scopes,
    is_region_layout,
    record_cell_scopes,
)
from libspn_keras.layers.full_precision import FullPrecisionLayer
from libspn_keras.layers.validation import check_known, check_node_count, check_rank, positive_int


class ScopeProductBase(FullPrecisionLayer):
    """Joins each group of ``num_factors`` adjacent scopes of ``[batch, scopes, decomps, nodes]``.

    Subclasses decide how nodes combine in ``call`` and ``compute_output_shape``.

    Args:
        num_factors: Number of scopes joined by each product.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def __init__(self, num_factors, **kwargs):
        super().__init__(**kwargs)
        self.num_factors = positive_int(f"{type(self).__name__} '{self.name}'", "num_factors", num_factors)

    def build(self, input_shape):
        check_rank(self, input_shape, 4, "[batch, scopes, decomps, nodes]")
        check_known(self, input_shape, (1, 2, 3), "scopes, decompositions and nodes")
        if input_shape[1] % self.num_factors:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': {input_shape[1]} scopes do not split into groups of "
                f"num_factors={self.num_factors}. Pad the scopes (PermuteAndPadScopes / PermuteAndPadScopesRandom) "
                f"or choose a factor that divides {input_shape[1]}."
            )
        check_node_count(
            self,
            self.compute_output_shape(input_shape)[3],
            f"from {input_shape[3]} input nodes and num_factors={self.num_factors}",
            "Lower num_factors (e.g. several DenseProduct(num_factors=2) layers with sums between them) or the "
            "number of sums below.",
        )

    def compute_output_spec(self, x, *args, **kwargs):
        # On a tensor whose cells a leaf or Conv2DProduct has recorded, the rows this layer joins must cover disjoint
        # parts of the input (image rows, or scopes), and its output keeps the record for the layers above.
        output = super().compute_output_spec(x, *args, **kwargs)
        scopes = cell_scopes(x, recorded_only=True)
        if scopes is None or not self.built or x.shape[1] % self.num_factors:
            return record_cell_scopes(output, None, x)  # keeps the layout
        rows, cols = scopes
        groups = rows.reshape(rows.shape[0] // self.num_factors, self.num_factors, rows.shape[1])
        shared = groups.sum(axis=1) > 1
        joins_overlap = shared.any(axis=1) & cols.any()
        if joins_overlap.any():
            group = int(np.flatnonzero(joins_overlap)[0])
            covered = (
                describe_scopes(x, shared[group])
                if is_region_layout(x)
                else "image " + describe_cells(shared[group], "row")
            )
            advice = (
                "Join scopes of disjoint variables only: the rows below cover the same ones (e.g. a "
                "keras.layers.Concatenate of a leaf's output with itself or with a permutation of it)."
                if is_region_layout(x)
                else "Join overlapping cells with a Conv2DProduct whose dilations skip the overlap, or end the "
                "spatial products with padding='final' and SpatialToRegions first."
            )
            raise ValueError(
                f"{type(self).__name__} '{self.name}': output row {group} would multiply input rows "
                f"{group * self.num_factors}-{(group + 1) * self.num_factors - 1} that both cover {covered}, so the "
                f"product is not decomposable and the network is no longer a normalized distribution. {advice}"
            )
        return record_cell_scopes(output, (groups.any(axis=1), cols), x)

    def grouped(self, x):
        """``x`` reshaped to ``[batch, scopes / num_factors, num_factors, decomps, nodes]``."""
        return tf.reshape(x, [-1, x.shape[1] // self.num_factors, self.num_factors, x.shape[2], x.shape[3]])

    def get_config(self):
        config = super().get_config()
        config.update(num_factors=self.num_factors)
        return config
