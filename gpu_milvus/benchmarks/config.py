"""Command-line options of the suite and their quick / full defaults."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATASETS = ("gaussian", "clustered", "glove", "minilm")
PEERS = ("numpy", "torch", "cupy")

# option: (quick default, full default)
DEFAULTS: dict[str, tuple[Any, Any]] = {
    "rows": (10_000, 100_000),
    "dim": (128, 768),
    "clustered_size": ("5000x64", "100000x128"),
    "glove_rows": (5_000, 100_000),
    "minilm_rows": (500, 10_000),
    "nq": ("1,128", "1,8,32,128,1024"),
    "k": ("10,100", "10,100,1000"),
    "nq_secondary": ("1,32", "1,128"),
    "k_secondary": ("10", "10,100"),
    "selectivities": ("0.1,0.01", "0.5,0.1,0.01,0.001"),
    "filter_queries": (16, 64),
    "sparse_rows": (5_000, 100_000),
    "sparse_nq": ("1", "1,32"),
    "hybrid_dim": (64, 128),
    "concurrency": ("1,4,16,64", "1,2,4,8,16,32,64,128,256,512,1024"),
    "lite_max_concurrency": (64, 64),
    "min_seconds": (0.5, 2.0),
    "max_seconds": (1.5, 6.0),
    "min_reps": (3, 3),
    "batch": (2_000, 10_000),
}


@dataclass
class Config:
    """Every parameter of a run (recorded in the JSON as ``config``)."""

    quick: bool
    out: Path
    datasets: list[str]
    primary: str
    rows: int
    dim: int
    clustered_size: tuple[int, int]
    glove_rows: int
    minilm_rows: int
    nq: list[int]
    k: list[int]
    nq_secondary: list[int]
    k_secondary: list[int]
    selectivities: list[float]
    filter_queries: int
    filter_k: int
    sparse_rows: int
    sparse_nq: list[int]
    sparse_k: int
    hybrid_dim: int
    concurrency: list[int]
    lite_max_concurrency: int
    min_seconds: float
    max_seconds: float
    min_reps: int
    batch: int
    vectors: str
    lite: bool
    peers: list[str]
    device: str
    seed: int
    blas_threads: int | None
    workdir: Path | None
    keep: bool
    quiet: bool
    plots: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    def grid(self, primary: bool) -> list[tuple[int, int]]:
        """(nq, k) pairs of the exact-search grid for the primary or another data set."""
        nqs, ks = (self.nq, self.k) if primary else (self.nq_secondary, self.k_secondary)
        return [(nq, k) for nq in nqs for k in ks]


def _ints(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x.strip()]


def _floats(s: str) -> list[float]:
    return [float(x) for x in s.split(",") if x.strip()]


def _names(s: str, allowed: tuple[str, ...]) -> list[str]:
    names = [x.strip() for x in s.split(",") if x.strip()]
    bad = [n for n in names if n not in allowed]
    if bad:
        raise SystemExit(f"unknown name(s) {bad}; choose from {', '.join(allowed)}")
    return names


def parser() -> argparse.ArgumentParser:
    """The ``python -m bench`` / ``gpu-milvus bench`` argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="gpu_milvus benchmark suite: gpu_milvus vs milvus-lite, NumPy, torch, "
        "CuPy on the same data in one run. Writes JSON + PNG plots into --out.",
        epilog="Defaults shown as quick/full. Details: bench/README.md.",
    )
    add = p.add_argument
    add("--quick", action="store_true", help="tiny sizes, short timings (~1 min on 2 cores)")
    add("--out", type=Path, default=Path("bench/results"), help="output directory")
    add("--datasets", default=",".join(DATASETS), help="comma list of " + ", ".join(DATASETS))
    add("--primary", default="gaussian", help="data set that runs every workload")
    for name, (q, f) in DEFAULTS.items():
        kind = type(f) if not isinstance(f, str) else str
        add("--" + name.replace("_", "-"), type=kind, default=None, help=f"default {q} / {f}")
    add("--filter-k", type=int, default=10, help="top-k of filtered searches")
    add("--sparse-k", type=int, default=10, help="top-k of sparse and hybrid searches")
    add("--vectors", choices=("list", "numpy"), default="list",
        help="row and query vectors as Python lists (default) or NumPy arrays")  # fmt: skip
    add("--no-lite", action="store_true", help="leave milvus-lite out")
    add("--peers", default=",".join(PEERS), help="brute-force peers (GPU ones need a device)")
    add("--device", default="auto", help="gpu_milvus device: auto, cpu, cuda, cuda:N")
    add("--seed", type=int, default=20260701)
    add("--blas-threads", type=int, help="set OPENBLAS/OMP/MKL_NUM_THREADS (re-executes)")
    add("--workdir", type=Path, help="where the stores go (default: a temp dir, removed)")
    add("--keep", action="store_true", help="keep the stores after the run")
    add("--quiet", action="store_true", help="log lines instead of progress bars")
    add("--no-plots", action="store_true", help="write the JSON only")
    return p


def parse(argv: list[str] | None = None) -> Config:
    """Command line -> Config (quick or full defaults where a flag is not given)."""
    a = parser().parse_args(argv)
    col = 0 if a.quick else 1
    pick = {n: d[col] if getattr(a, n) is None else getattr(a, n) for n, d in DEFAULTS.items()}
    cr, cd = (int(x) for x in str(pick["clustered_size"]).lower().split("x"))
    datasets = _names(a.datasets, DATASETS)
    return Config(
        quick=a.quick,
        out=a.out,
        datasets=datasets,
        primary=a.primary if a.primary in datasets else datasets[0],
        rows=pick["rows"],
        dim=pick["dim"],
        clustered_size=(cr, cd),
        glove_rows=pick["glove_rows"],
        minilm_rows=pick["minilm_rows"],
        nq=_ints(pick["nq"]),
        k=_ints(pick["k"]),
        nq_secondary=_ints(pick["nq_secondary"]),
        k_secondary=_ints(pick["k_secondary"]),
        selectivities=_floats(pick["selectivities"]),
        filter_queries=pick["filter_queries"],
        filter_k=a.filter_k,
        sparse_rows=pick["sparse_rows"],
        sparse_nq=_ints(pick["sparse_nq"]),
        sparse_k=a.sparse_k,
        hybrid_dim=pick["hybrid_dim"],
        concurrency=_ints(pick["concurrency"]),
        lite_max_concurrency=pick["lite_max_concurrency"],
        min_seconds=pick["min_seconds"],
        max_seconds=pick["max_seconds"],
        min_reps=pick["min_reps"],
        batch=pick["batch"],
        vectors=a.vectors,
        lite=not a.no_lite,
        peers=_names(a.peers, PEERS),
        device=a.device,
        seed=a.seed,
        blas_threads=a.blas_threads,
        workdir=a.workdir,
        keep=a.keep,
        quiet=a.quiet,
        plots=not a.no_plots,
    )
