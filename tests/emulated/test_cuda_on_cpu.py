"""The CPU runner of the kernels' CUDA code (``FAKE_CUPY_KERNELS=cuda``) keeps CUDA's rules.

Small kernels written for these tests: barriers, warp exchanges and atomics give CUDA's
results; what CUDA leaves undefined (thread order, fresh shared memory) varies between seeds;
what CUDA forbids (divergent barriers, missing lanes, writes out of bounds) fails the launch.
Runs where ``import cupy`` finds the emulation, on x86-64 with g++.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys

import numpy as np
import pytest

cupy = pytest.importorskip("cupy")
if cupy.__version__ != "0.0-emulated":
    pytest.skip("checks the emulated CuPy only", allow_module_level=True)
if platform.machine() != "x86_64" or shutil.which("g++") is None:
    pytest.skip("the CPU runner needs x86-64 and g++", allow_module_level=True)

SOURCE = r"""
extern "C" __global__ void block_sum(const float* __restrict__ x, int n, float* __restrict__ out) {
  __shared__ float part[32];
  float v = 0.0f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    v += x[i];
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    float s = 0.0f;
    for (int w = 0; w < (int)(blockDim.x >> 5); ++w) s += part[w];
    atomicAdd(out, s);
  }
}

extern "C" __global__ void lanes(int* __restrict__ out) {
  const int lane = threadIdx.x & 31;
  const unsigned b = __ballot_sync(0xffffffffu, lane % 3 == 0);
  out[threadIdx.x] = __shfl_sync(0xffffffffu, lane * 10, 31 - lane) + (int)(b == 0x49249249u);
}

extern "C" __global__ void ticket(unsigned int* __restrict__ counter, int* __restrict__ out) {
  out[blockIdx.x * blockDim.x + threadIdx.x] = (int)atomicAdd(counter, 1u);
}

extern "C" __global__ void unwritten_shared(float* __restrict__ out) {
  __shared__ float never_written[64];
  out[threadIdx.x] = never_written[threadIdx.x];
}

extern "C" __global__ void divergent_barrier(int* __restrict__ out) {
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

extern "C" __global__ void missing_lanes(int* __restrict__ out) {
  if (threadIdx.x >= 16) return;
  out[threadIdx.x] = __shfl_sync(0xffffffffu, (int)threadIdx.x, 0);
}

extern "C" __global__ void past_the_end(int n, int* __restrict__ out) {
  out[threadIdx.x] = n;  // launched with more threads than out has elements
}

extern "C" __global__ void vector_load(const float* __restrict__ x, int off,
                                       float* __restrict__ out) {
  const float4 v = *reinterpret_cast<const float4*>(x + off);
  out[threadIdx.x] = v.x + v.w;
}

extern "C" __global__ void half_to_float(const unsigned short* __restrict__ h, int n,
                                         float* __restrict__ out) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h[i]));
    out[i] = f;
  }
}
"""


@pytest.fixture
def module(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FAKE_CUPY_KERNELS", "cuda")
    return cupy.RawModule(code=SOURCE)


def test_barriers_warp_sums_and_atomics_give_the_sum(module) -> None:
    x = np.random.default_rng().random(10_000).astype(np.float32)
    out = cupy.zeros(1, dtype=cupy.float32)
    module.get_function("block_sum")((5,), (128,), (cupy.asarray(x), np.int32(len(x)), out))
    assert float(out.get()[0]) == pytest.approx(float(x.astype(np.float64).sum()), rel=1e-5)


def test_shuffle_and_ballot_read_the_other_lanes(module) -> None:
    out = cupy.zeros(64, dtype=cupy.int32)
    module.get_function("lanes")((1,), (64,), (out,))
    lane = np.arange(64) % 32
    np.testing.assert_array_equal(out.get(), (31 - lane) * 10 + 1)


def test_thread_and_block_order_vary_between_seeds(module, monkeypatch) -> None:
    orders = set()
    for seed in range(1, 6):
        monkeypatch.setenv("FAKE_CUPY_SEED", str(seed))
        counter, out = cupy.zeros(1, dtype=cupy.uint32), cupy.zeros(128, dtype=cupy.int32)
        module.get_function("ticket")((2,), (64,), (counter, out))
        got = out.get()
        np.testing.assert_array_equal(np.sort(got), np.arange(128))  # each ticket once
        orders.add(tuple(got))
    assert len(orders) == 5
    monkeypatch.setenv("FAKE_CUPY_SEED", "3")  # a seed replays its order
    counter, out = cupy.zeros(1, dtype=cupy.uint32), cupy.zeros(128, dtype=cupy.int32)
    module.get_function("ticket")((2,), (64,), (counter, out))
    assert tuple(out.get()) in orders


def test_shared_memory_starts_random_in_every_launch(module) -> None:
    seen = []
    for _ in range(2):
        out = cupy.zeros(64, dtype=cupy.float32)
        module.get_function("unwritten_shared")((1,), (64,), (out,))
        seen.append(out.get().view(np.uint32))
    assert (seen[0] != 0).sum() > 32 and (seen[0] != seen[1]).sum() > 32


@pytest.mark.parametrize(
    ("kernel", "threads", "message"),
    [
        ("divergent_barrier", 64, "divergent barrier"),
        ("missing_lanes", 32, "deadlock"),
    ],
)
def test_undefined_synchronisation_fails_the_launch(module, kernel, threads, message) -> None:
    out = cupy.zeros(threads, dtype=cupy.int32)
    with pytest.raises(RuntimeError, match=message):
        module.get_function(kernel)((1,), (threads,), (out,))


def test_a_write_past_the_end_fails_the_launch(module) -> None:
    out = cupy.zeros(30, dtype=cupy.int32)
    with pytest.raises(IndexError, match="wrote outside argument 'out'"):
        module.get_function("past_the_end")((1,), (32,), (np.int32(7), out))


def test_half_conversion_matches_numpy(module) -> None:
    bits = np.arange(1 << 16, dtype=np.uint16)
    out = cupy.zeros(len(bits), dtype=cupy.float32)
    args = (cupy.asarray(bits), np.int32(len(bits)), out)
    module.get_function("half_to_float")((64,), (256,), args)
    want = bits.view(np.float16).astype(np.float32)
    got = out.get()
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got[~nan], want[~nan])


def test_a_misaligned_vector_load_aborts_with_its_line() -> None:
    """A float4 load from an address that is not a multiple of 16 (a CUDA fault) stops the
    process, naming the line; aligned, the same kernel runs."""
    script = f"""
import numpy as np, cupy
mod = cupy.RawModule(code={SOURCE!r})
x, out = cupy.asarray(np.arange(64, dtype=np.float32)), cupy.zeros(32, dtype=cupy.float32)
mod.get_function("vector_load")((1,), (32,), (x, np.int32(4), out))
assert float(out.get()[0]) == 11.0
print("aligned ok", flush=True)
mod.get_function("vector_load")((1,), (32,), (x, np.int32(1), out))
"""
    env = dict(os.environ, FAKE_CUPY_KERNELS="cuda")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert "aligned ok" in proc.stdout, proc.stderr[-2000:]
    assert proc.returncode != 0
    assert "misaligned address" in proc.stderr, proc.stderr[-2000:]
