"""K-means in NumPy, vectorized over many independent problems (one per variable cell).

Samples are ``[N, C, d]`` (``N`` samples of ``C`` cells with ``d`` dimensions)
and centres ``[C, k, d]``. Used by :class:`~libspn_keras.initializers.KMeans`.
"""

import numpy as np

# Upper bound on the elements of one [samples, cells, k] distance block.
_BLOCK_ELEMENTS = 1 << 22
# Largest number of clusters whose centres are aligned exactly (2**k subsets); above it, greedily.
_EXACT_ALIGNMENT_LIMIT = 10


def _sample_blocks(num_samples, num_cells, num_clusters):
    step = max(1, _BLOCK_ELEMENTS // max(1, num_cells * num_clusters))
    return [slice(start, start + step) for start in range(0, num_samples, step)]


def nearest_centres(data, centres):
    """Index ``[N, C]`` of the nearest centre and the mean squared distance to it."""
    nearest = np.empty(data.shape[:2], dtype=np.int64)
    total = 0.0
    for block in _sample_blocks(data.shape[0], data.shape[1], centres.shape[1]):
        distances = np.sum((data[block, :, None, :] - centres[None]) ** 2, axis=-1)
        nearest[block] = np.argmin(distances, axis=-1)
        total += np.take_along_axis(distances, nearest[block][..., None], axis=-1).sum()
    return nearest, total / max(1, nearest.size)


def kmeans_plus_plus(data, num_clusters, rng):
    """k-means++ seeding: each next centre drawn with probability proportional to its squared distance."""
    num_samples, num_cells, _ = data.shape
    cells = np.arange(num_cells)
    centres = [data[rng.integers(num_samples, size=num_cells), cells]]
    closest = np.sum((data - centres[0][None]) ** 2, axis=-1)  # [N, C]
    for _ in range(1, num_clusters):
        totals = closest.sum(axis=0)
        # A cell whose samples all coincide with chosen centres picks uniformly.
        weights = np.where(totals > 0, closest / np.where(totals > 0, totals, 1.0), 1.0 / num_samples)
        cumulative = np.cumsum(weights, axis=0)
        draws = rng.random(num_cells) * cumulative[-1]
        chosen = np.minimum(np.sum(cumulative <= draws[None], axis=0), num_samples - 1)
        centres.append(data[chosen, cells])
        closest = np.minimum(closest, np.sum((data - centres[-1][None]) ** 2, axis=-1))
    return np.stack(centres, axis=1)


def random_centres(data, num_clusters, rng, jitter=0.05):
    """Random samples as centres, plus normal noise of standard deviation ``jitter``."""
    num_samples, num_cells, dims = data.shape
    chosen = rng.integers(num_samples, size=(num_cells, num_clusters))
    centres = data[chosen, np.arange(num_cells)[:, None]]
    return centres + jitter * rng.standard_normal(centres.shape)


def lloyd(data, centres, num_iters, stop_epsilon):
    """Lloyd iterations until the mean squared distance changes by less than ``stop_epsilon``.

    A cluster that loses all its samples keeps its previous centre.
    """
    num_cells, num_clusters, dims = centres.shape
    previous = None
    for _ in range(num_iters):
        nearest, mse = nearest_centres(data, centres)
        bins = (np.arange(num_cells) * num_clusters + nearest).ravel()
        counts = np.bincount(bins, minlength=num_cells * num_clusters).reshape(num_cells, num_clusters)
        sums = np.stack(
            [np.bincount(bins, weights=data[..., j].ravel(), minlength=counts.size) for j in range(dims)], axis=-1
        ).reshape(centres.shape)
        centres = np.where(counts[..., None] > 0, sums / np.maximum(counts, 1.0)[..., None], centres)
        if previous is not None and abs(previous - mse) < stop_epsilon:
            break
        previous = mse
    return centres


def best_assignment(cost):
    """Permutation ``[C, k]`` minimizing ``sum_i cost[c, i, perm[c, i]]`` for every ``c``.

    Exact (dynamic programming over the 2**k subsets) for up to
    ``_EXACT_ALIGNMENT_LIMIT`` items, greedy (cheapest remaining pair first) above.
    """
    num_problems, size, _ = cost.shape
    rows = np.arange(num_problems)
    if size > _EXACT_ALIGNMENT_LIMIT:
        cost = cost.astype(np.float64).copy()
        assignment = np.zeros((num_problems, size), dtype=np.int64)
        for _ in range(size):
            flat = np.argmin(cost.reshape(num_problems, -1), axis=-1)
            slot, item = flat // size, flat % size
            assignment[rows, slot] = item
            cost[rows, slot, :] = np.inf
            cost[rows, :, item] = np.inf
        return assignment
    subsets = 1 << size
    filled = np.array([bin(mask).count("1") for mask in range(subsets)])
    best = np.full((num_problems, subsets), np.inf)
    best[:, 0] = 0.0
    last = np.zeros((num_problems, subsets), dtype=np.int64)
    for mask in range(1, subsets):
        slot = filled[mask] - 1
        for item in range(size):
            if mask >> item & 1:
                candidate = best[:, mask ^ (1 << item)] + cost[:, slot, item]
                better = candidate < best[:, mask]
                best[better, mask] = candidate[better]
                last[better, mask] = item
    assignment = np.zeros((num_problems, size), dtype=np.int64)
    mask = np.full(num_problems, subsets - 1)
    for slot in range(size - 1, -1, -1):
        item = last[rows, mask]
        assignment[:, slot] = item
        mask = mask ^ (1 << item)
    return assignment


def align_centres(centres, num_iters, stop_epsilon, rng, plus_plus=True):
    """Orders every cell's centres so that centre ``i`` of all cells sits near one shared group centre ``i``.

    Returns ``(aligned centres [C, k, d], group centres [k, d])``; the groups
    are ordered by their first dimension.
    """
    num_cells, num_clusters, dims = centres.shape
    pool = centres.reshape(1, -1, dims).transpose(1, 0, 2)  # every centre as a sample of one problem
    if plus_plus:
        groups = kmeans_plus_plus(pool, num_clusters, rng)[0]
    else:
        groups = pool[rng.choice(pool.shape[0], size=num_clusters, replace=False), 0]
    previous = None
    for _ in range(max(1, num_iters)):
        cost = np.sum((groups[None, :, None, :] - centres[:, None, :, :]) ** 2, axis=-1)  # [C, group, centre]
        centres = np.take_along_axis(centres, best_assignment(cost)[..., None], axis=1)
        groups = centres.mean(axis=0)
        mse = np.mean(np.sum((centres - groups[None]) ** 2, axis=-1))
        if previous is not None and abs(previous - mse) < stop_epsilon:
            break
        previous = mse
    order = np.argsort(groups[:, 0], kind="stable")
    return centres[:, order], groups[order]
