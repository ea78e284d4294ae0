"""One collection: its rows, partitions, indexes and load state, and the write paths.

Every public method takes the collection's lock (``read`` or ``write``); reads live in
``engine.reads``. Writes validate the whole batch first (``storage.ingest``) and only then
touch the table, so a rejected insert changes nothing.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pymilvus import DataType, StructFieldSchema

from gpu_milvus import errors, index_params, timestamptz
from gpu_milvus.engine.backend import Backend
from gpu_milvus.engine.journal import NULL_JOURNAL, Journal
from gpu_milvus.engine.locks import RWLock
from gpu_milvus.filter import compile_filter
from gpu_milvus.index_params import IndexSpec, index_spec
from gpu_milvus.schema import CollectionSpec, check_partition_name
from gpu_milvus.schema_changes import (
    with_added_field,
    with_added_struct_field,
    with_altered_field,
    with_function_field,
    without_field,
    without_function,
)
from gpu_milvus.storage.codec import index_from_json, index_to_json, spec_from_json, spec_to_json
from gpu_milvus.storage.ingest import build_batch
from gpu_milvus.storage.table import Batch, Table

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


def merged_properties(
    old: dict[str, Any], add: dict[str, Any] | None, drop: list[str] | None = None
) -> dict[str, Any]:
    """Collection or database properties after an alter/drop: values kept as strings, as
    the server keeps them; a ``timezone`` must name one."""
    if add and timestamptz.TIMEZONE_KEY in add:
        timestamptz.check_timezone(add[timestamptz.TIMEZONE_KEY])
    out = {k: v for k, v in old.items() if k not in (drop or [])}
    out.update({k: str(v) for k, v in (add or {}).items()})
    return out


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
        db: str = "default",
        journal: Journal = NULL_JOURNAL,
    ) -> None:
        self.spec = spec
        self.db = db
        self.journal = journal
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

    @property
    def timezone(self) -> str:
        """The time zone of TIMESTAMPTZ text without an offset, and of returned values."""
        return str(self.properties.get(timestamptz.TIMEZONE_KEY) or timestamptz.DEFAULT_TIMEZONE)

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

    # ------------------------------------------------------------------ metadata
    def meta(self) -> dict[str, Any]:
        """Everything but the rows, as JSON, the way the durable store records it."""
        return {
            "cid": self.collection_id,
            "db": self.db,
            "spec": spec_to_json(self.spec),
            "consistency_level": self.consistency_level,
            "num_shards": self.num_shards,
            "properties": self.properties,
            "created_at": self.created_at,
            "indexes": [index_to_json(i) for i in self.indexes.values()],
            "partitions": dict(self.partitions),
            "next_partition": self._next_partition,
            "loaded": sorted(self.loaded_partitions),
        }

    def change_meta(self, **changes: Any) -> None:
        """Log, then apply, a metadata change (the caller holds the write lock).

        ``indexes`` may be a dict of IndexSpec and ``loaded`` a set; the rest is JSON as in
        ``meta()``. A change the log refuses is not applied.
        """
        meta = self.meta()
        if "indexes" in changes:
            changes["indexes"] = [index_to_json(i) for i in changes["indexes"].values()]
        if "loaded" in changes:
            changes["loaded"] = sorted(changes["loaded"])
        meta.update(changes)
        self.journal.log_meta(meta)
        self.apply_meta(meta)

    def apply_meta(self, meta: dict[str, Any]) -> None:
        """Make this collection's metadata ``meta``; rows of dropped partitions are deleted."""
        spec = spec_from_json(meta["spec"])
        if spec != self.spec:
            self.spec = spec
            self.table.set_spec(spec)
        self.db = meta["db"]
        self.properties = dict(meta["properties"])
        self.indexes = {d["index_name"]: index_from_json(d) for d in meta["indexes"]}
        kept = set(meta["partitions"].values())
        for pid in set(self.partitions.values()) - kept:
            table = self.table
            table.delete_rows(np.flatnonzero((table.partition.view == pid) & table.alive.view))
        self.partitions = dict(meta["partitions"])
        self._next_partition = meta["next_partition"]
        self.loaded_partitions = set(meta["loaded"])

    @classmethod
    def from_meta(cls, meta: dict[str, Any], backend: Backend, journal: Journal) -> Collection:
        coll = cls(
            spec_from_json(meta["spec"]),
            backend,
            meta["cid"],
            consistency_level=meta["consistency_level"],
            num_shards=meta["num_shards"],
            db=meta["db"],
            journal=journal,
        )
        coll.created_at = meta["created_at"]
        coll.apply_meta(meta)
        return coll

    def apply_compaction(self) -> None:
        """Drop deleted rows for good; row numbers change (the caller holds the write lock)."""
        self.table = self.table.compacted(self.backend)

    # ------------------------------------------------------------------ partitions
    def create_partition(self, name: str) -> None:
        check_partition_name(name)
        with self.lock.write():
            if name in self.partitions:
                return
            if len(self.partitions) >= MAX_PARTITIONS:
                raise errors.invalid(
                    f"partition number ({len(self.partitions)}) exceeds max configuration "
                    f"({MAX_PARTITIONS})"
                )
            pid = self._next_partition
            loaded = set(self.loaded_partitions)
            if self.loaded and len(self.loaded_partitions) == len(self.partitions):
                loaded.add(pid)
            self.change_meta(
                partitions={**self.partitions, name: pid}, next_partition=pid + 1, loaded=loaded
            )

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
            partitions = {n: p for n, p in self.partitions.items() if n != name}
            self.change_meta(partitions=partitions)

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
            self.change_meta(indexes={**self.indexes, index.index_name: index})

    def drop_index(self, index_name: str) -> None:
        with self.lock.write():
            index = self.indexes.get(index_name)
            if index is None:
                return
            f = self.spec.search_field(index.field_name)
            if self.loaded and f is not None and (f.is_vector or f.struct_vector):
                raise errors.invalid(
                    "index cannot be dropped, collection is loaded, please release it first"
                )
            self.change_meta(indexes={n: i for n, i in self.indexes.items() if n != index_name})

    def alter_index(self, index_name: str, add: dict[str, Any], drop: list[str]) -> None:
        """alter_index_properties / drop_index_properties: the collection must be released."""
        index_params.check_configurable(add, drop)
        with self.lock.write():
            if self.loaded:
                raise errors.server(
                    errors.COLLECTION_LOADED,
                    "can't alter index on loaded collection, please release the collection "
                    f"first: collection already loaded[collection={self.name}]",
                )
            index = self.indexes.get(index_name)
            if index is None:
                raise errors.server(
                    errors.INDEX_NOT_FOUND, f"index not found[indexName={index_name}]"
                )
            changed = index_params.altered(index, add, drop)
            self.change_meta(indexes={**self.indexes, index_name: changed})

    # ------------------------------------------------------------------ load state
    def load(self, partition_names: Sequence[str] | None = None) -> None:
        with self.lock.write():
            for f in self.spec.vector_fields:
                if self.index_for_field(f.name) is None:
                    raise errors.no_vector_index(f.name)
            if partition_names is None:
                loaded = set(self.partitions.values())
            else:
                loaded = self.loaded_partitions | {self.partition_id(n) for n in partition_names}
            if loaded != self.loaded_partitions:
                self.change_meta(loaded=loaded)

    def release(self, partition_names: Sequence[str] | None = None) -> None:
        with self.lock.write():
            if partition_names is None:
                loaded: set[int] = set()
            else:
                loaded = self.loaded_partitions - {self.partition_id(n) for n in partition_names}
            if loaded != self.loaded_partitions:
                self.change_meta(loaded=loaded)

    # ------------------------------------------------------------------ writes
    def insert(self, rows: Sequence[Any], partition_name: str | None) -> list[Any]:
        given = str(self.properties.get("allow_insert_auto_id", "")).lower() == "true"
        batch = build_batch(self.spec, rows, self._new_ids, given_pks=given, timezone=self.timezone)
        with self.lock.write():
            pid = self.partition_id(partition_name or DEFAULT_PARTITION)
            self.table.make_room(batch.num_rows)  # out of memory: nothing logged or applied
            self.journal.log_insert(self, pid, batch)
            self.table.append(batch, pid)
        self.journal.after_write()
        return batch.pks

    def upsert(
        self,
        rows: Sequence[Any],
        partition_name: str | None,
        merge: Callable[[int], Sequence[Any]] | None = None,
    ) -> list[Any]:
        """Delete each key's old rows, then insert (auto_id collections get new keys).

        ``merge(partition_id)``, for a partial update, turns ``rows`` into whole rows from
        the stored ones; it runs under the write lock, so the read and the write are one step.
        """
        if merge is None:
            batch, old_keys = self._upsert_batch(rows)
        with self.lock.write():
            pid = self.partition_id(partition_name or DEFAULT_PARTITION)
            if merge is not None:
                batch, old_keys = self._upsert_batch(merge(pid))
            self.table.make_room(batch.num_rows)
            self.journal.log_upsert(self, pid, batch, old_keys or None)
            self.apply_upsert(batch, pid, old_keys or None)
        self.journal.after_write()
        return batch.pks

    def _upsert_batch(self, rows: Sequence[Any]) -> tuple[Batch, list[Any]]:
        """The validated batch, and under auto_id the given keys it replaces."""
        pk = self.spec.primary
        old_keys: list[Any] = []
        if pk.auto_id:
            if any(isinstance(r, dict) and pk.name not in r for r in rows):
                raise errors.invalid(
                    f"must assign pk when upsert, primary field: {pk.name}: invalid parameter"
                )
            old_keys = [r[pk.name] for r in rows]
            rows = [{k: v for k, v in r.items() if k != pk.name} for r in rows]
        return build_batch(self.spec, rows, self._new_ids, timezone=self.timezone), old_keys

    def apply_upsert(self, batch: Batch, pid: int, old_keys: list[Any] | None) -> None:
        self.table.delete_keys(old_keys or batch.pks)
        self.table.append(batch, pid)

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
            keys = ids
            if keys is None:
                plan = compile_filter(filter_expr or "", self.spec, filter_params, self.timezone)
                keys = plan.pk_values
            if keys is not None:
                rows = self.table.key_rows(keys, pid)
                count = len(keys)
            else:
                mask = self.table.alive.view.copy()
                if pid is not None:
                    mask &= self.table.partition.view == pid
                if not plan.always_true:
                    mask &= plan.evaluate(self.table.arrow(sorted(plan.columns)))
                rows = np.flatnonzero(mask)
                count = len(rows)
            if len(rows):
                self.journal.log_delete(self, rows)
                self.table.delete_rows(rows)
        self.journal.after_write()
        return count

    def truncate(self) -> None:
        """Delete every row."""
        with self.lock.write():
            rows = np.flatnonzero(self.table.alive.view)
            if len(rows):
                self.journal.log_delete(self, rows)
                self.table.delete_rows(rows)
        self.journal.after_write()

    def set_properties(
        self, add: dict[str, Any] | None = None, drop: list[str] | None = None
    ) -> None:
        """``dynamicfield.enabled`` turns the dynamic field on (it cannot be turned off); the
        other keys are kept as properties (``allow_insert_auto_id`` lets inserts carry keys)."""
        add = dict(add or {})
        dynamic = add.pop("dynamicfield.enabled", None)
        with self.lock.write():
            changes: dict[str, Any] = {"properties": merged_properties(self.properties, add, drop)}
            if (
                dynamic is not None
                and (str(dynamic).lower() == "true") != self.spec.enable_dynamic_field
            ):
                if self.spec.enable_dynamic_field:
                    raise errors.invalid(
                        f"the dynamic field of collection {self.name} cannot be disabled"
                    )
                spec = dataclasses.replace(
                    self.spec, enable_dynamic_field=True, version=self.spec.version + 1
                )
                changes["spec"] = spec_to_json(spec)
            self.change_meta(**changes)

    def _change_spec(
        self, spec: CollectionSpec, indexes: dict[str, IndexSpec] | None = None
    ) -> None:
        """Log and apply a schema change (the caller holds the write lock); the indexes on
        fields the new schema lacks go with them."""
        current = self.indexes if indexes is None else indexes
        kept = {n: i for n, i in current.items() if spec.search_field(i.field_name) is not None}
        self.change_meta(spec=spec_to_json(spec), indexes=kept)

    def add_field(self, field: Any) -> None:
        """Add a nullable field (or array of structs); existing rows hold its default value,
        or null."""
        with self.lock.write():
            if isinstance(field, StructFieldSchema):
                self._change_spec(with_added_struct_field(self.spec, field))
            else:
                self._change_spec(with_added_field(self.spec, field, zone=self.timezone))

    def drop_field(self, name: str) -> None:
        """Drop a field and the indexes on it; its data goes at the next checkpoint."""
        with self.lock.write():
            self._change_spec(without_field(self.spec, name))

    def add_function_field(self, field: Any, fn: Any, index_param: Any) -> None:
        """A BM25 function and its output field, with the output's index, in one change;
        the rows stored so far get their term vectors at once."""
        with self.lock.write():
            spec = with_function_field(self.spec, field, fn)
            index = index_spec(spec, index_param)
            if index.index_name in self.indexes:
                raise errors.invalid(
                    f"index already exists, collection: {self.name}, index name: {index.index_name}"
                )
            self._change_spec(spec, {**self.indexes, index.index_name: index})

    def drop_function(self, name: str) -> None:
        """Drop a function with its output field and that field's index."""
        with self.lock.write():
            self._change_spec(without_function(self.spec, name))

    def alter_field(self, name: str, params: dict[str, Any]) -> None:
        with self.lock.write():
            self._change_spec(with_altered_field(self.spec, name, params, self.loaded))

    def row_count(self) -> int:
        with self.lock.read():
            return self.table.alive_count

    def partition_row_count(self, name: str) -> int:
        with self.lock.read():
            pid = self.partition_id(name)
            return int((self.table.alive.view & (self.table.partition.view == pid)).sum())
