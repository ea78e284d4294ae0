"""``RawModule`` / ``RawKernel`` of the emulated CuPy: signature and launch checks, then NumPy.

A kernel is found in the module's source text as NVRTC would see it (``__CUDACC_RTC__``
defined, so nvcc-only sections are dropped). A call is refused, with the reason, when:

- a templated kernel is asked for by a name expression not given to ``RawModule``, or a plain
  one is not ``extern "C"`` (its symbol would be mangled);
- the grid or block break CUDA's limits or the kernel's ``__launch_bounds__``, or dynamic
  shared memory exceeds 48 KiB (no opt-in is ever made);
- the argument count differs from the signature, a pointer gets anything but a C-contiguous
  device array of its exact element type, or a scalar gets anything but a NumPy scalar of its
  exact C type (CuPy would pass a Python int as 64 bits, a float as a double).

Pointers reach the emulations as flat NumPy views, read-only for ``const`` parameters.
With ``FAKE_CUPY_KERNELS=cuda`` the launch runs the kernel's CUDA code itself, built for the
CPU by ``_on_cpu.py``, instead of its NumPy version.
"""

from __future__ import annotations

import atexit
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

C_TYPES = {
    "int": np.int32,
    "unsigned int": np.uint32,
    "long long": np.int64,
    "unsigned long long": np.uint64,
    "unsigned char": np.uint8,
    "unsigned short": np.uint16,
    "float": np.float32,
    "double": np.float64,
}
_KERNEL = re.compile(
    r"(?:template\s*<(?P<tparams>[^>]*)>\s*)?(?P<extern>extern\s+\"C\"\s+)?__global__\s+void\s+"
    r"(?:__launch_bounds__\((?P<bound>\d+)\)\s+)?(?P<name>\w+)\s*\((?P<params>[^)]*)\)\s*\{"
)
LAUNCHES: Counter[str] = Counter()  # name expression -> launches; FAKE_CUPY_LOG gets them
_NVCC_ONLY = re.compile(r"#ifndef\s+__CUDACC_RTC__.*?#endif", re.DOTALL)
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)


@dataclass
class Param:
    name: str
    ctype: str  # C type, or a template parameter's name
    pointer: bool
    const: bool


@dataclass
class Signature:
    name: str
    params: list[Param]
    tparams: list[str]  # template parameter names, in order
    extern_c: bool
    max_threads: int = 1024


@dataclass
class Launch:
    """What an emulation may read of its launch besides the arguments."""

    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    shared_mem: int
    targs: dict[str, str] = field(default_factory=dict)

    @property
    def threads(self) -> int:
        return self.grid[0] * self.block[0]


def parse(code: str) -> dict[str, Signature]:
    """Every ``__global__`` kernel of ``code`` as NVRTC compiles it."""
    text = _COMMENT.sub("", _NVCC_ONLY.sub("", code))
    out = {}
    for m in _KERNEL.finditer(text):
        tparams = [p.split()[-1] for p in (m["tparams"] or "").split(",") if p.strip()]
        params = []
        for raw in m["params"].split(","):
            words = raw.replace("*", " * ").replace("__restrict__", "").split()
            const = "const" in words
            words = [w for w in words if w != "const"]
            pointer = "*" in words
            words = [w for w in words if w != "*"]
            params.append(Param(words[-1], " ".join(words[:-1]), pointer, const))
        bound = int(m["bound"]) if m["bound"] else 1024
        out[m["name"]] = Signature(m["name"], params, tparams, bool(m["extern"]), bound)
    return out


def _dims(value: Any, what: str) -> tuple[int, int, int]:
    if not isinstance(value, tuple) or not 1 <= len(value) <= 3:
        raise ValueError(f"{what} must be a tuple of 1 to 3 ints, got {value!r}")
    dims = tuple(int(v) for v in value) + (1,) * (3 - len(value))
    if any(v < 1 for v in dims):
        raise ValueError(f"{what} has a zero or negative size: {value!r}")
    return dims  # type: ignore[return-value]


class RawKernel:
    """One kernel (a template instance when ``targs`` is given), checked and emulated."""

    num_regs = 40  # what ptxas might give; real CuPy reads it from the compiled kernel
    max_threads_per_block = 1024

    def __init__(self, sig: Signature, targs: dict[str, str], expr: str, cpu: Any = None) -> None:
        self.sig, self.targs, self.expr, self.cpu = sig, targs, expr, cpu
        self.max_threads_per_block = sig.max_threads

    def _ctype(self, p: Param) -> np.dtype:
        ctype = self.targs.get(p.ctype, p.ctype)
        if ctype not in C_TYPES:
            raise TypeError(f"{self.sig.name}: no emulated C type for {p.ctype!r}")
        return np.dtype(C_TYPES[ctype])

    def _convert(self, p: Param, arg: Any) -> Any:
        from cupy import ndarray

        where = f"{self.sig.name}({p.name})"
        if p.pointer:
            if not isinstance(arg, ndarray):
                raise TypeError(f"{where}: a pointer needs a device array, got {type(arg)}")
            # void*: untyped, the emulation checks the element type itself
            want = arg.dtype if p.ctype == "void" else self._ctype(p)
            ok = arg.dtype == want or (want == np.uint8 and arg.dtype == np.bool_)
            if not ok:
                raise TypeError(f"{where}: expects {want} elements, got a {arg.dtype} array")
            if not arg._a.flags.c_contiguous:
                raise TypeError(f"{where}: non-contiguous array (CuPy passes its raw pointer)")
            flat = arg._a.reshape(-1)
            if p.const:
                flat = flat.view()
                flat.flags.writeable = False
            return flat
        want = self._ctype(p)
        if not isinstance(arg, np.generic) or arg.dtype != want:
            raise TypeError(f"{where}: expects a NumPy {want} scalar, got {arg!r} ({type(arg)})")
        return arg.item()

    def __call__(
        self, grid: Any, block: Any, args: Any, *, shared_mem: int = 0, stream: Any = None
    ) -> None:
        from cupy import _kernels

        sig = self.sig
        g, b = _dims(grid, "grid"), _dims(block, "block")
        if g[0] > 2**31 - 1 or g[1] > 65535 or g[2] > 65535:
            raise ValueError(f"{sig.name}: grid {g} exceeds CUDA's limits (x < 2^31, y, z < 2^16)")
        if b[0] * b[1] * b[2] > sig.max_threads or b[2] > 64:
            raise ValueError(f"{sig.name}: block {b} exceeds {sig.max_threads} threads")
        if not 0 <= int(shared_mem) <= 48 * 1024:
            raise ValueError(f"{sig.name}: {shared_mem} B of dynamic shared memory (max 48 KiB)")
        if not isinstance(args, tuple) or len(args) != len(sig.params):
            n = len(args) if isinstance(args, tuple) else args
            raise TypeError(f"{sig.name}: {len(sig.params)} arguments expected, got {n}")
        values = [self._convert(p, a) for p, a in zip(sig.params, args, strict=True)]
        launch = Launch(g, b, int(shared_mem), self.targs)
        LAUNCHES[self.expr] += 1
        if self.cpu is not None:
            self.cpu.run(self, launch, values)
        else:
            _kernels.EMULATIONS[sig.name](launch, *values)


class RawModule:
    """A module of kernels from source text, as ``cupy.RawModule(code=...)`` makes it."""

    def __init__(
        self,
        code: str | None = None,
        *,
        path: str | None = None,
        options: tuple[str, ...] = (),
        name_expressions: Any = None,
        **kwargs: Any,
    ) -> None:
        if code is None:
            raise NotImplementedError("the emulation reads kernels from source text only")
        self.kernels = parse(code)
        self.name_expressions = tuple(name_expressions or ())
        for expr in self.name_expressions:
            if expr.split("<")[0].strip() not in self.kernels:
                raise ValueError(f"name expression {expr!r} names no kernel of the module")
        self.cpu = None
        if os.environ.get("FAKE_CUPY_KERNELS", "numpy") == "cuda":
            from cupy._on_cpu import CpuModule

            instances = [(name, sig, {}) for name, sig in self.kernels.items() if sig.extern_c]
            instances += [(e, *self._instance(e)) for e in self.name_expressions]
            self.cpu = CpuModule(code, instances)

    def _instance(self, expr: str) -> tuple[Signature, dict[str, str]]:
        """The signature and template arguments of template instance ``expr``."""
        base = expr.split("<")[0].strip()
        sig = self.kernels[base]
        values = [v.strip() for v in expr[len(base) :].strip()[1:-1].split(",")]
        if len(values) != len(sig.tparams):
            raise ValueError(f"{expr!r}: {len(sig.tparams)} template arguments expected")
        return sig, dict(zip(sig.tparams, values, strict=True))

    def get_function(self, name: str) -> RawKernel:
        base = name.split("<")[0].strip()
        sig = self.kernels.get(base)
        if sig is None:
            raise ValueError(f"CUDA_ERROR_NOT_FOUND: named symbol not found: {name!r}")
        if sig.tparams:
            if name not in self.name_expressions:
                raise ValueError(f"{name!r} was not in name_expressions {self.name_expressions}")
            return RawKernel(*self._instance(name), name, self.cpu)
        if not sig.extern_c:
            raise ValueError(f'{name!r} is not extern "C": its symbol name is mangled')
        return RawKernel(sig, {}, name, self.cpu)


@atexit.register
def _write_log() -> None:
    path = os.environ.get("FAKE_CUPY_LOG")
    if path and LAUNCHES:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dict(LAUNCHES), f, indent=1, sort_keys=True)
