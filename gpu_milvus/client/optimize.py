"""``optimize``: pymilvus's OptimizeTask / AsyncOptimizeTask (the stages, cancellation,
``wait=False``) driving the local engine, where every index is always built and loaded data
is always current, so its one real step is the store's compaction."""

from __future__ import annotations

import asyncio
from typing import Any

from pymilvus.milvus_client.async_optimize_task import AsyncOptimizeTask
from pymilvus.milvus_client.check import validate_param
from pymilvus.milvus_client.optimize_task import OptimizeResult, OptimizeTask, ProgressStage

from gpu_milvus.client import _facade


def _stages(core: Any, task: Any, collection_name: str) -> OptimizeResult:
    """The server's stages in order; compacting is the store's compaction."""
    loaded = core.get_load_state(collection_name)["state"].name == "Loaded"
    task.check_cancelled()
    task.set_progress(ProgressStage.WAITING_FOR_INDEXES)
    task.check_cancelled()
    task.set_progress(ProgressStage.COMPACTING)
    job = core.compact(collection_name)
    for stage in (ProgressStage.WAITING_FOR_COMPACTION, ProgressStage.WAITING_FOR_INDEX_REBUILD):
        task.check_cancelled()
        task.set_progress(stage)
    if loaded:
        task.set_progress(ProgressStage.REFRESHING_LOAD)
    return OptimizeResult(
        status="success", collection_name=collection_name, compaction_id=job,
        target_size=task._target_size, progress=task.progress_history(),
    )  # fmt: skip


def optimize(
    client: Any, collection_name: str, target_size: str | None = None, wait: bool = True,
    timeout: float | None = None, **kwargs: Any,
) -> OptimizeResult | OptimizeTask:  # fmt: skip
    """MilvusClient.optimize (target_size is checked, as pymilvus checks it, and unused)."""
    validate_param("collection_name", collection_name, str)

    def run(task: Any, collection_name: str, **_: Any) -> OptimizeResult:
        return _facade.guarded(_stages, client._core, task, collection_name)

    task = OptimizeTask(collection_name, target_size, timeout, run, **kwargs)
    task.start()
    return task.result(timeout=timeout) if wait else task


async def optimize_async(
    client: Any, collection_name: str, target_size: str | None = None, wait: bool = True,
    timeout: float | None = None, **kwargs: Any,
) -> OptimizeResult | AsyncOptimizeTask:  # fmt: skip
    """AsyncMilvusClient.optimize: the same stages, off the event loop."""
    validate_param("collection_name", collection_name, str)

    async def run(task: Any, collection_name: str, **_: Any) -> OptimizeResult:
        return await asyncio.to_thread(
            _facade.guarded, _stages, client._core, task, collection_name
        )

    task = AsyncOptimizeTask(collection_name, target_size, timeout, run, **kwargs)
    task.start()
    return await task.result(timeout=timeout) if wait else task
