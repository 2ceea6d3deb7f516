"""Draw ``docs/guide/package_layers.png``: the folders of ``libspn_keras`` on floors by what they import.

Run with ``python3 docs/make_package_layers.py`` after moving code between
folders. The picture is computed from the package's own ``import``
statements (read with :mod:`ast`; nothing is imported): every folder (and
top-level module) stands one floor above the highest unit it imports, so
imports only ever point down. An arrow ``A -> B`` means "A imports B"; arrows
implied by a longer chain are left out. Only matplotlib is needed (the
``examples`` extra installs it).
"""

import ast
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "libspn_keras"
OUT = Path(__file__).resolve().parent / "guide" / "package_layers.png"
# Short modules that only re-export names at 0.6.0 import paths, and the version string: not layers of their own.
SKIPPED = {"__init__", "version", "logspace", "region"}
ROLES = {
    "math": "log-space kernels, EM statistics",
    "region_graph": "region graphs (plain data)",
    "backprop_mode": "0.6.0 sum-op names",
    "constraints": "weight constraints",
    "losses": "losses on root outputs",
    "datasets": "data loaders",
    "initializers": "weight initializers",
    "metrics": "log-likelihood metrics",
    "optimizers": "online EM",
    "config": "library-wide defaults",
    "sum_ops": "how sums weigh and backprop",
    "layers": "leaves, sums, products (one class a file)",
    "structure": "compile / learn region graphs",
    "visualize": "pictures",
    "models": "SPN models, builders, queries",
}


def unit_of(path):
    """The layer unit of a file: its top-level folder, or the module name for a top-level file."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else Path(parts[0]).stem


def imported_units(path):
    """Units of ``libspn_keras`` that the file at ``path`` imports."""
    units = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "libspn_keras" and len(parts) > 1:
                units.add(parts[1])
    return units


def import_graph():
    """``({unit: lines}, {unit: set of units it imports})`` over the package, skipping ``SKIPPED``."""
    lines, edges = {}, {}
    for path in sorted(PACKAGE.rglob("*.py")):
        unit = unit_of(path)
        if unit in SKIPPED:
            continue
        lines[unit] = lines.get(unit, 0) + len(path.read_text(encoding="utf-8").splitlines())
        edges.setdefault(unit, set()).update(imported_units(path))
    return lines, {unit: {d for d in deps if d in lines and d != unit} for unit, deps in edges.items()}


def floors(edges):
    """Floor of each unit: 1 for units importing nothing, else one above the highest unit imported."""
    floor = {}

    def visit(unit, trail):
        if unit in trail:
            raise SystemExit(f"import cycle between units: {' -> '.join(trail + [unit])}")
        if unit not in floor:
            floor[unit] = 1 + max((visit(dep, trail + [unit]) for dep in edges[unit]), default=0)
        return floor[unit]

    for unit in edges:
        visit(unit, [])
    return floor


def reduced(edges):
    """The edges not implied by a longer chain of imports (transitive reduction of the acyclic graph)."""

    def reachable(unit):
        seen, todo = set(), list(edges[unit])
        while todo:
            dep = todo.pop()
            if dep not in seen:
                seen.add(dep)
                todo.extend(edges[dep])
        return seen

    below = {unit: reachable(unit) for unit in edges}
    return {
        unit: {dep for dep in deps if not any(dep in below[other] for other in deps - {dep})}
        for unit, deps in edges.items()
    }


def place(lines, edges, floor, box_w, gap_x):
    """x-centre of every unit: the top floor by size, each floor below under the mean of its importers."""
    levels = sorted(set(floor.values()), reverse=True)
    width = max(sum(1 for u in floor if floor[u] == level) for level in levels) * (box_w + gap_x)
    x = {}
    for level in levels:
        row = [u for u in floor if floor[u] == level]
        importers = {u: [x[v] for v in edges if u in edges[v] and v in x] for u in row}
        row.sort(key=lambda u: (sum(importers[u]) / len(importers[u]) if importers[u] else width / 2, -lines[u]))
        start = (width - len(row) * (box_w + gap_x)) / 2
        x.update({u: start + (i + 0.5) * (box_w + gap_x) for i, u in enumerate(row)})
    return x, width


def route(start, end, top, bottom, centre, floor, box_w, box_h, gap_y):
    """Corners of an arrow from the bottom of the box at ``start`` to the top of the one at ``end``.

    On every floor in between, the line runs straight down through the gap nearest to the direct line.
    """
    (x1, y1), (x2, y2) = start, end
    points = [(x1, y1 - box_h / 2)]
    for level in range(top - 1, bottom, -1):
        y = (level - 1) * (box_h + gap_y)
        x = x1 + (x2 - x1) * (top - level) / (top - bottom)
        for other in (u for u in floor if floor[u] == level):
            left, right = centre[other][0] - box_w / 2, centre[other][0] + box_w / 2
            if left - 0.1 < x < right + 0.1:
                x = left - 0.15 if x - left < right - x else right + 0.15
        points += [(x, y + box_h + 0.05), (x, y - 0.05)]
    return points + [(x2, y2 + box_h / 2)]


def draw(lines, edges, floor):
    levels = sorted(set(floor.values()))
    box_w, box_h, gap_x, gap_y = 2.6, 0.9, 0.35, 0.8
    x_of, fig_w = place(lines, edges, floor, box_w, gap_x)
    fig, ax = plt.subplots(figsize=(fig_w * 0.9, len(levels) * (box_h + gap_y) * 0.9 + 0.6))
    centre = {}
    for unit, level in floor.items():
        x, y = x_of[unit] - box_w / 2, (level - 1) * (box_h + gap_y)
        centre[unit] = (x + box_w / 2, y + box_h / 2)
        folder = (PACKAGE / unit).is_dir()
        ax.add_patch(
            FancyBboxPatch(
                (x, y),
                box_w,
                box_h,
                boxstyle="round,pad=0.02,rounding_size=0.08",
                facecolor="#dbe9f6" if folder else "#f3f0e6",
                edgecolor="#24292f",
                linewidth=1.0,
                zorder=2,
            )
        )
        name = f"{unit}/" if folder else f"{unit}.py"
        ax.text(x + box_w / 2, y + box_h * 0.66, name, ha="center", va="center", fontsize=11, weight="bold", zorder=3)
        caption = f"{ROLES.get(unit, '')}\n{lines[unit]:,} lines"
        ax.text(
            x + box_w / 2,
            y + box_h * 0.3,
            caption,
            ha="center",
            va="center",
            fontsize=7.5,
            color="#3d444d",
            zorder=3,
            linespacing=1.3,
        )
    for unit, deps in reduced(edges).items():
        for dep in deps:
            points = route(centre[unit], centre[dep], floor[unit], floor[dep], centre, floor, box_w, box_h, gap_y)
            ax.plot(*zip(*points[:-1]), color="#8c959f", lw=0.8, zorder=1)
            ax.annotate(
                "",
                xy=points[-1],
                xytext=points[-2],
                zorder=1,
                arrowprops=dict(arrowstyle="-|>", color="#8c959f", lw=0.8, shrinkA=0, shrinkB=1),
            )
    for level in levels:
        ax.text(
            -0.05,
            (level - 1) * (box_h + gap_y) + box_h / 2,
            f"floor {level}",
            ha="right",
            va="center",
            fontsize=8,
            color="#6e7781",
        )
    ax.set_xlim(-0.9, fig_w)
    ax.set_ylim(-0.5, len(levels) * (box_h + gap_y))
    ax.set_title("libspn_keras: each folder imports only from the floors below it (arrow = imports)", fontsize=11)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT.relative_to(ROOT)}: {len(floor)} units on {len(levels)} floors")


if __name__ == "__main__":
    units_lines, unit_edges = import_graph()
    draw(units_lines, unit_edges, floors(unit_edges))
