"""Benchmark data: seeded synthetic sets, the sparse/hybrid set, and their exact truth.

Every dense set is float32 with unit-length rows and queries, searched with IP (so IP is
cosine); queries are never rows of the base. Each row also carries ``cat``, uniform in
[0, 1000), so ``cat < 1000 * s`` passes a fraction ``s`` of the rows (filtered search).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from gpu_milvus.benchmarks.metrics import Truth, exact_truth
from gpu_milvus.benchmarks.progress import bar

CAT_RANGE = 1000
TRUTH_MARGIN = 16  # extra exact neighbours kept beyond k, for tie-aware recall


class DatasetUnavailable(RuntimeError):
    """A data set cannot be built here (a package is missing); the message says why."""


@dataclass
class Dataset:
    """Base rows, held-out queries and their float64 exact top-k."""

    name: str
    base: np.ndarray  # (rows, dim) float32, unit rows
    queries: np.ndarray  # (nq, dim) float32, unit rows
    source: str
    meta: dict[str, Any] = field(default_factory=dict)
    cats: np.ndarray | None = None
    truth: Truth | None = None

    @property
    def rows(self) -> int:
        return int(self.base.shape[0])

    @property
    def dim(self) -> int:
        return int(self.base.shape[1])

    def describe(self) -> dict[str, Any]:
        """The JSON entry for this data set."""
        return {
            "rows": self.rows,
            "dim": self.dim,
            "queries": int(self.queries.shape[0]),
            "metric": "IP",
            "normalised": True,
            "source": self.source,
            **self.meta,
        }


def normalised(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, float32 (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1)


def gaussian(rows: int, dim: int, nq: int, seed: int) -> Dataset:
    """Standard-normal vectors, normalised: the hardest case for ANN, plain for brute force."""
    rng = np.random.default_rng(seed)
    base = normalised(rng.standard_normal((rows, dim), dtype=np.float32))
    queries = normalised(rng.standard_normal((nq, dim), dtype=np.float32))
    src = "synthetic: standard normal, L2-normalised"
    return Dataset("gaussian", base, queries, src, {"seed": seed}, _cats(rng, rows))


def clustered(rows: int, dim: int, nq: int, seed: int, clusters: int = 64) -> Dataset:
    """A Gaussian mixture on the sphere: ``clusters`` random centres, noise of norm ~0.5."""
    rng = np.random.default_rng(seed)
    centres = normalised(rng.standard_normal((clusters, dim), dtype=np.float32))

    def draw(n: int) -> np.ndarray:
        noise = rng.standard_normal((n, dim), dtype=np.float32) * np.float32(0.5 / np.sqrt(dim))
        return normalised(centres[rng.integers(0, clusters, n)] + noise)

    base, queries = draw(rows), draw(nq)
    src = f"synthetic: {clusters} Gaussian clusters on the unit sphere (noise norm ~0.5)"
    meta = {"seed": seed, "clusters": clusters}
    return Dataset("clustered", base, queries, src, meta, _cats(rng, rows))


def vocabulary(rng: np.random.Generator, marker: str, size: int = 2000) -> list[str]:
    """Random lowercase words for text filters: 1 % contain ``marker``, the rest do not."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words: list[str] = []
    while len(words) < size:
        w = "".join(rng.choice(letters, size=int(rng.integers(3, 10))))
        if marker not in w:
            words.append(w)
    for i in rng.choice(size, size=size // 100, replace=False):
        words[int(i)] = words[int(i)][:3] + marker + words[int(i)][3:]
    return words


def _cats(rng: np.random.Generator, rows: int) -> np.ndarray:
    return rng.integers(0, CAT_RANGE, size=rows, dtype=np.int64)


def with_cats(ds: Dataset, seed: int) -> Dataset:
    """Give ``ds`` a seeded ``cat`` column if it has none (real data sets)."""
    if ds.cats is None:
        ds.cats = _cats(np.random.default_rng(seed + 7), ds.rows)
    return ds


def attach_truth(ds: Dataset, k: int) -> Dataset:
    """Compute the float64 exact top-(k + margin) of every query (progress bar)."""
    kt = min(ds.rows, k + TRUTH_MARGIN)
    with bar(len(ds.queries), f"{ds.name}: float64 ground truth", "q") as b:
        ds.truth = exact_truth(ds.base, ds.queries, kt, on_chunk=b.update)
    return ds


def filter_truth(ds: Dataset, rows: np.ndarray, selectivity: float, k: int) -> Truth:
    """Exact top-k of the queries ``rows`` among the rows with ``cat < 1000 * selectivity``."""
    assert ds.cats is not None
    mask = ds.cats < round(CAT_RANGE * selectivity)
    return exact_truth(ds.base, ds.queries[rows], min(ds.rows, k + TRUTH_MARGIN), mask=mask)


def filter_expr(selectivity: float) -> str:
    """The Milvus filter that passes ``selectivity`` of the rows."""
    return f"cat < {round(CAT_RANGE * selectivity)}"


@dataclass
class SparseSet:
    """SPLADE-like sparse rows (Zipf term ids) with a dense vector per row, for hybrid search."""

    base: sp.csr_matrix  # (rows, vocab) float32
    queries: sp.csr_matrix  # (nq, vocab) float32
    dense: np.ndarray  # (rows, dim) float32 unit
    dense_queries: np.ndarray  # (nq, dim) float32 unit
    meta: dict[str, Any]

    @property
    def rows(self) -> int:
        return int(self.base.shape[0])

    def row_dicts(self, start: int, stop: int) -> list[dict[int, float]]:
        """Sparse rows ``start:stop`` as ``{term: weight}`` dicts (pymilvus's sparse form)."""
        return csr_dicts(self.base[start:stop])


def csr_dicts(m: sp.csr_matrix) -> list[dict[int, float]]:
    """Each CSR row as a ``{column: value}`` dict."""
    ind, val, ptr = m.indices.tolist(), m.data.tolist(), m.indptr.tolist()
    return [dict(zip(ind[a:b], val[a:b], strict=True)) for a, b in itertools.pairwise(ptr)]


def _zipf_csr(rng: np.random.Generator, n: int, vocab: int, nnz: int) -> sp.csr_matrix:
    cols = np.minimum(rng.zipf(1.2, n * nnz) - 1, vocab - 1).astype(np.int32)
    vals = (0.01 + 0.99 * rng.random(n * nnz)).astype(np.float32)
    m = sp.csr_matrix((vals, cols, np.arange(0, n * nnz + 1, nnz)), shape=(n, vocab))
    m.sum_duplicates()
    m.sort_indices()
    return m


def sparse_set(
    rows: int, nq: int, seed: int, dim: int, vocab: int = 30522, nnz: int = 64, q_nnz: int = 16
) -> SparseSet:
    """Sparse rows with ~``nnz`` distinct terms (Zipf 1.2 over ``vocab``), plus dense vectors."""
    rng = np.random.default_rng(seed)
    base, queries = _zipf_csr(rng, rows, vocab, nnz), _zipf_csr(rng, nq, vocab, q_nnz)
    dense = normalised(rng.standard_normal((rows, dim), dtype=np.float32))
    dq = normalised(rng.standard_normal((nq, dim), dtype=np.float32))
    meta = {
        "rows": rows,
        "queries": nq,
        "vocab": vocab,
        "nnz_drawn": nnz,
        "mean_nnz": float(base.getnnz(axis=1).mean()),
        "query_nnz_drawn": q_nnz,
        "term_ids": "Zipf(1.2), duplicates summed",
        "weights": "uniform [0.01, 1)",
        "dense_dim": dim,
        "seed": seed,
    }
    return SparseSet(base, queries, dense, dq, meta)
