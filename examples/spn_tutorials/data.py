"""Data of the tutorials, all offline: scikit-learn's digits, Fashion-MNIST files and synthetic DEBD data."""

import os

import numpy as np

DIGITS_PIXEL_MAX = 16.0
DEBD_SPLITS = ("train", "valid", "test")


def _digits_split(seed, test_size):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    return train_test_split(
        digits.images.astype("float32"),
        digits.target.astype("int32"),
        test_size=test_size,
        random_state=seed,
        stratify=digits.target,
    )


def load_digit_images(seed, test_size=360):
    """scikit-learn's 8x8 digits as raw float32 images ``[N, 8, 8, 1]`` (values 0..16) with their labels.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: a stratified split with
        ``test_size`` test images.
    """
    x_train, x_test, y_train, y_test = _digits_split(seed, test_size)
    return (x_train[..., None], y_train), (x_test[..., None], y_test)


def load_standardized_digits(seed, test_size=360, flat=False):
    """The digits standardized per pixel with the training mean and std, for classifiers.

    Pixels that barely vary (the borders) get a floor of 1 on their standard
    deviation so that they do not blow up.

    Returns:
        ``(x_train, y_train), (x_test, y_test)`` with images ``[N, 8, 8, 1]``,
        or vectors ``[N, 64]`` when ``flat``.
    """
    x_train, x_test, y_train, y_test = _digits_split(seed, test_size)
    mean = x_train.mean(axis=0)
    std = np.maximum(x_train.std(axis=0), 1.0)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    if flat:
        return (x_train.reshape(len(x_train), -1), y_train), (x_test.reshape(len(x_test), -1), y_test)
    return (x_train[..., None], y_train), (x_test[..., None], y_test)


def load_fashion_images(idx_dir, train_size, test_size, seed):
    """A random subset of Fashion-MNIST as float32 images ``[N, 28, 28, 1]`` (values 0..255).

    The files are read from ``idx_dir``, else from the Debian package
    ``dataset-fashion-mnist`` when installed, else through
    ``keras.datasets.fashion_mnist`` (which downloads); see
    :func:`libspn_keras.datasets.load_fashion_mnist`.
    """
    from libspn_keras.datasets import load_fashion_mnist

    (x_train, _), (x_test, _) = load_fashion_mnist(idx_dir)
    rng = np.random.default_rng(seed)
    x_train = x_train[rng.permutation(len(x_train))[:train_size]]
    x_test = x_test[rng.permutation(len(x_test))[:test_size]]
    return x_train.astype("float32")[..., None], x_test.astype("float32")[..., None]


def half_masks(size):
    """Boolean masks ``[size, size, 1]``, True where a pixel is hidden: the left half and the bottom half."""
    left = np.zeros((size, size, 1), bool)
    left[:, : size // 2] = True
    bottom = np.zeros((size, size, 1), bool)
    bottom[size // 2 :] = True
    return {"left": left, "bottom": bottom}


def mixture_log_likelihood(x, weights, probabilities):
    """``log p(x)`` per sample under a mixture of products of Bernoullis (``weights`` [C], ``probabilities`` [C, D])."""
    log_components = x @ np.log(probabilities).T + (1 - x) @ np.log1p(-probabilities).T + np.log(weights)
    peak = log_components.max(axis=1, keepdims=True)
    return (peak + np.log(np.exp(log_components - peak).sum(axis=1, keepdims=True)))[:, 0]


def write_synthetic_debd(folder, seed, num_vars=16, num_clusters=4, sizes=(1000, 200, 200)):
    """Writes ``synthetic/synthetic.SPLIT.data`` in the DEBD layout; returns the true mean LL per split.

    The samples come from a mixture of ``num_clusters`` products of Bernoullis
    with probabilities near 0 or 1, so the variables are strongly dependent
    through the hidden cluster.
    """
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(num_clusters, 2.0))
    probabilities = np.clip(rng.beta(0.3, 0.3, size=(num_clusters, num_vars)), 0.05, 0.95)
    os.makedirs(os.path.join(folder, "synthetic"), exist_ok=True)
    true_ll = {}
    for split, size in zip(DEBD_SPLITS, sizes):
        clusters = rng.choice(num_clusters, size=size, p=weights)
        data = (rng.random((size, num_vars)) < probabilities[clusters]).astype(np.int32)
        np.savetxt(os.path.join(folder, "synthetic", f"synthetic.{split}.data"), data, fmt="%d", delimiter=",")
        true_ll[split] = float(mixture_log_likelihood(data, weights, probabilities).mean())
    return true_ll


def independent_bernoulli_log_likelihood(train, data):
    """Mean LL of ``data`` under independent Bernoullis fit to ``train`` (with add-one smoothing)."""
    p = (train.sum(axis=0) + 1.0) / (len(train) + 2.0)
    return float(np.mean(data @ np.log(p) + (1 - data) @ np.log1p(-p)))


def load_debd_splits(root, name):
    """``(train, valid, test)`` int32 arrays of the DEBD dataset ``root/name/name.SPLIT.data``."""
    from libspn_keras.datasets import load_debd

    return tuple(load_debd(root, name, split) for split in DEBD_SPLITS)
