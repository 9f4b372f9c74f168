"""A connector: the pairing of one source account with one target, its schedule and its credentials.

Stored in the state table (CONFIG item); credentials live in Secrets Manager and the connector holds only
the secret's *name*.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ConnectorStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system: Literal["servicetrade"]
    base_url: str = Field(default="https://api.servicetrade.com", pattern=r"^https?://")
    credentials_secret: str = Field(min_length=1, description="Secrets Manager name, never the secret")
    page_size: int = Field(default=100, ge=1, le=500)


class FlatFileTargetConfig(BaseModel):
    """Import files for an accounting system without an API (flow 2)."""

    model_config = ConfigDict(extra="forbid")

    system: Literal["flatfile"] = "flatfile"
    template: str = Field(default="generic_csv", description="packaged template name or a file path")
    field_maps: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="per-column value maps overriding the template's, e.g. GL accounts"
    )
    max_documents_per_file: int = Field(default=5000, ge=1)


class ConnectorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connector_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str = Field(min_length=1)
    status: ConnectorStatus = ConnectorStatus.ACTIVE
    source: SourceConfig
    target: FlatFileTargetConfig
    poll_schedule: str = "rate(15 minutes)"
    export_schedule: str = "cron(0 18 * * ? *)"

    @property
    def active(self) -> bool:
        return self.status is ConnectorStatus.ACTIVE

    def to_item(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
