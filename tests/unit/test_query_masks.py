"""Per-query masks held once per distinct filter (``QueryMasks``)."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_milvus.engine.backend import QueryMasks
from gpu_milvus.engine.cpu import CpuBackend


def test_indexing_matches_the_full_array() -> None:
    rng = np.random.default_rng(1)
    table = rng.random((4, 50)) < 0.5
    index = np.array([3, 0, 0, 2, 3, 1])
    full = table[index]
    masks = QueryMasks(table, index)
    assert masks.shape == full.shape and masks.ndim == 2
    np.testing.assert_array_equal(masks[:, 10:30], full[:, 10:30])
    rows = np.array([49, 0, 7])
    for i in range(len(index)):
        np.testing.assert_array_equal(masks[i, rows], full[i, rows])


@pytest.mark.parametrize("metric", ["IP", "L2", "COSINE"])
def test_cpu_backend_reads_them_as_the_full_array(metric: str) -> None:
    rng = np.random.default_rng(2)
    cpu = CpuBackend()
    store = cpu.dense_store(8)
    store.append(rng.standard_normal((3000, 8)).astype(np.float32))
    q = rng.standard_normal((10, 8)).astype(np.float32)
    table = rng.random((3, 3000)) < np.array([[0.3], [0.01], [1.0]])
    index = rng.integers(0, 3, 10)
    want = cpu.search_dense(store, q, metric, 12, table[index])
    got = cpu.search_dense(store, q, metric, 12, QueryMasks(table, index))
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_cpu_sparse_search_reads_them_as_the_full_array() -> None:
    import scipy.sparse as sp

    rng = np.random.default_rng(3)
    cpu = CpuBackend()
    store = cpu.sparse_store()
    data = sp.random(2000, 300, density=0.05, format="csr", dtype=np.float32, random_state=rng)
    store.append(data)
    q = sp.csr_matrix(data[rng.integers(0, 2000, 6)])
    table = rng.random((2, 2000)) < np.array([[0.5], [0.1]])
    index = np.array([1, 0, 1, 1, 0, 0])
    want = cpu.search_sparse(store, q, 9, table[index])
    got = cpu.search_sparse(store, q, 9, QueryMasks(table, index))
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
