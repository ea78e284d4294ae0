"""AsyncMilvusClient: pymilvus's asyncio client API on the in-process engine.

DDL and DML await the shared engine core on a worker thread; search and hybrid_search go
through the client's ``SearchScheduler``, which merges concurrent calls into batched engine
calls. The event loop never runs vector math. Method names, parameters and defaults are
pymilvus 3.0's, including the places where the async client differs from the sync one.
Extra keywords: ``max_batch`` (requests per batch, default 256) and ``max_queue`` (pending
searches before new ones are refused, default 65536).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pymilvus

from gpu_milvus.client import _facade, optimize
from gpu_milvus.client._core import LocalCore
from gpu_milvus.scheduler import DEFAULT_MAX_BATCH, SearchScheduler

_NOTHING: dict[str, Any] = {}  # no keyword feature (ranker, ...) was given to a search


class AsyncMilvusClient(_facade.LocalClient):
    """Drop-in for ``pymilvus.AsyncMilvusClient`` (see ``MilvusClient`` for uri and device)."""

    remote_class = pymilvus.AsyncMilvusClient
    create_schema = staticmethod(pymilvus.AsyncMilvusClient.create_schema)
    create_field_schema = staticmethod(pymilvus.AsyncMilvusClient.create_field_schema)
    prepare_index_params = staticmethod(pymilvus.AsyncMilvusClient.prepare_index_params)

    def _configure(self, kwargs: dict[str, Any]) -> None:
        self._scheduler = _facade.guarded(
            SearchScheduler,
            kwargs.get("max_batch", DEFAULT_MAX_BATCH),
            kwargs.get("max_queue", 65536),
        )

    def scheduler_stats(self) -> dict[str, float]:
        """Batching counters: batches, requests, mean_batch_size, largest_batch,
        mean_queue_wait_ms, cancelled."""
        return self._scheduler.stats.as_dict()

    async def close(self) -> None:
        """Finish the searches already queued, then close this client."""
        await self._scheduler.close()
        await asyncio.to_thread(self._core.close)  # the last client seals a path uri's log

    async def __aenter__(self) -> AsyncMilvusClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()  # type: ignore[attr-defined]

    async def _run(self, name: str, *args: Any, **kwargs: Any) -> Any:
        impl = getattr(LocalCore, name)
        return await asyncio.to_thread(_facade.guarded, impl, self._core, *args, **kwargs)

    async def list_collections(self, timeout: float | None = None, **kwargs: Any) -> list[str]:
        """Names of the collections in the current database."""
        return await self._run("list_collections", **kwargs)

    async def refresh_load(
        self,
        collection_name: str,
        partition_names: list[str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        """Loaded data is always current here: only checks the collection exists."""
        await self._run("refresh_load", collection_name, timeout)

    async def run_analyzer(
        self, texts: str | list[str], analyzer_params: str | dict | None = None,
        with_hash: bool = False, with_detail: bool = False, collection_name: str | None = None,
        field_name: str | None = None, analyzer_names: str | list[str] | None = None,
        timeout: float | None = None, **kwargs: Any,
    ) -> Any:  # fmt: skip
        """The tokens an analyzer makes of each text (the sync client's, plus **kwargs)."""
        return await self._run(
            "run_analyzer", texts, analyzer_params, with_hash, with_detail, collection_name,
            field_name, analyzer_names, timeout,
        )  # fmt: skip

    async def get_load_state(
        self,
        collection_name: str,
        partition_names: list[str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """``{'state': LoadState.X}`` of the collection, or of all the named partitions."""
        return await self._run(
            "get_load_state", collection_name, partition_names=partition_names, **kwargs
        )

    async def search(
        self,
        collection_name: str,
        data: list | None = None,
        filter: str = "",
        limit: int = 10,
        output_fields: list[str] | None = None,
        search_params: dict | None = None,
        timeout: float | None = None,
        partition_names: list[str] | None = None,
        anns_field: str | None = None,
        ranker: Any = None,
        function_chains: Any = None,
        ids: list | str | int | None = None,
        search_aggregation: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Exact top-k per query vector; returns pymilvus's SearchResult. Concurrent calls are
        batched by the client's scheduler."""
        arguments = dict(locals())  # checked if the engine trips over one (guarded_with)
        features = (
            _NOTHING
            if ranker is None and function_chains is None and search_aggregation is None
            else {"ranker": ranker, "function_chains": function_chains,
                  "search_aggregation": search_aggregation}
        )  # fmt: skip
        prepared = _facade.guarded_with(
            lambda: _facade.check_arguments(arguments), self._core.prepare_search,
            collection_name, data, filter, limit, output_fields, search_params,
            partition_names, anns_field, ids, features, kwargs,
        )  # fmt: skip
        outcome = await self._scheduler.submit(prepared.coll, prepared.items[0])
        return _facade.guarded(self._core.finish_search, prepared, [outcome])

    async def hybrid_search(
        self,
        collection_name: str,
        reqs: list,
        ranker: Any,
        limit: int = 10,
        output_fields: list[str] | None = None,
        timeout: float | None = None,
        partition_names: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Each AnnSearchRequest with its own filter and limit, fused by the ranker; the
        sub-requests join the scheduler's batches."""
        arguments = dict(locals())
        prepared = _facade.guarded_with(
            lambda: _facade.check_arguments(arguments), self._core.prepare_hybrid,
            collection_name, reqs, ranker, limit, output_fields, partition_names, kwargs,
        )  # fmt: skip
        outcomes = await self._scheduler.run_many(prepared.coll, prepared.items)
        return await asyncio.to_thread(
            _facade.guarded, self._core.finish_search, prepared, outcomes
        )

    async def using_database(self, db_name: str, **kwargs: Any) -> None:
        await self.use_database(db_name, **kwargs)  # type: ignore[attr-defined]

    async def optimize(
        self, collection_name: str, target_size: str | None = None, wait: bool = True,
        timeout: float | None = None, **kwargs: Any,
    ) -> Any:  # fmt: skip
        """Compact the store through pymilvus's AsyncOptimizeTask."""
        return await optimize.optimize_async(
            self, collection_name, target_size, wait, timeout, **kwargs
        )


_facade.install(AsyncMilvusClient, _facade.async_method)
