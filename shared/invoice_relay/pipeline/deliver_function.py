"""DeliverFunction's logic: a batch of queue records → one idempotent delivery each, one run per connector.

A batch, in order:
1. parse every record (a malformed one is logged with its reason and raised: it reaches the DLQ);
2. archive the raw webhook bodies the items carry, one S3 object per connector (JSON Lines:
   `raw/<connector>/webhooks/<yyyy/mm/dd>/batch-<id>.jsonl`, each line the exact body with its SHA-256,
   delivery id, sender and record) before anything is delivered: an archive that fails fails the
   batch, so nothing is delivered unarchived (a batch redelivered after a crash may archive a body twice;
   the lines say which delivery each is);
3. deliver each item once (Powertools idempotency around `deliver`: one effect per (connector, sender,
   event, record id, version)); a delivery that raised (transient, held for its connector, waiting for
   another record) leaves no idempotency record, so its redelivery or release runs it again;
4. one delivery run per connector records the batch (storage/runs.py): the run item holds every
   record's outcome, the table's events only what went wrong or needs a reader (failures, held, waiting,
   notes); the happy path is a log line and the cross reference the delivery wrote;
5. the held work of connectors that delivered is released.

Built lazily (first call), so importing the handler reads no environment and creates no client.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from pydantic import ValidationError

from ..connector import ConnectorConfig
from ..errors import ConfigurationError, TransientError
from ..identifiers import is_connector_id
from ..logs import logger
from ..partners.payload import validation_reason
from ..settings import settings
from ..storage.runs import RunLog
from .deliver import WorkHeld, WorkWaiting, deliver
from .held import release_held
from .observability import publish_delivery_metrics
from .services import Services, services
from .work import WorkItem, identify_message

# No delivery id and no attempt in the key: a resend of the same record version (a new webhook id, a
# released copy) is the same work, answered by the record of its final state once it has one. Work that
# waits or is held raises, so it leaves no record and runs again when released.
IDEMPOTENCY_KEY = "[connector_id, source_system, event_type, source_id, version]"
IDEMPOTENCY_TTL_SECONDS = 30 * 24 * 3600


class MalformedMessage(Exception):
    """A queue message that is not a WorkItem: it can never be delivered (it goes on to the DLQ)."""


@lru_cache(maxsize=1)
def idempotency_config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath=IDEMPOTENCY_KEY,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
        response_hook=repeated,
    )


def repeated(response: dict[str, Any], _record: Any) -> dict[str, Any]:
    """A repeat answered by the idempotency record of the first delivery (a duplicate message, a resend
    under a new webhook id): said so (`already_delivered`, `already_failed`), so that runs and metrics
    count one delivery once and a repeat of a failure is not a new failure."""
    status = response.get("status")
    again = {"delivered": "already_delivered", "failed": "already_failed"}.get(str(status), status)
    return {**response, "status": again, "repeat": True}


@lru_cache(maxsize=1)
def _idempotent_delivery() -> Any:
    table = settings().idempotency_table_name
    if not table:
        raise ConfigurationError("IDEMPOTENCY_TABLE_NAME is not set")

    @idempotent_function(
        data_keyword_argument="item",
        persistence_store=DynamoDBPersistenceLayer(table_name=table),
        config=idempotency_config(),
    )
    def deliver_item(item: WorkItem, run: RunLog, config: ConnectorConfig) -> dict[str, Any]:
        return deliver(item, services(), run, config).as_dict()

    return deliver_item


def deliver_once(*, item: WorkItem, run: RunLog, config: ConnectorConfig) -> dict[str, Any]:
    """Deliver `item` unless an item with the same key already took effect (then its result is returned).

    A delivery that raised is not recorded, so SQS's retry runs it again."""
    return _idempotent_delivery()(item=item, run=run, config=config)


def max_receive_count() -> int:
    """The delivery queue's `maxReceiveCount` (template.yaml sets DELIVERY_MAX_RECEIVE_COUNT to it)."""
    import os

    return int(os.environ.get("DELIVERY_MAX_RECEIVE_COUNT", "5"))


MAX_OUTCOMES = 100  # per run item: a batch is at most 25 records (template.yaml BatchSize)
PROBLEMS = ("failed", "held", "retry", "error", "malformed")


@dataclass
class Batch:
    """One invocation's queue records: their archive, their delivery runs, the held work released after."""

    items: dict[str, WorkItem] = field(default_factory=dict)
    runs: dict[str, RunLog] = field(default_factory=dict)
    outcomes: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    delivered_connectors: set[str] = field(default_factory=set)
    held: dict[str, int] = field(default_factory=dict)
    configs: dict[str, ConnectorConfig] = field(default_factory=dict)
    batch_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    def begin(self, records: list[tuple[str, str]], now: dt.datetime | None = None) -> None:
        """Parse the records (message id, body) and archive the raw bodies they carry (steps 1–2 of the
        module docstring). Malformed records are left for `record`, which fails them alone."""
        bodies: dict[str, list[dict[str, Any]]] = {}
        archived: dict[str, str] = {}
        now = now or dt.datetime.now(dt.UTC)
        for message_id, body in records:
            try:
                item = WorkItem.model_validate_json(body)
            except ValidationError:
                continue
            self.items[message_id] = item
            if item.raw is not None:
                bodies.setdefault(item.connector_id, []).append(archive_line(message_id, item))
        for connector_id, lines in bodies.items():
            key = f"raw/{connector_id}/webhooks/{now:%Y/%m/%d}/batch-{self.batch_id}.jsonl"
            services().bucket.put_json_lines(key, lines)
            archived[connector_id] = key
        for message_id, item in self.items.items():
            if item.raw is not None:
                self.items[message_id] = item.archived(archived[item.connector_id])

    def config_of(self, connector_id: str) -> ConnectorConfig:
        """The connector's configuration, read once per batch (a pause holds the next batch's work)."""
        config = self.configs.get(connector_id)
        if config is None:
            config = self.configs[connector_id] = services().connectors.get(connector_id)
        return config

    def run_for(self, connector_id: str) -> RunLog:
        """The connector's delivery run for this batch (started at its first record)."""
        run = self.runs.get(connector_id)
        if run is None:
            run = services().run_log(connector_id, "deliver").start(batch_id=self.batch_id)
            self.runs[connector_id] = run
            self.outcomes[connector_id] = []
        return run

    def record(self, message_id: str, body: str, attempt: int = 1) -> dict[str, Any]:
        """Deliver one queue record: parse it (a malformed one is logged with the reason and raised, so it
        reaches the DLQ, never dropped), deliver it once, and report a held item as done with the queue.
        A record failing on its last attempt (`attempt`: SQS's receive count) is filed as a dead letter
        with its reason before the queue moves it to the DLQ."""
        try:
            return self._record(message_id, body)
        except Exception as exc:
            if attempt >= max_receive_count():
                self.dead_letter(body, exc, attempt)
            raise

    def dead_letter(self, body: str, exc: Exception, attempt: int) -> None:
        connector_id, work_key = identify_message(body)
        if connector_id is None:
            return  # not a connector's work: the SQS DLQ (and its alarm) is where it stays
        reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
        try:
            services().dead_letters.file(connector_id, work_key, body, reason, attempt, keep_reason=False)
        except Exception:  # the message still reaches the SQS DLQ; the management API files it from there
            logger.exception("could not file a dead letter", extra={"connector_id": connector_id})

    def _record(self, message_id: str, body: str) -> dict[str, Any]:
        item = self.items.get(message_id) or self.parse(message_id, body)
        logger.append_keys(
            connector_id=item.connector_id, source_id=item.source_id, event_type=item.event_type
        )
        run = self.run_for(item.connector_id)
        try:
            result = dict(deliver_once(item=item, run=run, config=self.config_of(item.connector_id)))
        except WorkHeld as held:
            result = {"status": "held", "detail": held.reason, "held": held.held}
            self.held[item.connector_id] = held.held
        except WorkWaiting as waiting:
            result = {"status": "waiting", "detail": waiting.reason}
        except TransientError as exc:
            self.outcome(item, "retry", exc.reason)
            raise
        except IdempotencyAlreadyInProgressError:
            # A copy of the same work (a repeated webhook) is being delivered right now by another batch:
            # this one goes back to the queue and is answered by that copy's result when it returns.
            self.outcome(item, "retry", "the same work is being delivered by another invocation")
            raise
        except Exception as exc:
            self.outcome(item, "error", f"internal error: {type(exc).__name__}: {exc}")
            raise
        status = str(result.get("status"))
        if status in ("delivered", "already_delivered"):
            self.delivered_connectors.add(item.connector_id)
        detail = str(result.get("detail") or "")
        self.outcome(item, status, f"{detail} (a repeat)" if result.get("repeat") else detail)
        return result

    def parse(self, message_id: str, body: str) -> WorkItem:
        try:
            return parse_message(message_id, body)
        except MalformedMessage as exc:
            connector_id = _connector_of(body)
            if connector_id is not None:
                self.run_for(connector_id).event("error", str(exc), message_id=message_id)
                self.outcomes[connector_id].append(
                    {"message": message_id, "status": "malformed", "detail": str(exc)}
                )
            raise

    def outcome(self, item: WorkItem, status: str, detail: str) -> None:
        self.outcomes[item.connector_id].append(
            {"event": item.event_type, "id": item.source_id, "status": status, "detail": detail[:300]}
        )

    def finish(self) -> None:
        """Close each connector's delivery run with its final status (`succeeded`; `failed` when no record
        went through; else `partial`), the reason of what went wrong and what happened to each record."""
        for connector_id, run in self.runs.items():
            outcomes = self.outcomes[connector_id]
            counts = Counter(o["status"] for o in outcomes)
            problems = sum(counts[p] for p in PROBLEMS)
            status = "succeeded" if not problems else "failed" if problems == len(outcomes) else "partial"
            summary: dict[str, Any] = {"counts": dict(sorted(counts.items()))}
            if connector_id in self.held:
                summary["held"] = self.held[connector_id]  # the connector's held work after this batch
            publish_delivery_metrics(connector_id, counts)
            try:
                run.finish(
                    status,
                    summary,
                    reason=problem_reason(outcomes) if problems else None,
                    kept={"records": outcomes[:MAX_OUTCOMES]},  # each was a log line already
                )
            except Exception:  # the log lines stay; the records' own state is already stored
                logger.exception("could not store a delivery run", extra={"connector_id": connector_id})

    def release_held(self, svc: Services | None = None) -> int:
        """A delivery of these connectors just went through: their held work can go again."""
        svc = svc or services()
        return sum(release_held(svc, connector_id) for connector_id in sorted(self.delivered_connectors))


MAX_REASONS = 5


def problem_reason(outcomes: list[dict[str, str]]) -> str:
    """What went wrong in a run, one clause per distinct problem (the first few), for the run's reason."""
    clauses: list[str] = []
    for o in outcomes:
        status, detail = o["status"], o.get("detail", "")
        if status == "held":
            clause = f"connector problem, nothing written back: {detail}"
        elif status == "retry":
            clause = f"{o['event']} {o['id']} will be retried: {detail}"
        elif status == "malformed":
            clause = f"malformed queue message: {detail}"
        elif status in PROBLEMS:
            clause = f"{o['event']} {o['id']}: {detail}"
        else:
            continue
        if clause not in clauses:
            clauses.append(clause)
    more = len(clauses) - MAX_REASONS
    return "; ".join(clauses[:MAX_REASONS]) + (f" (and {more} more)" if more > 0 else "")


def archive_line(message_id: str, item: WorkItem) -> dict[str, Any]:
    """One archived webhook body: the exact text with its SHA-256, and what it was."""
    assert item.raw is not None
    return {
        "connector_id": item.connector_id,
        "source_system": item.source_system,
        "delivery_id": item.delivery_id,
        "event_type": item.event_type,
        "source_id": item.source_id,
        "version": item.version,
        "received_at": item.received_at,
        "message_id": message_id,
        "content_type": item.raw.content_type,
        "sha256": hashlib.sha256(item.raw.text.encode()).hexdigest(),
        "body": item.raw.text,
    }


def parse_message(message_id: str, body: str) -> WorkItem:
    try:
        return WorkItem.model_validate_json(body)
    except ValidationError as exc:
        reason = validation_reason(exc)
        connector_id = _connector_of(body)
        logger.error(
            "malformed delivery queue message",
            extra={"message_id": message_id, "reason": reason, "connector_id": connector_id},
        )
        raise MalformedMessage(f"queue message {message_id} is not a work item: {reason}") from None


def _connector_of(body: str) -> str | None:
    import json

    try:
        value = json.loads(body).get("connector_id")
    except (ValueError, AttributeError):
        return None
    return value if is_connector_id(value) else None
