"""Which adapter serves which system: adding a partner adds one line here."""

from __future__ import annotations

from typing import Any

from ..connector import ConnectorConfig, ServiceTradeSourceConfig, ShopSourceConfig
from ..errors import ConfigurationError
from ..storage.state import Leases


def open_source(config: ServiceTradeSourceConfig | ShopSourceConfig, credentials: dict[str, Any]) -> Any:
    """A ready-to-use adapter for the connector's source system."""
    if config.system == "servicetrade":
        from .servicetrade import ServiceTradeSource

        return ServiceTradeSource.from_config(config, credentials)
    if config.system == "shop":
        from .shop import ShopAdapter

        return ShopAdapter.from_config(config, credentials)
    raise ConfigurationError(f"no source adapter for system '{config.system}'")


def open_target(config: ConnectorConfig, leases: Leases) -> Any:
    """A ready-to-use adapter for the connector's API target (flat files are rendered, not opened)."""
    if config.target.system == "freshbooks":
        from .freshbooks import FreshBooksTarget

        return FreshBooksTarget.from_config(config.connector_id, config.target, leases)
    raise ConfigurationError(f"no API target adapter for system '{config.target.system}'")
