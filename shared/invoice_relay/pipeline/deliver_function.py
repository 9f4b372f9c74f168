"""DeliverFunction's logic: one queue record → one idempotent delivery; held work released after a batch.

Powertools idempotency around `deliver`: one effect per (connector, sender, event, record id, version).
Built lazily (first call), so importing the handler reads no environment and creates no client. A delivery
that raised (transient, held for its connector, waiting for another record) leaves no idempotency record,
so its redelivery or release runs it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from pydantic import ValidationError

from ..errors import ConfigurationError
from ..identifiers import is_connector_id
from ..logs import logger
from ..partners.payload import validation_reason
from ..settings import settings
from .deliver import WorkHeld, WorkWaiting, deliver
from .held import release_held
from .observability import publish_delivery_metric
from .services import Services, services
from .work import WorkItem

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
    )


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
    def deliver_item(item: WorkItem) -> dict[str, Any]:
        return deliver(item, services()).as_dict()

    return deliver_item


def deliver_once(*, item: WorkItem) -> dict[str, Any]:
    """Deliver `item` unless an item with the same key already took effect (then its result is returned).

    A delivery that raised is not recorded, so SQS's retry runs it again."""
    return _idempotent_delivery()(item=item)


@dataclass
class Batch:
    """What one batch of queue records did, for the release of held work after it."""

    delivered_connectors: set[str] = field(default_factory=set)

    def record(self, message_id: str, body: str) -> dict[str, Any]:
        """Deliver one queue record: parse it (a malformed one is logged with the reason and raised, so it
        reaches the DLQ, never dropped), deliver it once, and report a held item as done with the queue."""
        item = parse_message(message_id, body)
        logger.append_keys(
            connector_id=item.connector_id, source_id=item.source_id, event_type=item.event_type
        )
        try:
            result = dict(deliver_once(item=item))
        except WorkHeld as held:
            result = {"status": "held", "detail": held.reason, "held": held.held}
        except WorkWaiting as waiting:
            result = {"status": "waiting", "detail": waiting.reason}
        if result.get("status") in ("delivered", "already_delivered"):
            self.delivered_connectors.add(item.connector_id)
        publish_delivery_metric(item.connector_id, str(result.get("status")))
        return result

    def release_held(self, svc: Services | None = None) -> int:
        """A delivery of these connectors just went through: their held work can go again."""
        svc = svc or services()
        return sum(release_held(svc, connector_id) for connector_id in sorted(self.delivered_connectors))


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
        if connector_id is not None:
            _record_malformed(connector_id, message_id, reason)
        raise MalformedMessage(f"queue message {message_id} is not a work item: {reason}") from None


def _connector_of(body: str) -> str | None:
    import json

    try:
        value = json.loads(body).get("connector_id")
    except (ValueError, AttributeError):
        return None
    return value if is_connector_id(value) else None


def _record_malformed(connector_id: str, message_id: str, reason: str) -> None:
    """The connector's run log says a message of it could not be read (best effort: the log line stays)."""
    try:
        svc = services()
        svc.connectors.get(connector_id)
        run = svc.run_log(connector_id, "deliver").start(message_id=message_id)
        run.finish("failed", {"message_id": message_id}, reason=f"malformed queue message: {reason}")
    except Exception:
        logger.exception(
            "could not record a malformed message in the run log", extra={"message_id": message_id}
        )
