"""MilvusClient: pymilvus's synchronous client API on the in-process engine."""

from __future__ import annotations

from typing import Any

import pymilvus

from gpu_milvus.client import _facade


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

    def using_database(self, db_name: str, **kwargs: Any) -> None:
        self.use_database(db_name, **kwargs)  # type: ignore[attr-defined]


_facade.install(MilvusClient, _facade.sync_method)
