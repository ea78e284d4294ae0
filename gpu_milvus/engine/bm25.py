"""BM25 full-text search over a BM25 function's output field (term frequencies per row).

Scores as milvus-lite 3.2.2 does (fitted to its distances to 1e-7, see
tests/congruence/test_full_text.py, which gives both k1 = 1.5): for the query's terms t,
each counted q_t times,

    score(d) = sum_t q_t * idf_t * tf (k1 + 1) / (tf + k1 (1 - b + b |d| / avgdl)),
    idf_t = ln(1 + (N - df_t + 0.5) / (df_t + 0.5)),

with tf the term's count in row d, |d| the row's token count, and N, df_t and avgdl taken
over the collection's alive rows; k1 = 1.2 and b = 0.75 unless the index sets ``bm25_k1`` /
``bm25_b``: a server's defaults (its multi-language guide prints 2.7881 and 3.3814, which
k1 = 1.2 gives to the last digit; milvus-lite always scores with 1.5). Only rows sharing a
term with the query are hits. The score is a similarity, reported positive (milvus-lite
reports its negation). Runs on the host, whichever backend holds the rows (the GPU store
keeps host copies of its sparse rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from gpu_milvus.engine.cpu import Bounds, HostPostings, best_of_scores, no_hits, on_terms
from gpu_milvus.text import STANDARD, Analyzer, term_vectors

DEFAULT_K1, DEFAULT_B = 1.2, 0.75


class TextQueries(tuple):
    """Search data given as text: one query per string."""

    @property
    def shape(self) -> tuple[int]:
        return (len(self),)


def search(
    store: HostPostings,
    alive: np.ndarray,
    texts: Sequence[str],
    k: int,
    valid: Any,
    bounds: Bounds,
    params: dict[str, Any],
    analyzer: Analyzer = STANDARD,
) -> tuple[np.ndarray, np.ndarray]:
    """The k best rows and scores of each text query."""
    counts = term_vectors(texts, analyzer)  # each query's term counts
    terms = np.unique(counts.indices)
    n = len(store)
    alive = alive[:n]
    docs = int(alive.sum())
    if not len(terms) or docs == 0 or k <= 0:
        return no_hits(len(texts))
    k1 = float(params.get("bm25_k1", DEFAULT_K1))
    b = float(params.get("bm25_b", DEFAULT_B))
    lengths = store.row_sums()
    avgdl = float(lengths[alive].sum()) / docs
    postings = store.columns(terms)  # terms x rows, term frequencies
    term_of = np.repeat(np.arange(len(terms)), np.diff(postings.indptr))
    df = np.bincount(term_of[alive[postings.indices]], minlength=len(terms))
    idf = np.log(1 + (docs - df + 0.5) / (df + 0.5))
    tf = postings.data.astype(np.float64)
    norm = k1 * (1 - b + b * lengths[postings.indices] / max(avgdl, 1e-12))
    weights = sp.csr_matrix(
        (tf * (k1 + 1) / (tf + norm), postings.indices, postings.indptr), shape=postings.shape
    )
    query = on_terms(counts, terms).multiply(idf[None, :]).tocsr()
    return best_of_scores((query @ weights).tocsr(), k, valid, bounds)
