"""Pruning compiled region graphs: drop the partitions that carry little of the expected flow, recompile smaller.

The expected flow of an edge over a dataset is the total posterior
probability that a sample's induced tree uses it: exactly the count that
EM sum ops deliver to the accumulators. Summed over a partition's product
nodes and divided by the region's total, it says how much of the region's
mass the partition explains. Partitions below a threshold are removed (the
best one always stays), regions no longer reached disappear, and the model
is rebuilt from its config with the smaller graph; every kept weight is
copied over, so each sum is the old one restricted to its kept children.
"""

import contextlib

import numpy as np
import tensorflow as tf

from libspn_keras.arguments import check_float, positive_int
from libspn_keras.math.gradients import gradients_taken
from libspn_keras.region_graph import RegionNode, RegionVariable, topological_regions
from libspn_keras.structure.compiled_region_graph import CompiledRegionGraph
from libspn_keras.structure.plan import region_slots
from libspn_keras.structure.serialization import region_graph_to_config
from libspn_keras.sum_ops.em import SumOpEMBackprop


def _compiled_layer(model):
    found = [layer for layer in model.layers if isinstance(layer, CompiledRegionGraph)]
    if len(found) != 1:
        raise ValueError(
            f"Model '{model.name}' has {len(found)} CompiledRegionGraph layers; pruning needs exactly one "
            f"(a model from compile_region_graph or build_hclt)."
        )
    return found[0]


@contextlib.contextmanager
def _counting_sums(model):
    """Every sum layer of ``model`` temporarily uses the soft-EM op, whose accumulators receive edge counts."""
    layers = [layer for layer in model.layers if hasattr(layer, "sum_op")]
    saved = [layer.sum_op for layer in layers]
    for layer in layers:
        layer.route_with(SumOpEMBackprop())
    try:
        yield
    finally:
        for layer, sum_op in zip(layers, saved):
            layer.route_with(sum_op)


def _batches(data, batch_size):
    return [data[i : i + batch_size] for i in range(0, len(data), batch_size)]


def mean_log_likelihood(model, data, batch_size=1024):
    """Mean ``log p(x)`` of ``data`` under ``model`` (the log-sum of its outputs for class roots)."""
    totals = [float(tf.reduce_sum(tf.reduce_logsumexp(model(batch), axis=-1))) for batch in _batches(data, batch_size)]
    return sum(totals) / len(data)


def partition_flows(model, data, batch_size=1024):
    """Expected flow into every partition of the compiled region graph: ``{id(region): [flow per partition]}``.

    Args:
        model: A chain model with one :class:`CompiledRegionGraph`.
        data: Samples to measure the flows on (missing entries allowed).
        batch_size: Samples per forward/backward pass.

    Returns:
        A dict from ``id(region)`` to a NumPy array of flows, one per
        partition; a region's flows add up to the number of samples reaching it.
    """
    layer = _compiled_layer(model)
    accumulators = [sums.accumulators for sums in layer.sum_layers]
    counts = [np.zeros(a.shape, dtype=np.float64) for a in accumulators]
    with _counting_sums(model):
        for batch in _batches(data, batch_size):
            with gradients_taken(), tf.GradientTape() as tape:
                total = tf.reduce_sum(tf.reduce_logsumexp(model(batch), axis=-1))
            for count, gradient in zip(counts, tape.gradient(total, accumulators)):
                count += tf.convert_to_tensor(gradient).numpy()
    flows = {}
    for region_id, (index, row, columns) in region_slots(layer.plans).items():
        child_flow = counts[index][row, 0].sum(axis=-1)
        flows[region_id] = np.array([child_flow[first:stop].sum() for first, stop in columns])
    return flows


def prune_partitions(model, data, threshold=0.01, batch_size=1024):
    """A smaller copy of ``model`` without the partitions whose share of their region's flow is below ``threshold``.

    Args:
        model: A chain model with one :class:`CompiledRegionGraph` (from
            :func:`~libspn_keras.models.compile_region_graph`, ...).
        data: Samples that define the flows (usually the training data).
        threshold: Smallest share of its region's expected flow a partition
            needs to stay; each region keeps at least its best partition.
        batch_size: Samples per pass.

    Returns:
        ``(pruned_model, report)``: the rebuilt model (same layers and API,
        weights copied) and a dict with ``params_before``, ``params_after``,
        ``partitions_removed`` (the partitions whose share was below
        ``threshold``; regions only they used go too, uncounted, so the
        parameter counts tell the whole change), ``log_likelihood_before`` and
        ``log_likelihood_after`` (mean over ``data``). Fine-tune the pruned
        model afterwards; compile it first.
    """
    threshold = check_float("prune_partitions", "threshold", threshold, minimum=0, maximum=1)
    batch_size = positive_int("prune_partitions", "batch_size", batch_size)
    layer = _compiled_layer(model)
    flows = partition_flows(model, data, batch_size)
    top = layer.plans[-1].regions[0]
    kept, removed = {}, 0
    for region in topological_regions([top]):
        if isinstance(region, RegionNode):
            share = flows[id(region)] / max(flows[id(region)].sum(), 1e-30)
            keep = [k for k, value in enumerate(share) if value >= threshold] or [int(np.argmax(share))]
            kept[id(region)] = keep
            removed += len(region.partitions) - len(keep)
    new = {}

    def rebuild(region):
        if isinstance(region, RegionVariable) or id(region) in new:
            return new.get(id(region), region)
        partitions = [[rebuild(part) for part in region.partitions[k]] for k in kept[id(region)]]
        new[id(region)] = RegionNode(partitions=partitions, product=region.product)
        return new[id(region)]

    root = rebuild(top)
    # Several roots are mixed by a region the layer adds over them; where one root is left, that region stays (one
    # partition of one part), so that the weights of the root and of its mixture keep their places.
    roots = [root] if len(layer.roots) == 1 or len(root.partitions) == 1 else [parts[0] for parts in root.partitions]
    config = model.get_config()
    for entry in config["layers"]:
        if entry["config"].get("name") == layer.name:
            entry["config"]["region_graph"] = region_graph_to_config(roots)
    pruned = type(model).from_config(config)
    new_layer = _compiled_layer(pruned)
    for old, fresh in zip(model.layers, pruned.layers):
        if old is not layer:
            fresh.set_weights(old.get_weights())
    # The rebuilt layer made its own region objects from the config: pair them with ours, which have the same shape.
    same = {id(a): b for a, b in zip(topological_regions(roots), topological_regions(new_layer.roots))}
    new = {old_id: same[id(region)] for old_id, region in new.items() if id(region) in same}
    _copy_kept_weights(layer, new_layer, new, kept, top)
    report = {
        "params_before": model.count_params(),
        "params_after": pruned.count_params(),
        "partitions_removed": removed,
        "log_likelihood_before": mean_log_likelihood(model, data, batch_size),
        "log_likelihood_after": mean_log_likelihood(pruned, data, batch_size),
    }
    return pruned, report


def _copy_kept_weights(layer, new_layer, new, kept, top):
    """Copies every kept region's weights of its kept partitions into the rebuilt layer."""
    old_slots, new_slots = region_slots(layer.plans), region_slots(new_layer.plans)
    new_top = new_layer.plans[-1].regions[0]
    values = [sums.accumulators.numpy() for sums in new_layer.sum_layers]
    for region_id, keep in kept.items():
        target = id(new_top) if region_id == id(top) else id(new[region_id]) if region_id in new else None
        if target is None or target not in new_slots:
            continue
        index, row, columns = old_slots[region_id]
        new_index, new_row, _ = new_slots[target]
        old_values = layer.sum_layers[index].accumulators.numpy()[row, 0]
        values[new_index][new_row, 0] = np.concatenate([old_values[columns[k][0] : columns[k][1]] for k in keep])
    for sums, value in zip(new_layer.sum_layers, values):
        sums.accumulators.assign(value)
