"""The crash tests' workload: a seeded sequence of writes, a model of its outcome, a child.

``operations(seed)`` is the same list in the child that runs it and in the parent that checks
the store; ``model_states`` gives the expected rows after each prefix of it. The child
(``run_child``) acknowledges each operation after its call returns by appending the
operation's index (4 bytes, one ``write`` call) to an ack file.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

DIM = 8
COLLECTION = "crash"
PARTITION = "p1"
# A tiny checkpoint threshold, so background checkpoints (and compactions) run all the time.
CHECKPOINT_BYTES = 24 << 10


@dataclass
class Op:
    kind: str  # insert, upsert, delete_ids, delete_filter, flush, compact
    rows: list[dict[str, Any]] | None = None
    ids: list[int] | None = None
    expr: str | None = None
    partition: str | None = None


def _row(rng: np.random.Generator, pk: int) -> dict[str, Any]:
    return {
        "id": pk,
        "vector": rng.standard_normal(DIM).astype(np.float32).round(3).tolist(),
        "val": int(rng.integers(0, 1000)),
        "tag": f"t{int(rng.integers(0, 50))}",
    }


def operations(seed: int, count: int = 60) -> list[Op]:
    """A reproducible mix of inserts, upserts, deletes, flushes and compactions."""
    rng = np.random.default_rng(seed)
    ops: list[Op] = []
    next_pk = 0
    known: list[int] = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.40 or not known:
            n = int(rng.integers(1, 40))
            rows = [_row(rng, next_pk + i) for i in range(n)]
            next_pk += n
            known += [r["id"] for r in rows]
            partition = PARTITION if rng.random() < 0.3 else None
            ops.append(Op("insert", rows=rows, partition=partition))
        elif roll < 0.62:
            picks = rng.choice(known, size=min(len(known), int(rng.integers(1, 10))), replace=False)
            fresh = [next_pk] if rng.random() < 0.5 else []
            next_pk += len(fresh)
            known += fresh
            rows = [_row(rng, int(pk)) for pk in [*picks.tolist(), *fresh]]
            ops.append(Op("upsert", rows=rows))
        elif roll < 0.80:
            picks = rng.choice(known, size=min(len(known), int(rng.integers(1, 8))), replace=False)
            ops.append(Op("delete_ids", ids=[*picks.tolist(), next_pk + 10_000]))
        elif roll < 0.90:
            low = int(rng.integers(0, 990))
            ops.append(Op("delete_filter", expr=f"val >= {low} and val < {low + 10}"))
        elif roll < 0.95:
            ops.append(Op("flush"))
        else:
            ops.append(Op("compact"))
    return ops


def model_states(ops: list[Op]) -> list[dict[int, dict[str, Any]]]:
    """``states[i]`` is the expected rows (by key) after the first ``i`` operations."""
    state: dict[int, dict[str, Any]] = {}
    states = [dict(state)]
    for op in ops:
        if op.kind in ("insert", "upsert"):
            for row in op.rows or []:
                state[row["id"]] = row
        elif op.kind == "delete_ids":
            for pk in op.ids or []:
                state.pop(pk, None)
        elif op.kind == "delete_filter":
            low = int((op.expr or "").split()[2])
            for pk in [pk for pk, r in state.items() if low <= r["val"] < low + 10]:
                del state[pk]
        states.append(dict(state))
    return states


def setup(client: Any) -> None:
    client.create_collection(COLLECTION, dimension=DIM, metric_type="L2")
    client.create_partition(COLLECTION, PARTITION)


def apply(client: Any, op: Op) -> None:
    if op.kind == "insert":
        client.insert(COLLECTION, op.rows, partition_name=op.partition or "")
    elif op.kind == "upsert":
        client.upsert(COLLECTION, op.rows)
    elif op.kind == "delete_ids":
        client.delete(COLLECTION, ids=op.ids)
    elif op.kind == "delete_filter":
        client.delete(COLLECTION, filter=op.expr)
    elif op.kind == "flush":
        client.flush(COLLECTION)
    elif op.kind == "compact":
        client.compact(COLLECTION)


def run_child(path: str, seed: int, ack_path: str, durability: str = "sync") -> None:
    """Run the workload on ``path``, acknowledging each returned call; index -1 = set up."""
    from gpu_milvus import MilvusClient

    fd = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    client = MilvusClient(
        path, device="cpu", durability=durability, checkpoint_bytes=CHECKPOINT_BYTES
    )
    setup(client)
    os.write(fd, struct.pack("<i", -1))
    for i, op in enumerate(operations(seed)):
        apply(client, op)
        os.write(fd, struct.pack("<i", i))
    os._exit(0)  # no clean close: the parent checks what the store holds as it stands


def acknowledged(ack_path: str) -> list[int]:
    with open(ack_path, "rb") as f:
        data = f.read()
    whole = len(data) // 4 * 4
    return list(struct.unpack(f"<{whole // 4}i", data[:whole]))


def stored_rows(client: Any) -> dict[int, dict[str, Any]]:
    """Every visible row of the crash collection, by key."""
    rows = client.query(COLLECTION, filter="", limit=16384, output_fields=["*"])
    return {
        r["id"]: {
            "id": r["id"],
            "vector": np.round(np.asarray(r["vector"], dtype=np.float32), 3).tolist(),
            "val": r["val"],
            "tag": r["tag"],
        }
        for r in rows
    }


def normalised(state: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {
        pk: {**r, "vector": np.round(np.asarray(r["vector"], dtype=np.float32), 3).tolist()}
        for pk, r in state.items()
    }
