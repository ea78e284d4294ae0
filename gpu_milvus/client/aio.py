"""AsyncMilvusClient: pymilvus's asyncio client API on the in-process engine.

Every method awaits the shared engine core on a worker thread, so the event loop never
blocks on vector math. Method names, parameters and defaults are pymilvus 3.0's, including
the three places where the async client differs from the sync one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pymilvus

from gpu_milvus.client import _facade
from gpu_milvus.client._core import LocalCore


class AsyncMilvusClient(_facade.LocalClient):
    """Drop-in for ``pymilvus.AsyncMilvusClient`` (see ``MilvusClient`` for uri and device)."""

    remote_class = pymilvus.AsyncMilvusClient
    create_schema = staticmethod(pymilvus.AsyncMilvusClient.create_schema)
    create_field_schema = staticmethod(pymilvus.AsyncMilvusClient.create_field_schema)
    prepare_index_params = staticmethod(pymilvus.AsyncMilvusClient.prepare_index_params)

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
        """Exact top-k per query vector; returns pymilvus's SearchResult."""
        return await self._run(
            "search", collection_name, data=data, filter=filter, limit=limit,
            output_fields=output_fields, search_params=search_params,
            partition_names=partition_names, anns_field=anns_field, ranker=ranker,
            function_chains=function_chains, ids=ids, search_aggregation=search_aggregation,
            **kwargs,
        )  # fmt: skip

    async def using_database(self, db_name: str, **kwargs: Any) -> None:
        await self.use_database(db_name, **kwargs)  # type: ignore[attr-defined]


_facade.install(AsyncMilvusClient, _facade.async_method)
