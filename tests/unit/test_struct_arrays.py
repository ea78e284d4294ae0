"""Arrays of Structs (Milvus 2.6.4+) and embedding-list search (MAX_SIM_*).

References: pymilvus's own decoded shapes (a list of dicts per row, vectors as lists of
float), the describe dict pymilvus's MilvusClient builds from a server's struct_array_fields,
and MAX_SIM computed here in float64 from the inserted rows: per query vector the best
element similarity of a row (cosine, inner product, or the smallest squared L2 distance),
summed over the query's vectors (knowhere's get_sum_max_sim).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymilvus import DataType
from pymilvus import MilvusClient as PyMilvusClient
from pymilvus.client.embedding_list import EmbeddingList
from pymilvus.exceptions import DataNotMatchException, MilvusException, ParamError

from gpu_milvus import AsyncMilvusClient, MilvusClient

DIM = 4


def _schema(client: Any, capacity: int = 6) -> Any:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("title", DataType.FLOAT_VECTOR, dim=DIM)
    st = PyMilvusClient.create_struct_field_schema()
    st.add_field("text", DataType.VARCHAR, max_length=20)
    st.add_field("frame", DataType.INT32)
    st.add_field("emb", DataType.FLOAT_VECTOR, dim=DIM)
    s.add_field("clips", DataType.ARRAY, element_type=DataType.STRUCT, struct_schema=st,
                max_capacity=capacity)  # fmt: skip
    return s


def _rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {"id": i, "title": rng.random(DIM).tolist(),
         "clips": [{"text": f"c{i}.{j}", "frame": j, "emb": rng.normal(size=DIM).tolist()}
                   for j in range(int(rng.integers(0, 5)))]}
        for i in range(n)
    ]  # fmt: skip


def _create(client: MilvusClient, metric: str = "MAX_SIM_COSINE") -> list[dict[str, Any]]:
    ip = client.prepare_index_params()
    ip.add_index("title", metric_type="L2")
    ip.add_index("clips[emb]", index_type="HNSW", metric_type=metric)
    client.create_collection("c", schema=_schema(client), index_params=ip)
    rows = _rows(80)
    client.insert("c", rows)
    return rows


@pytest.fixture
def client(tmp_path: Path) -> Any:
    c = MilvusClient(str(tmp_path / "st.db"))
    yield c
    c.close()


def _max_sim(rows: list[dict[str, Any]], query: np.ndarray, metric: str) -> dict[int, float]:
    out = {}
    q = query.astype(np.float64)
    for r in rows:
        if not r["clips"]:
            continue
        e = np.array([c["emb"] for c in r["clips"]], dtype=np.float32).astype(np.float64)
        if metric == "MAX_SIM_L2":
            d = ((e[:, None, :] - q[None, :, :]) ** 2).sum(-1)
            out[r["id"]] = float(d.min(0).sum())
            continue
        if metric == "MAX_SIM_COSINE":
            e = e / np.linalg.norm(e, axis=1, keepdims=True)
            q = q / np.linalg.norm(q, axis=1, keepdims=True)
        out[r["id"]] = float((e @ q.T).max(0).sum())
    return out


def _lists(seed: int, sizes: list[int]) -> list[EmbeddingList]:
    rng = np.random.default_rng(seed)
    out = []
    for m in sizes:
        el = EmbeddingList()
        for _ in range(m):
            el.add(rng.normal(size=DIM).astype(np.float32))
        out.append(el)
    return out


@pytest.mark.parametrize("metric", ["MAX_SIM_COSINE", "MAX_SIM_IP", "MAX_SIM_L2"])
def test_embedding_list_search_is_sum_of_max_sim(client: MilvusClient, metric: str) -> None:
    rows = _create(client, metric)
    lists = _lists(1, [1, 3])
    hits = client.search("c", lists, anns_field="clips[emb]", limit=7, offset=2,
                          filter="id != 5", search_params={"metric_type": metric})  # fmt: skip
    for hit_list, el in zip(hits, lists, strict=True):
        scores = _max_sim([r for r in rows if r["id"] != 5], el.to_numpy(), metric)
        sign = 1 if metric == "MAX_SIM_L2" else -1
        want = sorted(scores, key=lambda pk: (sign * scores[pk], pk))[2:9]
        assert [h["id"] for h in hit_list] == want
        got = [h["distance"] for h in hit_list]
        assert got == pytest.approx([scores[pk] for pk in want], rel=1e-5, abs=1e-6)


def test_rows_come_back_as_lists_of_dicts(client: MilvusClient) -> None:
    rows = _create(client)
    got = {r["id"]: r["clips"] for r in client.query("c", "id < 6", output_fields=["clips"])}
    for r in rows[:6]:
        assert len(got[r["id"]]) == len(r["clips"])
        for mine, theirs in zip(got[r["id"]], r["clips"], strict=True):
            assert mine["text"] == theirs["text"] and mine["frame"] == theirs["frame"]
            assert mine["emb"] == pytest.approx(np.float32(theirs["emb"]).tolist())
            assert all(type(x) is float for x in mine["emb"])
    texts = client.query("c", "id < 6", output_fields=["clips[text]", "clips[frame]"])
    assert {r["id"]: r["clips"] for r in texts} == {
        r["id"]: [{"text": c["text"], "frame": c["frame"]} for c in r["clips"]] for r in rows[:6]
    }
    assert client.get("c", [3], output_fields=["clips"])[0]["clips"] == got[3]


def test_describe_as_pymilvus_shows_a_struct_array(client: MilvusClient) -> None:
    _create(client)
    field = client.describe_collection("c")["fields"][-1]
    assert field["type"] == DataType.ARRAY and field["element_type"] == DataType.STRUCT
    assert field["params"] == {"max_capacity": 6}
    assert [(s["name"], s["type"], s.get("params")) for s in field["struct_fields"]] == [
        ("text", DataType.VARCHAR, {"max_length": 20}),
        ("frame", DataType.INT32, None),
        ("emb", DataType.FLOAT_VECTOR, {"dim": DIM}),
    ]


def test_the_index_outlives_schema_changes_and_blocks_a_loaded_drop(client: MilvusClient) -> None:
    rows = _create(client)
    client.add_collection_field("c", "note", DataType.VARCHAR, max_length=8, nullable=True)
    el = _lists(7, [2])
    scores = _max_sim(rows, el[0].to_numpy(), "MAX_SIM_COSINE")
    hits = client.search("c", el, anns_field="clips[emb]", limit=4)[0]
    assert [h["id"] for h in hits] == sorted(scores, key=lambda pk: (-scores[pk], pk))[:4]
    with pytest.raises(MilvusException, match="please release it first"):
        client.drop_index("c", "clips[emb]")
    assert client.list_indexes("c", field_name="clips[emb]") == ["clips[emb]"]


def test_values_survive_reopen_and_deletes(tmp_path: Path) -> None:
    path = str(tmp_path / "st.db")
    client = MilvusClient(path)
    rows = _create(client)
    client.flush("c")
    extra = _rows(5, seed=9)
    for r in extra:
        r["id"] += 1000
    client.insert("c", extra)  # in the log only
    client.delete("c", ids=[1, 2, 3])
    client.close()
    client = MilvusClient(path)
    live = [r for r in rows + extra if r["id"] not in (1, 2, 3)]
    el = _lists(4, [2])
    hits = client.search("c", el, anns_field="clips[emb]", limit=10)[0]
    scores = _max_sim(live, el[0].to_numpy(), "MAX_SIM_COSINE")
    assert [h["id"] for h in hits] == sorted(scores, key=lambda pk: (-scores[pk], pk))[:10]
    assert client.query("c", "id == 1001", output_fields=["clips[text]"])[0]["clips"] == [
        {"text": c["text"]} for c in extra[1]["clips"]
    ]
    client.close()


@pytest.mark.parametrize(
    ("clips", "kind", "message"),
    [
        ([{"text": "a", "frame": 1}], DataNotMatchException, "missing required fields"),
        ("nope", DataNotMatchException, "Expected list"),
        ([{"text": "a", "frame": 1, "emb": [1.0]}], MilvusException, "is not equal to schema dim"),
        ([{"text": "a" * 30, "frame": 1, "emb": [1.0] * DIM}], MilvusException,
         "exceeds max length"),
        ([{"text": "a", "frame": 1, "emb": [1.0] * DIM}] * 7, MilvusException,
         "exceeds max capacity"),
        (None, DataNotMatchException, "Expected list, got NoneType"),
    ],
)  # fmt: skip
def test_bad_rows(client: MilvusClient, clips: Any, kind: type, message: str) -> None:
    _create(client)
    with pytest.raises(kind, match=message):
        client.insert("c", [{"id": 999, "title": [0.0] * DIM, "clips": clips}])
    assert client.query("c", "id == 999") == []


def test_schema_index_and_search_errors(client: MilvusClient) -> None:
    _create(client)
    ip = client.prepare_index_params()
    ip.add_index("clips[emb]", index_type="IVF_FLAT", metric_type="MAX_SIM_IP", index_name="x")
    with pytest.raises(MilvusException, match="ArrayOfVector can't build with this index"):
        client.create_index("c", ip)
    ip = client.prepare_index_params()
    ip.add_index("clips[emb]", metric_type="COSINE", index_name="y")
    with pytest.raises(MilvusException, match="does not support metric type: COSINE"):
        client.create_index("c", ip)
    with pytest.raises(MilvusException, match="must be EmbeddingLists"):
        client.search("c", [[0.1] * DIM], anns_field="clips[emb]")
    with pytest.raises(MilvusException, match="range search is not supported"):
        client.search("c", _lists(0, [1]), anns_field="clips[emb]",
                      search_params={"params": {"radius": 0.1}})  # fmt: skip
    with pytest.raises(MilvusException):
        client.query("c", "clips is null")  # an array of structs is not a filter operand


async def test_async_embedding_list_searches_batch(tmp_path: Path) -> None:
    client = AsyncMilvusClient(str(tmp_path / "a.db"))
    ip = AsyncMilvusClient.prepare_index_params()
    ip.add_index("title", metric_type="L2")
    ip.add_index("clips[emb]", metric_type="MAX_SIM_IP")
    await client.create_collection("c", schema=_schema(client), index_params=ip)
    rows = _rows(40, seed=3)
    await client.insert("c", rows)
    lists = _lists(5, [1, 2, 3, 4])
    exprs = ["id < 30", "id >= 10", "", "id % 2 == 0"]  # batched with a mask each
    results = await asyncio.gather(
        *[client.search("c", [el], expr, anns_field="clips[emb]", limit=5)
          for el, expr in zip(lists, exprs, strict=True)]
    )  # fmt: skip
    keep = [lambda i: i < 30, lambda i: i >= 10, lambda i: True, lambda i: i % 2 == 0]
    for res, el, ok in zip(results, lists, keep, strict=True):
        scores = _max_sim([r for r in rows if ok(r["id"])], el.to_numpy(), "MAX_SIM_IP")
        assert [h["id"] for h in res[0]] == sorted(scores, key=lambda pk: (-scores[pk], pk))[:5]
    await client.close()


def test_one_engine_call_with_a_mask_per_query(client: MilvusClient) -> None:
    """Two embedding-list searches with different filters in one batch (per-query masks)."""
    from gpu_milvus.client import _args
    from gpu_milvus.engine import reads

    rows = _create(client, "MAX_SIM_IP")
    coll = client._core._coll("c")
    lists = _lists(5, [1, 2])
    exprs = ["id < 30", "id >= 10"]
    items = [
        reads.SearchItem(_args.vector_request([el], "clips[emb]", 5, expr, None, {}))
        for el, expr in zip(lists, exprs, strict=True)
    ]
    outcomes = reads.search_batch(coll, items)
    for (hits, _), el, ok in zip(outcomes, lists, [lambda i: i < 30, lambda i: i >= 10],
                                 strict=True):  # fmt: skip
        scores = _max_sim([r for r in rows if ok(r["id"])], el.to_numpy(), "MAX_SIM_IP")
        assert hits[0].ids == sorted(scores, key=lambda pk: (-scores[pk], pk))[:5]


def _nullable_collection(path: Path) -> MilvusClient:
    """Collection 'c' of ``_schema`` with its array of structs nullable (Milvus 3.0)."""
    client = MilvusClient(str(path))
    s = _schema(client)
    s.struct_fields[0]._nullable = True
    ip = client.prepare_index_params()
    ip.add_index("title", metric_type="L2")
    ip.add_index("clips[emb]", metric_type="MAX_SIM_IP")
    client.create_collection("c", schema=s, index_params=ip)
    return client


def test_nullable_struct_arrays_and_adding_one(tmp_path: Path) -> None:
    """Milvus 3.0: an array of structs may be nullable (omitted or None: null, [] stays
    empty), and add_collection_struct_field adds a nullable one to a live collection (rows
    stored before hold null; ids after the largest; rootcoord's checks)."""
    client = _nullable_collection(tmp_path / "n.db")
    rows = _rows(3)
    rows[1]["clips"], rows[2]["clips"] = None, []
    del rows[0]["clips"]
    client.insert("c", rows)
    got = {r["id"]: r["clips"] for r in client.query("c", "id >= 0", output_fields=["clips"])}
    assert got == {0: None, 1: None, 2: []}
    field = next(f for f in client.describe_collection("c")["fields"] if f["name"] == "clips")
    assert field["nullable"] is True
    more = _rows(6)[3:]
    client.insert("c", more)
    hits = client.search("c", _lists(0, [2]), anns_field="clips[emb]", limit=10)[0]
    assert {h["id"] for h in hits} == {r["id"] for r in more if r["clips"]}  # null, empty: never

    client.create_collection("d", dimension=DIM)
    client.insert("d", [{"id": i, "vector": [float(i)] * DIM} for i in range(3)])
    st = client.create_struct_field_schema()
    st.add_field("tag", DataType.VARCHAR, max_length=8)
    st.add_field("emb", DataType.FLOAT_VECTOR, dim=DIM)
    client.add_collection_struct_field("d", "parts", st, max_capacity=4)
    field = next(f for f in client.describe_collection("d")["fields"] if f["name"] == "parts")
    assert (field["nullable"], field["params"]["max_capacity"]) == (True, 4)
    first = field["field_id"]
    assert [sub["field_id"] for sub in field["struct_fields"]] == [first + 1, first + 2]
    part = {"tag": "a", "emb": [1.0] + [0.0] * (DIM - 1)}
    client.insert("d", [{"id": 9, "vector": [1.0] * DIM, "parts": [part]}])
    got = {r["id"]: r["parts"] for r in client.query("d", "id >= 0", output_fields=["parts"])}
    assert got[0] is None and got[9] == [part]
    for name, message in (("parts", "field already exists, name: parts"),
                          ("vector", "field already exists, name: vector"),
                          ("x y", "Invalid field name: x y")):  # fmt: skip
        with pytest.raises(MilvusException, match=message):
            client.add_collection_struct_field("d", name, st, max_capacity=4)
    with pytest.raises(ParamError, match="requires nullable=True"):
        client.add_collection_struct_field("d", "q", st, max_capacity=4, nullable=False)
    bad = client.create_struct_field_schema()
    bad.add_field("k", DataType.INT64, is_partition_key=True)
    with pytest.raises(MilvusException, match="partition key is not supported for struct field"):
        client.add_collection_struct_field("d", "q", bad, max_capacity=4)
    client.close()
    again = MilvusClient(str(tmp_path / "n.db"))
    rows = again.query("d", "id in [0, 9]", output_fields=["parts"])
    assert {r["id"]: r["parts"] for r in rows} == {0: None, 9: [part]}
    again.close()


def test_struct_array_operators_count_matching_elements(tmp_path: Path) -> None:
    """Milvus 3.0's element_filter / MATCH_ANY / MATCH_ALL / MATCH_LEAST / MATCH_MOST /
    MATCH_EXACT: the predicate over ``$[sub]`` per element, a row kept by how many of its
    elements match (segcore's MatchSingleRow: MATCH_ALL holds for an empty or null array),
    against the same counts taken in Python from the rows."""
    client = _nullable_collection(tmp_path / "m.db")
    rows = _rows(60, seed=9)
    for r in rows[::7]:
        r["clips"] = None
    client.insert("c", rows)

    def hits(row: dict[str, Any], test: Any) -> tuple[int, int]:
        clips = row["clips"] or []
        return sum(1 for c in clips if test(c)), len(clips)

    cases = [
        ("element_filter(clips, $[frame] > 2)", lambda c: c["frame"] > 2, lambda h, n: h > 0),
        ('MATCH_ANY(clips, $[text] like "c1%")', lambda c: c["text"].startswith("c1"),
         lambda h, n: h > 0),
        ("MATCH_ALL(clips, $[frame] < 3)", lambda c: c["frame"] < 3, lambda h, n: h == n),
        ("MATCH_LEAST(clips, $[frame] >= 1, 2)", lambda c: c["frame"] >= 1, lambda h, n: h >= 2),
        ("MATCH_MOST(clips, $[frame] >= 1, 1)", lambda c: c["frame"] >= 1, lambda h, n: h <= 1),
        ("MATCH_EXACT(clips, $[frame] % 2 == 0, 2)", lambda c: c["frame"] % 2 == 0,
         lambda h, n: h == 2),
        ("id < 30 && MATCH_ANY(clips, $[frame] == 1 or $[text] == \"c3.3\")",
         lambda c: c["frame"] == 1 or c["text"] == "c3.3", lambda h, n: h > 0),
    ]  # fmt: skip
    for expr, test, keep in cases:
        want = sorted(r["id"] for r in rows if keep(*hits(r, test))
                      and (not expr.startswith("id <") or r["id"] < 30))  # fmt: skip
        got = sorted(r["id"] for r in client.query("c", expr, output_fields=["id"]))
        assert got == want, expr
    got = client.query("c", "MATCH_LEAST(clips, $[frame] >= {f}, 2)",
                       filter_params={"f": 1}, output_fields=["id"])  # fmt: skip
    assert sorted(r["id"] for r in got) == sorted(
        r["id"] for r in rows if hits(r, lambda c: c["frame"] >= 1)[0] >= 2
    )
    hits_ = client.search("c", [[0.5] * DIM], anns_field="title", limit=60,
                          filter="element_filter(clips, $[frame] == 0)")[0]  # fmt: skip
    assert sorted(h["id"] for h in hits_) == sorted(r["id"] for r in rows if r["clips"])
    bad = [("MATCH_ANY(clips, $[nope] > 1)", r"field \$\[nope\] not exist"),
           ("MATCH_ANY(id, $[frame] > 1)", "must be an array of structs"),
           ("MATCH_LEAST(clips, $[frame] > 1)", "takes 3 arguments"),
           ("MATCH_ANY(clips, $[emb] > 1)", r"field \$\[emb\] not exist")]  # fmt: skip
    for expr, message in bad:
        with pytest.raises(MilvusException, match=message):
            client.query("c", expr)
    client.close()
