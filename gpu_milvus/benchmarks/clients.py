"""The engines reached through the pymilvus API: gpu_milvus and milvus-lite, written once.

Both open a path uri inside the run's work directory: ``gpu_milvus.MilvusClient(dir/gm.db)``
and ``pymilvus.MilvusClient(dir/lite.db)`` (milvus-lite: a gRPC server on threads of this
process). Collections get ``FLAT`` / ``IP`` (and ``SPARSE_INVERTED_INDEX`` / ``IP``), so
both engines search exactly.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gpu_milvus.benchmarks.datasets import Dataset, SparseSet, csr_dicts, filter_expr
from gpu_milvus.benchmarks.metrics import load1, percentiles_ms
from gpu_milvus.benchmarks.progress import bar, log
from gpu_milvus.benchmarks.record import disk_bytes

GPU_MILVUS, LITE = "gpu_milvus", "milvus-lite"


@dataclass
class Side:
    """One engine behind the pymilvus client API."""

    name: str
    client: Any
    path: str
    device: str | None = None
    warmed: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_lite(self) -> bool:
        return self.name == LITE

    def async_client(self) -> Any:
        """An ``AsyncMilvusClient`` on the same uri (same data, same process)."""
        if self.is_lite:
            from pymilvus import AsyncMilvusClient as LiteAsync

            return LiteAsync(self.path)
        from gpu_milvus import AsyncMilvusClient

        return AsyncMilvusClient(self.path, device=self.meta["device_requested"])


def open_gpu_milvus(workdir: Path, device: str) -> Side:
    """``gpu_milvus.MilvusClient`` on a path uri (durable once path stores persist)."""
    from gpu_milvus import MilvusClient

    path = str(workdir / "gm.db")
    client = MilvusClient(path, device=device)
    meta = {"uri": path, "uri_kind": "path", "device_requested": device}
    return Side(GPU_MILVUS, client, path, str(client.device), meta=meta)


def open_lite(workdir: Path) -> Side:
    """``pymilvus.MilvusClient`` on a local ``.db`` path: milvus-lite in this process."""
    from pymilvus import MilvusClient

    path = str(workdir / "lite.db")
    meta = {"uri": path, "uri_kind": "path (milvus-lite: WAL + Parquet segments)"}
    return Side(LITE, MilvusClient(path), path, "cpu", meta=meta)


def release_lite() -> None:
    """Stop every milvus-lite server of this process."""
    try:
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_all()
    except ImportError:
        pass


def drain_lite(path: str) -> bool:
    """Wait for milvus-lite's background compaction / index builds (uses lite internals)."""
    try:
        from milvus_lite.server_manager import server_manager_instance as mgr

        entry = mgr._servers.get(os.path.abspath(path))
        if entry is None:
            return False
        for col in list(entry[1]._collections.values()):
            col._wait_for_bg()
        return True
    except Exception as exc:  # internals changed: fall back to a short sleep
        log(f"  could not drain milvus-lite background work ({exc!r}); sleeping 5 s")
        time.sleep(5)
        return False


def _recreate(
    client: Any, name: str, fields: list[tuple[str, str, dict]], indexes: dict[str, str]
) -> None:
    """Drop ``name`` if it exists, then create it: an INT64 ``id`` pk, then ``fields``
    (name, DataType name, kwargs), each field in ``indexes`` indexed with that type and IP."""
    from pymilvus import DataType

    if client.has_collection(name):
        client.drop_collection(name)
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    for fname, dtype, kwargs in fields:
        schema.add_field(fname, DataType[dtype], **kwargs)
    index = client.prepare_index_params()
    for fname, index_type in indexes.items():
        index.add_index(field_name=fname, index_type=index_type, metric_type="IP", params={})
    client.create_collection(name, schema=schema, index_params=index)


def create_dense(client: Any, name: str, dim: int) -> None:
    """``id`` INT64 pk, ``vec`` FLOAT_VECTOR(dim) with FLAT/IP, ``cat`` INT64."""
    fields = [("vec", "FLOAT_VECTOR", {"dim": dim}), ("cat", "INT64", {})]
    _recreate(client, name, fields, {"vec": "FLAT"})


def create_hybrid(client: Any, name: str, dim: int) -> None:
    """``id`` pk, ``dv`` FLOAT_VECTOR(dim) FLAT/IP, ``sv`` SPARSE_FLOAT_VECTOR inverted/IP."""
    fields = [("dv", "FLOAT_VECTOR", {"dim": dim}), ("sv", "SPARSE_FLOAT_VECTOR", {})]
    _recreate(client, name, fields, {"dv": "FLAT", "sv": "SPARSE_INVERTED_INDEX"})


def vectors_as(block: np.ndarray, fmt: str) -> list[Any]:
    """Row vectors as Python float lists (``list``) or 1-D float32 arrays (``numpy``)."""
    return block.tolist() if fmt == "list" else list(block)


def dense_rows(ds: Dataset, start: int, stop: int, fmt: str) -> list[dict[str, Any]]:
    """Rows ``start:stop`` of ``ds`` as insert-ready dicts."""
    assert ds.cats is not None
    vecs, cats = vectors_as(ds.base[start:stop], fmt), ds.cats[start:stop].tolist()
    return [
        {"id": start + i, "vec": v, "cat": c}
        for i, (v, c) in enumerate(zip(vecs, cats, strict=True))
    ]


def hybrid_rows(ss: SparseSet, start: int, stop: int, fmt: str) -> list[dict[str, Any]]:
    """Rows ``start:stop`` of ``ss`` (dense + sparse dict) as insert-ready dicts."""
    dv, sv = vectors_as(ss.dense[start:stop], fmt), csr_dicts(ss.base[start:stop])
    return [
        {"id": start + i, "dv": d, "sv": s} for i, (d, s) in enumerate(zip(dv, sv, strict=True))
    ]


def warm_up(side: Side, dim: int, fmt: str) -> None:
    """One small insert + search in a throw-away collection (imports, first-call costs)."""
    if side.warmed:
        return
    rng = np.random.default_rng(0)
    create_dense(side.client, "warmup", dim)
    vecs = vectors_as(rng.standard_normal((500, dim), dtype=np.float32), fmt)
    side.client.insert("warmup", [{"id": i, "vec": v, "cat": i} for i, v in enumerate(vecs)])
    side.client.search("warmup", data=[vecs[0]], limit=5, anns_field="vec", output_fields=["id"])
    side.client.drop_collection("warmup")
    side.warmed = True


def timed_insert(side: Side, name: str, n: int, batch: int, make_rows: Any, label: str) -> dict:
    """Insert ``n`` rows in ``batch``-row calls (only ``insert`` is timed), then settle."""
    times: list[float] = []
    with bar(n, f"{side.name}: insert {label}", "rows") as b:
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            rows = make_rows(start, stop)
            t0 = time.perf_counter()
            res = side.client.insert(name, rows)
            times.append(time.perf_counter() - t0)
            if int(res["insert_count"]) != stop - start:
                raise RuntimeError(
                    f"{side.name}: insert_count {res['insert_count']} != {stop - start}"
                )
            b.update(stop - start)
            b.set_postfix_str(f"{(stop - start) / times[-1]:,.0f} rows/s")
    t0 = time.perf_counter()
    side.client.flush(name)
    t1 = time.perf_counter()
    side.client.load_collection(name)
    t2 = time.perf_counter()
    drained = drain_lite(side.path) if side.is_lite else None
    t3 = time.perf_counter()
    count = int(side.client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"])
    if count != n:
        raise RuntimeError(f"{side.name}: count(*) = {count} after inserting {n} rows")
    total = sum(times)
    sizes = [min(s + batch, n) - s for s in range(0, n, batch)]
    return {
        "rows": n,
        "batch": batch,
        "calls": len(times),
        "insert_s": total,
        "rows_per_s": n / total,
        "rows_per_s_median_batch": statistics.median(
            r / t for r, t in zip(sizes, times, strict=True)
        ),
        "flush_s": t1 - t0,
        "load_s": t2 - t1,
        "bg_drain_s": t3 - t2,
        "bg_drained": drained,
        "rows_per_s_with_settle": n / (total + t3 - t0),
        "store_bytes_on_disk": disk_bytes(side.path),
        "uri_kind": side.meta["uri_kind"],
        "loadavg_1min": load1(),
        **percentiles_ms(times),
    }


def hit_ids(res: Any) -> list[list[int]]:
    """Ids per query of a pymilvus search result (reading them is part of the timed work)."""
    out = []
    for hits in res:
        ids = getattr(hits, "ids", None)
        out.append(list(ids) if ids is not None else [int(h["id"]) for h in hits])
    return out


class MilvusSearcher:
    """Searches of one collection through a pymilvus-API client; queries pre-converted."""

    def __init__(self, side: Side, name: str, queries: np.ndarray, fmt: str) -> None:
        self.side, self.name, self.fmt = side, name, fmt
        self.pool = vectors_as(queries, fmt)
        self.pool_arr = queries

    @property
    def engine(self) -> str:
        return self.side.name

    def data(self, rows: np.ndarray) -> Any:
        """The search ``data`` for the query rows (list of vectors, or a 2-D array)."""
        if self.fmt == "list":
            return [self.pool[i] for i in rows]
        return self.pool_arr[rows]

    def dense(self, rows: np.ndarray, k: int, selectivity: float | None = None) -> list[list[int]]:
        """Exact top-``k`` of ``vec`` for the query rows; ``cat`` filter when selective."""
        res = self.side.client.search(
            self.name,
            data=self.data(rows),
            limit=k,
            filter="" if selectivity is None else filter_expr(selectivity),
            anns_field="vec",
            output_fields=["id"],
            search_params={"metric_type": "IP"},
        )
        return hit_ids(res)


class HybridSearcher:
    """Sparse and hybrid (dense + sparse, RRF) searches of the hybrid collection."""

    def __init__(self, side: Side, name: str, ss: SparseSet, fmt: str) -> None:
        self.side, self.name = side, name
        self.sparse_pool = csr_dicts(ss.queries)
        self.dense_pool = vectors_as(ss.dense_queries, fmt)

    @property
    def engine(self) -> str:
        return self.side.name

    def sparse(self, rows: np.ndarray, k: int) -> list[list[int]]:
        """Exact sparse-IP top-``k`` of ``sv``."""
        res = self.side.client.search(
            self.name,
            data=[self.sparse_pool[i] for i in rows],
            limit=k,
            anns_field="sv",
            output_fields=["id"],
            search_params={"metric_type": "IP"},
        )
        return hit_ids(res)

    def hybrid(self, rows: np.ndarray, k: int, limit: int) -> list[list[int]]:
        """RRF(60) of a dense and a sparse request, ``limit`` hits each, top ``k``."""
        from pymilvus import AnnSearchRequest, RRFRanker

        reqs = [
            AnnSearchRequest(
                data=[self.dense_pool[i] for i in rows],
                anns_field="dv",
                param={"metric_type": "IP"},
                limit=limit,
            ),
            AnnSearchRequest(
                data=[self.sparse_pool[i] for i in rows],
                anns_field="sv",
                param={"metric_type": "IP"},
                limit=limit,
            ),
        ]
        res = self.side.client.hybrid_search(
            self.name, reqs, RRFRanker(60), limit=k, output_fields=["id"]
        )
        return hit_ids(res)
