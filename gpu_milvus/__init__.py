"""gpu_milvus: pymilvus's MilvusClient and AsyncMilvusClient, in-process on a local engine.

Swap ``from pymilvus import AsyncMilvusClient`` for ``from gpu_milvus import
AsyncMilvusClient`` and point ``uri`` at a local path; the same code runs without a server.
The pymilvus types re-exported here are pymilvus's own objects.
"""

from __future__ import annotations

from pymilvus import (
    AnnSearchRequest,
    CollectionSchema,
    DataType,
    FieldSchema,
    MilvusException,
    RRFRanker,
    WeightedRanker,
)

from gpu_milvus.client.aio import AsyncMilvusClient
from gpu_milvus.client.sync import MilvusClient

__version__ = "0.1.0"

__all__ = [
    "AnnSearchRequest",
    "AsyncMilvusClient",
    "CollectionSchema",
    "DataType",
    "FieldSchema",
    "MilvusClient",
    "MilvusException",
    "RRFRanker",
    "WeightedRanker",
    "__version__",
]
