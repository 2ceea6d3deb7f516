"""Fashion-MNIST from local IDX files, with Keras's downloader as the fallback."""

import os
import shutil
import subprocess

from libspn_keras.datasets.idx import load_idx

DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def find_fashion_mnist_dir():
    """Folder of the IDX files installed by the Debian package ``dataset-fashion-mnist``, or ``None``."""
    if os.path.exists(os.path.join(DEBIAN_DIR, "train-images-idx3-ubyte.gz")):
        return DEBIAN_DIR
    if shutil.which("dpkg"):
        listing = subprocess.run(["dpkg", "-L", DEBIAN_PACKAGE], capture_output=True, text=True, check=False)
        for path in listing.stdout.splitlines():
            if path.endswith("train-images-idx3-ubyte.gz"):
                return os.path.dirname(path)
    return None


def _idx_path(folder, stem):
    for candidate in (stem + ".gz", stem):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"load_fashion_mnist: no {stem}(.gz) in {folder}.")


def load_fashion_mnist(idx_dir=None):
    """``((x_train, y_train), (x_test, y_test))`` as uint8 images ``[n, 28, 28]`` and labels ``[n]``.

    Reads the IDX files from ``idx_dir``, else from the Debian package
    ``dataset-fashion-mnist`` when installed (``apt-get install
    dataset-fashion-mnist``), else falls back to ``keras.datasets.fashion_mnist``,
    which downloads.
    """
    folder = idx_dir or find_fashion_mnist_dir()
    if folder is None:
        from tensorflow import keras

        return keras.datasets.fashion_mnist.load_data()
    return tuple(
        (load_idx(_idx_path(folder, images)), load_idx(_idx_path(folder, labels)))
        for images, labels in (_FILES["train"], _FILES["test"])
    )
