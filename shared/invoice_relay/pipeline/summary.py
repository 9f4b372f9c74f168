"""What a run returns (to the handler's caller and the demo) and records as its final log event."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class DocumentFailure(BaseModel):
    source_id: str
    number: str | None = None
    reason: str


class RunSummary(BaseModel):
    connector_id: str
    kind: Literal["poll", "export", "catalog", "bundle"]
    run_id: str | None = None
    status: Literal["succeeded", "partial", "failed", "skipped"]
    message: str = ""
    counts: dict[str, int] = Field(default_factory=dict)
    export_file: str | None = None
    download_link: str | None = None
    failures: list[DocumentFailure] = Field(default_factory=list)
