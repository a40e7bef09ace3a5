"""How numbers and tables look to a reader: one place for every chapter.

Intervals as ``78.7 [75.7, 82.0]``, fixed decimals, thousands separators, "—" for a missing value,
human column names, no index column. Tables keep their data (a pandas ``Styler`` wraps it), so a
reader who copies a cell gets the number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

MISSING = "—"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value, decimals: int = 1, *, signed: bool = False) -> str:
    """``1,234.5`` (``+1.2`` when signed); "—" for None or NaN."""
    if _missing(value):
        return MISSING
    return f"{value:{'+' if signed else ''},.{decimals}f}"


def interval(mean, low, high, decimals: int = 1, *, signed: bool = False) -> str:
    """``78.7 [75.7, 82.0]``; "—" when the mean is missing."""
    if _missing(mean):
        return MISSING
    return (f"{number(mean, decimals, signed=signed)} [{number(low, decimals, signed=signed)}, "
            f"{number(high, decimals, signed=signed)}]")


def for_reader(table: pd.DataFrame, *, columns: Mapping[str, str] | None = None, decimals: int = 1):
    """A table as a reader sees it: human column names, no index, fixed decimals, "—" for missing."""
    shown = table.rename(columns=dict(columns or {}))
    return (shown.style.hide(axis="index")
            .format(lambda v: number(v, decimals) if isinstance(v, float) else (MISSING if v is None else v)))
