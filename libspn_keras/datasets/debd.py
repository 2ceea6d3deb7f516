"""Loaders for the binary density-estimation benchmark (DEBD) text files."""

import os
import warnings

import numpy as np
import tensorflow as tf

DEBD_SPLITS = ("train", "valid", "test")


def debd_paths(root, name, split):
    """The places ``NAME.SPLIT.data`` may be, in the order they are tried: under ``root/NAME``, then ``root``."""
    if split not in DEBD_SPLITS:
        raise ValueError(f"load_debd: split must be one of {DEBD_SPLITS}, got {split!r}.")
    return os.path.join(root, name, f"{name}.{split}.data"), os.path.join(root, f"{name}.{split}.data")


def load_debd(root, name, split="train"):
    """Reads one DEBD split: one sample per line of comma-separated 0/1 values.

    Args:
        root: Folder holding ``NAME/NAME.SPLIT.data`` (or ``NAME.SPLIT.data``).
        name: Dataset name, e.g. ``"accidents"``.
        split: ``"train"``, ``"valid"`` or ``"test"``.

    Returns:
        ``int32`` array ``[samples, variables]``.

    Raises:
        FileNotFoundError: Where neither place holds the file (both named).
        ValueError: For another split name, or a file that is not rows of
            comma-separated 0/1 values of one length, or holds no rows.
    """
    candidates = debd_paths(root, name, split)
    path = next((candidate for candidate in candidates if os.path.exists(candidate)), None)
    if path is None:
        raise FileNotFoundError(
            f"load_debd: no file {' or '.join(candidates)}; expected the DEBD layout ROOT/NAME/NAME.SPLIT.data."
        )
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "loadtxt: input contained no data", UserWarning)  # refused below
            data = np.loadtxt(path, delimiter=",", dtype=np.int32, ndmin=2)
    except ValueError as error:  # NumPy's message names neither the file nor the format
        # Its advice on ragged rows (select columns with usecols) does not apply to DEBD files: dropped.
        reason = str(error).split("; use `usecols`")[0]
        raise ValueError(
            f"load_debd: {path} is not one row of comma-separated 0/1 values per sample: {reason}"
        ) from None
    if data.size == 0:
        raise ValueError(f"load_debd: {path} holds no samples.")
    if not np.isin(data, (0, 1)).all():
        raise ValueError(f"load_debd: {path} holds values other than 0 and 1.")
    return data


def debd_dataset(root, name, split="train", batch_size=100, shuffle=False, seed=None):
    """A batched ``tf.data.Dataset`` of one DEBD split (inputs only, for unsupervised ``fit``).

    Args:
        root: Folder holding ``NAME/NAME.SPLIT.data`` (or ``NAME.SPLIT.data``),
            as for :func:`load_debd`.
        name: Dataset name, e.g. ``"accidents"``.
        split: ``"train"``, ``"valid"`` or ``"test"``.
        batch_size: Samples per batch; the last batch holds the rest (it is
            not dropped).
        shuffle: If ``True``, the samples are shuffled across the whole
            split, in a new order at every pass over the dataset (every
            epoch); by default they come in the file's order.
        seed: Seed of the shuffle (an int), so that the orders repeat from
            run to run; ``None`` for unseeded orders. Unused without
            ``shuffle``.

    Returns:
        A ``tf.data.Dataset`` of ``int32`` batches ``[batch, variables]``.

    Raises:
        FileNotFoundError: As :func:`load_debd`.
        ValueError: As :func:`load_debd`.
    """
    data = load_debd(root, name, split)
    dataset = tf.data.Dataset.from_tensor_slices(data)
    if shuffle:
        dataset = dataset.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
