"""A connector: the pairing of one source account with one target, its schedule and its credentials.

Stored in the state table (CONFIG item); credentials live in Secrets Manager and the connector holds only
the secret's *name*.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ConnectorStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class ServiceTradeSourceConfig(BaseModel):
    """Field-service invoices, polled (flow 1)."""

    model_config = ConfigDict(extra="forbid")

    system: Literal["servicetrade"]
    base_url: str = Field(default="https://api.servicetrade.com", pattern=r"^https?://")
    credentials_secret: str = Field(min_length=1, description="Secrets Manager name, never the secret")
    page_size: int = Field(default=100, ge=1, le=500)


class ShopSourceConfig(BaseModel):
    """An eCommerce shop that sends webhooks (flow 3). Its signing follows Standard Webhooks."""

    model_config = ConfigDict(extra="forbid")

    system: Literal["shop"]
    base_url: str = Field(pattern=r"^https?://", description="the shop's REST API")
    credentials_secret: str = Field(min_length=1, description='Secrets Manager name of {"api_key": ...}')
    webhook_secret: str = Field(
        min_length=1,
        description='Secrets Manager name of {"secrets": ["whsec_...", ...]} (several during rotation)',
    )


class DropZoneSourceConfig(BaseModel):
    """Invoice PDFs the customer syncs into the bucket under `documents/<connector>/` (flow 4)."""

    model_config = ConfigDict(extra="forbid")

    system: Literal["dropzone"]
    prefix: str | None = Field(default=None, description="default: documents/<connector_id>/")


SourceConfig = Annotated[
    ServiceTradeSourceConfig | ShopSourceConfig | DropZoneSourceConfig, Field(discriminator="system")
]


class FlatFileTargetConfig(BaseModel):
    """Import files for an accounting system without an API (flow 2)."""

    model_config = ConfigDict(extra="forbid")

    system: Literal["flatfile"] = "flatfile"
    template: str = Field(default="generic_csv", description="packaged template name or a file path")
    field_maps: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="per-column value maps overriding the template's, e.g. GL accounts"
    )
    max_documents_per_file: int = Field(default=5000, ge=1)


class FreshBooksTargetConfig(BaseModel):
    """FreshBooks accounting (flow 3): clients, invoices, items and payments over OAuth 2.0."""

    model_config = ConfigDict(extra="forbid")

    system: Literal["freshbooks"]
    api_url: str = Field(default="https://api.freshbooks.com", pattern=r"^https?://")
    auth_url: str = Field(default="https://auth.freshbooks.com", pattern=r"^https?://")
    account_id: str = Field(min_length=1, description="FreshBooks accounting account id")
    oauth_app_secret: str = Field(
        min_length=1, description='Secrets Manager name of {"client_id", "client_secret", "redirect_uri"}'
    )
    token_secret: str = Field(min_length=1, description="Secrets Manager name where the OAuth tokens live")
    callback_verifier_secret: str | None = Field(
        default=None, description="Secrets Manager name of the FreshBooks callback verifier (webhooks back)"
    )
    due_offset_days: int = Field(default=30, ge=0, le=365, description="payment terms: days until due")
    create_unknown_items: bool = Field(
        default=False, description="create a FreshBooks item for an unknown SKU instead of failing the order"
    )
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


class DocumentMatchConfig(BaseModel):
    """How a booking entry finds its PDF in the drop zone."""

    model_config = ConfigDict(extra="forbid")

    rule: Literal["by_invoice_number", "by_entry_reference", "by_pattern"] = "by_invoice_number"
    prefix: str = Field(default="", description="file-name prefix before the number, e.g. 'INV-'")
    pattern: str | None = Field(
        default=None, description="by_pattern: e.g. '{customer_number}_{invoice_number}.pdf'"
    )


class ClearnoxTargetConfig(BaseModel):
    """Clearnox credit management: bundles of invoice PDFs for booking entries lacking a document."""

    model_config = ConfigDict(extra="forbid")

    system: Literal["clearnox"]
    base_url: str = Field(pattern=r"^https?://")
    credentials_secret: str = Field(
        min_length=1, description='Secrets Manager name of {"client_id", "client_secret"}'
    )
    match: DocumentMatchConfig = Field(default_factory=DocumentMatchConfig)
    max_bundle_bytes: int = Field(default=512 * 1024 * 1024, ge=1024 * 1024)
    max_bundle_files: int = Field(default=1000, ge=1)
    resend_grace_hours: float = Field(
        default=24, ge=0, description="send an entry again only if still missing this long after it was sent"
    )


TargetConfig = Annotated[
    FlatFileTargetConfig | FreshBooksTargetConfig | ClearnoxTargetConfig, Field(discriminator="system")
]


class ConnectorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connector_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str = Field(min_length=1)
    status: ConnectorStatus = ConnectorStatus.ACTIVE
    source: SourceConfig
    target: TargetConfig
    poll_schedule: str = "rate(15 minutes)"
    export_schedule: str = "cron(0 18 * * ? *)"

    @property
    def active(self) -> bool:
        return self.status is ConnectorStatus.ACTIVE

    def to_item(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
