"""Files of a durable store: the lock, the manifest, sealed segments and delete bitmaps.

Layout of a store directory (the uri path)::

    LOCK                          held with flock by the one process that owns the store
    MANIFEST.json                 catalog + segment list + checkpoint LSN, replaced atomically
    wal/<seq>.wal                 write-ahead log (storage.wal)
    segments/<cid>/<a>-<b>.arrow  rows a..b-1 of a collection, Arrow IPC file format
    segments/<cid>/<a>-<b>.<field>.f32  their dense vectors, raw float32 rows, so that a
                                  reload reads them straight into the vector store
    segments/<cid>/alive-<lsn>.bits  which rows are alive at that checkpoint (packed bits)

Every file the manifest names carries its size and CRC-32 there; a file that does not match
raises ``StoreCorrupt`` instead of loading wrong data. Files are written, fsynced, and only then
named by a manifest, which is itself written to a temporary name, fsynced and renamed.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from gpu_milvus.storage.wal import fsync_directory, log_files

FORMAT = "gpu_milvus-store/1"
_CRC_BLOCK = 64 << 20


class StoreCorrupt(Exception):
    """A store file is missing, truncated or fails its checksum."""


class StoreLocked(Exception):
    """Another process owns the store; ``holder`` says which."""

    def __init__(self, root: Path, holder: dict[str, Any]) -> None:
        self.holder = holder
        who = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"
        command = holder.get("command")
        super().__init__(
            f"{root} is in use by another process ({who}"
            + (f", command: {command}" if command else "")
            + f", since {holder.get('since', '?')})"
        )


def _combine(crcs: list[int]) -> int:
    """One value from the CRC-32 of each 64 MiB block."""
    if len(crcs) == 1:
        return crcs[0]
    return zlib.crc32(np.asarray(crcs, dtype=np.uint32).tobytes())


def checksum(data: Any) -> int:
    """CRC-32 per 64 MiB block on two threads (zlib frees the GIL), combined."""
    view = memoryview(data).cast("B")
    if len(view) <= _CRC_BLOCK:
        return zlib.crc32(view)
    blocks = [view[i : i + _CRC_BLOCK] for i in range(0, len(view), _CRC_BLOCK)]
    try:
        with ThreadPoolExecutor(2) as pool:
            return _combine(list(pool.map(zlib.crc32, blocks)))
    except RuntimeError:  # the interpreter is exiting and refuses new threads: a background
        return _combine([zlib.crc32(b) for b in blocks])  # checkpoint joined at exit


def _write_durably(path: Path, data: Any) -> None:
    """Write ``data`` to ``path`` and fsync it (the caller fsyncs the directory)."""
    view = memoryview(data).cast("B")
    with open(path, "wb", buffering=0) as f:
        written = 0
        while written < len(view):
            written += f.write(view[written:])
        os.fsync(f.fileno())


class StoreFiles:
    """The files of one store directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.wal_dir = root / "wal"
        self.segment_dir = root / "segments"
        self.manifest_path = root / "MANIFEST.json"
        self._lock_fd = -1

    # ------------------------------------------------------------------ ownership
    def acquire(self) -> None:
        """Create the directory if needed and take the lock; StoreLocked if another holds it."""
        if self.root.exists() and not self.root.is_dir():
            raise StoreCorrupt(f"{self.root} exists and is not a gpu_milvus store directory")
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._read_holder(fd)
            os.close(fd)
            raise StoreLocked(self.root, holder) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": " ".join(sys.argv)[:200],
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._lock_fd = fd
        self.wal_dir.mkdir(exist_ok=True)
        self.segment_dir.mkdir(exist_ok=True)

    @staticmethod
    def _read_holder(fd: int) -> dict[str, Any]:
        try:
            return json.loads(os.pread(fd, 4096, 0) or b"{}")
        except ValueError:
            return {}

    def release(self) -> None:
        if self._lock_fd >= 0:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = -1

    # ------------------------------------------------------------------ manifest
    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest, or None for a new store."""
        if not self.manifest_path.exists():
            if any(p.stat().st_size for _, p in log_files(self.wal_dir)):
                raise StoreCorrupt(f"{self.manifest_path} is missing but the log holds data")
            return None
        try:
            outer = json.loads(self.manifest_path.read_bytes())
            body = outer["body"]
            crc = zlib.crc32(json.dumps(body, sort_keys=True).encode())
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreCorrupt(f"{self.manifest_path} is unreadable: {exc}") from None
        if crc != outer.get("crc32") or body.get("format") != FORMAT:
            raise StoreCorrupt(f"{self.manifest_path} fails its checksum or format check")
        return body

    def write_manifest(self, body: dict[str, Any]) -> None:
        body = {**body, "format": FORMAT}
        text = json.dumps(body, sort_keys=True)
        outer = {"body": body, "crc32": zlib.crc32(text.encode())}
        tmp = self.manifest_path.with_suffix(".tmp")
        _write_durably(tmp, json.dumps(outer).encode())
        os.replace(tmp, self.manifest_path)
        fsync_directory(self.root)

    # ------------------------------------------------------------------ segments
    def _collection_dir(self, cid: int) -> Path:
        path = self.segment_dir / str(cid)
        if not path.exists():
            path.mkdir()
            fsync_directory(self.segment_dir)
        return path

    def write_segment(
        self, cid: int, start: int, record: pa.RecordBatch, dense: dict[str, np.ndarray]
    ) -> dict[str, Any]:
        """Rows ``start..start+len`` of collection ``cid``; returns the manifest entry."""
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, record.schema) as writer:
            writer.write_batch(record)
        stem = f"{cid}/{start}-{start + record.num_rows}"
        folder = self._collection_dir(cid)
        entry: dict[str, Any] = {
            **self._write_file(folder, f"{stem}.arrow", sink.getvalue()),
            "start": start,
            "stop": start + record.num_rows,
            "dense": {},
        }
        for field, raw in dense.items():  # contiguous float32 rows (codec.encode_batch)
            entry["dense"][field] = self._write_file(folder, f"{stem}.{field}.f32", raw)
        fsync_directory(folder)
        return entry

    @staticmethod
    def _write_file(folder: Path, name: str, data: Any) -> dict[str, Any]:
        _write_durably(folder / name.split("/")[1], data)
        return {"file": name, "bytes": memoryview(data).nbytes, "crc32": checksum(data)}

    def _read_checked(self, entry: dict[str, Any]) -> pa.Buffer:
        path = self.segment_dir / entry["file"]
        try:
            with pa.OSFile(str(path), "rb") as f:
                data = f.read_buffer()
        except OSError as exc:
            raise StoreCorrupt(f"segment {path} cannot be read: {exc}") from None
        if data.size != entry["bytes"]:
            raise StoreCorrupt(f"segment {path} has {data.size} bytes, expected {entry['bytes']}")
        if checksum(data) != entry["crc32"]:
            raise StoreCorrupt(f"segment {path} fails its checksum")
        return data

    def read_segment(self, entry: dict[str, Any]) -> pa.Table:
        data = self._read_checked(entry)
        try:
            return pa.ipc.open_file(data).read_all()
        except pa.ArrowInvalid as exc:
            raise StoreCorrupt(f"segment {entry['file']} is not valid Arrow: {exc}") from None

    def read_into(
        self, entry: dict[str, Any], dest: np.ndarray, pool: ThreadPoolExecutor
    ) -> Callable[[], None]:
        """Read a raw file straight into ``dest``; each block's CRC is computed on ``pool``
        while the next blocks (and files) are read. Returns the check to call before the data
        is used: it raises StoreCorrupt on a mismatch."""
        path = self.segment_dir / entry["file"]
        view = memoryview(dest).cast("B")
        size = path.stat().st_size if path.exists() else -1
        if size != entry["bytes"] or len(view) != size:
            raise StoreCorrupt(f"segment file {path} has {size} bytes, expected {entry['bytes']}")
        pending = []
        with open(path, "rb", buffering=0) as f:
            for at in range(0, size, _CRC_BLOCK):
                block = view[at : at + _CRC_BLOCK]
                got = 0
                while got < len(block):
                    n = f.readinto(block[got:])
                    if not n:
                        raise StoreCorrupt(f"segment file {path} ended early")
                    got += n
                pending.append(pool.submit(zlib.crc32, block))

        def check() -> None:
            crc = _combine([p.result() for p in pending]) if pending else zlib.crc32(b"")
            if crc != entry["crc32"]:
                raise StoreCorrupt(f"segment file {path} fails its checksum")

        return check

    def write_alive(self, cid: int, lsn: int, alive: np.ndarray) -> dict[str, Any]:
        data = np.packbits(alive.astype(np.bool_)).tobytes()
        name = f"{cid}/alive-{lsn}.bits"
        path = self._collection_dir(cid) / name.split("/")[1]
        _write_durably(path, data)
        fsync_directory(path.parent)
        return {"file": name, "rows": len(alive), "bytes": len(data), "crc32": checksum(data)}

    def read_alive(self, entry: dict[str, Any]) -> np.ndarray:
        data = self._read_checked(entry)
        bits = np.frombuffer(data, dtype=np.uint8)
        return np.unpackbits(bits, count=entry["rows"]).astype(np.bool_)

    # ------------------------------------------------------------------ clean-up
    def remove_unreferenced(self, manifest: dict[str, Any], first_seq: int) -> None:
        """Delete log files before ``first_seq`` and segment files the manifest does not name."""
        for seq, path in log_files(self.wal_dir):
            if seq < first_seq:
                path.unlink(missing_ok=True)
        named = {coll["alive"]["file"] for coll in manifest["collections"] if coll["alive"]}
        for coll in manifest["collections"]:
            for segment in coll["segments"]:
                named.add(segment["file"])
                named |= {d["file"] for d in segment["dense"].values()}
        for cdir in self.segment_dir.iterdir():
            for path in cdir.iterdir():
                if f"{cdir.name}/{path.name}" not in named:
                    path.unlink(missing_ok=True)
            if not any(cdir.iterdir()):
                cdir.rmdir()
