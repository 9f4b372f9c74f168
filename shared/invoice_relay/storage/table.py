"""The DynamoDB table handle, created once per container (tests swap it with `use_table`)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

import boto3


@lru_cache(maxsize=4)
def state_table(table_name: str) -> Any:
    """boto3 Table resource for `table_name` (boto3 honours AWS_ENDPOINT_URL: no local branches)."""
    return boto3.resource("dynamodb").Table(table_name)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    """Sortable UTC timestamp with microseconds (keys sort by it)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def expires_at(days: int, now: dt.datetime | None = None) -> int:
    """Epoch seconds for the table's TTL attribute `expires_at`."""
    return int(((now or utc_now()) + dt.timedelta(days=days)).timestamp())


def is_conditional_failure(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return code in {"ConditionalCheckFailedException", "TransactionCanceledException"}


def query_all(table: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a query, following LastEvaluatedKey."""
    items: list[dict[str, Any]] = []
    while True:
        page = table.query(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
