"""CSV for spreadsheets: cells that a spreadsheet would run as a formula are neutralised.

Refs and reasons come from descriptors anyone can write; `=HYPERLINK(...)` in an owner field must reach a
compliance team's spreadsheet as text, not as a formula.
"""
from __future__ import annotations

import csv
import io
from typing import Iterable

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()
