"""MinHash signatures: the MINHASH function, the MHJACCARD metric and the MINHASH_LSH index.

References we did not write: the C++ standard's check value for ``std::mt19937_64``; a
C++ program compiled here with g++ (libstdc++'s generator, C's wrapping uint64 arithmetic
and int promotion) for the permutations, the per-hash minima and the SHA-1 base hash;
datasketch, the library Milvus's MINHASH_LSH guide signs documents with, whose ``jaccard``
estimate the MHJACCARD share must equal; and the set Jaccard of the shingles, which a
1024-hash signature must estimate closely.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datasketch import MinHash
from pymilvus import DataType, Function, FunctionType
from pymilvus.exceptions import DataNotMatchException, MilvusException

from gpu_milvus import AsyncMilvusClient, MilvusClient, minhash
from gpu_milvus.text import analyzer_for

STANDARD = analyzer_for("t", {})
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "seven", "box"]
EXACT = {"params": {"mh_search_with_jaccard": True}}  # the share, not the LSH hit flag

_REFERENCE = r"""
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>
// argv: seed, num_hashes, sha1 digest bytes 0..3, then base hashes
int main(int argc, char** argv) {
    const uint64_t P = 0x1FFFFFFFFFFFFFFFULL;
    std::mt19937_64 rng(strtoull(argv[1], 0, 10));
    int n = atoi(argv[2]);
    unsigned char d[4];
    for (int i = 0; i < 4; i++) d[i] = (unsigned char)atoi(argv[3 + i]);
    printf("%llu\n", (unsigned long long)static_cast<uint64_t>(
        d[0] | (d[1] << 8) | (d[2] << 16) | (d[3] << 24)));
    std::vector<uint64_t> a(n), b(n);
    for (int i = 0; i < n; i++) {
        uint64_t ra = rng(), rb = rng();
        a[i] = ra % (P - 1) + 1;
        b[i] = rb % P;
        printf("%llu %llu\n", (unsigned long long)a[i], (unsigned long long)b[i]);
    }
    for (int i = 0; i < n; i++) {
        uint32_t sig = UINT32_MAX;
        for (int j = 7; j < argc; j++) {
            uint64_t t = a[i] * strtoull(argv[j], 0, 10) + b[i];
            t = (t & P) + (t >> 61);
            if (t >= P) t -= P;
            uint32_t h = (uint32_t)(t & 0xFFFFFFFFULL);
            if (h < sig) sig = h;
        }
        printf("%u\n", sig);
    }
}
"""


def test_mt19937_64_meets_the_cpp_standard_check_value() -> None:
    # [rand.predef]: the 10000th output of a default-constructed mt19937_64
    assert minhash.mt19937_64(5489, 10000)[-1] == 9981545732273789042


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ for the C++ reference")
@pytest.mark.parametrize("seed", [1234, 1, 0, -7, 2**63 + 5])
def test_permutations_minima_and_sha1_hash_equal_the_cpp_reference(
    tmp_path: Path, seed: int
) -> None:
    source = tmp_path / "ref.cpp"
    source.write_text(_REFERENCE)
    subprocess.run(["g++", "-O1", "-o", str(tmp_path / "ref"), str(source)], check=True)
    shingles = [b"a", b"quickbrown", b"\xe4\xb8\xad\xe6\x96\x87", b"x" * 40]
    bases = [minhash.base_hash(s, sha1=False) for s in shingles] + [2**64 - 5, 2**40 + 3]
    sha1_text = next(b"s%d" % i for i in range(999) if hashlib.sha1(b"s%d" % i).digest()[3] >= 128)
    digest = hashlib.sha1(sha1_text).digest()[:4]
    run = subprocess.run(
        [str(tmp_path / "ref"), str(seed % 2**64), "37", *map(str, digest), *map(str, bases)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    lines = run.stdout.split()
    assert int(lines[0]) == minhash.base_hash(sha1_text, sha1=True) >= 2**63  # sign-widened
    a, b = minhash.permutations(37, seed)
    pairs = [int(v) for v in lines[1 : 1 + 2 * 37]]
    assert pairs[0::2] == a.tolist() and pairs[1::2] == b.tolist()
    minima = minhash.min_hashes(np.array(bases, dtype=np.uint64), a, b)
    assert [int(v) for v in lines[1 + 2 * 37 :]] == minima.tolist()


def _params(**kw: Any) -> minhash.MinHashParams:
    return minhash.MinHashParams(**{"num_hashes": 1024, **kw})


def _shingle_set(text: str, size: int, char_level: bool) -> set[bytes]:
    if char_level:
        raw = text.encode()
        return {raw[i : i + size] for i in range(max(1, len(raw) - size + 1))}
    words = [w.lower() for w in text.split()]
    return {"".join(words[i : i + size]).encode() for i in range(max(1, len(words) - size + 1))}


@pytest.mark.parametrize("char_level", [False, True])
@pytest.mark.parametrize("size", [1, 2, 3])
def test_signatures_estimate_the_shingle_jaccard(char_level: bool, size: int) -> None:
    rng = np.random.default_rng(size)
    base = list(rng.choice(WORDS, size=40))
    pairs = []
    for changes in (0, 3, 10, 25, 40):
        other = list(base)
        for at in rng.choice(40, size=changes, replace=False):
            other[at] = f"w{at}"
        pairs.append((" ".join(base), " ".join(other)))
    params = _params(shingle_size=size, char_level=char_level)
    for x, y in pairs:
        sx, sy = minhash.signatures([x, y], params, STANDARD).view("<u4")
        estimate = float(np.mean(sx == sy))
        a, b = _shingle_set(x, size, char_level), _shingle_set(y, size, char_level)
        assert abs(estimate - len(a & b) / len(a | b)) < 0.08, (x, y)


def test_signature_layout_and_the_sources_quirks() -> None:
    params = _params(num_hashes=8, shingle_size=2)
    sig = minhash.signatures(["", None, "!!! ...", "Ab c", "a bc", "ab c"], params, STANDARD)
    assert sig.shape == (6, 32) and sig.dtype == np.uint8
    hashes = sig.view("<u4")
    assert (hashes[:3] == 0xFFFFFFFF).all()  # no shingles: every hash at its maximum
    # tokens are joined without a separator, after the analyzer lowercases them
    assert (hashes[3] == hashes[4]).all() and (hashes[4] == hashes[5]).all()
    a, b = minhash.permutations(8, minhash.DEFAULT_SEED)
    windows = minhash.signatures(["AB c d"], params, STANDARD).view("<u4")[0]
    bases = np.array([minhash.base_hash(s, False) for s in (b"abc", b"cd")], np.uint64)
    assert (windows == minhash.min_hashes(bases, a, b)).all()
    short = minhash.signatures(["hi"], _params(num_hashes=8, shingle_size=3), STANDARD)
    alone = minhash.min_hashes(np.array([minhash.base_hash(b"hi", False)], np.uint64), a, b)
    assert (short.view("<u4")[0] == alone).all()  # fewer tokens than a shingle: one shingle
    chars = minhash.signatures(["héllo"], _params(num_hashes=8, char_level=True), STANDARD)
    windows = [b"h\xc3\xa9", b"\xc3\xa9l", b"\xa9ll", b"llo"]  # UTF-8 byte windows
    bases = np.array([minhash.base_hash(w, False) for w in windows], np.uint64)
    assert (chars.view("<u4")[0] == minhash.min_hashes(bases, a, b)).all()
    seeded = minhash.signatures(["a b c d"], _params(num_hashes=8, seed=99), STANDARD)
    assert not (seeded == minhash.signatures(["a b c d"], _params(num_hashes=8), STANDARD)).all()


# ---------------------------------------------------------------- the MINHASH function


def _fn_schema(client: MilvusClient, dim: int = 512, **params: Any) -> Any:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("text", DataType.VARCHAR, max_length=2000, enable_analyzer=True)
    s.add_field("tag", DataType.INT64)
    s.add_field("mh", DataType.BINARY_VECTOR, dim=dim)
    s.add_function(Function("mhf", FunctionType.MINHASH, ["text"], ["mh"], params=params))
    return s


def _mh_index(client: MilvusClient, field: str = "mh", **params: Any) -> Any:
    ip = client.prepare_index_params()
    params = {"mh_element_bit_width": 32, "mh_lsh_band": 4, **params}
    ip.add_index(field, index_type="MINHASH_LSH", metric_type="MHJACCARD", params=params)
    return ip


def _docs(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 12)))) for _ in range(n)]


def test_function_outputs_are_the_texts_signatures(client: MilvusClient) -> None:
    client.create_collection(
        "c", schema=_fn_schema(client, shingle_size=2, seed=7), index_params=_mh_index(client)
    )
    texts = _docs(30)
    client.insert("c", [{"id": i, "text": t, "tag": i % 3} for i, t in enumerate(texts)])
    rows = client.query("c", "id >= 0", output_fields=["mh"], limit=100)
    expected = minhash.signatures(texts, _params(num_hashes=16, shingle_size=2, seed=7), STANDARD)
    got = {r["id"]: r["mh"][0] for r in rows}
    assert all(got[i] == expected[i].tobytes() for i in range(30))
    fn = client.describe_collection("c")["functions"][0]
    assert fn["type"] == FunctionType.MINHASH
    assert fn["params"] == {"shingle_size": "2", "seed": "7"}
    with pytest.raises(DataNotMatchException, match="unexpected function output field `mh`"):
        client.insert("c", [{"id": 99, "text": "x", "tag": 0, "mh": bytes(64)}])


def test_text_search_ranks_by_the_share_of_equal_hashes(client: MilvusClient) -> None:
    client.create_collection("c", schema=_fn_schema(client), index_params=_mh_index(client))
    texts = _docs(60, seed=3)
    client.insert("c", [{"id": i, "text": t, "tag": i % 3} for i, t in enumerate(texts)])
    stored = minhash.signatures(texts, _params(num_hashes=16), STANDARD).view("<u4")
    queries = [texts[5], "quick brown fox jumps over", "nothing alike at all"]
    res = client.search("c", queries, anns_field="mh", limit=10, filter="tag != 1",
                        search_params=EXACT)  # fmt: skip
    for q, hits in zip(queries, res, strict=True):
        qs = minhash.signatures([q], _params(num_hashes=16), STANDARD).view("<u4")[0]
        share = (stored == qs).mean(axis=1)
        keep = [i for i in range(60) if i % 3 != 1 and share[i] > 0]
        best = sorted(keep, key=lambda i: (-share[i], i))[:10]
        assert [h["id"] for h in hits] == best
        assert [h["distance"] for h in hits] == pytest.approx([share[i] for i in best])
    assert res[0][0]["id"] == 5 and res[0][0]["distance"] == 1.0


def test_search_needs_text_or_signatures_of_the_right_size(client: MilvusClient) -> None:
    client.create_collection("c", schema=_fn_schema(client), index_params=_mh_index(client))
    client.insert("c", [{"id": 0, "text": "alpha beta gamma", "tag": 0}])
    sig = minhash.signatures(["alpha beta gamma"], _params(num_hashes=16), STANDARD)[0]
    hits = client.search("c", [sig.tobytes()], anns_field="mh", limit=1)[0]
    assert [h["id"] for h in hits] == [0] and hits[0]["distance"] == 1.0
    with pytest.raises(MilvusException):
        client.search("c", [bytes(8)], anns_field="mh", limit=1)


def test_function_validation_follows_the_server(client: MilvusClient) -> None:
    cases = [
        ({"num_hashes": 8}, 512, "dim 512 does not match expected dim 256 (numHashes 8"),
        ({}, 520, "dim 520 is not multiple of 32"),
        ({"num_hashes": "x"}, 512, "param num_hashes:x is not a number"),
        ({"shingle_size": 0}, 512, "param shingle_size:0 must be positive"),
        ({"hash_function": "md5"}, 512, "unknown hash function: md5 (expected 'xxhash64'"),
        ({"token_level": "line"}, 512, "unknown token_level: line (expected 'char' or 'word')"),
        ({"seed": "1.5"}, 512, "param seed:1.5 is not a number"),
    ]
    for params, dim, message in cases:
        with pytest.raises(MilvusException, match=message.replace("(", r"\(").replace(")", r"\)")):
            client.create_collection("c", schema=_fn_schema(client, dim=dim, **params))
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("n", DataType.INT64)
    s.add_field("mh", DataType.BINARY_VECTOR, dim=64)
    s.add_function(Function("f", FunctionType.MINHASH, ["n"], ["mh"]))
    with pytest.raises(MilvusException, match="input field 'n' is not string type, is Int64"):
        client.create_collection("c", schema=s)
    ip = client.prepare_index_params()
    ip.add_index("mh", index_type="BIN_FLAT", metric_type="HAMMING")
    with pytest.raises(MilvusException, match="MinHash function output field must be MHJACCARD"):
        client.create_collection("c", schema=_fn_schema(client), index_params=ip)


def test_add_function_field_backfills_and_survives_a_reopen(client: MilvusClient, uri: str) -> None:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("text", DataType.VARCHAR, max_length=2000)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    ip = client.prepare_index_params()
    ip.add_index("v", metric_type="L2")
    client.create_collection("c", schema=s, index_params=ip)
    texts = _docs(20, seed=9)
    client.insert("c", [{"id": i, "text": t, "v": [0.0, 1.0]} for i, t in enumerate(texts)])
    field = MilvusClient.create_field_schema("mh", DataType.BINARY_VECTOR, dim=256)
    fn = Function("mhf", FunctionType.MINHASH, ["text"], ["mh"], params={"token_level": "char"})
    client.add_function_field("c", field, fn, _mh_index(client, mh_lsh_band=2))
    client.insert("c", [{"id": 20, "text": texts[0], "v": [1.0, 0.0]}])
    expected = minhash.signatures(texts, _params(num_hashes=8, char_level=True), STANDARD)
    client.close()
    again = MilvusClient(uri)
    try:
        rows = {r["id"]: r["mh"][0] for r in again.query("c", "id >= 0", output_fields=["mh"])}
        assert all(rows[i] == expected[i].tobytes() for i in range(20))
        assert rows[20] == rows[0]
        hits = again.search("c", [texts[0]], anns_field="mh", limit=3, search_params=EXACT)[0]
        assert {h["id"] for h in hits[:2]} == {0, 20} and hits[0]["distance"] == 1.0
        again.drop_function_field("c", "mhf")
        assert "mh" not in {f["name"] for f in again.describe_collection("c")["fields"]}
    finally:
        again.close()


def test_async_client_searches_by_text(uri: str) -> None:
    async def run() -> list[Any]:
        client = AsyncMilvusClient(uri)
        schema = _fn_schema(client)
        await client.create_collection("c", schema=schema, index_params=_mh_index(client))
        await client.insert("c", [{"id": i, "text": t, "tag": 0} for i, t in enumerate(_docs(9))])
        calls = [client.search("c", [t], anns_field="mh", limit=1, search_params=EXACT)
                 for t in _docs(9)]  # fmt: skip
        out = await asyncio.gather(*calls)
        await client.close()
        return out

    results = asyncio.run(run())
    assert [r[0][0]["distance"] for r in results] == [1.0] * 9


# ---------------------------------------------------------------- MHJACCARD on raw signatures


def _sig_schema(client: MilvusClient, dim: int) -> Any:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("sig", DataType.BINARY_VECTOR, dim=dim)
    return s


def test_mhjaccard_equals_datasketch_jaccard(client: MilvusClient) -> None:
    """The MINHASH_LSH guide's own recipe: datasketch signatures, 64-bit hashes."""
    texts = _docs(80, seed=5)

    def sign(text: str) -> MinHash:
        m = MinHash(num_perm=64)
        for token in text.lower().split():
            m.update(token.encode())
        return m

    sketches = [sign(t) for t in texts]
    ip = client.prepare_index_params()
    params = {"mh_element_bit_width": 64, "mh_lsh_band": 16, "with_raw_data": True}
    ip.add_index("sig", index_type="MINHASH_LSH", metric_type="MHJACCARD", params=params)
    client.create_collection("c", schema=_sig_schema(client, 64 * 64), index_params=ip)
    client.insert("c", [{"id": i, "sig": m.hashvalues.astype(">u8").tobytes()}
                        for i, m in enumerate(sketches)])  # fmt: skip
    for qi in (0, 17, 42):
        query = sketches[qi].hashvalues.astype(">u8").tobytes()
        hits = client.search("c", [query], limit=12, search_params={
            "metric_type": "MHJACCARD", "params": {"mh_search_with_jaccard": True, "refine_k": 30}
        })[0]  # fmt: skip
        truth = np.array([sketches[qi].jaccard(m) for m in sketches])
        order = sorted(np.flatnonzero(truth > 0), key=lambda i: (-truth[i], i))[:12]
        assert [h["id"] for h in hits] == order
        assert [h["distance"] for h in hits] == pytest.approx(truth[order].tolist())


@pytest.mark.parametrize("width", [8, 16, 24, 32, 64])
@pytest.mark.parametrize("band", [1, 3, 8, 100])
def test_lsh_hits_and_shares_for_each_hash_width(
    client: MilvusClient, width: int, band: int
) -> None:
    rng = np.random.default_rng(width + band)
    length = 12
    sigs = rng.integers(0, 4, size=(200, length * width // 8), dtype=np.uint8)
    query = sigs[7].copy()
    ip = client.prepare_index_params()
    ip.add_index("sig", index_type="MINHASH_LSH", metric_type="MHJACCARD",
                 params={"mh_element_bit_width": width, "mh_lsh_band": band})  # fmt: skip
    client.create_collection("c", schema=_sig_schema(client, length * width), index_params=ip)
    client.insert("c", [{"id": 1000 + i, "sig": s.tobytes()} for i, s in enumerate(sigs)])
    elems = sigs.reshape(200, length, width // 8)
    equal = (elems == query.reshape(length, width // 8)).all(axis=2)
    b = min(band, length)
    r = length // b
    hit = [any(equal[i, j * r : (j + 1) * r].all() for j in range(b)) for i in range(200)]
    lsh = client.search("c", [query.tobytes()], limit=15)[0]
    assert [h["id"] - 1000 for h in lsh] == [i for i in range(200) if hit[i]][:15]
    assert all(h["distance"] == 1.0 for h in lsh)
    text_flag = {"params": {"mh_search_with_jaccard": "true"}}
    exact = client.search("c", [query.tobytes()], limit=15, search_params=text_flag)[0]
    share = equal.mean(axis=1)
    best = sorted(np.flatnonzero(share > 0), key=lambda i: (-share[i], i))[:15]
    assert [h["id"] - 1000 for h in exact] == best
    assert [h["distance"] for h in exact] == pytest.approx(share[best].tolist())


def test_index_rules_for_minhash(client: MilvusClient) -> None:
    client.create_collection("c", schema=_sig_schema(client, 128))
    bad = [
        ("MINHASH_LSH", "HAMMING", {}, "does not support metric type: HAMMING"),
        ("BIN_IVF_FLAT", "MHJACCARD", {"nlist": 8}, "does not support metric type: MHJACCARD"),
        ("MINHASH_LSH", "MHJACCARD", {"mh_element_bit_width": 12}, "mh_element_bit_width 12"),
        ("BIN_FLAT", "MHJACCARD", {"mh_element_bit_width": 256}, "mh_element_bit_width 256"),
    ]
    for index_type, metric, params, message in bad:
        ip = client.prepare_index_params()
        ip.add_index("sig", index_type=index_type, metric_type=metric, params=params)
        with pytest.raises(MilvusException, match=message):
            client.create_index("c", ip)
    ip = client.prepare_index_params()
    ip.add_index("sig", index_type="BIN_FLAT", metric_type="MHJACCARD")
    client.create_index("c", ip)
    client.load_collection("c")
    client.insert("c", [{"id": 0, "sig": bytes(range(16))}, {"id": 1, "sig": bytes(16)}])
    hits = client.search("c", [bytes(range(16))], limit=5, search_params=EXACT)[0]
    assert [(h["id"], h["distance"]) for h in hits] == [(0, 1.0), (1, 1 / 16)]  # 8-bit hashes
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    ip = client.prepare_index_params()
    ip.add_index("v", index_type="MINHASH_LSH", metric_type="MHJACCARD")
    with pytest.raises(MilvusException, match="invalid index type: MINHASH_LSH"):
        client.create_collection("f", schema=s, index_params=ip)


def test_signatures_replay_from_the_log(client: MilvusClient, uri: str, h: Any) -> None:
    """Rows and a MINHASH function added only in the write-ahead log (no checkpoint)."""
    client.create_collection("c", schema=_fn_schema(client), index_params=_mh_index(client))
    client.insert("c", [{"id": 0, "text": "alpha beta gamma delta", "tag": 0}])
    client.close()
    h.exit_without_closing(
        uri,
        "from pymilvus import Function, FunctionType",
        'c.insert("c", [{"id": 1, "text": "beta gamma delta epsilon", "tag": 1}])',
        'f = c.create_field_schema("mh2", DataType.BINARY_VECTOR, dim=128)',
        'fn = Function("m2", FunctionType.MINHASH, ["text"], ["mh2"], params={"seed": 5})',
        "ip = c.prepare_index_params()",
        'ip.add_index("mh2", index_type="MINHASH_LSH", metric_type="MHJACCARD")',
        'c.add_function_field("c", f, fn, ip)',
    )
    again = MilvusClient(uri)
    try:
        rows = again.query("c", "id >= 0", output_fields=["mh", "mh2"])
        texts = ["alpha beta gamma delta", "beta gamma delta epsilon"]
        mh = minhash.signatures(texts, _params(num_hashes=16), STANDARD)
        mh2 = minhash.signatures(texts, _params(num_hashes=4, seed=5), STANDARD)
        for r in rows:
            assert r["mh"][0] == mh[r["id"]].tobytes() and r["mh2"][0] == mh2[r["id"]].tobytes()
    finally:
        again.close()
