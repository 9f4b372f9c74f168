"""The configuration of a ClearBooks connector side (app credentials and tokens: in Secrets Manager)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from ..spec import PartnerConfig, secret_name

DEFAULT_API_URL = "https://api.clearbooks.co.uk"
DEFAULT_AUTH_URL = "https://secure.clearbooks.co.uk"
MAX_PAGE_SIZE = 200  # "capped at 200" (see the package docstring)
DOCUMENTED_REQUESTS_PER_SECOND = 5.0

SupplierMatch = Literal["external_id", "name"]


class ClearBooksConfig(PartnerConfig):
    """What both sides share: where the API is, which business, and the OAuth app and tokens."""

    system: Literal["clearbooks"]
    api_url: str = Field(
        default=DEFAULT_API_URL,
        pattern=r"^https?://",
        description="ClearBooks API base URL (the token endpoint is {api_url}/oauth/token)",
    )
    auth_url: str = Field(
        default=DEFAULT_AUTH_URL,
        pattern=r"^https?://",
        description="where ClearBooks' consent page lives ({auth_url}/account/action/oauth/)",
    )
    business_id: int | None = Field(
        default=None,
        gt=0,
        description="ClearBooks business (the accounting account) to work in, sent as X-Business-ID; "
        "needed only when the connected user has several businesses",
    )
    oauth_app_secret: str = secret_name(
        "client_id",
        "client_secret",
        "redirect_uri",
        description='Secrets Manager name of the ClearBooks app {"client_id", "client_secret", '
        '"redirect_uri"}',
    )
    token_secret: str = secret_name(
        written_by="oauth", description="Secrets Manager name where the ClearBooks OAuth tokens live"
    )
    page_size: int = Field(
        default=100, ge=1, le=MAX_PAGE_SIZE, description=f"records per listing page (1..{MAX_PAGE_SIZE})"
    )
    requests_per_second: float = Field(
        default=DOCUMENTED_REQUESTS_PER_SECOND,
        gt=0,
        le=100,
        description="calls per second this connector's workers send at most, each (ClearBooks may "
        "throttle more than 5 a second with HTTP 429, which is waited out)",
    )


class ClearBooksSourceConfig(ClearBooksConfig):
    """Upload (flow 5): a supplier's approved sales invoices and credit notes, listed as they change."""

    changed_since: dt.date | None = Field(
        default=None,
        description="first run: list documents changed on or after this day (empty: every document)",
    )
    lookback_seconds: int = Field(
        default=300,
        ge=0,
        le=86_400,
        description="each run starts this many seconds before where the last one ended (clock skew); "
        "documents listed again are recognised and skipped",
    )
    buyer_tnid_from: Literal["custom_field", "external_id", "table"] = Field(
        default="custom_field",
        description="where a customer's trade-network TNID is kept: a ClearBooks custom field, the "
        "customer's external id, or the table below",
    )
    tnid_custom_field: str = Field(
        default="TNID", min_length=1, description="the customer custom field holding the TNID"
    )
    tnid_table: dict[str, int] = Field(
        default_factory=dict, description="ClearBooks customer id → buyer TNID (buyer_tnid_from = table)"
    )
    write_back_concurrency: int = Field(
        default=1,
        ge=1,
        le=5,
        description="write-backs at once (ClearBooks keeps no status for them: nothing is sent)",
    )


class ClearBooksTargetConfig(ClearBooksConfig):
    """Download (flow 5): documents a buyer received become ClearBooks purchase bills and credit notes."""

    supplier_match: list[SupplierMatch] = Field(
        default_factory=lambda: ["external_id", "name"],
        description="how the supplier is found, in this order: external_id (its TNID in the supplier's "
        "external id), name (exactly the seller's name)",
    )
    create_suppliers: bool = Field(
        default=True, description="create a supplier (external id = its TNID) when none is found"
    )
    account_codes: dict[str, int] = Field(
        default_factory=dict,
        description="a line's SKU, item code or account code (tried in this order) → ClearBooks "
        "purchase account code",
    )
    default_account_code: int | None = Field(
        default=None,
        gt=0,
        description="account code of lines the map does not name (unmapped_lines = default)",
    )
    unmapped_lines: Literal["default", "fail"] = Field(
        default="default",
        description="a line the map does not name: use default_account_code, or fail the document",
    )
    vat_treatment: str = Field(
        default="UK",
        min_length=1,
        description="ClearBooks purchases VAT treatment of the documents (UK, OUT, GI, GIPVA, SIRC)",
    )
    vat_rate_keys: dict[str, str] = Field(
        default_factory=dict,
        description="a line's VAT percent → ClearBooks vatRateKey, where the rate alone is ambiguous (e.g. "
        '{"0": "exempt"}); other rates are matched by their percent',
    )
    default_due_days: int = Field(
        default=30, ge=0, le=365, description="days from the date to the due date when a bill names none"
    )
