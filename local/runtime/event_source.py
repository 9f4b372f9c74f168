"""The SQS → Lambda event source mapping, locally: receive from the delivery queue, invoke the consumer
with a real SQS event, delete what succeeded, leave failed records (`batchItemFailures`) for redelivery.

`drain` feeds a queue until it is empty (called by the demo and the tests); `QueuePump` keeps doing it in a
thread, as the mapping polls for ever (`make api`).
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import boto3

from local.runtime.background import BackgroundLoop


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
    sqs: Any | None = None,
    retry_after: int = 0,
) -> dict[str, int]:
    """Feed the queue to `invoke` until it is empty (or `max_batches`); returns counts.

    Failed records are made visible again after `retry_after` seconds, at once by default (locally there is
    no point in waiting out the visibility timeout). With `wait_for_delayed` > 0, keeps polling that long
    for delayed messages. `sqs`: the client to use (default: a new one from the environment).
    """
    sqs = sqs or boto3.client("sqs")
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
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=retry_after
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


class QueuePump(BackgroundLoop):
    """The event source mapping as a thread: drains the queue into the consumer whenever it has messages
    (delayed ones once they are visible), looking every `poll_interval` seconds while it is empty.

        pump = QueuePump(url, lambda event: platform.invoke("DeliverFunction", event), batch_size=25,
                         sqs_client=aws.client("sqs")).start()
        pump.stop()

    `invoke` must be safe to call from this thread (LocalPlatform.invoke is: it waits for its turn). A
    failed record is received again after `retry_after` seconds, so a poison message reaches the queue's
    dead-letter queue after its maxReceiveCount receives without a tight loop.
    """

    thread_name = "local-queue-pump"
    stop_timeout = 10.0

    def __init__(
        self,
        queue_url: str,
        invoke: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        batch_size: int = 10,
        sqs_client: Any | None = None,
        poll_interval: float = 0.5,
        retry_after: int = 5,
        consumer: str = "the consumer",
        log: bool = True,
    ):
        super().__init__()
        self.queue_url = queue_url
        self.invoke = invoke
        self.batch_size = batch_size
        # A client of its own: boto3's default session is not safe to share across threads.
        self.sqs = sqs_client or boto3.session.Session().client("sqs")
        self.poll_interval = poll_interval
        self.retry_after = retry_after
        self.consumer = consumer
        self.log = log
        self.counts = {"batches": 0, "records": 0, "failed": 0}
        self._passes = 0  # drain passes that found the queue empty
        self._changed = threading.Condition()
        self._last_error = ""

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until the pump has found the queue empty (no visible message) after this call; False on
        timeout. Messages still delayed or waiting to be retried are not visible yet."""
        with self._changed:
            wanted = self._passes + 2  # one pass may have started before the caller's messages arrived
            return self._changed.wait_for(lambda: self._passes >= wanted, timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                counts = drain(
                    self.queue_url,
                    self.invoke,
                    batch_size=self.batch_size,
                    sqs=self.sqs,
                    retry_after=self.retry_after,
                )
            except Exception as exc:  # the embedded AWS stopping, ...: said once, tried again
                message = f"{type(exc).__name__}: {exc}"
                if message != self._last_error:
                    self._last_error = message
                    print(f"queue pump: {message}", file=sys.stderr)
                    traceback.print_exc(file=sys.stderr)
                self._stop.wait(self.poll_interval)
                continue
            with self._changed:
                for name, value in counts.items():
                    self.counts[name] += value
                if not counts["records"]:
                    self._passes += 1
                self._changed.notify_all()
            if counts["records"]:
                if self.log:
                    print(
                        f"queue pump: {counts['records']} record(s) in {counts['batches']} batch(es) → "
                        f"{self.consumer}, {counts['failed']} failed",
                        file=sys.stderr,
                    )
                continue  # more may be waiting: drain again before sleeping
            self._stop.wait(self.poll_interval)
