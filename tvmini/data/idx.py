"""Reading and writing IDX files, the format MNIST and Fashion-MNIST ship in.

An IDX file is a 4-byte magic number ``00 00 <type code> <ndim>``, then ``ndim``
big-endian uint32 dimension sizes, then the items, row-major and big-endian.
Files may be gzip-compressed (recognised by gzip's own magic bytes, whatever the
file is called). Every check raises :class:`tvmini.errors.DataError` naming the
file and saying what was expected, so a truncated download or a wrong file is
reported as such rather than surfacing later as a reshape error or garbage.
"""
import gzip
import hashlib
import os
import zlib

import numpy as np

from ..errors import DataError

#: IDX type codes and the numpy dtypes they hold (big-endian on disk).
IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def md5_of(path, chunk_size=1 << 20):
    """The hex MD5 digest of a file's bytes (read in chunks)."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_bytes(path):
    """The file's content, decompressed when it is gzip data."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise DataError(f"IDX file {path} does not exist") from None
    except OSError as err:
        raise DataError(f"IDX file {path} cannot be read: {err}") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise DataError(f"IDX file {path} is a truncated or corrupt gzip stream ({len(raw)} bytes): {err}") from None


def read_idx(path, expected_ndim=None, expected_type=0x08):
    """Read one IDX file into a numpy array (native byte order).

    ``expected_ndim`` (e.g. 3 for images, 1 for labels) and ``expected_type``
    (0x08 = unsigned bytes; ``None`` accepts any) are checked against the magic
    number; the data length must equal the product of the dimensions exactly.
    """
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"IDX file {path} is truncated: {len(data)} bytes, shorter than its 4-byte magic number")
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise DataError(f"IDX file {path} has a wrong magic number {data[:4].hex()}: expected 0000 then a type code "
                        f"in {sorted(f'{code:02x}' for code in IDX_TYPES)} then the number of dimensions")
    type_code, ndim = data[2], data[3]
    if expected_type is not None and type_code != expected_type:
        raise DataError(f"IDX file {path} has a wrong magic number {data[:4].hex()}: item type {type_code:#04x}, "
                        f"expected {expected_type:#04x}")
    if expected_ndim is not None and ndim != expected_ndim:
        raise DataError(f"IDX file {path} has a wrong magic number {data[:4].hex()}: {ndim} dimensions, "
                        f"expected {expected_ndim}")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(f"IDX file {path} is truncated: {len(data)} bytes, its header alone needs {header_size}")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[type_code]
    expected_bytes = header_size + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) < expected_bytes:
        raise DataError(f"IDX file {path} is truncated: {len(data)} bytes, expected {expected_bytes} "
                        f"for shape {shape} of {dtype.name}")
    if len(data) > expected_bytes:
        raise DataError(f"IDX file {path} is corrupt: {len(data)} bytes, {len(data) - expected_bytes} more than "
                        f"the {expected_bytes} its header (shape {shape}) describes")
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path, array, compress=None):
    """Write ``array`` as an IDX file (gzip-compressed when ``compress`` or the name ends in ``.gz``).

    Used to build small datasets in the tests and to export data for other
    tools; the dtype must be one of the IDX item types.
    """
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_TYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise DataError(f"cannot write {path}: dtype {array.dtype} is not an IDX item type "
                        f"(uint8, int8, int16, int32, float32, float64)")
    code = codes[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    if compress is None:
        compress = os.fspath(path).endswith(".gz")
    if compress:
        payload = gzip.compress(payload, mtime=0)
    with open(path, "wb") as handle:
        handle.write(payload)
