"""One conversion to strict JSON for every results file: NaN and infinities become None (JSON's null)."""

from __future__ import annotations

import math


def jsonable(value):
    """`value` with plain JSON types only: dict keys as strings, tuples as lists, numpy/torch scalars as Python
    numbers, and non-finite floats as None, so `json.dumps(..., allow_nan=False)` accepts it."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return jsonable(value.item())
    return value


__all__ = ["jsonable"]
