"""BINARY_VECTOR search (HAMMING, JACCARD) on the host, against the machine's copy bandwidth.

Exact binary search reads every stored code once per query, so its ceiling is memory
bandwidth: the benchmark first measures a large host copy (``np.copyto``; bytes read, the
best of 5), then times ``MilvusClient.search`` on ``--rows`` packed codes of ``--bits`` bits
at nq = 1 and 16 (k = 10, best of ``--repeat``), and reports the codes' bytes read per
second as a fraction of the copy rate. A check against a float64 NumPy reference of the
first query (unpacked bits) guards the timed path. Writes
``bench/results/binary_<rows>x<bits>_<UTC>.json``.
Run: ``python bench/binary_bench.py [--rows 1000000 --bits 256]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from host_record import write_record  # a sibling: bench/ is sys.path[0] in a script
from pymilvus import DataType

from gpu_milvus import MilvusClient


def copy_rate(nbytes: int) -> float:
    """Bytes read per second by the best of 5 host copies of ``nbytes``."""
    src = np.ones(nbytes // 8, dtype=np.float64)
    dst = np.empty_like(src)
    best = min(_timed(lambda: np.copyto(dst, src)) for _ in range(5))
    return src.nbytes / best


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--bits", type=int, default=256)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (args.rows, args.bits // 8), dtype=np.uint8)
    client = MilvusClient(":memory:")
    metrics: dict[str, float] = {"copy_gb_s": copy_rate(256 << 20) / 1e9}
    for metric in ("HAMMING", "JACCARD"):
        name = metric.lower()
        schema = client.create_schema()
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("v", DataType.BINARY_VECTOR, dim=args.bits)
        index = client.prepare_index_params()
        index.add_index("v", index_type="BIN_FLAT", metric_type=metric)
        client.create_collection(name, schema=schema, index_params=index)
        for start in range(0, args.rows, 100_000):
            block = codes[start : start + 100_000]
            client.insert(name, [{"id": start + i, "v": c.tobytes()} for i, c in enumerate(block)])
        queries = [c.tobytes() for c in rng.integers(0, 256, (16, args.bits // 8), dtype=np.uint8)]
        _check(client, name, codes, queries[0], metric)
        for nq in (1, 16):
            best = min(
                _timed(lambda c=name, q=queries[:nq]: client.search(c, q, limit=10))
                for _ in range(args.repeat)
            )
            scanned = codes.nbytes * nq / best / 1e9
            metrics[f"{name}_nq{nq}_ms"] = best * 1e3
            metrics[f"{name}_nq{nq}_qps"] = nq / best
            metrics[f"{name}_nq{nq}_bandwidth_fraction"] = scanned / metrics["copy_gb_s"]
    _write(args, metrics)


def _check(client: MilvusClient, name: str, codes: np.ndarray, query: bytes, metric: str) -> None:
    bits = np.unpackbits(codes, axis=1)
    q = np.unpackbits(np.frombuffer(query, dtype=np.uint8))
    if metric == "HAMMING":
        ref = (bits != q).sum(axis=1).astype(np.float64)
    else:
        both, either = (bits & q).sum(axis=1), (bits | q).sum(axis=1)
        ref = np.where(either == 0, 1.0, (either - both) / np.maximum(either, 1))
    ref = ref.astype(np.float32)
    want = np.lexsort((np.arange(len(ref)), ref))[:10]
    got = [h["id"] for h in client.search(name, [query], limit=10)[0]]
    assert got == want.tolist(), (got, want.tolist())


def _write(args: argparse.Namespace, metrics: dict[str, float]) -> None:
    rounded = {k: round(v, 4) for k, v in metrics.items()}
    write_record(f"binary_{args.rows}x{args.bits}", vars(args), rounded)


if __name__ == "__main__":
    main()
