"""Completing hidden pixels with a generative SPN, scored against a mean-fill baseline."""

import time
from dataclasses import dataclass

import numpy as np


@dataclass
class Completions:
    """What :func:`complete_and_score` returns.

    Attributes:
        masked: The images with NaN where a pixel is hidden.
        images: ``{method: completed images}``.
        mse: ``{method: mean squared error on the hidden pixels}``.
        baseline_mse: The same error when every hidden pixel gets its training mean.
        seconds: ``{method: time taken by model.complete}``.
    """

    masked: np.ndarray
    images: dict
    mse: dict
    baseline_mse: float
    seconds: dict


def complete_and_score(model, images, mask, pixel_means, methods=("posterior_marginal", "mpe")):
    """Hides the pixels where ``mask`` is True and fills them in with ``model.complete``, once per method.

    Args:
        model: A generative SPN over the images (e.g. a DGC-SPN with one root).
        images: Test images ``[n, h, w, 1]``.
        mask: Boolean ``[h, w, 1]``, True where a pixel is hidden.
        pixel_means: Per-pixel training means ``[h, w, 1]``, the baseline's fill.
        methods: Completion methods of ``model.complete``.

    Returns:
        :class:`Completions`.
    """
    masked = np.where(mask, np.nan, images).astype("float32")
    result = Completions(masked, {}, {}, float(np.mean((pixel_means - images)[:, mask] ** 2)), {})
    for method in methods:
        start = time.perf_counter()
        result.images[method] = model.complete(masked, method=method)
        result.seconds[method] = time.perf_counter() - start
        result.mse[method] = float(np.mean((result.images[method] - images)[:, mask] ** 2))
    return result


def conditional_samples(model, images, mask, num_samples, seed):
    """The MPE completion and ``num_samples`` draws from ``p(hidden | observed)``, the pixels under ``mask`` hidden.

    Returns:
        ``(masked, columns)``: the images with NaN where hidden, and
        ``{"MPE": ..., "sample 1": ..., ...}`` for :func:`~spn_tutorials.plots.completion_grid`.
    """
    masked = np.where(mask, np.nan, images).astype("float32")
    columns = {"MPE": model.complete(masked, method="mpe")}
    for i in range(num_samples):
        columns[f"sample {i + 1}"] = model.complete(masked, method="sample", seed=seed + i)
    return masked, columns
