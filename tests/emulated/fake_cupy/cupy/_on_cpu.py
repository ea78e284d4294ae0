"""The kernels' CUDA code itself, compiled with g++ and run on the CPU (``FAKE_CUPY_KERNELS=cuda``).

A module's source (as NVRTC gets it) is translated only where C++ cannot read CUDA:
``__shared__`` variables become block-wide statics that start as random bytes, dynamic shared
memory a per-block buffer, and the one PTX ``cvt.f32.f16`` a host conversion; ``_on_cpu.h``
supplies the rest (thread indices, barriers and warp exchanges on fibers, atomics). Each kernel
gets an ``extern "C"`` launcher. Builds are cached by content hash.

Every pointer argument is staged in its own buffer between random guard bytes, at its own
address modulo 256: a write outside the buffer, or any write through a ``const`` pointer, fails
the launch, and reads outside it see garbage. The launch's seed (``FAKE_CUPY_SEED`` fixes it)
is in every error message. A misaligned vector load (a fault on a GPU) or a local array indexed
past its end aborts the process, naming the line (g++'s alignment and bounds sanitizers).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

HEADER = Path(__file__).with_name("_on_cpu.h")
FLAGS = ("-std=c++17", "-O2", "-shared", "-fPIC", "-fno-strict-aliasing", "-w", "-D__CUDACC_RTC__",
         # a misaligned vector load, or a local array read past its end, aborts with the line
         "-fsanitize=alignment,bounds", "-fno-sanitize-recover=all")  # fmt: skip
GUARD = 256  # guard bytes on each side of a staged buffer (a multiple of 256)

_DYNAMIC_SHARED = re.compile(r"extern\s+__shared__\s+([\w ]+?)\s+(\w+)\s*\[\s*\]\s*;")
_SHARED = re.compile(r"__shared__\s+([^;]+);")
_ASM_F16 = re.compile(r'asm\("cvt\.f32\.f16 %0, %1;"\s*:\s*"=f"\((\w+)\)\s*:\s*"h"\((.+?)\)\);')
_RNG = np.random.default_rng()
_LOCK = threading.Lock()  # one launch at a time: the runtime's state is per process


def _shared(m: re.Match[str]) -> str:
    """``__shared__ T a, b[4];`` -> statics, each made fresh (random) once per block."""
    parts = [p.strip() for p in m[1].split(",")]
    words = parts[0].split()
    type_, names = " ".join(words[:-1]), [words[-1], *parts[1:]]
    fresh = " ".join(
        f"gm_cpu::fresh_shared(&{n.split('[')[0]}, sizeof({n.split('[')[0]}));" for n in names
    )
    return f"static {type_} {', '.join(names)}; {fresh}"


def translate(code: str) -> str:
    """The module's CUDA source as C++ for ``_on_cpu.h``."""
    code = _DYNAMIC_SHARED.sub(
        lambda m: f"{m[1]}* {m[2]} = reinterpret_cast<{m[1]}*>(gm_cpu::dynamic_shared());", code
    )
    code = _SHARED.sub(_shared, code)
    code = _ASM_F16.sub(r"\1 = (float)gm_bits<_Float16>(\2);", code)
    if re.search(r"\basm\s*\(", code):
        raise NotImplementedError("inline PTX the CPU runner does not translate")
    return code


def param_type(p: Any, targs: dict[str, str]) -> str:
    """The C++ type of kernel parameter ``p`` (a ``_raw.Param``) with template args applied."""
    return ("const " if p.const else "") + targs.get(p.ctype, p.ctype) + ("*" if p.pointer else "")


def _launcher(symbol: str, expr: str, params: list[Any], targs: dict[str, str]) -> str:
    args = ", ".join(f"*static_cast<{param_type(p, targs)}*>(a[{i}])" for i, p in enumerate(params))
    return (
        f'extern "C" int {symbol}(const unsigned* dims, unsigned long long smem, '
        "unsigned long long seed, void** args, char* err, int err_len) {\n"
        f"  auto body = [](void* p) {{ void** a = static_cast<void**>(p); {expr}({args}); }};\n"
        "  return gm_cpu::launch(dims, smem, seed, body, args, err, err_len);\n}\n"
    )


def _cache_dir() -> Path:
    root = os.environ.get("FAKE_CUPY_CACHE") or tempfile.gettempdir()
    path = Path(root) / f"gm_on_cpu_{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _build(text: str) -> ctypes.CDLL:
    header = HEADER.read_text(encoding="utf-8")
    key = hashlib.sha256("\0".join((*FLAGS, header, text)).encode()).hexdigest()[:24]
    lib = _cache_dir() / f"{key}.so"
    if not lib.exists():
        src = lib.with_suffix(f".{os.getpid()}.cpp")
        src.write_text(text, encoding="utf-8")
        tmp = lib.with_suffix(f".{os.getpid()}.tmp")
        cxx = os.environ.get("CXX", "g++")
        cmd = [cxx, *FLAGS, "-o", str(tmp), str(src)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"g++ could not build the kernels:\n{proc.stderr[-4000:]}")
        os.replace(tmp, lib)
        src.unlink()
    return ctypes.CDLL(str(lib))


class CpuModule:
    """A ``RawModule``'s kernels built for the CPU: one launcher per kernel instance."""

    def __init__(self, code: str, instances: list[tuple[str, Any, dict[str, str]]]) -> None:
        parts = [f'#include "{HEADER}"', translate(code)]
        self.symbols: dict[str, str] = {}
        for i, (expr, sig, targs) in enumerate(instances):
            self.symbols[expr] = f"gm_cpu_launch_{i}"
            parts.append(_launcher(self.symbols[expr], expr, sig.params, targs))
        text = "\n".join(parts)
        self.lib = _build(text)
        for symbol in self.symbols.values():
            fn = getattr(self.lib, symbol)
            fn.restype = ctypes.c_int
            fn.argtypes = [
                ctypes.POINTER(ctypes.c_uint), ctypes.c_ulonglong, ctypes.c_ulonglong,
                ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_int,
            ]  # fmt: skip

    def run(self, kernel: Any, launch: Any, values: list[Any]) -> None:
        """Launch ``kernel`` (a ``_raw.RawKernel``) on ``values`` as ``_raw`` converted them."""
        from cupy._raw import C_TYPES

        sig = kernel.sig
        holders: list[Any] = []
        staged: list[tuple[Any, np.ndarray, np.ndarray, np.ndarray, int]] = []
        slots = (ctypes.c_void_p * len(values))()
        # aliases are staged as separate copies: right only when neither is written
        pointers = [(p, v) for p, v in zip(sig.params, values, strict=True) if p.pointer]
        for i, (pa, a) in enumerate(pointers):
            for pb, b in pointers[i + 1 :]:
                if a.size and b.size and np.may_share_memory(a, b) and not (pa.const and pb.const):
                    raise NotImplementedError(f"{kernel.expr}: aliased pointer arguments")
        for i, (p, v) in enumerate(zip(sig.params, values, strict=True)):
            if p.pointer:
                raw, fill, start = _stage(v)
                staged.append((p, v, raw, fill, start))
                holder: Any = ctypes.c_void_p(raw.ctypes.data + start)
                slots[i] = ctypes.addressof(holder)
            else:
                holder = np.array([v], dtype=C_TYPES[kernel.targs.get(p.ctype, p.ctype)])
                slots[i] = holder.ctypes.data
            holders.append(holder)
        dims = (ctypes.c_uint * 6)(*launch.grid, *launch.block)
        seed = int(os.environ.get("FAKE_CUPY_SEED") or _RNG.integers(2**63))
        err = ctypes.create_string_buffer(1024)
        with _LOCK:
            rc = getattr(self.lib, self.symbols[kernel.expr])(
                dims, launch.shared_mem, seed, slots, err, len(err)
            )
        where = f"{kernel.expr} (FAKE_CUPY_SEED={seed})"
        if rc:
            raise RuntimeError(f"{where}: {err.value.decode()}")
        for p, v, raw, fill, start in staged:
            end = start + v.nbytes
            guards = np.array_equal(raw[:start], fill[:start])
            if not (guards and np.array_equal(raw[end:], fill[end:])):
                raise IndexError(f"{where}: wrote outside argument {p.name!r}")
            data = raw[start:end]
            if p.const:
                if not np.array_equal(data, v.view(np.uint8)):
                    raise RuntimeError(f"{where}: wrote through const pointer {p.name!r}")
            else:
                v.view(np.uint8)[:] = data


def _stage(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """A copy of ``flat`` between random guard bytes, at the same address modulo 256 (CuPy's
    allocation alignment), so a view's misalignment stays: (buffer, fill, start)."""
    raw = np.empty(flat.nbytes + 2 * GUARD + 256, dtype=np.uint8)
    start = (flat.ctypes.data - raw.ctypes.data) % 256 + GUARD
    fill = _RNG.integers(0, 256, size=raw.size, dtype=np.uint8)
    raw[:] = fill
    raw[start : start + flat.nbytes] = flat.view(np.uint8)
    return raw, fill, start
