"""``cupy.cuda.cublas`` of the emulated CuPy: GemmEx on 16-bit words with float32 output, the
one cuBLAS call the engine makes itself (``gpu_milvus/engine/gpu_gemm16.py``).

Device pointers of the emulated CuPy are host addresses, so the operands are read from them
as cuBLAS would: column-major, with leading dimensions. Anything else the engine might pass
(other types, compute types, device pointer mode) raises, so a wrong call shows here.
"""

from __future__ import annotations

import ctypes

import numpy as np

_HANDLE = 0x5EED
_WORDS = {2: "float16", 14: "bfloat16"}
_mode = {_HANDLE: 0}


def getPointerMode(handle: int) -> int:
    return _mode[handle]


def setPointerMode(handle: int, mode: int) -> None:
    if mode not in (0, 1):
        raise ValueError(f"CUBLAS_STATUS_INVALID_VALUE: pointer mode {mode}")
    _mode[handle] = mode


def _at(ptr: int, dtype: str, count: int) -> np.ndarray:
    nbytes = count * np.dtype(dtype).itemsize
    return np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(ptr)).view(dtype)


def _words_to_float32(words: np.ndarray, kind: str) -> np.ndarray:
    if kind == "float16":
        return words.view(np.float16).astype(np.float32)
    return (words.astype(np.uint32) << 16).view(np.float32)


def _operand(ptr: int, kind: str, trans: int, rows: int, cols: int, ld: int) -> np.ndarray:
    """op(M) as a (rows x cols) float32 array, M column-major with leading dimension ld."""
    stored_cols, stored_rows = (rows, cols) if trans else (cols, rows)
    if ld < stored_rows:
        raise ValueError(f"CUBLAS_STATUS_INVALID_VALUE: ld {ld} < {stored_rows}")
    m = _at(ptr, "uint16", ld * (stored_cols - 1) + stored_rows).copy()
    m = np.pad(m, (0, ld * stored_cols - m.size)).reshape(stored_cols, ld)[:, :stored_rows]
    m = _words_to_float32(m, kind)  # row-major view of the column-major M: M^T
    return m if trans else m.T


def gemmEx(
    handle, transa, transb, m, n, k, alpha, a, atype, lda, b, btype, ldb, beta, c, ctype,
    ldc, compute_type, algo,
) -> None:  # fmt: skip
    if handle != _HANDLE or _mode[handle] != 0:
        raise ValueError("emulated cuBLAS: only the default handle in host pointer mode")
    if atype != btype or atype not in _WORDS or ctype != 0 or compute_type != 68:
        raise ValueError(f"emulated cuBLAS: types {atype, btype, ctype, compute_type}")
    if min(m, n, k) <= 0 or ldc < m:
        raise ValueError(f"CUBLAS_STATUS_INVALID_VALUE: m, n, k, ldc = {m, n, k, ldc}")
    kind = _WORDS[atype]
    op_a = _operand(a, kind, transa, m, k, lda)
    op_b = _operand(b, kind, transb, k, n, ldb)
    al, be = float(_at(alpha, "float32", 1)[0]), float(_at(beta, "float32", 1)[0])
    out = _at(c, "float32", ldc * (n - 1) + m)
    product = (op_a @ op_b).astype(np.float32)  # float32 accumulation of exact products
    for j in range(n):  # column j of C: out[j * ldc : j * ldc + m]
        col = out[j * ldc : j * ldc + m]
        col[:] = al * product[:, j] + (be * col if be != 0 else 0)
