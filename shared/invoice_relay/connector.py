"""A connector: the pairing of one source account with one target, its schedule and its credentials.

Stored in the state table (CONFIG item); credentials live in Secrets Manager and the connector holds only
the secrets' *names*. Each side's configuration is validated with the model of the partner system it
names (`partners.registry`), and the pairing is checked: a connector whose source cannot feed its target
is refused when it is registered, not when it first runs.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator, model_validator

from .errors import ConfigurationError
from .identifiers import ConnectorId
from .partners.registry import REGISTRY
from .partners.spec import PartnerConfig


class ConnectorStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


# EventBridge Scheduler's expressions: rate(value unit), cron(6 fields), at(yyyy-mm-ddThh:mm:ss).
_SCHEDULE = re.compile(
    r"^(rate\((1 (minute|hour|day)|[1-9][0-9]* (minutes|hours|days))\)"
    r"|cron\(\S+( \S+){5}\)"
    r"|at\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\))$"
)
# The scheduled runs a connector may need (`PartnerRegistry.scheduled_runs`) → its field with the schedule.
SCHEDULE_FIELDS = {
    "poll": "poll_schedule",
    "export": "export_schedule",
    "catalog": "catalog_schedule",
    "bundle": "bundle_schedule",
}
DEFAULT_FAILURE_LIMIT = 5


def check_schedule_expression(value: str) -> str:
    """An EventBridge Scheduler expression (`rate(15 minutes)`, `cron(0 18 * * ? *)`, `at(...)`)."""
    if not _SCHEDULE.match(value):
        raise ValueError(
            f"{value!r} is not a schedule: use rate(15 minutes), cron(0 18 * * ? *) (EventBridge's six "
            "fields: minutes hours day-of-month month day-of-week year) or at(2026-12-31T18:00:00)"
        )
    return value


class ConnectorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connector_id: ConnectorId
    name: str = Field(min_length=1, max_length=120)
    status: ConnectorStatus = ConnectorStatus.ACTIVE
    paused_reason: str | None = Field(default=None, description="why the connector is paused (who, or auto)")
    source: SerializeAsAny[PartnerConfig]
    target: SerializeAsAny[PartnerConfig]
    poll_schedule: str = "rate(15 minutes)"
    export_schedule: str = "cron(0 18 * * ? *)"
    catalog_schedule: str = "rate(1 hour)"
    bundle_schedule: str = "cron(30 6 * * ? *)"
    timezone: str = Field(default="UTC", description="IANA time zone of the cron schedules")
    failure_limit: int = Field(
        default=DEFAULT_FAILURE_LIMIT,
        ge=1,
        le=100,
        description="consecutive failed scheduled runs after which the connector pauses itself",
    )

    @field_validator("poll_schedule", "export_schedule", "catalog_schedule", "bundle_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return check_schedule_expression(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Europe/London)"
            ) from None
        return value

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

    def schedule_of(self, run: str) -> str:
        """The schedule expression of one scheduled run (`poll`, `export`, `catalog`, `bundle`)."""
        return str(getattr(self, SCHEDULE_FIELDS[run]))

    def to_item(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
