"""The engine: one per local uri in a process, shared by every client that opens that uri.

It keeps the databases and their collections, creates, drops and renames them, and picks the
compute backend once, when the uri is first opened. ``:memory:`` keeps data for the life of
the process; a path uri keeps it on disk (``engine.durable``), and the engine is closed when
the last client that opened it closes.
"""

from __future__ import annotations

import atexit
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gpu_milvus import errors
from gpu_milvus.engine.backend import select_backend
from gpu_milvus.engine.collection import Collection, merged_properties
from gpu_milvus.engine.durable import DurableStore, StoreOptions
from gpu_milvus.engine.journal import NULL_JOURNAL, Journal
from gpu_milvus.schema import CollectionSpec, check_collection_name

DEFAULT_DB = "default"
MEMORY = ":memory:"

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()
_collection_ids = itertools.count(449_000_000_000_000_001)


def engine_key(uri: str) -> str:
    """``:memory:`` stays as is; paths are resolved so two spellings share an engine."""
    if uri == MEMORY:
        return uri
    return os.path.realpath(os.path.expanduser(uri))


def open_engine(
    uri: str, device: str = "auto", scan_dtype: str | None = None, **storage: Any
) -> Engine:
    """The process-wide engine for ``uri``, created (or reopened from disk) on first use.

    Each call counts as one user of the engine; ``release_engine`` ends it.
    ``GPU_MILVUS_SCAN_DTYPE`` sets ``scan_dtype`` where the client does not.
    """
    key = engine_key(uri)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            options = StoreOptions.from_kwargs(storage)
            default = os.environ.get("GPU_MILVUS_SCAN_DTYPE", "float32")
            engine = Engine(key, device, options, scan_dtype or default)
            _engines[key] = engine
        elif scan_dtype is not None and scan_dtype != engine.scan_dtype:
            raise errors.invalid(
                f"uri {uri} is already open with scan_dtype {engine.scan_dtype!r} in this "
                f"process; cannot reopen it with {scan_dtype!r}"
            )
        elif device not in ("auto", engine.device_request) and device != engine.backend.name:
            raise errors.invalid(
                f"uri {uri} is already open on device {engine.backend.name!r} in this process; "
                f"cannot reopen it on {device!r}"
            )
        engine.users += 1
        return engine


def release_engine(engine: Engine) -> None:
    """One user is done; the last one closes a durable engine (its data stays on disk)."""
    with _engines_lock:
        engine.users -= 1
        if engine.users > 0 or engine.store is None or _engines.get(engine.key) is not engine:
            return
        del _engines[engine.key]
    engine.close()


@atexit.register
def _close_all() -> None:
    """At exit, make every durable engine's log durable and release its lock."""
    with _engines_lock:
        durable = [e for e in _engines.values() if e.store is not None]
        _engines.clear()
    for engine in durable:
        engine.close(checkpoint=False)


class Engine:
    """Databases -> collections, with thread-safe DDL."""

    def __init__(
        self,
        key: str,
        device: str = "auto",
        options: StoreOptions | None = None,
        scan_dtype: str = "float32",
    ) -> None:
        self.key = key
        self.device_request = device
        self.scan_dtype = scan_dtype
        self.backend = select_backend(device, scan_dtype)
        self.lock = threading.RLock()
        self.users = 0
        self._dbs: dict[str, dict[str, Collection]] = {DEFAULT_DB: {}}
        # Per database: its properties, and its aliases (alias -> collection id).
        self._db_props: dict[str, dict[str, str]] = {}
        self._aliases: dict[str, dict[str, int]] = {}
        self._by_id: dict[int, Collection] = {}
        self.store: DurableStore | None = None
        self.journal: Journal = NULL_JOURNAL
        if key != MEMORY:
            self.store = DurableStore(Path(key), options or StoreOptions())
            self.journal = self.store.open(self)

    def close(self, *, checkpoint: bool = True) -> None:
        if self.store is not None:
            self.store.close(self, checkpoint=checkpoint)

    def flush(self) -> None:
        """Seal everything written so far (a checkpoint); no-op in memory."""
        if self.store is not None:
            self.store.checkpoint(self)

    def compact(self, coll: Collection) -> None:
        """Fold deleted rows and small segments of ``coll`` away; no-op in memory."""
        if self.store is not None:
            self.store.checkpoint(self, {coll.collection_id})

    # ------------------------------------------------------------------ placement
    def collections(self) -> Iterator[Collection]:
        return iter(list(self._by_id.values()))

    def by_id(self, cid: int) -> Collection | None:
        return self._by_id.get(cid)

    def place(self, coll: Collection) -> None:
        self._dbs.setdefault(coll.db, {})[coll.name] = coll
        self._by_id[coll.collection_id] = coll

    def unplace(self, coll: Collection) -> None:
        self._dbs.get(coll.db, {}).pop(coll.name, None)
        self._by_id.pop(coll.collection_id, None)

    @property
    def databases(self) -> list[dict[str, Any]]:
        """Each database's name, properties and aliases, as the durable store keeps them."""
        props, aliases = self._db_props, self._aliases
        return [
            {"name": n, "properties": dict(props.get(n, {})), "aliases": dict(aliases.get(n, {}))}
            for n in self._dbs
        ]

    def databases_reset(self, entries: list[Any]) -> None:
        """Set the databases from ``databases`` entries (older stores: bare names)."""
        names = []
        for entry in entries:
            entry = {"name": entry} if isinstance(entry, str) else entry
            name = entry["name"]
            names.append(name)
            self._dbs.setdefault(name, {})
            self._db_props[name] = dict(entry.get("properties", {}))
            self._aliases[name] = dict(entry.get("aliases", {}))
        for name in list(self._dbs):
            if name not in names and not self._dbs[name]:
                del self._dbs[name]

    def _new_collection_id(self) -> int:
        return max(next(_collection_ids), max(self._by_id, default=0) + 1)

    # ------------------------------------------------------------------ databases
    def _db(self, db: str) -> dict[str, Collection]:
        found = self._dbs.get(db or DEFAULT_DB)
        if found is None:
            raise errors.server(errors.DATABASE_NOT_FOUND, f"database not found[database={db}]")
        return found

    def _change_databases(self, apply: Callable[[], None]) -> None:
        """Apply a change to the databases, their properties or aliases and log the result
        (the caller holds the lock); a change the log refuses is undone."""
        saved = (
            dict(self._dbs),
            dict(self._db_props),
            {d: dict(a) for d, a in self._aliases.items()},
        )
        apply()
        try:
            self.journal.log_databases(self.databases)
        except BaseException:
            self._dbs, self._db_props, self._aliases = saved
            raise

    def create_database(self, db: str, properties: dict[str, Any] | None = None) -> None:
        with self.lock:
            if db in self._dbs:
                raise errors.server(65535, f"database already exist: {db}")

            def add() -> None:
                self._dbs[db] = {}
                self._db_props[db] = merged_properties({}, properties)

            self._change_databases(add)

    def describe_database(self, db: str) -> dict[str, Any]:
        with self.lock:
            self._db(db)
            return {"name": db, **self._db_props.get(db, {})}

    def set_database_properties(
        self, db: str, add: dict[str, Any] | None = None, drop: list[str] | None = None
    ) -> None:
        with self.lock:
            self._db(db)  # a missing database raises
            new = merged_properties(self._db_props.get(db, {}), add, drop)
            self._change_databases(lambda: self._db_props.update({db: new}))

    def drop_database(self, db: str) -> None:
        with self.lock:
            if db == DEFAULT_DB:
                raise errors.server(65535, "can not drop default database")
            if self._dbs.get(db):
                raise errors.server(
                    65535, f"{db} not empty, must drop all collections before drop database"
                )
            if db in self._dbs:

                def remove() -> None:
                    del self._dbs[db]
                    self._db_props.pop(db, None)
                    self._aliases.pop(db, None)

                self._change_databases(remove)

    def list_databases(self) -> list[str]:
        with self.lock:
            return list(self._dbs)

    def has_database(self, db: str) -> bool:
        with self.lock:
            return (db or DEFAULT_DB) in self._dbs

    # ------------------------------------------------------------------ collections
    def get(self, db: str, name: str) -> Collection | None:
        """The collection called ``name``, or the one the alias ``name`` points to."""
        with self.lock:
            coll = self._db(db).get(name)
            if coll is None and name in self._alias_map(db):
                coll = self._by_id.get(self._alias_map(db)[name])
            return coll

    def require(self, db: str, name: str, *, describe_style: bool = False) -> Collection:
        coll = self.get(db, name)
        if coll is None:
            if describe_style:
                raise errors.describe_not_found(name, db or DEFAULT_DB)
            raise errors.collection_not_found(name, db or DEFAULT_DB)
        return coll

    def list_collections(self, db: str) -> list[str]:
        with self.lock:
            return list(self._db(db))

    def create_collection(self, db: str, spec: CollectionSpec, **options: Any) -> bool:
        """Create; returns False when an identical collection already exists (idempotent)."""
        check_collection_name(spec.name)
        with self.lock:
            colls = self._db(db)
            if spec.name in self._alias_map(db):
                raise errors.server(
                    errors.ALIAS_NAME_CONFLICT,
                    f"collection name [{spec.name}] conflicts with an existing alias, please "
                    "choose a unique name",
                )
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
            coll = Collection(
                spec,
                self.backend,
                self._new_collection_id(),
                db=db or DEFAULT_DB,
                journal=self.journal,
                **options,
            )
            self.journal.log_meta(coll.meta())
            self.place(coll)
            return True

    def drop_collection(self, db: str, name: str) -> None:
        with self.lock:
            coll = self._db(db).get(name)
            if name in self._alias_map(db):
                raise errors.server(
                    errors.ALIAS_NOT_FOUND, f"cannot drop the collection via alias = {name}"
                )
            if coll is not None and self.aliases_of(coll):
                raise errors.server(
                    65535,
                    f"unable to drop the collection [{name}] because it has associated aliases "
                    f"[{' '.join(self.aliases_of(coll))}], please remove all aliases before "
                    "dropping the collection",
                )
            if coll is not None:
                self.journal.log_drop(coll.collection_id)
                self.unplace(coll)

    def rename_collection(self, db: str, old: str, new: str, target_db: str = "") -> None:
        check_collection_name(new)
        with self.lock:
            source = self._db(db)
            target = self._db(target_db or db)
            coll = source.get(old)
            if coll is None:
                raise errors.collection_not_found(old, db or DEFAULT_DB)
            if new in target:
                raise errors.invalid(f"duplicated new collection name {new} with other collection")
            if new in self._alias_map(target_db or db):
                raise errors.server(65535, f"cannot rename collection to an existing alias: {new}")
            if (target_db or db) != db and self.aliases_of(coll):
                raise errors.server(
                    65535,
                    f"fail to rename collection to different database, must drop all aliases of "
                    f"collection {old} before rename",
                )
            with coll.lock.write():
                self.unplace(coll)
                try:
                    spec = coll.meta()["spec"]
                    coll.change_meta(spec={**spec, "name": new}, db=target_db or db or DEFAULT_DB)
                finally:
                    self.place(coll)

    # ------------------------------------------------------------------ aliases
    def _alias_map(self, db: str) -> dict[str, int]:
        """The aliases of database ``db`` (the default one for ""): alias -> collection id."""
        return self._aliases.get(db or DEFAULT_DB, {})

    def aliases_of(self, coll: Collection) -> list[str]:
        aliases = self._alias_map(coll.db)
        return sorted(a for a, cid in aliases.items() if cid == coll.collection_id)

    def _alias_target(self, db: str, collection_name: str, alias: str) -> Collection:
        """The collection an alias may point to (its real name, not another alias)."""
        check_collection_name(collection_name)
        check_collection_name(alias, "collection alias")
        db = db or DEFAULT_DB
        if alias in self._db(db):
            raise errors.server(
                errors.ALIAS_NAME_CONFLICT,
                f"alias and collection name conflict[database={db}][alias={alias}]",
            )
        coll = self._db(db).get(collection_name)
        if coll is None:
            raise errors.collection_not_found(collection_name, db)
        return coll

    def _set_alias(self, db: str, alias: str, cid: int | None) -> None:
        def apply() -> None:
            aliases = self._aliases.setdefault(db, {})
            if cid is None:
                aliases.pop(alias, None)
            else:
                aliases[alias] = cid

        self._change_databases(apply)

    def create_alias(self, db: str, collection_name: str, alias: str) -> None:
        with self.lock:
            coll = self._alias_target(db, collection_name, alias)
            db = db or DEFAULT_DB
            current = self._alias_map(db).get(alias)
            if current is not None and current != coll.collection_id:
                other = self._by_id[current].name
                raise errors.server(
                    errors.ALIAS_ALREADY_EXISTS,
                    f"{alias} is alias to another collection: {other}: alias already "
                    f"exist[database={db}][alias={alias}]",
                )
            if current is None:
                self._set_alias(db, alias, coll.collection_id)

    def alter_alias(self, db: str, collection_name: str, alias: str) -> None:
        with self.lock:
            coll = self._alias_target(db, collection_name, alias)
            db = db or DEFAULT_DB
            if alias not in self._alias_map(db):
                raise errors.alias_not_found(alias, db)
            self._set_alias(db, alias, coll.collection_id)

    def drop_alias(self, db: str, alias: str) -> None:
        """Dropping an alias that does not exist is not an error."""
        with self.lock:
            if alias in self._alias_map(db):
                self._set_alias(db or DEFAULT_DB, alias, None)

    def describe_alias(self, db: str, alias: str) -> str:
        """The name of the collection ``alias`` points to."""
        with self.lock:
            cid = self._alias_map(db).get(alias)
            if cid is None:
                raise errors.alias_not_found(alias, db or DEFAULT_DB)
            return self._by_id[cid].name

    def list_aliases(self, db: str, collection_name: str = "") -> list[str]:
        with self.lock:
            if not collection_name:
                self._db(db)
                return sorted(self._alias_map(db))
            coll = self._db(db).get(collection_name)
            if coll is None:
                raise errors.collection_not_found(collection_name, db or DEFAULT_DB)
            return self.aliases_of(coll)
