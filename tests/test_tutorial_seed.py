"""The user story: the AsyncMilvusClient tutorial's own code, run with only the import line
and the uri changed (plus the tutorial's two bugs fixed: ``client`` is a sync MilvusClient on
the same uri, and ``rng`` is visible to every function)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import sys
import warnings
from pathlib import Path

import pytest

SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "asyncmilvusclient_tutorial.md"


def _tutorial_program(uri: str) -> str:
    text = SEED.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    program = "\n".join(blocks)
    program = program.replace("from pymilvus import", "from gpu_milvus import", 1)
    connect = 'uri="http://localhost:19530"'
    assert connect in program
    program = program.replace(connect, f"uri={uri!r}", 1)
    # The tutorial's own bugs: no sync `client`, and `rng` local to insert_sample_data.
    program = program.replace(
        "# Connect to Milvus server using AsyncMilvusClient",
        f"client = MilvusClient(uri={uri!r})\nrng = np.random.default_rng(42)",
        1,
    )
    if sys.version_info >= (3, 14):  # get_event_loop() no longer creates a loop there
        program = program.replace("asyncio.get_event_loop()", "asyncio.new_event_loop()")
    return program


@pytest.mark.skipif(not SEED.exists(), reason="the seed tutorial is not next to this checkout")
def test_tutorial_runs_unchanged_but_for_import_and_uri(tmp_path: Path) -> None:
    program = _tutorial_program(str(tmp_path / "tutorial.db"))
    out = io.StringIO()
    namespace: dict[str, object] = {"__name__": "tutorial"}
    # A fresh script's main thread has an event loop for get_event_loop(); earlier tests may
    # have unset it, so give this "script" one, as the interpreter would.
    asyncio.set_event_loop(asyncio.new_event_loop())
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        exec(compile(program, "asyncmilvusclient_tutorial.md", "exec"), namespace)
        namespace["loop"].close()  # type: ignore[attr-defined]
    asyncio.set_event_loop(None)
    text = out.getvalue()
    assert "Collection created successfully" in text
    assert "{'state': <LoadState: Loaded>}" in text
    assert "{'insert_count': 10000, 'ids': [0, 1, 2, 3," in text
    # milvus-lite 3.2.2 and 2.5.1 both count 6775 on this seed (the tutorial text says 6802).
    assert "data: [\"{'count(*)': 6775}\"], extra_info: {}" in text
    searches = [line for line in text.splitlines() if line.startswith("data: [[")]
    assert len(searches) == 3  # dense, sparse, hybrid
    for line in searches:
        assert line.count("'distance':") == 30  # 3 queries x limit 10
        assert "'text':" in line
