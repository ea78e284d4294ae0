"""``python -m bench``: the benchmark suite (``gpu_milvus.benchmarks``)."""
