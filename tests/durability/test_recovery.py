"""Reopening a durable store: round trips, torn and damaged files, failed writes, the lock."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymilvus import DataType, MilvusException

from gpu_milvus import MilvusClient
from gpu_milvus.engine import engine as engines
from gpu_milvus.storage import persist
from gpu_milvus.storage import wal as wal_module


def _schema(client: MilvusClient) -> Any:
    s = client.create_schema(auto_id=False, enable_dynamic_field=True)
    s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=20)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    s.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("j", DataType.JSON, nullable=True)
    s.add_field("a", DataType.ARRAY, element_type=DataType.INT64, max_capacity=4)
    s.add_field("n", DataType.INT32, nullable=True, default_value=7)
    return s


def _rows(lo: int, hi: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(lo)
    return [
        {
            "id": f"k{i}",
            "v": rng.random(4).astype(np.float32).tolist(),
            "sp": {i % 7: 1.0 + i, 100 + i: 0.5},
            "j": {"x": i} if i % 3 else None,
            "a": [i, i + 1],
            "dyn": i,
            **({"n": i} if i % 2 else {}),
        }
        for i in range(lo, hi)
    ]


def _build(uri: str, **kwargs: Any) -> MilvusClient:
    c = MilvusClient(uri, device="cpu", **kwargs)
    ip = c.prepare_index_params()
    ip.add_index("v", index_type="FLAT", metric_type="L2")
    ip.add_index("sp", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    c.create_collection("c1", schema=_schema(c), index_params=ip)
    c.create_partition("c1", "p1")
    c.insert("c1", _rows(0, 30))
    c.insert("c1", _rows(30, 50), partition_name="p1")
    c.upsert("c1", [{**_rows(5, 6)[0], "dyn": 999}])
    c.delete("c1", ids=["k1", "k2"])
    c.delete("c1", filter="dyn > 45")
    c.create_collection("quick", dimension=3)
    c.insert("quick", [{"id": i, "vector": [i, 1, 0]} for i in range(10)])
    return c


def _snapshot(c: MilvusClient) -> dict[str, Any]:
    out: dict[str, Any] = {"dbs": c.list_databases()}
    for name in c.list_collections():
        rows = c.query(name, filter="", limit=1000, output_fields=["*"])
        out[name] = sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
        out[f"{name}/count"] = c.query(name, filter="", output_fields=["count(*)"])[0]
        out[f"{name}/load"] = str(c.get_load_state(name))
        out[f"{name}/partitions"] = c.list_partitions(name)
        out[f"{name}/indexes"] = c.list_indexes(name)
        out[f"{name}/describe"] = {
            k: v for k, v in c.describe_collection(name).items() if k != "created_timestamp"
        }
    out["search"] = str(
        c.search("c1", data=[[0.1, 0.2, 0.3, 0.4]], anns_field="v", limit=5,
                 output_fields=["dyn", "j"])
    )  # fmt: skip
    out["sparse"] = str(c.search("c1", data=[{3: 1.0}], anns_field="sp", limit=3))
    return out


def _wal_files(uri: str) -> list[Path]:
    return sorted((Path(uri) / "wal").glob("*.wal"))


@pytest.mark.parametrize("then", ["close", "flush", "compact", "drop_partition", "rename"])
def test_reopen_gives_the_same_answers(tmp_path: Path, then: str) -> None:
    uri = str(tmp_path / "s.db")
    c = _build(uri)
    if then == "flush":
        c.flush("c1")
        c.insert("c1", _rows(60, 65))  # after the checkpoint: replayed from the log
    elif then == "compact":
        c.compact("c1")
        c.delete("c1", ids=["k7"])
    elif then == "drop_partition":
        c.release_partitions("c1", ["p1"])
        c.drop_partition("c1", "p1")
    elif then == "rename":
        c.create_database("db2")
        c.rename_collection("quick", "quick2")
    before = _snapshot(c)
    c.close()
    reopened = MilvusClient(uri, device="cpu")
    assert _snapshot(reopened) == before
    reopened.close()


def _crash(c: MilvusClient) -> None:
    """What kill -9 leaves: the log as written, no final checkpoint, the lock released."""
    engine = c._core.engine
    with engines._engines_lock:
        engines._engines.pop(engine.key, None)
    engine.close(checkpoint=False)


def _client_ids(c: MilvusClient, name: str) -> list[Any]:
    return sorted(r["id"] for r in c.query(name, filter="", limit=16384, output_fields=["id"]))


def _ids(uri: str, name: str = "t") -> list[Any]:
    c = MilvusClient(uri, device="cpu")
    try:
        return sorted(r["id"] for r in c.query(name, filter="", limit=16384, output_fields=["id"]))
    finally:
        c.close()


def test_reopen_after_a_crash_replays_the_log(tmp_path: Path) -> None:
    crashed = _build(str(tmp_path / "s.db"))
    expected = _snapshot(crashed)
    _crash(crashed)
    assert not list((tmp_path / "s.db" / "segments").glob("*/*.arrow"))  # all in the log
    c = MilvusClient(str(tmp_path / "s.db"), device="cpu")
    assert _snapshot(c) == expected
    c.close()


def test_memory_uri_writes_no_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    c = MilvusClient(":memory:", device="cpu")
    c.create_collection("m", dimension=2)
    c.insert("m", [{"id": 1, "vector": [1, 2]}])
    c.flush("m")
    c.close()
    assert list(tmp_path.iterdir()) == []


def _three_inserts(uri: str) -> tuple[int, bytes]:
    """A crashed store whose log ends with the third insert; (where that record starts, log)."""
    c = MilvusClient(uri, device="cpu")
    c.create_collection("t", dimension=2)
    c.insert("t", [{"id": 1, "vector": [1, 0]}])
    c.insert("t", [{"id": 2, "vector": [0, 1]}])
    start = _wal_files(uri)[-1].stat().st_size
    c.insert("t", [{"id": 3, "vector": [1, 1]}])
    _crash(c)
    return start, _wal_files(uri)[-1].read_bytes()


def test_a_torn_tail_is_dropped_wherever_it_is_cut(tmp_path: Path) -> None:
    uri = str(tmp_path / "s.db")
    start, whole = _three_inserts(uri)
    pristine = tmp_path / "pristine"
    shutil.copytree(uri, pristine)
    assert _ids(uri) == [1, 2, 3]
    head = range(start, start + wal_module.HEAD_SIZE + 2)  # every byte of the record head
    for cut in sorted({*head, *range(start, len(whole), 37), len(whole) - 1}):
        store = tmp_path / f"cut{cut}"
        shutil.copytree(pristine, store)
        _wal_files(str(store))[-1].write_bytes(whole[:cut])
        assert _ids(str(store)) == [1, 2], cut
        c = MilvusClient(str(store), device="cpu")
        c.insert("t", [{"id": 4, "vector": [2, 2]}])  # appends after the cut
        c.close()
        assert _ids(str(store)) == [1, 2, 4], cut
        shutil.rmtree(store)


def test_damage_before_good_records_is_an_error_not_a_silent_loss(tmp_path: Path) -> None:
    uri = str(tmp_path / "s.db")
    start, whole = _three_inserts(uri)
    damaged = bytearray(whole)
    damaged[start - 5] ^= 0xFF  # inside the second insert; the third follows intact
    _wal_files(uri)[-1].write_bytes(bytes(damaged))
    with pytest.raises(MilvusException, match="damaged"):
        MilvusClient(uri, device="cpu")
    _wal_files(uri)[-1].write_bytes(whole)  # repaired: everything is back
    assert _ids(uri) == [1, 2, 3]


@pytest.mark.parametrize("kind", ["arrow", "f32", "bits"])
@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_a_damaged_segment_is_an_error(tmp_path: Path, damage: str, kind: str) -> None:
    uri = str(tmp_path / "s.db")
    c = _build(uri)
    c.close()
    segment = max(Path(uri).glob(f"segments/*/*.{kind}"), key=lambda p: p.stat().st_size)
    data = bytearray(segment.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
        segment.write_bytes(bytes(data))
    elif damage == "truncate":
        segment.write_bytes(bytes(data[: len(data) // 2]))
    else:
        segment.unlink()
    with pytest.raises(MilvusException, match="cannot open local store"):
        MilvusClient(uri, device="cpu")


def test_a_damaged_manifest_is_an_error(tmp_path: Path) -> None:
    uri = str(tmp_path / "s.db")
    _build(uri).close()
    manifest = Path(uri) / "MANIFEST.json"
    outer = json.loads(manifest.read_text())
    outer["body"]["lsn"] += 1  # a changed byte that still parses
    manifest.write_text(json.dumps(outer))
    with pytest.raises(MilvusException, match="checksum"):
        MilvusClient(uri, device="cpu")


def test_a_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f.db").write_text("not a store")
    with pytest.raises(MilvusException, match="not a gpu_milvus store"):
        MilvusClient(str(tmp_path / "f.db"), device="cpu")


def test_disk_full_fails_the_call_and_keeps_the_store_consistent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = str(tmp_path / "s.db")
    c = MilvusClient(uri, device="cpu")
    c.create_collection("t", dimension=2)
    c.insert("t", [{"id": 1, "vector": [1, 0]}])
    real_writev = os.writev

    def full_after_a_few_bytes(fd: int, buffers: Any) -> int:
        real_writev(fd, [bytes(memoryview(buffers[0])[:7])])  # a partial record reaches disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(wal_module.os, "writev", full_after_a_few_bytes)
    with pytest.raises(MilvusException, match="No space left on device"):
        c.insert("t", [{"id": 2, "vector": [0, 1]}])
    with pytest.raises(MilvusException, match="not applied"):
        c.delete("t", ids=[1])
    assert [r["id"] for r in c.query("t", filter="", limit=100, output_fields=["id"])] == [1]
    monkeypatch.undo()  # space freed
    c.insert("t", [{"id": 3, "vector": [1, 1]}])
    _crash(c)
    assert _ids(uri) == [1, 3]


def test_a_failed_checkpoint_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = str(tmp_path / "s.db")
    c = _build(uri)
    expected = _snapshot(c)

    def no_space(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(persist, "_write_durably", no_space)
    with pytest.raises(MilvusException, match="No space left on device"):
        c.flush("c1")
    c.insert("quick", [{"id": 99, "vector": [9, 9, 9]}])
    monkeypatch.undo()
    expected_quick = _client_ids(c, "quick")
    _crash(c)
    reopened = MilvusClient(uri, device="cpu")
    after = _snapshot(reopened)
    assert {k: v for k, v in after.items() if not k.startswith("quick")} == {
        k: v for k, v in expected.items() if not k.startswith("quick")
    }
    assert _client_ids(reopened, "quick") == expected_quick
    reopened.close()


def test_a_second_process_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    uri = str(tmp_path / "s.db")
    c = MilvusClient(uri, device="cpu")
    c.create_collection("t", dimension=2)
    code = (
        "from gpu_milvus import MilvusClient\n"
        "try:\n"
        f"    MilvusClient({uri!r}, device='cpu')\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e.code, e.message)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert out.startswith("MilvusException 65535"), out
    assert f"pid {os.getpid()}" in out and "in use by another process" in out, out
    c.close()
    second = subprocess.run(  # released on close: another process may now open it
        [sys.executable, "-c", code + "else:\n    print('opened')\n"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert second.stdout.strip() == "opened", second.stdout


def test_exit_during_a_background_checkpoint_is_quiet_and_loses_nothing(tmp_path: Path) -> None:
    """A script that ends without close() while a background checkpoint runs: the checkpoint
    is joined at exit, when Python refuses new thread pools. It must still finish, without a
    traceback, and a reopen must find every row."""
    uri = str(tmp_path / "s.db")
    code = (
        "import time\n"
        "from gpu_milvus import MilvusClient\n"
        "from gpu_milvus.engine import durable\n"
        "from gpu_milvus.storage import persist\n"
        "persist._CRC_BLOCK = 256  # several CRC blocks: the checksum wants a thread pool\n"
        "real = durable.DurableStore._checkpoint\n"
        "def late(self, *args):\n"
        "    time.sleep(1.0)  # still asleep when the script ends\n"
        "    return real(self, *args)\n"
        "durable.DurableStore._checkpoint = late\n"
        f"c = MilvusClient({uri!r}, device='cpu', checkpoint_bytes=4096)\n"
        "c.create_collection('t', dimension=4)\n"
        "c.insert('t', [{'id': i, 'vector': [float(i), 1.0, 2.0, 3.0]} for i in range(300)])\n"
        "print('inserted')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert run.stdout.strip() == "inserted", run.stdout
    assert "Traceback" not in run.stderr and "failed" not in run.stderr, run.stderr
    assert list(Path(uri).glob("segments/*/*.arrow")), "the checkpoint should have finished"
    reopen = (  # with the same CRC block size (it shapes the combined checksum)
        "from gpu_milvus import MilvusClient\n"
        "from gpu_milvus.storage import persist\n"
        "persist._CRC_BLOCK = 256\n"
        f"c = MilvusClient({uri!r}, device='cpu')\n"
        "print(sorted(r['id'] for r in c.query('t', filter='', limit=1000, output_fields=['id'])))"
    )
    ids = subprocess.run(
        [sys.executable, "-c", reopen], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert ids.strip() == str(list(range(300)))


def test_clients_in_one_process_share_the_store(tmp_path: Path) -> None:
    uri = str(tmp_path / "s.db")
    a = MilvusClient(uri, device="cpu")
    b = MilvusClient(uri, device="cpu")
    a.create_collection("t", dimension=2)
    b.insert("t", [{"id": 1, "vector": [1, 0]}])
    a.close()  # b still holds the store open
    b.insert("t", [{"id": 2, "vector": [0, 1]}])
    b.close()
    assert _ids(uri) == [1, 2]


def test_group_commit_keeps_writes_and_flush_seals_them(tmp_path: Path) -> None:
    uri = str(tmp_path / "s.db")
    c = MilvusClient(uri, device="cpu", durability="group", commit_interval=0.001)
    c.create_collection("t", dimension=2)
    c.insert("t", [{"id": i, "vector": [i, 0]} for i in range(5)])
    c.flush("t")
    assert list(Path(uri).glob("segments/*/*.arrow"))
    c.insert("t", [{"id": 9, "vector": [9, 0]}])
    _crash(c)
    assert _ids(uri) == [0, 1, 2, 3, 4, 9]


class _CountedEvent(threading.Event):
    """An Event that counts its timed waits (the group-commit flusher's sleeps)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        return super().wait(timeout)


def test_group_commit_syncs_soon_after_an_append_and_sleeps_while_idle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[float] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(time.monotonic())
        real_fsync(fd)

    monkeypatch.setattr(wal_module.os, "fsync", fsync)
    log = wal_module.WriteAheadLog(tmp_path, 1, 1, sync="group", commit_interval=0.02)
    log._stop = stop = _CountedEvent()
    synced.clear()  # creating the file fsyncs its directory
    try:
        time.sleep(0.2)
        assert synced == [] and stop.waits <= 1  # idle: neither syncs nor polling
        appended = time.monotonic()
        log.append(1, {"n": 1}, b"abc")
        log.append(1, {"n": 2}, b"def")  # joins the same group
        while not synced and time.monotonic() < appended + 2.0:
            time.sleep(0.005)
        assert len(synced) == 1 and synced[0] - appended >= 0.015
        waits = stop.waits
        time.sleep(0.2)
        assert len(synced) == 1 and stop.waits == waits  # idle again
    finally:
        log.close()
    records, _ = wal_module.read_log(tmp_path / wal_module.log_name(1), is_last=True)
    assert [r.header["n"] for r in records] == [1, 2]


def test_bad_durability_option_is_a_milvus_error(tmp_path: Path) -> None:
    with pytest.raises(MilvusException, match="durability"):
        MilvusClient(str(tmp_path / "s.db"), durability="sometimes")


def test_background_checkpoints_and_compaction_keep_every_row(tmp_path: Path) -> None:
    uri = str(tmp_path / "s.db")
    c = MilvusClient(uri, device="cpu", checkpoint_bytes=4096)
    c.create_collection("t", dimension=4)
    rng = np.random.default_rng(3)
    alive: set[int] = set()
    for step in range(40):
        rows = [{"id": step * 100 + i, "vector": rng.random(4).tolist()} for i in range(60)]
        c.insert("t", rows)
        alive |= {r["id"] for r in rows}
        gone = [step * 100 + i for i in range(0, 60, 2)]
        c.delete("t", ids=gone)
        alive -= set(gone)
    _crash(c)  # waits for a running background checkpoint, then leaves the log as it is
    segments = list(Path(uri).glob("segments/*/*.arrow"))
    assert segments, "background checkpoints should have sealed segments"
    assert _ids(uri) == sorted(alive)


@pytest.mark.parametrize("sealed", [False, True])
def test_sparse_dimensions_from_two_to_the_31_survive_a_reopen(tmp_path: Path, sealed) -> None:
    """Milvus's sparse dimensions reach 2^32 - 2; the log and the segments once kept them as
    int32, and a reopened store read the ones from 2^31 up as negative."""
    uri = str(tmp_path / "s.db")
    c = MilvusClient(uri)
    c.create_collection("s", schema=_sparse_schema(c), index_params=_sparse_index(c))
    vectors = [{2**32 - 2: 1.0, 7: 0.5}, {2**31: 2.0}, {2**31 - 1: 3.0}]
    c.insert("s", [{"id": i, "sv": v} for i, v in enumerate(vectors)])
    if sealed:
        c.flush("s")  # into a segment; otherwise only in the log
    c.close()
    c = MilvusClient(uri)
    try:
        got = {r["id"]: r["sv"] for r in c.query("s", "id >= 0", output_fields=["sv"])}
        assert got == dict(enumerate(vectors))
        hits = c.search("s", [{2**31: 1.0, 2**32 - 2: 1.0}], limit=3)[0]
        assert [h["id"] for h in hits] == [1, 0]
    finally:
        c.close()


def _sparse_schema(c: MilvusClient) -> Any:
    s = c.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("sv", DataType.SPARSE_FLOAT_VECTOR)
    return s


def _sparse_index(c: MilvusClient) -> Any:
    ip = c.prepare_index_params()
    ip.add_index("sv", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    return ip
