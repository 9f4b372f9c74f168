"""A connector: the pairing of one source account with one target, its schedule and its credentials.

Stored in the state table (CONFIG item); credentials live in Secrets Manager and the connector holds only
the secrets' *names*. Each side's configuration is validated with the model of the partner system it
names (`partners.registry`), and the pairing is checked: a connector whose source cannot feed its target
is refused when it is registered, not when it first runs.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator, model_validator

from .errors import ConfigurationError
from .identifiers import ConnectorId
from .partners.registry import REGISTRY
from .partners.spec import PartnerConfig


class ConnectorStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class ConnectorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connector_id: ConnectorId
    name: str = Field(min_length=1)
    status: ConnectorStatus = ConnectorStatus.ACTIVE
    source: SerializeAsAny[PartnerConfig]
    target: SerializeAsAny[PartnerConfig]
    poll_schedule: str = "rate(15 minutes)"
    export_schedule: str = "cron(0 18 * * ? *)"

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, value: Any) -> PartnerConfig:
        return REGISTRY.side_config("source", value)

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, value: Any) -> PartnerConfig:
        return REGISTRY.side_config("target", value)

    @model_validator(mode="after")
    def _pairing(self) -> ConnectorConfig:
        try:
            REGISTRY.check_pairing(self)
        except ConfigurationError as exc:
            raise ValueError(exc.reason) from None
        return self

    @property
    def active(self) -> bool:
        return self.status is ConnectorStatus.ACTIVE

    def to_item(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
