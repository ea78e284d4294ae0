"""What the durable store writes: insert batches as Arrow plus raw vectors, schemas and
indexes as JSON.

A batch becomes one Arrow record batch, the scalar columns as they are stored and sparse
vectors as two list columns (indices, values); segments add the ``$partition`` column. Dense
vectors stay outside Arrow as raw little-endian float32 rows, so they are written, and read
back into the vector store, without a copy. Decoding gives back the ``Batch`` encoded.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from pymilvus import DataType

from gpu_milvus.index_params import IndexSpec
from gpu_milvus.schema import CollectionSpec, FieldSpec, FunctionSpec
from gpu_milvus.storage.table import Batch

PARTITION_COLUMN = "$partition"
_SPARSE_INDICES = "$sparse_indices:"
_SPARSE_VALUES = "$sparse_values:"


# ---------------------------------------------------------------------- batches
def encode_batch(
    batch: Batch, partitions: np.ndarray | None = None
) -> tuple[pa.RecordBatch, dict[str, np.ndarray]]:
    """The scalar and sparse columns of ``batch`` (and row partitions if given) as one record
    batch, and each dense field as contiguous little-endian float32 rows."""
    dense = {n: np.ascontiguousarray(m, dtype="<f4") for n, m in batch.dense.items()}
    arrays: list[pa.Array] = []
    names: list[str] = []
    for name, array in batch.scalars.items():
        names.append(name)
        arrays.append(array)
    for name, csr in batch.sparse.items():
        csr = sp.csr_matrix(csr)
        offsets = pa.array(csr.indptr.astype(np.int32))
        names += [_SPARSE_INDICES + name, _SPARSE_VALUES + name]
        indices = pa.array(csr.indices.astype(np.uint32))  # Milvus's dimensions: < 2^32 - 1
        arrays.append(pa.ListArray.from_arrays(offsets, indices))
        arrays.append(pa.ListArray.from_arrays(offsets, pa.array(csr.data.astype(np.float32))))
    if partitions is not None:
        names.append(PARTITION_COLUMN)
        arrays.append(pa.array(partitions.astype(np.int32)))
    return pa.RecordBatch.from_arrays(arrays, names=names), dense


def batch_from_arrow(
    spec: CollectionSpec, record: pa.RecordBatch | pa.Table, sparse_width: dict[str, int]
) -> tuple[Batch, np.ndarray | None]:
    """The ``Batch`` without its dense vectors (the caller adds them) and the row partitions,
    when stored, that ``encode_batch`` wrote."""
    if isinstance(record, pa.Table):
        record = record.combine_chunks().to_batches()[0] if record.num_rows else None
    scalars: dict[str, pa.Array] = {}
    sparse: dict[str, sp.csr_matrix] = {}
    n = 0 if record is None else record.num_rows
    columns = {} if record is None else dict(zip(record.schema.names, record.columns, strict=True))
    for name in spec.arrow_schema().names:
        if name in columns:
            scalars[name] = columns[name]
    for f in spec.fields:
        if f.is_sparse and _SPARSE_INDICES + f.name in columns:
            idx = columns[_SPARSE_INDICES + f.name]
            val = columns[_SPARSE_VALUES + f.name]
            indptr = np.asarray(idx.offsets.to_numpy(), dtype=np.int64) - idx.offsets[0].as_py()
            # uint32; stores written before 2026-12-05 hold int32, whose negative values are
            # the dimensions from 2^31 up: the same bits either way
            dims = idx.flatten().to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
            sparse[f.name] = sp.csr_matrix(
                (
                    val.flatten().to_numpy(zero_copy_only=False),
                    dims.view(np.uint32).astype(np.int64),
                    indptr,
                ),
                shape=(n, sparse_width.get(f.name, 1)),
            )
    pk_name = spec.primary.name
    pks = scalars[pk_name].to_pylist() if pk_name in scalars else []
    partitions = None
    if PARTITION_COLUMN in columns:
        partitions = columns[PARTITION_COLUMN].to_numpy(zero_copy_only=False)
    return Batch(num_rows=n, pks=pks, scalars=scalars, dense={}, sparse=sparse), partitions


def sparse_widths(batch: Batch) -> dict[str, int]:
    return {name: int(csr.shape[1]) for name, csr in batch.sparse.items()}


def ipc_bytes(record: pa.RecordBatch) -> pa.Buffer:
    """An Arrow IPC stream holding one record batch."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, record.schema) as writer:
        writer.write_batch(record)
    return sink.getvalue()


def read_ipc(data: Any) -> pa.Table:
    """Every record batch of an Arrow IPC stream."""
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


# ---------------------------------------------------------------------- schemas and indexes
def spec_to_json(spec: CollectionSpec) -> dict[str, Any]:
    fields = []
    for f in spec.fields:
        d = dataclasses.asdict(f)
        d["dtype"] = int(f.dtype)
        d["element_type"] = None if f.element_type is None else int(f.element_type)
        fields.append(d)
    return {
        "name": spec.name,
        "fields": fields,
        "description": spec.description,
        "enable_dynamic_field": spec.enable_dynamic_field,
        "version": spec.version,
        "functions": [dataclasses.asdict(fn) for fn in spec.functions],
    }


def _field_from_json(f: dict[str, Any]) -> FieldSpec:
    f = dict(f)
    f["dtype"] = DataType(f["dtype"])
    if f.get("element_type") is not None:
        f["element_type"] = DataType(f["element_type"])
    f["struct_fields"] = tuple(_field_from_json(s) for s in f.get("struct_fields", ()))
    return FieldSpec(**f)


def spec_from_json(d: dict[str, Any]) -> CollectionSpec:
    fields = [_field_from_json(f) for f in d["fields"]]
    functions = tuple(FunctionSpec(**fn) for fn in d.get("functions", ()))
    return CollectionSpec(
        d["name"], tuple(fields), d["description"], d["enable_dynamic_field"], d["version"],
        functions,
    )  # fmt: skip


def index_to_json(index: IndexSpec) -> dict[str, Any]:
    return dataclasses.asdict(index)


def index_from_json(d: dict[str, Any]) -> IndexSpec:
    return IndexSpec(**d)
