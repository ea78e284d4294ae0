"""The CPU backend's sparse inner-product search (inverted index plus a directly scored tail)
against a NumPy float64 brute force: growth between searches, wider dimensions arriving
later, filters (shared and per query), range bounds and k beyond the candidates."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from gpu_milvus.engine.cpu import CpuBackend


def _block(
    rng: np.random.Generator, rows: int, width: int, nnz: int, uniform: bool = False
) -> sp.csr_matrix:
    """Zipf-skewed columns counted down from the newest dimensions (or uniform ones)."""
    skewed = width - np.minimum(rng.zipf(1.3, rows * nnz), width)
    cols = rng.integers(0, width, rows * nnz) if uniform else skewed
    values = rng.uniform(0.01, 1.0, rows * nnz).astype(np.float32)
    m = sp.csr_matrix((values, cols, np.arange(0, rows * nnz + 1, nnz)), shape=(rows, width))
    m.sum_duplicates()
    return m


Bounds = tuple[float | None, float | None]


def _check(
    got: tuple[np.ndarray, np.ndarray], dense: np.ndarray, q: sp.csr_matrix, k: int,
    valid: np.ndarray | None, bounds: Bounds,
) -> None:  # fmt: skip
    rows, scores = got
    qd = q.toarray().astype(np.float64)
    width = max(qd.shape[1], dense.shape[1])
    qd = np.pad(qd, ((0, 0), (0, width - qd.shape[1])))
    xd = np.pad(dense, ((0, 0), (0, width - dense.shape[1])))
    ref = qd @ xd.T
    shares = (qd != 0).astype(np.int64) @ (xd != 0).astype(np.int64).T > 0  # candidates
    for i in range(len(qd)):
        ok = shares[i].copy()
        if valid is not None:
            ok &= valid[i] if valid.ndim == 2 else valid
        if bounds[0] is not None:
            ok &= ref[i] > bounds[0]
        if bounds[1] is not None:
            ok &= ref[i] <= bounds[1]
        want = min(k, int(ok.sum()))
        hit = rows[i][rows[i] >= 0]
        assert len(hit) == want
        assert np.all(ok[hit])
        np.testing.assert_allclose(scores[i][: len(hit)], ref[i][hit], rtol=1e-5, atol=1e-5)
        assert np.all(np.diff(scores[i][: len(hit)]) <= 1e-6)  # best first
        if want:
            kth = np.sort(ref[i][ok])[::-1][want - 1]
            assert ref[i][hit].min() >= kth - 1e-5  # no better row left out (ties tolerated)


@pytest.mark.parametrize("seed", range(4))
def test_sparse_search_matches_float64_through_growth(seed: int) -> None:
    rng = np.random.default_rng(seed)
    backend = CpuBackend()
    store = backend.sparse_store()
    blocks: list[sp.csr_matrix] = []
    width = 60
    for step in range(6):
        rows = int(rng.integers(1, 400)) if step else 500
        width += int(rng.integers(0, 25))  # later rows may use dimensions never seen before
        blocks.append(_block(rng, rows, width, int(rng.integers(2, 12))))
        store.append(blocks[-1])
        n = sum(b.shape[0] for b in blocks)
        dense = np.zeros((n, width))
        at = 0
        for b in blocks:
            dense[at : at + b.shape[0], : b.shape[1]] = b.toarray()
            at += b.shape[0]
        nq = int(rng.integers(1, 6))
        q = _block(rng, nq, width + 5, 6, uniform=True)
        k = int(rng.choice([1, 5, 50, 2000]))
        shared = rng.random(n) < 0.6
        per_query = rng.random((nq, n)) < 0.5
        for valid in (None, shared, per_query):
            for bounds in ((None, None), (0.2, None), (0.1, 0.9)):
                got = backend.search_sparse(store, q, k, valid, bounds)
                _check(got, dense, q, k, valid, bounds)


def test_the_inverted_index_is_rebuilt_once_the_tail_grows() -> None:
    rng = np.random.default_rng(7)
    store = CpuBackend().sparse_store()
    store.append(_block(rng, 800, 40, 6))
    terms, first, covered = store.inverted()
    assert covered == 800 and first.shape == (len(terms), 800) and terms.max() < 40
    store.append(_block(rng, 100, 40, 6))  # 100 / 900 <= 1/8: the tail is scored directly
    assert store.inverted()[1] is first
    store.append(_block(rng, 50, 50, 6))  # 150 / 950 > 1/8: rebuilt over every row
    terms, rebuilt, covered = store.inverted()
    assert covered == 950 and rebuilt.shape == (len(terms), 950) and terms.max() >= 40


def test_dimensions_near_two_to_the_32_are_searched_without_a_table_that_wide() -> None:
    """Milvus's sparse dimensions reach 2^32 - 2: the inverted index numbers only the ones
    present (a transposed CSR with a row per dimension wanted 32 GiB here)."""
    backend = CpuBackend()
    store = backend.sparse_store()
    top = 2**32 - 2
    store.append(sp.csr_matrix(([1.0, 0.5, 2.0], [top, 5, top - 1], [0, 2, 3]), shape=(2, top + 1)))
    store.inverted()
    store.append(sp.csr_matrix(([3.0], [top], [0, 1]), shape=(1, top + 1)))  # the tail
    q = sp.csr_matrix(([1.0, 1.0], [5, top], [0, 2]), shape=(1, top + 1))
    rows, scores = backend.search_sparse(store, q, 5, None)
    assert rows[0].tolist() == [2, 0] and scores[0].tolist() == [3.0, 1.5]


def test_equal_scores_go_to_lower_rows_even_at_the_cut() -> None:
    backend = CpuBackend()
    store = backend.sparse_store()
    same = sp.csr_matrix(([0.5, 0.25], [3, 7], [0, 2]), shape=(1, 10))
    better = sp.csr_matrix(([0.9], [3], [0, 1]), shape=(1, 10))
    rows = [same] * 40 + [better] + [same] * 40
    store.append(sp.vstack(rows[:60], format="csr"))
    q = sp.csr_matrix(([1.0, 1.0], [3, 7], [0, 2]), shape=(1, 10))
    backend.search_sparse(store, q, 5, None)  # builds the inverted index over 60 rows
    store.append(sp.vstack(rows[60:], format="csr"))  # 21 newer rows: scored directly
    got_rows, got_scores = backend.search_sparse(store, q, 5, None)
    assert got_rows[0].tolist() == [40, 0, 1, 2, 3]  # row 40 scores 0.9, every other 0.75
    np.testing.assert_allclose(got_scores[0], [0.9, 0.75, 0.75, 0.75, 0.75], rtol=1e-6)
    rows_all, _ = backend.search_sparse(store, q, 100, None)
    assert rows_all[0].tolist() == [40, *range(40), *range(41, 81)]
