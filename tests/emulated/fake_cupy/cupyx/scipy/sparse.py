"""``cupyx.scipy.sparse`` of the emulated CuPy: SciPy matrices behind the device wall."""

from __future__ import annotations

from typing import Any

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


def csr_matrix(arg: Any, *args: Any, **kwargs: Any) -> spmatrix:
    """From a SciPy matrix (a host-to-device copy) or another device matrix."""
    if isinstance(arg, spmatrix):
        return spmatrix(arg._m.tocsr())
    if not sp.issparse(arg):
        raise TypeError("the emulation builds device matrices from SciPy matrices only")
    return spmatrix(sp.csr_matrix(arg, copy=True))
