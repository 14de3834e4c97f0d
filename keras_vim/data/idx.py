"""Reader and writer for the IDX format of the MNIST family (Fashion-MNIST's file format)."""

import gzip
import os
import struct
import zlib

import numpy as np

# IDX type byte -> dtype; multi-byte values are big-endian on disk.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path):
    """Reads an IDX file (optionally gzip-compressed) into a numpy array.

    The header (two zero bytes, a type byte, the number of dimensions, then one
    big-endian uint32 per dimension) is validated against the payload size.
    Compression is detected from the content, not the file name.

    Args:
        path: path to an `*-ubyte` or `*-ubyte.gz` file.

    Returns:
        A numpy array in native byte order with the shape stored in the header.

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: if the file is truncated, corrupt or not an IDX file (the
            message names the file).

    Example:

    >>> images = read_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
    >>> images.shape, images.dtype
    ((10000, 28, 28), dtype('uint8'))
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"IDX file not found: {path}")
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"Corrupt or truncated gzip IDX file {path}: {e}") from e

    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"Not an IDX file (bad magic number {raw[:4].hex() or 'none'}): {path}")
    dtype = _IDX_DTYPES[raw[2]]
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header_size:
        raise ValueError(f"Truncated or invalid IDX header ({ndim} dimensions): {path}")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header_size
    if found != expected:
        raise ValueError(
            f"IDX file {path} has {found} data bytes but its header (shape {shape}, "
            f"{dtype.name}) needs {expected}; the file is truncated or corrupt"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Writes a numpy array as an IDX file, gzip-compressed when `path` ends in `.gz`.

    Args:
        path: output path.
        array: array of dtype uint8, int8, int16, int32, float32 or float64 with
            at least one dimension.

    Returns:
        The output path as a string.

    Example:

    >>> write_idx("/tmp/labels-idx1-ubyte.gz", np.arange(10, dtype="uint8"))
    '/tmp/labels-idx1-ubyte.gz'
    >>> read_idx("/tmp/labels-idx1-ubyte.gz")[:3]
    array([0, 1, 2], dtype=uint8)
    """
    path = os.fspath(path)
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in _IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(
            f"array dtype {array.dtype} cannot be stored as IDX; "
            f"use one of {sorted(d.name for d in codes)}"
        )
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"array must have 1 to 255 dimensions; got shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(_IDX_DTYPES[code], copy=False).tobytes()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)
    return path
