"""Values derived from Arrow chunks (token postings, parsed geometries), built once per chunk.

An entry is keyed by the chunk's first buffer address, offset and length, plus a tag (an
analyzer), and holds the chunk, so the address cannot be reused while it is cached: Arrow
chunks never change. The least recently used entries go once the cached chunks hold more
than ``max_rows`` rows together (a column written in many small inserts has many chunks).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import pyarrow as pa

T = TypeVar("T")


class ChunkCache(Generic[T]):
    """A thread-safe LRU of per-chunk values, bounded by the rows of their chunks."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self._entries: OrderedDict[tuple[Any, ...], tuple[pa.Array, T]] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()

    def get(self, chunk: pa.Array, tag: Hashable, build: Callable[[pa.Array], T]) -> T:
        """``build(chunk)``, or the value built for this chunk and tag before."""
        first = next((b for b in chunk.buffers()[1:] if b is not None), None)
        key = (first.address if first is not None else 0, chunk.offset, len(chunk), tag)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found[1]
        value = build(chunk)
        with self._lock:
            if key not in self._entries:
                self._entries[key] = (chunk, value)
                self._rows += len(chunk)
            while self._rows > self.max_rows and len(self._entries) > 1:
                _, (old, _) = self._entries.popitem(last=False)
                self._rows -= len(old)
        return value
