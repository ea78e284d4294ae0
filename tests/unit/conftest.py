"""Fixtures for the client unit tests: a fresh local uri per test, clients on it, and helpers.

Every test gets its own uri (the engine is shared per uri inside the process), so tests
never see each other's collections.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest
from pymilvus import DataType

from gpu_milvus import AsyncMilvusClient, MilvusClient


@pytest.fixture
def uri(tmp_path: Any) -> str:
    return str(tmp_path / "x.db")


@pytest.fixture
def client(uri: str) -> Iterator[MilvusClient]:
    c = MilvusClient(uri)
    yield c
    c.close()


@pytest.fixture
async def aclient(uri: str) -> AsyncIterator[AsyncMilvusClient]:
    c = AsyncMilvusClient(uri)
    yield c
    await c.close()


class Helpers:
    """Small data builders and NumPy float64 references shared by the client tests."""

    @staticmethod
    def exit_without_closing(uri: str, *statements: str) -> None:
        """Run ``statements`` (``c`` is a MilvusClient on ``uri``) in a child process that
        then exits at once: no close, so no checkpoint; only the log holds the changes."""
        script = "\n".join(
            ["import os", "from pymilvus import DataType", "from gpu_milvus import MilvusClient",
             f"c = MilvusClient({uri!r})", *statements, "os._exit(0)"]
        )  # fmt: skip
        subprocess.run([sys.executable, "-c", script], check=True, timeout=120)

    @staticmethod
    def vectors(n: int, dim: int = 4, seed: int = 0) -> np.ndarray:
        """Random float32 vectors with components in [-1, 1)."""
        rng = np.random.default_rng(seed)
        return (rng.random((n, dim), dtype=np.float32) * 2 - 1).astype(np.float32)

    @staticmethod
    def rows(vecs: np.ndarray, start: int = 0, **extra: Any) -> list[dict[str, Any]]:
        """Quick-setup rows ``{'id', 'vector', 'color', 'n'}`` (dynamic keys) for ``vecs``."""
        colors = ("red", "green", "blue")
        out = []
        for i, v in enumerate(vecs):
            pk = start + i
            row = {"id": pk, "vector": v.tolist(), "color": colors[pk % 3], "n": pk}
            row.update(extra)
            out.append(row)
        return out

    @staticmethod
    def quick(
        client: MilvusClient, name: str = "c", n: int = 30, dim: int = 4,
        metric: str = "COSINE", seed: int = 0, **kwargs: Any,
    ) -> np.ndarray:  # fmt: skip
        """Quick-setup collection ``name`` with ``n`` rows (ids 0..n-1); returns the vectors."""
        client.create_collection(name, dimension=dim, metric_type=metric, **kwargs)
        vecs = Helpers.vectors(n, dim, seed)
        if n:
            client.insert(name, Helpers.rows(vecs))
        return vecs

    @staticmethod
    def distances(q: np.ndarray, xs: np.ndarray, metric: str) -> np.ndarray:
        """Milvus distances in float64: IP dot, COSINE similarity, L2 squared."""
        q64, x64 = np.asarray(q, dtype=np.float64), np.asarray(xs, dtype=np.float64)
        if metric == "IP":
            return x64 @ q64
        if metric == "COSINE":
            return (x64 @ q64) / (np.linalg.norm(x64, axis=1) * np.linalg.norm(q64))
        return ((x64 - q64) ** 2).sum(axis=1)

    @staticmethod
    def ranking(q: np.ndarray, xs: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(row ids best first, their distances) for one query."""
        d = Helpers.distances(q, xs, metric)
        order = np.argsort(d if metric == "L2" else -d, kind="stable")
        return order, d[order]

    @staticmethod
    def scalar_schema(client: Any, dim: int = 4, dynamic: bool = False) -> Any:
        """A schema with a scalar of every supported kind (no index, dynamic off by default)."""
        schema = client.create_schema(enable_dynamic_field=dynamic)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("text", DataType.VARCHAR, max_length=5)
        schema.add_field("i8", DataType.INT8)
        schema.add_field("f", DataType.FLOAT)
        schema.add_field("meta", DataType.JSON)
        schema.add_field("tags", DataType.ARRAY, element_type=DataType.INT64, max_capacity=3)
        return schema

    @staticmethod
    def index(client: Any, field: str = "vector", metric: str = "COSINE", **kw: Any) -> Any:
        params = client.prepare_index_params()
        params.add_index(field, index_type=kw.pop("index_type", "AUTOINDEX"), metric_type=metric,
                         **kw)  # fmt: skip
        return params


@pytest.fixture
def h() -> type[Helpers]:
    return Helpers
