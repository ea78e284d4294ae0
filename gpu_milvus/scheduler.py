"""Dynamic batching of concurrent searches on one event loop (performance.md §6.3).

Policy (self-clocking, no forced window): a request arriving at an idle scheduler is
dispatched on the loop's next turn, together with whatever the other ready coroutines submit
in that turn; requests arriving while a batch runs wait for the next batch, which takes up to
``max_batch`` of them. Each batch runs on the scheduler's single worker thread, where the
engine groups requests by collection and vector field into one backend call each (one matrix
product on the CPU, one launch on the GPU); every caller then gets exactly its own rows.

Invariants: the event loop never runs engine work; a cancelled caller is skipped or its late
result dropped; a request that fails its checks fails alone; ``close()`` drains what is
queued and then refuses new work.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pymilvus.exceptions import MilvusException

from gpu_milvus import errors
from gpu_milvus.engine.collection import Collection
from gpu_milvus.engine.reads import SearchHits, SearchItem, search_batch

RATE_LIMIT = 8  # pymilvus ErrorCode.RATE_LIMIT
# A burst of 1000 runs as four batches, and each batch's callers get their results while the
# next one runs: 1000 vs one nq=1000 call on a modelled fp32 GPU 1.27x at 1024, 1.16x at 512
# (up to 1.28x), 1.14x at 256 (medians of 6; no change with bf16's or the CPU's fast engine;
# bench/scheduler_bench.py and bench/README.md). The spec's latency-first size (§6.3).
DEFAULT_MAX_BATCH = 256
_clock = time.perf_counter
Outcome = tuple[list[SearchHits], str]


@dataclass(slots=True)
class _Pending:
    coll: Collection
    item: SearchItem
    future: asyncio.Future[Outcome]
    queued_at: float


@dataclass
class SchedulerStats:
    """Counters for tuning: batches run, requests served, batch sizes and queue waits."""

    batches: int = 0
    requests: int = 0
    largest_batch: int = 0
    queue_wait_s: float = 0.0
    cancelled: int = 0
    sizes: list[int] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, float]:
        return {
            "batches": self.batches,
            "requests": self.requests,
            "mean_batch_size": self.requests / self.batches if self.batches else 0.0,
            "largest_batch": self.largest_batch,
            "mean_queue_wait_ms": 1e3 * self.queue_wait_s / self.requests if self.requests else 0.0,
            "cancelled": self.cancelled,
        }


class SearchScheduler:
    """Coalesces concurrent ``search`` calls of one client into batched engine calls."""

    def __init__(self, max_batch: int = DEFAULT_MAX_BATCH, max_queue: int = 65536) -> None:
        if not isinstance(max_batch, int) or max_batch < 1:
            raise errors.ParamError(message=f"max_batch must be a positive int, got {max_batch!r}")
        if not isinstance(max_queue, int) or max_queue < 1:
            raise errors.ParamError(message=f"max_queue must be a positive int, got {max_queue!r}")
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.stats = SchedulerStats()
        self._queue: deque[_Pending] = deque()
        self._running = False
        self._closed = False
        self._idle: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None

    def submit(self, coll: Collection, item: SearchItem) -> asyncio.Future[Outcome]:
        """Queue one search; await the returned future for its own (hits, metric)."""
        return self._enqueue(coll, item)

    async def run_many(self, coll: Collection, items: Sequence[SearchItem]) -> list[Outcome]:
        """Several searches that must all succeed (a hybrid search's sub-requests), queued in
        the same turn so they join the same batch as the searches issued beside them."""
        futures = [self._enqueue(coll, i) for i in items]
        return list(await asyncio.gather(*futures))

    def _enqueue(self, coll: Collection, item: SearchItem) -> asyncio.Future[Outcome]:
        if self._closed:
            raise errors.should_create_connection()
        if len(self._queue) >= self.max_queue:
            raise MilvusException(
                code=RATE_LIMIT,
                message=f"too many pending searches: the queue holds max_queue={self.max_queue}",
            )
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._adopt(loop)
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.append(_Pending(coll, item, future, _clock()))
        if not self._running:
            self._running = True
            self._idle_event().clear()
            loop.call_soon(self._dispatch, loop)
        return future

    def _adopt(self, loop: asyncio.AbstractEventLoop) -> None:
        """Move to ``loop``. State left by a loop that has gone (closed, or a new
        ``asyncio.run``) is dropped, so its unfinished batch cannot stall this one."""
        if self._loop is loop:
            return
        self._loop = loop
        self._running = False
        self._idle = None
        self._queue = deque(p for p in self._queue if p.future.get_loop() is loop)

    def _idle_event(self) -> asyncio.Event:
        if self._idle is None:
            self._idle = asyncio.Event()
            self._idle.set()
        return self._idle

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        batch: list[_Pending] = []
        while self._queue and len(batch) < self.max_batch:
            pending = self._queue.popleft()
            if pending.future.cancelled():
                self.stats.cancelled += 1
            else:
                batch.append(pending)
        if not batch:
            self._running = False
            self._idle_event().set()
            return
        now = _clock()
        self.stats.batches += 1
        self.stats.requests += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        self.stats.queue_wait_s += sum(now - p.queued_at for p in batch)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="gpu_milvus-search")
        self._executor.submit(self._work, loop, batch)

    def _work(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> None:
        """Worker thread: run the batch, then hand the outcomes to the loop in one callback."""
        outcomes: list[Outcome | BaseException] | None = None
        error: BaseException | None = None
        try:
            outcomes = _execute(batch)
        except BaseException as exc:  # every caller must hear of it
            error = exc
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(self._deliver, loop, batch, outcomes, error)

    def _deliver(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[_Pending],
        outcomes: list[Outcome | BaseException] | None,
        error: BaseException | None,
    ) -> None:
        if loop is not self._loop:  # the scheduler moved to another loop meanwhile
            return
        self._dispatch(loop)  # the next batch starts before this one's callers are woken
        for i, pending in enumerate(batch):
            if pending.future.done():  # cancelled while the batch ran
                self.stats.cancelled += 1
                continue
            result = error if outcomes is None else outcomes[i]
            if isinstance(result, BaseException):
                pending.future.set_exception(result)
            else:
                pending.future.set_result(result)

    async def close(self) -> None:
        """Let queued and running batches finish, then refuse new work."""
        self._closed = True
        self._adopt(asyncio.get_running_loop())
        if self._running:
            await self._idle_event().wait()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None


def _execute(batch: list[_Pending]) -> list[Outcome | BaseException]:
    """Worker thread: one ``search_batch`` per collection, results in batch order."""
    by_coll: dict[int, list[int]] = {}
    for i, pending in enumerate(batch):
        by_coll.setdefault(id(pending.coll), []).append(i)
    results: list[Outcome | BaseException] = [errors.invalid("not run")] * len(batch)
    for positions in by_coll.values():
        coll = batch[positions[0]].coll
        try:
            outcomes = search_batch(coll, [batch[i].item for i in positions])
        except MilvusException as exc:
            outcomes = [exc] * len(positions)
        except Exception as exc:  # an engine bug or out of memory: fail these callers only
            outcomes = [errors.unexpected(exc)] * len(positions)
        for i, outcome in zip(positions, outcomes, strict=True):
            results[i] = outcome
    return results
