"""The one internal error type of the filter package, turned into a MilvusException at the edge."""

from __future__ import annotations

from pymilvus.exceptions import MilvusException

from gpu_milvus import errors


class FilterError(Exception):
    """A plan-building error; ``detail`` is the text after ``error:`` in the server message.

    ``parse`` is False for template-filling errors, which the server reports without the
    ``cannot parse expression`` prefix because it fills values after the type check.
    """

    def __init__(self, detail: str, *, parse: bool = True) -> None:
        super().__init__(detail)
        self.detail = detail
        self.parse = parse


def clip(expr: str, limit: int = 1024) -> str:
    """An expression shortened for messages (huge ``pk in [...]`` lists stay readable)."""
    return expr if len(expr) <= limit else expr[:limit] + f"...({len(expr)} chars)"


def to_milvus(expr: str, err: FilterError) -> MilvusException:
    """The proxy's wrapping: code 1100, ``failed to create query plan: cannot parse ...``."""
    expr = clip(expr)
    if err.parse:
        return errors.bad_filter(expr, f"{err.detail}: invalid parameter")
    return errors.server(
        errors.INVALID_PARAMETER, f"failed to create query plan: {err.detail}: invalid parameter"
    )
