"""Poon-Domingos region graphs for images: every axis-aligned split of every rectangle at a step size."""

from libspn_keras.layers.validation import positive_int
from libspn_keras.region_graph import RegionNode, RegionVariable


def _cuts(start, stop, step):
    """Split positions strictly inside ``[start, stop)`` at multiples of ``step`` from ``start``."""
    return list(range(start + step, stop, step))


def poon_domingos_region_graph(height, width, step=1, channels=1):
    """The region graph of Poon & Domingos (2011): rectangles of pixels split in two along every grid line.

    A rectangle larger than ``step`` in a direction is split at every
    multiple of ``step`` (counted from its corner) along that direction. A
    cell at most ``step`` high and wide is split once, in the middle of its
    longer side, and so on down to single pixels.
    Rectangles are shared by all the larger rectangles that split into them,
    so the graph is a DAG with several partitions per region. Variable
    ``(row, col, channel)`` has index ``(row * width + col) * channels + channel``
    (the order of a flattened ``[height, width, channels]`` image); the
    channels of a pixel are joined by one product.

    Args:
        height: Image height in pixels.
        width: Image width in pixels.
        step: Grid step of the coarse splits (EinsumNetworks' ``delta``).
        channels: Channels per pixel.

    Returns:
        The root :class:`~libspn_keras.region_graph.RegionNode` (the whole image).
    """
    height = positive_int("poon_domingos_region_graph", "height", height)
    width = positive_int("poon_domingos_region_graph", "width", width)
    step = positive_int("poon_domingos_region_graph", "step", step)
    channels = positive_int("poon_domingos_region_graph", "channels", channels)
    if height * width * channels < 2:
        raise ValueError("poon_domingos_region_graph: the image needs at least 2 variables.")
    memo = {}

    def pixel(row, col):
        variables = [RegionVariable((row * width + col) * channels + c) for c in range(channels)]
        return variables[0] if channels == 1 else RegionNode(variables)

    def rectangle(top, bottom, left, right):
        key = (top, bottom, left, right)
        if key not in memo:
            if bottom - top == 1 and right - left == 1:
                memo[key] = pixel(top, left)
            elif bottom - top <= step and right - left <= step:
                if bottom - top >= right - left:
                    middle = (top + bottom) // 2
                    parts = [rectangle(top, middle, left, right), rectangle(middle, bottom, left, right)]
                else:
                    middle = (left + right) // 2
                    parts = [rectangle(top, bottom, left, middle), rectangle(top, bottom, middle, right)]
                memo[key] = RegionNode(parts)
            else:
                partitions = [
                    [rectangle(top, cut, left, right), rectangle(cut, bottom, left, right)]
                    for cut in _cuts(top, bottom, step)
                ]
                partitions += [
                    [rectangle(top, bottom, left, cut), rectangle(top, bottom, cut, right)]
                    for cut in _cuts(left, right, step)
                ]
                memo[key] = RegionNode(partitions=partitions)
        return memo[key]

    return rectangle(0, height, 0, width)
