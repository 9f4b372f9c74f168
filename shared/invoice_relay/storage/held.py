"""Work parked in the state table instead of going round the queue: nothing lost, nothing retried to death.

Two kinds, both keyed in the connector's partition and without a TTL (only a release removes them):

- **held** (`HELD#<work key>`): the connector cannot work (credentials refused, OAuth connection missing,
  paused). A connector's problem must never fail a document, and must not lose it either: the delivery
  pipeline parks the work item here and releases it — back onto the delivery queue — once the connector
  works again.
- **waiting** (`WAIT#<dependency>#<work key>`): the work depends on another record not delivered yet (a
  payment before its order). It waits here, with no attempt limit that could lose money, and is released
  when the record it waits for is delivered.

The body is the work item as it travelled on the queue; a repeat of the same work replaces it (same key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

from . import keys
from .table import delete_if, iso, query_all, utc_now


@dataclass(frozen=True)
class HeldItem:
    connector_id: str
    sort_key: str
    work_key: str
    body: str
    reason: str
    held_at: str


class HeldWork:
    def __init__(self, table: Any):
        self._table = table

    def hold(self, connector_id: str, work_key: str, body: str, reason: str) -> None:
        """Park one work item until its connector works again."""
        self._put(connector_id, keys.held_sk(work_key), work_key, body, reason)

    def wait(self, connector_id: str, dependency: str, work_key: str, body: str, reason: str) -> None:
        """Park one work item until `dependency` (e.g. `shop-document#ord_2001`) is delivered."""
        self._put(connector_id, keys.waiting_sk(dependency, work_key), work_key, body, reason)

    def items(self, connector_id: str) -> list[HeldItem]:
        """The work held for the connector (not the work waiting for a dependency)."""
        return self._query(connector_id, keys.HELD_PREFIX)

    def waiting_for(self, connector_id: str, dependency: str) -> list[HeldItem]:
        return self._query(connector_id, keys.waiting_prefix(dependency))

    def count(self, connector_id: str) -> int:
        """How many items are held for the connector."""
        return self._count(connector_id, keys.HELD_PREFIX)

    def count_waiting(self, connector_id: str) -> int:
        return self._count(connector_id, keys.WAITING_PREFIX)

    def remove(self, item: HeldItem) -> bool:
        """Take one item out (it was put back on the queue); False if another release took it first."""
        key = {"PK": keys.connector_pk(item.connector_id), "SK": item.sort_key}
        return delete_if(self._table, key, "held_at", item.held_at)

    def _put(self, connector_id: str, sort_key: str, work_key: str, body: str, reason: str) -> None:
        self._table.put_item(
            Item={
                "PK": keys.connector_pk(connector_id),
                "SK": sort_key,
                "connector_id": connector_id,
                "work_key": work_key,
                "body": body,
                "reason": reason,
                "held_at": iso(utc_now()),
            }
        )

    def _query(self, connector_id: str, prefix: str) -> list[HeldItem]:
        rows = query_all(
            self._table,
            KeyConditionExpression=Key("PK").eq(keys.connector_pk(connector_id))
            & Key("SK").begins_with(prefix),
            ConsistentRead=True,
        )
        return [
            HeldItem(
                r["connector_id"],
                r["SK"],
                r["work_key"],
                r["body"],
                r.get("reason", ""),
                r.get("held_at", ""),
            )
            for r in rows
        ]

    def _count(self, connector_id: str, prefix: str) -> int:
        total, kwargs = (
            0,
            {
                "KeyConditionExpression": Key("PK").eq(keys.connector_pk(connector_id))
                & Key("SK").begins_with(prefix),
                "Select": "COUNT",
            },
        )
        while True:
            page = self._table.query(**kwargs)
            total += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return total
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
