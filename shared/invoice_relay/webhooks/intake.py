"""Webhook intake: turn one HTTP delivery into at most one queued WorkItem, and answer fast.

`accept_webhook` knows nothing of API Gateway, nor of any partner: the WebhookFunction handler passes it
the path's connector id, the headers and the raw body, and the connector's webhook sources (the
`WEBHOOK_SOURCE` capability of its source and/or its target, from the partner registry) do the
partner-specific parts. The checks, in order:

1. size: a body over the limit → 413;
2. connector: unknown → 404; no webhook source → 404 (its configuration is cached per container for a
   minute, `Services.recent_connector`: the intake's only read, on a cold container);
3. sender: the source whose signature headers are present; an unsigned setup request (a subscription's
   verification handshake) is answered by the source it belongs to; otherwise the source that expects
   this content type, else the only (or first) one;
4. signature, before the body is looked at: missing, invalid or expired → 401;
5. parse: not an event of the scheme, outside the bounds below, or not something a WorkItem can carry →
   400 with the reason (a WorkItem too large for SQS, from a body just under the limit, → 413);
6. event type nobody acts on → its body archived to
   `raw/<connector>/<system>/webhooks/<yyyy/mm/dd>/<delivery id>.<ext>`, 202 `ignored` (not queued);
7. enqueue the WorkItem on the delivery queue with the body exactly as received (`WorkItem.raw`) →
   202 `accepted`. DeliverFunction archives the bodies of a batch in one object before it delivers any
   of them. A body that cannot travel with its work (not UTF-8 text, or the two too large for one
   message) is archived here first, at the key above, and the item carries the key instead.

Duplicates: a delivery sent again (the sender's retry, a replay within the signature's tolerance, the same
record under a new delivery id) is queued again and answered `accepted`; the delivery's idempotency key
(connector, sender, event, record id, version — not the delivery id) makes the copy a no-op that the run
log records as a repeat. That key is the de-duplication: a ledger of delivery ids here would cost a
DynamoDB write and read on every webhook to catch only a subset of what it catches anyway.

Bounds (`partners/payload.py`; each broken one is a 400 naming it, so a hostile body is refused here
instead of becoming a queue message that can never be delivered):
- ids: the delivery id, the event type, the record's id and version — at most 200 characters
  (`MAX_ID_LENGTH`), no control characters, valid Unicode (they become DynamoDB and S3 keys);
- nesting: the event's data at most 32 levels deep (`MAX_NESTING`); a JSON body is parsed without ever
  raising RecursionError;
- text: valid UTF-8 and Unicode (no lone surrogates such as `\\ud800`);
- numbers: finite (no NaN, Infinity or 1e400) and integers of at most 32 digits; amounts are bounded
  further by the money model (below 10^15, 6 decimal places) when the event is delivered, where an
  amount beyond them fails that one item with the reason, without retries;
- the event must make a valid WorkItem (right types) that serialises, within SQS's message size (413).

A sender verifies the signature before it reads the body, so a decoding error escaping its `verify`
(ValueError, UnicodeError, RecursionError) is an authentic body it could not read → 400. Anything else
unexpected is a bug of ours: 500 "internal error", logged with its traceback — never an unhandled
exception (API Gateway's 502).

Bad input never gets a 5xx. A failure on our side — AWS (the queue, an archive) or the connector's own
setup (a missing secret) — does get one (503 / 500), so the sender retries. No partner is called here
(except a handshake's one-off confirmation), so a partner outage never slows down or loses a webhook.

AWS calls of an accepted delivery: one, the queue send; the archive is DeliverFunction's, one S3 object
per batch (`bench/bench_webhooks.py`). The connector's configuration and the webhook secret are cached
per container (a minute; `secret_cache_seconds`, read again once when a signature does not match), so
they add a read only on a cold container.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from ..connector import ConnectorConfig
from ..errors import ConnectorError
from ..identifiers import is_connector_id
from ..logs import logger
from ..partners.capabilities import WEBHOOK_SOURCE, WebhookSource
from ..partners.payload import id_problem, json_problem, readable, validation_reason
from ..pipeline.services import Services
from ..pipeline.work import RawBody, WorkItem
from ..storage.state import UnknownConnector
from ..storage.table import iso
from . import InvalidSignature, MalformedDelivery

if TYPE_CHECKING:  # annotations only: the partner modules load the delivery values (cold start)
    from ..partners.capabilities import WebhookDelivery

DEFAULT_MAX_BODY_BYTES = 256 * 1024
# SQS takes 256 KiB per message, attributes included: the WorkItem's JSON must stay below that.
MAX_MESSAGE_BYTES = 256 * 1024 - 1024


@dataclass(frozen=True)
class IntakeResult:
    """The HTTP answer: `status_code` and a JSON `body`; `details` for the outcome's log line (delivery id,
    event type, record id, queue message id, archive key) beyond what the answer says."""

    status_code: int
    body: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return str(self.body.get("status", ""))


def log_outcome(connector_id: str, result: IntakeResult) -> None:
    """The one line a webhook request leaves in the log, whatever its outcome: `webhook <status>` with the
    answer's status code and reason and the delivery's ids. It is also the request's metric: the template's
    `WebhookOutcomeMetricFilter` counts these lines as `webhooks` by `connector` and `status` (CloudWatch
    Logs bills the bytes, and one line a request costs half what a line and an EMF record did). An unknown
    connector is counted as `unknown`, so guessed ids never become dimensions."""
    known = result.status_code != 404 and is_connector_id(connector_id)
    extra = {
        "webhook_status": result.status or "unknown",
        "status_code": result.status_code,
        "metric_connector": connector_id if known else "unknown",
        **result.details,
    }
    if result.body.get("reason"):
        extra["reason"] = result.body["reason"]
    level = logger.warning if result.status_code >= 500 else logger.info
    level(f"webhook {result.status or 'answered'}", extra=extra)


class _Rejected(Exception):
    def __init__(self, status_code: int, reason: str):
        super().__init__(reason)
        self.status_code = status_code
        self.reason = reason


def accept_webhook(
    connector_id: str,
    headers: Mapping[str, str],
    body: bytes,
    services: Services,
    *,
    now: dt.datetime,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> IntakeResult:
    """Verify, archive, de-duplicate and enqueue one webhook delivery (see the module docstring).

    `now` is the time of receipt (signature tolerance, archive date, TTLs).
    """
    lowered = {str(name).lower(): str(value) for name, value in headers.items()}
    senders: list[tuple[str, WebhookSource]] = []
    try:
        if len(body) > max_body_bytes:
            raise _Rejected(413, f"body is {len(body)} bytes; the limit is {max_body_bytes}")
        config = _connector(connector_id, services)
        senders = services.partners.open_all(config, WEBHOOK_SOURCE, services.context(connector_id))
        return _accept(config, senders, lowered, body, services, now)
    except _Rejected as rejected:
        return _rejection(rejected.status_code, rejected.reason)
    except InvalidSignature as invalid:
        services.forget_connector(connector_id)  # a changed configuration (another secret) is read again
        return _rejection(401, invalid.reason)
    except MalformedDelivery as malformed:
        return _rejection(400, malformed.reason)
    except ConnectorError as exc:
        # Our side: the sender should retry once the connector is fixed. The details stay in our log.
        logger.error("webhook intake cannot use the connector", extra={"reason": exc.reason})
        return IntakeResult(500, {"status": "error", "reason": "webhook intake is misconfigured"})
    except (ClientError, BotoCoreError):
        logger.exception("webhook intake could not reach AWS")
        return IntakeResult(503, {"status": "error", "reason": "temporarily unavailable; retry later"})
    except Exception:
        # A bug of ours, not the sender's: answer (500, so a real sender retries) and keep the traceback.
        logger.exception("webhook intake failed unexpectedly", extra={"connector_id": connector_id})
        return IntakeResult(500, {"status": "error", "reason": "internal error"})
    finally:
        for _, opened in senders:
            opened.close()


def _accept(
    config: ConnectorConfig,
    senders: list[tuple[str, WebhookSource]],
    headers: Mapping[str, str],
    body: bytes,
    services: Services,
    now: dt.datetime,
) -> IntakeResult:
    """Steps 3 to 9 for a known connector (see the module docstring); rejections raise."""
    if not senders:
        raise _Rejected(404, f"connector '{config.connector_id}' takes no webhooks")
    sender = _signed_by(senders, headers)
    if sender is None:
        for _, candidate in senders:
            answer = candidate.handshake(headers, body)
            if answer is not None:
                return IntakeResult(answer.status_code, answer.body)
        sender = _expecting(senders, headers)
    delivery = _verified(sender, headers, body, now)
    problem = _delivery_problem(delivery)
    if problem is not None:
        raise MalformedDelivery(problem)
    return _queue(config, sender.system, delivery, body, services, now)


def _rejection(status_code: int, reason: str) -> IntakeResult:
    return IntakeResult(status_code, {"status": "rejected", "reason": readable(reason, 500)})


def _connector(connector_id: str, services: Services) -> ConnectorConfig:
    if not is_connector_id(connector_id):
        raise _Rejected(404, "unknown connector")
    try:
        return services.recent_connector(connector_id)
    except UnknownConnector:
        raise _Rejected(404, f"unknown connector '{connector_id}'") from None


def _signed_by(senders: list[tuple[str, WebhookSource]], headers: Mapping[str, str]) -> WebhookSource | None:
    """The sender whose signature headers this request carries."""
    return next((sender for _, sender in senders if sender.recognises(headers)), None)


def _expecting(senders: list[tuple[str, WebhookSource]], headers: Mapping[str, str]) -> WebhookSource:
    """No signature headers at all: the sender that expects this content type, else the only (or first)
    one — whose verification then says which header is missing. The content type decides only which
    signature is demanded; it proves nothing."""
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return next((s for _, s in senders if getattr(s, "content_type", None) == content_type), senders[0][1])


def _verified(
    sender: WebhookSource, headers: Mapping[str, str], body: bytes, now: dt.datetime
) -> WebhookDelivery:
    """The sender's verified delivery. A decoding error escaping its `verify` comes after the signature
    matched (a sender checks it before it reads the body): an authentic body it could not read → 400."""
    try:
        return sender.verify(headers, body, now)
    except (ValueError, RecursionError) as exc:  # ValueError covers UnicodeError and JSON errors
        logger.warning(f"{sender.system}: an authentic webhook body could not be read", exc_info=exc)
        raise MalformedDelivery(f"the body cannot be read as a {sender.system} event") from None


def _delivery_problem(delivery: WebhookDelivery) -> str | None:
    """Why a verified delivery is outside the intake's bounds (see the module docstring), or None."""
    keys = [("delivery id", delivery.delivery_id), ("event type", delivery.event_type)]
    if delivery.work is not None:
        keys += [("record id", delivery.work.source_id), ("record version", delivery.work.version)]
    for what, value in keys:
        if not isinstance(value, str) or not value:
            return f"the {what} is missing"
        problem = id_problem(value)
        if problem is not None:
            return f"the {what} {problem}"
    problem = json_problem(delivery.payload)
    return None if problem is None else f"the event's data {problem}"


# -- archive, de-duplicate, enqueue ---------------------------------------------------------------------


def raw_key(connector_id: str, system: str, delivery_id: str, received: dt.datetime, extension: str) -> str:
    """Where a webhook body is archived."""
    return f"raw/{connector_id}/{system}/webhooks/{received:%Y/%m/%d}/{delivery_id}.{extension}"


def _queue(
    config: ConnectorConfig,
    system: str,
    delivery: WebhookDelivery,
    body: bytes,
    services: Services,
    now: dt.datetime,
) -> IntakeResult:
    cid = config.connector_id
    correlation = {
        "connector_id": cid,
        "delivery_id": delivery.delivery_id,
        "event_type": delivery.event_type,
    }
    key = raw_key(cid, system, delivery.delivery_id, now.astimezone(dt.UTC), delivery.extension)
    if delivery.work is None:
        _archive(services, cid, delivery, key, body)  # not queued: kept here, or nowhere
        return IntakeResult(
            202,
            {"status": "ignored", "delivery_id": delivery.delivery_id, "event_type": delivery.event_type},
            {**correlation, "raw_key": key, "why": "not an event Invoice Relay delivers"},
        )
    # checked before the body is archived: what is refused is not kept
    item = _work_item(cid, system, delivery, body, now)
    if item.raw is None:  # too large (or not text) to travel with its work: archived here first
        _archive(services, cid, delivery, key, body)
        item = item.archived(key)
    message_id = services.queue.send(item)
    details = {**correlation, "source_id": item.source_id, "message_id": message_id}
    if item.raw_key:
        details["raw_key"] = item.raw_key
    return IntakeResult(202, {"status": "accepted", "delivery_id": delivery.delivery_id}, details)


def _archive(services: Services, cid: str, delivery: WebhookDelivery, key: str, body: bytes) -> None:
    """The body exactly as received, with its SHA-256 in the object metadata."""
    services.bucket.put_with_digest(
        key, body, delivery.content_type, {"connector": cid, "delivery-id": delivery.delivery_id}
    )


def _work_item(cid: str, system: str, delivery: WebhookDelivery, body: bytes, now: dt.datetime) -> WorkItem:
    """The WorkItem of a delivery that is queued, its raw body with it when the message can carry both;
    400 when the event cannot make one (a type the model refuses, data that does not serialise), 413 when
    even the item alone is too large for an SQS message."""
    assert delivery.work is not None
    try:
        item = WorkItem(
            connector_id=cid,
            source_system=system,
            event_type=delivery.event_type,
            source_id=delivery.work.source_id,
            version=delivery.work.version,
            delivery_id=delivery.delivery_id,
            payload=delivery.payload,
            received_at=iso(now),
        )
        # Measured, not estimated (JSON escaping can grow the body): once with the body, the usual case,
        # and once without it only when the two are too large for one message.
        candidate = _with_raw_body(item, body, delivery.content_type)
        if len(candidate.model_dump_json().encode()) <= MAX_MESSAGE_BYTES:
            return candidate
        fits_alone = len(item.model_dump_json().encode()) <= MAX_MESSAGE_BYTES
    except ValidationError as exc:
        raise _Rejected(400, f"the event cannot be queued: {validation_reason(exc)}") from None
    except PydanticSerializationError:
        raise _Rejected(400, "the event cannot be queued: its data does not serialise as JSON") from None
    if not fits_alone:
        # Only a body within a few hundred bytes of the size limit gets here; retrying cannot help.
        raise _Rejected(413, "the event is too large to queue")
    return item


def _with_raw_body(item: WorkItem, body: bytes, content_type: str) -> WorkItem:
    """The item carrying the body exactly as received, when it is text (else the item as it is)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return item
    return item.model_copy(update={"raw": RawBody(text=text, content_type=content_type)})
