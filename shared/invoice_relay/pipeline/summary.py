"""What a run returns (to the handler's caller and the demo) and records as its final log event."""

# No `from __future__ import annotations`: pydantic would evaluate the fields' annotation strings (see
# models/document.py).

from typing import Literal

from pydantic import BaseModel, Field

RunKind = Literal["poll", "export", "catalog", "bundle", "deliver"]
RunStatus = Literal["succeeded", "partial", "failed", "skipped"]
# Why a run failed: the connector cannot work (someone must fix it), a partner or AWS was unavailable
# (retried), or a bug (an exception nobody expected).
ErrorKind = Literal["connector", "transient", "internal"]


class DocumentFailure(BaseModel):
    source_id: str
    number: str | None = None
    reason: str


class RunSummary(BaseModel):
    connector_id: str
    kind: RunKind
    run_id: str | None = None
    status: RunStatus
    message: str = ""
    reason: str | None = None
    error_kind: ErrorKind | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    export_file: str | None = None
    download_link: str | None = None
    failures: list[DocumentFailure] = Field(default_factory=list)
