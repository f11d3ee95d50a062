"""Readable tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import click

MAX_CELL = 48


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def echo_json(value: Any) -> None:
    click.echo(to_json(value))


def cell(value: Any, width: int | None = MAX_CELL) -> str:
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    text = text.replace("\r", " ").replace("\n", " ")
    if width and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def pick(item: dict, column: str) -> Any:
    """A column may reach into nested objects: ``stats.sends``."""
    value: Any = item
    for part in column.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def table(rows: Iterable[dict], columns: Sequence[str], *, empty: str = "Nothing found.") -> int:
    """Print rows as aligned columns; return how many there were."""
    rows = list(rows)
    if not rows:
        click.echo(empty, err=True)
        return 0
    headers = [column.split(".")[-1].upper() for column in columns]
    cells = [[cell(pick(row, column)) for column in columns] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return len(rows)


def record(item: dict, fields: Sequence[str] | None = None) -> None:
    """Print one object as ``field: value`` lines (nested objects as compact JSON)."""
    names = list(fields) if fields else list(item)
    width = max((len(name) for name in names), default=0)
    for name in names:
        click.echo(f"{name.ljust(width)}  {cell(pick(item, name), width=None)}")
