"""Runs and their log events: the audit trail a bookkeeper reads ("where is invoice 1042?").

Each event is one item in the run's partition; events about a document are also indexed by that
document (GSI1), so one write serves both "what happened in run R" and "what happened to invoice X".
Every event is mirrored to the structured (CloudWatch) log with the same correlation keys, at once.

Events are written in batches (`BatchWriteItem`, 25 items a call): when `FLUSH_EVENTS` are waiting, when
the work reaches a checkpoint (`flush()`: a poll page, a stored import file) and with the run's final
status. A function that dies loses the table copy of the events since its last flush — never the
CloudWatch lines, and never a document's state (that lives in the document's own item).

A scheduled run is recorded as `running` when it starts, so that the next run of its kind can close it
if its function died (`RunHistory.close_abandoned`). A delivery run — one DeliverFunction batch of one
connector (`record_start=False`) — is written once, with its final status and each record's outcome: a
batch killed mid-way leaves no half-open run, and its retry records one; its start and end are log lines,
and its table events are only what went wrong or needs a reader (failures, held or waiting work, notes).
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.conditions import Key

from ..logs import logger
from . import keys
from .state import DocumentRecord, DocumentState
from .table import expires_at, iso, query_all, utc_now

FLUSH_EVENTS = 100  # events kept before a batch write (four BatchWriteItem calls)


@dataclass
class RunLog:
    """One run of one connector (poll, export, catalog, bundle, or one delivery)."""

    table: Any
    connector_id: str
    kind: str
    ttl_days: int = 90
    record_start: bool = True
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    started_at: str = field(default_factory=lambda: iso(utc_now()))
    _seq: itertools.count = field(default_factory=itertools.count, repr=False)
    _pending: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def start(self, **details: Any) -> RunLog:
        if self.record_start:
            self.table.put_item(Item=self._run_item("running", details))
        logger.append_keys(connector_id=self.connector_id, run_id=self.run_id, run_kind=self.kind)
        mark = self.event if self.record_start else self.line
        mark("info", f"{self.kind} run started", **details)
        return self

    def event(
        self,
        level: str,
        message: str,
        *,
        source_id: str | None = None,
        number: str | None = None,
        **details: Any,
    ) -> None:
        """Record one event; `source_id`/`number` tie it to a document."""
        now = iso(utc_now())
        item: dict[str, Any] = {
            "PK": keys.run_events_pk(self.run_id),
            "SK": keys.event_sk(now, next(self._seq)),
            "connector_id": self.connector_id,
            "run_id": self.run_id,
            "kind": self.kind,
            "level": level,
            "message": message,
            "at": now,
            "expires_at": expires_at(self.ttl_days),
        }
        if details:
            item["details"] = json.dumps(details, default=str, sort_keys=True)
        if source_id is not None:
            item.update(
                source_id=source_id,
                GSI1PK=keys.document_events_index_pk(self.connector_id, source_id),
                GSI1SK=now,
            )
        if number is not None:
            item["number"] = number
        self._pending.append(item)
        if len(self._pending) >= FLUSH_EVENTS:
            self.flush()
        self.line(level, message, source_id=source_id, number=number, **details)

    def line(
        self,
        level: str,
        message: str,
        *,
        source_id: str | None = None,
        number: str | None = None,
        **details: Any,
    ) -> None:
        """A structured (CloudWatch) log line about the run or one of its documents, not kept in the table:
        for the happy path of each document, whose state item already says where it went."""
        extra = {k: v for k, v in {"source_id": source_id, "document_number": number, **details}.items() if v}
        getattr(logger, "warning" if level == "warn" else level, logger.info)(message, extra=extra)

    def finish(
        self,
        status: str,
        summary: dict[str, Any],
        reason: str | None = None,
        *,
        kept: dict[str, Any] | None = None,
    ) -> None:
        """Close the run with its final status (`succeeded`, `partial`, `failed`, `skipped`) and, when it
        did not succeed, the reason. `kept`: details for the run item only, not for the log line (what
        the lines before it said already, such as a delivery run's outcome per record)."""
        level = "info" if status == "succeeded" else "warn" if status in ("partial", "skipped") else "error"
        message = f"{self.kind} run {status}" + (f": {reason}" if reason else "")
        # A delivery's run item is its whole record (status, reason, summary): its end is a log line only.
        (self.event if self.record_start else self.line)(level, message, **summary)
        extra: dict[str, Any] = {"finished_at": iso(utc_now())}
        if reason:
            extra["reason"] = reason
        self._pending.append(self._run_item(status, {**summary, **(kept or {})}, **extra))
        self.flush()

    def flush(self) -> None:
        """Write the events waiting (and a final run item) to the table, 25 to a call."""
        if not self._pending:
            return
        with self.table.batch_writer() as batch:
            for item in self._pending:
                batch.put_item(Item=item)
        self._pending.clear()

    def _run_item(self, status: str, details: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "PK": keys.connector_pk(self.connector_id),
            "SK": keys.run_sk(self.started_at, self.run_id),
            "GSI1PK": keys.run_index_pk(self.run_id),
            "GSI1SK": "RUN",
            "connector_id": self.connector_id,
            "run_id": self.run_id,
            "kind": self.kind,
            "status": status,
            "started_at": self.started_at,
            "details": json.dumps(details, default=str, sort_keys=True),
            "expires_at": expires_at(self.ttl_days),
            **extra,
        }


@dataclass(frozen=True)
class LogEvent:
    at: str
    level: str
    message: str
    run_id: str
    kind: str
    source_id: str | None
    number: str | None
    details: dict[str, Any]

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> LogEvent:
        return cls(
            at=item["at"],
            level=item["level"],
            message=item["message"],
            run_id=item["run_id"],
            kind=item["kind"],
            source_id=item.get("source_id"),
            number=item.get("number"),
            details=json.loads(item.get("details", "{}")),
        )


class RunHistory:
    """Read side of the run log."""

    def __init__(self, table: Any):
        self._table = table

    def recent_runs(self, connector_id: str, limit: int = 20) -> list[dict[str, Any]]:
        page = self._table.query(
            KeyConditionExpression=Key("PK").eq(keys.connector_pk(connector_id))
            & Key("SK").begins_with("RUN#"),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [{**i, "details": json.loads(i.get("details", "{}"))} for i in page.get("Items", [])]

    def close_abandoned(self, connector_id: str, kind: str, reason: str, *, look_back: int = 50) -> int:
        """Close the runs of `kind` still marked `running` (call it holding the kind's lease: then none of
        them is alive — its function stopped before closing it, a crash or a timeout). Returns how many."""
        page = self._table.query(
            KeyConditionExpression=Key("PK").eq(keys.connector_pk(connector_id))
            & Key("SK").begins_with("RUN#"),
            ScanIndexForward=False,
            Limit=look_back,
        )
        closed = 0
        for item in page.get("Items", []):
            if item.get("kind") != kind or item.get("status") != "running":
                continue
            self._table.update_item(
                Key={"PK": item["PK"], "SK": item["SK"]},
                UpdateExpression="SET #status = :failed, reason = :reason, finished_at = :now",
                ConditionExpression="#status = :running",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":failed": "failed",
                    ":running": "running",
                    ":reason": reason,
                    ":now": iso(utc_now()),
                },
            )
            closed += 1
        return closed

    def run_events(self, run_id: str) -> list[LogEvent]:
        items = query_all(self._table, KeyConditionExpression=Key("PK").eq(keys.run_events_pk(run_id)))
        return [LogEvent.from_item(i) for i in items]

    def document_trail(self, record: DocumentRecord | None) -> list[LogEvent]:
        """Where a document went, across runs: what its state item says (staged by which poll, in which
        import file, its state now) merged with the events logged about it (failures, warnings,
        recoveries), oldest first. The happy path of a document writes no event of its own: its item is
        the record of it."""
        if record is None:
            return []
        label = f"invoice {record.number or record.source_id}"
        trail = self.document_events(record.connector_id, record.source_id)

        def entry(at: str, message: str, run_id: str | None, kind: str, **details: Any) -> None:
            trail.append(
                LogEvent(at, "info", message, run_id or "", kind, record.source_id, record.number, details)
            )

        if record.staged_at and record.state is not DocumentState.QUEUED:
            entry(
                record.staged_at, f"{label} staged for export", record.run_id, "poll", raw_key=record.raw_key
            )
        if record.export_file and record.exported_at:
            entry(
                record.exported_at,
                f"{label} in import file {record.export_file}",
                record.export_run_id,
                "export",
                export_file=record.export_file,
            )
        if record.state is DocumentState.DONE and record.export_file:
            entry(record.updated_at, f"{label} written back as processed", record.export_run_id, "export")
        return sorted(trail, key=lambda e: e.at)

    def document_events(self, connector_id: str, source_id: str) -> list[LogEvent]:
        items = query_all(
            self._table,
            IndexName="GSI1",
            KeyConditionExpression=Key("GSI1PK").eq(keys.document_events_index_pk(connector_id, source_id)),
        )
        return [LogEvent.from_item(i) for i in items]
