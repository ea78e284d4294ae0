"""The benchmark suite: ``python -m bench`` or ``gpu-milvus bench``.

gpu_milvus next to milvus-lite, plain NumPy and (on a GPU) torch and CuPy brute force, on the
same data in one run: bulk insert, exact search over an nq x k grid, filtered, sparse and
hybrid search, and a concurrency sweep through ``AsyncMilvusClient``. Recall@k is measured
against float64 ground truth. Writes a JSON record and PNG plots (see ``bench/README.md``).
Modules: ``cli`` (arguments, orchestration), ``config``, ``datasets`` / ``realdata``,
``clients`` (the pymilvus-API engines), ``peers`` (brute-force baselines), ``workloads``,
``concurrency``, ``metrics``, ``record``, ``report``, ``plots``, ``progress``.
"""
