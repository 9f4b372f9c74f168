"""Clearnox as a connector's `BUNDLE_TARGET`: what is missing, the metadata of a bundle, the upload."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..capabilities import BookingEntry, BundleReceipt
from .client import ClearnoxClient
from .config import ClearnoxTargetConfig
from .models import PARTNER, bundle_metadata


class ClearnoxTarget:
    system = PARTNER

    def __init__(self, config: ClearnoxTargetConfig, client: ClearnoxClient):
        self.client = client
        self.max_bundle_bytes = config.max_bundle_bytes
        self.max_bundle_files = config.max_bundle_files
        self.resend_grace_hours = config.resend_grace_hours

    def missing_document_entries(self) -> Iterator[BookingEntry]:
        return self.client.missing_document_entries()

    def bundle_metadata(self, bundle_id: str, connector_id: str, files: list[Any]) -> bytes:
        return bundle_metadata(bundle_id, connector_id, files).to_json_bytes()

    def upload_bundle(
        self, bundle_id: str, body: Any, *, size: int | None, sha256: str | None
    ) -> BundleReceipt:
        return self.client.upload_bundle(bundle_id, body, size=size, sha256=sha256)

    def close(self) -> None:
        self.client.close()
