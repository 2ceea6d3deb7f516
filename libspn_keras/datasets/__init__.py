"""Dataset loaders: DEBD binary text files and IDX image files."""

from libspn_keras.datasets.debd import debd_dataset, load_debd
from libspn_keras.datasets.idx import load_idx

__all__ = ["debd_dataset", "load_debd", "load_idx"]
