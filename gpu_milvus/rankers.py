"""Hybrid-search fusion with Milvus's formulas, read from pymilvus RRFRanker / WeightedRanker.

RRF: score(id) = sum over sub-results holding id of 1 / (k + rank), rank 1-based.
Weighted: score(id) = sum of w_i * f_i(d_i), where f normalises each metric when
``norm_score`` is on (COSINE (1+d)/2, IP 0.5+atan(d)/pi, BM25 2*atan(d)/pi, L2
1-2*atan(d)/pi). Without it raw
distances are summed, except that smaller-is-better metrics mixed with larger-is-better ones
still get 1-2*atan(d)/pi, and an all-L2 fusion sorts ascending. Scores are float32; ties go to
the smaller primary key.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gpu_milvus import errors
from gpu_milvus.engine.backend import LARGER_IS_BETTER

Hits = list[tuple[Any, float]]  # (primary key, distance), best first


@dataclass(frozen=True)
class Fusion:
    """A validated ranker."""

    strategy: str
    k: float = 60.0
    weights: tuple[float, ...] = ()
    norm_score: bool = True


def parse_ranker(ranker: Any, num_requests: int) -> Fusion:
    """Read a pymilvus ranker object (or its ``dict()`` form) and apply the server's checks."""
    spec = ranker.dict() if hasattr(ranker, "dict") else ranker
    if not isinstance(spec, dict) or "strategy" not in spec:
        raise errors.invalid(f"unsupported ranker: {ranker!r}")
    strategy = str(spec["strategy"]).lower()
    params = spec.get("params") or {}
    if strategy == "rrf":
        k = params.get("k", 60)
        if isinstance(k, bool) or not isinstance(k, (int, float)) or not 0 < k < 16384:
            raise errors.invalid(
                f"The rank params k should be in range (0, 16384), but got {k}: invalid parameter"
            )
        return Fusion("rrf", k=float(k))
    if strategy == "weighted":
        weights = list(params.get("weights") or [])
        if len(weights) != num_requests:
            raise errors.invalid(
                "the length of weights param mismatch with ann search requests: "
                f"invalid parameter[expected={num_requests}][actual={len(weights)}]"
            )
        for w in weights:
            if not 0 <= float(w) <= 1:
                raise errors.invalid(
                    f"rank param weight should be in range [0, 1], but got {w}: invalid parameter"
                )
        return Fusion(
            "weighted",
            weights=tuple(float(w) for w in weights),
            norm_score=bool(params.get("norm_score", True)),
        )
    raise errors.invalid(f"unsupported rank strategy: {strategy}: invalid parameter")


def normalise(d: Any, metric: str) -> Any:
    """The server's score normalisation (a float or an array): larger is better, in [0, 1]."""
    if metric == "COSINE":
        return (1 + d) / 2
    if metric == "IP":
        return 0.5 + np.arctan(d) / math.pi
    if metric == "BM25":
        return 2 * np.arctan(d) / math.pi
    return 1 - 2 * np.arctan(d) / math.pi


def fuse(fusion: Fusion, results: Sequence[Hits], metrics: Sequence[str], window: int) -> Hits:
    """Fuse one query's sub-results into the best ``window`` (pk, score) pairs."""
    scores: dict[Any, float] = {}
    ascending = False
    if fusion.strategy == "rrf":
        for hits in results:
            for rank, (pk, _) in enumerate(hits, start=1):
                scores[pk] = scores.get(pk, 0.0) + 1.0 / (fusion.k + rank)
    else:
        mixed = any(m in LARGER_IS_BETTER for m in metrics)
        ascending = not fusion.norm_score and not mixed
        for hits, weight, metric in zip(results, fusion.weights, metrics, strict=True):
            for pk, d in hits:
                if fusion.norm_score or (mixed and metric not in LARGER_IS_BETTER):
                    value = float(normalise(float(np.float32(d)), metric))
                else:
                    value = float(d)
                scores[pk] = scores.get(pk, 0.0) + weight * value
    fused = [(pk, float(np.float32(s))) for pk, s in scores.items()]
    sign = 1.0 if ascending else -1.0
    fused.sort(key=lambda item: (sign * item[1], item[0]))
    return fused[:window]
