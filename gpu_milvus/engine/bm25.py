"""BM25 full-text search over a BM25 function's output field (term frequencies per row).

Scores as milvus-lite 3.2.2 does (fitted to its distances to 1e-7, see
tests/congruence/test_full_text.py): for the query's terms t, each counted q_t times,

    score(d) = sum_t q_t * idf_t * tf (k1 + 1) / (tf + k1 (1 - b + b |d| / avgdl)),
    idf_t = ln(1 + (N - df_t + 0.5) / (df_t + 0.5)),

with tf the term's count in row d, |d| the row's token count, and N, df_t and avgdl taken
over the collection's alive rows; k1 = 1.5 and b = 0.75 unless the index sets ``bm25_k1`` /
``bm25_b``. Only rows sharing a term with the query are hits. The score is a similarity,
reported positive (milvus-lite reports its negation). Runs on the host, whichever backend
holds the rows (the GPU store keeps host copies of its sparse rows).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from gpu_milvus.engine.cpu import Bounds, HostPostings, best_of_scores, no_hits
from gpu_milvus.text import term_counts

DEFAULT_K1, DEFAULT_B = 1.5, 0.75

_lengths: weakref.WeakKeyDictionary[Any, np.ndarray] = weakref.WeakKeyDictionary()
_lengths_lock = threading.Lock()


class TextQueries(tuple):
    """Search data given as text: one query per string."""

    @property
    def shape(self) -> tuple[int]:
        return (len(self),)


def _doc_lengths(store: HostPostings) -> np.ndarray:
    """Each row's token count (its term frequencies' sum), extended as rows are appended."""
    n = len(store)
    with _lengths_lock:
        known = _lengths.get(store, np.zeros(0))
        if len(known) < n:
            tail = np.asarray(store.matrix[len(known) :].sum(axis=1)).ravel()
            known = _lengths[store] = np.concatenate([known, tail])
    return known[:n]


def search(
    store: HostPostings,
    alive: np.ndarray,
    texts: Sequence[str],
    k: int,
    valid: Any,
    bounds: Bounds,
    params: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """The k best rows and scores of each text query."""
    counts = [term_counts(t) for t in texts]
    terms = np.unique(np.fromiter((t for c in counts for t in c), dtype=np.int64))
    n = len(store)
    alive = alive[:n]
    docs = int(alive.sum())
    if not len(terms) or docs == 0 or k <= 0:
        return no_hits(len(texts))
    k1 = float(params.get("bm25_k1", DEFAULT_K1))
    b = float(params.get("bm25_b", DEFAULT_B))
    lengths = _doc_lengths(store)
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
    position = {t: i for i, t in enumerate(terms.tolist())}
    query = sp.lil_matrix((len(texts), len(terms)))
    for i, c in enumerate(counts):
        for t, q in c.items():
            query[i, position[t]] = q * idf[position[t]]
    scores = (query.tocsr() @ weights).tocsr()
    return best_of_scores(scores, k, valid, bounds)
