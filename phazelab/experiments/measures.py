"""Small measurement helpers the study and its report share (so the report never imports the study)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["clean_json", "trailing_mean"]


def trailing_mean(values: Sequence[float], window: int) -> np.ndarray:
    """Mean of the last `window` values at each position (fewer at the start); exact, no running sums."""
    v = np.asarray(values, dtype=np.float64)
    return np.array([v[max(0, i + 1 - window):i + 1].mean() for i in range(v.size)])


def clean_json(obj: Any) -> Any:
    """A JSON-safe copy: numpy scalars to numbers, tuples and paths to lists and text, NaN/inf to None."""
    if isinstance(obj, Mapping):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj
