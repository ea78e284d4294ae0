"""NumPy versions of the kernels in ``cuda/``, written from their contracts (the comments and
code of each ``.cu`` file), one function per kernel.

Each works on the flat buffers the launch passed, reads only the spans the CUDA code would
read (``_span`` raises on any out-of-bounds span instead of wrapping), honours the launch
geometry where the CUDA code depends on it (``blockIdx.y`` as the query, grid-stride loops,
threads that return early), and writes only what the CUDA code writes. Where the CUDA result
depends on thread timing (atomics, equal keys) the emulation picks a random order, so host
code that relied on one order would show.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from cupy._raw import Launch

IP, L2, COSINE = 0, 1, 2
F32, F16, BF16 = 0, 1, 2  # GM_STORE_* in common.cuh
_RNG = np.random.default_rng()


def _span(buf: np.ndarray, start: int, count: int, what: str = "") -> np.ndarray:
    start, count = int(start), int(count)
    if start < 0 or count < 0 or start + count > len(buf):
        raise IndexError(f"{what}: span [{start}, {start + count}) outside a buffer of {len(buf)}")
    return buf[start : start + count]


def _take(buf: np.ndarray, idx: np.ndarray, what: str = "") -> np.ndarray:
    idx = np.asarray(idx, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= len(buf)):
        raise IndexError(f"{what}: index {idx.min()}..{idx.max()} outside a buffer of {len(buf)}")
    return buf[idx]


def _ordered(keys: np.ndarray) -> np.ndarray:
    """gm::float_to_ordered: uint32 whose unsigned order is the float order."""
    u = np.ascontiguousarray(keys, dtype=np.float32).view(np.uint32)
    return np.where(u & np.uint32(0x80000000), ~u, u | np.uint32(0x80000000)).astype(np.uint32)


def _make_key(metric: int, dot: np.ndarray, aux: np.ndarray) -> np.ndarray:
    if metric == L2:
        return np.float32(2.0) * dot - aux
    if metric == COSINE:
        return dot * aux
    return dot


def _in_bounds(metric: int, key: np.ndarray, qsq: Any, hr: int, r: float, hf: int, f: float):
    key = key.astype(np.float32)
    ok = np.ones(key.shape, dtype=bool)
    if metric == L2:
        d = np.float32(qsq) - key
        if hr:
            ok &= d < np.float32(r)
        if hf:
            ok &= d >= np.float32(f)
    else:
        if hr:
            ok &= key > np.float32(r)
        if hf:
            ok &= key <= np.float32(f)
    return ok


def _words_to_float(store: int, x: np.ndarray) -> np.ndarray:
    """gm::load1: float32 rows as they are; 16-bit words decoded as IEEE half or bfloat16."""
    if store == F32:
        return x
    if store == F16:
        return x.view(np.float16).astype(np.float32)
    return (x.astype(np.uint32) << np.uint32(16)).view(np.float32)


def _mask_bits(mask, mask_words, mask_row, mode: int, queries: np.ndarray, rows: np.ndarray):
    """(len(queries), len(rows)) bools of the bitsets (common.cuh), reading only the words
    the kernels would: the shared set (mode 1) or set mask_row[q] of each query (mode 2)."""
    rows = np.asarray(rows, dtype=np.int64)
    if mode == 1:
        bit = (_take(mask, rows >> 5, "mask words") >> (rows & 31).astype(np.uint32)) & 1
        return np.broadcast_to(bit.astype(bool), (len(queries), len(rows)))
    sets = _take(mask_row, queries, "mask_row").astype(np.int64)
    at = sets[:, None] * mask_words + (rows >> 5)[None, :]
    return ((_take(mask, at, "mask words") >> (rows & 31).astype(np.uint32)) & 1).astype(bool)


def _in_order(count: int) -> np.ndarray:
    """The order in which ``count`` competing threads win their atomics: any."""
    return _RNG.permutation(count)


# -- topk.cu ---------------------------------------------------------------------------------
TOP_SHIFT = 20  # GM_TOP_SHIFT: the long-row select's first digit is a key's top 12 bits


def _best_into(row: np.ndarray, row_ids: np.ndarray, need: int, out_k, out_i) -> None:
    """The ``need`` best keys of ``row`` (any of those equal to the last one) with their ids,
    in any order, into out_k / out_i[0 .. need), as the kernels' gather writes them."""
    assert 0 < need <= len(row), f"select: need {need} outside (0, {len(row)}]"
    u = _ordered(row)
    t = np.sort(u)[::-1][need - 1]
    above = np.flatnonzero(u > t)[_in_order(int(np.count_nonzero(u > t)))]
    equal = np.flatnonzero(u == t)[_in_order(int(np.count_nonzero(u == t)))]
    cols = np.concatenate([above, equal[: need - len(above)]])
    _span(out_k, 0, need, "select out_keys")[:] = row[cols]
    _span(out_i, 0, need, "select out_ids")[:] = row_ids[cols]


def _row_ids(ids, ids_ld, use_ids, id_offset, q: int, cols: np.ndarray) -> np.ndarray:
    if use_ids:
        return _take(ids, q * ids_ld + cols, "select ids")
    return (id_offset + cols).astype(np.int32)


def radix_select_block(
    L: Launch, keys, n, ld, ids, ids_ld, use_ids, id_offset, k, out_keys, out_ids
) -> None:
    assert L.block[0] * L.block[1] * L.block[2] <= 1024
    for q in range(L.grid[0]):
        row = _span(keys, q * ld, n, "select keys")
        row_ids = _row_ids(ids, ids_ld, use_ids, id_offset, q, np.arange(n))
        _best_into(row, row_ids, k, out_keys[q * k :], out_ids[q * k :])


def radix_top_hist(L: Launch, keys, n, ld, hist) -> None:
    for q in range(L.grid[1]):
        top = _ordered(_span(keys, q * ld, n, "top_hist keys")) >> np.uint32(TOP_SHIFT)
        counts = np.bincount(top, minlength=4096).astype(np.uint32)
        _span(hist, q * 4096, 4096, "top_hist hist")[:] += counts


def radix_top_pick(L: Launch, nq, k, hist, prefix, remaining) -> None:
    for q in range(min(nq, L.threads // 32)):
        h = _span(hist, q * 4096, 4096, "top_pick hist").astype(np.int64)
        from_top = np.cumsum(h[::-1])
        hit = int(np.flatnonzero(from_top >= k)[0])  # k <= n
        b = 4095 - hit
        prefix[q] = np.uint32(b << TOP_SHIFT)
        remaining[q] = k - int(from_top[hit] - h[b])


def radix_filter(
    L: Launch, keys, n, ld, ids, ids_ld, use_ids, id_offset, prefix, k, counters, out_keys,
    out_ids, cap, cand_keys, cand_ids,
) -> None:  # fmt: skip
    for q in range(L.grid[1]):
        row = _span(keys, q * ld, n, "filter keys")
        top = _ordered(row) >> np.uint32(TOP_SHIFT)
        bin_ = _span(prefix, q, 1, "filter prefix")[0] >> np.uint32(TOP_SHIFT)
        for slot, cols, out_k, out_i, width in (
            (2 * q, np.flatnonzero(top > bin_), out_keys, out_ids, k),
            (2 * q + 1, np.flatnonzero(top == bin_), cand_keys, cand_ids, cap),
        ):
            cols = cols[_in_order(len(cols))]
            pos = int(counters[slot]) + np.arange(len(cols))
            counters[slot] += np.uint32(len(cols))
            keep = pos < width
            cols, pos = cols[keep], q * width + pos[keep]
            _take(out_k, pos, "filter out")
            out_k[pos] = row[cols]
            out_i[pos] = _row_ids(ids, ids_ld, use_ids, id_offset, q, cols)


def radix_finish(
    L: Launch, keys, n, ld, ids, ids_ld, use_ids, id_offset, prefix, remaining, counters, cap,
    cand_keys, cand_ids, k, out_keys, out_ids,
) -> None:  # fmt: skip
    assert L.block[0] * L.block[1] * L.block[2] <= 1024
    for q in range(L.grid[0]):
        need, seen = int(remaining[q]), int(counters[2 * q + 1])
        if seen <= cap:
            row = _span(cand_keys, q * cap, seen, "finish candidates")
            row_ids = _span(cand_ids, q * cap, seen, "finish candidate ids")
        else:  # the candidates overflowed: the row's keys in the bin
            full = _span(keys, q * ld, n, "finish keys")
            cols = np.flatnonzero(
                (_ordered(full) >> np.uint32(TOP_SHIFT)) == prefix[q] >> np.uint32(TOP_SHIFT)
            )
            row, row_ids = full[cols], _row_ids(ids, ids_ld, use_ids, id_offset, q, cols)
        o = q * k + k - need
        _best_into(row, row_ids, need, out_keys[o:], out_ids[o:])


# -- distance.cu -----------------------------------------------------------------------------
def fused_scan(
    L: Launch, X, n, d, Q, nq, aux, qsq, mask, mask_words, mask_row, mask_mode, has_radius,
    radius, has_rf, rf, k, width, rows_per_block, out_keys, out_rows,
) -> None:  # fmt: skip
    metric, nq_max, store = int(L.targs["METRIC"]), int(L.targs["NQ"]), int(L.targs["STORE"])
    h = width // 2
    assert nq <= nq_max <= 32, f"fused scan: nq {nq} over its template's {nq_max} (max 32)"
    assert width >= 2 and width & (width - 1) == 0, f"fused scan: L={width} not a power of 2"
    assert 0 < k <= h, f"fused scan: k {k} outside (0, L/2 = {h}]"
    assert L.block == (256, 1, 1), "fused scan: written for 256 threads"
    need = nq * (8 + 8 * width)
    assert L.shared_mem >= need, f"fused scan: {L.shared_mem} B shared memory, needs {need}"
    want = np.float32 if store == F32 else np.uint16
    assert X.dtype == want, f"fused scan: STORE={store} reads {np.dtype(want)} rows, got {X.dtype}"
    xm = _words_to_float(store, _span(X, 0, n * d, "fused X")).reshape(n, d)
    qm = _span(Q, 0, nq * d, "fused Q").reshape(nq, d)
    keys = _make_key(metric, (qm @ xm.T).astype(np.float32), _span(aux, 0, n, "fused aux"))
    qs = _span(qsq, 0, nq, "fused qsq")
    ok = _in_bounds(metric, keys, qs[:, None], has_radius, radius, has_rf, rf)
    if mask_mode:
        ok &= _mask_bits(mask, mask_words, mask_row, mask_mode, np.arange(nq), np.arange(n))
    ok &= keys > np.float32(-np.inf)  # the kernel admits a key only above its threshold
    grid = L.grid[0]
    for b in range(grid):
        lo, hi = b * rows_per_block, min(n, (b + 1) * rows_per_block)
        for q in range(nq):
            o = (q * grid + b) * k
            rows = np.arange(lo, hi)[ok[q, lo:hi]] if hi > lo else np.arange(0)
            kq = keys[q, rows]
            best = np.lexsort((_RNG.random(len(rows)), -kq))[:k]  # equal keys: any order
            _span(out_keys, o, k, "fused out_keys")[:] = -np.inf
            _span(out_rows, o, k, "fused out_rows")[:] = -1
            out_keys[o : o + len(best)] = kq[best]
            out_rows[o : o + len(best)] = rows[best]


def key_epilogue(
    L: Launch, S, nq, c, col0, row_ids, use_row_ids, aux, qsq, mask, mask_words, mask_row,
    mask_mode, has_radius, radius, has_rf, rf,
) -> None:  # fmt: skip
    metric = int(L.targs["METRIC"])
    s = _span(S, 0, nq * c, "epilogue S").reshape(nq, c)
    rows = _span(row_ids, 0, c, "epilogue row_ids").astype(np.int64) if use_row_ids else None
    if rows is None:
        rows = col0 + np.arange(c, dtype=np.int64)
    key = _make_key(metric, s, _take(aux, rows, "epilogue aux"))
    ok = _in_bounds(metric, key, _span(qsq, 0, nq)[:, None], has_radius, radius, has_rf, rf)
    if mask_mode:
        ok &= _mask_bits(mask, mask_words, mask_row, mask_mode, np.arange(nq), rows)
    s[:] = np.where(ok, key, np.float32(-np.inf))


def refine(L: Launch, X, d, Q, keys, ids, nq, k, out) -> None:
    metric = int(L.targs["METRIC"])
    warps = L.threads // 32
    count = min(nq * k, warps)  # warps beyond nq * k return; too few leave slots unwritten
    none = np.isneginf(_span(keys, 0, count, "refine keys"))
    r = np.where(none, 0, _span(ids, 0, count, "refine ids")).astype(np.int64)
    x = _take(X.reshape(-1, d) if d else X[:0].reshape(0, 1), r, "refine X").astype(np.float64)
    qi = np.arange(count) // k
    y = _span(Q, 0, nq * d, "refine Q").reshape(nq, d)[qi].astype(np.float64)
    if metric == L2:
        val = ((x - y) ** 2).sum(axis=1)
    else:
        val = (x * y).sum(axis=1)
        if metric == COSINE:
            denom = np.sqrt((x * x).sum(axis=1)) * np.sqrt((y * y).sum(axis=1))
            val = val / np.where(denom == 0, 1.0, denom)
    _span(out, 0, count, "refine rows")[:] = np.where(none, -1, r)
    _span(out, nq * k, count, "refine dist")[:] = np.where(none, 0.0, val).view(np.int64)


# -- sparse.cu -------------------------------------------------------------------------------
def sparse_ip(
    L: Launch, indptr, indices, data, row0, rows, lut, lut_n, terms, n_terms, use_lut, qtab,
    nq, mask, mask_words, mask_row, mask_mode, has_radius, radius, has_rf, rf, out,
) -> None:  # fmt: skip
    ptr = _span(indptr, row0, rows + 1, "sparse indptr")
    lo, hi = int(ptr[0]), int(ptr[-1])
    cols = _span(indices, lo, hi - lo, "sparse indices").astype(np.int64)
    vals = _span(data, lo, hi - lo, "sparse data")
    if use_lut:
        slot = np.full(len(cols), -1, dtype=np.int64)
        inside = cols < lut_n
        slot[inside] = _take(lut, cols[inside], "sparse lut")
    else:
        t = _span(terms, 0, n_terms, "sparse terms")
        pos = np.searchsorted(t, cols)
        found = pos < len(t)
        found[found] &= t[pos[found]] == cols[found]
        slot = np.where(found, pos, -1)
    row_of = np.repeat(np.arange(rows), np.diff(ptr))
    use = slot >= 0
    weights = sp.csr_matrix((vals[use], (row_of[use], slot[use])), shape=(rows, n_terms))
    table = _span(qtab, 0, n_terms * nq, "sparse qtab").reshape(n_terms, nq)
    acc = np.asarray(weights @ table, dtype=np.float32).T  # (nq, rows)
    ok = acc != 0
    global_rows = row0 + np.arange(rows)
    if mask_mode:
        ok &= _mask_bits(mask, mask_words, mask_row, mask_mode, np.arange(nq), global_rows)
    ok &= _in_bounds(IP, acc, 0.0, has_radius, radius, has_rf, rf)
    _span(out, 0, nq * rows, "sparse out")[:] = np.where(ok, acc, np.float32(-np.inf)).ravel()


def sparse_postings(
    L: Launch, rows, vals, post_lo, cum, entry_q, entry_w, n_entries, n, scores
) -> None:  # fmt: skip
    c = _span(cum, 0, n_entries + 1, "postings cum")
    lengths = np.diff(c)
    starts = _span(post_lo, 0, n_entries, "postings post_lo")
    p = np.repeat(starts - c[:-1], lengths) + np.arange(int(c[-1]))  # every posting read
    e = np.repeat(np.arange(n_entries), lengths)
    q = _take(entry_q, e, "postings entry_q").astype(np.int64)
    w = _take(entry_w, e, "postings entry_w")
    target = q * n + _take(rows, p, "postings rows")
    _take(scores, target, "postings scores")  # bounds check
    order = _RNG.permutation(len(p))  # atomics: any order of the additions
    np.add.at(scores, target[order], (w * _take(vals, p, "postings vals"))[order])


def sparse_finish(
    L: Launch, scores, nq, n, mask, mask_words, mask_row, mask_mode, has_radius, radius,
    has_rf, rf,
) -> None:  # fmt: skip
    acc = _span(scores, 0, nq * n, "finish scores").reshape(nq, n)
    ok = acc != 0
    if mask_mode:
        ok &= _mask_bits(mask, mask_words, mask_row, mask_mode, np.arange(nq), np.arange(n))
    ok &= _in_bounds(IP, acc, 0.0, has_radius, radius, has_rf, rf)
    acc[:] = np.where(ok, acc, np.float32(-np.inf))


EMULATIONS = {
    "gm_radix_top_hist": radix_top_hist,
    "gm_radix_top_pick": radix_top_pick,
    "gm_radix_filter": radix_filter,
    "gm_radix_finish": radix_finish,
    "gm_radix_select_block": radix_select_block,
    "gm_fused_scan": fused_scan,
    "gm_key_epilogue": key_epilogue,
    "gm_refine": refine,
    "gm_sparse_ip": sparse_ip,  # both thread layouts (QUERY_LANES): one contract
    "gm_sparse_postings": sparse_postings,
    "gm_sparse_finish": sparse_finish,
}
