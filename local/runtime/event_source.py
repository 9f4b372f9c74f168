"""The SQS → Lambda event source mapping, locally: receive from the delivery queue, invoke the consumer
with a real SQS event, delete what succeeded, leave failed records (`batchItemFailures`) for redelivery.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import boto3


def sqs_event(queue_arn: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda receives from an SQS event source for `messages` (from ReceiveMessage)."""
    records = []
    for message in messages:
        attributes = {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": None,
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType", "String"),
            }
            for name, value in message.get("MessageAttributes", {}).items()
        }
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    "ApproximateReceiveCount": message.get("Attributes", {}).get(
                        "ApproximateReceiveCount", "1"
                    ),
                    "SentTimestamp": message.get("Attributes", {}).get(
                        "SentTimestamp", str(int(time.time() * 1000))
                    ),
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
                },
                "messageAttributes": attributes,
                "md5OfBody": hashlib.md5(message["Body"].encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def drain(
    queue_url: str,
    invoke: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    batch_size: int = 10,
    max_batches: int = 50,
    wait_for_delayed: float = 0.0,
) -> dict[str, int]:
    """Feed the queue to `invoke` until it is empty (or `max_batches`); returns counts.

    Failed records are made visible again at once (locally there is no point in waiting out the
    visibility timeout). With `wait_for_delayed` > 0, keeps polling that long for delayed messages.
    """
    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    counts = {"batches": 0, "records": 0, "failed": 0}
    deadline = time.monotonic() + wait_for_delayed
    while counts["batches"] < max_batches:
        received = _receive_batch(sqs, queue_url, batch_size)
        if not received:
            if time.monotonic() >= deadline:
                return counts
            time.sleep(0.2)
            continue
        try:
            response = invoke(sqs_event(arn, received)) or {}
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # a failed invocation (or a crashed one): the whole batch goes back
            failed = {m["MessageId"] for m in received}
        done = [m for m in received if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):  # as the event source mapping does: DeleteMessageBatch
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                    for n, m in enumerate(done[start : start + 10])
                ],
            )
        for message in received:
            if message["MessageId"] in failed:
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        counts["batches"] += 1
        counts["records"] += len(received)
        counts["failed"] += len(failed)
    return counts


def _receive_batch(sqs: Any, queue_url: str, batch_size: int) -> list[dict[str, Any]]:
    """Up to `batch_size` messages, ten a ReceiveMessage call (SQS's limit), as the event source mapping
    gathers a batch larger than ten; stops at the first empty receive."""
    messages: list[dict[str, Any]] = []
    while len(messages) < batch_size:
        received = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, batch_size - len(messages)),
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not received:
            break
        messages.extend(received)
    return messages


def redrive(dead_letter_url: str, queue_url: str) -> int:
    """Move every message from a dead-letter queue back to its source queue (body and attributes kept)."""
    sqs = boto3.client("sqs")
    moved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=dead_letter_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return moved
        for message in messages:
            sqs.send_message(
                QueueUrl=queue_url,
                MessageBody=message["Body"],
                MessageAttributes=message.get("MessageAttributes", {}),
            )
            sqs.delete_message(QueueUrl=dead_letter_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
