"""Congruence tests: gpu_milvus vs milvus-lite on the same seeded operations."""
