"""describe_collection's dict, key for key as pymilvus 3.0 returns it from a server."""

from __future__ import annotations

from typing import Any

from pymilvus import DataType, FunctionType
from pymilvus.grpc_gen import schema_pb2

from gpu_milvus import structs, timestamptz
from gpu_milvus.client._args import consistency_name
from gpu_milvus.engine.collection import Collection
from gpu_milvus.schema import FieldSpec

_DEFAULT_SLOT = {
    DataType.BOOL: "bool_data",
    DataType.INT8: "int_data",
    DataType.INT16: "int_data",
    DataType.INT32: "int_data",
    DataType.INT64: "long_data",
    DataType.FLOAT: "float_data",
    DataType.DOUBLE: "double_data",
    DataType.VARCHAR: "string_data",
    DataType.GEOMETRY: "string_data",
}


def field_dict(f: FieldSpec, zone: str = timestamptz.DEFAULT_TIMEZONE) -> dict[str, Any]:
    """One field as pymilvus's FieldSchema.dict(): fixed keys, then only-when-true keys (a
    TIMESTAMPTZ default as text in the collection's time zone ``zone``)."""
    if f.is_struct:
        return structs.describe(f)
    out: dict[str, Any] = {
        "field_id": f.field_id,
        "name": f.name,
        "description": f.description,
        "type": f.dtype,
        "params": {k: _param_text(v) for k, v in f.params.items()},
    }
    if f.has_default and f.dtype == DataType.TIMESTAMPTZ:
        out["default_value"] = schema_pb2.ValueField(
            string_data=timestamptz.to_text([f.default_value], zone)[0]
        )
    elif f.has_default and f.dtype in _DEFAULT_SLOT:
        value = schema_pb2.ValueField()
        setattr(value, _DEFAULT_SLOT[f.dtype], f.default_value)
        out["default_value"] = value
    if f.element_type is not None:
        out["element_type"] = f.element_type
    if f.is_partition_key:
        out["is_partition_key"] = True
    if f.auto_id:
        out["auto_id"] = True
    if f.nullable:
        out["nullable"] = True
    if f.is_primary:
        out["is_primary"] = True
    if f.is_clustering_key:
        out["is_clustering_key"] = True
    if f.is_function_output:
        out["is_function_output"] = True
    return out


def _param_text(value: Any) -> Any:
    """Type params come back from the server as strings; pymilvus turns the numeric ones
    (dim, max_length, max_capacity) back into ints, so booleans read 'true'/'false'."""
    return str(value).lower() if isinstance(value, bool) else value


def function_dicts(coll: Collection) -> list[dict[str, Any]]:
    """The schema's functions, as pymilvus describes a server's (params as the strings
    pymilvus sent)."""
    ids = {f.name: f.field_id for f in coll.spec.fields}
    out = []
    for i, fn in enumerate(coll.spec.functions):
        out.append({
            "name": fn.name, "id": 100 + i, "description": fn.description,
            "type": FunctionType[fn.kind], "params": {k: str(v) for k, v in fn.params.items()},
            "input_field_names": [fn.input], "input_field_ids": [ids[fn.input]],
            "output_field_names": [fn.output], "output_field_ids": [ids[fn.output]],
        })  # fmt: skip
    return out


def describe_collection(coll: Collection, aliases: list[str]) -> dict[str, Any]:
    spec = coll.spec
    return {
        "collection_name": spec.name,
        "auto_id": spec.auto_id,
        "num_shards": coll.num_shards,
        "description": spec.description,
        "fields": [field_dict(f, coll.timezone) for f in spec.fields],
        "functions": function_dicts(coll),
        "aliases": aliases,
        "collection_id": coll.collection_id,
        "consistency_level": coll.consistency_level,
        "consistency_level_name": consistency_name(coll.consistency_level),
        "properties": dict(coll.properties),
        "num_partitions": len(coll.partitions),
        "enable_dynamic_field": spec.enable_dynamic_field,
        "enable_namespace": False,
        "schema_version": spec.version,
    }
