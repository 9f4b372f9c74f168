"""What a partner adapter may use of the platform: the connector's id, its secrets, leases and the bucket."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..secrets import partner_credentials
from ..storage.objects import DocumentBucket
from ..storage.state import Leases


@dataclass(frozen=True)
class PartnerContext:
    """Handed to every capability factory (see `spec.SideSpec`).

    `credentials(name)` reads a JSON secret (cached `secret_cache_seconds`); `leases` serialise work
    across workers (OAuth refreshes); `bucket` is the document bucket (drop zones); `secrets_client`
    is the Secrets Manager client for secrets that are written too (OAuth tokens; None: the default).
    """

    connector_id: str
    leases: Leases
    bucket: DocumentBucket
    secret_cache_seconds: int = 300
    secrets_client: Any = None

    def credentials(self, secret_name: str, *, fresh: bool = False) -> dict[str, Any]:
        return partner_credentials(secret_name, self.secret_cache_seconds, fresh=fresh)
