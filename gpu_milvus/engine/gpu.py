"""CuPy backend: device-resident vectors, custom CUDA kernels, host results.

Invariants:
- vectors stay on the device (``gpu_store.py``): float32 matrices grown by capacity doubling,
  norms cached beside them, and with ``scan_dtype`` a 16-bit scan copy;
- only queries, masks (bitsets, one per distinct filter) and results cross PCIe; results
  follow ``backend.py`` exactly as ``cpu.py`` produces them (same widths, -1 padding,
  float64-refined distances, best first);
- ranking keys are larger-is-better (IP: q.x, COSINE: q.x/|x| with q normalised,
  L2: 2q.x - |x|^2), as in ``cpu.py``;
- dense paths: the fused scan + per-block top-k kernel for nq <= 8 and k <= 256 (when its
  shared memory fits), else cuBLAS GEMM over column chunks + key epilogue + radix select;
  with a 16-bit scan copy, the fused scan (or, for batches past it, a 16-bit GEMM on the
  tensor cores: ``gpu_gemm16.py``) reads it for a wider window whose completeness is
  certified per query from the copy's rounding error (else that query reruns in float32), and
  the winners are re-scored from the float32 rows, so answers stay those of float32;
- sparse: ``gpu_sparse.py`` (document-parallel scans, term-parallel posting lists); masks
  and bounds as kernel arguments: ``gpu_args.py``;
- CuPy is imported lazily, so importing this module never breaks a CPU-only install.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np
import scipy.sparse as sp

from gpu_milvus import kernels
from gpu_milvus.engine import gpu_sparse
from gpu_milvus.engine.backend import SCAN_DTYPES, Valid
from gpu_milvus.engine.cpu import exact_bounds, no_hits, order_refined, widened
from gpu_milvus.engine.gpu_args import Bounds, DeviceMask, bound_args, device_mask, placeholder
from gpu_milvus.engine.gpu_gemm16 import products16
from gpu_milvus.engine.gpu_store import GpuDenseStore, GpuSparseStore, round16
from gpu_milvus.engine.gpu_store import cupy_module as _cp

_SCORE_BUDGET = 1 << 28  # fp32 scores per GEMM / sparse chunk (1 GiB)
_QUERY_GROUP = 1024  # queries per GEMM group
# The fused scan reloads every query's slice for each row it reads (from L1), so its load
# traffic grows with nq: about 9x the row bytes at nq = 8 but 33x at 32, past what L1 serves
# at HBM speed, while cuBLAS reads the rows once. So the engine takes it up to 8 queries (the
# kernel goes to 32); an estimate from the kernel's structure, to be set from gpu_bench's
# fused_path_ms / gemm_path_ms on a GPU.
_FUSED_MAX_NQ = 8
_FUSED_ONE_ROW = False  # float32 fused scan with ROWS = 1 (gpu_bench times both layouts)
_FUSED_MAX_K = 256
_FUSED_SMEM = 48 * 1024
_FUSED_SMEM_PREFERRED = 16 * 1024
_BLOCK_SELECT_MAX = 1 << 16  # top-k of rows up to this long: one block per query
_TOP_BINS = 4096  # the long-row select's first digit: the keys' top 12 bits (topk.cu)
# Candidate buffer per query of the long-row select: the keys in the k-th key's 12-bit bin.
# Spread-out keys put a few hundred there (e.g. 262k N(0, 1) keys, k = 1000: about 200);
# more (keys bunched into one bin) are then read from the row itself, slower but exact.
_CANDIDATES = 8192
_HOST_CERTIFY = 1 << 14  # 16-bit windows up to this many keys are certified on the host
_DIST = "distance.cu"
_TOPK = "topk.cu"
_SCAN16 = "scan16.cu"


def _next_pow2(x: int) -> int:
    return 1 << max(0, int(x - 1).bit_length())


@cache
def resident_blocks(kern: Any, threads: int, smem: int) -> int:
    """Blocks of ``kern`` one SM holds at once (sm_80/sm_90 limits: 64 K registers allocated
    per warp in units of 256, 2048 threads, 32 blocks, 227 KiB of shared memory plus 1 KiB
    reserved per block)."""
    regs = max(1, int(getattr(kern, "num_regs", 0) or 64))
    warps = -(-threads // 32)
    regs_per_warp = -(-regs * 32 // 256) * 256
    by_regs = (65536 // regs_per_warp) // warps
    by_smem = (227 * 1024) // (smem + 1024)
    return max(1, min(by_regs, 2048 // threads, by_smem, 32))


@dataclass(frozen=True)
class _DenseQuery:
    """What every dense path reads: the store, the queries on the device (normalised for
    COSINE) with their |q|^2, the store's per-row aux (|x|^2, or 1/|x| for COSINE), the mask
    and the metric's kernel id; for the 16-bit GEMM, the queries' 16-bit words."""

    store: GpuDenseStore
    qn: Any
    qsq: Any
    aux: Any
    mask: DeviceMask
    metric: int
    q16: Any = None

    @property
    def nq(self) -> int:
        return int(self.qn.shape[0])

    def queries(self, which: Any) -> _DenseQuery:
        """The same search for a subset of the queries (a slice or device index array)."""
        q16 = None if self.q16 is None else self.q16[which]
        mask = self.mask.queries(which)
        return replace(self, qn=self.qn[which], qsq=self.qsq[which], mask=mask, q16=q16)


def _upload_queries(q: np.ndarray, qn: np.ndarray, qsq: np.ndarray) -> tuple[Any, Any, Any]:
    """The raw queries, the normalised ones (COSINE; else the same array) and |q|^2 on the
    device, from one host-to-device copy: (q, qn, qsq)."""
    cp = _cp()
    nq, d = q.shape
    same = qn is q
    flat = cp.asarray(np.concatenate([qn.ravel()] + ([] if same else [q.ravel()]) + [qsq]))
    d_qn = flat[: nq * d].reshape(nq, d)
    d_q = d_qn if same else flat[nq * d : 2 * nq * d].reshape(nq, d)
    return d_q, d_qn, flat[flat.size - nq :]


def scan16_error(
    store: GpuDenseStore, q: np.ndarray, qn: np.ndarray, metric: str, q_err: Any = 0.0
) -> np.ndarray:
    """Per query, a bound on |key from the 16-bit copy - key from the float32 rows|.

    IP: |q.x - q~.x~| <= |q| |x - x~| + |q - q~| |x~|, with q_err = |q - q~| (0 for the fused
    scan, which reads float32 queries; the 16-bit GEMM rounds them too); L2 (key
    2 q.x - |x|^2, |x|^2 from float32): twice that; COSINE (q normalised, 1/|x| from float32):
    divided by |x|, so max(|x - x~| / |x|) and |x~| / |x| <= 1 + that. A margin for the float32
    rounding of both dot products is added (truncating accumulation, as tensor cores may do);
    inf when a row or query overflowed the format.
    """
    d = store.dim
    acc = (d + 8) * 2.0**-22  # float32 dot-product rounding, both scans, generously
    if metric == "COSINE":
        qnorm = np.linalg.norm(qn.astype(np.float64), axis=1)
        grow = 1.0 + store.max_rel_err
        return qnorm * store.max_rel_err + (q_err + acc * (qnorm + q_err)) * grow
    qnorm = np.linalg.norm(q.astype(np.float64), axis=1)
    xnorm = float(np.sqrt(store.max_sq)) + store.max_err
    err = qnorm * store.max_err + (q_err + acc * (qnorm + q_err)) * xnorm
    return 2.0 * err if metric == "L2" else err


class GpuBackend:
    """Exact search on one CUDA device with the kernels in ``cuda/``."""

    name = "cuda"

    def __init__(self, ordinal: int = 0, scan_dtype: str = "float32") -> None:
        cp = _cp()
        if scan_dtype not in SCAN_DTYPES:
            raise ValueError(f"scan_dtype must be one of {SCAN_DTYPES}, got {scan_dtype!r}")
        self.ordinal = ordinal
        self.scan_dtype = scan_dtype
        self.scan16_queries = self.scan16_redone = 0  # certified 16-bit scans / redone in fp32
        with cp.cuda.Device(ordinal):
            props = cp.cuda.runtime.getDeviceProperties(ordinal)
        self.sm_count = int(props["multiProcessorCount"])

    def dense_store(self, dim: int) -> GpuDenseStore:
        return GpuDenseStore(dim, self.ordinal, self.scan_dtype)

    def sparse_store(self) -> GpuSparseStore:
        return GpuSparseStore(self.ordinal)

    # -- selection -------------------------------------------------------------------------

    def select(self, keys: Any, k: int, ids: Any = None, id_offset: int = 0) -> tuple[Any, Any]:
        """Top k (unsorted) of each row of keys (nq, n), k <= n. ids: None (column + offset),
        shape (n,) shared by all rows, or (nq, n). Short rows: one block per query, one
        launch; long rows: a 12-bit histogram, a filter to candidates and a block per query
        over them (four launches, two reads of the keys: ``cuda/topk.cu``)."""
        cp = _cp()
        keys = cp.ascontiguousarray(keys, dtype=cp.float32)
        nq, n = keys.shape
        out = (cp.empty((nq, k), dtype=cp.float32), cp.empty((nq, k), dtype=cp.int32))
        if ids is None:
            ids_arr, ids_ld, use = placeholder(), 0, 0
        else:
            ids_arr = cp.ascontiguousarray(ids, dtype=cp.int32)
            ids_ld, use = (0 if ids_arr.ndim == 1 else ids_arr.shape[1]), 1
        id_args = (ids_arr, np.int64(ids_ld), np.int32(use), np.int32(id_offset))
        row_args, kk = (keys, np.int32(n), np.int64(n)), np.int32(k)
        if n <= _BLOCK_SELECT_MAX:
            kernels.get(_TOPK, "gm_radix_select_block")(
                (nq,), (1024,), (*row_args, *id_args, kk, *out)
            )
            return out
        hist = cp.zeros((nq, _TOP_BINS), dtype=cp.uint32)
        prefix, remaining = cp.empty(nq, dtype=cp.uint32), cp.empty(nq, dtype=cp.int32)
        counters = cp.zeros(2 * nq, dtype=cp.uint32)
        cap = min(n, max(_CANDIDATES, k))
        cand = (np.int32(cap), cp.empty((nq, cap), cp.float32), cp.empty((nq, cap), cp.int32))
        grid = (max(1, min(-(-n // 1024), -(-self.sm_count * 8 // nq))), nq)
        kernels.get(_TOPK, "gm_radix_top_hist")(grid, (256,), (*row_args, hist))
        kernels.get(_TOPK, "gm_radix_top_pick")(
            (-(-nq // 8),), (256,), (np.int32(nq), kk, hist, prefix, remaining)
        )
        kernels.get(_TOPK, "gm_radix_filter")(
            grid, (256,), (*row_args, *id_args, prefix, kk, counters, *out, *cand)
        )
        kernels.get(_TOPK, "gm_radix_finish")(
            (nq,), (1024,), (*row_args, *id_args, prefix, remaining, counters, *cand, kk, *out)
        )
        return out

    # -- dense -----------------------------------------------------------------------------

    def search_dense(
        self,
        store: GpuDenseStore,
        queries: np.ndarray,
        metric: str,
        k: int,
        valid: Valid,
        bounds: Bounds = (None, None),
    ) -> tuple[np.ndarray, np.ndarray]:
        cp = _cp()
        nq, n = len(queries), len(store)
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(nq, store.dim)
        per_query = valid is not None and valid.ndim == 2
        shared = None if valid is None or per_query else np.asarray(valid[:n], dtype=bool)
        total = n if shared is None else int(np.count_nonzero(shared))
        if total == 0 or k <= 0 or nq == 0:
            return no_hits(nq)
        # Range bounds are tested loosely in the kernels, then exactly on the refined float64
        # distances (as on the CPU), so a few extra candidates are kept for rows near a bound.
        ranged = bounds != (None, None)
        k_eff = min(total, 2 * k + 16) if ranged else min(k, total)
        loose = widened(bounds, metric) if ranged else bounds
        qn = q
        if metric == "COSINE":
            norms = np.linalg.norm(q, axis=1, keepdims=True)
            qn = (q / np.where(norms == 0, 1, norms)).astype(np.float32)
        qsq = np.einsum("ij,ij->i", q, q).astype(np.float32)
        with cp.cuda.Device(self.ordinal):
            d_q, d_qn, d_qsq = _upload_queries(q, qn, qsq)
            aux = store.inv_norms if metric == "COSINE" else store.sq_norms
            m = kernels.METRIC_IDS[metric]
            dq = _DenseQuery(store, d_qn, d_qsq, aux, device_mask(valid, nq, n), m)
            found = None
            if store.scan_copy is not None and not ranged:
                found = self._scan16(dq, q, qn, metric, total, k_eff)
            keys, ids = found or self._keys(dq, k_eff, loose, total)
            both = cp.asnumpy(self._refine(store, d_q, keys, ids, m))  # one device-to-host copy
            rows_h, dist_h = both[0], both[1].view(np.float64)
        rows_h, dist_h = order_refined(rows_h, dist_h, metric)
        if found is not None:  # the 16-bit scan's wider window, cut to the k best exact ones
            rows_h, dist_h = rows_h[:, :k_eff], dist_h[:, :k_eff]
        return exact_bounds(rows_h, dist_h, metric, bounds, k) if ranged else (rows_h, dist_h)

    def _fits_fused(self, nq: int, k: int) -> int:
        """The fused kernel's per-query list length H for nq queries and k, or 0 if it does
        not fit (too many queries, k too large, or too little shared memory).

        The block meets at a barrier every H rows, so H grows (up to 256) while the lists
        stay within 16 KiB of shared memory per block: fewer barriers for small batches,
        several blocks per SM still. (A choice from the kernel's structure, not yet timed.)"""
        h = max(64, _next_pow2(k))
        ok = nq <= _FUSED_MAX_NQ and k <= _FUSED_MAX_K and nq * (8 + 16 * h) <= _FUSED_SMEM
        while ok and h < _FUSED_MAX_K and nq * (8 + 32 * h) <= _FUSED_SMEM_PREFERRED:
            h *= 2
        return h if ok else 0

    def _keys(
        self, dq: _DenseQuery, k: int, bounds: Bounds, total: int, bits: int = 32
    ) -> tuple[Any, Any]:
        """Top-k keys and rows over the float32 rows (bits 32) or the 16-bit scan copy
        (bits 16: dq.q16 set): fused scan when it fits, else GEMM."""
        cp = _cp()
        h = self._fits_fused(dq.nq, k)
        if h:
            return self._fused(dq, k, h, bounds, bits)
        sel = None
        if dq.mask.shared is not None and total * 2 < len(dq.store):  # selective: gather them
            sel = cp.asarray(np.flatnonzero(dq.mask.shared).astype(np.int32))
            dq = replace(dq, mask=device_mask(None, 0, 0))
        return self._gemm(dq, k, bounds, sel, bits)

    def scan16_window(self, nq: int, k: int, total: int) -> tuple[int, bool] | None:
        """The 16-bit path's window and whether it comes from the 16-bit GEMM (else the fused
        scan); None where the window does not fit the fused kernel but float32's would."""
        wide = min(total, max(2 * k, k + 64))  # bfloat16, tight clusters: ~70 at k = 10
        if self._fits_fused(nq, wide):
            return wide, False
        if self._fits_fused(nq, k):
            return None
        # a wide window: the select's cost grows slowly with it, and the band trims the
        # re-scoring (bfloat16 in tight clusters needs ~190 at k = 10, ~530 at k = 100:
        # scan16_certify.py)
        return min(total, k + max(192, min(5 * k, 8192))), True

    def _scan16(
        self, dq: _DenseQuery, q: np.ndarray, qn: np.ndarray, metric: str, total: int, k: int
    ) -> tuple[Any, Any] | None:
        """Candidates from the 16-bit scan copy, exact by certificate (performance.md §1.6).

        The scan keeps a window of ``wide`` > k approximate keys per query. Each key is within
        ``err`` of the float32 one, so every row of the true top k has a key of at least the
        k-th minus 2 err: when the window's last key is below that, the window holds them
        all, and only its keys above that band need re-scoring (in large windows the rest
        become -inf; small ones are certified on the host and re-scored whole).
        Queries whose window is not certified are searched again on the float32 rows. The
        window comes from the fused scan when it fits, else from the 16-bit GEMM (queries
        rounded too) where float32 would use GEMM as well; None (use float32) otherwise."""
        cp = _cp()
        nq, q_err = len(q), 0.0
        window = self.scan16_window(nq, k, total)
        if window is None:
            return None  # the float32 fused scan
        wide, gemm = window
        if gemm:
            q16, d_err = round16(dq.qn, dq.store.scan_dtype)
            dq, q_err = replace(dq, q16=q16), cp.asnumpy(d_err)
        keys, ids = self._keys(dq, wide, (None, None), total, bits=16)
        small = keys.size <= _HOST_CERTIFY
        if small:  # one copy and a host sort, not five launches (the nq <= 8 latency path)
            ranked = -np.sort(-cp.asnumpy(keys), axis=1)
            kth, last = ranked[:, k - 1].astype(np.float64), ranked[:, -1].astype(np.float64)
        else:
            kth_last = cp.stack((self.select(keys, k)[0].min(axis=1), keys.min(axis=1)))
            kth, last = cp.asnumpy(kth_last).astype(np.float64)  # 2 x nq floats cross PCIe
        err = scan16_error(dq.store, q, qn, metric, q_err)
        with np.errstate(invalid="ignore"):  # inf bounds (overflow) are not certified
            band = kth - 2 * err
            ok = np.isfinite(err) & ((wide >= total) | np.isneginf(last) | (last < band))
        if not small:  # re-score only the band (a small window costs little to re-score)
            low = np.where(ok, band, -np.inf).astype(np.float32)
            low = np.nextafter(low, np.float32(-np.inf))
            keys = cp.where(keys >= cp.asarray(low)[:, None], keys, cp.float32(-cp.inf))
        self.scan16_queries += nq
        redo = np.flatnonzero(~ok)
        if len(redo):
            self.scan16_redone += len(redo)
            sub = cp.asarray(redo)
            fk, fi = self._keys(dq.queries(sub), k, (None, None), total)
            pad_k = cp.full((len(redo), wide), -cp.inf, dtype=cp.float32)
            pad_i = cp.full((len(redo), wide), -1, dtype=cp.int32)
            pad_k[:, :k], pad_i[:, :k] = fk, fi
            keys[sub], ids[sub] = pad_k, pad_i
        return keys, ids

    def _fused(
        self, dq: _DenseQuery, k: int, h: int, bounds: Bounds, bits: int = 32
    ) -> tuple[Any, Any]:
        """Per-block top k of the fused scan over the float32 rows (bits 32) or the 16-bit
        scan copy (bits 16), merged by the radix select when there are several blocks."""
        cp = _cp()
        store = dq.store
        nq, n, d = dq.nq, len(store), store.dim
        tmpl = next(t for t in kernels.FUSED_NQ if t >= nq)
        smem = nq * (8 + 16 * h)
        rows = kernels.FUSED_ROWS[tmpl]
        if bits == 32:
            rows = 1 if _FUSED_ONE_ROW else rows
            kern = kernels.get(_DIST, "gm_fused_scan", dq.metric, tmpl, 0, rows)
        else:
            store_id = kernels.STORE_IDS[store.scan_dtype]
            kern = kernels.get(_SCAN16, "gm_fused_scan", dq.metric, tmpl, store_id, rows)
        # one wave: as many blocks as the SMs hold at once, each a contiguous range of rows
        rpb = max(h, -(-n // (self.sm_count * resident_blocks(kern, 256, smem))))
        grid = -(-n // rpb)
        out_keys = cp.empty((nq, grid * k), dtype=cp.float32)
        out_rows = cp.empty((nq, grid * k), dtype=cp.int32)
        kern(
            (grid,),
            (256,),
            (
                store.matrix if bits == 32 else store.scan_copy,
                np.int32(n),
                np.int32(d),
                dq.qn,
                np.int32(nq),
                dq.aux,
                dq.qsq,
                *dq.mask.args(),
                *bound_args(bounds),
                np.int32(k),
                np.int32(2 * h),
                np.int32(rpb),
                out_keys,
                out_rows,
            ),
            shared_mem=smem,
        )
        if grid == 1:
            return out_keys, out_rows
        return self.select(out_keys, k, ids=out_rows)

    def _gemm(
        self, dq: _DenseQuery, k: int, bounds: Bounds, sel: Any, bits: int = 32
    ) -> tuple[Any, Any]:
        """cuBLAS products over column chunks (of the rows, or of the gathered ``sel``; of
        the 16-bit copy with bits 16), turned into keys by the epilogue (IP unmasked,
        unbounded: they are the keys already) and reduced by the select, per query group."""
        cp = _cp()
        nq, x = dq.nq, dq.store.matrix if bits == 32 else dq.store.scan_copy
        total = len(x) if sel is None else len(sel)
        # IP with no mask and no bounds: the products are the keys (no pass over the scores)
        identity = dq.metric == kernels.METRIC_IDS["IP"] and dq.mask.mode == 0
        identity = identity and bounds == (None, None)
        out_k, out_i = [], []
        for g0 in range(0, nq, _QUERY_GROUP):
            g1 = min(nq, g0 + _QUERY_GROUP)
            group = dq.queries(slice(g0, g1))
            chunk = max(k, _SCORE_BUDGET // (g1 - g0))
            cand_k, cand_i = [], []
            for c0 in range(0, total, chunk):
                c1 = min(total, c0 + chunk)
                ids = None if sel is None else sel[c0:c1]
                xb = x[c0:c1] if sel is None else x[ids]
                if bits == 32:
                    s = cp.ascontiguousarray(cp.matmul(group.qn, xb.T))
                else:
                    s = products16(group.q16, xb, dq.store.scan_dtype)
                if not identity:
                    self._epilogue(s, group, c0, ids, bounds)
                kk, ii = self.select(s, min(k, c1 - c0), ids=ids, id_offset=c0)
                cand_k.append(kk)
                cand_i.append(ii)
            if len(cand_k) == 1:
                kk, ii = cand_k[0], cand_i[0]
            else:
                ck, ci = cp.concatenate(cand_k, axis=1), cp.concatenate(cand_i, axis=1)
                kk, ii = self.select(ck, k, ids=ci)
            out_k.append(kk)
            out_i.append(ii)
        if len(out_k) == 1:
            return out_k[0], out_i[0]
        return cp.concatenate(out_k, axis=0), cp.concatenate(out_i, axis=0)

    def _epilogue(self, s: Any, group: _DenseQuery, c0: int, ids: Any, bounds: Bounds) -> None:
        """Dot products s (queries x columns c0.., or the gathered rows ids) into keys, in
        place: metric, mask (-inf), range bounds."""
        nq, c = s.shape
        kernels.get(_DIST, "gm_key_epilogue", group.metric)(
            (max(1, min(-(-s.size // 256), self.sm_count * 32)),),
            (256,),
            (
                s,
                np.int32(nq),
                np.int32(c),
                np.int64(c0),
                ids if ids is not None else placeholder(),
                np.int32(ids is not None),
                group.aux,
                group.qsq,
                *group.mask.args(),
                *bound_args(bounds),
            ),
        )

    def _refine(self, store: GpuDenseStore, q: Any, keys: Any, ids: Any, metric: int) -> Any:
        """Rows (-1 where the key is -inf) and their float64 distances from the raw queries,
        as one int64 array (2, nq, k): [0] rows, [1] the distances' bits."""
        cp = _cp()
        nq, k = keys.shape
        out = cp.empty((2, nq, k), dtype=cp.int64)
        if nq * k == 0:
            return out
        args = (store.matrix, np.int32(store.dim), q, cp.ascontiguousarray(keys))
        args += (cp.ascontiguousarray(ids), np.int32(nq), np.int32(k), out)
        kernels.get(_DIST, "gm_refine", metric)((-(-(nq * k) // 8),), (256,), args)  # warp each
        return out

    # -- sparse ----------------------------------------------------------------------------

    def search_sparse(
        self,
        store: GpuSparseStore,
        queries: sp.csr_matrix,
        k: int,
        valid: Valid,
        bounds: Bounds = (None, None),
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sparse IP; only rows with a non-zero product (a shared dimension) are returned."""
        cp = _cp()
        nq, n = queries.shape[0], len(store)
        if n == 0 or k <= 0 or nq == 0:
            return no_hits(nq)
        q = sp.csr_matrix(queries, dtype=np.float32)
        q.sum_duplicates()
        if q.nnz == 0:
            return no_hits(nq)
        with cp.cuda.Device(self.ordinal):
            keys, ids = gpu_sparse.search_sparse(self, store, q, k, valid, bounds, _SCORE_BUDGET)
            both = cp.asnumpy(cp.stack((keys.view(cp.int32), ids)))  # one device-to-host copy
            keys_h, ids_h = both[0].view(np.float32), both[1].astype(np.int64)
        order = np.argsort(-keys_h, axis=1, kind="stable")
        keys_h = np.take_along_axis(keys_h, order, axis=1)
        ids_h = np.take_along_axis(ids_h, order, axis=1)
        missing = np.isneginf(keys_h)
        ids_h[missing] = -1
        keys_h[missing] = 0
        width = int((~missing).sum(axis=1).max(initial=0))
        return ids_h[:, :width], keys_h[:, :width].astype(np.float32)
