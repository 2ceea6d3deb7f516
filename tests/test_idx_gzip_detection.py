"""load_idx recognizes gzip by content and names the file when a gzip stream is damaged or cut short."""

import gzip

import numpy as np
import pytest

from libspn_keras.datasets import load_idx

_IDX = bytes([0, 0, 0x08, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(range(6))


def test_cut_short_gzip_is_a_value_error_naming_the_file(tmp_path):
    path = tmp_path / "images-idx2-ubyte.gz"
    path.write_bytes(gzip.compress(_IDX)[:-10])
    with pytest.raises(ValueError, match=r"load_idx: .*images-idx2-ubyte\.gz is a damaged or cut-short gzip file"):
        load_idx(path)


@pytest.mark.parametrize(
    ("name", "compressed"), [("plain.gz", False), ("compressed", True), ("both.gz", True), ("none", False)]
)
def test_gzip_is_recognized_by_content_not_by_name(tmp_path, name, compressed):
    path = tmp_path / name
    path.write_bytes(gzip.compress(_IDX) if compressed else _IDX)
    np.testing.assert_array_equal(load_idx(path), np.arange(6, dtype=np.uint8).reshape(2, 3))
