"""The partner registry: which systems exist, what each can do, and which pairings can work.

Adding a partner is its package, its sandbox, its tests and one line in `PARTNERS` below: the system's
name and the module that defines its `SPEC`. A partner's module is imported the first time the registry
needs that system (a connector naming it is validated, a flow opens it), so a Lambda loads only the
partners of the connectors it runs: at a cold start, none. Everything else asks this registry:
`ConnectorConfig` validates each side's configuration with the model of the system it names, flows open
capabilities (`open`), the pairing check says whether a source can feed a target.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ..errors import ConfigurationError
from .capabilities import (
    BUNDLE_TARGET,
    CATALOG_SOURCE,
    CATALOG_TARGET,
    DOCUMENT_DROP_ZONE,
    DOCUMENT_TARGET,
    FILE_TARGET,
    POLLED_SOURCE,
    WEBHOOK_SOURCE,
    Capability,
)
from .spec import PartnerConfig

if TYPE_CHECKING:
    from ..connector import ConnectorConfig
    from .context import PartnerContext
    from .spec import PartnerSpec, SideSpec

# One line per partner system: its name → the module whose `SPEC` declares it (imported on first use).
PARTNERS: Mapping[str, str] = {
    "servicetrade": "invoice_relay.partners.servicetrade",
    "shop": "invoice_relay.partners.shop",
    "freshbooks": "invoice_relay.partners.freshbooks",
    "flatfile": "invoice_relay.partners.flatfile",
    "dropzone": "invoice_relay.partners.dropzone",
    "clearnox": "invoice_relay.partners.clearnox",
    "clearbooks": "invoice_relay.partners.clearbooks",
    "shipserv": "invoice_relay.partners.shipserv",
}

T = TypeVar("T")
SideName = Literal["source", "target"]
RunKind = Literal["poll", "export", "catalog", "bundle"]


@dataclass(frozen=True)
class Flow:
    """A way a source can feed a target: the capability each side needs, and the scheduled runs it uses
    (webhook flows run when deliveries arrive, so they need no schedule)."""

    name: str
    source: Capability[Any]
    target: Capability[Any]
    runs: tuple[RunKind, ...]


FLOWS: tuple[Flow, ...] = (
    Flow("poll, import file and write back", POLLED_SOURCE, FILE_TARGET, ("poll", "export")),
    Flow("poll, deliver and write back", POLLED_SOURCE, DOCUMENT_TARGET, ("poll",)),
    Flow("webhooks to accounting", WEBHOOK_SOURCE, DOCUMENT_TARGET, ()),
    Flow("document bundles", DOCUMENT_DROP_ZONE, BUNDLE_TARGET, ("bundle",)),
)
# Runs a pairing may add on top of its flow, when both sides can.
EXTRA_RUNS: tuple[tuple[RunKind, Capability[Any], Capability[Any]], ...] = (
    ("catalog", CATALOG_SOURCE, CATALOG_TARGET),
)
# What each scheduled run needs of the connector.
RUN_NEEDS: Mapping[RunKind, tuple[Capability[Any], ...]] = {
    "poll": (POLLED_SOURCE,),
    "export": (FILE_TARGET, POLLED_SOURCE),
    "catalog": (CATALOG_SOURCE, CATALOG_TARGET),
    "bundle": (DOCUMENT_DROP_ZONE, BUNDLE_TARGET),
}


class PartnerRegistry:
    """The partner systems by name: a spec, or the module that defines it until the system is first used."""

    def __init__(self, modules: Mapping[str, str] | None = None):
        self._partners: dict[str, PartnerSpec | str] = dict(modules or {})

    def register(self, spec: PartnerSpec) -> None:
        """Add (or replace) a partner by its spec. Tests add fake partners this way."""
        self._partners[spec.system] = spec

    def unregister(self, system: str) -> None:
        self._partners.pop(system, None)

    def systems(self) -> list[str]:
        """The registered system names (imports nothing)."""
        return list(self._partners)

    def __iter__(self) -> Iterator[PartnerSpec]:
        """Every partner's spec: imports every partner module not imported yet."""
        return (spec for system in self.systems() if (spec := self._load(system)) is not None)

    def spec(self, system: str) -> PartnerSpec:
        found = self._load(system)
        if found is None:
            raise ConfigurationError(f"unknown partner system '{system}'")
        return found

    def _load(self, system: object) -> PartnerSpec | None:
        """The spec of a registered system (importing its module the first time), None for any other name.
        Only the registered module paths are ever imported, whatever name a configuration holds."""
        entry = self._partners.get(system) if isinstance(system, str) else None
        if not isinstance(entry, str):
            return entry
        spec: PartnerSpec = importlib.import_module(entry).SPEC
        if spec.system != system:  # a wrong line in PARTNERS: a bug, not a connector's problem
            raise ImportError(f"{entry}.SPEC is the system '{spec.system}', registered as '{system}'")
        self._partners[system] = spec
        return spec

    def side_config_spec(self, side: SideName, system: object) -> SideSpec | None:
        """What `system` offers as this side (None: unknown system, or it cannot be this side)."""
        return self._side(system, side)

    def _side(self, system: object, side: SideName) -> SideSpec | None:
        spec = self._load(system)
        return spec.side(side) if spec is not None else None

    # -- configuration --------------------------------------------------------------------------------

    def side_config(self, side: SideName, value: Any) -> PartnerConfig:
        """Validate one side's configuration with the model of the system it names.

        ValueError (turned into a validation error of `ConnectorConfig.source`/`.target`) names the
        systems that can be this side when `system` is missing or unknown.
        """
        if isinstance(value, PartnerConfig):
            value = value.model_dump()
        if not isinstance(value, Mapping):
            raise ValueError(f"the {side} must be an object with a 'system'")
        system = value.get("system")
        side_spec = self._side(system, side)
        if side_spec is None:  # only now every partner is loaded: to name the systems that can be this side
            known = ", ".join(sorted(s.system for s in self if s.side(side) is not None)) or "none"
            raise ValueError(f"{side} system {system!r} is not one of: {known}")
        return side_spec.config.model_validate(dict(value))

    def check_pairing(self, config: ConnectorConfig) -> list[Flow]:
        """The flows this connector's source and target can run together. ConfigurationError when none:
        the pairing cannot work (e.g. a drop zone feeding an accounting API)."""
        flows = self.flows(config)
        if not flows:
            source, target = config.source.system, config.target.system
            raise ConfigurationError(
                f"connector '{config.connector_id}': {source} → {target} cannot work: {source} provides "
                f"{self._described('source', source)}, {target} provides {self._described('target', target)}"
                "; a connector needs one of: "
                + "; ".join(f"{f.source.description} → {f.target.description}" for f in FLOWS)
            )
        return flows

    def flows(self, config: ConnectorConfig) -> list[Flow]:
        return self.flows_between(config.source.system, config.target.system)

    def flows_between(self, source: str, target: str) -> list[Flow]:
        """The flows a `source` system can run into a `target` system (none when either is not that side)."""
        offered = {"source": self._offered(source, "source"), "target": self._offered(target, "target")}
        return [f for f in FLOWS if f.source in offered["source"] and f.target in offered["target"]]

    def scheduled_runs(self, config: ConnectorConfig) -> list[RunKind]:
        """The scheduled runs this connector needs (poll, export, catalog, bundle)."""
        return self.runs_between(config.source.system, config.target.system)

    def runs_between(self, source: str, target: str) -> list[RunKind]:
        """The scheduled runs a `source` → `target` connector needs: its flows', and the extra runs both
        sides can do (a capability of side "either" may come from either)."""
        runs: list[RunKind] = [run for flow in self.flows_between(source, target) for run in flow.runs]
        offered = self._offered(source, "source") | self._offered(target, "target")
        runs += [run for run, a, b in EXTRA_RUNS if a in offered and b in offered]
        return list(dict.fromkeys(runs))

    def _offered(self, system: str, side: SideName) -> set[Capability[Any]]:
        side_spec = self._side(system, side)
        return set(side_spec.provides) if side_spec else set()

    # -- capabilities ---------------------------------------------------------------------------------

    def provides(
        self, config: ConnectorConfig, capability: Capability[Any], side: SideName | None = None
    ) -> bool:
        return any(True for _ in self._factories(config, capability, side))

    def require(self, config: ConnectorConfig, *capabilities: Capability[Any]) -> None:
        """ConfigurationError naming the first capability the connector lacks."""
        for capability in capabilities:
            if not self.provides(config, capability):
                raise self._missing(config, capability)

    def open(self, config: ConnectorConfig, capability: Capability[T], context: PartnerContext) -> T:
        """An object with `capability` for this connector, from the side that provides it (the source
        first when both can). ConfigurationError names the connector, the systems and the capability."""
        for _, opened in self._opened(config, capability, context):
            return opened
        raise self._missing(config, capability)

    def open_all(
        self, config: ConnectorConfig, capability: Capability[T], context: PartnerContext
    ) -> list[tuple[SideName, T]]:
        """Every side's object with `capability` (webhooks may come from both sides)."""
        return list(self._opened(config, capability, context))

    def open_side(
        self, config: ConnectorConfig, side: SideName, capability: Capability[T], context: PartnerContext
    ) -> T:
        for _, opened in self._opened(config, capability, context, side):
            return opened
        raise self._missing(config, capability)

    def _opened(
        self,
        config: ConnectorConfig,
        capability: Capability[T],
        context: PartnerContext,
        only: SideName | None = None,
    ) -> Iterator[tuple[SideName, T]]:
        # A factory answers None when the side's configuration does not enable the capability (e.g.
        # FreshBooks callbacks without a verifier secret).
        for side, factory in self._factories(config, capability, only):
            opened = factory(getattr(config, side), context)
            if opened is not None:
                yield side, opened

    def _factories(
        self, config: ConnectorConfig, capability: Capability[Any], only: SideName | None = None
    ) -> Iterator[tuple[SideName, Any]]:
        sides: tuple[SideName, ...] = (
            ("source", "target") if capability.side == "either" else (capability.side,)
        )
        for side in sides:
            if only is not None and side != only:
                continue
            side_spec = self._side(getattr(config, side).system, side)
            factory = side_spec.provides.get(capability) if side_spec else None
            if factory is not None:
                yield side, factory

    def _described(self, side: SideName, system: str) -> str:
        side_spec = self._side(system, side)
        names = [c.description for c in side_spec.provides] if side_spec else []
        return ", ".join(names) or "nothing"

    def _missing(self, config: ConnectorConfig, capability: Capability[Any]) -> ConfigurationError:
        sides = ("source", "target") if capability.side == "either" else (capability.side,)
        systems = " or ".join(f"its {side} {getattr(config, side).system}" for side in sides)
        return ConfigurationError(
            f"connector '{config.connector_id}' cannot do this: {systems} does not provide "
            f"{capability.description} ({capability.name})"
        )


REGISTRY = PartnerRegistry(PARTNERS)
