"""Host-side helpers of the CUDA backend, checked without CuPy: mask bitsets and occupancy."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_milvus.engine.gpu import resident_blocks
from gpu_milvus.engine.gpu_args import pack_bits


@pytest.mark.parametrize("n", [1, 31, 32, 33, 1000])
def test_bitsets_are_little_endian_words(n: int) -> None:
    rng = np.random.default_rng(n)
    rows = rng.random((3, n)) < 0.5
    words = -(-n // 32)
    bits = pack_bits(rows, words)
    assert bits.dtype == np.dtype("<u4") and bits.shape == (3, words)
    r = np.arange(n)
    np.testing.assert_array_equal(((bits[:, r >> 5] >> (r & 31)) & 1).astype(bool), rows)


class _Kernel:
    def __init__(self, num_regs: int) -> None:
        self.num_regs = num_regs


@pytest.mark.parametrize(
    ("regs", "smem", "want"),
    [
        (32, 0, 8),
        (40, 0, 6),
        (64, 0, 4),
        (128, 0, 2),
        (255, 0, 1),
        (32, 33_000, 6),
        (32, 60_000, 3),
    ],
)
def test_resident_blocks_follow_the_sm_limits(regs: int, smem: int, want: int) -> None:
    """256-thread blocks on sm_80/sm_90: registers, threads and shared memory each cap them."""
    assert resident_blocks(_Kernel(regs), 256, smem) == want


def _rounded(x: np.ndarray, fmt: str) -> np.ndarray:
    """x rounded to nearest-even in the 16-bit format (float16 by NumPy; bfloat16 by keeping
    8 significant bits), independently of the backend's own rounding."""
    if fmt == "float16":
        return x.astype(np.float16).astype(np.float64)
    m, e = np.frexp(x.astype(np.float64))
    return np.ldexp(np.round(m * 256) / 256, e)


@pytest.mark.parametrize("metric", ["IP", "L2", "COSINE"])
@pytest.mark.parametrize("fmt", ["float16", "bfloat16"])
def test_scan16_error_bounds_every_key(metric: str, fmt: str) -> None:
    """The certificate's premise: every key from the 16-bit rows is within the bound of the
    float32 key, for rows of mixed scales."""
    from types import SimpleNamespace

    from gpu_milvus.engine.gpu import scan16_error

    rng = np.random.default_rng(5)
    x = (rng.standard_normal((3000, 64)) * rng.choice([0.01, 1.0, 30.0], (3000, 1))).astype(
        np.float32
    )
    q = rng.standard_normal((16, 64)).astype(np.float32) * 3
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    x64, xr = x.astype(np.float64), _rounded(x, fmt)
    err = np.linalg.norm(x64 - xr, axis=1)
    norm = np.linalg.norm(x64, axis=1)
    store = SimpleNamespace(
        dim=64, max_err=err.max(), max_rel_err=(err / norm).max(), max_sq=(norm**2).max()
    )
    if metric == "IP":
        exact, approx = q @ x64.T, q @ xr.T
    elif metric == "L2":
        exact, approx = 2 * q @ x64.T - norm**2, 2 * q @ xr.T - norm**2
    else:
        exact, approx = qn @ x64.T / norm, qn @ xr.T / norm
    bound = scan16_error(store, q, qn, metric)
    gap = np.abs(approx - exact).max(axis=1)
    assert (gap <= bound).all()
    assert (bound < 8 * gap).all()  # a bound, and a tight one (2-4x the worst case seen)
