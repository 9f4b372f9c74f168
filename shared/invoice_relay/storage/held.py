"""Work held while its connector cannot work (credentials refused, OAuth connection missing, paused).

A connector's problem must never fail a document, and must not lose it either: the delivery pipeline
parks the work item here (not on the queue, where retries would run it into the DLQ) and releases it —
back onto the delivery queue — once the connector works again. One item per (connector, work key); the
body is the work item as it travelled on the queue. Held items have no TTL: only a release removes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from . import keys
from .table import is_conditional_failure, iso, query_all, utc_now


@dataclass(frozen=True)
class HeldItem:
    connector_id: str
    work_key: str
    body: str
    reason: str
    held_at: str


class HeldWork:
    def __init__(self, table: Any):
        self._table = table

    def hold(self, connector_id: str, work_key: str, body: str, reason: str) -> None:
        """Park one work item (a repeat of the same work replaces it: same key)."""
        self._table.put_item(
            Item={
                "PK": keys.connector_pk(connector_id),
                "SK": keys.held_sk(work_key),
                "connector_id": connector_id,
                "work_key": work_key,
                "body": body,
                "reason": reason,
                "held_at": iso(utc_now()),
            }
        )

    def items(self, connector_id: str) -> list[HeldItem]:
        rows = query_all(
            self._table,
            KeyConditionExpression=Key("PK").eq(keys.connector_pk(connector_id))
            & Key("SK").begins_with(keys.HELD_PREFIX),
            ConsistentRead=True,
        )
        return [
            HeldItem(r["connector_id"], r["work_key"], r["body"], r.get("reason", ""), r.get("held_at", ""))
            for r in rows
        ]

    def count(self, connector_id: str) -> int:
        total, kwargs = (
            0,
            {
                "KeyConditionExpression": Key("PK").eq(keys.connector_pk(connector_id))
                & Key("SK").begins_with(keys.HELD_PREFIX),
                "Select": "COUNT",
            },
        )
        while True:
            page = self._table.query(**kwargs)
            total += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return total
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def remove(self, item: HeldItem) -> bool:
        """Take one item out (it was put back on the queue); False if another release took it first."""
        try:
            self._table.delete_item(
                Key={"PK": keys.connector_pk(item.connector_id), "SK": keys.held_sk(item.work_key)},
                ConditionExpression=Attr("held_at").eq(item.held_at),
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True
