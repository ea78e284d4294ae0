"""Per-collection column store.

Invariants:
- rows are only appended, never moved: a row number is stable for the life of the table;
- scalar columns are Arrow chunks (one per insert batch, compacted when they pile up);
- dense vectors live in the backend's store (one float32 matrix per field), sparse in CSR;
- ``alive[r]`` is False once row r is deleted (or replaced by an upsert);
- ``visible[r]`` is True for the newest alive copy of each primary key. Milvus keeps
  duplicate primary keys (count(*) counts every alive copy) but query, search and get
  return one row per key: the newest, which is what ``visible`` selects.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from gpu_milvus import minhash
from gpu_milvus.engine.backend import Backend, DenseStore, SparseStore
from gpu_milvus.schema import META_FIELD, VALID_PREFIX, CollectionSpec, FieldSpec, FunctionSpec
from gpu_milvus.storage.growing import GrowingArray
from gpu_milvus.text import term_vectors

_MAX_CHUNKS = 32


def binary_array(f: FieldSpec, codes: np.ndarray, present: np.ndarray | None = None) -> pa.Array:
    """Packed binary vectors (uint8 rows) as the field's Arrow column, absent rows null."""
    validity = None if present is None or present.all() else pa.array(present).buffers()[1]
    return pa.FixedSizeBinaryArray.from_buffers(
        f.arrow_type, len(codes), [validity, pa.py_buffer(codes.tobytes())]
    )


def function_output(spec: CollectionSpec, fn: FunctionSpec, values: Any) -> Any:
    """A function's output for some rows (``values(field)``: that field's values there): a
    BM25 one's term vectors (CSR rows; a multi-language field's rows each with the analyzer
    their ``by_field`` names), a MINHASH one's signatures (its binary column)."""
    texts, source = values(fn.input), spec.function_source(fn.output)
    analyzer, multi = source.analyzer, source.multi_analyzer
    if fn.kind != "MINHASH":
        by = values(multi.by_field) if multi else None
        return term_vectors(texts, [multi.pick(n) for n in by] if multi and by else analyzer)
    f = spec.field(fn.output)
    assert f is not None, fn.output
    return binary_array(f, minhash.signatures(texts, fn.minhash_params(f.dim or 0), analyzer))


@dataclass
class Batch:
    """One validated, converted insert batch (see storage.ingest)."""

    num_rows: int
    pks: list[Any]
    scalars: dict[str, pa.Array]
    dense: dict[str, np.ndarray]
    sparse: dict[str, Any]


class Table:
    """Append-only rows of one collection, with tombstones and a primary-key index."""

    def __init__(self, spec: CollectionSpec, backend: Backend) -> None:
        self.spec = spec
        self._backend = backend
        self.num_rows = 0
        self._columns: dict[str, list[pa.Array]] = {f.name: [] for f in spec.arrow_schema()}
        self._arrow_schema = spec.arrow_schema()
        self._table_cache: pa.Table | None = None
        self.dense: dict[str, DenseStore] = {
            f.name: backend.dense_store(f.dim or 0) for f in spec.fields if f.is_dense
        }
        self.sparse: dict[str, SparseStore] = {
            f.name: backend.sparse_store() for f in spec.fields if f.is_sparse
        }
        pk_is_int = spec.primary.arrow_type == pa.int64()
        self._pks = GrowingArray(np.int64 if pk_is_int else object, 0 if pk_is_int else "")
        self.partition = GrowingArray(np.int32)
        self.alive = GrowingArray(np.bool_, False)
        self.visible = GrowingArray(np.bool_, False)
        self.alive_count = 0
        self._latest: dict[Any, int] = {}
        self._older: dict[Any, list[int]] = {}
        self._index_ready = True  # False after a reload, until a key lookup needs it
        self.dropped_fields = False  # stored segments may still hold a dropped field
        self._index_lock = threading.Lock()

    def set_spec(self, spec: CollectionSpec) -> None:
        """Follow a schema change: a field added since holds its default (or null) in every
        row so far; an added vector field is null (zeros, marked absent) there."""
        self.spec = spec
        self._arrow_schema = spec.arrow_schema()
        added = [name for name in self._arrow_schema.names if name not in self._columns]
        for name in added:
            self._columns[name] = [self._filler(name, self.num_rows)]
        for gone in set(self._columns) - set(self._arrow_schema.names):  # dropped fields
            del self._columns[gone]
            self.dropped_fields = True
        for stores in (self.dense, self.sparse):
            for gone in [name for name in stores if spec.field(name) is None]:
                del stores[gone]
                self.dropped_fields = True
        for fn in spec.functions:  # a MINHASH output added: backfilled
            if fn.kind == "MINHASH" and fn.output in added and self.num_rows:
                self._columns[fn.output] = [function_output(spec, fn, self._values(self.arrow()))]
        for f in spec.fields:
            if f.is_dense and f.name not in self.dense:
                self.dense[f.name] = self._backend.dense_store(f.dim or 0)
                self.dense[f.name].append(np.zeros((self.num_rows, f.dim or 0), np.float32))
            if f.is_sparse and f.name not in self.sparse:  # a function's output: backfilled
                self.sparse[f.name] = self._backend.sparse_store()
                if self.num_rows:
                    rows = self._missing_rows(f.name, self.arrow(), self.num_rows)
                    self.sparse[f.name].append(rows)
        self._table_cache = None

    def _missing_rows(self, name: str, source: pa.Table | dict[str, pa.Array], n: int) -> Any:
        """Sparse field ``name``'s ``n`` rows stored before it: a BM25 output computed from
        its input column in ``source``, else null (empty) rows."""
        fn = self.spec.function_for(name)
        if fn is None:
            return sp.csr_matrix((n, 1), dtype=np.float32)
        return function_output(self.spec, fn, self._values(source))

    @staticmethod
    def _values(source: pa.Table | dict[str, pa.Array]) -> Any:
        return lambda name: source[name].to_pylist()

    def _filler(self, name: str, n: int) -> pa.Array:
        f = self.spec.field(name)
        value = f.default_value if f is not None and f.has_default else None
        if name == META_FIELD:  # the dynamic field, turned on: no keys yet
            value = "{}"
        elif name.startswith(VALID_PREFIX):  # rows stored before a vector field was added
            value = False
        return pa.array([value] * n, type=self._arrow_schema.field(name).type)

    # ---------------------------------------------------------------- writes
    def reserve(self, rows: int) -> None:
        """Room for ``rows`` rows in one allocation per column (before a reload)."""
        for store in self.dense.values():
            store.reserve(rows)
        for array in (self._pks, self.partition, self.alive, self.visible):
            array.reserve(rows)

    def make_room(self, rows: int) -> None:
        """Claim the vector memory for ``rows`` more rows (host or GPU): raised here, out of
        memory leaves the table as it was, and a write calls this before logging itself."""
        for store in self.dense.values():
            store.make_room(rows)

    def append(
        self,
        batch: Batch,
        partition_id: int | np.ndarray,
        *,
        index_keys: bool = True,
        vectors: bool = True,
    ) -> None:
        """Append a validated batch (one partition id, or one per row).

        Existing rows with the same keys stay alive but hidden. A reload passes
        ``index_keys=False`` and calls ``settle_reload`` once all rows are in; one that
        appends the dense vectors itself passes ``vectors=False``. A dense field the batch
        lacks (it was written before the field was added) gets null rows.
        """
        start, n = self.num_rows, batch.num_rows
        if n == 0:
            return
        if index_keys:
            self._ensure_index()  # of the rows before this batch
        for name, store in self.dense.items() if vectors else ():  # first: may run out of memory
            store.append(batch.dense.get(name, np.zeros((n, store.dim), np.float32)))
        for name, store in self.sparse.items():  # an output added since: computed here
            csr = batch.sparse.get(name)
            store.append(csr if csr is not None else self._missing_rows(name, batch.scalars, n))
        for name, chunks in self._columns.items():
            array = batch.scalars.get(name)  # None: rows stored before the field was added
            chunks.append(self._filler(name, n) if array is None else array)
            if len(chunks) > _MAX_CHUNKS:
                self._columns[name] = [pa.concat_arrays(chunks)]
        self._pks.append(np.asarray(batch.pks, dtype=self._pks.view.dtype))
        self.partition.append(np.broadcast_to(np.asarray(partition_id, dtype=np.int32), (n,)))
        self.alive.append(np.ones(n, dtype=np.bool_))
        self.visible.append(np.ones(n, dtype=np.bool_))
        self.num_rows += n
        self.alive_count += n
        self._table_cache = None
        if index_keys:
            self._index_keys(batch.pks, start)
        else:
            self._index_ready = False

    def settle_reload(self, alive: np.ndarray | None) -> None:
        """After a reload: which rows are alive (None: all) and which copy of a key is seen."""
        if alive is not None:
            self.alive.view[:] = alive[: self.num_rows]
        live = self.alive.view
        self.alive_count = int(np.count_nonzero(live))
        keys = np.sort(self._pks.view[live])  # a sort is far cheaper than np.unique here
        if not (keys[1:] == keys[:-1]).any():
            self.visible.view[:] = live
            return
        self._ensure_index()
        self.visible.view[:] = False
        self.visible.view[list(self._latest.values())] = True

    def _ensure_index(self) -> None:
        """Build the key index of the alive rows, in row order, if a reload deferred it."""
        if self._index_ready:
            return
        with self._index_lock:
            if self._index_ready:
                return
            rows = np.flatnonzero(self.alive.view).tolist()
            keys = self._pks.view[rows].tolist()
            latest = dict(zip(keys, rows, strict=True))  # the last copy of each key wins
            older: dict[Any, list[int]] = {}
            if len(latest) != len(keys):
                for key, row in zip(keys, rows, strict=True):
                    if latest[key] != row:
                        older.setdefault(key, []).append(row)
            self._latest, self._older = latest, older
            self._index_ready = True

    def _index_keys(self, pks: Sequence[Any], start: int) -> None:
        rows = range(start, start + len(pks))
        fresh = dict(zip(pks, rows, strict=True))
        if len(fresh) == len(pks) and fresh.keys().isdisjoint(self._latest.keys()):
            self._latest.update(fresh)
            return
        visible = self.visible.view
        for pk, row in zip(pks, rows, strict=True):
            old = self._latest.get(pk)
            if old is not None:
                visible[old] = False
                self._older.setdefault(pk, []).append(old)
            self._latest[pk] = row

    def key_rows(self, pks: Sequence[Any], partition_id: int | None = None) -> np.ndarray:
        """Row numbers of every alive copy of each key (in one partition if given)."""
        self._ensure_index()
        rows = np.asarray([r for pk in pks for r in self._rows_of(pk)], dtype=np.int64)
        if partition_id is not None and len(rows):
            rows = rows[self.partition.view[rows] == partition_id]
        return rows

    def delete_keys(self, pks: Sequence[Any], partition_id: int | None = None) -> int:
        """Delete every alive copy of each key (in one partition if given); rows deleted."""
        return self.delete_rows(self.key_rows(pks, partition_id))

    def delete_rows(self, rows: np.ndarray) -> int:
        """Delete the given row numbers; returns how many of them were alive."""
        self._ensure_index()
        alive, visible = self.alive.view, self.visible.view
        rows = np.unique(rows)
        rows = rows[alive[rows]]
        alive[rows] = False
        visible[rows] = False
        for pk in set(self._pks.view[rows].tolist()):
            remaining = [r for r in self._rows_of(pk) if alive[r]]
            self._latest.pop(pk, None)
            self._older.pop(pk, None)
            if remaining:
                self._latest[pk] = remaining[-1]
                visible[remaining[-1]] = True
                if len(remaining) > 1:
                    self._older[pk] = remaining[:-1]
        self.alive_count -= len(rows)
        return len(rows)

    def _rows_of(self, pk: Any) -> list[int]:
        latest = self._latest.get(pk)
        if latest is None:
            return []
        return [*self._older.get(pk, []), latest]

    def rows_batch(self, start: int, stop: int) -> Batch:
        """Rows ``start..stop-1`` as a batch (scalars sliced, vectors as host views/copies)."""
        rows = np.arange(start, stop, dtype=np.int64)
        scalars = {
            name: self.column(name).slice(start, stop - start).combine_chunks()
            for name in self._arrow_schema.names
        }
        return Batch(
            num_rows=stop - start,
            pks=self._pks.view[start:stop].tolist(),
            scalars=scalars,
            dense={name: store.host_rows(start, stop) for name, store in self.dense.items()},
            sparse={name: store.take(rows) for name, store in self.sparse.items()},
        )

    def compacted(self, backend: Backend) -> Table:
        """A new table holding only the alive rows, in order (row numbers change)."""
        fresh = Table(self.spec, backend)
        rows = np.flatnonzero(self.alive.view)
        if len(rows) == 0:
            return fresh
        taken = pa.array(rows, type=pa.int64())
        batch = Batch(
            num_rows=len(rows),
            pks=self._pks.view[rows].tolist(),
            scalars={
                name: self.column(name).take(taken).combine_chunks()
                for name in self._arrow_schema.names
            },
            dense={name: store.take(rows) for name, store in self.dense.items()},
            sparse={name: store.take(rows) for name, store in self.sparse.items()},
        )
        fresh.append(batch, self.partition.view[rows])
        return fresh

    # ---------------------------------------------------------------- reads
    def rows_for_keys(self, pks: Sequence[Any]) -> np.ndarray:
        """Row numbers of the visible copy of each existing key, in key order, no repeats."""
        self._ensure_index()
        seen: dict[Any, int] = {}
        for pk in pks:
            row = self._latest.get(pk)
            if row is not None and pk not in seen:
                seen[pk] = row
        return np.fromiter(seen.values(), dtype=np.int64, count=len(seen))

    def has_key(self, pk: Any) -> bool:
        self._ensure_index()
        return pk in self._latest

    @property
    def pks(self) -> np.ndarray:
        return self._pks.view

    def column(self, name: str) -> pa.ChunkedArray:
        return pa.chunked_array(self._columns[name], type=self._arrow_schema.field(name).type)

    def arrow(self, names: Sequence[str] | None = None) -> pa.Table:
        """The scalar columns (all, or ``names``) as one Arrow table over every row."""
        if names is None:
            if self._table_cache is None:
                self._table_cache = pa.table(
                    [self.column(n) for n in self._arrow_schema.names], schema=self._arrow_schema
                )
            return self._table_cache
        wanted = [n for n in self._arrow_schema.names if n in set(names)]
        return pa.table([self.column(n) for n in wanted], names=wanted)

    def present(self, name: str) -> np.ndarray | None:
        """Which rows hold a vector in nullable vector field ``name`` (None: not nullable)."""
        f = self.spec.field(name)
        if f is None or not f.nullable:
            return None
        column = self.column(f.valid_column or name)
        if f.valid_column is None:  # binary: the column's own validity
            column = column.is_valid()
        return column.to_numpy(zero_copy_only=False).astype(bool, copy=False)

    def take_scalars(self, name: str, rows: np.ndarray) -> list[Any]:
        """Python values of one scalar column at the given rows."""
        return self.column(name).take(pa.array(rows, type=pa.int64())).to_pylist()

    @property
    def has_meta(self) -> bool:
        return META_FIELD in self._columns
