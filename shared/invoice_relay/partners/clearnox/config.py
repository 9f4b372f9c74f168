"""The configuration of a Clearnox target (its API client credentials live in Secrets Manager)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..spec import PartnerConfig, secret_name


class ClearnoxTargetConfig(PartnerConfig):
    """Clearnox credit management: bundles of invoice PDFs for booking entries lacking a document."""

    system: Literal["clearnox"]
    base_url: str = Field(pattern=r"^https?://")
    credentials_secret: str = secret_name(
        "client_id", "client_secret", description='Secrets Manager name of {"client_id", "client_secret"}'
    )
    max_bundle_bytes: int = Field(default=512 * 1024 * 1024, ge=1024 * 1024)
    max_bundle_files: int = Field(default=1000, ge=1)
    resend_grace_hours: float = Field(
        default=24, ge=0, description="send an entry again only if still missing this long after it was sent"
    )
