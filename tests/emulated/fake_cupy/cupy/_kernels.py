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
def radix_hist(L: Launch, keys, nq, n, ld, prefix, shift, hist) -> None:
    hmask = np.uint32(0) if shift >= 24 else np.uint32((0xFFFFFFFF << (shift + 8)) & 0xFFFFFFFF)
    for q in range(L.grid[1]):
        u = _ordered(_span(keys, q * ld, n, "hist keys"))
        want = _span(prefix, q, 1, "hist prefix")[0] & hmask
        digits = (u[(u & hmask) == want] >> np.uint32(shift)) & np.uint32(255)
        counts = np.bincount(digits, minlength=256).astype(np.uint32)
        _span(hist, q * 256, 256, "hist")[:] += counts


def radix_pick(L: Launch, nq, shift, hist, prefix, remaining) -> None:
    for q in range(min(nq, L.threads)):
        h = _span(hist, q * 256, 256, "pick hist")
        need = int(_span(remaining, q, 1)[0]) & 0xFFFFFFFF  # (unsigned int)remaining[q]
        from_top = np.cumsum(h[::-1].astype(np.int64))
        hit = np.flatnonzero(from_top >= need)
        if len(hit):
            chosen = 255 - int(hit[0])
            above = int(from_top[hit[0]] - h[chosen])
        else:
            chosen, above = 0, int(from_top[-1])
        h[:] = 0
        prefix[q] |= np.uint32(chosen << shift)
        remaining[q] = np.array((need - above) & 0xFFFFFFFF, dtype=np.uint32).view(np.int32)


def radix_gather(
    L: Launch, keys, nq, n, ld, ids, ids_ld, use_ids, id_offset, prefix, remaining, k,
    counters, out_keys, out_ids,
) -> None:  # fmt: skip
    for q in range(L.grid[1]):
        row = _span(keys, q * ld, n, "gather keys")
        u = _ordered(row)
        t, rem = prefix[q], int(remaining[q])
        above = np.flatnonzero(u > t)[_in_order(int(np.count_nonzero(u > t)))]
        equal = np.flatnonzero(u == t)[_in_order(int(np.count_nonzero(u == t)))]
        pos_above = int(counters[2 * q]) + np.arange(len(above))
        e = int(counters[2 * q + 1]) + np.arange(len(equal))
        counters[2 * q] += np.uint32(len(above))
        counters[2 * q + 1] += np.uint32(len(equal))
        pos_equal = np.where(e < rem, k - rem + e, -1)
        cols = np.concatenate([above, equal])
        pos = np.concatenate([pos_above, pos_equal])
        keep = (pos >= 0) & (pos < k)
        cols, pos = cols[keep], pos[keep]
        _take(out_keys, q * k + pos, "gather out_keys")
        out_keys[q * k + pos] = row[cols]
        if use_ids:
            got = _take(ids, q * ids_ld + cols, "gather ids")
        else:
            got = (id_offset + cols).astype(np.int32)
        _take(out_ids, q * k + pos, "gather out_ids")
        out_ids[q * k + pos] = got


def radix_select_block(
    L: Launch, keys, n, ld, ids, ids_ld, use_ids, id_offset, k, out_keys, out_ids
) -> None:
    """The four passes and the gather of one query per block: its k-th key t, every key
    above it and the first ``remaining`` equal ones (in any order)."""
    assert L.block[0] * L.block[1] * L.block[2] <= 1024
    for q in range(L.grid[0]):
        u = _ordered(_span(keys, q * ld, n, "select keys"))
        assert 0 < k <= n, f"select: k {k} outside (0, n = {n}]"
        t = np.sort(u)[::-1][k - 1]
        above = int(np.count_nonzero(u > t))
        prefix, remaining = np.array([t], np.uint32), np.array([k - above], np.int32)
        counters = np.zeros(2, np.uint32)
        one = Launch((1, 1, 1), L.block, 0)
        radix_gather(one, _span(keys, q * ld, n), 1, n, ld, ids[q * ids_ld :] if use_ids else ids,
                     ids_ld, use_ids, id_offset, prefix, remaining, k, counters,
                     out_keys[q * k : (q + 1) * k], out_ids[q * k : (q + 1) * k])  # fmt: skip


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
    "gm_radix_hist": radix_hist,
    "gm_radix_pick": radix_pick,
    "gm_radix_gather": radix_gather,
    "gm_radix_select_block": radix_select_block,
    "gm_fused_scan": fused_scan,
    "gm_key_epilogue": key_epilogue,
    "gm_refine": refine,
    "gm_sparse_ip": sparse_ip,  # both thread layouts (QUERY_LANES): one contract
    "gm_sparse_postings": sparse_postings,
    "gm_sparse_finish": sparse_finish,
}
