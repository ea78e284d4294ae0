"""Kill -9 a writing process at random moments; every acknowledged write must survive.

Each kill point forks a child (from a forkserver that has gpu_milvus imported) that runs the
seeded workload of ``crash_workload`` on a fresh store with a tiny checkpoint threshold, so
kills land in log appends, background checkpoints, segment writes, manifest renames and
compactions. The parent kills it with SIGKILL after a random number of acknowledgements plus
a random delay, reopens the store and checks that it holds exactly the model's state after
the acknowledged operations, or after the one operation that was in flight.

CI runs ``CRASH_POINTS`` (>= 200) kill points; ``-m slow`` runs many more.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from pathlib import Path

import crash_workload as wl
import numpy as np
import pytest

from gpu_milvus import MilvusClient

CRASH_POINTS = 208
SLOW_CRASH_POINTS = 1000
_BATCH = 8  # kill points per test case (each case is one seed range)


@pytest.fixture(scope="module")
def forkserver() -> multiprocessing.context.BaseContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["gpu_milvus", "crash_workload"])
    return ctx


def _kill_point(ctx: multiprocessing.context.BaseContext, root: Path, seed: int) -> str:
    """One child killed at a random moment; returns how far it got, for the failure message."""
    rng = np.random.default_rng(seed + 1_000_003)
    path, ack = str(root / f"s{seed}"), str(root / f"s{seed}.ack")
    durability = "group" if seed % 5 == 4 else "sync"
    ops = wl.operations(seed)
    target = int(rng.integers(-1, len(ops) + 1))
    child = ctx.Process(target=wl.run_child, args=(path, seed, ack, durability))
    child.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and child.is_alive():
        acks = wl.acknowledged(ack) if os.path.exists(ack) else []
        if len(acks) - 1 >= target:
            break
        time.sleep(0.0005)
    time.sleep(float(rng.uniform(0, 0.004)))
    with contextlib.suppress(ProcessLookupError):  # it may finish on its own meanwhile
        os.kill(child.pid, signal.SIGKILL)
    child.join()
    acks = wl.acknowledged(ack) if os.path.exists(ack) else []
    where = f"seed {seed}: {len(acks)} acks, target {target}, exit {child.exitcode}"
    assert child.exitcode in (0, -signal.SIGKILL), f"the child failed: {where}"
    if not acks:  # killed before the collection was set up and acknowledged
        return where
    done = acks[-1] + 1
    states = wl.model_states(ops)
    client = MilvusClient(path, device="cpu")
    try:
        assert wl.COLLECTION in client.list_collections(), where
        stored = wl.stored_rows(client)
        count = client.query(wl.COLLECTION, filter="", output_fields=["count(*)"])
        allowed = [wl.normalised(states[done])]
        if done < len(ops):  # the call in flight may or may not have landed
            allowed.append(wl.normalised(states[done + 1]))
        assert stored in allowed, f"{where}: store differs from every allowed state"
        assert count[0]["count(*)"] == len(stored), where
        # The store keeps working after recovery.
        client.insert(wl.COLLECTION, [{"id": 10**9, "vector": [0.0] * wl.DIM, "val": 1}])
        assert client.get(wl.COLLECTION, ids=[10**9]), where
    finally:
        client.close()
    return where


@pytest.mark.parametrize("first", range(0, CRASH_POINTS, _BATCH))
def test_kill_points(forkserver, tmp_path: Path, first: int) -> None:
    for seed in range(first, first + _BATCH):
        _kill_point(forkserver, tmp_path, seed)


@pytest.mark.slow
def test_kill_points_slow(forkserver, tmp_path: Path) -> None:
    for seed in range(CRASH_POINTS, SLOW_CRASH_POINTS):
        _kill_point(forkserver, tmp_path, seed)
