"""Plain text a person can read: aligned columns, key/value blocks; or the API's JSON as it came."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click

GAP = "  "


def cell(value: Any) -> str:
    """One value on one line: None as '-', mappings as k=v, lists comma-separated."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return " ".join(f"{k}={_inline(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value) or "-"
    return " ".join(str(value).split())


def _inline(value: Any) -> str:
    if isinstance(value, str):
        return " ".join(value.split()) if value and " " not in value else json.dumps(value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, separators=(",", ":"), default=str)
    return cell(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns padded to their widest cell, two spaces apart, no trailing blanks."""
    lines = [list(headers), *([cell(v) for v in row] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        GAP.join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def fields(pairs: Iterable[tuple[str, Any]]) -> str:
    """A key/value block: labels padded to the widest; multi-line values indented under their label."""
    pairs = [(label, value) for label, value in pairs]
    width = max((len(label) for label, _ in pairs), default=0)
    out = []
    for label, value in pairs:
        text = value if isinstance(value, str) and "\n" in value else cell(value)
        first, *rest = text.split("\n")
        out.append(f"{label.ljust(width)}{GAP}{first}".rstrip())
        out.extend(f"{' ' * (width + len(GAP))}{line}".rstrip() for line in rest)
    return "\n".join(out)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
