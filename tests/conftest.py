"""Shared test configuration: the ``gpu`` and ``reference`` markers skip cleanly when their
hardware or reference engine is missing; ``slow`` tests run only when asked for (``-m slow``)."""

from __future__ import annotations

import importlib.util

import pytest


def _gpu_usable() -> bool:
    try:
        from gpu_milvus.engine.backend import gpu_available

        return gpu_available()
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    has_gpu = _gpu_usable()
    has_lite = importlib.util.find_spec("milvus_lite") is not None
    wants_slow = "slow" in (config.getoption("markexpr", "") or "")
    for item in items:
        if "slow" in item.keywords and not wants_slow:
            item.add_marker(pytest.mark.skip(reason="slow: run with -m slow"))
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(pytest.mark.skip(reason="needs CuPy and a CUDA device"))
        if "reference" in item.keywords and not has_lite:
            item.add_marker(pytest.mark.skip(reason="needs milvus-lite (pip install milvus-lite)"))
