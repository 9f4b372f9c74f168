"""The connector kinds the store shows: every partner system in the registry, what each side of it can do,
the JSON schema of its configuration (secret fields apart: their content is credentials), and the pairings
that can work with it."""

from __future__ import annotations

from typing import Any

from ..partners.registry import REGISTRY
from ..partners.spec import PartnerSpec, SideSpec, secret_fields
from .errors import NotFound


def describe_kinds() -> list[dict[str, Any]]:
    specs = list(REGISTRY)
    return [describe(spec, specs) for spec in specs]


def describe_kind(system: str) -> dict[str, Any]:
    specs = list(REGISTRY)
    for spec in specs:
        if spec.system == system:
            return describe(spec, specs)
    raise NotFound(f"unknown connector kind '{system}'")


def describe(spec: PartnerSpec, specs: list[PartnerSpec]) -> dict[str, Any]:
    return {
        "system": spec.system,
        "title": spec.title,
        "category": spec.category,
        "connection": spec.connection,
        "documents": list(spec.documents),
        "docs": spec.docs,
        "notes": list(spec.notes),
        "sides": {side: _side(spec.side(side)) for side in ("source", "target")},
        "pairs": [
            pair
            for other in specs
            for pair in (_pairs(spec, other) + (_pairs(other, spec) if other is not spec else []))
        ],
    }


def _side(side: SideSpec | None) -> dict[str, Any] | None:
    if side is None:
        return None
    secrets = secret_fields(side.config)
    schema = side.config.model_json_schema()
    for name in secrets:
        schema.get("properties", {}).pop(name, None)
    if "required" in schema:
        schema["required"] = [name for name in schema["required"] if name not in secrets]
    return {
        "triggers": list(side.triggers),
        "capabilities": [{"name": c.name, "description": c.description} for c in side.provides],
        "schema": schema,
        "secrets": [
            {
                "field": name,
                "title": mark["title"],
                "keys": mark["keys"],
                "alternatives": mark["alternatives"],
                "required": mark["required"],
                "written_by": mark["written_by"],
            }
            for name, mark in secrets.items()
        ],
    }


def _pairs(source: PartnerSpec, target: PartnerSpec) -> list[dict[str, Any]]:
    """The flows `source` → `target` can run, with the scheduled runs each pairing needs."""
    runs = REGISTRY.runs_between(source.system, target.system)
    return [
        {"source": source.system, "target": target.system, "flow": flow.name, "runs": runs}
        for flow in REGISTRY.flows_between(source.system, target.system)
    ]
