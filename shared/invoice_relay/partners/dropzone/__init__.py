"""The document drop zone: invoice PDFs the customer syncs into the bucket (`documents/<connector>/`).

Not an API: the customer's sync tool (or an S3 replication, or an upload) puts the PDFs there; the
bundle flow lists the prefix once per run and matches each missing entry to a file by the configured
rule (`match`: by invoice number, by entry reference, or by a file-name pattern; see
`bundles/matching.py`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..capabilities import DOCUMENT_DROP_ZONE
from ..spec import PartnerConfig, PartnerSpec, SideSpec


class DocumentMatchConfig(BaseModel):
    """How a booking entry finds its PDF in the drop zone."""

    model_config = ConfigDict(extra="forbid")

    rule: Literal["by_invoice_number", "by_entry_reference", "by_pattern"] = "by_invoice_number"
    prefix: str = Field(default="", description="file-name prefix before the number, e.g. 'INV-'")
    pattern: str | None = Field(
        default=None, description="by_pattern: e.g. '{customer_number}_{invoice_number}.pdf'"
    )


class DropZoneSourceConfig(PartnerConfig):
    """Invoice PDFs the customer syncs into the bucket under `documents/<connector>/` (flow 4)."""

    system: Literal["dropzone"]
    prefix: str | None = Field(default=None, description="default: documents/<connector_id>/")
    match: DocumentMatchConfig = Field(default_factory=DocumentMatchConfig)


class DropZone:
    """The `DOCUMENT_DROP_ZONE` of a connector."""

    system = "dropzone"

    def __init__(self, config: DropZoneSourceConfig, connector_id: str):
        self.config = config
        self.connector_id = connector_id

    def prefix(self) -> str:
        return self.config.prefix or f"documents/{self.connector_id}/"

    def match_rule(self) -> dict[str, Any]:
        return self.config.match.model_dump()


def _open(config: DropZoneSourceConfig, context: Any) -> DropZone:
    return DropZone(config, context.connector_id)


SPEC = PartnerSpec(
    system="dropzone",
    title="Document drop zone (S3)",
    category="documents",
    connection="S3 prefix the customer syncs PDFs into",
    documents=("invoice_pdf",),
    source=SideSpec(config=DropZoneSourceConfig, provides={DOCUMENT_DROP_ZONE: _open}),
)
