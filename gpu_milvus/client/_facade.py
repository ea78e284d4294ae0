"""Builds the client classes' methods from ``LocalCore`` so that each behaviour exists once.

A sync method calls the core directly; an async method awaits it on a worker thread, so the
event loop never blocks. Both keep the core method's name, docstring and signature.
Errors the engine did not mean to raise first have the call's arguments checked, as pymilvus's
client checks them (a call Python cannot bind is a TypeError; a badly typed name, list or
timeout a ParamError), and are otherwise re-raised as MilvusException (code 65535), so no
bare Python exception escapes from inside the engine.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from pymilvus.client.check import check_pass_param
from pymilvus.exceptions import (
    DataTypeNotMatchException,
    ExceptionsMessage,
    MilvusException,
    ParamError,
)

from gpu_milvus import errors
from gpu_milvus.client._args import WrongArgumentType
from gpu_milvus.client._core import LocalCore
from gpu_milvus.client.remote import is_remote, local_path

T = TypeVar("T")

# LocalCore methods exposed on both clients.
CLIENT_METHODS = (
    "close", "create_collection", "drop_collection", "has_collection", "list_collections",
    "describe_collection", "rename_collection", "get_collection_stats", "flush", "compact",
    "get_server_version", "create_database", "drop_database", "list_databases", "use_database",
    "load_collection", "release_collection", "load_partitions", "release_partitions",
    "get_load_state", "create_partition", "drop_partition", "has_partition", "list_partitions",
    "get_partition_stats", "create_index", "drop_index", "list_indexes", "describe_index",
    "insert", "upsert", "delete", "get", "query", "search", "hybrid_search",
    "create_alias", "drop_alias", "alter_alias", "describe_alias", "list_aliases",
    "describe_database", "alter_database_properties", "drop_database_properties",
    "alter_collection_properties", "drop_collection_properties", "truncate_collection",
    "refresh_load", "flush_all", "get_flush_all_state", "get_compaction_state",
    "add_collection_field", "alter_collection_field", "drop_collection_field", "run_analyzer",
    "add_function_field", "drop_function_field", "alter_index_properties",
    "drop_index_properties", "add_collection_struct_field",
)  # fmt: skip

# Keywords for a path uri's engine: its durable store (engine.durable.StoreOptions) and the
# GPU's scan copy (engine.backend.select_backend).
STORAGE_KEYWORDS = ("durability", "commit_interval", "checkpoint_bytes", "scan_dtype")


class LocalClient:
    """What both clients share: uri routing, the core, and the pymilvus static helpers.

    A subclass names its pymilvus counterpart in ``remote_class``; a network uri returns an
    instance of that class instead (a real Milvus server or cluster).
    """

    remote_class: type = object

    def __new__(cls, uri: str = "http://localhost:19530", *args: Any, **kwargs: Any) -> Any:
        if is_remote(uri):
            for key in ("device", *STORAGE_KEYWORDS):
                kwargs.pop(key, None)
            return cls.remote_class(uri, *args, **kwargs)
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
        storage = {k: kwargs[k] for k in STORAGE_KEYWORDS if k in kwargs}
        self._core = guarded(
            LocalCore, local_path(uri), db_name, kwargs.get("device", "auto"), **storage
        )
        self.is_self_hosted = True
        self._configure(kwargs)

    def _configure(self, kwargs: dict[str, Any]) -> None:
        """Client-specific keywords (the async client's scheduler settings)."""

    @property
    def device(self) -> str:
        """The backend this client's engine runs on: ``"cpu"`` or ``"cuda"``."""
        return self._core.device

    def get_server_type(self) -> str:
        return "milvus"


def guarded(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn``; unexpected internal exceptions become MilvusException (errors.unexpected)."""
    try:
        return fn(*args, **kwargs)
    except (MilvusException, WrongArgumentType):
        raise
    except Exception as exc:  # the engine's own bug, an unforeseen input, or out of memory
        raise errors.unexpected(exc) from exc


def guarded_with(explain: Callable[[], None], fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``guarded``, where an internal error first lets ``explain`` check the caller's
    arguments: a badly typed one (its ParamError or TypeError) is the error to report."""
    try:
        return guarded(fn, *args, **kwargs)
    except MilvusException as exc:
        if exc.code == errors.UNEXPECTED:
            explain()
        raise


# The arguments pymilvus's client checks by name (pymilvus.client.check), as it checks them,
# and the others' types, read when a call failed inside the engine (guarded_with)
_CHECKED = {"collection_name": "collection_name", "partition_name": "partition_name",
            "partition_names": "partition_name_array", "timeout": "timeout",
            "properties": "properties", "target_db": "db_name", "db_name": "db_name",
            "search_data": "search_data"}  # fmt: skip
_TYPED = {"index_name": str, "field_name": str, "output_fields": (list, tuple),
          "search_params": dict, "analyzer_params": (dict, str),
          "ids": (list, tuple, int, str), "reqs": (list, tuple), "target_size": int,
          "analyzer_names": (str, list, tuple), "with_hash": int, "with_detail": int,
          "property_keys": (list, tuple), "field_params": dict, "offset": int}  # fmt: skip


def argument_checker(impl: Callable[..., Any]) -> Callable[..., None]:
    """A check of one call of ``impl`` as Python binds it (a wrong signature is the caller's
    TypeError, as pymilvus's would be), then of its named arguments (check_arguments)."""
    signature = inspect.signature(impl)
    required = frozenset(n for n, p in signature.parameters.items() if p.default is p.empty)

    def check(core: Any, args: tuple, kwargs: dict[str, Any]) -> None:
        check_arguments(signature.bind(core, *args, **kwargs).arguments, required)

    return check


def check_arguments(arguments: dict[str, Any], required: frozenset[str] = frozenset()) -> None:
    """Named arguments through pymilvus's checks, and the others' types (ParamError); None
    stands for an optional argument left out. Keyword arguments in ``kwargs`` count too."""
    extra = arguments.get("kwargs")
    if isinstance(extra, dict):
        arguments = {**arguments, **extra}
    for name, value in arguments.items():
        if (value is None and name not in required) or (
            name == "partition_names" and isinstance(value, str)  # one name, as pymilvus takes
        ):
            continue
        try:
            if name in _CHECKED:
                check_pass_param(**{_CHECKED[name]: value})
        except ParamError:
            raise
        except Exception:  # a value pymilvus's check cannot even test (an array's truth)
            raise ParamError(message=f"`{_CHECKED[name]}` value {value} is illegal") from None
        if name == "filter" and not isinstance(value, str):  # pymilvus's query check
            raise DataTypeNotMatchException(message=ExceptionsMessage.ExprType % type(value))
        if name in _TYPED and not isinstance(value, _TYPED[name]):
            raise ParamError(message=f"`{name}` value {value} is illegal")


def sync_method(name: str) -> Callable[..., Any]:
    impl = getattr(LocalCore, name)
    check = argument_checker(impl)

    @functools.wraps(impl)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        core = self._core
        return guarded_with(lambda: check(core, args, kwargs), impl, core, *args, **kwargs)

    return method


def async_method(name: str) -> Callable[..., Any]:
    impl = getattr(LocalCore, name)
    check = argument_checker(impl)

    @functools.wraps(impl)
    async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        core = self._core
        explain = lambda: check(core, args, kwargs)  # noqa: E731
        return await asyncio.to_thread(guarded_with, explain, impl, core, *args, **kwargs)

    return method


def unimplemented(name: str, remote: Callable[..., Any]) -> Callable[..., Any]:
    """A pymilvus method the local engine does not offer (users, roles, resource groups,
    snapshots, replication...): Milvus's code 10, 'service unimplemented'."""

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise errors.server(
            10, f"{name} is not available on gpu_milvus's local engine (use a Milvus server "
            "uri for it): service unimplemented",
        )  # fmt: skip

    async def fail_async(*args: Any, **kwargs: Any) -> Any:
        fail()

    return functools.wraps(remote)(fail_async if asyncio.iscoroutinefunction(remote) else fail)


def install(cls: type, make: Callable[[str], Callable[..., Any]]) -> None:
    """Add every core method that ``cls`` does not define itself, and for each other public
    method of its pymilvus counterpart one that raises ``unimplemented``."""
    for name in CLIENT_METHODS:
        if name not in cls.__dict__:
            setattr(cls, name, make(name))
    for name in dir(cls.remote_class):
        remote = inspect.getattr_static(cls.remote_class, name)
        if name.startswith("_") or hasattr(cls, name):
            continue
        if isinstance(remote, (staticmethod, classmethod)):  # a client-side builder
            setattr(cls, name, remote)
        elif callable(remote):
            setattr(cls, name, unimplemented(name, remote))
