"""The record's plots (matplotlib, Agg backend): QPS vs concurrency, latency CDF, ratios."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gpu_milvus.benchmarks.progress import log

COLORS = {"gpu_milvus": "#1f77b4", "milvus-lite": "#d62728", "numpy": "#7f7f7f",
          "torch": "#ff7f0e", "cupy": "#2ca02c"}  # fmt: skip


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _title(record: dict[str, Any], what: str) -> str:
    m = record["machine"]
    where = record["device"]["gpu_milvus"]
    return f"{what}\n{m['cpu_model']}, {m['cores']} cores, gpu_milvus on {where}"


def qps_vs_concurrency(record: dict[str, Any], path: Path) -> bool:
    """QPS of C concurrent nq=1 searches through AsyncMilvusClient, per engine."""
    recs = [r for r in record["results"] if r["workload"] == "concurrency"]
    if not recs:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for eng in dict.fromkeys(r["engine"] for r in recs):
        pts = sorted((r["concurrency"], r["qps"]) for r in recs if r["engine"] == eng)
        ax.plot(*zip(*pts, strict=True), "o-", label=eng, color=COLORS.get(eng))
    ds = recs[0]["dataset"]
    info = record["datasets"].get(ds, {})
    ax.set(xscale="log", yscale="log", xlabel="concurrent nq=1 searches (C)", ylabel="QPS",
           title=_title(record, f"AsyncMilvusClient, {ds} {info.get('rows')}x{info.get('dim')}, "
                        f"k={recs[0]['k']}"))  # fmt: skip
    return _save(plt, fig, ax, path)


def _save(plt: Any, fig: Any, ax: Any, path: Path) -> bool:
    """Grid, legend, write the PNG, free the figure."""
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return True


def latency_cdf(record: dict[str, Any], path: Path) -> bool:
    """CDF of per-call latency of nq=1 exact search on the primary data set, per engine."""
    primary = record["config"]["primary"]
    recs = [
        r
        for r in record["results"]
        if r["workload"] == "search" and r["dataset"] == primary and r.get("latencies_ms")
    ]
    if not recs:
        return False
    k = min(r["k"] for r in recs)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in recs:
        if r["k"] != k:
            continue
        lat = np.sort(np.asarray(r["latencies_ms"]))
        y = np.arange(1, len(lat) + 1) / len(lat)
        ax.step(lat, y, where="post", label=f"{r['engine']} (p50 {r['p50_ms']:.2f} ms)",
                color=COLORS.get(r["engine"]))  # fmt: skip
    info = record["datasets"].get(primary, {})
    ax.set(xscale="log", xlabel="latency per call (ms)", ylabel="fraction of calls",
           title=_title(record, f"exact search nq=1 k={k}, {primary} "
                        f"{info.get('rows')}x{info.get('dim')}"))  # fmt: skip
    return _save(plt, fig, ax, path)


def ratio_bars(record: dict[str, Any], path: Path) -> bool:
    """Headline ratios (gpu_milvus faster by) as grouped horizontal bars, one group a case."""
    rows = [r for r in record["headline"] if r["ratios"]]
    if not rows:
        return False
    peers = list(dict.fromkeys(p for r in rows for p in r["ratios"]))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(rows) * max(1, len(peers)) + 1.5))
    h = 0.8 / len(peers)
    y = np.arange(len(rows))
    for j, p in enumerate(peers):
        vals = [r["ratios"].get(p, np.nan) for r in rows]
        bars = ax.barh(y + j * h, vals, h, label=f"vs {p}", color=COLORS.get(p))
        for b, v in zip(bars, vals, strict=True):
            if np.isfinite(v):
                label = f" {v:,.1f}x" if v >= 1 else f" {v:.2f}x"
                ax.text(b.get_width(), b.get_y() + h / 2, label, va="center", fontsize=8)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks(y + h * (len(peers) - 1) / 2, [r["label"] for r in rows])
    ax.invert_yaxis()
    ax.set(xscale="log", xlabel="gpu_milvus throughput / peer throughput (log; >1: faster)",
           title=_title(record, f"gpu_milvus vs peers ({record['mode']} run)"))  # fmt: skip
    ax.grid(True, axis="x", which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return True


def save_all(record: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """Write every plot that has data; returns {plot: file name}. Missing matplotlib: none."""
    try:
        _pyplot()
    except ImportError:
        log("matplotlib is not installed: no plots (pip install 'gpu-milvus[bench]')")
        return {}
    done = {}
    for name, fn in (("qps_vs_concurrency", qps_vs_concurrency), ("latency_cdf", latency_cdf),
                     ("ratios_vs_peers", ratio_bars)):  # fmt: skip
        path = out_dir / f"{name}.png"
        if fn(record, path):
            done[name] = path.name
    return done
