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

from pydantic import BaseModel, ConfigDict

from .capabilities import Capability

if TYPE_CHECKING:
    from .context import PartnerContext


class PartnerConfig(BaseModel):
    """Base of every partner's side configuration. `system` names the partner (the registry's key).

    Configuration holds names of secrets, never secrets: credentials live in Secrets Manager.
    """

    model_config = ConfigDict(extra="forbid")

    system: str


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
