"""Which adapter serves which system: adding a partner adds one line here."""

from __future__ import annotations

from typing import Any

from ..connector import SourceConfig
from ..errors import ConfigurationError
from .base import Source


def open_source(config: SourceConfig, credentials: dict[str, Any]) -> Source:
    """A ready-to-use source adapter for the connector's source system."""
    if config.system == "servicetrade":
        from .servicetrade import ServiceTradeSource

        return ServiceTradeSource.from_config(config, credentials)
    raise ConfigurationError(f"no source adapter for system '{config.system}'")
