"""The configuration of a FreshBooks target (app credentials, tokens, verifiers: in Secrets Manager)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from ..spec import PartnerConfig, secret_name


class FreshBooksTargetConfig(PartnerConfig):
    """FreshBooks accounting (flow 3): clients, invoices, items and payments over OAuth 2.0."""

    system: Literal["freshbooks"]
    api_url: str = Field(default="https://api.freshbooks.com", pattern=r"^https?://")
    auth_url: str = Field(default="https://auth.freshbooks.com", pattern=r"^https?://")
    account_id: str = Field(min_length=1, description="FreshBooks accounting account id")
    oauth_app_secret: str = secret_name(
        "client_id",
        "client_secret",
        "redirect_uri",
        description='Secrets Manager name of {"client_id", "client_secret", "redirect_uri"}',
    )
    token_secret: str = secret_name(
        written_by="oauth", description="Secrets Manager name where the OAuth tokens live"
    )
    callback_verifier_secret: str | None = secret_name(
        written_by="freshbooks callbacks",
        required=False,
        description="Secrets Manager name of the FreshBooks callback verifiers (webhooks back)",
    )
    due_offset_days: int = Field(default=30, ge=0, le=365, description="payment terms: days until due")
    create_unknown_items: bool = Field(
        default=False, description="create a FreshBooks item for an unknown SKU instead of failing the order"
    )
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    rounding_adjustment_limit: Decimal = Field(
        default=Decimal("0.05"),
        ge=0,
        le=1,
        description="FreshBooks computes tax on the invoice, sources often per line: a difference to the "
        "source's total up to this much is evened out with a 'Rounding adjustment' line (0: never)",
    )
