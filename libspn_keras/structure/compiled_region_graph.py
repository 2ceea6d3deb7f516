"""Every product and sum of a region graph DAG as one Keras layer, run level by level."""

from collections.abc import Sequence

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.base_sum import SumLayerBase, constraint_argument, training_sums
from libspn_keras.layers.dense_sum import DenseSum
from libspn_keras.layers.validation import check_known, check_rank, positive_int
from libspn_keras.math.products import log_outer_product
from libspn_keras.math.region_products import gather_rows, gather_sum
from libspn_keras.region_graph import as_roots
from libspn_keras.structure.level_reads import LevelReads
from libspn_keras.structure.plan import plan_region_graph
from libspn_keras.structure.serialization import region_graph_from_config, region_graph_to_config


@keras.utils.register_keras_serializable(package="libspn_keras")
class CompiledRegionGraph(SumLayerBase):
    """The products and sums of every region of a region graph, from the variables up to the root.

    Every region except the root gets ``num_sums`` sums over the products of
    all its partitions; the root gets ``num_root_sums``. Regions are grouped
    by topological level, and each level is a few tensor operations: gather
    the children, join them (``outer`` or ``elementwise`` products, as the
    region says), one batched weighted sum per group of regions with equally
    many children. The sums are :class:`~libspn_keras.layers.DenseSum`
    layers owned by this one, so every sum op, EM optimizer and query works
    on it as on a dense stack, and the region graph is saved in the config.

    Input ``[batch, vars, 1, k]``: ``k`` nodes per variable (the leaf
    components, or per-variable input sums). Output
    ``[batch, num_root_sums]``: ``log p(x)`` for one root sum, per-class
    ``log p(x | y)`` for several (mix them with a
    :class:`~libspn_keras.layers.RootSum`).

    Each level keeps the nodes node-major (``[nodes, batch, k]``): the
    elementwise products of a level are a gather and masked sum per source
    (no scatter, forward or backward), and its sums one batched matmul
    through :meth:`~libspn_keras.sum_ops.SumOpBase.weighted_sum_node_major`.
    Models holding the layer compile with XLA by default (see
    :func:`~libspn_keras.models.fast_path.resolve_jit_compile`), about 3x
    faster per HCLT training step than graph mode on CPUs; XLA compiles one
    program per batch shape, so a ``fit`` whose last batch is smaller
    compiles twice.

    Args:
        region_graph: A :class:`~libspn_keras.region_graph.RegionNode`, a
            list of roots over the same variables (mixed by the root sums),
            or the dict of :func:`~libspn_keras.structure.region_graph_to_config`.
        num_sums: Sums per region below the root.
        num_root_sums: Sums of the root region.
        **kwargs: Sum-layer arguments of
            :class:`~libspn_keras.layers.SumLayerBase` (``sum_op``,
            ``logspace_accumulators``, ``accumulator_initializer``, ...).
    """

    def __init__(self, region_graph, num_sums, num_root_sums=1, **kwargs):
        super().__init__(**kwargs)
        label = f"CompiledRegionGraph '{self.name}'"
        if isinstance(region_graph, dict):
            region_graph = region_graph_from_config(region_graph)
        self.roots = as_roots(region_graph, label)
        self.num_sums = positive_int(label, "num_sums", num_sums)
        self.num_root_sums = positive_int(label, "num_root_sums", num_root_sums)

    @property
    def layers(self):
        """The sum layers this layer owns, level by level (a read-only view).

        Model-wide walks over ``layers`` (the fast-kernel weight check before
        each training, evaluation and prediction step, query caches) reach
        them through it. It is not a list, so Keras saving keeps storing them
        under ``sum_layers`` only.
        """
        return _Sublayers(getattr(self, "sum_layers", []))

    @property
    def sum_op(self):
        return self._sum_op

    @sum_op.setter
    def sum_op(self, sum_op):
        # Resolved and checked as any sum layer's, then passed on to the sums this layer owns (route_with).
        SumLayerBase.sum_op.fset(self, sum_op)

    def route_with(self, sum_op):
        # Queries swap the sum op of every sum layer, so it is passed on to the sums this layer owns.
        super().route_with(sum_op)
        for layer in getattr(self, "sum_layers", []):
            layer.route_with(sum_op)

    def build(self, input_shape):
        check_rank(self, input_shape, 4, "[batch, vars, 1, nodes]")
        check_known(self, input_shape, (1, 2, 3), "variables, decompositions and nodes")
        if input_shape[2] != 1:
            raise ValueError(
                f"CompiledRegionGraph '{self.name}' takes one decomposition (axis 2 of size 1), got input shape "
                f"{tuple(input_shape)}; build the model with FlatToRegions(num_decomps=1)."
            )
        self.plans, num_vars = plan_region_graph(self.roots, input_shape[3], self.num_sums, self.num_root_sums)
        if num_vars != input_shape[1]:
            raise ValueError(
                f"CompiledRegionGraph '{self.name}': the region graph covers variables 0..{num_vars - 1} but the "
                f"input has {input_shape[1]} variables (axis 1); they must match."
            )
        sum_layers = []
        for level, plan in enumerate(self.plans):
            for bucket, (num_children, _, num_regions) in enumerate(plan.buckets):
                layer = DenseSum(
                    num_sums=plan.num_sums,
                    sum_op=self.sum_op,
                    logspace_accumulators=self.logspace_accumulators,
                    accumulator_initializer=self.accumulator_initializer,
                    accumulator_regularizer=self.accumulator_regularizer,
                    linear_accumulator_constraint=constraint_argument(self.linear_accumulator_constraint),
                    logspace_accumulator_constraint=constraint_argument(self.logspace_accumulator_constraint),
                    name=f"{self.name}_level{level}_sums{bucket}",
                )
                layer.build((None, num_regions, 1, num_children))
                sum_layers.append(layer)
        self.sum_layers = sum_layers
        self.reads = LevelReads(self.plans)

    def values_per_row(self):
        """Values this layer holds per input row: every level's products and sums (sizes queries by it)."""
        return sum(
            num_regions * (num_children + plan.num_sums)
            for plan in self.plans
            for num_children, _, num_regions in plan.buckets
        )

    def call(self, x, training=None):
        # Node-major [nodes, batch, k] inside, so that gathers and sums of parts work on the leading axis.
        with training_sums(training):
            leaf = tf.transpose(tf.squeeze(x, axis=2), [1, 0, 2])
            sources, chunks = [leaf], _leaf_chunks(leaf, self.reads)
            sum_layers = iter(self.sum_layers)
            for plan, chunk, reads in zip(self.plans, chunks, self.reads.groups):
                tables = {}
                if any(group_reads is None for group_reads in reads):
                    tables = {size: _gather_table(sources, entries) for size, entries in plan.tables.items()}
                if _fusable(plan, self.sum_op):
                    (size, left), (_, right) = plan.groups[0].slots
                    pair = tf.stack([gather_rows(tables[size], left), gather_rows(tables[size], right)], axis=1)
                    out = next(sum_layers).sum_of_pair_products(tf.expand_dims(tf.transpose(pair, [2, 0, 1, 3]), 3))
                    sources.append(tf.transpose(tf.squeeze(out, axis=2), [1, 0, 2]))
                    continue
                parts = [chunk] + sources[1:]
                products = [
                    _join(tables, group) if group_reads is None else _elementwise(parts, group_reads)
                    for group, group_reads in zip(plan.groups, reads)
                ]
                outputs = []
                for _, rows, _ in plan.buckets:
                    children = products[0] if rows is None else _assemble(products, rows)
                    outputs.append(_node_major_sum(next(sum_layers), children))
                sources.append(outputs[0] if len(outputs) == 1 else tf.concat(outputs, axis=0))
            return tf.reshape(sources[-1], [-1, self.num_root_sums])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_root_sums)

    def get_config(self):
        config = super().get_config()
        config.update(
            region_graph=region_graph_to_config(self.roots), num_sums=self.num_sums, num_root_sums=self.num_root_sums
        )
        return config


class _Sublayers(Sequence):
    """Read-only view of a list of layers."""

    def __init__(self, layers):
        self._layers = layers

    def __getitem__(self, index):
        return self._layers[index]

    def __len__(self):
        return len(self._layers)


def _leaf_chunks(leaf, reads):
    """Per level, the leaf nodes its elementwise products read (one gather for all levels, then a split)."""
    rows = reads.all_leaf_rows
    if not len(rows):
        return [None] * len(reads.leaf_rows)
    gathered = gather_sum(leaf, rows[:, None])
    sizes = [0 if level_rows is None else len(level_rows) for level_rows in reads.leaf_rows]
    pieces = iter(tf.split(gathered, [size for size in sizes if size], axis=0))
    return [next(pieces) if size else None for size in sizes]


def _elementwise(parts, reads):
    """Elementwise products ``[P, batch, k]``: the sum of the log-values of their parts, read source by source."""
    out = None
    for source, index in reads:
        term = gather_sum(parts[source], index)
        out = term if out is None else out + term
    return out


def _node_major_sum(layer, children):
    """The sums of ``layer`` (a ``DenseSum`` over ``[batch, regions, 1, children]``) on node-major children.

    ``[regions, batch, children]`` -> ``[regions, batch, sums]``, through the
    sum op's node-major entry point (no transposes on its fast path).
    """
    with layer.drawing():
        out = layer.sum_op.weighted_sum_node_major(
            tf.expand_dims(children, 1), layer.accumulators, layer.logspace_accumulators
        )
    return tf.squeeze(out, axis=1)


def _gather_table(sources, entries):
    parts = [gather_rows(sources[source], rows) for source, rows in entries]
    return parts[0] if len(parts) == 1 else tf.concat(parts, axis=0)


def _join(tables, group):
    """Outer products of one group of partitions, node-major: ``[partitions, batch, width]``."""
    out = None
    for size, rows in group.slots:
        part = gather_rows(tables[size], rows)
        out = part if out is None else log_outer_product(out, part)
    return out


def _assemble(products, rows):
    """The children ``[regions, batch, children]`` of a bucket: product nodes ``rows [R, C]`` of all groups."""
    flat = tf.concat([tf.reshape(tf.transpose(p, [0, 2, 1]), [-1, tf.shape(p)[1]]) for p in products], axis=0)
    return tf.transpose(tf.reshape(tf.gather(flat, rows.reshape(-1)), [rows.shape[0], rows.shape[1], -1]), [0, 2, 1])


def _fusable(plan, sum_op):
    """Whether the level is one group of two-part outer products of equal size feeding one bucket directly."""
    if not sum_op.fuses_products or len(plan.groups) != 1 or len(plan.buckets) != 1 or plan.buckets[0][1] is not None:
        return False
    group = plan.groups[0]
    return group.kind == "outer" and len(group.slots) == 2 and group.slots[0][0] == group.slots[1][0]
