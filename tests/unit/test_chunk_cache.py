"""The per-chunk cache of derived values (token postings, parsed geometries)."""

from __future__ import annotations

import pyarrow as pa

from gpu_milvus.chunk_cache import ChunkCache


def _chunks(n: int, rows: int) -> list[pa.Array]:
    return [pa.array([f"t{i}-{j}" for j in range(rows)]) for i in range(n)]


def test_every_chunk_of_a_many_chunk_column_stays_cached() -> None:
    """Thirty small chunks (thirty inserts) fit in the row budget: each is built once."""
    cache: ChunkCache[int] = ChunkCache(max_rows=1000)
    built: list[int] = []
    chunks = _chunks(30, 10)
    for _ in range(3):
        for c in chunks:
            cache.get(c, "tag", lambda c: built.append(len(c)) or len(built))
    assert len(built) == 30


def test_least_recently_used_chunks_go_past_the_row_budget() -> None:
    cache: ChunkCache[str] = ChunkCache(max_rows=25)
    a, b, c = _chunks(3, 10)
    calls: list[str] = []

    def build(name: str):
        return lambda chunk: calls.append(name) or name

    assert cache.get(a, None, build("a")) == "a"
    assert cache.get(b, None, build("b")) == "b"
    assert cache.get(a, None, build("a")) == "a"  # a is now the most recent
    assert cache.get(c, None, build("c")) == "c"  # 30 rows > 25: b goes
    assert cache.get(a, None, build("a")) == "a"
    assert cache.get(b, None, build("b")) == "b"  # rebuilt
    assert calls == ["a", "b", "c", "b"]


def test_tags_and_slices_are_distinct_entries() -> None:
    cache: ChunkCache[object] = ChunkCache(max_rows=100)
    (chunk,) = _chunks(1, 10)
    first = cache.get(chunk, "x", lambda c: object())
    assert cache.get(chunk, "x", lambda c: object()) is first
    assert cache.get(chunk, "y", lambda c: object()) is not first
    assert cache.get(chunk.slice(2), "x", lambda c: object()) is not first
