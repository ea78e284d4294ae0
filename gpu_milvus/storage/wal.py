"""The write-ahead log: checksummed records appended to numbered files.

A record is a fixed head (magic, LSN, kind, lengths), a JSON header, a binary body (Arrow IPC
and raw vectors for data) and a CRC-32 trailer over all of them, so a record torn by a crash,
or damaged on disk, is recognised. The trailer lets the CRC of a large body be computed on a
second thread while the body is being written. On open, a torn tail of the newest file is cut off:
it can only hold a write that was never acknowledged. Damage followed by good records is not a
torn tail; reading stops with ``LogCorrupt`` rather than silently dropping acknowledged data.

``sync="always"`` fsyncs every record before ``append`` returns. ``sync="group"`` leaves the
fsync to a background thread, at most ``commit_interval`` seconds after an append (it sleeps
while nothing is written), and to ``sync()``.
"""

from __future__ import annotations

import json
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAGIC = b"GMW2"
_HEAD = struct.Struct("<4sQBIQ")  # magic, lsn, kind, header_len, body_len
_CRC = struct.Struct("<I")  # the trailer
HEAD_SIZE = _HEAD.size
_PARALLEL_CRC_BYTES = 1 << 20
SYNC_MODES = ("always", "group")


class LogCorrupt(Exception):
    """A log file is damaged somewhere other than its tail."""


@dataclass
class Record:
    lsn: int
    kind: int
    header: dict[str, Any]
    body: memoryview


def log_name(seq: int) -> str:
    return f"{seq:08d}.wal"


def log_files(directory: Path) -> list[tuple[int, Path]]:
    """(sequence number, path) of every log file, oldest first."""
    found = []
    for p in directory.glob("*.wal"):
        if p.stem.isdigit():
            found.append((int(p.stem), p))
    return sorted(found)


def _crc(parts: list[Any]) -> int:
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    return crc


def _parse(data: memoryview, at: int) -> tuple[Record, int] | None:
    """The record starting at ``at`` and the offset after it, or None if it is not whole."""
    if len(data) - at < HEAD_SIZE:
        return None
    head = data[at : at + HEAD_SIZE]
    magic, lsn, kind, header_len, body_len = _HEAD.unpack(head)
    if magic != MAGIC:
        return None
    start = at + HEAD_SIZE
    body_end = start + header_len + body_len
    end = body_end + _CRC.size
    if end > len(data):
        return None
    (crc,) = _CRC.unpack(data[body_end:end])
    header = data[start : start + header_len]
    body = data[start + header_len : body_end]
    if _crc([head, header, body]) != crc:
        return None
    try:
        parsed = json.loads(bytes(header)) if header_len else {}
    except ValueError:
        return None
    return Record(lsn, kind, parsed, body), end


def read_log(path: Path, *, is_last: bool) -> tuple[list[Record], int]:
    """The whole records of a log file and the byte length they cover.

    Raises LogCorrupt when bad bytes are followed by a good record, or when a file that is not
    the newest ends in a partial record.
    """
    raw = path.read_bytes()
    data = memoryview(raw)
    records: list[Record] = []
    at = 0
    while at < len(data):
        parsed = _parse(data, at)
        if parsed is None:
            break
        record, at = parsed
        records.append(record)
    if at < len(data):
        if not is_last:
            raise LogCorrupt(f"log file {path} is damaged at byte {at} of {len(data)}")
        probe = raw.find(MAGIC, at + 1)
        while probe >= 0:
            if _parse(data, probe) is not None:
                raise LogCorrupt(
                    f"log file {path} is damaged at byte {at}, and whole records follow"
                )
            probe = raw.find(MAGIC, probe + 1)
    return records, at


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WriteAheadLog:
    """Appends records to ``directory/<seq>.wal``; thread-safe."""

    def __init__(
        self,
        directory: Path,
        seq: int,
        next_lsn: int,
        *,
        sync: str = "always",
        commit_interval: float = 0.01,
    ) -> None:
        if sync not in SYNC_MODES:
            raise ValueError(f"sync must be one of {SYNC_MODES}, got {sync!r}")
        self.directory = directory
        self.sync_mode = sync
        self.seq = seq
        self.next_lsn = next_lsn
        self.bytes_since_checkpoint = 0
        self._lock = threading.Lock()
        self._dirty = False
        self._broken: BaseException | None = None
        self._fd = self._open(seq)
        self._crc_pool = ThreadPoolExecutor(1, thread_name_prefix="gpu-milvus-wal-crc")
        self._stop = threading.Event()
        self._pending = threading.Event()  # set by appends the flusher has not synced yet
        self._flusher: threading.Thread | None = None
        if sync == "group":
            self._flusher = threading.Thread(
                target=self._flush_loop, args=(commit_interval,), name="gpu-milvus-wal", daemon=True
            )
            self._flusher.start()

    def _open(self, seq: int) -> int:
        path = self.directory / log_name(seq)
        existed = path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if not existed:
            fsync_directory(self.directory)
        return fd

    @property
    def path(self) -> Path:
        return self.directory / log_name(self.seq)

    def append(self, kind: int, header: dict[str, Any], *body: Any) -> int:
        """Write one record whose body is the buffers ``body`` back to back (durable on
        return when sync="always"); returns its LSN."""
        header_bytes = json.dumps(header, separators=(",", ":")).encode()
        parts = [memoryview(b).cast("B") for b in body]
        body_len = sum(len(p) for p in parts)
        with self._lock:
            if self._broken is not None:
                raise OSError(f"the log is unusable after an earlier failure: {self._broken}")
            lsn = self.next_lsn
            record = [_HEAD.pack(MAGIC, lsn, kind, len(header_bytes), body_len), header_bytes]
            record += parts
            start = os.lseek(self._fd, 0, os.SEEK_END)
            try:
                if body_len >= _PARALLEL_CRC_BYTES:  # checksum while the kernel copies
                    crc_future = self._crc_pool.submit(_crc, record)
                    self._write_all(record)
                    crc = crc_future.result()
                else:
                    crc = _crc(record)
                    self._write_all(record)
                self._write_all([_CRC.pack(crc)])
                if self.sync_mode == "always":
                    os.fsync(self._fd)
                else:
                    self._dirty = True
                    self._pending.set()
            except BaseException as exc:
                self._undo(start, exc)
                raise
            self.next_lsn += 1
            self.bytes_since_checkpoint += HEAD_SIZE + len(header_bytes) + body_len + _CRC.size
            return lsn

    def _write_all(self, parts: list[Any]) -> None:
        views = [memoryview(p).cast("B") for p in parts]
        while views:
            written = os.writev(self._fd, views)
            while views and written >= len(views[0]):
                written -= len(views[0])
                views.pop(0)
            if views and written:
                views[0] = views[0][written:]

    def _undo(self, start: int, exc: BaseException) -> None:
        """Cut a failed record off the file; if even that fails, refuse further writes."""
        try:
            os.ftruncate(self._fd, start)
        except OSError:
            self._broken = exc

    def sync(self) -> None:
        with self._lock:
            if self._broken is None:
                os.fsync(self._fd)
                self._dirty = False

    def _flush_loop(self, interval: float) -> None:
        """Group commit: once an append arrives, wait ``interval`` for more, then fsync a
        duplicate of the descriptor outside the lock, so appends go on while the disk
        catches up. An idle log's flusher sleeps until the next append (no polling)."""
        while True:
            self._pending.wait()
            if self._stop.wait(interval):
                return  # close() syncs what is left
            with self._lock:
                self._pending.clear()
                if not self._dirty or self._broken is not None:
                    continue
                fd = os.dup(self._fd)
                self._dirty = False
            try:
                os.fsync(fd)
            except OSError as exc:
                self._broken = exc
            finally:
                os.close(fd)

    def rotate(self) -> int:
        """Start the next log file (the current one is fsynced first); returns its number."""
        with self._lock:
            os.fsync(self._fd)
            os.close(self._fd)
            self.seq += 1
            self._fd = self._open(self.seq)
            self._dirty = False
            self.bytes_since_checkpoint = 0
            return self.seq

    def close(self) -> None:
        self._stop.set()
        self._pending.set()
        if self._flusher is not None:
            self._flusher.join()
        self._crc_pool.shutdown()
        with self._lock:
            if self._fd >= 0:
                try:
                    if self._broken is None:
                        os.fsync(self._fd)
                finally:
                    os.close(self._fd)
                    self._fd = -1


def replay_records(directory: Path, first_seq: int, after_lsn: int) -> Iterator[Record]:
    """Records of every log file from ``first_seq`` on with an LSN above ``after_lsn``.

    The newest file's torn tail is cut off (truncated on disk) as it is found.
    """
    files = [(seq, p) for seq, p in log_files(directory) if seq >= first_seq]
    for i, (_, path) in enumerate(files):
        is_last = i == len(files) - 1
        records, valid = read_log(path, is_last=is_last)
        if is_last and valid < path.stat().st_size:
            with open(path, "r+b") as f:
                f.truncate(valid)
                os.fsync(f.fileno())
        for record in records:
            if record.lsn > after_lsn:
                yield record
