"""Region graphs: a plain data structure describing which variables an SPN joins where.

A region is a set of variables (its scope). A :class:`RegionVariable` is a
single variable. A :class:`RegionNode` splits its scope into the disjoint
scopes of its children (one *partition*); it may also hold several
alternative partitions of the same scope, and child regions may be shared by
several parents, so a region graph is in general a DAG. A list of root
regions over the same variables describes several decompositions.

Compiling a region graph into layers is the job of :mod:`libspn_keras.structure`
and of the builders in :mod:`libspn_keras.models`.
"""

import math

import numpy as np

from libspn_keras.arguments import check_int
from libspn_keras.math.seeding import numpy_rng

PRODUCT_KINDS = ("outer", "elementwise")


class OverlappingScopesException(ValueError):
    """Raised when the children of a region (within one partition) share variables."""


class Region:
    """Base class of the regions. ``scope`` lists the :class:`RegionVariable` objects below, as in 0.6.0.

    Attributes:
        variables: ``frozenset`` of the variable indices in the scope.
        height: 0 for a variable, else one more than the highest child.
    """

    variables = frozenset()
    height = 0

    @property
    def scope(self):
        """The variables of the region as a list of :class:`RegionVariable` objects."""
        raise NotImplementedError

    @property
    def children(self):
        """The child regions (empty for a variable)."""
        raise NotImplementedError

    def __str__(self):
        return repr(self)


class RegionVariable(Region):
    """The region of a single input variable; prints as ``x<index>``.

    Args:
        index: Position of the variable in the input, ``>= 0``.
    """

    def __init__(self, index):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
            raise ValueError(f"RegionVariable: index must be an int >= 0, got {index!r}.")
        self.index = int(index)
        self.variables = frozenset([self.index])
        self.height = 0

    @property
    def scope(self):
        return [self]

    @property
    def children(self):
        return []

    def __repr__(self):
        return f"x{self.index}"


def _check_disjoint(parts):
    seen = set()
    for part in parts:
        if not isinstance(part, Region):
            raise ValueError(f"RegionNode: children must be RegionNode or RegionVariable objects, got {part!r}.")
        overlap = seen & part.variables
        if overlap:
            raise OverlappingScopesException(
                f"RegionNode: child scopes overlap on variables {sorted(overlap)}; the children of a region "
                f"must cover disjoint variables (a product of overlapping scopes is not decomposable). Put "
                f"alternative splits of the same variables in separate partitions or decompositions instead."
            )
        seen |= part.variables
    return frozenset(seen)


class RegionNode(Region):
    """A region whose scope is split into the disjoint scopes of its children; prints as ``{x0, x1}``.

    Args:
        children: The parts of a single partition: ``RegionNode`` or
            ``RegionVariable`` objects with pairwise disjoint scopes.
        partitions: Instead of ``children``, a list of alternative partitions
            of the same variables, each a list of disjoint child regions.
            Compiled SPNs put sums over the products of all partitions.
        product: How a compiled SPN joins the parts of a partition:
            ``"outer"`` (a product for every combination of the children's
            nodes, as :class:`~libspn_keras.layers.DenseProduct`) or
            ``"elementwise"`` (node ``i`` of every child, which must then
            have equally many nodes).
    """

    def __init__(self, children=None, partitions=None, product="outer"):
        if (children is None) == (partitions is None):
            raise ValueError("RegionNode: pass either children (one partition) or partitions, not both or neither.")
        if product not in PRODUCT_KINDS:
            raise ValueError(f"RegionNode: product must be one of {PRODUCT_KINDS}, got {product!r}.")
        partitions = [list(children)] if children is not None else [list(part) for part in partitions]
        if not partitions or not all(partitions):
            raise ValueError("RegionNode: needs at least one child region in every partition.")
        scopes = [_check_disjoint(parts) for parts in partitions]
        for index, scope in enumerate(scopes[1:], start=1):
            if scope != scopes[0]:
                raise ValueError(
                    f"RegionNode: partition {index} covers variables {sorted(scope)} but partition 0 covers "
                    f"{sorted(scopes[0])}; every partition must split the same variables."
                )
        self.partitions = tuple(tuple(parts) for parts in partitions)
        self.product = product
        self.variables = scopes[0]
        self.height = 1 + max(part.height for parts in self.partitions for part in parts)

    @property
    def children(self):
        """The parts of the only partition; with several partitions, every distinct child once."""
        if len(self.partitions) == 1:
            return list(self.partitions[0])
        unique = {}
        for parts in self.partitions:
            for part in parts:
                unique.setdefault(id(part), part)
        return list(unique.values())

    @property
    def scope(self):
        return [variable for part in self.partitions[0] for variable in part.scope]

    def __repr__(self):
        return "{" + " | ".join(", ".join(repr(part) for part in parts) for parts in self.partitions) + "}"


def as_roots(region_graph, name):
    """A list of root regions from a region or a list/tuple of them; raises ``ValueError`` otherwise."""
    roots = list(region_graph) if isinstance(region_graph, (list, tuple)) else [region_graph]
    if not roots or not all(isinstance(root, Region) for root in roots):
        raise ValueError(f"{name}: the region graph must be a RegionNode or a list of them, got {region_graph!r}.")
    return roots


def covered_variables(roots, owner, root_name="root"):
    """The number of variables of ``roots`` (largest index + 1), after checking every root covers them all.

    Raises:
        ValueError: Naming ``owner`` and the ``root_name`` (e.g. ``"decomposition"``) that skips an index: an
            input no region reads would be a free variable, and the model no distribution over it.
    """
    num_vars = max(max(root.variables) for root in roots) + 1
    for index, root in enumerate(roots):
        missing = sorted(set(range(num_vars)) - set(root.variables))
        if missing:
            raise ValueError(
                f"{owner}: {root_name} {index} does not cover variables {missing}; every {root_name} must cover all "
                f"{num_vars} variables (0 .. {num_vars - 1}). Number the variables from 0 without gaps, or add "
                f"regions over them."
            )
    return num_vars


def topological_regions(roots):
    """Every region reachable from ``roots`` once (by identity), children before parents."""
    order, state = [], {}
    for root in roots:
        stack = [(root, False)]
        while stack:
            region, expanded = stack.pop()
            if expanded:
                if state.get(id(region)) != "done":
                    state[id(region)] = "done"
                    order.append(region)
                continue
            if id(region) in state:
                continue
            state[id(region)] = "open"
            stack.append((region, True))
            stack.extend((child, False) for child in reversed(region.children))
    return order


def random_region_graph(num_vars, depth, num_decomps, seed=None):
    """Random binary splits in the manner of RAT-SPNs: one root per decomposition.

    Each decomposition shuffles the variables and halves them recursively
    ``depth`` times; a region left with several variables at the bottom is the
    product of its variables.

    Args:
        num_vars: Number of variables.
        depth: Number of binary splits from the root.
        num_decomps: Number of decompositions (repetitions).
        seed: Optional int; by default NumPy's global state (set by
            ``keras.utils.set_random_seed``).

    Returns:
        A list of ``num_decomps`` :class:`RegionNode` roots.
    """
    num_vars = check_int("random_region_graph", "num_vars", num_vars, minimum=2)
    depth = check_int("random_region_graph", "depth", depth, minimum=1)
    num_decomps = check_int("random_region_graph", "num_decomps", num_decomps, minimum=1)
    rng = numpy_rng(seed)

    def split(variables, levels_left):
        if len(variables) == 1:
            return RegionVariable(variables[0])
        if levels_left == 0:
            return RegionNode([RegionVariable(v) for v in variables])
        half = len(variables) // 2
        return RegionNode([split(variables[:half], levels_left - 1), split(variables[half:], levels_left - 1)])

    return [split(rng.permutation(num_vars).tolist(), depth) for _ in range(num_decomps)]


def _depths(root):
    """``[(region, depth)]`` of a tree, parents before children."""
    order, stack = [], [(root, 0)]
    while stack:
        region, depth = stack.pop()
        order.append((region, depth))
        stack.extend((child, depth + 1) for child in reversed(region.children))
    return order


def region_graph_layout(roots):
    """Product factors per level (bottom first) and the leaf-level permutation ``[decomps, scopes]``.

    Args:
        roots: List of tree-shaped root regions (one per decomposition), each
            region with a single partition of outer products.

    Returns:
        ``(factors, permutations)``: the ``num_factors`` of the
        ``DenseProduct`` layers from the leaves up, and for every
        decomposition the variable of every leaf slot, ``-1`` for padding.
    """
    for root in roots:
        for region, _ in _depths(root):
            if isinstance(region, RegionNode) and len(region.partitions) > 1:
                raise ValueError(
                    f"region_graph_to_dense_spn: region {region!r} has {len(region.partitions)} partitions; dense "
                    f"stacks take trees with one partition per region. Use "
                    f"libspn_keras.models.compile_region_graph for region graphs with several partitions."
                )
            if isinstance(region, RegionNode) and region.product != "outer":
                raise ValueError(
                    f"region_graph_to_dense_spn: region {region!r} has product={region.product!r}; dense stacks "
                    f"multiply their children's nodes in every combination (DenseProduct, product='outer'). Use "
                    f"libspn_keras.models.compile_region_graph for elementwise products."
                )
    placed = [_depths(root) for root in roots]
    max_depth = max(depth for regions in placed for _, depth in regions)
    arity = [1] * max_depth
    for regions in placed:
        for region, depth in regions:
            if isinstance(region, RegionNode):
                arity[depth] = max(arity[depth], len(region.children))
    slots = [math.prod(arity[depth:]) for depth in range(max_depth + 1)]

    def fill(region, depth):
        if isinstance(region, RegionVariable):
            return [region.index] + [-1] * (slots[depth] - 1)
        row = [v for child in region.children for v in fill(child, depth + 1)]
        return row + [-1] * ((arity[depth] - len(region.children)) * slots[depth + 1])

    permutations = np.array([fill(root, 0) for root in roots], dtype=np.int64)
    return arity[::-1], permutations
