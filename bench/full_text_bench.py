"""Full-text search (BM25 function): gpu_milvus against milvus-lite on the same corpus.

A synthetic corpus (``--docs`` texts, Zipf-distributed words from a ``--vocab``-word vocabulary,
``--mean-len`` tokens on average) goes into both engines through ``MilvusClient.insert``; then
text queries of 2-8 words run one at a time (nq=1: QPS, p50/p99 latency) and in batches of 16:
``--queries`` of them on gpu_milvus, the first ``--lite-queries`` on milvus-lite (whose BM25
search takes ~0.2 s per query per 5k documents here). Those queries' top ``--limit`` are
checked against milvus-lite's (ids, and scores to rtol 1e-5; lite reports BM25 negated).
Writes ``bench/results/full_text_<docs>_<UTC>.json``.
Run: ``python bench/full_text_bench.py [--docs 50000]``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time

import numpy as np
from host_record import write_record  # a sibling: bench/ is sys.path[0] in a script
from pymilvus import DataType, Function, FunctionType
from pymilvus import MilvusClient as LiteClient

from gpu_milvus import MilvusClient


def corpus(args: argparse.Namespace, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    words = np.array([f"w{i}" for i in range(args.vocab)])
    p = 1.0 / np.arange(1, args.vocab + 1) ** 1.1
    p /= p.sum()
    lengths = rng.poisson(args.mean_len, size=args.docs) + 1
    flat = words[rng.choice(args.vocab, size=int(lengths.sum()), p=p)]
    ends = np.cumsum(lengths)
    docs = [" ".join(flat[e - n : e]) for n, e in zip(lengths, ends, strict=True)]
    queries = [" ".join(words[rng.choice(args.vocab, size=int(rng.integers(2, 9)), p=p)])
               for _ in range(args.queries)]  # fmt: skip
    return docs, queries


def create(client, name: str) -> None:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("text", DataType.VARCHAR, max_length=65535, enable_analyzer=True)
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    s.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                            input_field_names=["text"], output_field_names=["sparse"]))  # fmt: skip
    ip = client.prepare_index_params()
    # milvus-lite scores with k1 = 1.5 whatever it is given (a server's default is 1.2)
    ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                 params={"bm25_k1": 1.5})  # fmt: skip
    client.create_collection(name, schema=s)
    client.create_index(name, ip, sync=False)
    client.load_collection(name)


def timed_insert(client, name: str, docs: list[str], batch: int = 2000) -> float:
    t = time.perf_counter()
    for lo in range(0, len(docs), batch):
        client.insert(
            name, [{"id": lo + i, "text": d} for i, d in enumerate(docs[lo : lo + batch])]
        )
    return len(docs) / (time.perf_counter() - t)


def run_queries(client, name: str, queries: list[str], limit: int, nq: int) -> tuple[list, list]:
    out, times = [], []
    for lo in range(0, len(queries), nq):
        part = queries[lo : lo + nq]
        t = time.perf_counter()
        res = client.search(name, part, anns_field="sparse", limit=limit)
        times.append(time.perf_counter() - t)
        out += [[(h["id"], h["distance"]) for h in hits] for hits in res]
    return out, times


def agreement(ours: list, lite: list) -> float:
    same = 0
    for a, b in zip(ours, lite, strict=True):
        b = [(i, -d) for i, d in b]
        ids_ok = [i for i, _ in a] == [i for i, _ in b] or sorted(a) == sorted(b)
        same += ids_ok and np.allclose([d for _, d in a], [d for _, d in b], rtol=1e-5, atol=1e-6)
    return same / len(ours)


def summary(times: list[float], nq: int) -> dict[str, float]:
    ms = np.asarray(times) * 1e3
    return {"qps": nq * len(times) / float(np.sum(times)), "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99))}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--vocab", type=int, default=30_000)
    ap.add_argument("--mean-len", type=int, default=60)
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--lite-queries", type=int, default=48)
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    docs, queries = corpus(args, np.random.default_rng(args.seed))
    metrics: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ours, lite = MilvusClient(f"{tmp}/ours.db"), LiteClient(f"{tmp}/lite.db")
        results = {}
        for label, client in (("gpu_milvus", ours), ("milvus_lite", lite)):
            create(client, "t")
            metrics[f"{label}_insert_rows_per_s"] = timed_insert(client, "t", docs)
            mine = queries if label == "gpu_milvus" else queries[: args.lite_queries]
            run_queries(client, "t", mine[:4], args.limit, 1)  # warm up
            results[label], t1 = run_queries(client, "t", mine, args.limit, 1)
            _, t16 = run_queries(client, "t", mine, args.limit, 16)
            metrics[f"{label}_nq1"] = summary(t1, 1)
            metrics[f"{label}_nq16"] = summary(t16, 16)
        ours.close()
        lite.close()
    lite = results["milvus_lite"]
    metrics["top_k_agreement_with_lite"] = agreement(results["gpu_milvus"][: len(lite)], lite)
    for key in ("nq1", "nq16"):
        metrics[f"qps_ratio_{key}"] = (
            metrics[f"gpu_milvus_{key}"]["qps"] / metrics[f"milvus_lite_{key}"]["qps"]
        )
    metrics["insert_ratio"] = (
        metrics["gpu_milvus_insert_rows_per_s"] / metrics["milvus_lite_insert_rows_per_s"]
    )
    write_record(f"full_text_{args.docs}", vars(args), metrics)


if __name__ == "__main__":
    main()
