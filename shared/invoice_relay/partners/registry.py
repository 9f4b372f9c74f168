"""The partner registry: which systems exist, what each can do, and which pairings can work.

Adding a partner is its package, its sandbox, its tests and one line in `PARTNERS` below. Everything else
asks this registry: `ConnectorConfig` validates each side's configuration with the model of the system it
names, flows open capabilities (`open`), the pairing check says whether a source can feed a target.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ..errors import ConfigurationError
from . import clearnox, dropzone, flatfile, freshbooks, servicetrade, shop
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
from .spec import PartnerConfig, PartnerSpec

if TYPE_CHECKING:
    from ..connector import ConnectorConfig
    from .context import PartnerContext

# One line per partner system.
PARTNERS: tuple[PartnerSpec, ...] = (
    servicetrade.SPEC,
    shop.SPEC,
    freshbooks.SPEC,
    flatfile.SPEC,
    dropzone.SPEC,
    clearnox.SPEC,
)

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
    """The registered partner specs, by system name."""

    def __init__(self, specs: Iterable[PartnerSpec] = ()):
        self._specs: dict[str, PartnerSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: PartnerSpec) -> None:
        """Add (or replace) a partner. Tests add fake partners this way."""
        self._specs[spec.system] = spec

    def unregister(self, system: str) -> None:
        self._specs.pop(system, None)

    def __iter__(self) -> Iterator[PartnerSpec]:
        return iter(self._specs.values())

    def spec(self, system: str) -> PartnerSpec:
        try:
            return self._specs[system]
        except KeyError:
            raise ConfigurationError(f"unknown partner system '{system}'") from None

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
        candidates = {s.system: s.side(side) for s in self if s.side(side) is not None}
        if system not in candidates:
            known = ", ".join(sorted(candidates)) or "none"
            raise ValueError(f"{side} system {system!r} is not one of: {known}")
        side_spec = candidates[system]
        assert side_spec is not None
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
        return [
            f
            for f in FLOWS
            if self.provides(config, f.source, "source") and self.provides(config, f.target, "target")
        ]

    def scheduled_runs(self, config: ConnectorConfig) -> list[RunKind]:
        """The scheduled runs this connector needs (poll, export, catalog, bundle)."""
        runs: list[RunKind] = [run for flow in self.flows(config) for run in flow.runs]
        runs += [
            run
            for run, source, target in EXTRA_RUNS
            if self.provides(config, source) and self.provides(config, target)
        ]
        return list(dict.fromkeys(runs))

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
            system = getattr(config, side).system
            side_spec = self._specs[system].side(side) if system in self._specs else None
            factory = side_spec.provides.get(capability) if side_spec else None
            if factory is not None:
                yield side, factory

    def _described(self, side: SideName, system: str) -> str:
        side_spec = self._specs[system].side(side) if system in self._specs else None
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
