"""Runs and their log events: the audit trail a bookkeeper reads ("where is invoice 1042?").

Each event is one item in the run's partition; events about a document are also indexed by that
document (GSI1), so one write serves both "what happened in run R" and "what happened to invoice X".
Every event is mirrored to the structured (CloudWatch) log with the same correlation keys.
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
from .table import expires_at, iso, query_all, utc_now


@dataclass
class RunLog:
    """One run of one connector (poll, export, catalog, bundle, or one delivery)."""

    table: Any
    connector_id: str
    kind: str
    ttl_days: int = 90
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    started_at: str = field(default_factory=lambda: iso(utc_now()))
    _seq: itertools.count = field(default_factory=itertools.count, repr=False)

    def start(self, **details: Any) -> RunLog:
        self.table.put_item(Item=self._run_item("running", details))
        logger.append_keys(connector_id=self.connector_id, run_id=self.run_id, run_kind=self.kind)
        self.event("info", f"{self.kind} run started", **details)
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
        self.table.put_item(Item=item)
        extra = {k: v for k, v in {"source_id": source_id, "document_number": number, **details}.items() if v}
        getattr(logger, "warning" if level == "warn" else level, logger.info)(message, extra=extra)

    def finish(self, status: str, summary: dict[str, Any], reason: str | None = None) -> None:
        """Close the run with its final status (`succeeded`, `partial`, `failed`, `skipped`) and, when it
        did not succeed, the reason."""
        level = "info" if status == "succeeded" else "warn" if status in ("partial", "skipped") else "error"
        message = f"{self.kind} run {status}" + (f": {reason}" if reason else "")
        self.event(level, message, **summary)
        extra: dict[str, Any] = {"finished_at": iso(utc_now())}
        if reason:
            extra["reason"] = reason
        self.table.put_item(Item=self._run_item(status, summary, **extra))

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

    def document_events(self, connector_id: str, source_id: str) -> list[LogEvent]:
        items = query_all(
            self._table,
            IndexName="GSI1",
            KeyConditionExpression=Key("GSI1PK").eq(keys.document_events_index_pk(connector_id, source_id)),
        )
        return [LogEvent.from_item(i) for i in items]
