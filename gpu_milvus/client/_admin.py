"""LocalCore's administrative methods: aliases, database and collection properties,
truncate, and the flush/compaction/load calls that are immediate on a local engine."""

from __future__ import annotations

import copy
from typing import Any

from pymilvus import DataType, FieldSchema, FunctionType, StructFieldSchema
from pymilvus.client.type_info import is_vector_type
from pymilvus.client.types import AnalyzeResult
from pymilvus.exceptions import ParamError
from pymilvus.grpc_gen import milvus_pb2
from pymilvus.milvus_client.index import IndexParams

from gpu_milvus import errors
from gpu_milvus.engine.collection import Collection
from gpu_milvus.engine.engine import DEFAULT_DB, Engine
from gpu_milvus.text import STANDARD, analyzer_for, server_hash


class AdminMethods:
    """Mixed into ``LocalCore``; every method has pymilvus 3.0's signature."""

    engine: Engine
    _db: str

    def _coll(self, name: str, *, describe_style: bool = False) -> Collection:
        raise NotImplementedError

    # ------------------------------------------------------------------ aliases
    def create_alias(
        self, collection_name: str, alias: str, timeout: float | None = None, **kwargs: Any
    ) -> None:
        """Another name for a collection, usable wherever its name is (not to drop it)."""
        self.engine.create_alias(self._db, collection_name, alias)

    def drop_alias(self, alias: str, timeout: float | None = None, **kwargs: Any) -> None:
        self.engine.drop_alias(self._db, alias)

    def alter_alias(
        self, collection_name: str, alias: str, timeout: float | None = None, **kwargs: Any
    ) -> None:
        """Point an existing alias at another collection."""
        self.engine.alter_alias(self._db, collection_name, alias)

    def describe_alias(self, alias: str, timeout: float | None = None, **kwargs: Any) -> dict:
        name = self.engine.describe_alias(self._db, alias)
        return {"alias": alias, "collection_name": name, "db_name": self._db or DEFAULT_DB}

    def list_aliases(
        self, collection_name: str = "", timeout: float | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """``{'aliases': [...], 'collection_name'?, 'db_name'}`` as pymilvus builds it."""
        result: dict[str, Any] = {"aliases": self.engine.list_aliases(self._db, collection_name)}
        if collection_name:
            result["collection_name"] = collection_name
        result["db_name"] = self._db or DEFAULT_DB
        return result

    # ------------------------------------------------------------------ properties
    def describe_database(self, db_name: str, **kwargs: Any) -> dict:
        return self.engine.describe_database(db_name)

    def alter_database_properties(self, db_name: str, properties: dict, **kwargs: Any) -> None:
        self.engine.set_database_properties(db_name, add=properties)

    def drop_database_properties(
        self, db_name: str, property_keys: list[str], **kwargs: Any
    ) -> None:
        self.engine.set_database_properties(db_name, drop=list(property_keys))

    def alter_collection_properties(
        self, collection_name: str, properties: dict, timeout: float | None = None, **kwargs: Any
    ) -> None:
        """Set collection properties (kept as strings, as the server keeps them)."""
        self._coll(collection_name).set_properties(add=properties)

    def drop_collection_properties(
        self, collection_name: str, property_keys: list[str], timeout: float | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        self._coll(collection_name).set_properties(drop=list(property_keys))

    def alter_index_properties(
        self, collection_name: str, index_name: str, properties: dict,
        timeout: float | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        """Set ``mmap.enabled``, ``indexoffsetcache.enabled`` or ``warmup`` on a released
        collection's index (kept and shown by describe_index; a local store has no mmap)."""
        self._coll(collection_name).alter_index(index_name, dict(properties), [])

    def drop_index_properties(
        self, collection_name: str, index_name: str, property_keys: list[str],
        timeout: float | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        self._coll(collection_name).alter_index(index_name, {}, list(property_keys))

    # ------------------------------------------------------------------ data and state
    def truncate_collection(
        self, collection_name: str, timeout: float | None = None, **kwargs: Any
    ) -> None:
        """Delete every row; schema, partitions, indexes and load state stay."""
        coll = self._coll(collection_name)
        coll.truncate()
        self.engine.compact(coll)

    def refresh_load(
        self, collection_name: str, timeout: float | None = None, **kwargs: Any
    ) -> None:
        """Loaded data is always current here: only checks the collection exists."""
        self._coll(collection_name)

    def flush_all(self, timeout: float | None = None, **kwargs: Any) -> None:
        self.engine.flush()

    def get_flush_all_state(self, timeout: float | None = None, **kwargs: Any) -> bool:
        return True

    def get_compaction_state(self, job_id: int, timeout: float | None = None, **kwargs: Any) -> str:
        """``compact`` finishes before it returns, so every job is Completed."""
        return "Completed"

    def add_collection_field(
        self, collection_name: str, field_name: str, data_type: DataType, desc: str = "",
        timeout: float | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        """Add a nullable field; rows already stored hold its default value, or null (a
        vector field: null, skipped by searches, until written)."""
        if is_vector_type(data_type) and not kwargs.get("nullable", False):
            raise ParamError(
                message="Adding vector field to existing collection requires nullable=True"
            )
        field = FieldSchema(field_name, data_type, desc, **kwargs)
        self._coll(collection_name).add_field(field)

    def add_collection_struct_field(
        self, collection_name: str, field_name: str, struct_schema: Any, max_capacity: int,
        desc: str | None = None, timeout: float | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        """Add a nullable array of structs (Milvus 3.0); rows already stored hold null."""
        if not isinstance(struct_schema, StructFieldSchema):  # pymilvus's own checks
            raise ParamError(message="struct_schema must be StructFieldSchema")
        if not kwargs.get("nullable", True):
            raise ParamError(
                message="Adding struct field to existing collection requires nullable=True"
            )
        field = copy.deepcopy(struct_schema)
        field.name, field.max_capacity, field._nullable = field_name, max_capacity, True
        if desc is not None:
            field._description = desc
        self._coll(collection_name).add_field(field)

    def drop_collection_field(
        self, collection_name: str, field_name: str = "", field_id: int = 0,
        timeout: float | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        """Drop a field (by name, or by id) and the indexes on it."""
        coll = self._coll(collection_name)
        if not field_name:
            named = [f.name for f in coll.spec.fields if f.field_id == field_id]
            field_name = named[0] if named else str(field_id)
        coll.drop_field(field_name)

    def add_function_field(
        self, collection_name: str, field_schema: FieldSchema, func: Any, index_params: Any,
        timeout: float | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        """Add a BM25 function, its output field and that field's index (exactly one entry
        of ``index_params``, with an index_type); stored rows are backfilled at once."""
        from pymilvus.milvus_client.index import extract_bound_index_param  # pymilvus 3.0

        if func.type == FunctionType.BM25 and field_schema.dtype != DataType.SPARSE_FLOAT_VECTOR:
            raise ParamError(
                message="add_function_field requires SPARSE_FLOAT_VECTOR output field for "
                f"{func.type}, got {field_schema.dtype}"
            )
        name, configs = extract_bound_index_param(field_schema.name, index_params)
        bound = IndexParams()
        bound.add_index(field_schema.name, index_name=name, **configs)
        self._coll(collection_name).add_function_field(field_schema, func, bound[0])

    def drop_function_field(
        self, collection_name: str, function_name: str, timeout: float | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        """Drop a function, its output field and the index on it (its input stays)."""
        self._coll(collection_name).drop_function(function_name)

    def alter_collection_field(
        self, collection_name: str, field_name: str, field_params: dict,
        timeout: float | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        """Change a field's max_length, max_capacity, mmap.enabled or description."""
        self._coll(collection_name).alter_field(field_name, dict(field_params))

    # ------------------------------------------------------------------ analyzers
    def run_analyzer(
        self, texts: str | list[str], analyzer_params: str | dict | None = None,
        with_hash: bool = False, with_detail: bool = False, collection_name: str | None = None,
        field_name: str | None = None, analyzer_names: str | list[str] | None = None,
        timeout: float | None = None,
    ) -> Any:  # fmt: skip
        """The tokens an analyzer makes of each text (pymilvus's AnalyzeResult): the given
        ``analyzer_params``, or a collection field's analyzer, or the standard one."""
        analyzer, field = STANDARD, None
        if collection_name:
            f = self._coll(collection_name).spec.field(field_name or "")
            if f is None:
                raise errors.field_not_exist(field_name or "")
            if not f.params.get("enable_analyzer"):
                raise errors.invalid(f"field {f.name} does not enable analyzer: invalid parameter")
            analyzer, field = f.analyzer, f
        elif analyzer_params is not None:
            analyzer = analyzer_for("", {"analyzer_params": analyzer_params})
        items = [texts] if isinstance(texts, str) else list(texts)
        if analyzer_names and (field is None or field.multi_analyzer is None):
            raise errors.invalid("analyzer names only support for multi analyzer field")
        names = [analyzer_names] if isinstance(analyzer_names, str) else analyzer_names
        names = names if analyzer_names else None  # '' or []: none given
        if names and len(names) not in (1, len(items)):
            raise errors.invalid("analyzer names length must be 1 or same as texts")
        results = []
        for i, text in enumerate(items):
            if names:  # each text's named analyzer (one name: for every text)
                analyzer = field.analyzer_named(names[i if len(names) > 1 else 0])  # type: ignore[union-attr]
            tokens = [
                milvus_pb2.AnalyzerToken(
                    token=token, start_offset=start, end_offset=end, position=pos,
                    position_length=span, hash=server_hash(token) if with_hash else 0,
                )
                for token, start, end, pos, span in analyzer.positioned(text)
            ]  # fmt: skip
            result = milvus_pb2.AnalyzerResult(tokens=tokens)
            results.append(AnalyzeResult(result, with_hash, with_detail))
        return results[0] if isinstance(texts, str) else results
