"""Our public methods have pymilvus's names, parameters, defaults and sync/async kinds."""

from __future__ import annotations

import inspect

import pymilvus
import pytest

import gpu_milvus
from gpu_milvus.client._facade import CLIENT_METHODS

PAIRS = [
    (gpu_milvus.MilvusClient, pymilvus.MilvusClient),
    (gpu_milvus.AsyncMilvusClient, pymilvus.AsyncMilvusClient),
]
PUBLIC = (*CLIENT_METHODS, "create_schema", "prepare_index_params", "create_field_schema",
          "using_database", "get_server_type", "__init__")  # fmt: skip


def _params(fn: object) -> list[tuple[str, object, object]]:
    sig = inspect.signature(fn)  # type: ignore[arg-type]
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=["sync", "async"])
@pytest.mark.parametrize("name", PUBLIC)
def test_same_parameters_and_defaults(ours: type, theirs: type, name: str) -> None:
    mine, ref = getattr(ours, name), getattr(theirs, name)
    assert _params(mine) == _params(ref), name


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=["sync", "async"])
@pytest.mark.parametrize("name", PUBLIC)
def test_same_sync_or_async_kind(ours: type, theirs: type, name: str) -> None:
    assert inspect.iscoroutinefunction(getattr(ours, name)) == inspect.iscoroutinefunction(
        getattr(theirs, name)
    ), name


@pytest.mark.parametrize("name", ["query_iterator", "search_iterator"])
def test_sync_only_iterators(name: str) -> None:
    assert _params(getattr(gpu_milvus.MilvusClient, name)) == _params(
        getattr(pymilvus.MilvusClient, name)
    )
    assert not hasattr(gpu_milvus.AsyncMilvusClient, name)
    assert not hasattr(pymilvus.AsyncMilvusClient, name)


def test_reexports_are_pymilvus_objects() -> None:
    for name in ("DataType", "CollectionSchema", "FieldSchema", "AnnSearchRequest",
                 "RRFRanker", "WeightedRanker", "MilvusException"):  # fmt: skip
        assert getattr(gpu_milvus, name) is getattr(pymilvus, name)


def test_async_client_is_an_async_context_manager() -> None:
    assert inspect.iscoroutinefunction(gpu_milvus.AsyncMilvusClient.__aenter__)
    assert inspect.iscoroutinefunction(gpu_milvus.AsyncMilvusClient.__aexit__)
