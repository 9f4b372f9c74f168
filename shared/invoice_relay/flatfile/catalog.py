"""Loading import templates: the packaged ones by name, a customer's own from a file or from text.

Templates are YAML read with a stricter scalar resolver than YAML 1.1's: only true/false are booleans
(so `NO` stays the country code, `on`/`off` stay text) and only plain decimal numbers are numbers (so a GL
account `04010` stays the text "04010" instead of the octal number 2056, and `12:30` stays text).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .template import ImportTemplate, TemplateError

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "import_templates"
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

_BOOL, _INT, _FLOAT = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2-like booleans and numbers (see the module docstring)."""


_TemplateLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_TemplateLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_TemplateLoader.add_implicit_resolver(_INT, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))
_TemplateLoader.add_implicit_resolver(
    _FLOAT, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)\.[0-9]+$"), list("-+0123456789")
)


def available_templates() -> list[str]:
    """Names of the packaged templates (what `load_template(name)` accepts)."""
    return sorted(path.stem for path in TEMPLATE_DIR.glob("*.yaml"))


def load_template(name_or_path: str | os.PathLike[str]) -> ImportTemplate:
    """A packaged template by name (`generic_csv`), or the template in a YAML file (a path).

    Raises TemplateError with every problem found (file, line and column for YAML syntax; the field,
    the column name and what is wrong for the layout).
    """
    if isinstance(name_or_path, str) and _TEMPLATE_NAME.match(name_or_path):
        return _packaged(name_or_path)
    path = Path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"import template {str(path)!r} cannot be read: {exc.strerror or exc}") from exc
    return parse_template(text, origin=str(path))


@lru_cache(maxsize=32)
def _packaged(name: str) -> ImportTemplate:
    path = TEMPLATE_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(available_templates())
        raise TemplateError(f"unknown import template {name!r} (available: {known})")
    return parse_template(path.read_text(encoding="utf-8"), origin=f"{name}.yaml")


def parse_template(text: str, *, origin: str = "<template>") -> ImportTemplate:
    """A template from YAML text (e.g. a customer's template stored with the connector)."""
    try:
        data = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        message = str(exc).replace('"<unicode string>"', origin)
        raise TemplateError(f"import template {origin} is not valid YAML: {message}") from exc
    return template_from_data(data, origin=origin)


def template_from_data(data: Any, *, origin: str = "<template>") -> ImportTemplate:
    """A template from already-parsed data (a dict shaped like the YAML)."""
    if not isinstance(data, dict):
        raise TemplateError(
            f"import template {origin} must be a mapping (name: ..., format: ..., records: ...)"
        )
    try:
        return ImportTemplate.model_validate(data)
    except ValidationError as exc:
        problems = "\n".join(f"  - {problem}" for problem in _problems(exc, data))
        raise TemplateError(f"import template {origin} is invalid:\n{problems}") from exc


def _problems(exc: ValidationError, data: dict[str, Any]) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        where = _where(error["loc"], data)
        if where:
            problems.append(f"{where}: {message}")
        else:
            problems.extend(message.splitlines())
    return problems


def _where(loc: tuple[int | str, ...], data: Any) -> str:
    """`records.detail.columns[3] (GL_ACCOUNT).width` from a pydantic location and the raw data."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                out += f" ({node['name']})"
        else:
            out += f".{part}" if out else str(part)
            if not (part == "columns" and isinstance(node, list)):  # `detail: [...]` shorthand
                node = node.get(part) if isinstance(node, dict) else None
    return out
