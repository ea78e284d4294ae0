"""``python -m bench``: a thin shim over ``gpu_milvus.benchmarks.cli.main``."""

from __future__ import annotations

from gpu_milvus.benchmarks.cli import main

raise SystemExit(main())
