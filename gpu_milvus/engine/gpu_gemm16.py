"""Products of 16-bit rows on the tensor cores: cuBLAS GemmEx over IEEE half or bfloat16
words with float32 accumulation and float32 output (no 16-bit rounding or overflow of the
products, unlike ``cupy.matmul`` on float16 arrays; and CuPy has no bfloat16 dtype).

The enum values are cuBLAS's and CUDA's own (``cublas_api.h``, ``library_types.h``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpu_milvus.engine.gpu_store import cupy_module as _cp

_WORD_TYPES = {"float16": 2, "bfloat16": 14}  # CUDA_R_16F, CUDA_R_16BF
_CUDA_R_32F = 0
_COMPUTE_32F = 68  # CUBLAS_COMPUTE_32F
_GEMM_DEFAULT = -1  # CUBLAS_GEMM_DEFAULT (tensor cores where the types allow)
_OP_N, _OP_T = 0, 1
_POINTER_MODE_HOST = 0
_ONE, _ZERO = np.ones(1, np.float32), np.zeros(1, np.float32)  # alpha, beta (host memory)


def _ptr(a: Any) -> int:
    return int(a.__cuda_array_interface__["data"][0])


def products16(q16: Any, x16: Any, scan_dtype: str) -> Any:
    """float32 (nq, n) products of the queries' words q16 (nq, d) with the rows' words
    x16 (n, d), both uint16 words of ``scan_dtype`` on the current device."""
    cp = _cp()
    q16, x16 = cp.ascontiguousarray(q16), cp.ascontiguousarray(x16)
    (nq, d), n = q16.shape, x16.shape[0]
    out = cp.empty((nq, n), dtype=cp.float32)
    if out.size == 0:
        return out
    words, cublas = _WORD_TYPES[scan_dtype], cp.cuda.cublas
    handle = cp.cuda.get_cublas_handle()
    mode = cublas.getPointerMode(handle)
    cublas.setPointerMode(handle, _POINTER_MODE_HOST)
    try:  # column-major out^T (n x nq) = x16 (read as d x n, transposed) @ q16^T (d x nq)
        cublas.gemmEx(
            handle, _OP_T, _OP_N, n, nq, d, _ONE.ctypes.data, _ptr(x16), words, d,
            _ptr(q16), words, d, _ZERO.ctypes.data, _ptr(out), _CUDA_R_32F, n,
            _COMPUTE_32F, _GEMM_DEFAULT,
        )  # fmt: skip
    finally:
        cublas.setPointerMode(handle, mode)
    return out
