"""Embedding-list search over an array of structs (MAX_SIM_*), against NumPy.

``--rows`` rows each hold 1-``--max-elements`` struct elements with a ``--dim``-d vector;
queries are EmbeddingLists of ``--m`` vectors, searched one at a time (nq=1, top ``--limit``)
through ``MilvusClient.search`` for each metric. The baseline is NumPy scoring every element
in float32 with one matrix product and a per-row ``reduceat`` (what a user would write), and
the first ``--check`` queries' top-k are compared with a float64 brute force.
milvus-lite 3.2.2 cannot index a struct's vectors, so there is no lite column.
Writes ``bench/results/emb_list_<rows>x<dim>_<UTC>.json``.
Run: ``python bench/emb_list_bench.py [--rows 100000]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from host_record import write_record  # a sibling: bench/ is sys.path[0] in a script
from pymilvus import DataType
from pymilvus import MilvusClient as PyMilvusClient
from pymilvus.client.embedding_list import EmbeddingList

from gpu_milvus import MilvusClient

METRICS = ("MAX_SIM_COSINE", "MAX_SIM_IP", "MAX_SIM_L2")


def scores(e: np.ndarray, starts: np.ndarray, q: np.ndarray, metric: str) -> np.ndarray:
    """Every row's MAX_SIM score (rows all hold elements; ``starts`` their first)."""
    if metric == "MAX_SIM_COSINE":
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
    sims = e @ q.T
    if metric == "MAX_SIM_L2":
        sims = (e * e).sum(1)[:, None] - 2 * sims + (q * q).sum(1)[None, :]
        return np.minimum.reduceat(sims, starts, axis=0).sum(1)
    return np.maximum.reduceat(sims, starts, axis=0).sum(1)


def top(s: np.ndarray, k: int, metric: str) -> list[int]:
    key = s if metric == "MAX_SIM_L2" else -s
    return np.lexsort((np.arange(len(s)), key))[:k].tolist()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--max-elements", type=int, default=5)
    ap.add_argument("--m", type=int, default=8)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--check", type=int, default=3)
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    counts = rng.integers(1, args.max_elements + 1, args.rows)
    vectors = rng.standard_normal((int(counts.sum()), args.dim)).astype(np.float32)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    queries = [rng.standard_normal((args.m, args.dim)).astype(np.float32)
               for _ in range(args.queries)]  # fmt: skip
    metrics: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        client = MilvusClient(f"{tmp}/ours.db")
        s = client.create_schema()
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("title", DataType.FLOAT_VECTOR, dim=2)
        st = PyMilvusClient.create_struct_field_schema()
        st.add_field("emb", DataType.FLOAT_VECTOR, dim=args.dim)
        s.add_field("clips", DataType.ARRAY, element_type=DataType.STRUCT, struct_schema=st,
                    max_capacity=args.max_elements)  # fmt: skip
        ip = client.prepare_index_params()
        ip.add_index("title", metric_type="L2")
        ip.add_index("clips[emb]", metric_type="MAX_SIM_COSINE")
        client.create_collection("e", schema=s, index_params=ip)
        t0 = time.perf_counter()
        for lo in range(0, args.rows, 10_000):
            rows = [{"id": i, "title": [0.0, 0.0],
                     "clips": [{"emb": v} for v in vectors[starts[i] : starts[i] + counts[i]]]}
                    for i in range(lo, min(lo + 10_000, args.rows))]  # fmt: skip
            client.insert("e", rows)
        metrics["insert_rows_per_s"] = args.rows / (time.perf_counter() - t0)
        for metric in METRICS:
            client.release_collection("e")
            client.drop_index("e", "clips[emb]")
            ip = client.prepare_index_params()
            ip.add_index("clips[emb]", metric_type=metric)
            client.create_index("e", ip)
            client.load_collection("e")
            lists = []
            for q in queries:
                el = EmbeddingList()
                el.add_batch(q)
                lists.append(el)
            client.search("e", lists[:1], anns_field="clips[emb]", limit=args.limit)
            t0 = time.perf_counter()
            got = [client.search("e", [el], anns_field="clips[emb]", limit=args.limit)[0]
                   for el in lists]  # fmt: skip
            ours = (time.perf_counter() - t0) / len(lists)
            t0 = time.perf_counter()
            for q in queries:
                top(scores(vectors, starts, q, metric), args.limit, metric)
            numpy = (time.perf_counter() - t0) / len(queries)
            exact64 = vectors.astype(np.float64)
            agree = all(
                [h["id"] for h in got[i]]
                == top(
                    scores(exact64, starts, queries[i].astype(np.float64), metric),
                    args.limit,
                    metric,
                )
                for i in range(args.check)
            )
            metrics[metric] = {"ms_per_query": ours * 1e3, "numpy_ms_per_query": numpy * 1e3,
                               "ratio_vs_numpy": numpy / ours, "top_k_exact": agree}  # fmt: skip
        client.close()
    write_record(f"emb_list_{args.rows}x{args.dim}", vars(args), metrics)


if __name__ == "__main__":
    main()
