"""MilvusClient: pymilvus's synchronous client API on the in-process engine."""

from __future__ import annotations

from typing import Any

import pymilvus

from gpu_milvus.client import _facade
from gpu_milvus.client._core import LocalCore
from gpu_milvus.client.remote import is_remote, local_path


class MilvusClient:
    """Drop-in for ``pymilvus.MilvusClient``.

    A local path (``"./rag.db"``) or ``":memory:"`` opens the in-process engine, shared by
    every client of that uri in the process; ``http(s)://``, ``tcp://`` and ``unix:`` URIs
    return pymilvus's own client for a Milvus server. ``device`` is ``"auto"`` (GPU when
    usable, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    """

    create_schema = staticmethod(pymilvus.MilvusClient.create_schema)
    create_field_schema = staticmethod(pymilvus.MilvusClient.create_field_schema)
    prepare_index_params = staticmethod(pymilvus.MilvusClient.prepare_index_params)

    def __new__(cls, uri: str = "http://localhost:19530", *args: Any, **kwargs: Any) -> Any:
        if is_remote(uri):
            kwargs.pop("device", None)
            return pymilvus.MilvusClient(uri, *args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        uri: str = "http://localhost:19530",
        user: str = "",
        password: str = "",
        db_name: str = "",
        token: str = "",
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        self._core = _facade.guarded(
            LocalCore, local_path(uri), db_name, kwargs.get("device", "auto")
        )
        self.is_self_hosted = True

    @property
    def device(self) -> str:
        """The backend this client's engine runs on: ``"cpu"`` or ``"cuda"``."""
        return self._core.device

    def get_server_type(self) -> str:
        return "milvus"

    def using_database(self, db_name: str, **kwargs: Any) -> None:
        self.use_database(db_name, **kwargs)  # type: ignore[attr-defined]


_facade.install(MilvusClient, _facade.sync_method)
