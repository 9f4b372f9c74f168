"""Webhook intake: turn one HTTP delivery into at most one queued WorkItem, and answer fast.

`accept_webhook` knows nothing of API Gateway; the WebhookFunction handler passes it the path's connector
id, the headers and the raw body. The checks, in order:

1. size: a body over the limit → 413;
2. connector: unknown → 404;
3. signature, before the body is looked at: missing, invalid or expired → 401 (the scheme follows the
   headers: Standard Webhooks for the shop, `X-FreshBooks-Hmac-SHA256` for FreshBooks callbacks; an
   unsigned FreshBooks `callback.verify` is the handshake, handled apart);
4. parse: not an event of the scheme → 400;
5. archive: the exact bytes to `raw/<connector>/<system>/webhooks/<yyyy/mm/dd>/<delivery id>.<ext>`;
6. event type not delivered by Invoice Relay → 202 `ignored` (archived, not queued);
7. de-duplicate by delivery id (conditional write) → 202 `duplicate`;
8. enqueue the WorkItem on the delivery queue → 202 `accepted` (a WorkItem too large for SQS, from a body
   just under the limit, → 413).

Bad input never gets a 5xx. A failure on the AWS side (archive, de-duplication record, queue) does get
one (503), so the sender retries, and the de-duplication claim is released first so that the retry is
not taken for a duplicate. No partner is called here (except the one-off handshake confirmation), so a
partner outage never slows down or loses a webhook.

De-duplication record (state table; `expires_at` = TTL, 7 days):

- PK `WEBHOOK#<connector id>#<delivery id>`, SK `DEDUPE`;
- `state` (`processing` | `accepted`), `owner`, `lease_until` (epoch seconds, while processing),
  `received_at`, `raw_key`, `message_id` (the SQS message, once accepted), `expires_at`.

A delivery is claimed (`processing`, with a short lease) before it is enqueued and marked `accepted`
after. A claim whose holder died (timeout) is taken over once its lease has run out; until then a
retry is answered 409 (try again) rather than "duplicate", so it cannot be lost.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError
from boto3.dynamodb.conditions import Attr
from botocore.exceptions import BotoCoreError, ClientError

from ..connector import ConnectorConfig, FreshBooksTargetConfig, ShopSourceConfig
from ..connectors import shop
from ..errors import AuthenticationError, ConfigurationError, MappingError, PermanentError, TransientError
from ..pipeline.queue import enqueue
from ..pipeline.work import WorkItem
from ..secrets import partner_credentials
from ..storage.table import expires_at, is_conditional_failure, iso
from . import InvalidSignature, freshbooks, standard

logger = Logger()

DEFAULT_MAX_BODY_BYTES = 256 * 1024
# SQS takes 256 KiB per message, attributes included: the WorkItem's JSON must stay below that.
MAX_MESSAGE_BYTES = 256 * 1024 - 1024
DEDUPE_TTL_DAYS = 7
# Longer than the function's timeout (10 s): a claim outlives its holder only by this much.
CLAIM_SECONDS = 60
DEDUPE_SK = "DEDUPE"
CONNECTOR_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")  # as ConnectorConfig.connector_id

# Called for a FreshBooks `callback.verify` handshake: (connector, callback id, verifier). It PUTs the
# verifier back to FreshBooks' callbacks API; raises PermanentError when FreshBooks refuses it,
# TransientError when FreshBooks cannot be reached, ConfigurationError / AuthenticationError when our own
# OAuth setup is missing or refused.
ConfirmCallback = Callable[[ConnectorConfig, str, str], None]


def dedupe_pk(connector_id: str, delivery_id: str) -> str:
    """Partition key of a delivery's de-duplication record (sort key: DEDUPE_SK)."""
    return f"WEBHOOK#{connector_id}#{delivery_id}"


@dataclass(frozen=True)
class IntakeResult:
    """The HTTP answer (`status_code`, JSON `body`). `verification` is set for a FreshBooks handshake."""

    status_code: int
    body: dict[str, Any]
    verification: freshbooks.CallbackVerification | None = field(default=None, repr=False)

    @property
    def status(self) -> str:
        return str(self.body.get("status", ""))


class _Rejected(Exception):
    def __init__(self, status_code: int, reason: str):
        super().__init__(reason)
        self.status_code = status_code
        self.reason = reason


@dataclass(frozen=True)
class _Delivery:
    """A verified, parsed delivery. `source_id` is None for an event type Invoice Relay does not act on."""

    system: str
    delivery_id: str
    event_type: str
    source_id: str | None
    version: str
    payload: dict[str, Any]
    content_type: str
    extension: str


def accept_webhook(
    connector_id: str,
    headers: Mapping[str, str],
    body: bytes,
    services: Any,
    *,
    now: dt.datetime,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    confirm_callback: ConfirmCallback | None = None,
) -> IntakeResult:
    """Verify, archive, de-duplicate and enqueue one webhook delivery (see the module docstring).

    `services` is the pipeline's `Services` (state table, bucket, connectors, settings). `now` is the
    time of receipt (signature tolerance, archive date, TTLs). `confirm_callback` confirms a FreshBooks
    handshake; without it the verifier is stored as pending.
    """
    lowered = {str(name).lower(): str(value) for name, value in headers.items()}
    try:
        if len(body) > max_body_bytes:
            raise _Rejected(413, f"body is {len(body)} bytes; the limit is {max_body_bytes}")
        config = _connector(connector_id, services)
        target = _freshbooks_target(config)
        handshake = _handshake_in(target, lowered, body)
        if target is not None and handshake is not None:
            return _handle_handshake(config, target, handshake, confirm_callback)
        delivery = _verified_delivery(config, lowered, body, services, now)
        return _queue(config, delivery, body, services, now)
    except _Rejected as rejected:
        logger.info(
            "webhook rejected", extra={"status_code": rejected.status_code, "reason": rejected.reason}
        )
        return IntakeResult(rejected.status_code, {"status": "rejected", "reason": rejected.reason})
    except ConfigurationError as exc:
        # Our side: the sender should retry once the configuration is fixed. The details stay in our log.
        logger.error("webhook intake is misconfigured", extra={"reason": exc.reason})
        return IntakeResult(500, {"status": "error", "reason": "webhook intake is misconfigured"})
    except (ClientError, BotoCoreError):
        logger.exception("webhook intake could not reach AWS")
        return IntakeResult(503, {"status": "error", "reason": "temporarily unavailable; retry later"})


# -- connector and scheme -------------------------------------------------------------------------------


def _connector(connector_id: str, services: Any) -> ConnectorConfig:
    if not CONNECTOR_ID.match(connector_id):
        raise _Rejected(404, "unknown connector")
    try:
        return services.connectors.get(connector_id)
    except ConfigurationError:
        raise _Rejected(404, f"unknown connector '{connector_id}'") from None


def _freshbooks_target(config: ConnectorConfig) -> FreshBooksTargetConfig | None:
    target = config.target
    if isinstance(target, FreshBooksTargetConfig) and target.callback_verifier_secret:
        return target
    return None


def _handshake_in(
    target: FreshBooksTargetConfig | None, headers: Mapping[str, str], body: bytes
) -> freshbooks.CallbackVerification | None:
    """The FreshBooks `callback.verify` in this request, if it is one (unsigned by design)."""
    if target is None or any(h in headers for h in standard.HEADERS):
        return None
    try:
        return freshbooks.CallbackVerification.from_body(body)
    except ValueError as exc:
        raise _Rejected(400, str(exc)) from None


def _verified_delivery(
    config: ConnectorConfig, headers: Mapping[str, str], body: bytes, services: Any, now: dt.datetime
) -> _Delivery:
    """Pick the scheme, verify the signature, then parse the body."""
    shop_source = config.source if isinstance(config.source, ShopSourceConfig) else None
    freshbooks_target = _freshbooks_target(config)
    scheme = _scheme(
        headers, takes_shop=shop_source is not None, takes_freshbooks=freshbooks_target is not None
    )
    if scheme == "standard":
        if shop_source is None:
            raise _Rejected(404, f"connector '{config.connector_id}' takes no Standard Webhooks deliveries")
        return _shop_delivery(shop_source, headers, body, services, now)
    if scheme == "freshbooks":
        if freshbooks_target is None:
            raise _Rejected(404, f"connector '{config.connector_id}' takes no FreshBooks callbacks")
        return _freshbooks_delivery(freshbooks_target, headers, body)
    raise _Rejected(404, f"connector '{config.connector_id}' takes no webhooks")


def _scheme(headers: Mapping[str, str], *, takes_shop: bool, takes_freshbooks: bool) -> str | None:
    """Which signature to demand: the one whose headers are there, else the one the connector takes.

    A connector that takes both (shop source, FreshBooks target) gets a FreshBooks callback for a form
    body; the content type only decides which signature is demanded, it proves nothing.
    """
    if any(h in headers for h in standard.HEADERS):
        return "standard"
    if freshbooks.SIGNATURE_HEADER.lower() in headers:
        return "freshbooks"
    if takes_shop and takes_freshbooks:
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        return "freshbooks" if content_type == freshbooks.FORM_CONTENT_TYPE else "standard"
    if takes_shop:
        return "standard"
    return "freshbooks" if takes_freshbooks else None


# -- the shop (Standard Webhooks) -----------------------------------------------------------------------


def _shop_delivery(
    source: ShopSourceConfig, headers: Mapping[str, str], body: bytes, services: Any, now: dt.datetime
) -> _Delivery:
    cache_seconds = services.settings.secret_cache_seconds
    secrets = _webhook_secrets(source.webhook_secret, cache_seconds)
    try:
        delivery_id = standard.verify(headers, body, secrets, now=now)
    except InvalidSignature as invalid:
        # The secret may have been rotated since it was cached: one more try with a fresh read.
        fresh = _webhook_secrets(source.webhook_secret, cache_seconds, fresh=True)
        if fresh == secrets:
            raise _Rejected(401, invalid.reason) from None
        try:
            delivery_id = standard.verify(headers, body, fresh, now=now)
        except InvalidSignature as still_invalid:
            raise _Rejected(401, still_invalid.reason) from None

    envelope = _json_object(body)
    event_type, data = envelope.get("type"), envelope.get("data")
    if not isinstance(event_type, str) or not event_type:
        raise _Rejected(400, "not a Standard Webhooks event: 'type' must be a non-empty string")
    if not isinstance(data, dict):
        raise _Rejected(400, "not a Standard Webhooks event: 'data' must be an object")
    try:
        ref = shop.event_ref(event_type, data)
    except MappingError as exc:
        raise _Rejected(400, exc.reason) from None
    except PermanentError:
        ref = None  # an event type the shop connector does not deliver
    return _Delivery(
        system="shop",
        delivery_id=delivery_id,
        event_type=event_type,
        source_id=ref.id if ref else None,
        version=ref.version if ref else "",
        payload=data,
        content_type="application/json",
        extension="json",
    )


def _webhook_secrets(secret_name: str, max_age: int, *, fresh: bool = False) -> list[str]:
    if fresh:
        # Refresh the cached copy first; partner_credentials then reads it (and maps errors) as usual.
        with contextlib.suppress(GetParameterError, TransformParameterError):
            parameters.get_secret(secret_name, transform="json", max_age=max_age, force_fetch=True)
    value = partner_credentials(secret_name, max_age).get("secrets")
    if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value):
        raise ConfigurationError(f'webhook secret \'{secret_name}\' must be {{"secrets": ["whsec_..."]}}')
    return value


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise _Rejected(400, "body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise _Rejected(400, "body is not a JSON object")
    return parsed


# -- FreshBooks callbacks -------------------------------------------------------------------------------


def _freshbooks_delivery(
    target: FreshBooksTargetConfig, headers: Mapping[str, str], body: bytes
) -> _Delivery:
    verifiers = freshbooks.CallbackVerifiers(str(target.callback_verifier_secret)).confirmed()
    try:
        fields = freshbooks.verify(headers, body, verifiers)
    except InvalidSignature as invalid:
        raise _Rejected(401, invalid.reason) from None
    event_type = fields.get("name", "").strip()
    if not event_type:
        raise _Rejected(400, "not a FreshBooks callback: no 'name'")
    delivery_id = freshbooks.delivery_id(fields)
    object_id = fields.get("object_id", "").strip()
    routed = event_type in freshbooks.ROUTED_EVENTS
    if routed and not object_id:
        raise _Rejected(400, f"FreshBooks {event_type} without object_id")
    return _Delivery(
        system="freshbooks",
        delivery_id=delivery_id,
        event_type=event_type,
        source_id=object_id if routed else None,
        # FreshBooks sends no version; the delivery id is unique per notification.
        version=delivery_id,
        payload=dict(fields),
        content_type=freshbooks.FORM_CONTENT_TYPE,
        extension="form",
    )


def _handle_handshake(
    config: ConnectorConfig,
    target: FreshBooksTargetConfig,
    verification: freshbooks.CallbackVerification,
    confirm_callback: ConfirmCallback | None,
) -> IntakeResult:
    """Store the verifier (pending), then, when we can, confirm it with FreshBooks and make it count.

    The handshake body holds a secret (the verifier): it is not archived and never logged.
    """
    store = freshbooks.CallbackVerifiers(str(target.callback_verifier_secret))
    store.add_pending(verification.callback_id, verification.verifier)
    extra = {"callback_id": verification.callback_id}
    if confirm_callback is None:
        logger.info("FreshBooks callback verifier stored, waiting for confirmation", extra=extra)
        body = {"status": "verification_pending", "callback_id": verification.callback_id}
        return IntakeResult(202, body, verification)
    try:
        confirm_callback(config, verification.callback_id, verification.verifier)
    except (ConfigurationError, AuthenticationError) as exc:
        # Our side (no OAuth tokens, refused credentials): 500 via accept_webhook, the verifier stays pending.
        raise ConfigurationError(f"cannot confirm FreshBooks callbacks: {exc.reason}") from exc
    except TransientError as exc:
        logger.warning("FreshBooks callback not confirmed yet", extra={**extra, "reason": exc.reason})
        body = {"status": "error", "reason": "could not confirm the callback with FreshBooks; retry later"}
        return IntakeResult(503, body, verification)
    except PermanentError as exc:
        logger.warning("FreshBooks refused the callback verifier", extra={**extra, "reason": exc.reason})
        body = {"status": "rejected", "reason": "FreshBooks did not confirm this verifier"}
        return IntakeResult(401, body, verification)
    store.add_confirmed(verification.callback_id, verification.verifier)
    logger.info("FreshBooks callback confirmed", extra=extra)
    return IntakeResult(200, {"status": "verified", "callback_id": verification.callback_id}, verification)


# -- archive, de-duplicate, enqueue ---------------------------------------------------------------------


def raw_key(connector_id: str, system: str, delivery_id: str, received: dt.datetime, extension: str) -> str:
    """Where a webhook body is archived."""
    return f"raw/{connector_id}/{system}/webhooks/{received:%Y/%m/%d}/{delivery_id}.{extension}"


def _queue(
    config: ConnectorConfig, delivery: _Delivery, body: bytes, services: Any, now: dt.datetime
) -> IntakeResult:
    cid = config.connector_id
    key = raw_key(cid, delivery.system, delivery.delivery_id, now.astimezone(dt.UTC), delivery.extension)
    # the body exactly as received, with its SHA-256 in the object metadata
    services.bucket.put_with_digest(
        key, body, delivery.content_type, {"connector": cid, "delivery-id": delivery.delivery_id}
    )
    correlation = {
        "connector_id": cid,
        "delivery_id": delivery.delivery_id,
        "event_type": delivery.event_type,
    }
    if delivery.source_id is None:
        logger.info(
            "webhook ignored: not an event Invoice Relay delivers", extra={**correlation, "raw_key": key}
        )
        return IntakeResult(
            202, {"status": "ignored", "delivery_id": delivery.delivery_id, "event_type": delivery.event_type}
        )

    item = WorkItem(
        connector_id=cid,
        source_system=delivery.system,
        event_type=delivery.event_type,
        source_id=delivery.source_id,
        version=delivery.version,
        delivery_id=delivery.delivery_id,
        raw_key=key,
        payload=delivery.payload,
        received_at=iso(now),
    )
    if len(item.model_dump_json().encode()) > MAX_MESSAGE_BYTES:
        # Only a body within a few hundred bytes of the size limit gets here; retrying cannot help.
        raise _Rejected(413, "the event is too large to queue")
    ledger = DeliveryLedger(services.table)
    claim = ledger.claim(cid, delivery.delivery_id, now)
    if not claim.owner:
        status = "duplicate" if claim.state == "accepted" else "in_progress"
        logger.info(f"webhook {status}", extra=correlation)
        if status == "duplicate":
            return IntakeResult(202, {"status": status, "delivery_id": delivery.delivery_id})
        reason = "the same delivery is being processed; retry later"
        return IntakeResult(409, {"status": status, "delivery_id": delivery.delivery_id, "reason": reason})
    try:
        message_id = enqueue(services.settings.delivery_queue_url, item)
    except Exception:
        ledger.release(cid, delivery.delivery_id, claim.owner)
        raise
    try:
        ledger.complete(cid, delivery.delivery_id, claim.owner, message_id=message_id, raw_key=key)
    except (ClientError, BotoCoreError):
        # The work is queued: answer 202. A retry within the claim's lease is told to retry (409); after
        # it, it is queued once more, and the delivery pipeline's idempotency absorbs the repeat.
        logger.exception("webhook queued but its de-duplication record was not completed", extra=correlation)
    logger.info(
        "webhook accepted",
        extra={**correlation, "source_id": item.source_id, "raw_key": key, "message_id": message_id},
    )
    return IntakeResult(202, {"status": "accepted", "delivery_id": delivery.delivery_id})


@dataclass(frozen=True)
class Claim:
    """The outcome of `DeliveryLedger.claim`: `owner` is set when this invocation holds the delivery;
    otherwise `state` is the holder's (`processing` or `accepted`)."""

    owner: str | None
    state: str


class DeliveryLedger:
    """The de-duplication records of webhook deliveries (layout: see the module docstring)."""

    def __init__(self, table: Any, *, ttl_days: int = DEDUPE_TTL_DAYS, claim_seconds: int = CLAIM_SECONDS):
        self._table = table
        self._ttl_days = ttl_days
        self._claim_seconds = claim_seconds

    @staticmethod
    def key(connector_id: str, delivery_id: str) -> dict[str, str]:
        return {"PK": dedupe_pk(connector_id, delivery_id), "SK": DEDUPE_SK}

    def claim(self, connector_id: str, delivery_id: str, now: dt.datetime) -> Claim:
        """Claim a delivery for this invocation unless it was seen (or is being handled) already."""
        owner = uuid.uuid4().hex
        epoch = int(now.timestamp())
        try:
            self._table.put_item(
                Item={
                    **self.key(connector_id, delivery_id),
                    "connector_id": connector_id,
                    "delivery_id": delivery_id,
                    "state": "processing",
                    "owner": owner,
                    "lease_until": epoch + self._claim_seconds,
                    "received_at": iso(now),
                    "expires_at": expires_at(self._ttl_days, now),
                },
                ConditionExpression=Attr("PK").not_exists()
                | (Attr("state").eq("processing") & Attr("lease_until").lt(epoch)),
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            current = self._table.get_item(Key=self.key(connector_id, delivery_id), ConsistentRead=True).get(
                "Item", {}
            )
            # Gone in between (released by a failed holder): the sender's retry will claim it.
            return Claim(owner=None, state=str(current.get("state", "processing")))
        return Claim(owner=owner, state="processing")

    def complete(
        self, connector_id: str, delivery_id: str, owner: str, *, message_id: str, raw_key: str
    ) -> None:
        """Mark a claimed delivery as queued for good: from now on a repeat is a duplicate."""
        self._table.update_item(
            Key=self.key(connector_id, delivery_id),
            UpdateExpression="SET #state = :accepted, message_id = :message_id, raw_key = :raw_key"
            " REMOVE lease_until",
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#state": "state", "#owner": "owner"},
            ExpressionAttributeValues={
                ":accepted": "accepted",
                ":message_id": message_id,
                ":raw_key": raw_key,
                ":owner": owner,
            },
        )

    def release(self, connector_id: str, delivery_id: str, owner: str) -> None:
        """Give a claim up (its work could not be queued), so the sender's retry is not a duplicate."""
        try:
            self._table.delete_item(
                Key=self.key(connector_id, delivery_id),
                ConditionExpression=Attr("owner").eq(owner),
            )
        except (ClientError, BotoCoreError):
            # The claim then blocks retries only until its lease runs out (409 until then).
            logger.exception("could not release a webhook claim", extra={"delivery_id": delivery_id})
