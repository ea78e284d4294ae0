"""What the engine tells the durable store about every change, before applying it.

Collections and the engine call a ``Journal`` with the write lock held, before they change
anything; if the journal raises, the change is not applied. ``NULL_JOURNAL`` (``:memory:``)
does nothing. ``WalJournal`` turns each change into a write-ahead-log record:

=========  ==========================================  ===================================
kind       header                                      body
=========  ==========================================  ===================================
META       a collection's full metadata (``meta()``)   -
DROP       ``cid``                                     -
DATABASES  ``names``                                   -
INSERT     ``cid``, ``pid``, sparse widths, the        the batch's scalar and sparse columns
           byte size of each dense field               as an Arrow IPC stream, then each
                                                       dense field's raw float32 rows
UPSERT     as INSERT, plus the replaced ``keys``       as INSERT
DELETE     ``cid``                                     the deleted row numbers (int64)
COMPACT    ``cid``                                     - (deleted rows dropped, rows renumbered)
=========  ==========================================  ===================================

Replaying the records in order on the last checkpoint rebuilds the exact state, row numbers
included, which is why deletes can be logged as row numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from gpu_milvus import errors
from gpu_milvus.storage.codec import encode_batch, ipc_bytes, sparse_widths
from gpu_milvus.storage.table import Batch
from gpu_milvus.storage.wal import WriteAheadLog

if TYPE_CHECKING:
    from gpu_milvus.engine.collection import Collection

META, DROP, DATABASES, INSERT, UPSERT, DELETE, COMPACT = range(1, 8)


class Journal:
    """The in-memory engine's journal: records nothing."""

    durable = False

    def log_insert(self, coll: Collection, pid: int, batch: Batch) -> None:
        """Before rows are appended."""

    def log_upsert(self, coll: Collection, pid: int, batch: Batch, keys: list[Any] | None) -> None:
        """Before ``keys`` (or the batch's own keys) are deleted and the rows appended."""

    def log_delete(self, coll: Collection, rows: np.ndarray) -> None:
        """Before rows are deleted."""

    def log_meta(self, meta: dict[str, Any]) -> None:
        """Before a collection's metadata becomes ``meta`` (created, renamed, indexed...)."""

    def log_drop(self, cid: int) -> None:
        """Before a collection is dropped."""

    def log_databases(self, names: list[str]) -> None:
        """Before the set of databases becomes ``names``."""

    def after_write(self) -> None:
        """After a write has released its lock (the durable store may start a checkpoint)."""


NULL_JOURNAL = Journal()


class WalJournal(Journal):
    """Writes every change to the write-ahead log; a failed write raises MilvusException."""

    durable = True

    def __init__(self, wal: WriteAheadLog, on_full: Callable[[], None], max_bytes: int) -> None:
        self.wal = wal
        self._on_full = on_full
        self._max_bytes = max_bytes

    def append(self, kind: int, header: dict[str, Any], *body: Any) -> None:
        try:
            self.wal.append(kind, header, *body)
        except OSError as exc:
            raise errors.storage_write_failed(str(self.wal.path), exc) from None

    def _rows(self, kind: int, coll: Collection, batch: Batch, **header: Any) -> None:
        """An INSERT or UPSERT: Arrow IPC for scalars and sparse, raw bytes for vectors."""
        arrow, dense = encode_batch(batch)
        ipc = ipc_bytes(arrow)
        header.update(
            cid=coll.collection_id,
            sparse=sparse_widths(batch),
            ipc=ipc.size,
            dense={n: m.nbytes for n, m in dense.items()},
        )
        self.append(kind, header, ipc, *dense.values())

    def log_insert(self, coll: Collection, pid: int, batch: Batch) -> None:
        self._rows(INSERT, coll, batch, pid=pid)

    def log_upsert(self, coll: Collection, pid: int, batch: Batch, keys: list[Any] | None) -> None:
        self._rows(UPSERT, coll, batch, pid=pid, keys=keys)

    def log_delete(self, coll: Collection, rows: np.ndarray) -> None:
        body = np.ascontiguousarray(rows, dtype=np.int64)
        self.append(DELETE, {"cid": coll.collection_id}, body)

    def log_meta(self, meta: dict[str, Any]) -> None:
        self.append(META, meta)

    def log_drop(self, cid: int) -> None:
        self.append(DROP, {"cid": cid})

    def log_databases(self, names: list[str]) -> None:
        self.append(DATABASES, {"names": names})

    def log_compaction(self, cid: int) -> None:
        self.append(COMPACT, {"cid": cid})

    def after_write(self) -> None:
        if self.wal.bytes_since_checkpoint >= self._max_bytes:
            self._on_full()
