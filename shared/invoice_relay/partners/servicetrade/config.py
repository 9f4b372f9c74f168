"""The configuration of a ServiceTrade source (the credentials live in Secrets Manager)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..spec import PartnerConfig, secret_name

DEFAULT_BASE_URL = "https://api.servicetrade.com"
MAX_PAGE_SIZE = 2000


class ServiceTradeSourceConfig(PartnerConfig):
    """Field-service invoices, polled (flow 1)."""

    system: Literal["servicetrade"]
    base_url: str = Field(default=DEFAULT_BASE_URL, pattern=r"^https?://")
    credentials_secret: str = secret_name(
        "client_id",
        "client_secret",
        alternatives=(("username", "password"),),
        description='Secrets Manager name of {"client_id", "client_secret"} or {"username", "password"}',
    )
    page_size: int = Field(default=100, ge=1, le=MAX_PAGE_SIZE)
    write_back_concurrency: int = Field(
        default=4,
        ge=1,
        le=16,
        description="write-backs sent at once (ServiceTrade publishes no rate limit; a 429 is waited out)",
    )
