"""How a partner package declares itself: its configuration per side and the capabilities it provides.

A partner package (`partners/<system>/__init__.py`) defines one `PartnerSpec` named `SPEC` and nothing
heavy at import: factories import the client on first use. The registry (`registry.py`) names each
partner's package — one line per partner — and imports it the first time a connector names that system,
so a Lambda loads only the partners its connectors use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .capabilities import Capability

if TYPE_CHECKING:
    from .context import PartnerContext


class PartnerConfig(BaseModel):
    """Base of every partner's side configuration. `system` names the partner (the registry's key).

    Configuration holds names of secrets, never secrets: credentials live in Secrets Manager.
    """

    model_config = ConfigDict(extra="forbid")

    system: str


SECRET_MARK = "x-secret"  # noqa: S105 - not a password: a configuration field whose value is the *name* of a Secrets Manager secret


def secret_name(
    *keys: str,
    alternatives: tuple[tuple[str, ...], ...] = (),
    description: str,
    written_by: str | None = None,
    required: bool = True,
) -> Any:
    """A configuration field naming a secret in Secrets Manager, and what the secret holds.

    `keys`: the JSON keys a person supplies as credentials (`alternatives`: other accepted sets, e.g.
    username + password instead of a client id + secret). `written_by`: the secret is written by the
    product itself (e.g. "oauth" — the tokens the OAuth connect flow stores), so nobody types it in.
    The control plane names such secrets itself and accepts their content write-only.
    """
    mark = {"keys": list(keys), "alternatives": [list(a) for a in alternatives], "written_by": written_by}
    if required:
        return Field(min_length=1, description=description, json_schema_extra={SECRET_MARK: mark})
    return Field(default=None, description=description, json_schema_extra={SECRET_MARK: mark})


def secret_fields(config: type[PartnerConfig]) -> dict[str, dict[str, Any]]:
    """The fields of a configuration model that name secrets → what each secret holds."""
    found: dict[str, dict[str, Any]] = {}
    for name, info in config.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and SECRET_MARK in extra:
            found[name] = {**extra[SECRET_MARK], "required": info.is_required(), "title": info.description}
    return found


Factory = Callable[[Any, "PartnerContext"], Any]


@dataclass(frozen=True)
class SideSpec:
    """What a partner offers as one side of a connector: its configuration model, and for each capability
    it provides, the factory that opens an object with that capability (`factory(config, context)`)."""

    config: type[PartnerConfig]
    provides: Mapping[Capability[Any], Factory]
    triggers: tuple[Literal["scheduled", "webhook"], ...] = ("scheduled",)

    def capabilities(self) -> list[Capability[Any]]:
        return list(self.provides)


@dataclass(frozen=True)
class PartnerSpec:
    """One partner system: who it is and what it can be in a connector.

    `category` and `documents` describe it in the connector catalogue ("field service", ("invoice",
    "credit_note")); `connection` says how it is connected ("API key", "OAuth 2.0", ...); `docs` is where
    its API is documented.
    """

    system: str
    title: str
    category: str
    connection: str
    documents: tuple[str, ...] = ()
    source: SideSpec | None = None
    target: SideSpec | None = None
    docs: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def side(self, side: Literal["source", "target"]) -> SideSpec | None:
        return self.source if side == "source" else self.target
