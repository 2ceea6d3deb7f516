"""Dataset loaders: DEBD binary text files, IDX image files, Fashion-MNIST."""

from libspn_keras.datasets.debd import debd_dataset, load_debd
from libspn_keras.datasets.fashion_mnist import find_fashion_mnist_dir, load_fashion_mnist
from libspn_keras.datasets.idx import load_idx

__all__ = ["debd_dataset", "find_fashion_mnist_dir", "load_debd", "load_fashion_mnist", "load_idx"]
