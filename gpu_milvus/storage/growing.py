"""Growing NumPy buffers with amortised O(1) appends (capacity doubling)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class GrowingArray:
    """A 1-D NumPy array that grows by doubling; ``view`` is the filled prefix."""

    def __init__(self, dtype: Any, fill: Any = 0) -> None:
        self._data = np.full(64, fill, dtype=dtype)
        self._fill = fill
        self.size = 0

    def reserve(self, capacity: int) -> None:
        """Make room for ``capacity`` elements in one allocation (e.g. before a reload)."""
        if capacity > len(self._data):
            grown = np.full(capacity, self._fill, dtype=self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown

    def append(self, values: np.ndarray) -> None:
        need = self.size + len(values)
        if need > len(self._data):
            grown = np.full(max(need, 2 * len(self._data)), self._fill, dtype=self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : need] = values
        self.size = need

    @property
    def view(self) -> np.ndarray:
        return self._data[: self.size]


class GrowingMatrix:
    """A 2-D float32 matrix (rows x dim) that grows by doubling its row capacity."""

    def __init__(self, dim: int, dtype: Any = np.float32) -> None:
        self.dim = dim
        self._data = np.empty((0, dim), dtype=dtype)
        self.size = 0

    def reserve(self, capacity: int) -> None:
        """Make room for ``capacity`` rows in one allocation (e.g. before a reload)."""
        if capacity > len(self._data):
            grown = np.empty((capacity, self.dim), self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown

    def make_room(self, rows: int) -> None:
        """Room for ``rows`` more rows, growing by doubling (amortized appends)."""
        need = self.size + rows
        if need > len(self._data):
            self.reserve(max(need, 2 * len(self._data), 256))

    def append(self, block: np.ndarray) -> None:
        self.make_room(len(block))
        need = self.size + len(block)
        self._data[self.size : need] = block
        self.size = need

    @property
    def view(self) -> np.ndarray:
        return self._data[: self.size]

    def extend_with(self, fill: Callable[[np.ndarray], None], rows: int) -> np.ndarray:
        """Append ``rows`` rows that ``fill`` writes in place (no intermediate copy)."""
        self.reserve(self.size + rows)
        block = self._data[self.size : self.size + rows]
        fill(block)
        self.size += rows
        return block
