"""The configuration of a shop source (the API key and webhook secrets live in Secrets Manager)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..spec import PartnerConfig, secret_name


class ShopSourceConfig(PartnerConfig):
    """An eCommerce shop that sends webhooks (flow 3). Its signing follows Standard Webhooks."""

    system: Literal["shop"]
    base_url: str = Field(pattern=r"^https?://", description="the shop's REST API")
    credentials_secret: str = secret_name("api_key", description='Secrets Manager name of {"api_key": ...}')
    webhook_secret: str = secret_name(
        "secrets",
        description='Secrets Manager name of {"secrets": ["whsec_...", ...]} (several during rotation)',
    )
