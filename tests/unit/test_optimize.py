"""``optimize`` through pymilvus's own OptimizeTask / AsyncOptimizeTask: the stages a server
reports, wait=False tasks, pymilvus's target_size check, and the store compacted (a reopened
store holds what was left)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymilvus import MilvusException
from pymilvus.exceptions import ParamError
from pymilvus.milvus_client.optimize_task import OptimizeResult, ProgressStage

from gpu_milvus import AsyncMilvusClient, MilvusClient

STAGES = [
    ProgressStage.INITIALIZING, ProgressStage.WAITING_FOR_INDEXES, ProgressStage.COMPACTING,
    ProgressStage.WAITING_FOR_COMPACTION, ProgressStage.WAITING_FOR_INDEX_REBUILD,
]  # fmt: skip


def test_optimize_runs_the_servers_stages_and_compacts(tmp_path: Path) -> None:
    client = MilvusClient(str(tmp_path / "o.db"))
    client.create_collection("c", dimension=4)
    client.insert("c", [{"id": i, "vector": [float(i), 1.0, 0.0, 0.0]} for i in range(50)])
    client.delete("c", ids=list(range(0, 50, 2)))
    wal = tmp_path / "o.db" / "wal"
    assert sum(f.stat().st_size for f in wal.iterdir()) > 0
    result = client.optimize("c", target_size="512MB")
    assert sum(f.stat().st_size for f in wal.iterdir()) == 0  # folded into a segment
    segments = [f.name for f in (tmp_path / "o.db" / "segments").rglob("*.arrow")]
    assert segments == ["0-25.arrow"]  # the 25 live rows only
    assert isinstance(result, OptimizeResult)
    assert (result.status, result.collection_name, result.target_size) == ("success", "c", "512MB")
    assert result.progress == [*STAGES, ProgressStage.REFRESHING_LOAD]  # the collection is loaded
    client.release_collection("c")
    task = client.optimize("c", wait=False)
    assert task.result().progress == STAGES and task.done()  # released: no load refresh
    with pytest.raises(ParamError, match="Invalid unit: 'parsecs'"):
        client.optimize("c", target_size="12 parsecs")
    with pytest.raises(MilvusException, match="collection not found") as exc:
        client.optimize("nope")
    assert exc.value.code == 100
    client.close()
    again = MilvusClient(str(tmp_path / "o.db"))
    again.load_collection("c")
    assert sorted(r["id"] for r in again.query("c", "id >= 0", limit=100)) == list(range(1, 50, 2))
    again.close()


async def test_async_optimize(tmp_path: Path) -> None:
    client = AsyncMilvusClient(str(tmp_path / "a.db"))
    await client.create_collection("c", dimension=4)
    await client.insert("c", [{"id": 1, "vector": [1.0, 0.0, 0.0, 0.0]}])
    result = await client.optimize("c")
    assert result.progress == [*STAGES, ProgressStage.REFRESHING_LOAD]
    task = await client.optimize("c", wait=False)
    assert (await task.result()).status == "success"
    with pytest.raises(MilvusException, match="collection not found"):
        await client.optimize("nope")
    await client.close()
