"""Progress on stderr: stamped log lines and progress bars (tqdm when installed)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
_T0 = time.perf_counter()
QUIET = False  # set by --quiet: log lines instead of bars (also when stderr is no terminal)


def log(msg: str) -> None:
    """A progress line on stderr, stamped with seconds since the process started."""
    print(f"[{time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


class _Plain:
    """Stand-in bar (no tqdm, no terminal, or --quiet): one log line when the step ends."""

    def __init__(self, total: int | None, desc: str) -> None:
        self.total, self.desc, self.n = total, desc, 0
        self.t0 = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix_str(self, s: str) -> None:
        """Log the step's current item (a bar's postfix), so logs show where a run is."""
        of = f"/{self.total}" if self.total else ""
        log(f"{self.desc} [{self.n}{of}] {s}")

    def close(self) -> None:
        of = f"/{self.total}" if self.total else ""
        log(f"{self.desc}: {self.n}{of} in {time.perf_counter() - self.t0:.1f} s")


def _make(total: int | None, desc: str, unit: str) -> Any:
    if QUIET or not sys.stderr.isatty():
        return _Plain(total, desc)
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _Plain(total, desc)
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)


@contextmanager
def bar(total: int | None, desc: str, unit: str = "it") -> Iterator[Any]:
    """A progress bar with ``update(n)`` / ``set_postfix_str(s)``; closed on exit."""
    b = _make(total, desc, unit)
    try:
        yield b
    finally:
        b.close()


def track(items: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Iterate ``items`` with a progress bar."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with bar(total, desc, unit) as b:
        for item in items:
            yield item
            b.update(1)
