"""The emulated CuPy refuses what real CuPy would refuse or silently get wrong.

Runs only where ``import cupy`` finds the emulation (``tests/unit/test_gpu_emulated.py`` runs
this file that way); it skips under real CuPy and where no CuPy is installed.
"""

from __future__ import annotations

import numpy as np
import pytest

cupy = pytest.importorskip("cupy")
if cupy.__version__ != "0.0-emulated":
    pytest.skip("checks the emulated CuPy only", allow_module_level=True)

from gpu_milvus import kernels  # noqa: E402


def _hist_args(**change):
    keys = cupy.asarray(np.arange(8, dtype=np.float32))
    args = {
        "keys": keys,
        "n": np.int32(8),
        "ld": np.int64(8),
        "hist": cupy.zeros(4096, dtype=cupy.uint32),
    }
    args.update(change)
    return tuple(args.values())


def test_a_correct_launch_runs() -> None:
    args = _hist_args()
    kernels.get("topk.cu", "gm_radix_top_hist")((1, 1), (256,), args)
    assert int(args[-1].sum()) == 8


@pytest.mark.parametrize(
    "change",
    [
        {"n": 8},  # a Python int: CuPy passes 64 bits to a 32-bit parameter
        {"ld": np.int32(8)},  # long long given 32 bits
        {"keys": np.arange(8, dtype=np.float32)},  # a host array
        {"keys": cupy.asarray(np.arange(8, dtype=np.float64))},  # wrong element type
        {"keys": cupy.asarray(np.arange(16, dtype=np.float32))[::2]},  # not contiguous
    ],
)
def test_bad_arguments_are_refused(change: dict) -> None:
    with pytest.raises(TypeError):
        kernels.get("topk.cu", "gm_radix_top_hist")((1, 1), (256,), _hist_args(**change))


@pytest.mark.parametrize(
    ("grid", "block", "smem"),
    [((1, 70000), (256,), 0), ((1,), (2048,), 0), ((1,), (256,), 64 * 1024), ((0,), (256,), 0)],
)
def test_launch_limits(grid: tuple, block: tuple, smem: int) -> None:
    with pytest.raises(ValueError):
        kernels.get("topk.cu", "gm_radix_top_hist")(grid, block, _hist_args(), shared_mem=smem)


def test_template_names_must_be_declared() -> None:
    with pytest.raises(ValueError):
        kernels.module("distance.cu").get_function("gm_refine<3>")
    with pytest.raises(ValueError):
        kernels.module("distance.cu").get_function("gm_refine")


def test_device_and_host_arrays_do_not_mix() -> None:
    dev = cupy.zeros(4, dtype=cupy.float32)
    with pytest.raises(TypeError):
        np.asarray(dev)
    with pytest.raises(TypeError):
        dev + np.ones(4, dtype=np.float32)
    with pytest.raises(TypeError):
        cupy.concatenate([dev, np.ones(4, dtype=np.float32)])
    assert isinstance(cupy.asnumpy(dev + 1), np.ndarray)


def test_empty_is_poisoned() -> None:
    assert np.isnan(cupy.asnumpy(cupy.empty(16, dtype=cupy.float32))).all()


def test_const_buffers_are_read_only_in_emulations() -> None:
    kern = kernels.get("topk.cu", "gm_radix_top_hist")
    param = next(p for p in kern.sig.params if p.name == "keys")
    view = kern._convert(param, cupy.zeros(4, dtype=cupy.float32))
    with pytest.raises(ValueError):
        view[0] = 1.0
