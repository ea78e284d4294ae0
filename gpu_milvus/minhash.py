"""The MinHash function: text in, a MinHash signature (a BINARY_VECTOR) out.

As Milvus's ``MinHashFunctionRunner`` and segcore's ``MinHashComputer``: the text becomes
shingles (``shingle_size`` consecutive analyzer tokens joined without a separator, or
``shingle_size``-byte windows of its UTF-8 at ``token_level="char"``); each shingle's base
hash is the low 32 bits of XXH3-64 (or the first four SHA-1 bytes); hash ``i`` of a shingle
is ``(a_i * base + b_i) mod 2^64`` reduced modulo the Mersenne prime 2^61 - 1, low 32 bits;
the signature keeps each hash's minimum, written as little-endian uint32s. The ``(a, b)``
pairs are the raw outputs of ``std::mt19937_64(seed)``. A text without shingles has every
hash 0xFFFFFFFF.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import xxhash
from pymilvus import DataType
from pymilvus.grpc_gen.schema_pb2 import DataType as ProtoDataType

from gpu_milvus import errors
from gpu_milvus.text import Analyzer

MERSENNE_PRIME = (1 << 61) - 1
_MASK64 = (1 << 64) - 1
_CELLS = 1 << 22  # shingles x hashes computed at once
DEFAULT_SEED = 1234
DEFAULT_SHINGLE_SIZE = 3


@dataclass(frozen=True)
class MinHashParams:
    """A MinHash function's checked parameters."""

    num_hashes: int
    shingle_size: int = DEFAULT_SHINGLE_SIZE
    sha1: bool = False  # else XXH3
    char_level: bool = False  # else word tokens from the input field's analyzer
    seed: int = DEFAULT_SEED


def mt19937_64(seed: int, count: int) -> list[int]:
    """The first ``count`` outputs of C++'s ``std::mt19937_64`` seeded with ``seed``."""
    n, m = 312, 156
    state = [seed & _MASK64]
    for i in range(1, n):
        prev = state[-1]
        state.append((6364136223846793005 * (prev ^ (prev >> 62)) + i) & _MASK64)
    out: list[int] = []
    index = n
    upper, lower = _MASK64 ^ ((1 << 31) - 1), (1 << 31) - 1
    while len(out) < count:
        if index == n:
            for i in range(n):
                x = (state[i] & upper) | (state[(i + 1) % n] & lower)
                state[i] = state[(i + m) % n] ^ (x >> 1) ^ (0xB5026F5AA96619E9 if x & 1 else 0)
            index = 0
        y = state[index]
        index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        out.append(y & _MASK64)
    return out


@functools.cache
def permutations(num_hashes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """segcore's ``InitPermutations``: per hash, ``a`` in [1, p) and ``b`` in [0, p)."""
    raw = mt19937_64(seed, 2 * num_hashes)
    a = np.array([v % (MERSENNE_PRIME - 1) + 1 for v in raw[0::2]], dtype=np.uint64)
    b = np.array([v % MERSENNE_PRIME for v in raw[1::2]], dtype=np.uint64)
    return a, b


def base_hash(shingle: bytes, sha1: bool) -> int:
    """A shingle's 64-bit base hash. The SHA-1 one is segcore's int arithmetic: its four
    little-endian bytes as a signed int, widened with its sign to 64 bits."""
    if not sha1:
        return xxhash.xxh3_64_intdigest(shingle) & 0xFFFFFFFF
    low = int.from_bytes(hashlib.sha1(shingle).digest()[:4], "little")
    return low | 0xFFFFFFFF00000000 if low >= 1 << 31 else low


def shingles(text: str, params: MinHashParams, analyzer: Analyzer) -> list[bytes]:
    """The text's shingles as bytes (none for an empty text or one without tokens)."""
    size = params.shingle_size
    if params.char_level:
        raw = text.encode()
        if len(raw) <= size:
            return [raw] if raw else []
        return [raw[i : i + size] for i in range(len(raw) - size + 1)]
    tokens = [t.encode() for t in analyzer.tokens(text)]
    if len(tokens) <= size:
        return [b"".join(tokens)] if tokens else []
    return [b"".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)]


def min_hashes(bases: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Each hash's minimum over the base hashes (uint32, 0xFFFFFFFF for none), in segcore's
    wrapping uint64 arithmetic and its fast Mersenne reduction."""
    out = np.full(len(a), 0xFFFFFFFF, dtype=np.uint32)
    p = np.uint64(MERSENNE_PRIME)
    step = max(1, _CELLS // max(1, len(a)))
    for s in range(0, len(bases), step):  # in place: a document's cells stay in cache
        with np.errstate(over="ignore"):
            t = np.multiply.outer(bases[s : s + step], a)
            t += b
        high = t >> np.uint64(61)
        t &= p
        t += high
        t[t >= p] -= p
        np.minimum(out, t.astype(np.uint32).min(axis=0), out=out)  # the low 32 bits
    return out


def signatures(texts: list[Any], params: MinHashParams, analyzer: Analyzer) -> np.ndarray:
    """The packed signatures of ``texts`` (None reads as ""): uint8 rows of 4 bytes a hash."""
    a, b = permutations(params.num_hashes, params.seed)
    out = np.empty((len(texts), params.num_hashes), dtype="<u4")
    for i, text in enumerate(texts):
        found = shingles(text or "", params, analyzer)
        bases = np.array([base_hash(s, params.sha1) for s in found], dtype=np.uint64)
        out[i] = min_hashes(bases, a, b)
    return out.view(np.uint8).reshape(len(texts), 4 * params.num_hashes)


def _int_param(key: str, value: Any, positive: bool) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise errors.invalid(f"param {key}:{value} is not a number: invalid parameter") from None
    if positive and number <= 0:
        raise errors.invalid(f"param {key}:{number} must be positive: invalid parameter")
    return number


def parse_params(params: dict[str, Any], dim: int, output: str) -> MinHashParams:
    """The function's params checked as ``ValidateMinHashFunction`` does (keys in any case);
    ``num_hashes`` defaults to the output field's ``dim / 32``."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        key, text = str(key).lower(), str(value).strip().lower()
        if key in ("num_hashes", "shingle_size"):
            out[key] = _int_param(key, value, positive=True)
        elif key == "hash_function":
            if text not in ("xxhash", "xxhash64", "sha1"):
                raise errors.invalid(
                    f"unknown hash function: {value} (expected 'xxhash64' or 'sha1'): "
                    "invalid parameter"
                )
            out["sha1"] = text == "sha1"
        elif key == "token_level":
            if text not in ("char", "character", "word"):
                raise errors.invalid(
                    f"unknown token_level: {value} (expected 'char' or 'word'): invalid parameter"
                )
            out["char_level"] = text != "word"
        elif key == "seed":
            out["seed"] = _int_param(key, value, positive=False)
    if "num_hashes" in out and dim != 32 * out["num_hashes"]:
        raise errors.invalid(
            f"minhash function output field '{output}' dim {dim} does not match expected dim "
            f"{32 * out['num_hashes']} (numHashes {out['num_hashes']} * one minhash signature "
            "size of 32bit): invalid parameter"
        )
    if dim % 32 != 0:
        raise errors.invalid(
            f"minhash function output field '{output}' dim {dim} is not multiple of 32 (one "
            "minhash signature size): invalid parameter"
        )
    out.setdefault("num_hashes", dim // 32)
    return MinHashParams(**out)


def check_fields(source: Any, target: Any, inputs: list, outputs: list) -> None:
    """``ValidateMinHashFunction``'s field checks (``source`` / ``target``: the named
    FieldSpecs, or None)."""
    for kind, names in (("input", inputs), ("output", outputs)):
        if len(names) != 1:
            raise errors.invalid(
                f"minhash function should only have one {kind} field, but now {len(names)}: "
                "invalid parameter"
            )
    for kind, f, wanted in (("input", source, inputs[0]), ("output", target, outputs[0])):
        if f is None:
            raise errors.invalid(
                f"minhash function {kind} field '{wanted}' not found: invalid parameter"
            )
    if source.dtype != DataType.VARCHAR:
        raise errors.invalid(
            f"minhash function input field '{source.name}' is not string type, is "
            f"{ProtoDataType.Name(int(source.dtype))}: invalid parameter"
        )
    if target.dtype != DataType.BINARY_VECTOR:
        raise errors.invalid(
            f"minhash function output field '{target.name}' is not binary vector type: "
            "invalid parameter"
        )
