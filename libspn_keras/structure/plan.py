"""The level plan of a region graph DAG: what each level gathers, how it joins the parts, and which sums follow.

Regions are placed as late as possible (a region sits one level below its
lowest parent), so in a tree every region's children are on the level just
below it or are variables, which the leaf tensor holds. Each level then runs
as a few tensor operations whatever its width:

- *tables*: the child nodes the level reads, gathered from the leaf tensor
  and earlier levels, one table per node count;
- *groups*: partitions with the same product kind and part sizes, joined
  together (elementwise: a sum of log-values; outer: every combination);
- *buckets*: regions with the same number of sum children, whose sums are
  one batched weighted sum.

All index arrays are NumPy ``int32``; nothing here depends on TensorFlow.
"""

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from libspn_keras.region_graph import RegionNode, RegionVariable, covered_variables, topological_regions

LEAF_SOURCE = 0


class ProductGroup:
    """Partitions joined alike, each given by the table rows of its parts.

    Outer groups (all partitions with the same part sizes) read part ``j``
    of every partition at ``slots[j] = (table size, rows [P])``. Elementwise
    groups (all partitions whose parts have ``size`` nodes, any number of
    parts) read every part at ``rows [E]`` and add it to partition
    ``segments [E]``.
    """

    def __init__(self, kind, sizes, members):
        self.kind = kind
        self.num_partitions = len(members)
        if kind == "elementwise":
            self.size = sizes[0]
            self.width = sizes[0]
            self.rows = np.asarray([row for parts in members for row in parts], dtype=np.int32)
            self.segments = np.repeat(np.arange(len(members), dtype=np.int32), [len(parts) for parts in members])
        else:
            members = np.asarray(members, dtype=np.int32)
            self.width = math.prod(sizes)
            self.slots = [(sizes[j], members[:, j]) for j in range(len(sizes))]


@dataclass
class LevelPlan:
    """One topological level: tables to gather, product groups, sum buckets and the regions it outputs."""

    tables: "OrderedDict[int, list]" = field(default_factory=OrderedDict)
    groups: list = field(default_factory=list)
    buckets: list = field(default_factory=list)  # (num_children, rows of the flat products [R, C] or None, R)
    regions: list = field(default_factory=list)
    num_sums: int = 0
    partition_widths: dict = field(default_factory=dict)  # id(region) -> product nodes of each partition

    @property
    def num_edges(self):
        """Number of sum-to-product edges of the level."""
        return sum(num_children * num_regions * self.num_sums for num_children, _, num_regions in self.buckets)


def _levels(regions, root):
    """As-late-as-possible level of every region node (variables are level 0)."""
    level = {id(root): root.height}
    for region in reversed(regions):
        if isinstance(region, RegionVariable):
            continue
        for child in region.children:
            if isinstance(child, RegionNode):
                level[id(child)] = min(level.get(id(child), level[id(region)] - 1), level[id(region)] - 1)
    return level


def _partition_width(region, sizes):
    if region.product == "elementwise":
        if len(set(sizes)) != 1:
            raise ValueError(
                f"RegionNode {region!r}: an elementwise product needs children with equally many nodes, got "
                f"{sizes}. Give the leaf as many components (or input sums) as the regions have sums, or use "
                f"product='outer'."
            )
    return _partition_width_of(region.product, sizes)


def _plan_level(regions, node_of, num_sums):
    """Builds the ``LevelPlan`` of ``regions``; ``node_of`` maps a child to ``(source, index, size)``."""
    plan = LevelPlan(num_sums=num_sums)
    widths = {id(r): [_partition_width(r, [node_of(p)[2] for p in parts]) for parts in r.partitions] for r in regions}
    plan.partition_widths = widths
    by_children = OrderedDict()
    for region in regions:
        by_children.setdefault(sum(widths[id(region)]), []).append(region)
    plan.regions = [region for bucket in by_children.values() for region in bucket]
    # Tables: every distinct child node, grouped by node count, ordered by source.
    refs = sorted({node_of(p) for r in plan.regions for parts in r.partitions for p in parts})
    rows = {}
    for source, index, size in refs:
        entries = plan.tables.setdefault(size, [])
        if not entries or entries[-1][0] != source:
            entries.append((source, []))
        entries[-1][1].append(index)
        rows[(source, index, size)] = sum(len(indices) for _, indices in entries) - 1
    for size, entries in plan.tables.items():
        plan.tables[size] = [(source, np.asarray(indices, dtype=np.int32)) for source, indices in entries]
    # Product groups, and the offset of every partition's products in their flat concatenation.
    groups, offsets = OrderedDict(), {}
    for region in plan.regions:
        for k, parts in enumerate(region.partitions):
            sizes = tuple(node_of(p)[2] for p in parts)
            key = (region.product, sizes[:1] if region.product == "elementwise" else sizes)
            groups.setdefault(key, []).append([rows[node_of(p)] for p in parts])
            offsets[(id(region), k)] = (key, len(groups[key]) - 1)
    base, start = 0, {}
    for (kind, sizes), members in groups.items():
        plan.groups.append(ProductGroup(kind, sizes, members))
        start[(kind, sizes)] = base
        base += len(members) * plan.groups[-1].width
    single = len(plan.groups) == 1 and len(by_children) == 1 and all(len(r.partitions) == 1 for r in plan.regions)
    for num_children, bucket in by_children.items():
        if single:
            plan.buckets.append((num_children, None, len(bucket)))
            continue
        table = []
        for region in bucket:
            columns = []
            for k in range(len(region.partitions)):
                key, position = offsets[(id(region), k)]
                first = start[key] + position * widths[id(region)][k]
                columns.extend(range(first, first + widths[id(region)][k]))
            table.append(columns)
        plan.buckets.append((num_children, np.asarray(table, dtype=np.int32), len(bucket)))
    return plan


def _partition_width_of(kind, sizes):
    return sizes[0] if kind == "elementwise" else math.prod(sizes)


def plan_region_graph(roots, leaf_size, num_sums, num_root_sums=1):
    """Level plans of the region graph ``roots`` (a list; several roots are mixed by one more region).

    Args:
        roots: List of root regions over the same variables.
        leaf_size: Nodes per variable at the input (leaf components or input sums).
        num_sums: Sums per region below the root.
        num_root_sums: Sums of the root region (1 for ``log p(x)``, or one per class).

    Returns:
        ``(plans, num_vars)``: one ``LevelPlan`` per level, bottom first,
        the last holding only the root; ``num_vars`` is one more than the
        largest variable index.
    """
    root = roots[0] if len(roots) == 1 else RegionNode(partitions=[[r] for r in roots])
    if not isinstance(root, RegionNode):
        raise ValueError("plan_region_graph: the root must be a RegionNode over at least two variables.")
    num_vars = covered_variables(roots, "plan_region_graph")
    regions = topological_regions([root])
    level = _levels(regions, root)
    position = {}

    def node_of(region):
        if isinstance(region, RegionVariable):
            return (LEAF_SOURCE, region.index, leaf_size)
        source, index = position[id(region)]
        return (source, index, num_root_sums if region is root else num_sums)

    plans = []
    by_level = OrderedDict((height, []) for height in range(1, root.height + 1))
    for region in regions:
        if isinstance(region, RegionNode):
            by_level[level[id(region)]].append(region)
    for height, members in by_level.items():
        if not members:
            continue
        plan = _plan_level(members, node_of, num_root_sums if height == root.height else num_sums)
        for index, region in enumerate(plan.regions):
            position[id(region)] = (len(plans) + 1, index)
        plans.append(plan)
    return plans, num_vars


def region_slots(plans):
    """Where every region's sums live: ``{id(region): (sum layer, row, [(first, stop) columns per partition])}``.

    The sum layers are numbered level by level, bucket by bucket (the order
    of :attr:`CompiledRegionGraph.sum_layers`); a region's children are the
    product nodes of its partitions, one column range each.
    """
    slots, layer = {}, 0
    for plan in plans:
        position = 0
        for _, _, num_regions in plan.buckets:
            for row, region in enumerate(plan.regions[position : position + num_regions]):
                bounds = np.cumsum([0] + plan.partition_widths[id(region)])
                slots[id(region)] = (layer, row, list(zip(bounds[:-1].tolist(), bounds[1:].tolist())))
            position += num_regions
            layer += 1
    return slots
