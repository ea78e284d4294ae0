"""FLOAT16, BFLOAT16, INT8 and BINARY vector fields through the public client.

References: NumPy float64 distances of the decoded values; milvus-lite 2.5.1's FLOAT16
distances on seed-0 data (../shared/spec/milvus_lite_notes.md, section 1); the bytes
Milvus's own proxy test expects for float32 values stored in FLOAT16 / BFLOAT16 fields
(internal/proxy, TestConvertPlaceholderGroup: 1/9 and 2/9); and pymilvus's own decoding of
byte vectors in query and search results (field_data_extractors.decode_cell).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pymilvus import AnnSearchRequest, DataType, WeightedRanker
from pymilvus.exceptions import MilvusException

from gpu_milvus import MilvusClient

F16, BF16, I8, BIN = (
    DataType.FLOAT16_VECTOR,
    DataType.BFLOAT16_VECTOR,
    DataType.INT8_VECTOR,
    DataType.BINARY_VECTOR,
)


def _make(
    client: MilvusClient, dtype: DataType, dim: int, metric: str, name: str = "c",
    index_type: str = "", **fields: Any,
) -> None:  # fmt: skip
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", dtype, dim=dim)
    for field, kind in fields.items():
        schema.add_field(field, kind, **({"dim": 8} if kind == DataType.FLOAT_VECTOR else {}))
    index = client.prepare_index_params()
    index.add_index("v", index_type=index_type, metric_type=metric)
    for field, kind in fields.items():
        if kind == DataType.FLOAT_VECTOR:
            index.add_index(field, metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index)


def _bfloat16_bytes(values: np.ndarray) -> bytes:
    """bfloat16 bytes of float32 values that bfloat16 holds exactly (low 16 bits zero)."""
    return (values.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()


def _data(dtype: DataType, n: int, dim: int, seed: int) -> tuple[list[Any], np.ndarray]:
    """Rows as a user passes them (native arrays or bytes) and their float64 values."""
    rng = np.random.default_rng(seed)
    if dtype == F16:
        native = rng.standard_normal((n, dim)).astype(np.float16)
        return list(native), native.astype(np.float64)
    if dtype == BF16:
        exact = (rng.standard_normal((n, dim)).astype(np.float32).view(np.uint32) >> 16) << 16
        values = exact.astype(np.uint32).view(np.float32)
        return [_bfloat16_bytes(r) for r in values], values.astype(np.float64)
    native = rng.integers(-128, 128, (n, dim)).astype(np.int8)
    return list(native), native.astype(np.float64)


def _reference(x: np.ndarray, q: np.ndarray, metric: str) -> np.ndarray:
    if metric == "L2":
        return ((x - q) ** 2).sum(axis=1)
    dot = x @ q
    if metric == "COSINE":
        dot /= np.linalg.norm(x, axis=1) * np.linalg.norm(q)
    return dot


@pytest.mark.parametrize("dtype", [F16, BF16, I8])
@pytest.mark.parametrize("metric", ["L2", "IP", "COSINE"])
def test_dense_byte_types_search_like_float64(
    client: MilvusClient, dtype: DataType, metric: str
) -> None:
    rows, values = _data(dtype, 300, 24, seed=1)
    _make(client, dtype, 24, metric, index_type="HNSW")
    client.insert("c", [{"id": i, "v": v} for i, v in enumerate(rows)])
    queries, qvalues = _data(dtype, 3, 24, seed=2)
    res = client.search("c", queries, limit=5, search_params={"metric_type": metric})
    for hits, q in zip(res, qvalues, strict=True):
        ref = _reference(values, q, metric)
        order = np.argsort(ref if metric == "L2" else -ref, kind="stable")[:5]
        assert [h["id"] for h in hits] == order.tolist()
        np.testing.assert_allclose([h["distance"] for h in hits], ref[order], rtol=2e-5, atol=1e-3)


def test_float16_matches_milvus_lite_distances(client: MilvusClient) -> None:
    """milvus-lite 2.5.1: 100 seed-0 float16 rows of dim 16, L2, the query row 0 ->
    [(0, 0.0), (55, 11.6582), (49, 12.8537)] (milvus_lite_notes.md, section 1)."""
    rows = np.random.default_rng(0).standard_normal((100, 16)).astype(np.float16)
    _make(client, F16, 16, "L2", index_type="FLAT")
    client.insert("c", [{"id": i, "v": v} for i, v in enumerate(rows)])
    hits = client.search("c", [rows[0]], limit=3)[0]
    assert [h["id"] for h in hits] == [0, 55, 49]
    assert [round(h["distance"], 4) for h in hits] == [0.0, 11.6582, 12.8537]


@pytest.mark.parametrize(
    ("dtype", "expected"), [(F16, b"\x1c/\x1c3"), (BF16, b"\xe3=c>")]
)  # fmt: skip
def test_float32_values_are_stored_as_the_proxy_rounds_them(
    client: MilvusClient, dtype: DataType, expected: bytes
) -> None:
    ninth = np.float32(1) / np.float32(9)
    _make(client, dtype, 2, "IP")
    client.insert("c", [{"id": 1, "v": [ninth, 2 * ninth]}, {"id": 2, "v": np.ones(2)}])
    assert client.get("c", ids=[1])[0]["v"] == [expected]
    one = b"\x00<" if dtype == F16 else b"\x80?"  # 1.0 in float16, bfloat16
    hits = client.search("c", [[ninth, 2 * ninth]], limit=1, output_fields=["v"])[0]
    assert hits[0]["id"] == 2 and hits[0]["entity"]["v"] == one * 2


def test_outputs_take_pymilvus_shapes(client: MilvusClient) -> None:
    """Query and get wrap each byte vector in a list, search gives the bytes: pymilvus's own
    decoding of the same FieldData (wrap_byte_vectors in query results only)."""
    extractors = pytest.importorskip("pymilvus.client.field_data_extractors")
    from pymilvus.grpc_gen import schema_pb2

    rows = np.random.default_rng(3).standard_normal((4, 8)).astype(np.float16)
    _make(client, F16, 8, "L2")
    client.insert("c", [{"id": i, "v": v} for i, v in enumerate(rows)])
    field_data = schema_pb2.FieldData(
        type=F16, field_name="v",
        vectors=schema_pb2.VectorField(dim=8, float16_vector=rows.tobytes()),
    )  # fmt: skip
    queried = client.query("c", "id >= 0", output_fields=["v"])
    searched = client.search("c", [rows[2]], limit=1, output_fields=["v"])[0][0]
    for i in range(4):
        assert queried[i]["v"] == extractors.decode_cell(field_data, i, wrap_byte_vectors=True)
    assert searched["entity"]["v"] == extractors.decode_cell(field_data, 2)


def _bits(n: int, dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, (n, dim)).astype(np.uint8)


def _binary_reference(x: np.ndarray, q: np.ndarray, metric: str) -> np.ndarray:
    """float64 HAMMING / JACCARD from unpacked bits; JACCARD of two empty sets is 1."""
    if metric == "HAMMING":
        return (x != q).sum(axis=1).astype(np.float64)
    both = (x & q).sum(axis=1)
    either = (x | q).sum(axis=1)
    return np.where(either == 0, 1.0, (either - both) / np.maximum(either, 1))


@pytest.mark.parametrize("metric", ["HAMMING", "JACCARD"])
@pytest.mark.parametrize("dim", [16, 72, 256])
def test_binary_distances_and_tie_order(client: MilvusClient, metric: str, dim: int) -> None:
    bits = _bits(400, dim, seed=dim)
    bits[7] = 0  # an empty row: JACCARD 1.0 to everything but another empty query
    _make(client, BIN, dim, metric, index_type="BIN_FLAT")
    client.insert("c", [{"id": i, "v": np.packbits(b).tobytes()} for i, b in enumerate(bits)])
    queries = np.vstack([_bits(4, dim, seed=99), np.zeros((1, dim), dtype=np.uint8)])
    packed = [np.packbits(q).tobytes() for q in queries]
    together = client.search("c", packed, limit=30)
    for qi, q in enumerate(queries):
        ref = _binary_reference(bits, q, metric).astype(np.float32)
        order = np.lexsort((np.arange(len(ref)), ref))[:30]  # ties by row, as documented
        hits = together[qi]
        assert [h["id"] for h in hits] == order.tolist()
        np.testing.assert_allclose([h["distance"] for h in hits], ref[order], rtol=1e-6)
        alone = client.search("c", [packed[qi]], limit=30)[0]
        assert [h["id"] for h in alone] == [h["id"] for h in hits]


def test_binary_filters_deletes_ranges_and_reopen(uri: str) -> None:
    client = MilvusClient(uri)
    bits = _bits(200, 32, seed=5)
    _make(client, BIN, 32, "HAMMING", n=DataType.INT64)
    rows = [{"id": i, "v": np.packbits(b).tobytes(), "n": i % 4} for i, b in enumerate(bits)]
    client.insert("c", rows[:120])
    client.flush("c")  # a sealed segment, then rows in the log only
    client.insert("c", rows[120:])
    client.delete("c", ids=[0, 1, 2])
    q = np.packbits(bits[0]).tobytes()
    ref = _binary_reference(bits, bits[0], "HAMMING")
    keep = (np.arange(200) % 4 == 0) & (np.arange(200) > 2)
    for c in (client, None):
        if c is None:
            client.close()
            c = MilvusClient(uri)
        hits = c.search("c", [q], limit=400, filter="n == 0")[0]
        ids = np.flatnonzero(keep)
        assert sorted(h["id"] for h in hits) == ids.tolist()
        ranged = c.search("c", [q], limit=400, search_params={"radius": 18, "range_filter": 12})
        want = np.flatnonzero((ref >= 12) & (ref < 18) & (np.arange(200) > 2))
        assert sorted(h["id"] for h in ranged[0]) == want.tolist()
        assert c.get("c", ids=[150])[0]["v"] == [rows[150]["v"]]
    c.close()


@pytest.mark.parametrize("dtype", [F16, BF16, I8])
def test_dense_byte_types_survive_reopen(uri: str, dtype: DataType) -> None:
    rows, _ = _data(dtype, 50, 8, seed=4)
    client = MilvusClient(uri)
    _make(client, dtype, 8, "L2")
    client.insert("c", [{"id": i, "v": v} for i, v in enumerate(rows)])
    before = client.query("c", "id >= 0", output_fields=["v"])
    client.close()
    client = MilvusClient(uri)
    assert client.query("c", "id >= 0", output_fields=["v"]) == before
    as_bytes = [r if isinstance(r, bytes) else r.tobytes() for r in rows]
    assert [r["v"] for r in before] == [[b] for b in as_bytes]
    client.close()


def test_search_by_ids_and_hybrid_with_binary(client: MilvusClient) -> None:
    bits = _bits(60, 16, seed=8)
    floats = np.random.default_rng(8).standard_normal((60, 8)).astype(np.float32)
    _make(client, BIN, 16, "HAMMING", f=DataType.FLOAT_VECTOR)
    client.insert(
        "c", [{"id": i, "v": np.packbits(b).tobytes(), "f": floats[i]} for i, b in enumerate(bits)]
    )
    by_id = client.search("c", ids=[4], anns_field="v", limit=3)[0]
    assert by_id[0]["id"] == 4 and by_id[0]["distance"] == 0
    reqs = [
        AnnSearchRequest([np.packbits(bits[9]).tobytes()], "v", {}, limit=10),
        AnnSearchRequest([floats[9]], "f", {}, limit=10),
    ]
    fused = client.hybrid_search("c", reqs, WeightedRanker(0.5, 0.5), limit=3)[0]
    assert fused[0]["id"] == 9
    assert fused[0]["distance"] == pytest.approx(1.0, abs=1e-6)  # 1 - 2 atan(0)/pi, twice halved


def test_partial_upsert_keeps_a_binary_vector(client: MilvusClient) -> None:
    _make(client, BIN, 16, "HAMMING", n=DataType.INT64)
    client.insert("c", [{"id": 1, "v": b"\x0f\xf0", "n": 1}])
    client.upsert("c", [{"id": 1, "n": 2}], partial_update=True)
    assert client.get("c", ids=[1])[0] == {"id": 1, "v": [b"\x0f\xf0"], "n": 2}


def _refused(fn: Any, match: str) -> None:
    with pytest.raises(MilvusException, match=match):
        fn()


def test_schema_and_index_checks(client: MilvusClient) -> None:
    names = iter(range(100))  # a refused index leaves its collection, as pymilvus does

    def make(dtype: DataType, dim: int, metric: str = "", index_type: str = "") -> Any:
        return lambda: _make(client, dtype, dim, metric, f"x{next(names)}", index_type)

    _refused(make(BIN, 12), "binary vector dimension should be multiple of 8")
    _refused(make(BIN, 8 * 32768 + 8), "binary vector dimension should be in range 2 ~ 262144")
    _refused(make(F16, 32769), "float vector dimension should be in range 2 ~ 32768")
    _refused(make(BIN, 16, "L2"), "binary vector index does not support metric type: L2")
    _refused(make(F16, 16, "HAMMING"), "float vector index does not support metric type")
    _refused(make(BIN, 16, "HAMMING", "IVF_FLAT"), "invalid index type: IVF_FLAT")
    _refused(make(I8, 16, "L2", "IVF_FLAT"), "invalid index type: IVF_FLAT")
    _refused(make(BF16, 16, "L2", "GPU_CAGRA"), "invalid index type: GPU_CAGRA")
    _make(client, BIN, 16, "", name="d")
    assert client.describe_index("d", "v")["metric_type"] == "HAMMING"
    assert not client.has_collection("x0")  # refused by the schema checks


def test_insert_and_search_errors(client: MilvusClient) -> None:
    _make(client, BIN, 16, "HAMMING", name="b")
    _make(client, F16, 4, "L2", name="h")
    _make(client, I8, 4, "L2", name="i")
    _refused(lambda: client.insert("b", [{"id": 1, "v": b"\x01"}]), r"the dim \(8\) of field")
    _refused(
        lambda: client.insert("h", [{"id": 1, "v": np.ones(4, dtype=np.int8)}]),
        "invalid input for float16 vector. Expected an np.ndarray with dtype=float16",
    )
    _refused(
        lambda: client.insert("i", [{"id": 1, "v": [1, 2, 3, 4]}]),
        "invalid input type for INT8_VECTOR vector. Expected bytes or np.ndarray",
    )
    _refused(lambda: client.insert("b", [{"id": 1, "v": 3}]), "{v} field should be a binary_vector")
    _refused(lambda: client.insert("h", [{"id": 1, "v": [7e4, 0, 0, 0]}]), "nan or infinity")
    assert client.query("h", "", output_fields=["count(*)"])[0]["count(*)"] == 0
    client.insert("b", [{"id": 1, "v": b"\x01\x02"}])
    client.insert("h", [{"id": 1, "v": np.ones(4, dtype=np.float16)}])
    client.insert("i", [{"id": 1, "v": np.ones(4, dtype=np.int8)}])
    mismatch = "vector type must be the same"
    _refused(lambda: client.search("b", [[0.5, 0.5]]), mismatch)
    _refused(lambda: client.search("i", [[0.5] * 4]), mismatch)
    _refused(lambda: client.search("h", [np.ones(4, dtype=np.int8)]), mismatch)
    _refused(lambda: client.search("b", [b"\x01"]), r"expected vector size\(byte\) 2, actual 1")
    _refused(lambda: client.search("h", [b"\x00" * 6]), r"expected vector size\(byte\) 8, actual 6")
    _refused(lambda: client.query("b", "v == 1"), "between BinaryVector and Int64")
    _refused(lambda: client.query("b", "v is null"), "cannot be used in a filter")
    assert client.search("h", [[1.0, 1.0, 1.0, 1.0]], limit=1)[0][0]["distance"] == 0.0
    client.insert("h", [{"id": 2, "v": np.full(4, 1 / 3, dtype=np.float16)}])
    third = client.search("h", [[1 / 3] * 4], limit=1)[0][0]  # the query rounded to float16
    assert (third["id"], third["distance"]) == (2, 0.0)
    assert client.search("i", [b"\x01\x01\x01\x01"], limit=1)[0][0]["distance"] == 0.0
