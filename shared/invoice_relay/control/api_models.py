"""Request and response models of the management API (they make its OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..identifiers import CONNECTOR_ID_PATTERN

RunKindName = Literal["poll", "export", "catalog", "bundle"]


class ConnectorChange(BaseModel):
    """A connector's configuration as a person gives it (update: everything but the id)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120, description="friendly name")
    source: dict[str, Any] = Field(description="the source side: {'system': ..., and its partner's fields}")
    target: dict[str, Any] = Field(description="the target side: {'system': ..., and its partner's fields}")
    schedules: dict[RunKindName, str] | None = Field(
        default=None, description="per scheduled run: rate(...), cron(...) or at(...); defaults otherwise"
    )
    timezone: str | None = Field(default=None, description="IANA time zone of cron schedules (default UTC)")
    failure_limit: int | None = Field(default=None, ge=1, le=100, description="auto-pause after this many")
    credentials: dict[Literal["source", "target"], dict[str, dict[str, str]]] | None = Field(
        default=None,
        description="write-only: per side, per secret field, the secret's content (never returned)",
        json_schema_extra={"writeOnly": True},
    )


class ConnectorCreate(ConnectorChange):
    connector_id: str = Field(pattern=CONNECTOR_ID_PATTERN, description="e.g. 'acme-servicetrade'")


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: RunKindName | None = Field(default=None, description="default: the connector's first scheduled run")


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[str] | None = Field(default=None, max_length=500, description="default: every dead letter")


class Message(BaseModel):
    message: str


class FieldError(BaseModel):
    field: str
    reason: str


class BadRequest(BaseModel):
    message: str
    errors: list[FieldError]


class Me(BaseModel):
    username: str
    groups: list[str]
    role: Literal["admin", "viewer"]


class Run(BaseModel):
    run_id: str
    connector_id: str
    kind: str
    status: str
    started_at: str | None = None
    finished_at: str | None = None
    counts: dict[str, Any] = Field(default_factory=dict)
    reason: str | None = None
    export_file: str | None = None


class Schedule(BaseModel):
    run: str
    name: str
    expression: str
    timezone: str
    state: str


class CredentialState(BaseModel):
    side: str
    field: str
    stored: bool
    written_by: str | None = None


class Health(BaseModel):
    last_run: dict[str, Any] | None = None
    last_success_at: str | None = None
    failing_streak: int = 0
    documents_waiting: int = 0
    held: int = 0
    waiting_for_records: int = 0
    dead_letters: int = 0


class Connector(BaseModel):
    connector_id: str
    name: str
    status: Literal["active", "paused"]
    paused_reason: str | None = None
    source: dict[str, Any]
    target: dict[str, Any]
    schedules: list[Schedule]
    timezone: str
    failure_limit: int
    flows: list[str]
    credentials: list[CredentialState]
    health: Health
    created_at: str | None = None
    updated_at: str | None = None


class Connectors(BaseModel):
    connectors: list[Connector]


class Kinds(BaseModel):
    kinds: list[dict[str, Any]]


class RunRequested(BaseModel):
    connector_id: str
    kind: str
    function: str
    requested_at: str


class Runs(BaseModel):
    runs: list[Run]
    next: str | None = None


class Event(BaseModel):
    at: str
    level: str
    message: str
    source_id: str | None = None
    number: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = None
    kind: str | None = None


class RunLog(BaseModel):
    run: Run
    events: list[Event]


class Document(BaseModel):
    connector_id: str
    source_id: str
    number: str | None = None
    state: str | None = None
    version: str | None = None
    updated_at: str | None = None
    reason: str | None = None
    export_file: str | None = None


class Timeline(BaseModel):
    document: Document
    events: list[Event]


class Documents(BaseModel):
    documents: list[Document]


class DeadLetter(BaseModel):
    id: str
    reason: str
    at: str
    attempts: int
    work_key: str
    summary: str


class DeadLetters(BaseModel):
    items: list[DeadLetter]


class Replayed(BaseModel):
    replayed: int


class ImportFile(BaseModel):
    key: str
    name: str
    run_id: str | None = None
    created_at: str
    size: int
    download_url: str
    expires_in: int


class ImportFiles(BaseModel):
    files: list[ImportFile]
