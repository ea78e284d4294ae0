"""One collection: its rows, partitions, indexes and load state, and the write paths.

Every public method takes the collection's lock (``read`` or ``write``); reads live in
``engine.reads``. Writes validate the whole batch first (``storage.ingest``) and only then
touch the table, so a rejected insert changes nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from pymilvus import DataType

from gpu_milvus import errors
from gpu_milvus.engine.backend import Backend
from gpu_milvus.engine.locks import RWLock
from gpu_milvus.filter import compile_filter
from gpu_milvus.index_params import IndexSpec
from gpu_milvus.schema import CollectionSpec
from gpu_milvus.storage.ingest import build_batch
from gpu_milvus.storage.table import Table

DEFAULT_PARTITION = "_default"
MAX_PARTITIONS = 1024

_id_lock = threading.Lock()
_last_id = 0


def allocate_ids(n: int) -> list[int]:
    """Server-style auto ids: unique, increasing 64-bit integers (milliseconds << 18 + n)."""
    global _last_id
    with _id_lock:
        base = max(int(time.time() * 1000) << 18, _last_id + 1)
        _last_id = base + n - 1
    return list(range(base, base + n))


class Collection:
    """State and write paths of one collection (thread-safe)."""

    def __init__(
        self,
        spec: CollectionSpec,
        backend: Backend,
        collection_id: int,
        *,
        consistency_level: int = 2,
        num_shards: int = 1,
        properties: dict[str, Any] | None = None,
    ) -> None:
        self.spec = spec
        self.backend = backend
        self.collection_id = collection_id
        self.consistency_level = consistency_level
        self.num_shards = num_shards
        self.properties = dict(properties or {})
        self.created_at = time.time()
        self.table = Table(spec, backend)
        self.indexes: dict[str, IndexSpec] = {}
        self.partitions: dict[str, int] = {DEFAULT_PARTITION: 0}
        self._next_partition = 1
        self.loaded_partitions: set[int] = set()
        self.lock = RWLock()

    # ------------------------------------------------------------------ helpers
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def loaded(self) -> bool:
        return bool(self.loaded_partitions)

    def partition_id(self, name: str) -> int:
        pid = self.partitions.get(name)
        if pid is None:
            raise errors.partition_not_found(name)
        return pid

    def index_for_field(self, field_name: str) -> IndexSpec | None:
        for index in self.indexes.values():
            if index.field_name == field_name:
                return index
        return None

    def _new_ids(self, n: int) -> list[Any]:
        ids = allocate_ids(n)
        if self.spec.primary.dtype == DataType.VARCHAR:
            return [str(i) for i in ids]
        return ids

    # ------------------------------------------------------------------ partitions
    def create_partition(self, name: str) -> None:
        with self.lock.write():
            if name in self.partitions:
                return
            if len(self.partitions) >= MAX_PARTITIONS:
                raise errors.invalid(
                    f"partition number ({len(self.partitions)}) exceeds max configuration "
                    f"({MAX_PARTITIONS})"
                )
            pid = self._next_partition
            self._next_partition += 1
            self.partitions[name] = pid
            if self.loaded and len(self.loaded_partitions) == len(self.partitions) - 1:
                self.loaded_partitions.add(pid)

    def drop_partition(self, name: str) -> None:
        with self.lock.write():
            if name == DEFAULT_PARTITION:
                raise errors.invalid("default partition cannot be deleted")
            pid = self.partitions.get(name)
            if pid is None:
                return
            if pid in self.loaded_partitions:
                raise errors.invalid(
                    f"partition cannot be dropped, partition is loaded, please release it "
                    f"first[partition={name}]"
                )
            rows = np.flatnonzero((self.table.partition.view == pid) & self.table.alive.view)
            self.table.delete_rows(rows)
            del self.partitions[name]

    # ------------------------------------------------------------------ indexes
    def create_index(self, index: IndexSpec) -> None:
        with self.lock.write():
            existing = self.index_for_field(index.field_name)
            if existing is not None:
                if existing.same_as(index) and existing.index_name == index.index_name:
                    return
                raise errors.invalid(
                    "at most one distinct index is allowed per field, but got "
                    f"{existing.index_name} and {index.index_name}"
                )
            if index.index_name in self.indexes:
                raise errors.invalid(
                    f"index already exists, collection: {self.name}, index name: {index.index_name}"
                )
            self.indexes[index.index_name] = index

    def drop_index(self, index_name: str) -> None:
        with self.lock.write():
            index = self.indexes.get(index_name)
            if index is None:
                return
            f = self.spec.field(index.field_name)
            if self.loaded and f is not None and f.is_vector:
                raise errors.invalid(
                    "index cannot be dropped, collection is loaded, please release it first"
                )
            del self.indexes[index_name]

    # ------------------------------------------------------------------ load state
    def load(self, partition_names: Sequence[str] | None = None) -> None:
        with self.lock.write():
            for f in self.spec.vector_fields:
                if self.index_for_field(f.name) is None:
                    raise errors.no_vector_index(f.name)
            if partition_names is None:
                self.loaded_partitions = set(self.partitions.values())
            else:
                pids = [self.partition_id(n) for n in partition_names]
                self.loaded_partitions |= set(pids)

    def release(self, partition_names: Sequence[str] | None = None) -> None:
        with self.lock.write():
            if partition_names is None:
                self.loaded_partitions = set()
            else:
                for n in partition_names:
                    self.loaded_partitions.discard(self.partition_id(n))

    # ------------------------------------------------------------------ writes
    def insert(self, rows: Sequence[Any], partition_name: str | None) -> list[Any]:
        batch = build_batch(self.spec, rows, self._new_ids)
        with self.lock.write():
            pid = self.partition_id(partition_name or DEFAULT_PARTITION)
            self.table.append(batch, pid)
        return batch.pks

    def upsert(self, rows: Sequence[Any], partition_name: str | None) -> list[Any]:
        """Delete each key's old rows, then insert (auto_id collections get new keys)."""
        pk = self.spec.primary
        old_keys: list[Any] = []
        if pk.auto_id:
            missing = [i for i, r in enumerate(rows) if isinstance(r, dict) and pk.name not in r]
            if missing:
                raise errors.invalid(
                    f"must assign pk when upsert, primary field: {pk.name}: invalid parameter"
                )
            old_keys = [r[pk.name] for r in rows]
            rows = [{k: v for k, v in r.items() if k != pk.name} for r in rows]
        batch = build_batch(self.spec, rows, self._new_ids)
        with self.lock.write():
            pid = self.partition_id(partition_name or DEFAULT_PARTITION)
            self.table.delete_keys(old_keys or batch.pks)
            self.table.append(batch, pid)
        return batch.pks

    def delete(
        self,
        ids: Sequence[Any] | None,
        filter_expr: str | None,
        partition_name: str | None,
        filter_params: dict[str, Any] | None,
    ) -> int:
        """Milvus's delete_count: the number of keys for a pk expression, else rows matched."""
        with self.lock.write():
            pid = self.partition_id(partition_name) if partition_name else None
            if ids is not None:
                self.table.delete_keys(ids, pid)
                return len(ids)
            plan = compile_filter(filter_expr or "", self.spec, filter_params)
            if plan.pk_values is not None:
                self.table.delete_keys(plan.pk_values, pid)
                return len(plan.pk_values)
            mask = self.table.alive.view.copy()
            if pid is not None:
                mask &= self.table.partition.view == pid
            if not plan.always_true:
                mask &= plan.evaluate(self.table.arrow(sorted(plan.columns)))
            return self.table.delete_rows(np.flatnonzero(mask))

    def row_count(self) -> int:
        with self.lock.read():
            return self.table.alive_count

    def partition_row_count(self, name: str) -> int:
        with self.lock.read():
            pid = self.partition_id(name)
            return int((self.table.alive.view & (self.table.partition.view == pid)).sum())
