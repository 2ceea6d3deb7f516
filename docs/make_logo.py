"""Draw ``logo.png``: a small sum-product network next to the project name.

Run from anywhere with ``python3 docs/make_logo.py``; the image is written to
the repository root. Only matplotlib and numpy are needed (the ``examples``
extra installs matplotlib).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Circle, FancyBboxPatch  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "logo.png"

INK = "#24292f"
SUM_COLOR = "#d1495b"
PRODUCT_COLOR = "#edae49"
LEAF_COLORS = ("#00798c", "#30638e")
EDGE_COLOR = "#8c959f"

NODE_RADIUS = 0.34
LEAF_HALF_WIDTH = 0.42
LEAF_HALF_HEIGHT = 0.30


def draw_operator(ax, center, symbol, color):
    """Draw a round sum or product node with its symbol in the middle."""
    ax.add_patch(Circle(center, NODE_RADIUS, facecolor=color, edgecolor=INK, linewidth=2.5, zorder=3))
    ax.text(*center, symbol, ha="center", va="center", fontsize=26, fontweight="bold", color="white", zorder=4)


def draw_leaf(ax, center, mean_shift, color):
    """Draw a leaf as a rounded box holding a small Gaussian density curve."""
    x0, y0 = center
    ax.add_patch(
        FancyBboxPatch(
            (x0 - LEAF_HALF_WIDTH, y0 - LEAF_HALF_HEIGHT),
            2 * LEAF_HALF_WIDTH,
            2 * LEAF_HALF_HEIGHT,
            boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor="white",
            edgecolor=color,
            linewidth=2.5,
            zorder=3,
        )
    )
    xs = np.linspace(-1.0, 1.0, 200)
    density = np.exp(-0.5 * ((xs - mean_shift) / 0.3) ** 2)
    px = x0 + xs * (LEAF_HALF_WIDTH - 0.07)
    py = y0 - LEAF_HALF_HEIGHT + 0.07 + density * (2 * LEAF_HALF_HEIGHT - 0.16)
    ax.fill_between(px, y0 - LEAF_HALF_HEIGHT + 0.07, py, color=color, alpha=0.25, linewidth=0, zorder=4)
    ax.plot(px, py, color=color, linewidth=2.2, zorder=5)


def connect(ax, parent, child, parent_gap, child_gap):
    """Draw an edge between two node centers, stopping short of both shapes."""
    (x1, y1), (x2, y2) = parent, child
    ax.plot([x1, x2], [y1 - parent_gap, y2 + child_gap], color=EDGE_COLOR, linewidth=2.0, zorder=1)


def main():
    fig = plt.figure(figsize=(8, 4), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 8)
    ax.set_ylim(0, 4)
    ax.set_aspect("equal")
    ax.axis("off")

    root = (2.15, 3.3)
    products = [(1.05, 2.05), (2.15, 2.05), (3.25, 2.05)]
    # Two variables, two Gaussian leaves each: leaves 0-1 cover X1, leaves 2-3 cover X2.
    leaves = [(0.7, 0.7), (1.65, 0.7), (2.65, 0.7), (3.6, 0.7)]
    leaf_shifts = (-0.4, 0.35, -0.15, 0.45)
    # Every product takes one leaf of X1 and one leaf of X2, so its scope is {X1, X2}.
    product_children = [(0, 2), (1, 3), (0, 3)]

    for product in products:
        connect(ax, root, product, NODE_RADIUS, NODE_RADIUS)
    for product, children in zip(products, product_children):
        for leaf_index in children:
            connect(ax, product, leaves[leaf_index], NODE_RADIUS, LEAF_HALF_HEIGHT)

    draw_operator(ax, root, "+", SUM_COLOR)
    for product in products:
        draw_operator(ax, product, "\u00d7", PRODUCT_COLOR)
    for index, (leaf, shift) in enumerate(zip(leaves, leaf_shifts)):
        draw_leaf(ax, leaf, shift, LEAF_COLORS[index // 2])

    for index, (x, _) in enumerate(leaves):
        ax.text(x, 0.22, f"$X_{index // 2 + 1}$", ha="center", va="center", fontsize=13, color=INK)

    ax.text(4.3, 2.25, "libspn-keras", ha="left", va="center", fontsize=34, fontweight="bold", color=INK)
    ax.text(4.35, 1.55, "Sum-Product Networks", ha="left", va="center", fontsize=17, color=SUM_COLOR)
    ax.text(4.35, 1.15, "as Keras layers", ha="left", va="center", fontsize=17, color=LEAF_COLORS[0])

    fig.savefig(OUT, dpi=100, facecolor="white")
    plt.close(fig)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
