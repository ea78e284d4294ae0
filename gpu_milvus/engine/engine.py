"""The engine: one per local uri in a process, shared by every client that opens that uri.

It keeps the databases and their collections, creates, drops and renames them, and picks the
compute backend once, when the uri is first opened. Data lives for the life of the process
(durable storage is a later layer).
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import Any

from gpu_milvus import errors
from gpu_milvus.engine.backend import select_backend
from gpu_milvus.engine.collection import Collection
from gpu_milvus.schema import CollectionSpec, check_collection_name

DEFAULT_DB = "default"

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()
_collection_ids = itertools.count(449_000_000_000_000_001)


def engine_key(uri: str) -> str:
    """``:memory:`` stays as is; paths are made absolute so two spellings share an engine."""
    if uri == ":memory:":
        return uri
    return os.path.abspath(os.path.expanduser(uri))


def open_engine(uri: str, device: str = "auto") -> Engine:
    """The process-wide engine for ``uri``, created on first use."""
    key = engine_key(uri)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = Engine(key, device)
            _engines[key] = engine
        elif device not in ("auto", engine.device_request) and device != engine.backend.name:
            raise errors.invalid(
                f"uri {uri} is already open on device {engine.backend.name!r} in this process; "
                f"cannot reopen it on {device!r}"
            )
        return engine


class Engine:
    """Databases -> collections, with thread-safe DDL."""

    def __init__(self, key: str, device: str = "auto") -> None:
        self.key = key
        self.device_request = device
        self.backend = select_backend(device)
        self._lock = threading.RLock()
        self._dbs: dict[str, dict[str, Collection]] = {DEFAULT_DB: {}}

    # ------------------------------------------------------------------ databases
    def _db(self, db: str) -> dict[str, Collection]:
        found = self._dbs.get(db or DEFAULT_DB)
        if found is None:
            raise errors.server(errors.DATABASE_NOT_FOUND, f"database not found[database={db}]")
        return found

    def create_database(self, db: str) -> None:
        with self._lock:
            if db in self._dbs:
                raise errors.server(65535, f"database already exist: {db}")
            self._dbs[db] = {}

    def drop_database(self, db: str) -> None:
        with self._lock:
            if db == DEFAULT_DB:
                raise errors.server(65535, "can not drop default database")
            if self._dbs.get(db):
                raise errors.server(
                    65535, f"{db} not empty, must drop all collections before drop database"
                )
            self._dbs.pop(db, None)

    def list_databases(self) -> list[str]:
        with self._lock:
            return list(self._dbs)

    def has_database(self, db: str) -> bool:
        with self._lock:
            return (db or DEFAULT_DB) in self._dbs

    # ------------------------------------------------------------------ collections
    def get(self, db: str, name: str) -> Collection | None:
        with self._lock:
            return self._db(db).get(name)

    def require(self, db: str, name: str, *, describe_style: bool = False) -> Collection:
        coll = self.get(db, name)
        if coll is None:
            if describe_style:
                raise errors.describe_not_found(name, db or DEFAULT_DB)
            raise errors.collection_not_found(name, db or DEFAULT_DB)
        return coll

    def list_collections(self, db: str) -> list[str]:
        with self._lock:
            return list(self._db(db))

    def create_collection(self, db: str, spec: CollectionSpec, **options: Any) -> bool:
        """Create; returns False when an identical collection already exists (idempotent)."""
        check_collection_name(spec.name)
        with self._lock:
            colls = self._db(db)
            existing = colls.get(spec.name)
            if existing is not None:
                if existing.spec.fields == spec.fields and (
                    existing.spec.enable_dynamic_field == spec.enable_dynamic_field
                ):
                    return False
                raise errors.server(
                    1,
                    "create duplicate collection with different parameters, "
                    f"collection: {spec.name}",
                )
            colls[spec.name] = Collection(spec, self.backend, next(_collection_ids), **options)
            return True

    def drop_collection(self, db: str, name: str) -> None:
        with self._lock:
            self._db(db).pop(name, None)

    def rename_collection(self, db: str, old: str, new: str, target_db: str = "") -> None:
        check_collection_name(new)
        with self._lock:
            source = self._db(db)
            target = self._db(target_db or db)
            coll = source.get(old)
            if coll is None:
                raise errors.collection_not_found(old, db or DEFAULT_DB)
            if new in target:
                raise errors.invalid(f"duplicated new collection name {new} with other collection")
            with coll.lock.write():
                coll.spec = coll.spec.renamed(new)
                coll.table.spec = coll.spec
            del source[old]
            target[new] = coll
