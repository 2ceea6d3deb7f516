"""Leaf locations from k-means clustering of data."""

import numpy as np
import tensorflow as tf
from tensorflow import keras

from libspn_keras.arguments import check_bool, check_float
from libspn_keras.initializers.data_based import DataInitializerBase
from libspn_keras.math.clustering import align_centres, kmeans_plus_plus, lloyd, random_centres
from libspn_keras.math.seeding import numpy_rng

CENTROID_INITIALIZATIONS = ("kmeans++", "random")


def _check(condition, message):
    if not condition:
        raise ValueError(f"KMeans: {message}")


def _resize_cells(values, size):
    """Bilinear resize of ``values`` ``[N, rows, cols, ...]`` to ``size`` ``(rows, cols)``."""
    flat = values.reshape(values.shape[:3] + (-1,))
    resized = tf.image.resize(tf.constant(flat), size, method="bilinear").numpy()
    return resized.reshape((values.shape[0], *size) + values.shape[3:])


@keras.utils.register_keras_serializable(package="libspn_keras")
class KMeans(DataInitializerBase):
    """Leaf locations ``[*cells, K, d]``: k-means centres of each cell's samples, with 0.6.0's options.

    Every cell is clustered separately over the samples (vectorized over
    cells) into ``min(K, max_num_clusters)`` clusters: ``centroid_initialization``
    seeding, then Lloyd iterations until the mean squared distance changes by
    less than ``stop_epsilon`` (at most ``num_iters``). A cluster that loses all
    its samples keeps its centre. With ``group_centroids`` a second k-means over
    all cells' centres orders every cell's centres so that component ``k`` is
    alike across cells (as weight sharing in ``Conv2DSum`` wants); without
    it, each cell's centres are sorted by their first dimension. When ``K``
    exceeds ``max_num_clusters`` every centre is repeated ``K /
    max_num_clusters`` times with normal noise of standard deviation
    ``jitter_factor``.

    The data serve only the first build of the weights and are not stored
    in the configuration; a loaded model restores its locations from its
    saved weights (see :class:`~libspn_keras.initializers.data_based.DataInitializerBase`).

    Args:
        data: Samples shaped like the leaf input, ``[N, *cells, d]`` (cell axes
            of size 1 broadcast), or a batched ``tf.data.Dataset``; or
            ``None`` and :meth:`~libspn_keras.initializers.DataInitializerBase.adapt`
            later.
        samplewise_normalization: Normalize every sample to zero mean and unit
            standard deviation (over all its entries) before clustering, for
            leaves behind a sample-wise ``NormalizeStandardScore``.
        data_fraction: Fraction of the samples (drawn at random) to cluster.
        normalization_epsilon: Added to the standard deviation when normalizing.
        stop_epsilon: Stop once the mean squared distance changes by less.
        num_iters: Maximum number of iterations (of clustering and of grouping).
        group_centroids: Order the centres alike across cells (see above).
        max_num_clusters: Most clusters per cell; ``K`` above it must be a multiple of it.
        jitter_factor: Standard deviation of the noise on repeated centres.
        centroid_initialization: ``"kmeans++"`` (spread-out seeds) or any
            other value for random samples plus a little noise.
        downsample: Optional int: cluster on images resized to
            ``1 / downsample`` of their rows and columns (data ``[N, rows, cols, d]``)
            and resize the centres back.
        use_groups: With ``group_centroids``, give every cell the shared group
            centres instead of its own.
        seed: Optional int seed; by default NumPy's global state (set by
            ``keras.utils.set_random_seed``).
    """

    def __init__(
        self,
        data=None,
        samplewise_normalization=True,
        data_fraction=0.2,
        normalization_epsilon=1e-2,
        stop_epsilon=1e-4,
        num_iters=100,
        group_centroids=True,
        max_num_clusters=8,
        jitter_factor=0.05,
        centroid_initialization="kmeans++",
        downsample=None,
        use_groups=False,
        seed=None,
    ):
        _check(
            isinstance(num_iters, (int, np.integer)) and not isinstance(num_iters, bool) and num_iters >= 0,
            f"num_iters must be an int >= 0, got {num_iters!r}.",
        )
        _check(
            isinstance(max_num_clusters, (int, np.integer)) and max_num_clusters >= 1,
            f"max_num_clusters must be an int >= 1, got {max_num_clusters!r}.",
        )
        _check(
            downsample is None or (isinstance(downsample, (int, np.integer)) and downsample >= 1),
            f"downsample must be None or an int >= 1, got {downsample!r}.",
        )
        self.samplewise_normalization = check_bool("KMeans", "samplewise_normalization", samplewise_normalization)
        self.data_fraction = check_float("KMeans", "data_fraction", data_fraction, 0.0, 1.0, min_open=True)
        self.normalization_epsilon = check_float("KMeans", "normalization_epsilon", normalization_epsilon, 0.0)
        self.stop_epsilon = check_float("KMeans", "stop_epsilon", stop_epsilon, 0.0)
        self.num_iters = int(num_iters)
        self.group_centroids = check_bool("KMeans", "group_centroids", group_centroids)
        self.max_num_clusters = int(max_num_clusters)
        self.jitter_factor = check_float("KMeans", "jitter_factor", jitter_factor, 0.0)
        self.centroid_initialization = str(centroid_initialization)
        self.downsample = None if downsample is None else int(downsample)
        self.use_groups = check_bool("KMeans", "use_groups", use_groups)
        self.seed = seed
        super().__init__(data)

    def get_config(self):
        return {
            "samplewise_normalization": self.samplewise_normalization,
            "data_fraction": self.data_fraction,
            "normalization_epsilon": self.normalization_epsilon,
            "stop_epsilon": self.stop_epsilon,
            "num_iters": self.num_iters,
            "group_centroids": self.group_centroids,
            "max_num_clusters": self.max_num_clusters,
            "jitter_factor": self.jitter_factor,
            "centroid_initialization": self.centroid_initialization,
            "downsample": self.downsample,
            "use_groups": self.use_groups,
            "seed": self.seed,
        }

    def estimate_cells(self, data, num_components):
        num_clusters = min(num_components, self.max_num_clusters)
        _check(
            num_components % num_clusters == 0,
            f"{num_components} components are not a multiple of max_num_clusters={self.max_num_clusters}.",
        )
        rng = numpy_rng(self.seed)
        if self.samplewise_normalization:
            axes = tuple(range(1, data.ndim))
            data = (data - data.mean(axis=axes, keepdims=True)) / (
                data.std(axis=axes, keepdims=True) + self.normalization_epsilon
            )
        size = min(len(data), max(num_clusters, int(len(data) * self.data_fraction)))
        _check(size >= num_clusters, f"{len(data)} samples cannot fill {num_clusters} clusters; pass more samples.")
        data = data[np.sort(rng.choice(len(data), size=size, replace=False))]
        cells = data.shape[1:-1]
        if self.downsample is not None:
            _check(len(cells) == 2, f"downsample needs image data [N, rows, cols, d], got shape {data.shape}.")
            small = (max(1, cells[0] // self.downsample), max(1, cells[1] // self.downsample))
            data = _resize_cells(data, small)
        centres = self.cluster(data.reshape(data.shape[0], -1, data.shape[-1]), num_clusters, rng)
        centres = centres.reshape(data.shape[1:-1] + centres.shape[1:])
        if self.downsample is not None:
            centres = _resize_cells(centres[None], cells)[0]
        if num_clusters < num_components:
            repeats = num_components // num_clusters
            centres = np.repeat(centres, repeats, axis=-2)
            centres = centres + self.jitter_factor * rng.standard_normal(centres.shape)
        return centres

    def cluster(self, data, num_clusters, rng):
        """Centres ``[C, k, d]`` of samples ``[N, C, d]``, grouped or sorted as configured."""
        plus_plus = self.centroid_initialization == "kmeans++"
        seeds = kmeans_plus_plus(data, num_clusters, rng) if plus_plus else random_centres(data, num_clusters, rng)
        centres = lloyd(data, seeds, self.num_iters, self.stop_epsilon)
        if self.group_centroids:
            centres, groups = align_centres(centres, self.num_iters, self.stop_epsilon, rng, plus_plus)
            return np.broadcast_to(groups, centres.shape) if self.use_groups else centres
        order = np.argsort(centres[..., 0], axis=-1, kind="stable")
        return np.take_along_axis(centres, order[..., None], axis=1)
