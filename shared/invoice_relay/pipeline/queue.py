"""The delivery queue: put WorkItems on it (now, or later for events that must wait)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3

from ..errors import ConfigurationError

if TYPE_CHECKING:  # annotations only: a function that enqueues nothing never builds the model (cold start)
    from .work import WorkItem

MAX_DELAY_SECONDS = 900  # SQS maximum


@lru_cache(maxsize=1)
def sqs_client() -> Any:
    return boto3.client("sqs")


def enqueue(queue_url: str | None, item: WorkItem, *, delay_seconds: int = 0) -> str:
    """Send one WorkItem; returns the SQS message id."""
    if not queue_url:
        raise ConfigurationError("DELIVERY_QUEUE_URL is not set")
    response = sqs_client().send_message(
        QueueUrl=queue_url,
        MessageBody=item.model_dump_json(),
        DelaySeconds=min(max(delay_seconds, 0), MAX_DELAY_SECONDS),
        MessageAttributes={
            "connector_id": {"DataType": "String", "StringValue": item.connector_id},
            "event_type": {"DataType": "String", "StringValue": item.event_type},
        },
    )
    return response["MessageId"]


class DeliveryQueue:
    """The function's delivery queue (`DELIVERY_QUEUE_URL`)."""

    def __init__(self, queue_url: str | None):
        self.url = queue_url

    def send(self, item: WorkItem, *, delay_seconds: int = 0) -> str:
        return enqueue(self.url, item, delay_seconds=delay_seconds)
