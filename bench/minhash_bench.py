"""Near-duplicate search with the MINHASH function and MHJACCARD, against datasketch and NumPy.

The corpus: ``--rows`` texts of 40-120 words drawn from a 20,000-word Zipf vocabulary; every
tenth text is a copy of an earlier one with ``--edits`` words replaced (the duplicates to
find). gpu_milvus signs them at insert with a MINHASH function (``--hashes`` 32-bit hashes,
3-word shingles) under a MINHASH_LSH index (``mh_lsh_band`` 64). Baselines, in the same run:
signing with datasketch (the library Milvus's MINHASH_LSH guide uses, ``update_batch`` of
the same shingles, on ``--sign-sample`` texts), and NumPy scoring the stored signatures
(``(S == q).mean(1)`` and an ``argpartition``). Every query's top ``--limit`` must equal
NumPy's (share descending, then row). The dedup check: each edited copy searched by its text
(LSH hit flag, limit 1, and exact share, top ``--limit``) should find its source.
Writes ``bench/results/minhash_<rows>_<UTC>.json``.
Run: ``python bench/minhash_bench.py [--rows 100000]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from datasketch import MinHash
from host_record import write_record  # a sibling: bench/ is sys.path[0] in a script
from pymilvus import DataType, Function, FunctionType

from gpu_milvus import MilvusClient

EXACT = {"params": {"mh_search_with_jaccard": True}}


def corpus(rows: int, edits: int, seed: int) -> tuple[list[str], dict[int, int]]:
    """Texts, and each edited copy's source row."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(20_000)])
    weights = 1.0 / np.arange(1, len(vocab) + 1)
    weights /= weights.sum()
    texts: list[str] = []
    sources: dict[int, int] = {}
    for i in range(rows):
        if i % 10 == 9:
            src = int(rng.integers(0, i))
            words = texts[src].split()
            for at in rng.choice(len(words), size=min(edits, len(words)), replace=False):
                words[at] = f"x{i}_{at}"
            texts.append(" ".join(words))
            sources[i] = src
        else:
            texts.append(" ".join(rng.choice(vocab, size=int(rng.integers(40, 121)), p=weights)))
    return texts, sources


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--hashes", type=int, default=256)
    ap.add_argument("--edits", type=int, default=3)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--sign-sample", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    texts, sources = corpus(args.rows, args.edits, args.seed)
    metrics: dict[str, object] = {}
    t0 = time.perf_counter()
    for text in texts[: args.sign_sample]:
        words = text.split()
        m = MinHash(num_perm=args.hashes)
        m.update_batch([" ".join(words[i : i + 3]).encode() for i in range(len(words) - 2)])
    datasketch_rate = args.sign_sample / (time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as tmp:
        client = MilvusClient(f"{tmp}/ours.db")
        s = client.create_schema()
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("text", DataType.VARCHAR, max_length=4000, enable_analyzer=True)
        s.add_field("mh", DataType.BINARY_VECTOR, dim=32 * args.hashes)
        s.add_function(Function("mhf", FunctionType.MINHASH, ["text"], ["mh"],
                                params={"num_hashes": args.hashes, "shingle_size": 3}))  # fmt: skip
        ip = client.prepare_index_params()
        ip.add_index("mh", index_type="MINHASH_LSH", metric_type="MHJACCARD",
                     params={"mh_element_bit_width": 32, "mh_lsh_band": 64})  # fmt: skip
        client.create_collection("d", schema=s, index_params=ip)
        t0 = time.perf_counter()
        for lo in range(0, args.rows, 10_000):
            client.insert("d", [{"id": i, "text": texts[i]}
                                for i in range(lo, min(lo + 10_000, args.rows))])  # fmt: skip
        insert_rate = args.rows / (time.perf_counter() - t0)
        metrics["sign"] = {"insert_rows_per_s": insert_rate,
                           "datasketch_docs_per_s": datasketch_rate,
                           "ratio_vs_datasketch": insert_rate / datasketch_rate}  # fmt: skip
        stored = np.empty((args.rows, args.hashes), dtype=np.uint32)
        for lo in range(0, args.rows, 16_384):
            got = client.query("d", f"id >= {lo} and id < {lo + 16_384}", output_fields=["mh"])
            for r in got:
                stored[r["id"]] = np.frombuffer(r["mh"][0], dtype="<u4")
        copies = sorted(sources)[: args.queries]
        qtexts = [texts[i] for i in copies]
        client.search("d", qtexts[:1], anns_field="mh", limit=args.limit, search_params=EXACT)
        t0 = time.perf_counter()
        hits = [client.search("d", [q], anns_field="mh", limit=args.limit,
                              search_params=EXACT)[0] for q in qtexts]  # fmt: skip
        ours = (time.perf_counter() - t0) / len(qtexts)
        t0 = time.perf_counter()
        expected = []
        for i in copies:
            share = (stored == stored[i]).mean(axis=1)
            kth = np.partition(share, len(share) - args.limit)[len(share) - args.limit]
            near = np.flatnonzero((share >= kth) & (share > 0))  # every row tied at the k-th
            expected.append(sorted(near.tolist(), key=lambda r: (-share[r], r))[: args.limit])
        numpy = (time.perf_counter() - t0) / len(copies)
        agree = all([h["id"] for h in got] == e for got, e in zip(hits, expected, strict=True))
        t0 = time.perf_counter()
        batch = client.search("d", qtexts[:16], anns_field="mh", limit=args.limit,
                              search_params=EXACT)  # fmt: skip
        batch_ms = (time.perf_counter() - t0) * 1e3
        metrics["search_exact_share"] = {
            "ms_per_query_nq1": ours * 1e3, "numpy_ms_per_query": numpy * 1e3,
            "ratio_vs_numpy": numpy / ours, "top_k_equal_numpy": agree,
            "ms_nq16": batch_ms, "nq16_equal_nq1": [[h["id"] for h in b] for b in batch]
            == [[h["id"] for h in g] for g in hits[:16]],
        }  # fmt: skip
        t0 = time.perf_counter()
        lsh = [client.search("d", [q], anns_field="mh", limit=1)[0] for q in qtexts]
        lsh_ms = (time.perf_counter() - t0) / len(qtexts) * 1e3
        found_lsh = np.mean([bool(r) and r[0]["id"] == sources[i]  # the first in row order
                             for i, r in zip(copies, lsh, strict=True)])  # fmt: skip
        found_exact = np.mean([sources[i] in [h["id"] for h in r]
                               for i, r in zip(copies, hits, strict=True)])  # fmt: skip
        metrics["dedup"] = {"lsh_ms_per_query_limit1": lsh_ms,
                            "lsh_first_hit_is_source": float(found_lsh),
                            "exact_source_in_top_limit": float(found_exact)}  # fmt: skip
        client.close()
    write_record(f"minhash_{args.rows}", vars(args), metrics)


if __name__ == "__main__":
    main()
