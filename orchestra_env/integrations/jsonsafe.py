"""Make ``info`` dicts and observations JSON-safe for the wire (numpy scalars and arrays, sets)."""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np


def json_safe(value: Any) -> Any:
    """A copy of ``value`` that ``json.dumps`` accepts: numpy -> Python, tuples/sets -> lists,
    non-finite floats -> None (JSON has no NaN), anything else unknown -> ``str``."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)
