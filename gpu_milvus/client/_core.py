"""The one implementation behind MilvusClient and AsyncMilvusClient on a local uri.

Every public method here has pymilvus 3.0's name, parameters and defaults, runs
synchronously, and returns pymilvus's own result objects. The sync client calls these
methods directly; the async client awaits them on a worker thread. Argument checks that
pymilvus makes client-side happen here (via ``_args``); the engine does the server's.
"""

from __future__ import annotations

from typing import Any

from pymilvus import CollectionSchema, DataType
from pymilvus.client.field_ops import normalize_field_ops
from pymilvus.exceptions import ParamError, PrimaryKeyException
from pymilvus.milvus_client.check import validate_param
from pymilvus.milvus_client.index import IndexParams

from gpu_milvus import errors, timestamptz
from gpu_milvus.client import _args
from gpu_milvus.client._admin import AdminMethods
from gpu_milvus.client._search import SearchMethods
from gpu_milvus.client.describe import describe_collection as _describe
from gpu_milvus.engine import partial_upsert, reads
from gpu_milvus.engine.collection import Collection
from gpu_milvus.engine.engine import DEFAULT_DB, Engine, open_engine, release_engine
from gpu_milvus.index_params import describe as describe_index_dict
from gpu_milvus.index_params import index_spec
from gpu_milvus.results import LoadState, query_result, write_result
from gpu_milvus.schema import spec_from_schema


class LocalCore(AdminMethods, SearchMethods):
    """A connection to the in-process engine of one local uri."""

    def __init__(self, uri: str, db_name: str = "", device: str = "auto", **options: Any) -> None:
        self._engine: Engine | None = open_engine(uri, device, **options)
        self._db = db_name or DEFAULT_DB
        if not self._engine.has_database(self._db):
            release_engine(self._engine)
            self._engine = None
            raise errors.server(
                errors.DATABASE_NOT_FOUND, f"database not found[database={self._db}]"
            )

    # ------------------------------------------------------------------ plumbing
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise errors.should_create_connection()
        return self._engine

    @property
    def device(self) -> str:
        return self.engine.backend.name

    def _coll(self, name: str, *, describe_style: bool = False) -> Collection:
        return self.engine.require(self._db, name, describe_style=describe_style)

    def close(self) -> None:
        """Close this client; the last client of a path uri closes its store (data stays)."""
        engine, self._engine = self._engine, None
        if engine is not None:
            release_engine(engine)

    # ------------------------------------------------------------------ collections
    def create_collection(
        self,
        collection_name: str,
        dimension: int | None = None,
        primary_field_name: str = "id",
        id_type: str = "int",
        vector_field_name: str = "vector",
        metric_type: str = "COSINE",
        auto_id: bool = False,
        timeout: float | None = None,
        schema: CollectionSchema | None = None,
        index_params: IndexParams | None = None,
        **kwargs: Any,
    ) -> None:
        """Quick setup (dimension: AUTOINDEX index, dynamic field, loaded) or schema form."""
        engine = self.engine
        level = _args.consistency(kwargs)
        properties = dict(kwargs.get("properties") or {})
        zone = properties.get(timestamptz.TIMEZONE_KEY)
        if zone is None:  # the server copies the database's time zone into the collection
            zone = engine.describe_database(self._db).get(timestamptz.TIMEZONE_KEY)
            if zone is not None:
                properties[timestamptz.TIMEZONE_KEY] = zone
        options = {
            "consistency_level": level,
            "num_shards": int(kwargs.get("num_shards", kwargs.get("shards_num", 1)) or 1),
            "properties": properties,
        }
        if schema is None:
            schema, index_params = _quick_schema(
                dimension, primary_field_name, id_type, vector_field_name, metric_type, auto_id,
                kwargs,
            )  # fmt: skip
        else:
            schema.verify()
        if zone is not None:
            timestamptz.check_timezone(zone)
        spec = spec_from_schema(collection_name, schema, zone=zone or timestamptz.DEFAULT_TIMEZONE)
        created = engine.create_collection(self._db, spec, **options)
        if not created:
            self._check_same_indexes(collection_name, index_params)
        elif index_params:
            self.create_index(collection_name, index_params)
            self.load_collection(collection_name)

    def _check_same_indexes(self, collection_name: str, index_params: Any) -> None:
        """Re-creating an existing collection succeeds only with the same parameters."""
        coll = self._coll(collection_name)
        for param in index_params or []:
            wanted = index_spec(coll.spec, param)
            existing = coll.index_for_field(wanted.field_name)
            if existing is None or not existing.same_as(wanted):
                raise errors.server(
                    1,
                    "create duplicate collection with different parameters, "
                    f"collection: {collection_name}",
                )

    def drop_collection(
        self, collection_name: str, timeout: float | None = None, **kwargs: Any
    ) -> None:
        """Drop a collection; dropping a missing one is not an error."""
        self.engine.drop_collection(self._db, collection_name)

    def has_collection(
        self, collection_name: str, timeout: float | None = None, **kwargs: Any
    ) -> bool:
        return self.engine.get(self._db, collection_name) is not None

    def list_collections(self, **kwargs: Any) -> list[str]:
        return self.engine.list_collections(self._db)

    def describe_collection(
        self, collection_name: str, timeout: float | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        coll = self._coll(collection_name, describe_style=True)
        return _describe(coll, self.engine.aliases_of(coll))

    def rename_collection(
        self, old_name: str, new_name: str, target_db: str | None = "",
        timeout: float | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        self.engine.rename_collection(self._db, old_name, new_name, target_db or "")

    def get_collection_stats(
        self, collection_name: str, timeout: float | None = None, **kwargs: Any
    ) -> dict[str, int]:
        return {"row_count": self._coll(collection_name).row_count()}

    def flush(self, collection_name: str, timeout: float | None = None, **kwargs: Any) -> None:
        """Seal what was written (a checkpoint of the store); writes are already visible."""
        self._coll(collection_name)
        self.engine.flush()

    def compact(
        self, collection_name: str, is_clustering: bool | None = False, is_l0: bool | None = False,
        target_size: int | None = None, target_size_unit: str = "mb",
        timeout: float | None = None, **kwargs: Any,
    ) -> int:  # fmt: skip
        self.engine.compact(self._coll(collection_name))
        return 0

    def get_server_version(
        self, timeout: float | None = None, detail: bool = False, **kwargs: Any
    ) -> str:
        from gpu_milvus import __version__

        return f"gpu_milvus-{__version__}"

    # ------------------------------------------------------------------ databases
    def create_database(self, db_name: str, properties: dict | None = None,
                        timeout: float | None = None, **kwargs: Any) -> None:  # fmt: skip
        self.engine.create_database(db_name, properties)

    def drop_database(self, db_name: str, **kwargs: Any) -> None:
        self.engine.drop_database(db_name)

    def list_databases(self, timeout: float | None = None, **kwargs: Any) -> list[str]:
        return self.engine.list_databases()

    def use_database(self, db_name: str, **kwargs: Any) -> None:
        if not self.engine.has_database(db_name):
            raise errors.server(
                errors.DATABASE_NOT_FOUND, f"database not found[database={db_name}]"
            )
        self._db = db_name

    # ------------------------------------------------------------------ load state
    def load_collection(
        self, collection_name: str, timeout: float | None = None, **kwargs: Any
    ) -> None:
        self._coll(collection_name).load()

    def release_collection(
        self, collection_name: str, timeout: float | None = None, **kwargs: Any
    ) -> None:
        self._coll(collection_name).release()

    def load_partitions(
        self, collection_name: str, partition_names: str | list[str],
        timeout: float | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        names = [partition_names] if isinstance(partition_names, str) else list(partition_names)
        self._coll(collection_name).load(names)

    def release_partitions(
        self, collection_name: str, partition_names: str | list[str],
        timeout: float | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        names = [partition_names] if isinstance(partition_names, str) else list(partition_names)
        self._coll(collection_name).release(names)

    def get_load_state(
        self, collection_name: str, partition_name: str | None = "",
        timeout: float | None = None, **kwargs: Any,
    ) -> dict[str, Any]:  # fmt: skip
        """``{'state': LoadState.X}``; a missing collection is NotExist, not an error."""
        coll = self.engine.get(self._db, collection_name)
        if coll is None:
            return {"state": LoadState.NotExist}
        names = kwargs.get("partition_names") or ([partition_name] if partition_name else [])
        if names:
            pids = [coll.partition_id(n) for n in names]
            loaded = all(p in coll.loaded_partitions for p in pids)
        else:
            loaded = coll.loaded
        return {"state": LoadState.Loaded if loaded else LoadState.NotLoad}

    # ------------------------------------------------------------------ partitions
    def create_partition(
        self, collection_name: str, partition_name: str, timeout: float | None = None, **kwargs: Any
    ) -> None:
        self._coll(collection_name).create_partition(partition_name)

    def drop_partition(
        self, collection_name: str, partition_name: str, timeout: float | None = None, **kwargs: Any
    ) -> None:
        self._coll(collection_name).drop_partition(partition_name)

    def has_partition(
        self, collection_name: str, partition_name: str, timeout: float | None = None, **kwargs: Any
    ) -> bool:
        return partition_name in self._coll(collection_name).partitions

    def list_partitions(
        self, collection_name: str, timeout: float | None = None, **kwargs: Any
    ) -> list[str]:
        return list(self._coll(collection_name).partitions)

    def get_partition_stats(
        self, collection_name: str, partition_name: str, timeout: float | None = None, **kwargs: Any
    ) -> dict[str, int]:
        if not isinstance(partition_name, str):
            raise _args.WrongArgumentType(
                f"partition_name must be str, got {type(partition_name).__name__}"
            )
        return {"row_count": self._coll(collection_name).partition_row_count(partition_name)}

    # ------------------------------------------------------------------ indexes
    def create_index(
        self, collection_name: str, index_params: IndexParams, timeout: float | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        if not isinstance(index_params, IndexParams):
            raise ParamError(
                message=f"wrong type of argument [index_params], expected type: [IndexParams], "
                f"got type: [{type(index_params).__name__}]"
            )
        if len(index_params) == 0:
            raise ParamError(message="IndexParams is empty, no index can be created")
        coll = self._coll(collection_name)
        for param in index_params:
            coll.create_index(index_spec(coll.spec, param))

    def drop_index(
        self, collection_name: str, index_name: str, timeout: float | None = None, **kwargs: Any
    ) -> None:
        self._coll(collection_name).drop_index(index_name)

    def list_indexes(
        self, collection_name: str, field_name: str | None = "", **kwargs: Any
    ) -> list[str]:
        coll = self._coll(collection_name)
        return [n for n, i in coll.indexes.items() if not field_name or i.field_name == field_name]

    def describe_index(
        self, collection_name: str, index_name: str, timeout: float | None = None, **kwargs: Any
    ) -> dict[str, Any] | None:
        """The index's KVs as strings plus counts and state; None when there is no such index."""
        coll = self._coll(collection_name)
        index = coll.indexes.get(index_name)
        if index is None:
            return None
        return describe_index_dict(index, coll.row_count())

    # ------------------------------------------------------------------ writes
    def insert(
        self, collection_name: str, data: dict | list[dict], timeout: float | None = None,
        partition_name: str | None = "", **kwargs: Any,
    ) -> dict[str, Any]:  # fmt: skip
        rows = _args.rows_of(data)
        if not rows:
            return {"insert_count": 0, "ids": []}
        coll = self._coll(collection_name, describe_style=True)
        ids = coll.insert(rows, partition_name)
        return write_result("insert", len(ids), ids)

    def upsert(
        self, collection_name: str, data: dict | list[dict], timeout: float | None = None,
        partition_name: str | None = "", **kwargs: Any,
    ) -> dict[str, Any]:  # fmt: skip
        """Insert or replace rows by key; ``partial_update=True`` or ``field_ops`` merges
        each row into the stored one (``engine.partial_upsert``)."""
        rows = _args.rows_of(data)
        if not rows:
            return {"upsert_count": 0, "ids": []}
        coll = self._coll(collection_name, describe_style=True)
        field_ops = kwargs.get("field_ops")
        if kwargs.get("partial_update") or normalize_field_ops(field_ops):
            ids = partial_upsert.upsert(coll, rows, partition_name, field_ops)
        else:
            ids = coll.upsert(rows, partition_name)
        return write_result("upsert", len(ids), ids)

    def delete(
        self, collection_name: str, ids: list | str | int | None = None,
        timeout: float | None = None, filter: str | None = None,
        partition_name: str | None = None, **kwargs: Any,
    ) -> dict[str, int]:  # fmt: skip
        """Delete by ids or by filter (not both); deleted rows never come back."""
        key_list: list[Any] = []
        if kwargs.get("pks") is not None:
            key_list.extend(_args.id_list(kwargs["pks"]))
        if ids is not None:
            key_list.extend(_args.id_list(ids))
        if filter and key_list:
            raise ParamError(
                message="Ambiguous filter parameter, only one deletion condition can be specified."
            )
        if not key_list:
            _args.check_filter(filter)
            if not filter:
                raise ParamError(
                    message=f"Illegal str variables: {{'filter': {filter!r}}}, expect non-empty str"
                )
        coll = self._coll(collection_name, describe_style=bool(key_list))
        count = coll.delete(key_list or None, filter, partition_name, kwargs.get("filter_params"))
        return write_result("delete", count)

    # ------------------------------------------------------------------ reads
    def get(
        self, collection_name: str, ids: list | str | int, output_fields: list[str] | None = None,
        timeout: float | None = None, partition_names: list[str] | None = None, **kwargs: Any,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Rows by primary key (missing keys are skipped); every field by default."""
        keys = _args.id_list(ids)
        if not keys:
            return []
        coll = self._coll(collection_name, describe_style=True)
        zone, parts = _args.time_options(kwargs)
        rows = reads.query(
            coll, "", None, output_fields, keys, partition_names, None, 0,
            timezone=zone, time_parts=parts,
        )  # fmt: skip
        return query_result(rows)

    def query(
        self, collection_name: str, filter: str = "", output_fields: list[str] | None = None,
        timeout: float | None = None, ids: list | str | int | None = None,
        partition_names: list[str] | None = None, **kwargs: Any,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Rows matching a filter (or ids), with count(*), limit and offset as on the server."""
        _args.check_filter(filter)
        if filter and ids is not None:
            raise ParamError(
                message="Ambiguous parameter, either ids or filter should be specified, "
                "cannot support both."
            )
        _args.consistency(kwargs)
        keys = _args.id_list(ids) if ids is not None else None
        coll = self._coll(collection_name, describe_style=keys is not None)
        limit, offset = kwargs.get("limit"), kwargs.get("offset", 0) or 0
        params = kwargs.get("filter_params")
        fields = list(output_fields or [])
        zone, parts = _args.time_options(kwargs)
        if any(isinstance(f, str) and f.strip().lower() == "count(*)" for f in fields):
            if limit is not None:
                raise errors.invalid("count entities with pagination is not allowed")
            total = reads.count(coll, filter, params, partition_names, zone)
            return query_result([{"count(*)": total}])
        if limit is not None:
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
                raise ParamError(message=f"`limit` value {limit} is illegal")
            if not isinstance(offset, int) or offset < 0:
                raise ParamError(message=f"`offset` value {offset} is illegal")
            if not 1 <= limit + offset <= reads.MAX_TOPK:
                raise errors.query_window_out_of_range(limit + offset)
        elif not filter.strip() and keys is None:
            raise errors.invalid("empty expression should be used with limit")
        rows = reads.query(
            coll, filter, params, output_fields, keys, partition_names, limit, offset,
            timezone=zone, time_parts=parts,
        )  # fmt: skip
        return query_result(rows)


def _quick_schema(
    dimension: Any, primary_field_name: str, id_type: Any, vector_field_name: str,
    metric_type: str, auto_id: bool, kwargs: dict[str, Any],
) -> tuple[CollectionSchema, IndexParams]:  # fmt: skip
    """The schema and index pymilvus's quick setup builds (pymilvus's own checks included)."""
    validate_param("dimension", dimension, int)
    schema_kwargs = {
        k: v for k, v in kwargs.items() if k in ("enable_dynamic_field", "description")
    }
    schema_kwargs.setdefault("enable_dynamic_field", True)
    schema = CollectionSchema([], check_fields=False, auto_id=auto_id, **schema_kwargs)
    if id_type in ("int", DataType.INT64):
        pk_type = DataType.INT64
    elif id_type in ("string", "str", DataType.VARCHAR):
        pk_type = DataType.VARCHAR
    else:
        raise PrimaryKeyException(message="Param primary_field must be int or str type.")
    pk_args = {"max_length": kwargs["max_length"]} if "max_length" in kwargs else {}
    if pk_type == DataType.VARCHAR and not pk_args:
        raise errors.invalid(
            f"type param(max_length) should be specified for the field({primary_field_name}) of "
            "collection: invalid parameter"
        )
    schema.add_field(primary_field_name, pk_type, is_primary=True, **pk_args)
    schema.add_field(vector_field_name, DataType.FLOAT_VECTOR, dim=dimension)
    schema.verify()
    index_params = IndexParams()
    index_params.add_index(vector_field_name, index_type="AUTOINDEX", metric_type=metric_type)
    return schema, index_params
