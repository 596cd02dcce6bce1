"""mxnet_params.py — MXNet's NDArray-list file (`.params`, mx.nd.save) read
with numpy alone, for the tests that run without MXNet: the layout of
io/params_file.h (V1, V2 and V3 dense arrays; float32, float64, float16,
uint8, int32, int8, int64).

    from mxnet_params import load
    arrays = load("tests/fixtures/mxnet/mlp-io.params")   # {name: ndarray}
"""
import struct

import numpy as np

_DTYPES = {0: "<f4", 1: "<f8", 2: "<f2", 3: "u1", 4: "<i4", 5: "i1", 6: "<i8"}


def _array(buf, off):
    (magic,) = struct.unpack_from("<I", buf, off)
    off += 4
    if magic not in (0xF993FAC8, 0xF993FAC9, 0xF993FACA):
        raise ValueError("legacy NDArray layout (no magic) not handled here: 0x%08X" % magic)
    if magic != 0xF993FAC8:
        (stype,) = struct.unpack_from("<i", buf, off)
        off += 4
        if stype != 0:
            raise ValueError("sparse array (storage type %d)" % stype)
    (ndim,) = struct.unpack_from("<i", buf, off)
    off += 4
    shape = struct.unpack_from("<%dq" % max(ndim, 0), buf, off)
    off += 8 * max(ndim, 0)
    if ndim == 0 and magic != 0xF993FACA:
        return None, off  # a none array
    off += 8  # dev_type, dev_id
    (flag,) = struct.unpack_from("<i", buf, off)
    off += 4
    dt = np.dtype(_DTYPES[flag])
    n = int(np.prod(shape)) if shape else 1
    a = np.frombuffer(buf, dt, n, off).reshape(shape)
    return a.copy(), off + n * dt.itemsize


def load(path):
    """{name: array} in file order (names "0", "1", ... for an unnamed list)."""
    buf = open(path, "rb").read()
    magic, _, n = struct.unpack_from("<QQQ", buf, 0)
    if magic != 0x112:
        raise ValueError("%s: not an MXNet NDArray file (magic 0x%X)" % (path, magic))
    off = 24
    arrays = []
    for _ in range(n):
        a, off = _array(buf, off)
        arrays.append(a)
    (k,) = struct.unpack_from("<Q", buf, off)
    off += 8
    names = []
    for _ in range(k):
        (ln,) = struct.unpack_from("<Q", buf, off)
        names.append(buf[off + 8 : off + 8 + ln].decode())
        off += 8 + ln
    if not names:
        names = [str(i) for i in range(n)]
    return dict(zip(names, arrays))
