"""Webhook deliveries seen: the de-duplication ledger of the intake (state table; key in keys.py).

One record per (connector, delivery id), `expires_at` = TTL (7 days):
- `state` (`processing` | `accepted`), `owner`, `lease_until` (epoch seconds, while processing),
  `received_at`, `raw_key`, `message_id` (the SQS message, once accepted), `expires_at`.

A delivery is claimed (`processing`, with a short lease) before it is enqueued and marked `accepted`
after. A claim whose holder died (timeout) is taken over once its lease has run out; until then a retry
is answered 409 (try again) rather than "duplicate", so it cannot be lost.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import BotoCoreError, ClientError

from ..logs import logger
from . import keys
from .table import expires_at, is_conditional_failure, iso

DEDUPE_TTL_DAYS = 7
# Longer than the webhook function's timeout (10 s): a claim outlives its holder only by this much.
CLAIM_SECONDS = 60


@dataclass(frozen=True)
class Claim:
    """The outcome of `WebhookDeliveries.claim`: `owner` is set when this invocation holds the delivery;
    otherwise `state` is the holder's (`processing` or `accepted`)."""

    owner: str | None
    state: str


class WebhookDeliveries:
    """The de-duplication records of webhook deliveries (layout: see the module docstring)."""

    def __init__(self, table: Any, *, ttl_days: int = DEDUPE_TTL_DAYS, claim_seconds: int = CLAIM_SECONDS):
        self._table = table
        self._ttl_days = ttl_days
        self._claim_seconds = claim_seconds

    @staticmethod
    def key(connector_id: str, delivery_id: str) -> dict[str, str]:
        return {"PK": keys.webhook_delivery_pk(connector_id, delivery_id), "SK": keys.WEBHOOK_DELIVERY_SK}

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
