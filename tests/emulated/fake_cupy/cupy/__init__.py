"""A NumPy-backed stand-in for CuPy, for running the GPU backend's host code without a GPU.

Not a product and not a CuPy replacement: it exists so that ``tests/gpu`` can run on a machine
without CUDA (``tests/unit/test_gpu_emulated.py`` puts this folder first on ``PYTHONPATH``).
It keeps the CuPy rules that catch real bugs:

- device arrays are a separate type: implicit conversion to NumPy raises TypeError, and mixing
  device and host arrays in one operation raises TypeError, as CuPy does;
- ``empty`` hands out poisoned memory (NaN or random bits), so unwritten outputs show;
- ``RawModule`` kernels are checked against their ``.cu`` signatures (argument count, pointer
  dtypes, contiguity, exact scalar widths), launch limits and template names, then carried out
  by NumPy versions of the kernels in ``_kernels.py``, or, with ``FAKE_CUPY_KERNELS=cuda``, by
  the CUDA code itself built for the CPU (``_on_cpu.py``).

Neither says anything about speed or about what only the hardware decides.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from cupy import cuda
from cupy._raw import RawKernel, RawModule  # noqa: F401

__version__ = "0.0-emulated"
_POISON = np.random.default_rng()


class ndarray:  # CuPy's name
    """A device array: a NumPy array behind a wall that only explicit transfers cross."""

    __slots__ = ("_a",)
    __array_priority__ = 1000

    def __init__(self, a: np.ndarray) -> None:
        self._a = a

    # -- attributes ---------------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    ndim = property(lambda self: self._a.ndim)
    dtype = property(lambda self: self._a.dtype)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T))

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        """What makes an object a device array to other libraries (data: the host buffer)."""
        return {"shape": self.shape, "typestr": self.dtype.str, "version": 3,
                "data": (self._a.ctypes.data, False), "strides": None}  # fmt: skip

    def __len__(self) -> int:
        return len(self._a)

    def __repr__(self) -> str:
        return f"fake_cupy.ndarray({self._a!r})"

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(
            "Implicit conversion to a NumPy array is not allowed. "
            "Please use `.get()` to construct a NumPy array explicitly."
        )

    def __iter__(self):
        return (ndarray(np.asarray(v)) for v in self._a)

    # -- transfers and conversions ------------------------------------------------------------
    def get(self) -> np.ndarray:
        return self._a.copy()

    def item(self) -> Any:
        return self._a.item()

    def __int__(self) -> int:
        return int(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __index__(self) -> int:
        return operator.index(self._a.item())

    def astype(self, dtype: Any, copy: bool = True, **kwargs: Any) -> ndarray:
        out = self._a.astype(dtype, copy=copy, **kwargs)
        return self if out is self._a else ndarray(out)

    def copy(self) -> ndarray:
        return ndarray(self._a.copy())

    def reshape(self, *shape: Any, **kwargs: Any) -> ndarray:
        return ndarray(self._a.reshape(*shape, **kwargs))

    def ravel(self) -> ndarray:
        return ndarray(self._a.ravel())

    def view(self, dtype: Any) -> ndarray:
        return ndarray(self._a.view(dtype))

    def fill(self, value: Any) -> None:
        self._a.fill(value)

    def sum(self, *args: Any, **kwargs: Any) -> ndarray:
        return ndarray(np.asarray(self._a.sum(*args, **kwargs)))

    def max(self, *args: Any, **kwargs: Any) -> ndarray:
        return ndarray(np.asarray(self._a.max(*args, **kwargs)))

    def min(self, *args: Any, **kwargs: Any) -> ndarray:
        return ndarray(np.asarray(self._a.min(*args, **kwargs)))

    def all(self, *args: Any, **kwargs: Any) -> ndarray:
        return ndarray(np.asarray(self._a.all(*args, **kwargs)))

    def any(self, *args: Any, **kwargs: Any) -> ndarray:
        return ndarray(np.asarray(self._a.any(*args, **kwargs)))

    # -- indexing -----------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> ndarray:
        return ndarray(np.asarray(self._a[_unwrap_index(key)]))

    def __setitem__(self, key: Any, value: Any) -> None:
        self._a[_unwrap_index(key)] = _unwrap(value, allow_host=True)


def _unwrap_index(key: Any) -> Any:
    if isinstance(key, tuple):
        return tuple(_unwrap_index(k) for k in key)
    return key._a if isinstance(key, ndarray) else key


def _unwrap(value: Any, allow_host: bool = False) -> Any:
    """The NumPy array behind a device array; host arrays are refused unless allowed."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, np.ndarray) and not allow_host:
        raise TypeError(f"Unsupported type {type(value)}")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, allow_host) for v in value)
    return value


def _wrap(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return ndarray(value)
    if isinstance(value, np.generic):
        return ndarray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _device_op(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A NumPy function made to take and return device arrays only (CuPy's rule)."""

    def run(*args: Any, **kwargs: Any) -> Any:
        args = tuple(_unwrap(a) for a in args)
        kwargs = {k: _unwrap(v) for k, v in kwargs.items()}
        return _wrap(fn(*args, **kwargs))

    run.__name__ = getattr(fn, "__name__", "op")
    return run


def _binary(op: Callable[[Any, Any], Any], reflected: bool = False) -> Callable[..., Any]:
    def method(self: ndarray, other: Any) -> Any:
        if isinstance(other, np.ndarray):
            raise TypeError(f"Unsupported type {type(other)}")
        other = other._a if isinstance(other, ndarray) else other
        return _wrap(op(other, self._a) if reflected else op(self._a, other))

    return method


for _name, _op in {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "truediv": operator.truediv,
    "floordiv": operator.floordiv,
    "mod": operator.mod,
    "pow": operator.pow,
    "and": operator.and_,
    "or": operator.or_,
    "xor": operator.xor,
    "lshift": operator.lshift,
    "rshift": operator.rshift,
    "matmul": operator.matmul,
}.items():
    setattr(ndarray, f"__{_name}__", _binary(_op))
    setattr(ndarray, f"__r{_name}__", _binary(_op, reflected=True))
for _name in ("eq", "ne", "lt", "le", "gt", "ge"):
    setattr(ndarray, f"__{_name}__", _binary(getattr(operator, _name)))
ndarray.__hash__ = None  # type: ignore[assignment]
ndarray.__neg__ = lambda self: ndarray(-self._a)  # type: ignore[attr-defined]
ndarray.__invert__ = lambda self: ndarray(~self._a)  # type: ignore[attr-defined]
ndarray.__abs__ = lambda self: ndarray(abs(self._a))  # type: ignore[attr-defined]


# -- creation and transfers ------------------------------------------------------------------
def asarray(a: Any, dtype: Any = None, order: str | None = None) -> ndarray:
    """Device copy of host data; a device array comes back as is (cast when asked)."""
    if isinstance(a, ndarray):
        return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
    out = np.array(a, dtype=dtype, order=order or "K", copy=True)
    cuda.check_allocation(out.nbytes)
    return ndarray(out)


array = asarray


def ascontiguousarray(a: Any, dtype: Any = None) -> ndarray:
    a = asarray(a, dtype)
    return a if a._a.flags.c_contiguous else ndarray(np.ascontiguousarray(a._a))


def asnumpy(a: Any, *args: Any, **kwargs: Any) -> np.ndarray:
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def empty(shape: Any, dtype: Any = float) -> ndarray:
    """Uninitialised memory, poisoned: NaN for floats, random bits otherwise."""
    dt = np.dtype(dtype)
    cuda.check_allocation(int(np.prod(shape)) * dt.itemsize)
    if dt.kind == "f":
        return ndarray(np.full(shape, np.nan, dtype=dt))
    raw = _POISON.integers(0, 256, size=int(np.prod(shape)) * dt.itemsize, dtype=np.uint8)
    return ndarray(raw.view(dt).reshape(shape))


def empty_like(a: ndarray, dtype: Any = None) -> ndarray:
    return empty(a.shape, dtype or a.dtype)


def zeros(shape: Any, dtype: Any = float) -> ndarray:
    cuda.check_allocation(int(np.prod(shape)) * np.dtype(dtype).itemsize)
    return ndarray(np.zeros(shape, dtype=dtype))


def full(shape: Any, fill_value: Any, dtype: Any = None) -> ndarray:
    out = np.full(shape, fill_value, dtype=dtype)
    cuda.check_allocation(out.nbytes)
    return ndarray(out)


class _Random:
    """``cupy.random``: the few generators the benchmarks use, on the device."""

    def __init__(self) -> None:
        self._rng = np.random.default_rng()

    def random(self, size: Any = None, dtype: Any = float) -> ndarray:
        return ndarray(self._rng.random(size, dtype=dtype))

    def standard_normal(self, size: Any = None, dtype: Any = float) -> ndarray:
        return ndarray(self._rng.standard_normal(size, dtype=dtype))


random = _Random()


class _MemoryPool:
    def free_all_blocks(self) -> None:
        return None

    def used_bytes(self) -> int:
        return 0


_POOL = _MemoryPool()


def get_default_memory_pool() -> _MemoryPool:
    return _POOL


def get_default_pinned_memory_pool() -> _MemoryPool:
    return _POOL


def __getattr__(name: str) -> Any:
    """Everything else NumPy has: dtypes and constants as they are, functions device-only."""
    value = getattr(np, name)
    if isinstance(value, type) or not callable(value):
        return value
    return _device_op(value)
