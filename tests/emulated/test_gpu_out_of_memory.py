"""Running out of GPU memory, on the emulated CuPy (whose single allocations can be capped):
the write is refused with Milvus's code 3 and changes nothing, in memory or on disk."""

from __future__ import annotations

import numpy as np
import pytest
from pymilvus.exceptions import MilvusException

cupy = pytest.importorskip("cupy")
if cupy.__version__ != "0.0-emulated":
    pytest.skip("caps allocations of the emulated CuPy only", allow_module_level=True)

from gpu_milvus import MilvusClient  # noqa: E402


def _bytes_on_disk(root) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("scan_dtype", ["float32", "bfloat16"])
def test_an_insert_the_device_cannot_hold_is_refused_whole(
    tmp_path, monkeypatch: pytest.MonkeyPatch, scan_dtype: str
) -> None:
    uri = str(tmp_path / "g.db")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 32)).astype(np.float32)
    rows = [{"id": i, "vector": x[i].tolist(), "tag": i % 5} for i in range(3000)]
    c = MilvusClient(uri, device="cuda", scan_dtype=scan_dtype)
    c.create_collection("c", dimension=32, metric_type="IP")
    c.insert("c", rows[:1000])
    logged = _bytes_on_disk(tmp_path)
    monkeypatch.setattr(cupy.cuda.memory, "max_allocation", 1000 * 32 * 4 + 1)
    with pytest.raises(MilvusException, match="memory limit exceeded") as info:
        c.insert("c", rows[1000:3000])  # needs a larger matrix than the cap allows
    assert info.value.code == 3
    assert _bytes_on_disk(tmp_path) == logged  # not written to the log either
    monkeypatch.setattr(cupy.cuda.memory, "max_allocation", None)
    assert c.query("c", filter="", output_fields=["count(*)"])[0]["count(*)"] == 1000
    c.insert("c", rows[1000:1500])  # the store is still consistent and grows again
    hits = c.search("c", data=[x[1200].tolist()], limit=3, filter="tag == 0")[0]
    assert hits[0]["id"] == 1200
    c.close()
    again = MilvusClient(uri, device="cuda")  # the refused insert was never logged
    assert again.query("c", filter="", output_fields=["count(*)"])[0]["count(*)"] == 1500
    again.close()
