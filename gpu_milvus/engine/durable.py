"""The durable store behind a path uri: recovery on open, checkpoints, compaction, close.

Open: take the store's lock, load the manifest's checkpoint (catalog, sealed segments, alive
bitmaps), then replay the write-ahead log after the checkpoint's LSN. Checkpoint: with every
collection write-locked, note each collection's new rows and alive bitmap and rotate the log;
then, unlocked, write the new segments and an atomically replaced manifest, and delete the log
files and segments it no longer needs. A collection with many deleted rows or segments is
compacted first (a logged, deterministic operation), so it is rewritten as one segment.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from gpu_milvus import errors
from gpu_milvus.engine import journal as kinds
from gpu_milvus.engine.collection import Collection
from gpu_milvus.engine.journal import NULL_JOURNAL, WalJournal
from gpu_milvus.storage.codec import batch_from_arrow, encode_batch, read_ipc, sparse_widths
from gpu_milvus.storage.persist import StoreCorrupt, StoreFiles, StoreLocked
from gpu_milvus.storage.table import Batch
from gpu_milvus.storage.wal import LogCorrupt, Record, WriteAheadLog, log_files, replay_records

if TYPE_CHECKING:
    from gpu_milvus.engine.engine import Engine

log = logging.getLogger("gpu_milvus.storage")

DEFAULT_CHECKPOINT_BYTES = 256 << 20
COMPACT_MIN_DEAD = 1000
COMPACT_DEAD_FRACTION = 0.2
COMPACT_MAX_SEGMENTS = 16


@dataclass
class Sealed:
    """What the last manifest holds of one collection."""

    rows: int = 0
    segments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StoreOptions:
    durability: str = "sync"  # "sync": fsync before each write returns; "group": batched fsync
    commit_interval: float = 0.01
    checkpoint_bytes: int = DEFAULT_CHECKPOINT_BYTES

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> StoreOptions:
        durability = kwargs.get("durability", "sync")
        if durability not in ("sync", "group"):
            raise errors.invalid(f"durability must be 'sync' or 'group', got {durability!r}")
        return cls(
            durability,
            float(kwargs.get("commit_interval", 0.01)),
            int(kwargs.get("checkpoint_bytes", DEFAULT_CHECKPOINT_BYTES)),
        )


class DurableStore:
    """Keeps one engine's state on disk under ``root``."""

    def __init__(self, root: Path, options: StoreOptions) -> None:
        self.root = root
        self.options = options
        self.files = StoreFiles(root)
        self.journal: WalJournal | None = None
        self._sealed: dict[int, Sealed] = {}
        self._checkpoint_lock = threading.Lock()
        self._background_lock = threading.Lock()
        self._background: threading.Thread | None = None
        self._engine: Engine | None = None

    # ------------------------------------------------------------------ open
    def open(self, engine: Engine) -> WalJournal:
        """Lock the store and rebuild ``engine``'s state from disk; returns the journal."""
        self._engine = engine
        try:
            self.files.acquire()
        except StoreLocked as exc:
            raise errors.store_unavailable(str(self.root), str(exc)) from None
        except (OSError, StoreCorrupt) as exc:
            raise errors.store_unavailable(str(self.root), str(exc)) from None
        try:
            return self._recover(engine)
        except (StoreCorrupt, LogCorrupt, OSError) as exc:
            self.files.release()
            raise errors.store_unavailable(str(self.root), str(exc)) from None

    def _recover(self, engine: Engine) -> WalJournal:
        manifest = self.files.read_manifest()
        if manifest is None:
            manifest = {
                "lsn": 0,
                "wal_seq": 1,
                "databases": list(engine.databases),
                "collections": [],
            }
            self.files.write_manifest(manifest)
        engine.databases_reset(manifest["databases"])
        checks: list[Callable[[], None]] = []
        with ThreadPoolExecutor(2) as crc_pool:  # vector CRCs, overlapping the next reads
            for entry in manifest["collections"]:
                coll = Collection.from_meta(entry["meta"], engine.backend, NULL_JOURNAL)
                self._load_rows(coll, entry, crc_pool, checks)
                engine.place(coll)
                self._sealed[coll.collection_id] = Sealed(entry["rows"], list(entry["segments"]))
            for check in checks:  # every vector verified before anything reads it
                check()
        last_lsn = manifest["lsn"]
        for record in replay_records(self.files.wal_dir, manifest["wal_seq"], manifest["lsn"]):
            self._apply(engine, record)
            last_lsn = record.lsn
        files = [(s, p) for s, p in log_files(self.files.wal_dir) if s >= manifest["wal_seq"]]
        seq = max([manifest["wal_seq"], *(s for s, _ in files)])
        wal = WriteAheadLog(
            self.files.wal_dir,
            seq,
            last_lsn + 1,
            sync="always" if self.options.durability == "sync" else "group",
            commit_interval=self.options.commit_interval,
        )
        wal.bytes_since_checkpoint = sum(p.stat().st_size for _, p in files)
        self.journal = WalJournal(wal, self._checkpoint_soon, self.options.checkpoint_bytes)
        for coll in engine.collections():
            coll.journal = self.journal
        return self.journal

    def _load_rows(
        self,
        coll: Collection,
        entry: dict[str, Any],
        crc_pool: ThreadPoolExecutor,
        checks: list[Callable[[], None]],
    ) -> None:
        coll.table.reserve(entry["rows"])
        for segment, table in self._read_ahead(entry["segments"]):
            for record in table.to_batches():
                batch, partitions = batch_from_arrow(coll.spec, record, segment["sparse"])
                parts = partitions if partitions is not None else 0
                coll.table.append(batch, parts, index_keys=False, vectors=False)
            rows = segment["stop"] - segment["start"]
            for name, store in coll.table.dense.items():
                raw = segment["dense"].get(name)
                if raw is None:  # sealed before the field was added: null rows
                    store.append(np.zeros((rows, store.dim), np.float32))
                    continue
                store.append_from(
                    lambda dest, raw=raw: checks.append(self.files.read_into(raw, dest, crc_pool)),
                    rows,
                )
            if any(len(s) != coll.table.num_rows for s in coll.table.dense.values()):
                raise StoreCorrupt(f"collection {coll.name}: vector and scalar rows differ")
        if coll.table.num_rows != entry["rows"]:
            raise StoreCorrupt(
                f"collection {coll.name}: segments hold {coll.table.num_rows} rows, "
                f"the manifest says {entry['rows']}"
            )
        alive = None if entry["alive"] is None else self.files.read_alive(entry["alive"])
        coll.table.settle_reload(alive)

    def _read_ahead(self, segments: list[dict[str, Any]]) -> Iterator[tuple[dict, pa.Table]]:
        """Each segment with its rows; the next one is read and checked on a second thread."""
        with ThreadPoolExecutor(1) as pool:
            pending = [pool.submit(self.files.read_segment, s) for s in segments[:1]]
            for i, segment in enumerate(segments):
                if i + 1 < len(segments):
                    pending.append(pool.submit(self.files.read_segment, segments[i + 1]))
                yield segment, pending[i].result()
                pending[i] = None  # type: ignore[call-overload]

    def _apply(self, engine: Engine, record: Record) -> None:
        h = record.header
        if record.kind == kinds.DATABASES:
            engine.databases_reset(h["names"])
            return
        if record.kind == kinds.META:
            coll = engine.by_id(h["cid"])
            if coll is None:
                engine.place(Collection.from_meta(h, engine.backend, NULL_JOURNAL))
            else:
                engine.unplace(coll)
                coll.apply_meta(h)
                engine.place(coll)
            return
        coll = engine.by_id(h["cid"])
        if coll is None:
            raise LogCorrupt(f"log record {record.lsn} names unknown collection {h['cid']}")
        if record.kind == kinds.DROP:
            engine.unplace(coll)
            self._sealed.pop(coll.collection_id, None)
        elif record.kind in (kinds.INSERT, kinds.UPSERT):
            batch = self._logged_batch(coll, record)
            if record.kind == kinds.INSERT:
                coll.table.append(batch, h["pid"])
            else:
                coll.apply_upsert(batch, h["pid"], h["keys"])
        elif record.kind == kinds.DELETE:
            coll.table.delete_rows(np.frombuffer(record.body, dtype=np.int64))
        elif record.kind == kinds.COMPACT:
            coll.apply_compaction()
            self._sealed[coll.collection_id] = Sealed()
        else:
            raise LogCorrupt(f"log record {record.lsn} has unknown kind {record.kind}")

    @staticmethod
    def _logged_batch(coll: Collection, record: Record) -> Batch:
        """The batch of an INSERT or UPSERT record (see engine.journal)."""
        h, body = record.header, record.body
        batch, _ = batch_from_arrow(coll.spec, read_ipc(body[: h["ipc"]]), h["sparse"])
        at = h["ipc"]
        for name, nbytes in h["dense"].items():
            dim = coll.spec.field(name).dim  # type: ignore[union-attr]
            raw = np.frombuffer(body[at : at + nbytes], dtype="<f4")
            batch.dense[name] = raw.reshape(batch.num_rows, dim or 0)
            at += nbytes
        return batch

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint_soon(self) -> None:
        """Start a background checkpoint unless one is running."""
        with self._background_lock:
            if self._background is not None and self._background.is_alive():
                return
            self._background = threading.Thread(
                target=self._background_checkpoint, name="gpu-milvus-checkpoint", daemon=True
            )
            self._background.start()

    def _background_checkpoint(self) -> None:
        try:
            self.checkpoint()
        except Exception:  # a failed checkpoint loses nothing: the log still holds it all
            log.exception("background checkpoint of %s failed", self.root)

    def checkpoint(self, engine: Engine | None = None, compact: set[int] | None = None) -> None:
        """Seal everything written so far; compact the collections in ``compact`` (or those
        that need it). Raises MilvusException if a file cannot be written."""
        engine = engine or self._engine
        assert engine is not None
        with self._checkpoint_lock:
            try:
                self._checkpoint(engine, compact or set())
            except OSError as exc:
                raise errors.storage_write_failed(str(self.root), exc) from None

    def _checkpoint(self, engine: Engine, compact: set[int]) -> None:
        journal = self.journal
        assert journal is not None
        with engine.lock, contextlib.ExitStack() as stack:
            colls = sorted(engine.collections(), key=lambda c: c.collection_id)
            for coll in colls:
                stack.enter_context(coll.lock.write())
            plans = []
            for coll in colls:
                sealed = self._sealed.setdefault(coll.collection_id, Sealed())
                if coll.table.dropped_fields:  # rewrite every row: no segment keeps the field
                    coll.table.dropped_fields = False
                    sealed = self._sealed[coll.collection_id] = Sealed()
                if self._needs_compaction(coll, sealed, coll.collection_id in compact):
                    journal.log_compaction(coll.collection_id)
                    coll.apply_compaction()
                    sealed = self._sealed[coll.collection_id] = Sealed()
                table = coll.table
                n = table.num_rows
                fresh = table.rows_batch(sealed.rows, n) if n > sealed.rows else None
                parts = table.partition.view[sealed.rows : n].copy()
                alive = table.alive.view.copy() if table.alive_count < n else None
                plans.append((coll.meta(), sealed, fresh, parts, alive, n))
            lsn = journal.wal.next_lsn - 1
            databases = list(engine.databases)
            seq = journal.wal.rotate()
        entries = []
        for meta, sealed, fresh, parts, alive, n in plans:
            segments = list(sealed.segments)
            cid = meta["cid"]
            if fresh is not None:
                arrow, dense = encode_batch(fresh, parts)
                entry = self.files.write_segment(cid, sealed.rows, arrow, dense)
                segments.append({**entry, "sparse": sparse_widths(fresh)})
            alive_entry = None if alive is None else self.files.write_alive(cid, lsn, alive)
            entries.append({"meta": meta, "rows": n, "segments": segments, "alive": alive_entry})
        manifest = {"lsn": lsn, "wal_seq": seq, "databases": databases, "collections": entries}
        self.files.write_manifest(manifest)
        self._sealed = {e["meta"]["cid"]: Sealed(e["rows"], e["segments"]) for e in entries}
        self.files.remove_unreferenced(manifest, seq)

    @staticmethod
    def _needs_compaction(coll: Collection, sealed: Sealed, forced: bool) -> bool:
        table = coll.table
        dead = table.num_rows - table.alive_count
        if forced:
            return dead > 0 or len(sealed.segments) > 1
        many_dead = dead >= max(COMPACT_MIN_DEAD, COMPACT_DEAD_FRACTION * table.num_rows)
        return many_dead or len(sealed.segments) >= COMPACT_MAX_SEGMENTS

    # ------------------------------------------------------------------ close
    def close(self, engine: Engine, *, checkpoint: bool = True) -> None:
        """Seal what the log holds (unless ``checkpoint`` is False), then release the store."""
        background = self._background
        if background is not None:
            background.join()
        journal = self.journal
        try:
            if checkpoint and journal is not None and journal.wal.bytes_since_checkpoint:
                self.checkpoint(engine)
        finally:
            if journal is not None:
                journal.wal.close()
            self.files.release()
