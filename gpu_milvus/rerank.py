"""Function rerankers (``FunctionType.RERANK``) for search and hybrid_search, as Milvus 2.6's
``internal/util/function/rerank``: ``rrf`` and ``weighted`` are the fusions of
:mod:`gpu_milvus.rankers`; ``decay`` multiplies each hit's (normalised) score by how close a
numeric field is to an origin; ``boost`` (search only) multiplies or adds a weight to the raw
distance of the candidates passing its filter, as segcore's RescoresNode, before paging.

Decay (``decay_function.go``), with ``d = max(0, |v - origin| - offset)``:
gauss ``exp(d^2 / (scale^2 / ln(decay)))``, exp ``exp(ln(decay) / scale * d)``, linear
``max(decay, 1 - (1 - decay) / scale * d)`` (floored at ``decay``, as the code does; the docs
say 0). Scores are first normalised (without ``norm_score`` only smaller-is-better metrics,
by ``1 - 2 atan(d) / pi``), merged across a hybrid search's sub-results by ``score_mode``
(max, avg, sum), multiplied by the decay and sorted, best first. A plain search reranks the
page it returns (the server applies offset before its rerank).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymilvus import DataType, Function, FunctionScore, FunctionType
from pymilvus.exceptions import MilvusException
from pymilvus.grpc_gen.schema_pb2 import DataType as ProtoDataType

from gpu_milvus import errors
from gpu_milvus.engine.backend import LARGER_IS_BETTER
from gpu_milvus.filter import compile_filter
from gpu_milvus.rankers import Fusion, Hits, normalise, parse_ranker
from gpu_milvus.schema import FLOAT_TYPES, INT_TYPES, CollectionSpec

DECAY_FIELD_TYPES = INT_TYPES | FLOAT_TYPES | {DataType.TIMESTAMPTZ}
_FUNCTIONS = ("gauss", "linear", "exp")
_MODES = ("max", "avg", "sum")


@dataclass(frozen=True)
class Decay:
    """A validated decay reranker over one numeric field."""

    field: str
    function: str
    origin: float
    scale: float
    offset: float = 0.0
    decay: float = 0.5
    norm_score: bool = False
    score_mode: str = "max"

    def factor(self, values: np.ndarray) -> np.ndarray:
        """The decay score of each field value."""
        d = np.maximum(0.0, np.abs(values.astype(np.float64) - self.origin) - self.offset)
        if self.function == "gauss":
            return np.exp(d**2 / (self.scale**2 / math.log(self.decay)))
        if self.function == "exp":
            return np.exp(math.log(self.decay) / self.scale * d)
        return np.maximum(self.decay, 1 - (1 - self.decay) / self.scale * d)

    def normalise(self, distances: Sequence[float], metric: str) -> np.ndarray:
        """``getNormalizeFunc``: a score where larger is better."""
        d = np.asarray(distances, dtype=np.float64)
        if not self.norm_score and metric in LARGER_IS_BETTER:
            return d
        return normalise(d, metric)  # without norm_score only distances are turned round

    def rerank(
        self, results: Sequence[Hits], metrics: Sequence[str], values: dict[Any, Any], window: int
    ) -> Hits:
        """One query's sub-results merged, decayed by each id's ``values`` entry, best first."""
        merged: dict[Any, list[float]] = {}
        for hits, metric in zip(results, metrics, strict=True):
            scores = self.normalise([d for _, d in hits], metric)
            for (pk, _), score in zip(hits, scores.tolist(), strict=True):
                merged.setdefault(pk, []).append(score)
        ids = list(merged)
        if self.score_mode == "max":
            base = [max(s) for s in merged.values()]
        elif self.score_mode == "sum":
            base = [sum(s) for s in merged.values()]
        else:
            base = [sum(s) / len(s) for s in merged.values()]
        decayed = self.factor(np.array([values[pk] for pk in ids], dtype=np.float64))
        final = (np.asarray(base) * decayed).astype(np.float32).tolist()
        out = sorted(zip(ids, final, strict=True), key=lambda item: (-item[1], item[0]))
        return out[:window]


Ranker = Fusion | Decay


def _number(params: dict[str, Any], key: str, default: float | None = None) -> float | None:
    raw = params.get(key)
    if raw is None:
        return default
    try:
        if isinstance(raw, bool):
            raise ValueError
        return float(raw)
    except (TypeError, ValueError):
        raise errors.invalid(f"Param {key}:{raw} is not a number") from None


def _decay(fn: Function, spec: CollectionSpec) -> Decay:
    inputs = list(fn.input_field_names)
    if len(inputs) != 1:
        raise errors.invalid(
            f"Decay function only supports single input, but gets [{inputs}] input"
        )
    f = spec.field(inputs[0])
    if f is None:
        raise errors.invalid(f"function input field not found: {inputs[0]}")
    if f.nullable:
        raise errors.invalid(f"function input field cannot be nullable: field {f.name}")
    if f.dtype not in DECAY_FIELD_TYPES:
        raise errors.invalid(
            f"Decay rerank: unsupported input field type:{f.dtype.name.title()}, only support "
            "numberic field"
        )
    params = fn.params
    function = str(params.get("function", ""))
    if function not in _FUNCTIONS:
        raise errors.invalid(
            f"Invaild decay function: decay, only support [{','.join(_FUNCTIONS)}]"
        )
    origin, scale = _number(params, "origin"), _number(params, "scale")
    for key, value in (("origin", origin), ("scale", scale)):
        if value is None:
            raise errors.invalid(f"Decay function lost param: {key}")
    offset, decay = _number(params, "offset", 0.0), _number(params, "decay", 0.5)
    assert origin is not None and scale is not None and offset is not None and decay is not None
    if scale <= 0:
        raise errors.invalid(f"Decay function param: scale must > 0, but got {scale:f}")
    if offset < 0:
        raise errors.invalid(f"Decay function param: offset must >= 0, but got {offset:f}")
    if not 0 < decay < 1:
        raise errors.invalid(f"Decay function param: decay must 0 < decay < 1, but got {decay:f}")
    norm = str(params.get("norm_score", "false")).lower()
    if norm not in ("true", "false"):
        raise errors.invalid(
            f"norm_score params must be true/false, bug got {params['norm_score']}"
        )
    mode = str(params.get("score_mode", "max")).lower()
    if mode not in _MODES:
        raise errors.invalid(
            f"Unsupport score mode: [{params['score_mode']}], only supports: [max, avg, sum]"
        )
    return Decay(f.name, function, origin, scale, offset, decay, norm == "true", mode)


@dataclass(frozen=True)
class Boost:
    """A boost function: rows passing ``filter`` (every row when empty) score ``weight``, or
    with ``random`` (seed, INT64 field or None) ``weight`` times a random number in [0, 1)
    hashed from the row's field value (from its row number without a field)."""

    filter: str
    weight: float
    random: tuple[int, str | None] | None = None


@dataclass(frozen=True)
class SearchRanker:
    """A search's ``ranker``: boosts applied to the candidates' raw distances (segcore's
    RescoresNode), then at most one reranker of the page (the proxy's)."""

    boosts: tuple[Boost, ...] = ()
    boost_mode: str = "multiply"
    function_mode: str = "multiply"
    ranker: Ranker | None = None

    def boost_factors(
        self, passes: list[np.ndarray], weights: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per candidate: whether a boost applies, and the boosts (each boost's weight per
        candidate) combined by function_mode."""
        n = len(passes[0]) if passes else 0
        hit, value = np.zeros(n, dtype=bool), np.zeros(n, dtype=np.float32)
        for mask, w in zip(passes, weights, strict=True):
            w = np.broadcast_to(np.asarray(w, dtype=np.float32), (n,))
            both, first = mask & hit, mask & ~hit
            multiply = self.function_mode == "multiply"
            value[both] = value[both] * w[both] if multiply else value[both] + w[both]
            value[first] = w[first]
            hit |= mask
        return hit, value


def _random_score(raw: Any, spec: CollectionSpec) -> tuple[int, str | None]:
    """A boost's ``random_score`` ({"seed": n, "field": name}), as the planner's
    prepareBoostRandomParams and segcore's RandomScorer read it."""
    try:
        conf = raw if isinstance(raw, dict) else json.loads(str(raw))
    except ValueError as e:
        raise errors.invalid(f"random_score must be a json object: {e}") from None
    if not isinstance(conf, dict):
        raise errors.invalid("random_score must be a json object")
    seed, field = 0, conf.get("field")
    if "field" in conf:
        if not isinstance(field, str):
            raise errors.invalid("random seed field name must be string")
        found = spec.field(field)
        if found is None:
            message = f"random seed field not found: field not found[field={field}]"
            raise errors.server(errors.FIELD_NOT_FOUND, message)
        if found.dtype != DataType.INT64:
            name = ProtoDataType.Name(int(found.dtype))
            raise errors.invalid(f"only support int64 field as random seed, but got {name}")
    if "seed" in conf:
        number = conf["seed"]
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise errors.invalid("random seed must be number")
        digits = re.match(r"[-+]?\d+", json.dumps(number))  # std::stoll of the number's text
        seed = int(digits[0]) if digits else 0
        if not -(2**63) <= seed < 2**63:
            raise errors.invalid("parse boost random seed params failed: stoll")
    return seed, field


def _boost(fn: Function, spec: CollectionSpec) -> Boost:
    params = fn.params
    if "weight" not in params:
        raise errors.invalid("must set weight params for weight scorer")
    try:
        weight = float(params["weight"])
    except (TypeError, ValueError) as e:
        raise errors.invalid(
            f"parse function scorer weight params failed with error: {{{e}}}"
        ) from None
    expr = str(params.get("filter") or "")
    try:
        compile_filter(expr, spec)
    except MilvusException as e:
        raise errors.invalid(f"parse expr failed with error: {{{e.message}}}") from None
    raw = params.get("random_score")
    return Boost(expr, weight, None if raw is None else _random_score(raw, spec))


def _function(fn: Any, spec: CollectionSpec, num_requests: int) -> Ranker | Boost:
    if not isinstance(fn, Function):
        return parse_ranker(fn, num_requests)
    if fn.type != FunctionType.RERANK:
        raise errors.invalid(f"{fn.type.name} function can not be used as a ranker")
    if fn.output_field_names:
        raise errors.invalid("rerank function output field names should be empty")
    name = str(fn.params.get("reranker", ""))
    if name == "decay":
        return _decay(fn, spec)
    if name == "boost":
        return _boost(fn, spec)
    if name in ("rrf", "weighted"):
        params = {k: v for k, v in fn.params.items() if k != "reranker"}
        if name == "weighted":  # a Function's norm_score is off unless asked for
            params["norm_score"] = str(params.get("norm_score", False)).lower() == "true"
        return parse_ranker({"strategy": name, "params": params}, num_requests)
    if name == "model":
        raise errors.invalid(
            "the model reranker is not supported by gpu_milvus (it calls an external service)"
        )
    raise errors.invalid(
        f"Unsupported rerank function: [{name}] , list of supported [rrf, weighted, decay, boost]"
    )


def parse_function_ranker(ranker: Any, spec: CollectionSpec, num_requests: int) -> Ranker:
    """A hybrid_search ``ranker``: RRFRanker / WeightedRanker, or a RERANK Function (a
    FunctionScore holding one); a boost belongs to a plain search."""
    if isinstance(ranker, FunctionScore):
        if len(ranker.functions) != 1:
            raise errors.invalid("Currently only supports one rerank")
        ranker = ranker.functions[0]
    out = _function(ranker, spec, num_requests)
    if isinstance(out, Boost):
        raise errors.invalid("a boost ranker applies to a search, not to a hybrid search")
    return out


def parse_search_ranker(ranker: Any, spec: CollectionSpec) -> SearchRanker:
    """A search's Function or FunctionScore: boosts and at most one other reranker."""
    functions = list(ranker.functions) if isinstance(ranker, FunctionScore) else [ranker]
    params = (ranker.params or {}) if isinstance(ranker, FunctionScore) else {}
    modes = {}
    for key in ("boost_mode", "function_mode"):
        mode = str(params.get(key, "multiply")).lower()
        if mode not in ("multiply", "sum"):
            raise errors.invalid(f"unknown {key.replace('_', ' ')}: {params[key]}")
        modes[key] = mode
    parsed = [_function(fn, spec, 1) for fn in functions]
    others = [p for p in parsed if not isinstance(p, Boost)]
    if len(others) > 1:
        raise errors.invalid("Currently only supports one rerank")
    boosts = tuple(p for p in parsed if isinstance(p, Boost))
    return SearchRanker(boosts, ranker=others[0] if others else None, **modes)
