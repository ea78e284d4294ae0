"""``cupyx.scipy.sparse`` of the emulated CuPy: SciPy matrices behind the device wall."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from cupy import ndarray


class spmatrix:  # CuPy's name
    """A sparse matrix "on the device": products give device arrays, ``get`` a SciPy copy."""

    def __init__(self, m: Any) -> None:
        self._m = m

    shape = property(lambda self: self._m.shape)
    nnz = property(lambda self: self._m.nnz)
    dtype = property(lambda self: self._m.dtype)
    T = property(lambda self: spmatrix(self._m.T))

    def tocsc(self) -> spmatrix:
        return spmatrix(self._m.tocsc())

    def tocsr(self) -> spmatrix:
        return spmatrix(self._m.tocsr())

    def toarray(self) -> ndarray:
        return ndarray(self._m.toarray())

    def get(self) -> Any:
        return self._m.copy()

    def __matmul__(self, other: Any) -> Any:
        if isinstance(other, spmatrix):
            return spmatrix(self._m @ other._m)
        if isinstance(other, ndarray):
            return ndarray(self._m @ other._a)
        raise TypeError(f"Unsupported type {type(other)}")


def csr_matrix(arg: Any, shape: Any = None, **kwargs: Any) -> spmatrix:
    """From a SciPy matrix (a host-to-device copy), another device matrix, or device arrays
    ``(data, indices, indptr)``, which CuPy requires to be int32-indexed."""
    if isinstance(arg, spmatrix):
        return spmatrix(arg._m.tocsr())
    if isinstance(arg, tuple):
        data, indices, indptr = arg
        if not all(isinstance(a, ndarray) for a in arg):
            raise TypeError("device arrays expected")
        if indices.dtype != np.int32 or indptr.dtype != np.int32:
            raise ValueError("cupyx CSR holds int32 indices and row pointers only")
        return spmatrix(sp.csr_matrix((data._a, indices._a, indptr._a), shape=shape))
    if not sp.issparse(arg):
        raise TypeError("the emulation builds device matrices from SciPy matrices only")
    return spmatrix(sp.csr_matrix(arg, copy=True))
