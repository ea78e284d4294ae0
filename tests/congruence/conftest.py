"""Fixtures for the congruence tests: a reference (milvus-lite) and a subject (gpu_milvus).

The subject is chosen by the single fixture ``subject_side``. ``GPU_MILVUS_CONGRUENCE_SUBJECT=lite``
runs milvus-lite on both sides, which checks the harness itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("milvus_lite")

from pymilvus import AsyncMilvusClient as LiteAsyncClient
from pymilvus import CollectionSchema, MilvusClient
from pymilvus import MilvusClient as LiteClient

from .compare import Outcome, capture
from .gen import base_seed

SUBJECT_ENV = "GPU_MILVUS_CONGRUENCE_SUBJECT"

IndexSpec = tuple[str, str, str]  # (field, index_type, metric_type or "")


@dataclass(frozen=True)
class Side:
    """How to open clients of one engine on a local path."""

    name: str
    sync: Callable[[str], Any]
    aio: Callable[[str], Any]
    is_lite: bool


def lite_side() -> Side:
    """milvus-lite 3.2.2 through pymilvus (``*.db`` path, an in-process server)."""
    return Side("milvus-lite", LiteClient, LiteAsyncClient, is_lite=True)


def gpu_milvus_side() -> Side:
    """gpu_milvus, the engine under test."""
    import gpu_milvus

    return Side("gpu_milvus", gpu_milvus.MilvusClient, gpu_milvus.AsyncMilvusClient, False)


@pytest.fixture(scope="session")
def subject_side() -> Side:
    """The subject engine; the one place to switch (``lite_side()`` checks the harness)."""
    if os.environ.get(SUBJECT_ENV, "gpu_milvus") == "lite":
        return lite_side()
    return gpu_milvus_side()


@pytest.fixture(scope="session")
def seed() -> int:
    """The base seed (``GPU_MILVUS_SEED``)."""
    return base_seed()


@pytest.fixture(autouse=True, scope="session")
def _quiet_pymilvus() -> Iterator[None]:
    """pymilvus logs a traceback for every failed RPC; the tests expect many."""
    logger = logging.getLogger("pymilvus")
    old = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(old)


def known_gap(request: pytest.FixtureRequest, side: Side, reason: str) -> None:
    """Mark the running test xfail(strict=True) for a known gpu_milvus gap (not for lite)."""
    if not side.is_lite:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))


def index_params(specs: list[IndexSpec]) -> Any:
    """A pymilvus ``IndexParams`` from ``(field, index_type, metric)`` triples."""
    params = MilvusClient.prepare_index_params()
    for fname, itype, metric in specs:
        kwargs: dict[str, Any] = {"metric_type": metric} if metric else {}
        params.add_index(field_name=fname, index_type=itype, **kwargs)
    return params


@dataclass
class Pair:
    """A reference client and a subject client, plus the seed for messages."""

    ref: Any
    sub: Any
    seed: int
    sub_side: Side
    closers: list[Callable[[], Any]] = field(default_factory=list)

    def ctx(self, what: str) -> str:
        """Assertion-message prefix carrying the seed."""
        return f"[GPU_MILVUS_SEED={self.seed}] {what}"

    def run(self, op: Callable[[Any], Any]) -> tuple[Outcome, Outcome]:
        """Apply ``op(client)`` to both clients."""
        return capture(lambda: op(self.ref)), capture(lambda: op(self.sub))

    def both(self, op: Callable[[Any], Any]) -> tuple[Any, Any]:
        """Apply ``op`` to both; either side raising fails the test with both outcomes."""
        ref, sub = self.run(op)
        if not (ref.ok and sub.ok):
            raise AssertionError(
                f"{self.ctx('operation failed')}\n  reference: {ref.describe()}\n"
                f"  subject:   {sub.describe()}"
            )
        return ref.value, sub.value

    def assert_same_ids(self, collection: str, expr: str) -> None:
        """``expr`` selects the same primary keys (``id``) on both sides."""
        ref, sub = self.both(lambda c: c.query(collection, expr, output_fields=["id"]))
        assert sorted(r["id"] for r in sub) == sorted(r["id"] for r in ref), self.ctx(expr)

    def create(self, name: str, schema: CollectionSchema, specs: list[IndexSpec]) -> None:
        """Create, index and load a collection on both sides.

        The subject takes the user path ``create_collection(schema=, index_params=)``. On
        milvus-lite the index is built with ``sync=False`` (pymilvus' wait sleeps 0.5 s per
        index; lite builds synchronously) and then loaded.
        """
        self.ref.create_collection(name, schema=schema)
        self.ref.create_index(name, index_params(specs), sync=False)
        self.ref.load_collection(name)
        if self.sub_side.is_lite:
            self.sub.create_collection(name, schema=schema)
            self.sub.create_index(name, index_params(specs), sync=False)
            self.sub.load_collection(name)
        else:
            self.sub.create_collection(name, schema=schema, index_params=index_params(specs))

    def close(self) -> None:
        """Close both clients."""
        for closer in (self.ref.close, self.sub.close):
            with contextlib.suppress(Exception):
                closer()


def open_pair(root: Path, seed: int, side: Side) -> Pair:
    """Clients on ``root/ref.db`` and ``root/sub.db`` (unique per test or module)."""
    root.mkdir(parents=True, exist_ok=True)
    ref = LiteClient(str(root / "ref.db"))
    sub = side.sync(str(root / "sub.db"))
    return Pair(ref=ref, sub=sub, seed=seed, sub_side=side)


@pytest.fixture
def pair(tmp_path: Path, seed: int, subject_side: Side) -> Iterator[Pair]:
    """A fresh client pair for one test."""
    p = open_pair(tmp_path, seed, subject_side)
    yield p
    p.close()


@pytest.fixture(scope="module")
def module_pair(
    tmp_path_factory: pytest.TempPathFactory, seed: int, subject_side: Side
) -> Iterator[Pair]:
    """A client pair shared by one module (for collections the tests do not mutate)."""
    p = open_pair(tmp_path_factory.mktemp("pair"), seed, subject_side)
    yield p
    p.close()
