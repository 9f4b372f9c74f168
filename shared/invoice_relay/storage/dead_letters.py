"""Dead letters: deliveries the queue gave up on, filed in their connector's partition (`DEAD#<work key>`).

DeliverFunction files a record on its last attempt (the queue's `maxReceiveCount`) with the reason it
failed; whatever reaches the SQS dead-letter queue without one (the function crashed or timed out on the
last attempt) is filed when the management API sweeps that queue. The item keeps the message body exactly
as it travelled, so a replay puts the same work back on the delivery queue — delivered at most once, as
every delivery is (its idempotency key). No TTL: only a replay or the connector's deletion removes one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from . import keys
from .table import delete_if, is_conditional_failure, iso, query_all, utc_now

NO_REASON = "delivery failed on every attempt and the function stopped before saying why (crash or timeout)"


@dataclass(frozen=True)
class DeadLetter:
    connector_id: str
    work_key: str
    body: str
    reason: str
    attempts: int
    at: str

    @property
    def summary(self) -> str:
        """What the work was, from its body (event, record id), without its payload."""
        try:
            item = json.loads(self.body)
            return f"{item.get('event_type', '?')} {item.get('source_id', '?')}"
        except (ValueError, AttributeError):
            return "unreadable queue message"


class DeadLetters:
    def __init__(self, table: Any):
        self._table = table

    def file(
        self, connector_id: str, work_key: str, body: str, reason: str, attempts: int, *, keep_reason: bool
    ) -> None:
        """File one dead letter. `keep_reason`: only if none is filed yet (a sweep must not replace the
        reason the function gave)."""
        item = {
            "PK": keys.connector_pk(connector_id),
            "SK": keys.dead_letter_sk(work_key),
            "connector_id": connector_id,
            "work_key": work_key,
            "body": body,
            "reason": reason[:1000],
            "attempts": attempts,
            "at": iso(utc_now()),
        }
        try:
            if keep_reason:
                self._table.put_item(Item=item, ConditionExpression=Attr("PK").not_exists())
            else:
                self._table.put_item(Item=item)
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise

    def items(self, connector_id: str) -> list[DeadLetter]:
        rows = query_all(
            self._table,
            KeyConditionExpression=Key("PK").eq(keys.connector_pk(connector_id))
            & Key("SK").begins_with(keys.DEAD_LETTER_PREFIX),
            ConsistentRead=True,
        )
        return [
            DeadLetter(
                r["connector_id"],
                r["work_key"],
                r["body"],
                r.get("reason", ""),
                int(r.get("attempts", 0)),
                r["at"],
            )
            for r in rows
        ]

    def remove(self, letter: DeadLetter) -> bool:
        """Take one out (it was replayed); False if another replay took it first."""
        key = {"PK": keys.connector_pk(letter.connector_id), "SK": keys.dead_letter_sk(letter.work_key)}
        return delete_if(self._table, key, "at", letter.at)
