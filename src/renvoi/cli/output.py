"""What the command prints: one JSON document with ``--json``, else plain text for people.

Plain text is never cut to the terminal's width: a key shown once, an id or a number
printed truncated would be lost (a terminal wraps a long line; copying it still works).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from renvoi.store.records import as_json


def emit(value: Any, as_json_flag: bool, columns: Sequence[str] | None = None) -> None:
    """Print ``value`` (a record, a list of records, a plain mapping).

    Args:
        as_json_flag: one JSON document on one line.
        columns: for a list, the fields shown as columns, in this order.
    """
    data = as_json(value)
    if as_json_flag:
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    elif isinstance(data, list):
        sys.stdout.write(_table(data, columns))
    else:
        sys.stdout.write(_fields(data))


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{name}: {_text(item)}" for name, item in value.items()) or "-"
    return str(value)


def _fields(record: dict[str, Any]) -> str:
    """One ``name  value`` line per field, names aligned."""
    width = max((len(name) for name in record), default=0)
    return "".join(f"{name.ljust(width)}  {_text(value)}\n" for name, value in record.items())


def _table(rows: list[dict[str, Any]], columns: Sequence[str] | None) -> str:
    """Columns as wide as their widest value, two spaces apart, a header line first."""
    if not rows:
        return "(none)\n"
    names = list(columns or rows[0].keys())
    cells = [[_text(row.get(name)) for name in names] for row in rows]
    widths = [max(len(name), *(len(line[i]) for line in cells)) for i, name in enumerate(names)]
    lines = [names, *cells]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        + "\n"
        for line in lines
    )
