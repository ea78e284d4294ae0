"""Full-text search's analyzer and term vectors (the BM25 function's input side).

The "standard" analyzer lowercases the text and keeps each run of word characters as a
token; a token's dimension is its UTF-8 bytes' 32-bit FNV-1a hash, and a document's BM25
vector holds each dimension's term frequency. This is what milvus-lite 3.2.2 stores for a
BM25 output field (checked token by token in tests/congruence/test_full_text.py).
"""

from __future__ import annotations

import functools
import json
import re
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from gpu_milvus import errors

_TOKEN = re.compile(r"\w+")
_FNV_OFFSET, _FNV_PRIME = 0x811C9DC5, 0x01000193


def check_analyzer(field: str, params: dict[str, Any]) -> None:
    """Only the standard analyzer (the default) is available here."""
    raw = params.get("analyzer_params")
    if raw is None:
        return
    conf = json.loads(raw) if isinstance(raw, str) else dict(raw)
    if conf not in ({"type": "standard"}, {"tokenizer": "standard", "filter": ["lowercase"]}):
        raise errors.invalid(
            f"analyzer_params {conf} of field {field} are not supported by gpu_milvus: only "
            "the standard analyzer is"
        )


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def analyze(text: str) -> list[tuple[str, int, int]]:
    """``tokens(text)`` with each token's UTF-8 byte offsets in ``text`` (in the lowercased
    text where lowercasing changed its length, e.g. 'İ')."""
    lowered = text.lower()
    source = text if len(lowered) == len(text) else lowered
    out, at, byte = [], 0, 0
    for m in _TOKEN.finditer(lowered):
        byte += len(source[at : m.start()].encode())
        end = byte + len(source[m.start() : m.end()].encode())
        out.append((m.group(), byte, end))
        at, byte = m.end(), end
    return out


def server_hash(token: str) -> int:
    """The hash Milvus's RunAnalyzer reports (typeutil.HashString2LessUint32): the CRC-32
    (IEEE) of the token's first 100 bytes, modulo 2^32 - 1."""
    return zlib.crc32(token.encode()[:100]) % 0xFFFFFFFF


@functools.lru_cache(maxsize=1 << 18)  # words repeat: most tokens are hashed once
def term_id(token: str) -> int:
    h = _FNV_OFFSET
    for byte in token.encode():
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def term_vectors(texts: Sequence[str | None]) -> sp.csr_matrix:
    """One row of term frequencies per text, dimensions sorted, float32."""
    per_text = [[term_id(t) for t in tokens(text)] if text else [] for text in texts]
    lengths = np.fromiter(map(len, per_text), dtype=np.int64, count=len(texts))
    dims = np.fromiter((d for ids in per_text for d in ids), dtype=np.int64, count=lengths.sum())
    rows = np.repeat(np.arange(len(texts)), lengths)
    width = int(dims.max(initial=0)) + 1
    ones = np.ones(len(dims), np.float32)
    counts = sp.csr_matrix((ones, (rows, dims)), shape=(len(texts), width))
    counts.sum_duplicates()
    return counts
