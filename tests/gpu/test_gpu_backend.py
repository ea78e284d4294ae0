"""GPU backend vs the CPU reference: every kernel path, awkward sizes, masks, bounds."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from gpu_milvus.engine.cpu import CpuBackend

pytestmark = pytest.mark.gpu
METRICS = ("IP", "L2", "COSINE")


def _gpu():
    pytest.importorskip("cupy")
    import cupy

    from gpu_milvus.engine.gpu import GpuBackend

    # Poison the memory pool: freed NaN-filled blocks are what cupy.empty hands out next.
    junk = [cupy.full(1 << s, cupy.nan, dtype=cupy.float32) for s in range(8, 27, 2)]
    del junk
    return GpuBackend(0)


def _data(rng: np.random.Generator, n: int, d: int, nq: int) -> tuple[np.ndarray, np.ndarray]:
    return (
        rng.standard_normal((n, d)).astype(np.float32),
        rng.standard_normal((nq, d)).astype(np.float32),
    )


def _stores(x: np.ndarray, gpu):
    cpu = CpuBackend()
    cs, gs = cpu.dense_store(x.shape[1]), gpu.dense_store(x.shape[1])
    for part in np.array_split(x, 3):  # several appends exercise the growth path
        cs.append(part)
        gs.append(part)
    return cpu, cs, gs


def _check(ref: tuple[np.ndarray, np.ndarray], got: tuple[np.ndarray, np.ndarray], metric: str):
    """Same shape, same -1 padding, distances close, row sets equal up to ties at the k-th."""
    (r_rows, r_d), (g_rows, g_d) = ref, got
    assert g_rows.shape == r_rows.shape and g_d.shape == r_d.shape
    assert g_rows.dtype == np.int64 and g_d.dtype == np.float32
    np.testing.assert_array_equal(g_rows < 0, r_rows < 0)
    np.testing.assert_allclose(g_d, r_d, rtol=1e-4, atol=1e-4)
    larger = metric in ("IP", "COSINE")
    for i in range(len(r_rows)):
        a, b = set(r_rows[i][r_rows[i] >= 0]), set(g_rows[i][g_rows[i] >= 0])
        if a == b or not a:
            continue
        kth = r_d[i][r_rows[i] >= 0][-1]
        diff = a ^ b
        ok = np.isclose(r_d[i][np.isin(r_rows[i], list(diff))], kth, rtol=1e-4, atol=1e-4)
        ok2 = np.isclose(g_d[i][np.isin(g_rows[i], list(diff))], kth, rtol=1e-4, atol=1e-4)
        assert ok.all() and ok2.all(), (i, diff, larger)
    order = -g_d if larger else g_d
    valid = g_rows >= 0
    for i in range(len(g_rows)):
        o = order[i][valid[i]]
        assert (np.diff(o) >= -1e-6).all()


@pytest.mark.parametrize("path", ["block", "long", "long_overflow"])
@pytest.mark.parametrize("ids_kind", ["none", "shared", "per_query"])
def test_select_kernels(monkeypatch: pytest.MonkeyPatch, path: str, ids_kind: str) -> None:
    """Both top-k selections (one block per query; for long rows a 12-bit histogram, a filter
    to candidates and a block per query over them, or over the row when the candidates
    overflow their buffer) return exactly the k best keys of each row, ties at the k-th and
    -inf included, with the ids that belong to them; keys bunched (integers, many equal) and
    spread out (Gaussian scores)."""
    import cupy

    import gpu_milvus.engine.gpu as gpu_module

    monkeypatch.setattr(gpu_module, "_BLOCK_SELECT_MAX", 1 << 30 if path == "block" else 0)
    if path == "long_overflow":
        monkeypatch.setattr(gpu_module, "_CANDIDATES", 1)
    rng = np.random.default_rng()
    gpu = _gpu()
    cases = ((1, 1, 1), (3, 5000, 10), (5, 3000, 3000), (2, 70000, 700), (4, 9000, 100))
    for case, (nq, n, k) in enumerate(cases):
        if case % 2:
            keys = (rng.standard_normal((nq, n)) * 0.03).astype(np.float32)
        else:
            keys = rng.integers(-50, 50, (nq, n)).astype(np.float32)  # many equal keys
        keys[rng.random((nq, n)) < 0.2] = -np.inf
        ids = None  # ids: column + offset; else a permutation, shared or one per query
        if ids_kind == "shared":
            ids = rng.permutation(n).astype(np.int32)
        elif ids_kind == "per_query":
            ids = np.argsort(rng.random((nq, n)), axis=1).astype(np.int32)
        got_k, got_i = gpu.select(
            cupy.asarray(keys), k, None if ids is None else cupy.asarray(ids), 7
        )
        got_k, got_i = cupy.asnumpy(got_k), cupy.asnumpy(got_i)
        for q in range(nq):
            np.testing.assert_array_equal(np.sort(got_k[q]), np.sort(keys[q])[n - k :])
            if ids is None:
                cols = got_i[q] - 7
            else:
                row = ids if ids.ndim == 1 else ids[q]
                cols = np.array([np.flatnonzero(row == i)[0] for i in got_i[q]])
            assert len(set(cols.tolist())) == k
            np.testing.assert_array_equal(keys[q, cols], got_k[q])


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize(
    ("n", "d", "nq", "k"),
    [
        (1, 4, 1, 10),  # k > N
        (1000, 7, 1, 10),  # odd d (scalar loads)
        (5003, 64, 3, 10),  # N not a multiple of the block
        (5003, 64, 8, 256),  # fused, largest k
        (20011, 96, 16, 64),  # fused when allowed (NQ template 16)
        (20011, 96, 32, 64),  # fused when allowed, largest nq
        (4099, 32, 33, 10),  # GEMM path
        (3001, 48, 5, 300),  # small nq, k > 256: GEMM + radix select
        (20000, 16, 2, 16384),  # k = 16384
    ],
)
@pytest.mark.parametrize("fused_max_nq", [None, 32])  # the engine's switch; the kernel's limit
def test_dense_paths(
    monkeypatch: pytest.MonkeyPatch,
    metric: str,
    n: int,
    d: int,
    nq: int,
    k: int,
    fused_max_nq: int | None,
) -> None:
    if fused_max_nq is not None:
        import gpu_milvus.engine.gpu as gpu_module

        monkeypatch.setattr(gpu_module, "_FUSED_MAX_NQ", fused_max_nq)
    rng = np.random.default_rng()
    gpu = _gpu()
    x, q = _data(rng, n, d, nq)
    cpu, cs, gs = _stores(x, gpu)
    ref = cpu.search_dense(cs, q, metric, k, None)
    _check(ref, gpu.search_dense(gs, q, metric, k, None), metric)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize(
    ("scan_dtype", "one_row"), [("float32", False), ("float32", True), ("bfloat16", False)]
)
def test_fused_scan_many_rounds_per_block(
    monkeypatch: pytest.MonkeyPatch, metric: str, scan_dtype: str, one_row: bool
) -> None:
    """Two blocks of the fused scan, 10000 rows each, taken H at a time: the threshold, the
    candidate buffer and the re-sort between rounds all run, as they do on a GPU at a
    million rows (the other tests' sizes fit one round per block). Rows in rising order of
    their keys make every round bring new winners. Both warp layouts (ROWS rows per step,
    and one)."""
    import gpu_milvus.engine.gpu as gpu_module

    _gpu()
    monkeypatch.setattr(gpu_module, "resident_blocks", lambda *args: 2)
    monkeypatch.setattr(gpu_module, "_FUSED_ONE_ROW", one_row)
    gpu = gpu_module.GpuBackend(0, scan_dtype)
    gpu.sm_count = 1
    rng = np.random.default_rng()
    x, q = _data(rng, 20000, 24, 8)
    for rows in (x, x[np.argsort(x @ q[0])]):
        cpu = CpuBackend()
        cs, gs = cpu.dense_store(24), gpu.dense_store(24)
        cs.append(rows)
        gs.append(rows)
        shared, per_query = rng.random(len(rows)) < 0.6, rng.random((8, len(rows))) < 0.5
        for nq, k, valid in ((1, 1, None), (3, 10, shared), (8, 100, per_query)):
            assert gpu._fits_fused(nq, k) <= 256  # >= 39 rounds per block
            ref = cpu.search_dense(cs, q[:nq], metric, k, valid)
            _check(ref, gpu.search_dense(gs, q[:nq], metric, k, valid), metric)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("nq", [1, 4, 40])
@pytest.mark.parametrize("keep", [0.5, 0.1, 0.01, 0.0])
def test_dense_shared_mask(metric: str, nq: int, keep: float) -> None:
    rng = np.random.default_rng()
    gpu = _gpu()
    x, q = _data(rng, 7777, 32, nq)
    cpu, cs, gs = _stores(x, gpu)
    valid = rng.random(len(x)) < keep
    for k in (1, 10, 100):
        ref = cpu.search_dense(cs, q, metric, k, valid)
        _check(ref, gpu.search_dense(gs, q, metric, k, valid), metric)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("nq", [1, 6, 50])
def test_dense_per_query_mask(metric: str, nq: int) -> None:
    rng = np.random.default_rng()
    gpu = _gpu()
    x, q = _data(rng, 3000, 24, nq)
    cpu, cs, gs = _stores(x, gpu)
    valid = rng.random((nq, len(x))) < rng.random((nq, 1)) * 0.2
    valid[0] = False  # one query with everything filtered out
    for k in (5, 200):
        ref = cpu.search_dense(cs, q, metric, k, valid)
        _check(ref, gpu.search_dense(gs, q, metric, k, valid), metric)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("nq", [2, 64])
def test_dense_range_bounds(metric: str, nq: int) -> None:
    rng = np.random.default_rng()
    gpu = _gpu()
    x, q = _data(rng, 4000, 16, nq)
    cpu, cs, gs = _stores(x, gpu)
    ref_all = cpu.search_dense(cs, q, metric, 4000, None)[1]
    lo, hi = np.quantile(ref_all, [0.3, 0.4])
    # (radius, range_filter): IP/COSINE radius < d <= rf; L2 rf <= d < radius
    bounds = (float(hi), float(lo)) if metric == "L2" else (float(lo), float(hi))
    for k in (10, 500):
        ref = cpu.search_dense(cs, q, metric, k, None, bounds)
        _check(ref, gpu.search_dense(gs, q, metric, k, None, bounds), metric)


@pytest.mark.parametrize("metric", METRICS)
def test_dense_gemm_chunks_and_query_groups(monkeypatch: pytest.MonkeyPatch, metric: str) -> None:
    """A small score budget splits the GEMM path into column chunks and query groups, whose
    partial top-k lists are merged: the merge must keep global row numbers."""
    import gpu_milvus.engine.gpu as gpu_module

    monkeypatch.setattr(gpu_module, "_SCORE_BUDGET", 40 * 500)  # 500-row chunks
    monkeypatch.setattr(gpu_module, "_QUERY_GROUP", 40)  # 100 queries: 3 groups
    rng = np.random.default_rng()
    gpu = _gpu()
    x, q = _data(rng, 5003, 24, 100)
    cpu, cs, gs = _stores(x, gpu)
    masks = (None, rng.random(len(x)) < 0.3, rng.random((len(q), len(x))) < 0.5)
    for valid in masks:  # none, a selective shared one (gathered rows), per query
        for k in (10, 300):
            ref = cpu.search_dense(cs, q, metric, k, valid)
            _check(ref, gpu.search_dense(gs, q, metric, k, valid), metric)


def test_dense_append_from_the_device() -> None:
    """Rows already on the device are appended without a round trip, as host rows would be."""
    import cupy

    rng = np.random.default_rng()
    gpu = _gpu()
    x, q = _data(rng, 3000, 24, 3)
    cpu, cs, _ = _stores(x, gpu)
    gs = gpu.dense_store(24)
    for part in np.array_split(x, 4):
        gs.append(cupy.asarray(part))
    np.testing.assert_array_equal(gs.host_rows(0, 3000), x)
    _check(cpu.search_dense(cs, q, "L2", 10, None), gpu.search_dense(gs, q, "L2", 10, None), "L2")


def test_dense_empty_and_take() -> None:
    gpu = _gpu()
    gs = gpu.dense_store(8)
    rows, dist = gpu.search_dense(gs, np.ones((3, 8), np.float32), "IP", 10, None)
    assert rows.shape == (3, 0) and dist.shape == (3, 0)
    x = np.random.default_rng().standard_normal((100, 8)).astype(np.float32)
    gs.append(x)
    np.testing.assert_array_equal(gs.take(np.array([5, 0, 99])), x[[5, 0, 99]])
    assert gpu.search_dense(gs, x[:2], "L2", 0, None)[0].shape == (2, 0)


def _sparse(rng: np.random.Generator, n: int, width: int, nnz: int) -> sp.csr_matrix:
    m = sp.random(n, width, density=nnz / width, format="csr", dtype=np.float32, random_state=rng)
    m.data = rng.random(m.nnz).astype(np.float32) + 0.1
    return m


def _sparse_stores(cpu: CpuBackend, gpu, *blocks: sp.csr_matrix):
    """A CPU and a GPU sparse store holding the same blocks, appended in order."""
    cs, gs = cpu.sparse_store(), gpu.sparse_store()
    for block in blocks:
        cs.append(block)
        gs.append(block)
    return cs, gs


@pytest.mark.parametrize(
    ("n", "nq", "k"),
    [(1, 1, 10), (5000, 1, 10), (5000, 17, 100), (3000, 3, 5000), (3000, 40, 10)],
)
@pytest.mark.parametrize("width", [30522, 1 << 30])
def test_sparse(n: int, nq: int, k: int, width: int) -> None:
    rng = np.random.default_rng()
    gpu, cpu = _gpu(), CpuBackend()
    data = _sparse(rng, n, min(width, 30522), 40)
    data = sp.csr_matrix((data.data, data.indices * (width // 30522), data.indptr), (n, width))
    step = max(1, n // 3)
    cs, gs = _sparse_stores(cpu, gpu, *(data[lo : lo + step] for lo in range(0, n, step)))
    q = sp.csr_matrix(data[rng.integers(0, n, nq)])
    for valid in (None, rng.random(n) < 0.3, rng.random((nq, n)) < 0.5):
        for bounds in ((None, None), (0.5, None)):
            ref = cpu.search_sparse(cs, q, k, valid, bounds)
            got = gpu.search_sparse(gs, q, k, valid, bounds)
            _check(ref, got, "IP")
    assert (gs.take(np.array([0])) != cs.take(np.array([0]))).nnz == 0


@pytest.mark.parametrize("path", ["term", "doc"])
def test_sparse_term_parallel(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    """A few queries scored from the posting lists of their terms (forced), or by a scan of
    every row (forced): both give the CPU answer, with masks and range bounds; rows appended
    after the posting lists were built are scanned until they reach a quarter of the store,
    then the lists are rebuilt over all rows."""
    import gpu_milvus.engine.gpu_sparse as gpu_sparse

    if path == "term":
        monkeypatch.setattr(gpu_sparse, "_POSTING_COST", 0.0)
    else:
        monkeypatch.setattr(gpu_sparse, "_TERM_PARALLEL_MAX_NQ", 0)
    rng = np.random.default_rng()
    gpu, cpu = _gpu(), CpuBackend()
    data = _sparse(rng, 6000, 3000, 25)
    data = sp.diags((np.arange(6000) != 17).astype(np.float32)) @ data  # row 17 empty
    data.eliminate_zeros()
    data = sp.csr_matrix((data.data, data.indices, data.indptr), shape=(6000, 3001))
    cs, gs = cpu.sparse_store(), gpu.sparse_store()
    covered = []
    for lo, hi in ((0, 4000), (4000, 4500), (4500, 6000)):  # +500 rows: scanned; +1500: rebuilt
        cs.append(data[lo:hi])
        gs.append(data[lo:hi])
        n = hi
        q = data[rng.integers(0, n, 3)].tolil()
        q[0, 3000] = 0.5  # a term no stored row has
        q = q.tocsr()
        for valid in (None, rng.random(n) < 0.3, rng.random((3, n)) < 0.5):
            for bounds in ((None, None), (0.5, None), (None, 2.0)):
                for k in (1, 10, 300):
                    ref = cpu.search_sparse(cs, q, k, valid, bounds)
                    _check(ref, gpu.search_sparse(gs, q, k, valid, bounds), "IP")
        if path == "term":
            covered.append(gs.device_csc().rows_covered)
    if path == "term":
        assert covered == [4000, 4000, 6000]


def test_sparse_without_room_for_posting_lists_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building the posting lists runs out of device memory: the search scans instead."""
    import cupy

    from gpu_milvus.engine.gpu_store import GpuSparseStore

    def no_room(self):
        raise cupy.cuda.memory.OutOfMemoryError(1 << 40, 1 << 30)

    monkeypatch.setattr(GpuSparseStore, "device_csc", no_room)
    rng = np.random.default_rng()
    gpu, cpu = _gpu(), CpuBackend()
    data = _sparse(rng, 3000, 2000, 20)
    cs, gs = _sparse_stores(cpu, gpu, data)
    q = sp.csr_matrix(data[rng.integers(0, 3000, 2)])
    _check(cpu.search_sparse(cs, q, 10, None), gpu.search_sparse(gs, q, 10, None), "IP")


def test_sparse_row_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sparse scores in row chunks (a small score budget), merged with global row numbers."""
    import gpu_milvus.engine.gpu as gpu_module

    monkeypatch.setattr(gpu_module, "_SCORE_BUDGET", 1000)  # nq = 3: 333-row chunks
    rng = np.random.default_rng()
    gpu, cpu = _gpu(), CpuBackend()
    data = _sparse(rng, 4000, 2000, 30)
    cs, gs = _sparse_stores(cpu, gpu, data)
    q = sp.csr_matrix(data[rng.integers(0, 4000, 3)])
    for k in (10, 400):
        for valid in (None, rng.random(4000) < 0.3):
            _check(cpu.search_sparse(cs, q, k, valid), gpu.search_sparse(gs, q, k, valid), "IP")


def test_sparse_store_as_cupyx() -> None:
    """The device rows as cupyx's CSR (where int32 indices hold them), sharing the store's
    arrays: its product equals SciPy's on the host rows."""
    import cupy

    rng = np.random.default_rng()
    gpu = _gpu()
    data = _sparse(rng, 3000, 500, 20)
    gs = gpu.sparse_store()
    for lo in range(0, 3000, 1000):
        gs.append(data[lo : lo + 1000])
    m = gs.as_cupyx()
    assert m.shape == (3000, 500)
    dense = rng.random((500, 3)).astype(np.float32)
    np.testing.assert_allclose(cupy.asnumpy(m @ cupy.asarray(dense)), data @ dense, rtol=1e-5)
    wide = gpu.sparse_store()
    wide.append(sp.csr_matrix(([1.0], [3_000_000_000], [0, 1]), shape=(1, 1 << 32)))
    assert wide.as_cupyx() is None  # a Milvus dimension past int32


def test_sparse_no_shared_terms() -> None:
    gpu = _gpu()
    gs = gpu.sparse_store()
    gs.append(sp.csr_matrix(([1.0], [3], [0, 1]), shape=(1, 10)))
    rows, dist = gpu.search_sparse(gs, sp.csr_matrix(([1.0], [4], [0, 1]), shape=(1, 10)), 5, None)
    assert rows.shape == (1, 0) and dist.shape == (1, 0)


@pytest.mark.parametrize("metric", METRICS)
def test_client_api(tmp_path, metric: str) -> None:
    pytest.importorskip("cupy")
    from gpu_milvus import MilvusClient

    rng = np.random.default_rng()
    x = rng.standard_normal((500, 16)).astype(np.float32)
    results = []
    for device in ("cpu", "cuda"):
        c = MilvusClient(str(tmp_path / f"{device}.db"), device=device)
        c.create_collection("c", dimension=16, metric_type=metric)
        c.insert("c", [{"id": i, "vector": x[i].tolist(), "t": i % 3} for i in range(500)])
        c.delete("c", ids=[1, 2, 3])
        res = c.search("c", data=x[:4].tolist(), limit=7, filter="t == 1")
        results.append([[h["id"] for h in hits] for hits in res])
        c.close()
    assert results[0] == results[1]


# -- the 16-bit scan copy (scan_dtype): certified candidates, exact results ---------------------
SCAN16 = ("float16", "bfloat16")


def _scan16_stores(x: np.ndarray, scan_dtype: str):
    _gpu()  # skips without CuPy; poisons the pool
    from gpu_milvus.engine.gpu import GpuBackend

    cpu, gpu16 = CpuBackend(), GpuBackend(0, scan_dtype)
    cs, gs = cpu.dense_store(x.shape[1]), gpu16.dense_store(x.shape[1])
    for part in np.array_split(x, 3):
        cs.append(part)
        gs.append(part)
    assert gs.scan_copy is not None and gs.scan_copy.shape == x.shape
    return cpu, cs, gpu16, gs


def _count_gemm16(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the 16-bit GEMM's calls (the products of the copy on the tensor cores)."""
    from gpu_milvus.engine import gpu

    calls, real = [0], gpu.products16

    def counted(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(gpu, "products16", counted)
    return calls


def _round_host(a: np.ndarray, scan_dtype: str) -> np.ndarray:
    """float64 values of float32 ``a`` rounded to nearest-even 16-bit words (as round16)."""
    a = np.asarray(a, dtype=np.float32)
    if scan_dtype == "float16":
        return a.astype(np.float16).astype(np.float64)
    u = a.view(np.uint32)
    words = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint32)
    return (words << 16).view(np.float32).astype(np.float64)


@pytest.mark.parametrize("scan_dtype", SCAN16)
def test_products16_are_the_rounded_rows_products(scan_dtype: str) -> None:
    """cuBLAS GemmEx on 16-bit words (float32 out) against float64 products of the same
    rounded values, on row slices that start inside the arrays."""
    _gpu()
    import cupy as cp

    from gpu_milvus.engine.gpu_gemm16 import products16
    from gpu_milvus.engine.gpu_store import round16

    rng = np.random.default_rng()
    q, x = rng.standard_normal((37, 70)), 3 * rng.standard_normal((1001, 70))
    qw, _ = round16(cp.asarray(q, dtype=cp.float32), scan_dtype)
    xw, _ = round16(cp.asarray(x, dtype=cp.float32), scan_dtype)
    q64, x64 = _round_host(q, scan_dtype), _round_host(x, scan_dtype)  # as round16 rounds
    for qs, xs in (
        (slice(None), slice(None)),
        (slice(5, 6), slice(3, 900)),
        (slice(1, 37), slice(999, 1001)),
    ):
        got = cp.asnumpy(products16(qw[qs], xw[xs], scan_dtype))
        want = q64[qs] @ x64[xs].T
        assert got.dtype == np.float32 and got.shape == want.shape
        bound = (70 + 8) * 2.0**-22 * np.abs(q64[qs]) @ np.abs(x64[xs]).T  # float32 sums
        assert (np.abs(got - want) <= bound + 1e-30).all()


@pytest.mark.parametrize("scan_dtype", SCAN16)
@pytest.mark.parametrize("metric", ("IP", "COSINE"))
def test_scan16_error_bounds_the_gemm_keys(scan_dtype: str, metric: str) -> None:
    """The certificate's bound holds for the 16-bit GEMM's keys against float64 ones, on rows
    the format holds exactly (so the queries' rounding is all the error), and it needs the
    queries' term: without it some keys are further off than the bound says."""
    _gpu()
    import cupy as cp

    from gpu_milvus.engine.gpu import GpuBackend, scan16_error
    from gpu_milvus.engine.gpu_gemm16 import products16
    from gpu_milvus.engine.gpu_store import round16

    rng = np.random.default_rng()
    be = GpuBackend(0, scan_dtype)
    x = _round_host(rng.standard_normal((4000, 96)), scan_dtype).astype(np.float32)
    store = be.dense_store(96)
    store.append(x)
    assert store.max_err == 0.0
    q = rng.standard_normal((16, 96)).astype(np.float32)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True) if metric == "COSINE" else q
    q16, q_err = round16(cp.asarray(qn), scan_dtype)
    got = cp.asnumpy(products16(q16, store.scan_copy, scan_dtype)).astype(np.float64)
    want = qn.astype(np.float64) @ x.astype(np.float64).T
    if metric == "COSINE":
        inv = 1.0 / np.linalg.norm(x.astype(np.float64), axis=1)
        got, want = got * inv, want * inv
    off = np.abs(got - want).max(axis=1)
    assert (off <= scan16_error(store, q, qn, metric, cp.asnumpy(q_err))).all()
    assert (off > scan16_error(store, q, qn, metric)).any()


@pytest.mark.parametrize("scan_dtype", SCAN16)
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("unit", [True, False])
def test_scan16_gives_the_float32_answer(
    monkeypatch: pytest.MonkeyPatch, scan_dtype: str, metric: str, unit: bool
) -> None:
    """The fused 16-bit scan (nq <= 8) and the 16-bit GEMM (larger batches) both give the
    float32 answer, certified or redone."""
    rng = np.random.default_rng()
    x, q = _data(rng, 6007, 64, 32)
    if unit:  # embeddings as RAG stores them
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    cpu, cs, gpu16, gs = _scan16_stores(x, scan_dtype)
    gemm16 = _count_gemm16(monkeypatch)
    for nq, k in ((1, 10), (8, 1), (32, 10), (3, 100), (20, 300)):
        for valid in (None, rng.random(len(x)) < 0.2, rng.random((nq, len(x))) < 0.5):
            ref = cpu.search_dense(cs, q[:nq], metric, k, valid)
            _check(ref, gpu16.search_dense(gs, q[:nq], metric, k, valid), metric)
    assert gpu16.scan16_queries > 0 and gemm16[0] > 0
    if unit and scan_dtype == "float16":  # fine rounding on spread-out data: mostly certified
        assert gpu16.scan16_redone < gpu16.scan16_queries


@pytest.mark.parametrize("scan_dtype", SCAN16)
@pytest.mark.parametrize("batch", [1, 3])  # 6 queries: the fused scan; 18: the 16-bit GEMM
def test_scan16_redoes_what_it_cannot_certify(
    monkeypatch: pytest.MonkeyPatch, scan_dtype: str, batch: int
) -> None:
    """Scores 3.3e-4 apart (far above float32 error, so the answer is unique) but well inside
    the 16-bit rounding: those windows cannot be certified, so those queries (not the easy
    ones beside them) run again on the float32 rows, and the answer is the float64 one."""
    rng = np.random.default_rng()
    d = 48
    base = np.ones(d)
    u = rng.standard_normal(d)
    u -= (u @ base) / (base @ base) * base
    u /= np.linalg.norm(u)
    t = np.linspace(0.0, 1.0, 3000)
    far = 5 * rng.standard_normal((100, d))  # spread-out rows: easy, certified queries
    x = rng.permutation(np.vstack([base + t[:, None] * u, far])).astype(np.float32)
    hard = base + u + 1e-3 * rng.standard_normal((4, d))
    q = np.vstack([far[:1], hard[:2], far[1:2], hard[2:]]).astype(np.float32)  # some redone
    q = np.tile(q, (batch, 1))
    cpu, cs, gpu16, gs = _scan16_stores(x, scan_dtype)
    gemm16 = _count_gemm16(monkeypatch)
    scores = q.astype(np.float64) @ x.astype(np.float64).T
    for valid in (None, rng.random((len(q), len(x))) < 0.5):  # redone with their own masks
        masked = scores if valid is None else np.where(valid, scores, -np.inf)
        exact = np.argsort(-masked, axis=1)[:, :10]
        for metric in ("IP", "L2"):
            ref = cpu.search_dense(cs, q, metric, 10, valid)
            got = gpu16.search_dense(gs, q, metric, 10, valid)
            _check(ref, got, metric)
            if metric == "IP":
                np.testing.assert_array_equal(got[0], exact)
    assert 0 < gpu16.scan16_redone < gpu16.scan16_queries
    assert (gemm16[0] > 0) == (batch > 1)


def test_scan16_gemm_over_query_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """More queries than one GEMM group (1024): each group multiplies its own slice of the
    rounded queries, and the redone ones keep their places."""
    rng = np.random.default_rng()
    x, q = _data(rng, 400, 8, 1030)
    q[[3, 1027], 0] = 1e5  # float16 cannot hold these: redone, one in each group
    cpu, cs, gpu16, gs = _scan16_stores(x, "float16")
    gemm16 = _count_gemm16(monkeypatch)
    _check(cpu.search_dense(cs, q, "L2", 5, None), gpu16.search_dense(gs, q, "L2", 5, None), "L2")
    assert gemm16[0] == 2 and 2 <= gpu16.scan16_redone < 1030


@pytest.mark.parametrize("nq", [3, 12])  # the fused scan, the 16-bit GEMM
def test_scan16_overflow_falls_back_to_float32(nq: int) -> None:
    """float16 cannot hold 1e5: the store's error bound is inf and every query is redone."""
    rng = np.random.default_rng()
    x, q = _data(rng, 2000, 16, nq)
    x[7] *= 1e5
    cpu, cs, gpu16, gs = _scan16_stores(x, "float16")
    assert gs.max_err == np.inf
    _check(cpu.search_dense(cs, q, "L2", 10, None), gpu16.search_dense(gs, q, "L2", 10, None), "L2")
    assert gpu16.scan16_redone == gpu16.scan16_queries == nq


def test_scan16_gemm_redoes_a_query_float16_cannot_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 16-bit GEMM rounds the queries too: a query with a 1e5 component overflows float16,
    so its bound is inf and it alone is redone in float32 (the fused scan reads float32
    queries and would not care)."""
    rng = np.random.default_rng()
    x, q = _data(rng, 3000, 16, 12)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q[5, 3] = 1e5
    cpu, cs, gpu16, gs = _scan16_stores(x, "float16")
    gemm16 = _count_gemm16(monkeypatch)
    for metric in ("IP", "L2"):
        ref = cpu.search_dense(cs, q, metric, 10, None)
        _check(ref, gpu16.search_dense(gs, q, metric, 10, None), metric)
    assert gemm16[0] == 2 and gpu16.scan16_queries == 24
    assert 2 <= gpu16.scan16_redone < 24


@pytest.mark.parametrize("scan_dtype", SCAN16)
def test_scan16_gemm_band_keeps_what_the_bound_allows(
    monkeypatch: pytest.MonkeyPatch, scan_dtype: str
) -> None:
    """Only window keys within 2 err of the k-th are re-scored. Rows the format holds exactly
    and a query whose rounding r = q - q~ is what errs: the target row (along +r) scores
    about err too low, the competitor (along -r) about err too high, so the competitor is the
    approximate k-th while the target is the true one, 2 err - delta below it. A band of
    less than 2 err drops the target, and the answer with it (100 queries x a window of 202:
    certified on the device, band applied)."""
    rng = np.random.default_rng(11)
    d, alpha = 16, 64.0
    for _ in range(200):  # a query whose rounding is nearly orthogonal to it
        q = rng.standard_normal(d).astype(np.float32)
        r = q.astype(np.float64) - _round_host(q, scan_dtype)
        qh, rh = q / np.linalg.norm(q), r / np.linalg.norm(r)
        if abs(qh @ rh) > 0.05:
            continue
        dev = alpha * np.linalg.norm(r)  # each special row's error, about err
        q64 = q.astype(np.float64)
        target = _round_host(alpha * rh + 8.0 * qh, scan_dtype)
        t_key = q64 @ target
        beta = (t_key - 0.5 * dev + alpha * (q64 @ rh)) / np.linalg.norm(q)
        rival = _round_host(-alpha * rh + beta * qh, scan_dtype)
        top = np.stack(
            [_round_host(40.0 * qh + rng.standard_normal(d), scan_dtype) for _ in range(9)]
        )
        filler = np.stack(
            [_round_host(0.01 * rng.standard_normal(d), scan_dtype) for _ in range(300)]
        )
        x = np.vstack([top, target, rival, filler])  # filler: far below, so a window of 202
        qt = _round_host(q, scan_dtype)
        true, approx = x @ q64, x @ qt
        if true[9] > true[10] and approx[10] - approx[9] > 1.2 * dev:  # the set-up holds
            break
    else:
        pytest.fail("no query found for the set-up")
    cpu, cs, gpu16, gs = _scan16_stores(x.astype(np.float32), scan_dtype)
    assert gs.max_err == 0.0
    gemm16 = _count_gemm16(monkeypatch)
    queries = np.tile(q, (100, 1))  # the 16-bit GEMM, a window too large for the host
    ref = cpu.search_dense(cs, queries, "IP", 10, None)
    got = gpu16.search_dense(gs, queries, "IP", 10, None)
    _check(ref, got, "IP")
    assert (got[0] == 9).any(axis=1).all() and not (got[0] == 10).any()
    assert gemm16[0] == 1 and gpu16.scan16_redone == 0


def test_scan16_range_search_uses_the_float32_rows() -> None:
    rng = np.random.default_rng()
    x, q = _data(rng, 3000, 16, 4)
    cpu, cs, gpu16, gs = _scan16_stores(x, "bfloat16")
    bounds = (0.5, 3.0)
    ref = cpu.search_dense(cs, q, "IP", 50, None, bounds)
    _check(ref, gpu16.search_dense(gs, q, "IP", 50, None, bounds), "IP")
    assert gpu16.scan16_queries == 0


@pytest.mark.parametrize("scan_dtype", SCAN16)
def test_client_scan_dtype(tmp_path, scan_dtype: str) -> None:
    from gpu_milvus import MilvusClient

    rng = np.random.default_rng()
    x = rng.standard_normal((800, 32)).astype(np.float32)
    results = []
    for device, dtype in (("cpu", "float32"), ("cuda", scan_dtype)):
        c = MilvusClient(str(tmp_path / f"{device}.db"), device=device, scan_dtype=dtype)
        c.create_collection("c", dimension=32, metric_type="COSINE")
        c.insert("c", [{"id": i, "vector": x[i].tolist()} for i in range(800)])
        res = c.search("c", data=x[:5].tolist(), limit=9)
        results.append([[(h["id"], round(h["distance"], 4)) for h in hits] for hits in res])
        c.close()
    assert results[0] == results[1]


@pytest.mark.parametrize("metric", METRICS)
def test_query_masks_distinct_filters_once(metric: str) -> None:
    """QueryMasks (as a batch of requests with a few distinct filters sends them): each
    query reads its own filter's bitset, on the fused, GEMM and sparse paths."""
    from gpu_milvus.engine.backend import QueryMasks

    rng = np.random.default_rng()
    gpu = _gpu()
    x, _ = _data(rng, 5000, 16, 1)
    cpu, cs, gs = _stores(x, gpu)
    table = rng.random((3, len(x))) < np.array([[0.5], [0.05], [0.9]])
    for nq in (7, 45):  # fused and GEMM
        q = rng.standard_normal((nq, 16)).astype(np.float32)
        index = rng.integers(0, 3, nq)
        masks = QueryMasks(table, index)
        ref = cpu.search_dense(cs, q, metric, 20, table[index])
        _check(ref, gpu.search_dense(gs, q, metric, 20, masks), metric)
    if metric == "IP":
        data = _sparse(rng, 5000, 1000, 20)
        css, gss = _sparse_stores(cpu, gpu, data)
        q = sp.csr_matrix(data[rng.integers(0, 5000, 9)])
        index = rng.integers(0, 3, 9)
        ref = cpu.search_sparse(css, q, 15, table[index])
        _check(ref, gpu.search_sparse(gss, q, 15, QueryMasks(table, index)), "IP")
