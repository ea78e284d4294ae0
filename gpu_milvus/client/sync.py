"""MilvusClient: pymilvus's synchronous client API on the in-process engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pymilvus

from gpu_milvus.client import _facade, optimize
from gpu_milvus.client.iterators import QueryIterator, SearchIterator


class MilvusClient(_facade.LocalClient):
    """Drop-in for ``pymilvus.MilvusClient``.

    A local path (``"./rag.db"``) or ``":memory:"`` opens the in-process engine, shared by
    every client of that uri in the process; ``http(s)://``, ``tcp://`` and ``unix:`` URIs
    return pymilvus's own client for a Milvus server. ``device`` is ``"auto"`` (GPU when
    usable, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    """

    remote_class = pymilvus.MilvusClient
    create_schema = staticmethod(pymilvus.MilvusClient.create_schema)
    create_field_schema = staticmethod(pymilvus.MilvusClient.create_field_schema)
    prepare_index_params = staticmethod(pymilvus.MilvusClient.prepare_index_params)

    def query_iterator(
        self,
        collection_name: str,
        batch_size: int | None = 1000,
        limit: int | None = -1,
        filter: str | None = "",
        output_fields: list[str] | None = None,
        partition_names: list[str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> QueryIterator:
        """Rows in primary-key order, ``batch_size`` per ``next()`` (sync client only)."""
        arguments = dict(locals())  # checked if the engine trips over one (guarded_with)
        return _facade.guarded_with(
            lambda: _facade.check_arguments(arguments), QueryIterator, self, collection_name,
            batch_size, limit, filter, output_fields, partition_names, kwargs,
        )  # fmt: skip

    def search_iterator(
        self,
        collection_name: str,
        data: list,
        batch_size: int | None = 1000,
        filter: str | None = None,
        limit: int | None = -1,
        output_fields: list[str] | None = None,
        search_params: dict | None = None,
        timeout: float | None = None,
        partition_names: list[str] | None = None,
        anns_field: str | None = None,
        round_decimal: int = -1,
        *,
        external_filter_func: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> SearchIterator:
        """One query vector's hits, best first, ``batch_size`` per ``next()`` (sync only)."""
        arguments = {**locals(), "search_data": data}
        return _facade.guarded_with(
            lambda: _facade.check_arguments(arguments), SearchIterator, self, collection_name,
            data, batch_size, filter, limit, output_fields, search_params, partition_names,
            anns_field, round_decimal, external_filter_func,
        )  # fmt: skip

    def using_database(self, db_name: str, **kwargs: Any) -> None:
        self.use_database(db_name, **kwargs)  # type: ignore[attr-defined]

    def optimize(
        self, collection_name: str, target_size: str | None = None, wait: bool = True,
        timeout: float | None = None, **kwargs: Any,
    ) -> Any:  # fmt: skip
        """Compact the store through pymilvus's OptimizeTask (``client.optimize``)."""
        return optimize.optimize(self, collection_name, target_size, wait, timeout, **kwargs)


_facade.install(MilvusClient, _facade.sync_method)
