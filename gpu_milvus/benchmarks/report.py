"""Ratios against the peers, the headline table, and its Markdown / console form.

Every ratio reads "gpu_milvus faster by": gpu_milvus throughput / the peer's throughput, on
the same data set, workload and parameters (QPS for searches, rows/s for inserts).
"""

from __future__ import annotations

import math
from typing import Any

GM = "gpu_milvus"
KEY_FIELDS = ("dataset", "workload", "nq", "k", "selectivity", "concurrency")


def _key(r: dict[str, Any]) -> tuple:
    return tuple(r.get(f) for f in KEY_FIELDS)


def value(r: dict[str, Any]) -> float:
    """The throughput a ratio is taken from."""
    return float(r["rows_per_s"] if r["workload"] == "insert" else r["qps"])


def ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """gpu_milvus / peer for every record that both ran."""
    by_key: dict[tuple, dict[str, dict[str, Any]]] = {}
    for r in results:
        by_key.setdefault(_key(r), {})[r["engine"]] = r
    out = []
    for key, engines in by_key.items():
        gm = engines.get(GM)
        if gm is None:
            continue
        for peer, r in engines.items():
            if peer == GM or value(r) <= 0:
                continue
            row = {f: v for f, v in zip(KEY_FIELDS, key, strict=True) if v is not None}
            row.update(peer=peer, gpu_milvus=value(gm), peer_value=value(r))
            row["ratio"] = value(gm) / value(r)
            out.append(row)
    return out


def _find(results: list[dict[str, Any]], **want: Any) -> list[dict[str, Any]]:
    return [r for r in results if all(r.get(k) == v for k, v in want.items())]


def _closest(values: list[Any], target: float) -> Any:
    return min(values, key=lambda v: (abs(math.log(v / target)), v)) if values else None


def headline(results: list[dict[str, Any]], primary: str) -> list[dict[str, Any]]:
    """The headline rows: label, unit and the value of every engine that ran the case."""
    rows: list[dict[str, Any]] = []

    def add(label: str, unit: str, recs: list[dict[str, Any]], pick: Any = value) -> None:
        if any(r["engine"] == GM for r in recs):
            rows.append(
                {"label": label, "unit": unit, "values": {r["engine"]: pick(r) for r in recs}}
            )

    add("bulk insert", "rows/s", _find(results, dataset=primary, workload="insert"))
    search = _find(results, dataset=primary, workload="search")
    nqs = sorted({r["nq"] for r in search})
    ks = sorted({r["k"] for r in search})
    if nqs and ks:
        cases = [(nqs[0], ks[0]), (_closest(nqs, 128), ks[0]), (nqs[-1], ks[-1])]
        for nq, k in dict.fromkeys(cases):
            add(f"exact search nq={nq} k={k}", "QPS", _find(search, nq=nq, k=k))
    filt = _find(results, dataset=primary, workload="filtered")
    sel = _closest(sorted({r["selectivity"] for r in filt}), 0.1)
    if sel is not None:
        recs = _find(filt, selectivity=sel)
        add(f"filtered search {sel:g} pass, nq={recs[0]['nq']}", "QPS", recs)
    for kind in ("sparse", "hybrid"):
        recs = _find(results, workload=kind, nq=1) or _find(results, workload=kind)
        if recs:
            add(f"{kind} search nq={recs[0]['nq']}", "QPS", _find(recs, nq=recs[0]["nq"]))
    conc = _find(results, dataset=primary, workload="concurrency")
    if conc:
        best: dict[str, dict[str, Any]] = {}
        for r in conc:
            if r["engine"] not in best or r["qps"] > best[r["engine"]]["qps"]:
                best[r["engine"]] = r
        add("async nq=1, peak over concurrency", "QPS", list(best.values()))
    exact = [r for r in results if r["workload"] == "search" and "recall_ties" in r]
    if exact:
        worst: dict[str, float] = {}
        for r in exact:
            worst[r["engine"]] = min(worst.get(r["engine"], 1.0), r["recall_ties"])
        rows.append({"label": "recall@k, worst exact search (ties counted)", "unit": "",
                     "values": worst, "no_ratio": True})  # fmt: skip
    for row in rows:
        gm = row["values"].get(GM)
        row["ratios"] = (
            {}
            if row.get("no_ratio") or not gm
            else {e: gm / v for e, v in row["values"].items() if e != GM and v > 0}
        )
    return rows


def geomean_ratios(ratio_rows: list[dict[str, Any]], workload: str) -> dict[str, float]:
    """Geometric mean of the gpu_milvus / peer ratios of one workload, per peer."""
    acc: dict[str, list[float]] = {}
    for r in ratio_rows:
        if r["workload"] == workload:
            acc.setdefault(r["peer"], []).append(math.log(r["ratio"]))
    return {p: math.exp(sum(v) / len(v)) for p, v in acc.items()}


def _fmt(v: float, unit: str) -> str:
    if unit == "":
        return f"{v:.4f}"
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}" if v >= 10 else f"{v:,.2f}"


def _ratio(r: float) -> str:
    return f"{r:,.1f}x" if r >= 1 else f"{r:.2f}x"


def markdown(rows: list[dict[str, Any]]) -> str:
    """The headline as a Markdown table: one value and ratio column pair per peer."""
    peers = [e for e in dict.fromkeys(e for r in rows for e in r["values"]) if e != GM]
    head = "| workload | gpu_milvus | " + " | ".join(f"{p} | ratio" for p in peers) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(peers))]
    for r in rows:
        unit = r["unit"]
        cells = [f"{r['label']}{f' ({unit})' if unit else ''}", _fmt(r["values"][GM], unit)]
        for p in peers:
            v = r["values"].get(p)
            cells.append("—" if v is None else _fmt(v, unit))
            ratio = r["ratios"].get(p)
            cells.append("—" if ratio is None else f"**{_ratio(ratio)}**")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
