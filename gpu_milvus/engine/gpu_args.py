"""Launch arguments shared by the GPU search paths (``gpu.py``, ``gpu_sparse.py``): row masks
as device bitsets (the layout ``cuda/common.cuh`` reads) and range bounds as kernel scalars."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np

from gpu_milvus.engine.backend import QueryMasks, Valid
from gpu_milvus.engine.cpu import Bounds
from gpu_milvus.engine.gpu_store import cupy_module as _cp


@cache
def _placeholder(device: int, dtype: str) -> Any:
    return _cp().zeros(1, dtype=dtype)


def placeholder(dtype: str = "int32") -> Any:
    """One zero on the current device for a (const) pointer argument the kernel does not
    read (no mask, no ids): made once per device and dtype, not once per search."""
    return _placeholder(_cp().cuda.Device().id, dtype)


def bound_args(bounds: Bounds) -> tuple[Any, ...]:
    """(has_radius, radius, has_rf, range_filter) as the kernels take them."""
    radius, rf = bounds
    return (
        np.int32(radius is not None),
        np.float32(0.0 if radius is None else radius),
        np.int32(rf is not None),
        np.float32(0.0 if rf is None else rf),
    )


@dataclass(frozen=True)
class DeviceMask:
    """A search's row mask on the device, as the kernels read it (bitsets: common.cuh)."""

    bits: Any  # uint32 words: the shared bitset (mode 1) or one per distinct filter (mode 2)
    words: int  # words per bitset
    row: Any  # int32 per query: its bitset in mode 2, else a placeholder
    mode: int  # 0 none, 1 shared, 2 per query
    shared: np.ndarray | None = None  # mode 1: the host bools (for gathering passing rows)

    def args(self) -> tuple[Any, ...]:
        return self.bits, np.int64(self.words), self.row, np.int32(self.mode)

    def queries(self, which: Any) -> DeviceMask:
        """The mask of a subset of the queries (a slice or device index array)."""
        return self if self.mode != 2 else replace(self, row=self.row[which])


def pack_bits(rows: np.ndarray, words: int) -> np.ndarray:
    """Bool rows (m, n) as little-endian bitsets of ``words`` uint32 words each."""
    packed = np.packbits(rows, axis=-1, bitorder="little")
    out = np.zeros((rows.shape[0], words * 4), dtype=np.uint8)
    out[:, : packed.shape[1]] = packed
    return out.view("<u4")


def device_mask(valid: Valid, nq: int, n: int) -> DeviceMask:
    """Upload ``valid`` (None, shared bools, (nq, n) bools or QueryMasks) as bitsets: each
    distinct filter crosses PCIe once, at one bit per row."""
    cp = _cp()
    words = max(1, -(-n // 32))
    if valid is None:
        return DeviceMask(placeholder("uint32"), 0, placeholder(), 0)
    if valid.ndim == 1:
        shared = np.asarray(valid[:n], dtype=bool)
        bits = cp.asarray(pack_bits(shared[None, :], words)[0])
        return DeviceMask(bits, words, placeholder(), 1, shared)
    if isinstance(valid, QueryMasks):
        table, index = valid.masks[:, :n], valid.index
    else:
        table, index = valid[:, :n], np.arange(nq)
    bits = cp.asarray(pack_bits(np.asarray(table, dtype=bool), words))
    return DeviceMask(bits, words, cp.asarray(index.astype(np.int32)), 2)
