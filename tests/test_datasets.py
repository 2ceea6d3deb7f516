"""Dataset loaders on small fixtures written by the tests."""

import gzip
import struct

import numpy as np
import pytest

from libspn_keras import datasets


def write_debd(root, name, rows):
    folder = root / name
    folder.mkdir()
    for split in ("train", "valid", "test"):
        (folder / f"{name}.{split}.data").write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")


def test_load_debd_reads_every_split(tmp_path):
    rows = [[0, 1, 1], [1, 0, 0], [1, 1, 1], [0, 0, 0]]
    write_debd(tmp_path, "toy", rows)
    for split in ("train", "valid", "test"):
        data = datasets.load_debd(tmp_path, "toy", split)
        assert data.dtype == np.int32
        np.testing.assert_array_equal(data, rows)


def test_debd_dataset_batches(tmp_path):
    rows = [[i % 2, (i // 2) % 2] for i in range(10)]
    write_debd(tmp_path, "toy", rows)
    batches = list(datasets.debd_dataset(tmp_path, "toy", "train", batch_size=4))
    assert [len(b) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate(batches), rows)


def test_load_debd_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="split"):
        datasets.load_debd(tmp_path, "toy", "validation")
    with pytest.raises(FileNotFoundError, match=r"missing[/\\]missing\.train\.data or .*missing\.train\.data"):
        datasets.load_debd(tmp_path, "missing", "train")  # both places it looked
    write_debd(tmp_path, "bad", [[0, 2]])
    with pytest.raises(ValueError, match="other than 0 and 1"):
        datasets.load_debd(tmp_path, "bad", "train")
    (tmp_path / "ragged").mkdir()
    (tmp_path / "ragged" / "ragged.train.data").write_text("0,1\n0,1,1\n")
    with pytest.raises(
        ValueError, match=r"load_debd: .*ragged\.train\.data is not one row of comma-separated 0/1"
    ) as refusal:
        datasets.load_debd(tmp_path, "ragged", "train")
    assert "usecols" not in str(refusal.value)  # NumPy's advice to select columns does not apply to DEBD files
    (tmp_path / "ragged" / "ragged.valid.data").write_text("")
    with pytest.raises(ValueError, match="holds no samples"):
        datasets.load_debd(tmp_path, "ragged", "valid")


@pytest.mark.parametrize("compressed", [False, True])
def test_load_idx_round_trips_images_and_labels(tmp_path, compressed):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    labels = np.arange(5, dtype=np.uint8)
    for name, array in (("images", images), ("labels", labels)):
        header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
        payload = header + array.tobytes()
        path = tmp_path / (name + (".gz" if compressed else ""))
        path.write_bytes(gzip.compress(payload) if compressed else payload)
        np.testing.assert_array_equal(datasets.load_idx(path), array)


def test_load_idx_rejects_bad_files(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="magic"):
        datasets.load_idx(path)
    path.write_bytes(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 10) + b"\x00" * 3)
    with pytest.raises(ValueError, match="promises shape"):
        datasets.load_idx(path)
    # A header cut short, and a partial multi-byte value: messages naming the file, not NumPy's.
    path.write_bytes(bytes([0, 0, 0x08, 3]) + struct.pack(">I", 2))
    with pytest.raises(ValueError, match="cut short"):
        datasets.load_idx(path)
    path.write_bytes(bytes([0, 0, 0x0B, 1]) + struct.pack(">I", 2) + b"\x00" * 3)
    with pytest.raises(ValueError, match="bad.*promises shape \\(2,\\)"):
        datasets.load_idx(path)


@pytest.mark.parametrize("code, dtype", [(0x09, ">i1"), (0x0B, ">i2"), (0x0C, ">i4"), (0x0D, ">f4"), (0x0E, ">f8")])
def test_load_idx_reads_big_endian_values_into_native_arrays(tmp_path, code, dtype):
    values = np.arange(-6, 6).reshape(3, 4)
    path = tmp_path / "values.idx"
    header = bytes([0, 0, code, 2]) + struct.pack(">II", 3, 4)
    path.write_bytes(header + values.astype(dtype).tobytes())
    loaded = datasets.load_idx(path)
    np.testing.assert_array_equal(loaded, values)
    assert loaded.dtype.isnative and loaded.flags.writeable


def test_load_fashion_mnist_reads_an_idx_folder(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {}
    for stem, shape in [
        ("train-images-idx3-ubyte", (6, 28, 28)),
        ("train-labels-idx1-ubyte", (6,)),
        ("t10k-images-idx3-ubyte", (2, 28, 28)),
        ("t10k-labels-idx1-ubyte", (2,)),
    ]:
        array = rng.integers(0, 10 if len(shape) == 1 else 256, size=shape, dtype=np.uint8)
        header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
        (tmp_path / (stem + ".gz")).write_bytes(gzip.compress(header + array.tobytes()))
        arrays[stem] = array
    (x_train, y_train), (x_test, y_test) = datasets.load_fashion_mnist(tmp_path)
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(x_test, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])
