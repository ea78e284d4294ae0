"""Brute-force baselines a user could pick instead: NumPy/SciPy on the CPU, torch and CuPy on
a GPU. Each returns the top-k ids per query as host arrays; the GPU peers keep the base rows
on the device and time host queries in, host ids out (the same work gpu_milvus does).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import scipy.sparse as sp

from gpu_milvus.benchmarks.datasets import CAT_RANGE, Dataset, SparseSet
from gpu_milvus.benchmarks.metrics import topk_rows

NUMPY, TORCH, CUPY = "numpy", "torch", "cupy"


def _cut(selectivity: float | None) -> int | None:
    return None if selectivity is None else round(CAT_RANGE * selectivity)


class NumpyPeer:
    """``scores = q @ X.T`` (float32 BLAS), ``argpartition`` + sort of the k best."""

    engine = NUMPY

    def __init__(self, ds: Dataset) -> None:
        self.base, self.queries, self.cats = ds.base, ds.queries, ds.cats

    def dense(self, rows: np.ndarray, k: int, selectivity: float | None = None) -> np.ndarray:
        scores = self.queries[rows] @ self.base.T
        cut = _cut(selectivity)
        if cut is not None:
            assert self.cats is not None
            scores[:, self.cats >= cut] = -np.inf
        ids, vals = topk_rows(scores, k)
        ids[~np.isfinite(vals)] = -1
        return ids


class ScipySparsePeer:
    """Sparse: SciPy CSR ``X @ q.T`` + top-k; hybrid: both top-``limit`` lists, RRF(60)."""

    engine = NUMPY

    def __init__(self, ss: SparseSet) -> None:
        self.base, self.queries = ss.base, ss.queries
        self.dense_base, self.dense_queries = ss.dense, ss.dense_queries

    def sparse(self, rows: np.ndarray, k: int) -> np.ndarray:
        scores = (self.base @ self.queries[rows].T).T
        dense = scores.toarray() if sp.issparse(scores) else np.asarray(scores)
        return topk_rows(dense, k)[0]

    def hybrid(self, rows: np.ndarray, k: int, limit: int) -> list[list[int]]:
        d_ids = topk_rows(self.dense_queries[rows] @ self.dense_base.T, limit)[0]
        s_ids = self.sparse(rows, limit)
        ranks = 1.0 / (60 + np.arange(1, limit + 1))
        out = []
        for a, b in zip(d_ids, s_ids, strict=True):
            ids = np.concatenate([a, b])
            uniq, inv = np.unique(ids, return_inverse=True)
            score = np.bincount(inv, weights=np.concatenate([ranks, ranks]))
            order = np.lexsort((uniq, -score))[:k]
            out.append(uniq[order].tolist())
        return out


class TorchPeer:
    """``torch.topk(q @ X.T, k)`` on a CUDA device (fp32, TF32 off)."""

    engine = TORCH

    def __init__(self, ds: Dataset) -> None:
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        self.torch = torch
        self.base = torch.as_tensor(ds.base, device="cuda")
        self.queries = ds.queries
        self.cats = None if ds.cats is None else torch.as_tensor(ds.cats, device="cuda")

    def dense(self, rows: np.ndarray, k: int, selectivity: float | None = None) -> np.ndarray:
        q = self.torch.as_tensor(self.queries[rows], device="cuda")
        scores = q @ self.base.T
        cut = _cut(selectivity)
        if cut is not None and self.cats is not None:
            scores[:, self.cats >= cut] = float("-inf")
        return self.torch.topk(scores, k, dim=1).indices.cpu().numpy()


class CupyPeer:
    """``cupy.matmul`` + ``cupy.argpartition`` + sort of the k best (CUPY_TF32 off)."""

    engine = CUPY

    def __init__(self, ds: Dataset) -> None:
        import cupy as cp

        self.cp = cp
        self.base = cp.asarray(ds.base)
        self.queries = ds.queries
        self.cats = None if ds.cats is None else cp.asarray(ds.cats)

    def dense(self, rows: np.ndarray, k: int, selectivity: float | None = None) -> np.ndarray:
        cp = self.cp
        scores = cp.matmul(cp.asarray(self.queries[rows]), self.base.T)
        cut = _cut(selectivity)
        if cut is not None and self.cats is not None:
            scores[:, self.cats >= cut] = -cp.inf
        part = cp.argpartition(-scores, k - 1, axis=1)[:, :k]
        vals = cp.take_along_axis(scores, part, axis=1)
        order = cp.argsort(-vals, axis=1)
        return cp.take_along_axis(part, order, axis=1).get()


def gpu_peer_status(name: str) -> str | None:
    """None when the GPU peer ``name`` can run here, else the reason it cannot."""
    if importlib.util.find_spec(name) is None:
        return f"{name} is not installed"
    try:
        if name == TORCH:
            import torch

            return None if torch.cuda.is_available() else "torch sees no CUDA device"
        import cupy as cp

        return None if cp.cuda.runtime.getDeviceCount() > 0 else "cupy sees no CUDA device"
    except Exception as exc:  # driver or runtime missing
        return f"{name} unusable: {type(exc).__name__}: {exc}"


def make_dense_peers(ds: Dataset, wanted: list[str], skipped: list[dict[str, Any]]) -> list[Any]:
    """The dense peers in ``wanted`` that can run here; the others go to ``skipped``."""
    peers: list[Any] = []
    for name in wanted:
        if name == NUMPY:
            peers.append(NumpyPeer(ds))
            continue
        reason = gpu_peer_status(name)
        if reason is None:
            try:
                peers.append((TorchPeer if name == TORCH else CupyPeer)(ds))
                continue
            except Exception as exc:  # out of device memory, broken install
                reason = f"{type(exc).__name__}: {exc}"
        skipped.append({"what": f"peer {name}", "dataset": ds.name, "reason": reason})
    return peers
