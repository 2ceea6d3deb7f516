"""Loader for IDX files, the format of MNIST and Fashion-MNIST."""

import gzip
import zlib

import numpy as np

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_idx(path):
    """Reads an IDX file (optionally gzip-compressed, recognized by its content) into an array of its stored shape."""
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw[:2] == b"\x1f\x8b":  # gzip's magic number, whatever the file's name
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as error:  # gzip's messages name neither the file nor the format
            raise ValueError(f"load_idx: {path} is a damaged or cut-short gzip file: {error}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"load_idx: {path} is not an IDX file (bad magic number).")
    num_dims = raw[3]
    offset = 4 + 4 * num_dims
    if len(raw) < offset:
        raise ValueError(
            f"load_idx: {path} is cut short: its header announces {num_dims} dimensions ({offset} header bytes), "
            f"the file has {len(raw)} bytes."
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(num_dims))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    num_bytes = len(raw) - offset
    if num_bytes != int(np.prod(shape)) * dtype.itemsize:
        raise ValueError(
            f"load_idx: {path} holds {num_bytes} bytes of {dtype.itemsize}-byte values after its header, which "
            f"promises shape {shape} ({int(np.prod(shape)) * dtype.itemsize} bytes)."
        )
    # A writable array in the machine's byte order (IDX stores multi-byte values big-endian).
    return np.frombuffer(raw, dtype=dtype, offset=offset).astype(dtype.newbyteorder("=")).reshape(shape)
