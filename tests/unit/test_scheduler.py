"""AsyncMilvusClient's search scheduler (performance.md §6, G8): concurrent searches and hybrid
searches coalesce into few engine calls, yet each caller gets exactly its solo result (the sync
client on the same uri, or a serial replay); errors, cancellation, close, queue limits and
writes behave as for solo calls; the sync client is safe across threads."""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pymilvus import AnnSearchRequest, DataType, MilvusException, RRFRanker, WeightedRanker

from gpu_milvus import AsyncMilvusClient, MilvusClient
from gpu_milvus import scheduler as scheduler_mod

DIM = 8
COLORS = ("red", "green", "blue")


def _vecs(n: int, seed: int, dim: int = DIM) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def _rows(vecs: np.ndarray, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": start + i, "vector": v.tolist(), "color": COLORS[(start + i) % 3],
             "n": start + i} for i, v in enumerate(vecs)]  # fmt: skip


def _fill(client: MilvusClient, name: str = "c", n: int = 200, metric: str = "L2") -> np.ndarray:
    client.create_collection(name, dimension=DIM, metric_type=metric)
    vecs = _vecs(n, seed=len(name))
    client.insert(name, _rows(vecs))
    return vecs


def _norm(res: Any) -> list[list[tuple[Any, float, dict[str, Any]]]]:
    """A (hybrid) search result as plain lists: per query [(id, distance, entity)]."""
    return [[(h["id"], h["distance"], dict(h["entity"])) for h in hits] for hits in res]


def _q(seed: int, nq: int = 1) -> list[list[float]]:
    return _vecs(nq, 10_000 + seed).tolist()


class Gate:
    """Wraps the scheduler's engine call: records sizes; holds the worker until opened."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started, self.opened = threading.Event(), threading.Event()
        self.calls: list[int] = []
        real = scheduler_mod.search_batch

        def gated(coll: Any, items: Any) -> Any:
            self.calls.append(len(items))
            self.started.set()
            self.opened.wait(10)
            return real(coll, items)

        monkeypatch.setattr(scheduler_mod, "search_batch", gated)

    async def running(self) -> None:
        assert await asyncio.to_thread(self.started.wait, 5), "no batch started"


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    return Gate(monkeypatch)


@pytest.fixture
async def aclient(uri: str) -> AsyncIterator[AsyncMilvusClient]:
    """Like conftest's, but a hanging close() fails the test instead of stalling the run."""
    c = AsyncMilvusClient(uri)
    yield c
    await asyncio.wait_for(c.close(), 10)


def _count_backend_calls(monkeypatch: pytest.MonkeyPatch, client: Any) -> list[int]:  # nq each
    backend_cls = type(client._core.engine.backend)
    real, calls = backend_cls.search_dense, []

    def counted(self: Any, store: Any, queries: np.ndarray, *args: Any) -> Any:
        calls.append(len(queries))
        return real(self, store, queries, *args)

    monkeypatch.setattr(backend_cls, "search_dense", counted)
    return calls


async def test_concurrent_searches_share_one_backend_call(
    aclient: AsyncMilvusClient, client: MilvusClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(client)
    calls = _count_backend_calls(monkeypatch, aclient)
    got = await asyncio.gather(*(aclient.search("c", _q(i), limit=5) for i in range(64)))
    stats = aclient.scheduler_stats()
    assert stats["batches"] == 1 and stats["requests"] == 64 and stats["mean_batch_size"] == 64
    assert calls == [64]
    monkeypatch.undo()
    for i, res in enumerate(got):
        assert _norm(res) == _norm(client.search("c", _q(i), limit=5))


async def test_idle_request_dispatches_at_once(aclient: AsyncMilvusClient, client) -> None:
    _fill(client)
    for i in range(5):  # awaited one after another: each runs alone, with no forced window
        assert _norm(await aclient.search("c", _q(i))) == _norm(client.search("c", _q(i)))
    stats = aclient.scheduler_stats()
    assert stats["batches"] == 5 and stats["largest_batch"] == 1
    assert 0 <= stats["mean_queue_wait_ms"] < 20


async def test_requests_arriving_during_a_batch_form_the_next(
    aclient: AsyncMilvusClient, client: MilvusClient, gate: Gate
) -> None:
    _fill(client)
    first = asyncio.create_task(aclient.search("c", _q(0)))
    await gate.running()  # dispatched alone, immediately
    later = [asyncio.create_task(aclient.search("c", _q(i), limit=3)) for i in range(1, 21)]
    await asyncio.sleep(0.02)
    assert aclient.scheduler_stats()["batches"] == 1 and not any(t.done() for t in later)
    gate.opened.set()
    results = await asyncio.gather(first, *later)
    assert gate.calls == [1, 20] and aclient.scheduler_stats()["largest_batch"] == 20
    assert _norm(results[0]) == _norm(client.search("c", _q(0)))
    for i, res in enumerate(results[1:], start=1):
        assert _norm(res) == _norm(client.search("c", _q(i), limit=3))


def _mixed_requests() -> list[tuple[str, dict[str, Any]]]:
    filters: list[tuple[str, dict | None]] = [
        ("", None), ("n > 50", None), ("color == 'red'", None), ("n in [1, 2, 3, 150]", None),
        ("n < {x}", {"x": 30}), ("color like 'gr%'", None), ("n < 0", None), ("n > {x}", {"x": 5}),
    ]  # fmt: skip
    outputs = [None, ["n"], ["color", "n"], ["*"]]
    rng = random.Random(7)
    out = []
    for i, ((expr, params), fields) in enumerate(itertools.product(filters, outputs)):
        kw: dict[str, Any] = {"data": _q(i, nq=rng.choice([1, 1, 3])), "filter": expr,
                              "limit": rng.choice([1, 5, 17, 50]), "output_fields": fields,
                              "offset": rng.choice([0, 0, 2])}  # fmt: skip
        if params:
            kw["filter_params"] = params
        if i % 5 == 0:
            kw["partition_names"] = [rng.choice(["p", "_default"])]
        out.append(("c", kw))
    radius = {"metric_type": "L2", "params": {"radius": 20.0, "range_filter": 1.0}}
    out += [("c", {"data": _q(90), "limit": 7, "search_params": radius}),
            ("c", {"data": _q(91, 2), "limit": 4, "search_params": radius, "filter": "n > 9"}),
            ("d", {"data": _q(92), "limit": 6, "output_fields": ["color"]})]  # fmt: skip
    return out


async def test_mixed_limits_filters_outputs_offsets_in_one_batch(
    aclient: AsyncMilvusClient, client: MilvusClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(client)
    client.create_partition("c", "p")
    client.insert("c", _rows(_vecs(40, 3), start=200), partition_name="p")
    _fill(client, "d", n=50, metric="IP")
    reqs = _mixed_requests()
    calls = _count_backend_calls(monkeypatch, aclient)
    got = await asyncio.gather(*(aclient.search(name, **kw) for name, kw in reqs))
    assert aclient.scheduler_stats()["batches"] == 1
    # one matrix product for every plain search of "c", one for its range searches, one for "d"
    assert sorted(calls) == [1, 3, sum(len(kw["data"]) for _, kw in reqs[:32])]
    monkeypatch.undo()
    for (name, kw), res in zip(reqs, got, strict=True):
        assert _norm(res) == _norm(client.search(name, **kw)), kw
        if kw.get("offset"):  # the offset window, independently of how offsets are computed
            wide = client.search(name, **{**kw, "offset": 0, "limit": kw["limit"] + kw["offset"]})
            assert _norm(res) == [q[kw["offset"] :] for q in _norm(wide)]


def _hybrid_coll(client: MilvusClient, n: int = 60) -> None:
    schema = client.create_schema(enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("a", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("b", DataType.FLOAT_VECTOR, dim=3)
    schema.add_field("x", DataType.INT64)
    ip = client.prepare_index_params()
    ip.add_index("a", index_type="FLAT", metric_type="COSINE")
    ip.add_index("b", index_type="FLAT", metric_type="L2")
    client.create_collection("t", schema=schema, index_params=ip)
    a, b = _vecs(n, 1, 4), _vecs(n, 2, 3)
    client.insert("t", [{"id": i, "a": a[i].tolist(), "b": b[i].tolist(), "x": i}
                        for i in range(n)])  # fmt: skip


def _hybrid_args(i: int) -> dict[str, Any]:
    ra = AnnSearchRequest(_vecs(1, 500 + i, 4).tolist(), "a", {}, limit=5 + i % 7,
                          expr=["", "x > 20", "x < 40"][i % 3])  # fmt: skip
    rb = AnnSearchRequest(_vecs(1, 900 + i, 3).tolist(), "b", {}, limit=3 + i % 5,
                          expr=["", "x % 2 == 0"][i % 2])  # fmt: skip
    ranker = RRFRanker(10 + i) if i % 2 else WeightedRanker(0.3, 0.7)
    return {"reqs": [ra, rb], "ranker": ranker, "limit": 4 + i % 4,
            "output_fields": [None, ["x"]][i % 2]}  # fmt: skip


async def test_concurrent_hybrid_searches(aclient: AsyncMilvusClient, client: MilvusClient) -> None:
    _hybrid_coll(client)
    bad = AnnSearchRequest(_vecs(1, 1, 5).tolist(), "a", {}, limit=3)  # wrong dim for "a"
    calls = [aclient.hybrid_search("t", **_hybrid_args(i)) for i in range(24)]
    calls.append(aclient.hybrid_search("t", [bad, _hybrid_args(0)["reqs"][1]], RRFRanker()))
    got = await asyncio.gather(*calls, return_exceptions=True)
    stats = aclient.scheduler_stats()
    assert stats["batches"] == 1 and stats["requests"] == 25 * 2
    assert isinstance(got[-1], MilvusException) and "dimension" in got[-1].message
    for i in range(24):
        assert _norm(got[i]) == _norm(client.hybrid_search("t", **_hybrid_args(i)))
    # mixed with plain searches: hybrid sub-requests join one batch or the next
    calls = [aclient.search("t", _vecs(1, i, 3).tolist(), anns_field="b", limit=4)
             for i in range(8)]  # fmt: skip
    calls += [aclient.hybrid_search("t", **_hybrid_args(i)) for i in range(8)]
    got = await asyncio.gather(*calls)
    assert aclient.scheduler_stats()["batches"] <= 3
    for i in range(8):
        solo = client.search("t", _vecs(1, i, 3).tolist(), anns_field="b", limit=4)
        assert _norm(got[i]) == _norm(solo)
        assert _norm(got[8 + i]) == _norm(client.hybrid_search("t", **_hybrid_args(i)))


async def test_invalid_request_fails_alone(aclient: AsyncMilvusClient, client) -> None:
    _fill(client)
    client.create_collection("s", dimension=DIM, enable_dynamic_field=False)
    bad: list[tuple[str, dict[str, Any], str]] = [
        ("c", {"data": [[0.1] * (DIM + 1)]}, "dimension mismatch"),
        ("c", {"data": _q(0), "filter": "n >>> 1"}, ""),
        ("c", {"data": _q(0), "anns_field": "nope"}, "nope"),
        ("c", {"data": _q(0), "search_params": {"metric_type": "IP"}}, "metric"),
        ("s", {"data": _q(0), "output_fields": ["nope"]}, "nope"),
        ("zz", {"data": _q(0)}, "zz"),
        ("c", {"data": _q(0), "limit": 20000}, "topk"),
    ]
    good = [("c", {"data": _q(i), "limit": 4, "filter": "n > 3"}) for i in range(10)]
    reqs = good[:5] + [(name, kw) for name, kw, _ in bad] + good[5:]
    got = await asyncio.gather(*(aclient.search(n, **kw) for n, kw in reqs), return_exceptions=True)
    assert aclient.scheduler_stats()["batches"] == 1
    for (_, _, words), exc in zip(bad, got[5:-5], strict=True):
        assert isinstance(exc, MilvusException), exc
        assert words.lower() in exc.message.lower(), exc.message
    for (name, kw), res in zip(good, got[:5] + got[-5:], strict=True):
        assert _norm(res) == _norm(client.search(name, **kw))
    # equal requests share their checks within a batch, but each caller gets its own error
    twins = [aclient.search("s", _q(i), output_fields=["nope"]) for i in range(3)]
    errs = await asyncio.gather(*twins, aclient.search("s", _q(5)), return_exceptions=True)
    assert all(isinstance(e, MilvusException) and "nope" in e.message for e in errs[:3])
    assert len({id(e) for e in errs[:3]}) == 3 and not isinstance(errs[3], BaseException)


async def test_cancelled_callers_leave_the_batch_cleanly(
    aclient: AsyncMilvusClient, client: MilvusClient, gate: Gate
) -> None:
    _fill(client)
    running = [asyncio.create_task(aclient.search("c", _q(i))) for i in range(10)]
    await gate.running()
    queued = [asyncio.create_task(aclient.search("c", _q(i))) for i in range(10, 22)]
    await asyncio.sleep(0.01)
    for t in running[::4] + queued[::3]:  # 3 inside the running batch, 4 still queued
        t.cancel()
    gate.opened.set()
    got = await asyncio.wait_for(asyncio.gather(*running, *queued, return_exceptions=True), 5)
    for i, res in enumerate(got):
        if i in (0, 4, 8, 10, 13, 16, 19):
            assert isinstance(res, asyncio.CancelledError)
        else:
            assert _norm(res) == _norm(client.search("c", _q(i)))
    assert gate.calls == [10, 8] and aclient.scheduler_stats()["cancelled"] == 7
    assert _norm(await aclient.search("c", _q(99))) == _norm(client.search("c", _q(99)))


async def test_close_drains_pending_searches_and_never_hangs(
    uri: str, client: MilvusClient, gate: Gate
) -> None:
    _fill(client)
    ac = AsyncMilvusClient(uri)
    tasks = [asyncio.create_task(ac.search("c", _q(i))) for i in range(5)]
    await gate.running()
    tasks += [asyncio.create_task(ac.search("c", _q(i))) for i in range(5, 15)]
    await asyncio.sleep(0)
    closer = asyncio.create_task(ac.close())
    await asyncio.sleep(0.02)
    assert not closer.done()  # waits for the held batch and the queued one
    with pytest.raises(MilvusException):  # closing: new work is refused
        await ac.search("c", _q(0))
    threading.Timer(0.05, gate.opened.set).start()
    await asyncio.wait_for(closer, 5)
    got = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
    for i, res in enumerate(got):  # drained (or failed cleanly), never left hanging
        if not isinstance(res, MilvusException):
            assert _norm(res) == _norm(client.search("c", _q(i)))
    with pytest.raises(MilvusException):
        await ac.search("c", _q(0))
    with pytest.raises(MilvusException):
        await ac.hybrid_search("c", [AnnSearchRequest(_q(0), "vector", {}, 3)], RRFRanker())
    await asyncio.wait_for(ac.close(), 5)  # idempotent


async def test_close_while_many_searches_are_in_flight(uri: str, client: MilvusClient) -> None:
    _fill(client)
    ac = AsyncMilvusClient(uri, max_batch=16)
    tasks = [asyncio.create_task(ac.search("c", _q(i % 7))) for i in range(200)]
    await asyncio.sleep(0)
    await asyncio.wait_for(ac.close(), 10)
    got = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
    assert all(isinstance(r, MilvusException) or len(r) == 1 for r in got)


async def test_max_queue_overflow_raises(uri: str, client: MilvusClient) -> None:
    _fill(client)
    ac = AsyncMilvusClient(uri, max_queue=4)
    got = await asyncio.gather(*(ac.search("c", _q(i)) for i in range(10)), return_exceptions=True)
    for res in got[4:]:
        assert isinstance(res, MilvusException) and "max_queue" in res.message
    for i, res in enumerate(got[:4]):
        assert _norm(res) == _norm(client.search("c", _q(i)))
    assert _norm(await ac.search("c", _q(5))) == _norm(client.search("c", _q(5)))  # freed
    await ac.close()
    for kw in ({"max_queue": 0}, {"max_batch": 0}, {"max_batch": "8"}):
        with pytest.raises(MilvusException):
            AsyncMilvusClient(uri, **kw)


async def test_max_batch_bounds_the_batch(uri: str, client: MilvusClient) -> None:
    _fill(client)
    ac = AsyncMilvusClient(uri, max_batch=8)
    got = await asyncio.gather(*(ac.search("c", _q(i), limit=3) for i in range(50)))
    stats = ac.scheduler_stats()
    assert stats["largest_batch"] == 8 and stats["batches"] == 7 and stats["requests"] == 50
    for i, res in enumerate(got):
        assert _norm(res) == _norm(client.search("c", _q(i), limit=3))
    await ac.close()


async def test_default_max_batch_splits_a_large_burst(
    aclient: AsyncMilvusClient, client: MilvusClient
) -> None:
    """The default (256, the spec's latency-first size) runs a burst of 300 as two batches."""
    _fill(client)
    got = await asyncio.gather(*(aclient.search("c", _q(i % 40), limit=3) for i in range(300)))
    stats = aclient.scheduler_stats()
    assert scheduler_mod.DEFAULT_MAX_BATCH == 256
    assert stats["largest_batch"] == 256 and stats["batches"] == 2 and stats["requests"] == 300
    assert _norm(got[299]) == _norm(client.search("c", _q(299 % 40), limit=3))


async def test_searches_see_awaited_writes(aclient: AsyncMilvusClient, client) -> None:
    vecs = _fill(client)
    noise = [aclient.search("c", _q(i), limit=3) for i in range(20)]
    for r in range(5):
        new = list(range(1000 + 10 * r, 1010 + 10 * r))
        await aclient.insert("c", _rows(_vecs(10, 50 + r), start=new[0]))
        got = await asyncio.gather(aclient.search("c", _q(r), filter=f"id in {new}", limit=20),
                                   *noise[:10])  # fmt: skip
        assert sorted(h["id"] for h in got[0][0]) == new
        await aclient.delete("c", ids=new[:4])
        await aclient.delete("c", filter=f"id > {new[-1] - 3}")
        got = await asyncio.gather(aclient.search("c", _q(r), filter=f"id in {new}", limit=20),
                                   *noise[10:])  # fmt: skip
        assert sorted(h["id"] for h in got[0][0]) == new[4:7]
        noise = [aclient.search("c", _q(i), limit=3) for i in range(20)]
    await asyncio.gather(*noise)
    await aclient.upsert("c", _rows(vecs[:1] + 100, start=5))  # row 5 moves far away
    res = await aclient.search("c", (vecs[:1] + 100).tolist(), limit=1, output_fields=["n"])
    assert res[0][0]["id"] == 5 and res[0][0]["distance"] == 0.0


_SEARCH = st.tuples(
    st.integers(0, 999),  # query seed
    st.integers(1, 12),  # limit
    st.sampled_from(["", "n > 20", "color == 'blue'", "n < 15 or n > 40", "id in [1, 3, 50]"]),
    st.sampled_from([None, ["n"], ["color", "n"]]),
    st.integers(0, 3),  # offset
)
_PHASE = st.tuples(
    st.sampled_from(["insert", "upsert", "delete_ids", "delete_filter"]),
    st.integers(1, 15),  # write size
    st.lists(_SEARCH, max_size=6),  # searches racing the write: see it entirely or not at all
    st.lists(_SEARCH, min_size=1, max_size=12),  # searches after it: must see it
)
_uris = itertools.count()


def _search_kw(s: tuple) -> dict[str, Any]:
    keys = ("data", "limit", "filter", "output_fields", "offset")
    return dict(zip(keys, (_q(s[0]), *s[1:]), strict=True))


def _write(op: str, size: int, next_id: int, rng: random.Random) -> tuple[str, dict, int]:
    if op == "insert":
        return "insert", {"data": _rows(_vecs(size, next_id), next_id)}, next_id + size
    if op == "upsert":
        start = rng.randrange(next_id)
        rows = _rows(_vecs(size, -start % 997 + 1), start)
        return "upsert", {"data": rows}, max(next_id, start + size)
    if op == "delete_ids":
        return "delete", {"ids": rng.sample(range(next_id), min(size, next_id))}, next_id
    lo = rng.randrange(next_id)
    return "delete", {"filter": f"n >= {lo} and n < {lo + size}"}, next_id


async def _mix(base: str, metric: str, phases: list, seed: int) -> None:
    live, ref = AsyncMilvusClient(f"{base}/live.db"), MilvusClient(f"{base}/ref.db")
    ref.create_collection("c", dimension=DIM, metric_type=metric)
    await live.create_collection("c", dimension=DIM, metric_type=metric)
    ref.insert("c", _rows(_vecs(30, seed)))
    await live.insert("c", _rows(_vecs(30, seed)))
    rng, next_id = random.Random(seed), 30
    for op, size, racing, after in phases:
        name, kwargs, next_id = _write(op, size, next_id, rng)
        racing_kw, after_kw = [_search_kw(s) for s in racing], [_search_kw(s) for s in after]
        before = [_norm(ref.search("c", **kw)) for kw in racing_kw]
        getattr(ref, name)("c", **kwargs)
        since = [_norm(ref.search("c", **kw)) for kw in racing_kw]
        expected = [_norm(ref.search("c", **kw)) for kw in after_kw]
        got = await asyncio.gather(getattr(live, name)("c", **kwargs),
                                   *(live.search("c", **kw) for kw in racing_kw))  # fmt: skip
        for res, a, b in zip(got[1:], before, since, strict=True):
            assert _norm(res) in (a, b)
        got = await asyncio.gather(*(live.search("c", **kw) for kw in after_kw))
        assert [_norm(r) for r in got] == expected
    cnt = ["count(*)"]
    assert await live.query("c", output_fields=cnt) == ref.query("c", output_fields=cnt)
    await live.close()
    ref.close()


# no shrink phase, so a failure is reported at once
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # fmt: skip
@given(st.sampled_from(["L2", "IP", "COSINE"]), st.lists(_PHASE, min_size=1, max_size=4),
       st.integers(0, 2**16))  # fmt: skip
def test_concurrent_mix_matches_serial_replay(
    tmp_path_factory: pytest.TempPathFactory, metric: str, phases: list, seed: int
) -> None:
    base = tmp_path_factory.mktemp(f"mix{next(_uris)}")
    asyncio.run(_mix(str(base), metric, phases, seed))


def test_sync_client_from_eight_threads(client: MilvusClient) -> None:
    _fill(client, n=100)
    failures: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(t: int) -> None:
        try:
            barrier.wait(5)
            rng = np.random.default_rng(t)
            for r in range(15):
                ids = list(range(1000 * (t + 1) + 10 * r, 1000 * (t + 1) + 10 * r + 10))
                client.insert("c", _rows(_vecs(10, 100 * t + r), start=ids[0]))
                res = client.search("c", rng.standard_normal((2, DIM)).tolist(), limit=5,
                                    output_fields=["n"])  # fmt: skip
                assert all(len(hits) == 5 for hits in res)
                assert all(h["entity"]["n"] == h["id"] for hits in res for h in hits)
                own = client.search("c", _q(t), filter=f"id in {ids}", limit=20)
                assert sorted(h["id"] for h in own[0]) == ids
                client.delete("c", ids=ids[:3])
                assert client.get("c", ids=ids[:3]) == []
                assert len(client.query("c", filter=f"id in {ids}", output_fields=["n"])) == 7
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not failures, failures
    assert client.query("c", output_fields=["count(*)"]) == [{"count(*)": 100 + 8 * 15 * 7}]
    alive = {r["id"] for r in client.query("c", filter="id >= 0", output_fields=["id"])}
    assert alive == set(range(100)) | {1000 * (t + 1) + 10 * r + j for t in range(8)
                                       for r in range(15) for j in range(3, 10)}  # fmt: skip


def test_client_survives_a_loop_closed_during_a_batch(uri: str, gate: Gate) -> None:
    _fill(MilvusClient(uri))
    ac = AsyncMilvusClient(uri)

    async def leave_a_batch_running() -> None:
        task = asyncio.create_task(ac.search("c", _q(0)))
        await gate.running()
        assert not task.done()

    asyncio.run(leave_a_batch_running())  # the loop closes with the batch still held
    gate.opened.set()

    async def later() -> None:
        await asyncio.wait_for(ac.search("c", _q(1)), 1)
        await asyncio.wait_for(ac.close(), 1)

    asyncio.run(later())


async def test_large_array_filter_params_keep_their_own_masks(
    aclient: AsyncMilvusClient, client: MilvusClient
) -> None:
    _fill(client, n=3000)
    a = np.arange(2000)
    b = a.copy()
    b[3:-3] += 1000  # same repr as ``a``: the masks must not be shared by repr
    kws = [{"data": _q(0), "limit": 3, "filter": "id in {ids}", "filter_params": {"ids": p}}
           for p in (a, b)]  # fmt: skip
    got = await asyncio.gather(*(aclient.search("c", **kw) for kw in kws))
    assert [_norm(r) for r in got] == [_norm(client.search("c", **kw)) for kw in kws]
