"""A durable store reopened on the GPU answers as the CPU reference does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpu_milvus import MilvusClient

pytestmark = pytest.mark.gpu


def _ids_and_distances(client: MilvusClient, queries: np.ndarray) -> list[list[tuple]]:
    hits = client.search("g", data=queries.tolist(), limit=10, anns_field="vector")
    return [[(h["id"], h["distance"]) for h in q] for q in hits]


def test_reopen_on_the_gpu_matches_the_cpu(tmp_path: Path) -> None:
    pytest.importorskip("cupy")
    uri = str(tmp_path / "g.db")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5000, 64)).astype(np.float32)
    writer = MilvusClient(uri, device="cuda")
    writer.create_collection("g", dimension=64, metric_type="IP")
    writer.insert("g", [{"id": i, "vector": x[i]} for i in range(4000)])
    writer.flush("g")  # sealed segment: reloaded straight into device memory
    writer.insert("g", [{"id": i, "vector": x[i]} for i in range(4000, 5000)])  # log only
    writer.delete("g", ids=list(range(0, 5000, 7)))
    writer.close()
    queries = rng.standard_normal((5, 64)).astype(np.float32)
    gpu = MilvusClient(uri, device="cuda")
    assert gpu.device == "cuda"
    on_gpu = _ids_and_distances(gpu, queries)
    gpu.close()
    cpu = MilvusClient(uri, device="cpu")
    on_cpu = _ids_and_distances(cpu, queries)
    cpu.close()
    for g, c in zip(on_gpu, on_cpu, strict=True):
        assert [pk for pk, _ in g] == [pk for pk, _ in c]
        np.testing.assert_allclose([d for _, d in g], [d for _, d in c], rtol=1e-4, atol=1e-4)
    assert all(pk % 7 for q in on_gpu for pk, _ in q)
