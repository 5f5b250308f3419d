"""Render records (lists of dicts) as a table, JSON or CSV on stdout.

JSON field names are a stable contract (DESIGN.md): records are printed with
the keys they have, in order.  Tables are plain aligned text so they survive
pipes, ``less`` and log files.
"""

from __future__ import annotations

import csv
import io
import json
import math

FORMATS = ("table", "json", "csv")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)
    return str(value)


def _json_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def render(records: list[dict], fmt: str = "table", single: bool = False) -> str:
    """Text for ``records``; ``single`` prints one JSON object instead of a list."""
    if fmt == "json":
        data = [{k: _json_value(v) for k, v in r.items()} for r in records]
        return json.dumps(data[0] if single and len(data) == 1 else data, indent=2)
    columns = list(dict.fromkeys(k for r in records for k in r))
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for r in records:
            writer.writerow({k: _json_value(v) for k, v in r.items()})
        return buffer.getvalue().rstrip("\n")
    if fmt == "table":
        if not records:
            return ""
        rows = [[_cell(r.get(c)) for c in columns] for r in records]
        widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
        return "\n".join(lines)
    raise ValueError(f"unknown format {fmt!r}")
