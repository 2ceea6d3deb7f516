"""Region graphs as JSON-serializable dicts, so that models save the structure they were compiled from."""

from libspn_keras.region_graph import RegionNode, RegionVariable, as_roots, topological_regions


def region_graph_to_config(region_graph):
    """A JSON-serializable description of a region graph (a region or a list of roots)."""
    roots = as_roots(region_graph, "region_graph_to_config")
    regions = topological_regions(roots)
    ids = {id(region): i for i, region in enumerate(regions)}
    nodes = [
        {"variable": region.index}
        if isinstance(region, RegionVariable)
        else {"partitions": [[ids[id(p)] for p in parts] for parts in region.partitions], "product": region.product}
        for region in regions
    ]
    return {"nodes": nodes, "roots": [ids[id(root)] for root in roots]}


def region_graph_from_config(config):
    """The list of root regions described by :func:`region_graph_to_config`'s output."""
    regions = []
    for node in config["nodes"]:
        if "variable" in node:
            regions.append(RegionVariable(node["variable"]))
        else:
            partitions = [[regions[i] for i in parts] for parts in node["partitions"]]
            regions.append(RegionNode(partitions=partitions, product=node.get("product", "outer")))
    return [regions[i] for i in config["roots"]]
