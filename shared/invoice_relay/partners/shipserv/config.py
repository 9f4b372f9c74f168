"""The configuration of a ShipServ connector side (the credentials live in Secrets Manager)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..spec import PartnerConfig, secret_name

DEFAULT_API_URL = "https://api.shipserv.com"
MAX_PAGE_SIZE = 100  # the listing's `pageSize` bound (see the package docstring)


class ShipServConfig(PartnerConfig):
    """What both sides share: where the API is, which TNID the connector acts for, and as whom."""

    system: Literal["shipserv"]
    api_url: str = Field(
        default=DEFAULT_API_URL,
        pattern=r"^https?://",
        description="ShipServ API base URL (https://api.shipserv.com; the test network is https://test.shipserv.com)",
    )
    tnid: int = Field(
        gt=0,
        description="TradeNet ID (TNID) of the company this connector acts for; the integration user must "
        "act for this TNID",
    )
    credentials_secret: str = secret_name(
        "client_id",
        "client_secret",
        "username",
        "password",
        description='Secrets Manager name of {"client_id", "client_secret", "username", "password"}: the '
        "tenant authorization (client id + secret) and the integration user (e-mail + password) the "
        "connector signs in as",
    )
    page_size: int = Field(
        default=50,
        ge=1,
        le=MAX_PAGE_SIZE,
        description=f"documents per listing page (1..{MAX_PAGE_SIZE})",
    )


class ShipServSourceConfig(ShipServConfig):
    """Download: the invoices and credit notes a buyer received on the trade network (flow 5)."""

    tnid: int = Field(
        gt=0,
        description="TradeNet ID (TNID) of the buyer this connector acts for: its received invoices and "
        "credit notes are downloaded",
    )


class ShipServTargetConfig(ShipServConfig):
    """Upload: a supplier's invoices and credit notes, sent to its buyers on the trade network (flow 5)."""

    tnid: int = Field(
        gt=0,
        description="TradeNet ID (TNID) of the supplier this connector acts for: its invoices and credit "
        "notes are sent to buyers under this TNID",
    )
