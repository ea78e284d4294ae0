"""search(group_by_field=...): exact grouping against a NumPy float64 reference."""

from __future__ import annotations

import numpy as np
import pytest
from pymilvus import DataType, MilvusException

from gpu_milvus import MilvusClient


@pytest.fixture
def grouped(tmp_path) -> tuple[MilvusClient, np.ndarray, np.ndarray]:
    client = MilvusClient(str(tmp_path / "g.db"))
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=8)
    schema.add_field("g", DataType.INT32)
    schema.add_field("j", DataType.JSON)
    index = client.prepare_index_params()
    index.add_index("v", metric_type="L2")
    client.create_collection("t", schema=schema, index_params=index)
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((500, 8)).astype(np.float32)
    groups = rng.integers(0, 40, 500)
    client.insert("t", [{"id": i, "v": vectors[i].tolist(), "g": int(groups[i]), "j": {}}
                        for i in range(500)])  # fmt: skip
    return client, vectors, groups


def _expected(vectors, groups, q, limit, size, offset=0):
    dist = ((vectors.astype(np.float64) - q) ** 2).sum(axis=1)
    members: dict[int, list[int]] = {}
    for i in np.argsort(dist, kind="stable"):
        members.setdefault(int(groups[i]), [])
        if len(members[int(groups[i])]) < size:
            members[int(groups[i])].append(int(i))
    chosen = list(members.values())[offset : offset + limit]
    return [i for g in chosen for i in g], dist


@pytest.mark.parametrize("limit, size, offset", [(3, 2, 0), (5, 4, 0), (4, 1, 2), (10, 20, 0)])
def test_groups_are_exact_and_group_major(grouped, limit, size, offset) -> None:
    client, vectors, groups = grouped
    q = np.random.default_rng(limit * 7 + size).standard_normal(8)
    res = client.search("t", [q.tolist()], limit=limit, offset=offset, output_fields=["g"],
                        group_by_field="g", group_size=size)[0]  # fmt: skip
    ids, dist = _expected(vectors, groups, q, limit, size, offset)
    assert [h["id"] for h in res] == ids
    assert [h["distance"] for h in res] == pytest.approx(dist[ids].tolist(), rel=1e-5, abs=1e-5)
    assert all(h["entity"]["g"] == groups[h["id"]] for h in res)


def test_strict_group_size_drops_short_groups(grouped) -> None:
    client, _, groups = grouped
    res = client.search("t", [[0.0] * 8], limit=50, group_by_field="g", group_size=20,
                        strict_group_size=True, output_fields=["g"])[0]  # fmt: skip
    counts = np.bincount(groups, minlength=40)
    kept = {h["entity"]["g"] for h in res}
    assert kept == {g for g in range(40) if counts[g] >= 20}


def test_group_by_unsupported_type_is_an_error(grouped) -> None:
    client, _, _ = grouped
    with pytest.raises(MilvusException):
        client.search("t", [[0.0] * 8], group_by_field="j")
    with pytest.raises(MilvusException):
        client.search("t", [[0.0] * 8], group_by_field="nope")
