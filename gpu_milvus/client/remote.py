"""URI routing: network URIs go to pymilvus's own clients, everything else stays local."""

from __future__ import annotations

from typing import Any

REMOTE_SCHEMES = ("http://", "https://", "tcp://", "unix:", "grpc://")


def is_remote(uri: Any) -> bool:
    """True for a Milvus server or cluster address (handed to pymilvus unchanged)."""
    return isinstance(uri, str) and uri.lower().startswith(REMOTE_SCHEMES)


def local_path(uri: Any) -> str:
    """The local store a non-network uri names: a path (``./rag.db``) or ``:memory:``."""
    from gpu_milvus import errors

    if not isinstance(uri, str) or not uri.strip():
        raise errors.MilvusException(message=f"uri: {uri!r} is illegal")
    return uri
