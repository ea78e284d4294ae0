"""``cupy.cuda`` of the emulated CuPy: one device, contexts, events and streams."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace
from typing import Any

# H200 figures by default, so grid sizes follow what the real device would get.
SM_COUNT = int(os.environ.get("FAKE_CUPY_SMS", "132"))
TOTAL_MEMORY = 141 * 2**30
_current = [0]


def _check(ordinal: int) -> int:
    ordinal = int(ordinal)
    if ordinal != 0:
        raise RuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal {ordinal}")
    return ordinal


class Device:
    """A context manager selecting device 0, the only one."""

    def __init__(self, device: int | None = None) -> None:
        self.id = _check(_current[0] if device is None else device)
        self._prev: list[int] = []

    def __enter__(self) -> Device:
        self._prev.append(_current[0])
        _current[0] = self.id
        return self

    def __exit__(self, *exc: object) -> None:
        _current[0] = self._prev.pop()

    def use(self) -> None:
        _current[0] = self.id

    def synchronize(self) -> None:
        return None

    @property
    def mem_info(self) -> tuple[int, int]:
        return TOTAL_MEMORY, TOTAL_MEMORY


def _properties(ordinal: int) -> dict[str, Any]:
    _check(ordinal)
    return {
        "name": b"Emulated GPU (NumPy)",
        "multiProcessorCount": SM_COUNT,
        "totalGlobalMem": TOTAL_MEMORY,
        "sharedMemPerBlock": 48 * 1024,
        "major": 9,
        "minor": 0,
    }


runtime = SimpleNamespace(
    getDevice=lambda: _current[0],
    getDeviceCount=lambda: 1,
    getDeviceProperties=_properties,
    runtimeGetVersion=lambda: 13000,
    driverGetVersion=lambda: 13000,
)


class _OutOfMemoryError(MemoryError):
    pass


_OutOfMemoryError.__name__ = _OutOfMemoryError.__qualname__ = "OutOfMemoryError"
# cupy.cuda.memory: the error, and (emulation only) the largest single allocation allowed
memory = SimpleNamespace(OutOfMemoryError=_OutOfMemoryError, max_allocation=None)


def check_allocation(nbytes: int) -> None:
    """Raise CuPy's OutOfMemoryError for an allocation over ``memory.max_allocation``."""
    limit = memory.max_allocation
    if limit is not None and nbytes > limit:
        raise _OutOfMemoryError(f"Out of memory allocating {nbytes:,} bytes (emulated limit)")


def get_cublas_handle() -> int:
    """The current device's cuBLAS handle (one device here)."""
    from cupy.cuda import _cublas

    return _cublas._HANDLE


def __getattr__(name: str) -> Any:
    if name == "cublas":  # loaded at first use, as CuPy does
        from cupy.cuda import _cublas

        return _cublas
    raise AttributeError(f"module 'cupy.cuda' has no attribute {name!r}")


class Event:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.t = 0.0

    def record(self, stream: Any = None) -> None:
        self.t = time.perf_counter()

    def synchronize(self) -> None:
        return None


def get_elapsed_time(start: Event, end: Event) -> float:
    return (end.t - start.t) * 1e3


class Stream:
    null: Stream

    def __init__(self, non_blocking: bool = False) -> None:
        self.non_blocking = non_blocking

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def synchronize(self) -> None:
        return None


Stream.null = Stream()
