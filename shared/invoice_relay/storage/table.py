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


def delete_if(table: Any, key: dict[str, str], attribute: str, value: Any) -> bool:
    """Delete the item only while `attribute` still equals `value` (nobody took or replaced it); False
    when the condition failed."""
    from boto3.dynamodb.conditions import Attr
    from botocore.exceptions import ClientError

    try:
        table.delete_item(Key=key, ConditionExpression=Attr(attribute).eq(value))
    except ClientError as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True


BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem


def batch_get_all(table: Any, item_keys: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
    """Every item of `item_keys` that exists (100 keys to a `BatchGetItem`, unprocessed keys asked again).
    `options`: `ConsistentRead`, `ProjectionExpression`... for the table's request."""
    items: list[dict[str, Any]] = []
    for start in range(0, len(item_keys), BATCH_GET_KEYS):
        request: dict[str, Any] = {table.name: {"Keys": item_keys[start : start + BATCH_GET_KEYS], **options}}
        while request:
            answer = table.meta.client.batch_get_item(
                RequestItems=request
            )  # plain values: the resource's client
            items.extend(answer["Responses"].get(table.name, []))
            request = answer.get("UnprocessedKeys") or {}
    return items
