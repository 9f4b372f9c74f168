"""What the control plane reads back: runs (paged), a run's log, a document's timeline, documents by
number across connectors, import files with fresh download links, dead letters and their replay, and the
numbers a connector's health shows (documents waiting, held work, dead letters)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key

from ..pipeline.work import identify_message
from ..storage import keys
from ..storage.dead_letters import NO_REASON, DeadLetter, DeadLetters
from ..storage.held import HeldWork
from ..storage.objects import DocumentBucket
from ..storage.runs import LogEvent, RunHistory
from ..storage.state import DocumentRecord, DocumentState, DocumentStates, StagedBatches
from .errors import InvalidInput, NotFound

MAX_PAGE = 100
LINK_SECONDS = 3600  # a download link shown on the page is valid for an hour
SWEEP_ROUNDS = 20  # at most 200 messages filed from the SQS DLQ per request


@lru_cache(maxsize=1)
def sqs_client() -> Any:
    return boto3.client("sqs")


def run_view(item: dict[str, Any]) -> dict[str, Any]:
    details = item.get("details")
    counts = json.loads(details) if isinstance(details, str) else dict(details or {})
    return {
        "run_id": item["run_id"],
        "connector_id": item["connector_id"],
        "kind": item["kind"],
        "status": item["status"],
        "started_at": item.get("started_at"),
        "finished_at": item.get("finished_at"),
        "counts": {k: v for k, v in counts.items() if k not in ("records", "export_file")},
        "reason": item.get("reason"),
        "export_file": counts.get("export_file"),
    }


def event_view(event: LogEvent, *, with_run: bool = False) -> dict[str, Any]:
    view = {
        "at": event.at,
        "level": event.level,
        "message": event.message,
        "source_id": event.source_id,
        "number": event.number,
        "details": event.details,
    }
    if with_run:
        view.update(run_id=event.run_id or None, kind=event.kind)
    return view


def document_view(record: DocumentRecord) -> dict[str, Any]:
    return {
        "connector_id": record.connector_id,
        "source_id": record.source_id,
        "number": record.number,
        "state": record.state.value,
        "version": record.version,
        "updated_at": record.updated_at,
        "reason": record.reason or record.writeback_error,
        "export_file": record.export_file,
    }


def dead_letter_view(letter: DeadLetter) -> dict[str, Any]:
    return {
        "id": letter.work_key,
        "reason": letter.reason,
        "at": letter.at,
        "attempts": letter.attempts,
        "work_key": letter.work_key,
        "summary": letter.summary,
    }


@dataclass
class ConnectorHistory:
    table: Any
    bucket: DocumentBucket
    dead_letter_queue_url: str | None = None
    delivery_queue_url: str | None = None
    sqs: Any = None

    @property
    def _sqs(self) -> Any:
        return self.sqs or sqs_client()

    # -- runs ---------------------------------------------------------------------------------------------

    def runs(
        self, connector_id: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the connector's runs, newest first, and the cursor of the next page (None: the end)."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput([{"field": "limit", "reason": f"between 1 and {MAX_PAGE}"}])
        request: dict[str, Any] = {
            "KeyConditionExpression": Key("PK").eq(keys.connector_pk(connector_id))
            & Key("SK").begins_with("RUN#"),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            request["ExclusiveStartKey"] = _decode_cursor(cursor, connector_id)
        page = self.table.query(**request)
        last = page.get("LastEvaluatedKey")
        return [run_view(i) for i in page.get("Items", [])], _encode_cursor(last) if last else None

    def run(self, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        found = self.table.query(
            IndexName="GSI1",
            KeyConditionExpression=Key("GSI1PK").eq(keys.run_index_pk(run_id)) & Key("GSI1SK").eq("RUN"),
        ).get("Items", [])
        if not found:
            raise NotFound(f"unknown run '{run_id}'")
        events = RunHistory(self.table).run_events(run_id)
        return run_view(found[0]), [event_view(e) for e in events]

    # -- documents ----------------------------------------------------------------------------------------

    def document(self, connector_id: str, source_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        record = DocumentStates(self.table).get(connector_id, source_id)
        history = RunHistory(self.table)
        if record is None:
            events = history.document_events(connector_id, source_id)  # a delivered record has only events
            if not events:
                raise NotFound(f"connector '{connector_id}' has no document '{source_id}'")
            return (
                {
                    "connector_id": connector_id,
                    "source_id": source_id,
                    "number": events[-1].number,
                    "state": None,
                    "version": None,
                    "updated_at": events[-1].at,
                    "reason": None,
                    "export_file": None,
                },
                [event_view(e, with_run=True) for e in events],
            )
        return document_view(record), [event_view(e, with_run=True) for e in history.document_trail(record)]

    def by_number(self, number: str) -> list[dict[str, Any]]:
        """Every connector's documents with this number ("where is invoice 1042?")."""
        if not number or len(number) > 100:
            raise InvalidInput([{"field": "number", "reason": "a document number, 1 to 100 characters"}])
        return sorted(
            (document_view(record) for record in DocumentStates(self.table).numbered(number)),
            key=lambda d: d["updated_at"],
            reverse=True,
        )

    def documents_waiting(self, connector_id: str) -> int:
        """Documents read from the source and not settled yet: staged for the next import file, or in a file
        and waiting for their write-back."""
        staged = sum(batch.documents for batch in StagedBatches(self.table).pending(connector_id))
        waiting = 0
        for state in (DocumentState.EXPORTED, DocumentState.REJECTED):
            waiting += _count(
                self.table,
                IndexName="GSI1",
                KeyConditionExpression=Key("GSI1PK").eq(
                    keys.document_state_index_pk(connector_id, state.value)
                ),
            )
        return staged + waiting

    # -- import files -------------------------------------------------------------------------------------

    def files(self, connector_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The connector's import files, newest first, each with a fresh presigned download link."""
        paginator = self.bucket.client.get_paginator("list_objects_v2")
        objects = [
            o
            for page in paginator.paginate(Bucket=self.bucket.bucket, Prefix=f"exports/{connector_id}/")
            for o in page.get("Contents", [])
        ]
        objects.sort(key=lambda o: o["LastModified"], reverse=True)
        return [
            {
                "key": o["Key"],
                "name": o["Key"].rsplit("/", 1)[-1],
                "run_id": _run_of(o["Key"]),
                "created_at": o["LastModified"].isoformat(),
                "size": o["Size"],
                "download_url": self.bucket.download_link(o["Key"], LINK_SECONDS),
                "expires_in": LINK_SECONDS,
            }
            for o in objects[:limit]
        ]

    # -- dead letters -------------------------------------------------------------------------------------

    def dead_letters(self, connector_id: str) -> list[DeadLetter]:
        self.sweep_dead_letter_queue()
        return DeadLetters(self.table).items(connector_id)

    def sweep_dead_letter_queue(self) -> int:
        """File what waits in the SQS dead-letter queue under its connector (a record the function could
        not file itself: it crashed or timed out on its last attempt), then take it off the queue. Filing
        comes first: a crash in between leaves the message to be filed again, never lost."""
        if not self.dead_letter_queue_url:
            return 0
        filed = 0
        letters = DeadLetters(self.table)
        for _ in range(SWEEP_ROUNDS):
            messages = self._sqs.receive_message(
                QueueUrl=self.dead_letter_queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=30,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            ).get("Messages", [])
            if not messages:
                break
            done = []
            for message in messages:
                body = message["Body"]
                connector_id, work_key = identify_message(body)
                if connector_id is not None:
                    attempts = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0))
                    letters.file(connector_id, work_key, body, NO_REASON, attempts, keep_reason=True)
                    filed += 1
                    done.append({"Id": message["MessageId"], "ReceiptHandle": message["ReceiptHandle"]})
            if done:
                self._sqs.delete_message_batch(QueueUrl=self.dead_letter_queue_url, Entries=done)
        return filed

    def replay(self, connector_id: str, ids: list[str] | None) -> int:
        """Put dead letters back on the delivery queue (all, or those named); each delivers at most once."""
        letters = DeadLetters(self.table)
        every = self.dead_letters(connector_id)
        chosen = every if ids is None else [letter for letter in every if letter.work_key in set(ids)]
        unknown = sorted(set(ids or []) - {letter.work_key for letter in every})
        if unknown:
            raise NotFound(f"connector '{connector_id}' has no dead letter {', '.join(unknown)}")
        replayed = 0
        for letter in chosen:
            if not letters.remove(letter):
                continue  # another replay took it
            self._sqs.send_message(QueueUrl=self.delivery_queue_url, MessageBody=letter.body)
            replayed += 1
        return replayed

    def counts(self, connector_id: str) -> dict[str, int]:
        held = HeldWork(self.table)
        dead = _count(
            self.table,
            KeyConditionExpression=Key("PK").eq(keys.connector_pk(connector_id))
            & Key("SK").begins_with(keys.DEAD_LETTER_PREFIX),
        )
        return {
            "held": held.count(connector_id),
            "waiting_for_records": held.count_waiting(connector_id),
            "dead_letters": dead,
        }


def _count(table: Any, **request: Any) -> int:
    total = 0
    request["Select"] = "COUNT"
    while True:
        page = table.query(**request)
        total += int(page.get("Count", 0))
        if "LastEvaluatedKey" not in page:
            return total
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _run_of(key: str) -> str | None:
    parts = key.split("/")  # exports/<cid>/<yyyy>/<mm>/<dd>/<run id>/<file>
    return parts[5] if len(parts) >= 7 else None


def _encode_cursor(last: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"sk": last["SK"]}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, connector_id: str) -> dict[str, str]:
    try:
        sort_key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["sk"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidInput([{"field": "cursor", "reason": "not a cursor this API gave"}]) from None
    if not isinstance(sort_key, str) or not sort_key.startswith("RUN#"):
        raise InvalidInput([{"field": "cursor", "reason": "not a cursor this API gave"}])
    return {"PK": keys.connector_pk(connector_id), "SK": sort_key}
