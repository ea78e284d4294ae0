"""Engine keywords of the local clients: ``device`` and ``scan_dtype`` (checked on any machine)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymilvus.exceptions import MilvusException

from gpu_milvus import MilvusClient
from gpu_milvus.engine.backend import gpu_available


def test_cpu_device(uri: str) -> None:
    c = MilvusClient(uri, device="cpu")
    assert c.device == "cpu"
    c.close()


@pytest.mark.parametrize("device", ["tpu", "cuda:x", 3])
def test_unknown_device_is_refused(uri: str, device: object) -> None:
    with pytest.raises(MilvusException, match="device"):
        MilvusClient(uri, device=device)


@pytest.mark.skipif(gpu_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_is_refused(uri: str) -> None:
    with pytest.raises(MilvusException, match="no usable CUDA GPU"):
        MilvusClient(uri, device="cuda")


@pytest.mark.parametrize("scan_dtype", ["float8", "half", None, 16])
def test_unknown_scan_dtype_is_refused(uri: str, scan_dtype: object) -> None:
    if scan_dtype is None:  # not given: the default
        MilvusClient(uri, scan_dtype=None).close()
        return
    with pytest.raises(MilvusException, match="scan_dtype must be one of"):
        MilvusClient(uri, scan_dtype=scan_dtype)


def test_scan_dtype_is_fixed_per_open_engine(uri: str, h) -> None:
    first = MilvusClient(uri, device="cpu", scan_dtype="bfloat16")
    first.create_collection("c", dimension=4)
    first.insert("c", h.rows(h.vectors(20)))
    with pytest.raises(MilvusException, match="scan_dtype"):
        MilvusClient(uri, scan_dtype="float16")
    second = MilvusClient(uri)  # not given: joins the open engine as it is
    assert len(second.search("c", data=[[0.1, 0.2, 0.3, 0.4]], limit=3)[0]) == 3
    second.close()
    first.close()


def test_device_ordinals_are_checked(monkeypatch: pytest.MonkeyPatch, uri: str) -> None:
    """With a GPU present, a malformed or missing ordinal is a clear MilvusException."""
    import gpu_milvus.engine.backend as backend

    monkeypatch.setattr(backend, "gpu_count", lambda: 1)
    for device in ("cuda:x", "cuda:-1", "cuda:"):
        with pytest.raises(MilvusException, match="invalid device"):
            MilvusClient(uri, device=device)
    with pytest.raises(MilvusException, match="sees 1 CUDA GPU"):
        MilvusClient(uri, device="cuda:1")


class OutOfMemoryError(Exception):
    """Named as CuPy's (cupy.cuda.memory.OutOfMemoryError), which the engine recognises."""


@pytest.mark.parametrize("exc", [MemoryError("host"), OutOfMemoryError("device")])
def test_out_of_memory_on_insert_is_code_3_and_changes_nothing(uri: str, h, monkeypatch, exc):
    from gpu_milvus.engine.cpu import CpuDenseStore

    c = MilvusClient(uri, device="cpu")
    c.create_collection("c", dimension=4)
    c.insert("c", h.rows(h.vectors(10)))

    def no_room(self, rows: int) -> None:
        raise exc

    def logged() -> int:
        return sum(p.stat().st_size for p in Path(uri).rglob("*") if p.is_file())

    before = logged()
    monkeypatch.setattr(CpuDenseStore, "make_room", no_room)
    with pytest.raises(MilvusException, match="memory limit exceeded") as info:
        c.insert("c", h.rows(h.vectors(5, seed=1), start=10))
    assert info.value.code == 3
    assert logged() == before  # refused before it was written to the log
    monkeypatch.undo()
    assert c.query("c", filter="", output_fields=["count(*)"])[0]["count(*)"] == 10
    c.insert("c", h.rows(h.vectors(5, seed=2), start=10))  # the table is still consistent
    assert len(c.search("c", data=[[0.1, 0.2, 0.3, 0.4]], limit=15)[0]) == 15
    c.close()
    again = MilvusClient(uri, device="cpu")  # the refused write was never logged
    assert again.query("c", filter="", output_fields=["count(*)"])[0]["count(*)"] == 15
    again.close()


async def test_out_of_memory_in_a_batched_search_is_code_3(uri: str, h, monkeypatch) -> None:
    from gpu_milvus import AsyncMilvusClient
    from gpu_milvus.engine.cpu import CpuBackend

    c = AsyncMilvusClient(uri, device="cpu")
    await c.create_collection("c", dimension=4)
    await c.insert("c", h.rows(h.vectors(10)))

    def oom(*args, **kwargs):
        raise OutOfMemoryError("out of memory allocating 1,024 bytes")

    monkeypatch.setattr(CpuBackend, "search_dense", oom)
    with pytest.raises(MilvusException, match="memory limit exceeded") as info:
        await c.search("c", data=[[0.1, 0.2, 0.3, 0.4]], limit=3)
    assert info.value.code == 3
    await c.close()
