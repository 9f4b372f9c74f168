"""Webhook intake through the real WebhookFunction handler, on the embedded AWS.

What is proven here: a signed delivery becomes one queued WorkItem carrying its body byte for byte (archived
by DeliverFunction, a batch to an object); a repeat of it is queued as the same work (same idempotency key:
the delivery makes it a no-op, see test_order_to_invoice_flow); replays, tampering, bad bodies, unknown
connectors and oversize bodies are answered without queuing anything (and never with a 5xx); an AWS
failure is a 5xx; the FreshBooks handshake stores the verifier, and only a confirmed verifier signs
callbacks.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from invoice_relay.connector import ConnectorConfig
from invoice_relay.errors import PermanentError, TransientError
from invoice_relay.partners.freshbooks import callbacks
from invoice_relay.partners.freshbooks.target import FreshBooksTarget
from invoice_relay.pipeline import queue
from invoice_relay.pipeline.deliver_function import Batch
from invoice_relay.pipeline.services import services
from invoice_relay.pipeline.work import WorkItem
from invoice_relay.storage.state import ConnectorStore
from invoice_relay.storage.table import state_table
from invoice_relay.webhooks import intake
from local.runtime.template import load_template
from local.scenarios.sample_events import freshbooks_callback, shop_webhook
from local.scenarios.stack import LocalStack

CID = "shop-intake-test"
SECRET_NAME = f"invoice-relay/dev/{CID}/webhook"
VERIFIER_SECRET_NAME = f"invoice-relay/dev/{CID}/freshbooks-callbacks"
SECRET = "whsec_" + base64.b64encode(b"integration-test shop webhooks!!").decode()
VERIFIER = "fb-verifier-for-callback-3001"
ORDER = {
    "id": "ord_7001",
    "number": "7001",
    "orderDate": "2026-11-20T09:14:30.000-06:00",
    "currency": "USD",
    "customer": {"id": "cus_1", "email": "buyer@example.com", "firstName": "Bo", "lastName": "Buyer"},
    "lineItems": [{"sku": "MUG-12OZ", "name": "Mug", "quantity": 1, "unitPrice": "12.00", "taxRate": None}],
    "subtotal": "12.00",
    "taxTotal": "0.00",
    "total": "12.00",
    "status": "open",
    "paymentStatus": "pending",
    "updatedAt": "2026-11-20T15:14:30.000Z",
}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(seed_demo=False) as local:
        # The queue module caches its SQS client; a client made for an earlier stack points elsewhere.
        queue.sqs_client.cache_clear()
        local.aws.create_secret(SECRET_NAME, {"secrets": [SECRET]})
        config = ConnectorConfig.model_validate(
            {
                "connector_id": CID,
                "name": "Shop → FreshBooks (intake tests)",
                "source": {
                    "system": "shop",
                    "base_url": "http://127.0.0.1:9",
                    "credentials_secret": f"invoice-relay/dev/{CID}/shop",
                    "webhook_secret": SECRET_NAME,
                },
                "target": {
                    "system": "freshbooks",
                    "api_url": "http://127.0.0.1:9",
                    "auth_url": "http://127.0.0.1:9",
                    "account_id": "xZNQ1X",
                    "oauth_app_secret": f"invoice-relay/dev/{CID}/freshbooks-app",
                    "token_secret": f"invoice-relay/dev/{CID}/freshbooks-tokens",
                    "callback_verifier_secret": VERIFIER_SECRET_NAME,
                },
            }
        )
        ConnectorStore(state_table(local.table_name)).put(config)
        yield local


@pytest.fixture(autouse=True)
def empty_queue(stack: LocalStack) -> None:
    drain(stack)


def drain(stack: LocalStack) -> list[WorkItem]:
    """Every message on the delivery queue (deleted as read), as WorkItems."""
    sqs = stack.aws.client("sqs")
    url = stack.physical["DeliveryQueue"]
    items = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return items
        for message in messages:
            items.append(WorkItem.model_validate_json(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def post(stack: LocalStack, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = stack.invoke("WebhookFunction", event)
    return response["statusCode"], json.loads(response["body"])


def order_event(*, message_id: str | None = None, sent: dt.datetime | None = None, **kwargs: Any) -> dict:
    return shop_webhook(
        kwargs.pop("event_type", "order.created"),
        kwargs.pop("data", ORDER),
        message_id=message_id or f"msg_{uuid.uuid4().hex}",
        secret=kwargs.pop("secret", SECRET),
        sent=sent or dt.datetime.now(dt.UTC),
        connector_id=kwargs.pop("connector_id", CID),
    )


def archived(stack: LocalStack, delivery_id: str) -> list[str]:
    s3 = stack.aws.client("s3")
    listing = s3.list_objects_v2(Bucket=stack.bucket_name, Prefix=f"raw/{CID}/")
    return [o["Key"] for o in listing.get("Contents", []) if delivery_id in o["Key"]]


def raw_object(stack: LocalStack, key: str) -> bytes:
    return stack.aws.client("s3").get_object(Bucket=stack.bucket_name, Key=key)["Body"].read()


def store_verifiers(
    stack: LocalStack, verifiers: dict[str, str], pending: dict[str, str] | None = None
) -> None:
    stack.aws.create_secret(VERIFIER_SECRET_NAME, {"verifiers": verifiers, "pending": pending or {}})


def stored_verifiers(stack: LocalStack) -> dict[str, Any]:
    value = stack.aws.client("secretsmanager").get_secret_value(SecretId=VERIFIER_SECRET_NAME)
    return json.loads(value["SecretString"])


# ---------------------------------------------------------------------- the shop (Standard Webhooks)


def test_a_signed_order_is_queued_once_with_its_body_byte_for_byte(stack: LocalStack) -> None:
    event = order_event()
    delivery_id = event["headers"]["webhook-id"]

    status, body = post(stack, event)

    assert (status, body) == (202, {"status": "accepted", "delivery_id": delivery_id})
    (item,) = drain(stack)
    assert item.connector_id == CID
    assert (item.source_system, item.event_type) == ("shop", "order.created")
    assert (item.source_id, item.version) == ("ord_7001", "2026-11-20T15:14:30.000Z")
    assert item.delivery_id == delivery_id
    assert item.payload == ORDER
    # the body travels with its work; DeliverFunction archives the batch's bodies before delivering
    assert item.raw is not None and item.raw.text.encode("utf-8") == event["body"].encode("utf-8")
    assert item.raw.content_type == "application/json"
    assert item.raw_key is None and archived(stack, delivery_id) == []


def test_deliver_archives_the_bodies_of_a_batch_in_one_object_before_delivering(stack: LocalStack) -> None:
    events = [order_event() for _ in range(3)]
    for event in events:
        assert post(stack, event)[0] == 202
    items = drain(stack)
    batch = Batch()

    batch.begin([(f"m{n}", item.model_dump_json()) for n, item in enumerate(items)])

    keys = {item.raw_key for item in batch.items.values()}
    assert len(keys) == 1 and all(item.raw is None for item in batch.items.values())
    (key,) = keys
    assert key.startswith(f"raw/{CID}/webhooks/") and key.endswith(".jsonl")
    lines = [json.loads(line) for line in raw_object(stack, key).decode().splitlines()]
    by_delivery = {line["delivery_id"]: line for line in lines}
    for event in events:
        line = by_delivery[event["headers"]["webhook-id"]]
        assert line["body"].encode("utf-8") == event["body"].encode("utf-8")
        assert line["sha256"] == hashlib.sha256(event["body"].encode("utf-8")).hexdigest()
        assert (line["source_system"], line["content_type"]) == ("shop", "application/json")


def test_a_body_too_large_to_travel_with_its_work_is_archived_by_the_intake(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = order_event()
    delivery_id = event["headers"]["webhook-id"]
    post(stack, order_event())
    (sample,) = drain(stack)
    item_alone = len(sample.archived("x").model_dump_json().encode()) + 50
    assert len(sample.model_dump_json().encode()) > item_alone  # with its body it does not fit
    monkeypatch.setattr(intake, "MAX_MESSAGE_BYTES", item_alone)

    status, body = post(stack, event)

    assert (status, body["status"]) == (202, "accepted")
    (item,) = drain(stack)
    today = dt.datetime.now(dt.UTC)
    assert item.raw is None
    assert item.raw_key == f"raw/{CID}/shop/webhooks/{today:%Y/%m/%d}/{delivery_id}.json"
    stored = stack.aws.client("s3").get_object(Bucket=stack.bucket_name, Key=item.raw_key)
    assert stored["Body"].read() == event["body"].encode("utf-8")
    assert stored["ContentType"] == "application/json"


@pytest.mark.parametrize(
    ("event_type", "data", "source_id", "version"),
    [
        ("customer.updated", {"id": "cus_9", "email": "a@example.com", "updatedAt": "2026-11-20T10:00:00Z"},
         "cus_9", "2026-11-20T10:00:00Z"),
        ("payment.captured", {"id": "pay_9", "orderId": "ord_7001", "capturedAt": "2026-11-20T10:05:00Z"},
         "pay_9", "2026-11-20T10:05:00Z"),
    ],
)  # fmt: skip
def test_every_shop_event_type_becomes_its_work_item(
    stack: LocalStack, event_type: str, data: dict, source_id: str, version: str
) -> None:
    status, body = post(stack, order_event(event_type=event_type, data=data))

    assert (status, body["status"]) == (202, "accepted")
    (item,) = drain(stack)
    assert (item.event_type, item.source_id, item.version, item.payload) == (
        event_type,
        source_id,
        version,
        data,
    )


def test_the_same_delivery_three_times_is_queued_as_the_same_work(stack: LocalStack) -> None:
    # No ledger of delivery ids: the delivery's idempotency key (record and version) makes the copies one.
    event = order_event()

    answers = [post(stack, event) for _ in range(3)]

    assert [(status, body["status"]) for status, body in answers] == [(202, "accepted")] * 3
    items = drain(stack)
    assert len(items) == 3 and len({(i.work_key, i.connector_id) for i in items}) == 1


def test_a_redelivery_signed_again_later_is_the_same_work(stack: LocalStack) -> None:
    # A sender's retry carries the same webhook-id with a new timestamp and signature.
    now = dt.datetime.now(dt.UTC)
    first = order_event(message_id="msg_retry_1", sent=now - dt.timedelta(minutes=3))
    retry = order_event(message_id="msg_retry_1", sent=now)

    assert post(stack, first)[1]["status"] == "accepted"
    assert post(stack, retry)[1]["status"] == "accepted"
    one, two = drain(stack)
    assert one.work_key == two.work_key


def test_a_replayed_delivery_with_an_old_timestamp_is_rejected(stack: LocalStack) -> None:
    event = order_event(sent=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6))

    status, body = post(stack, event)

    assert status == 401
    assert body["status"] == "rejected" and "tolerance" in body["reason"]
    assert drain(stack) == []
    assert archived(stack, event["headers"]["webhook-id"]) == []


def test_a_tampered_delivery_is_rejected(stack: LocalStack) -> None:
    event = order_event()
    event["body"] = event["body"].replace('"12.00"', '"0.01"')

    status, body = post(stack, event)

    assert (status, body["status"]) == (401, "rejected")
    assert "no signature matches" in body["reason"]
    assert drain(stack) == []
    assert archived(stack, event["headers"]["webhook-id"]) == []


def test_a_delivery_without_signature_headers_is_rejected(stack: LocalStack) -> None:
    event = order_event()
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        del event["headers"][name]

    status, body = post(stack, event)

    assert (status, body["reason"]) == (401, "missing header webhook-id")
    assert drain(stack) == []


def test_a_delivery_signed_with_a_wrong_secret_is_rejected(stack: LocalStack) -> None:
    other = "whsec_" + base64.b64encode(b"someone else's secret, 32 bytes!").decode()

    status, _ = post(stack, order_event(secret=other))

    assert status == 401
    assert drain(stack) == []


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"type": "order.created", "data": {', "body is not valid JSON"),
        (b"\xff\xfe not utf-8", "body is not valid JSON"),
        (b'["order.created"]', "body is not a JSON object"),
        (b'{"data": {"id": "ord_1"}}', "'type' must be a non-empty string"),
        (b'{"type": "order.created", "data": "ord_1"}', "'data' must be an object"),
        (b'{"type": "order.created", "data": {"number": "7001"}}', "has no id"),
    ],
)
def test_a_validly_signed_but_unusable_body_is_a_400(stack: LocalStack, raw: bytes, reason: str) -> None:
    event = signed_raw(raw)

    status, body = post(stack, event)

    assert status == 400
    assert body["status"] == "rejected" and reason in body["reason"]
    assert drain(stack) == []


def signed_raw(raw: bytes) -> dict[str, Any]:
    """A delivery whose body is exactly `raw` (base64 in the API event, as for a binary body)."""
    from invoice_relay.webhooks import standard

    event = order_event()
    headers = standard.sign(raw, SECRET, message_id=f"msg_{uuid.uuid4().hex}")
    for name, value in headers.items():
        event["headers"][name] = value
    event["body"] = base64.b64encode(raw).decode()
    event["isBase64Encoded"] = True
    return event


def test_a_base64_encoded_body_is_verified_and_archived_as_the_decoded_bytes(stack: LocalStack) -> None:
    raw = json.dumps({"type": "order.created", "timestamp": "2026-11-20T15:15:00Z", "data": ORDER}).encode()
    event = signed_raw(raw)

    status, body = post(stack, event)

    assert (status, body["status"]) == (202, "accepted")
    (item,) = drain(stack)
    assert item.raw is not None and item.raw.text.encode("utf-8") == raw


def test_an_unknown_connector_is_a_404(stack: LocalStack) -> None:
    for connector_id in ("no-such-connector", "Not_A_Valid_Id", "x" * 300):
        event = order_event(connector_id=connector_id)

        status, body = post(stack, event)

        assert status == 404, connector_id
        assert body["status"] == "rejected" and "unknown connector" in body["reason"]
    assert drain(stack) == []


def test_an_oversize_body_is_a_413_before_anything_else(stack: LocalStack) -> None:
    big = {**ORDER, "note": "x" * intake.DEFAULT_MAX_BODY_BYTES}
    event = order_event(data=big, connector_id="no-such-connector")

    status, body = post(stack, event)

    assert status == 413
    assert "limit is 262144" in body["reason"]
    assert drain(stack) == []


def test_an_event_just_under_the_size_limit_that_cannot_be_queued_is_a_413(stack: LocalStack) -> None:
    # The WorkItem (payload plus envelope) would exceed what SQS takes: retrying cannot help, so no 5xx.
    filler = intake.DEFAULT_MAX_BODY_BYTES - len(order_event()["body"]) - 200
    event = order_event(data={**ORDER, "note": "x" * filler})
    assert intake.DEFAULT_MAX_BODY_BYTES - 400 < len(event["body"]) <= intake.DEFAULT_MAX_BODY_BYTES

    status, body = post(stack, event)

    assert (status, body["reason"]) == (413, "the event is too large to queue")
    assert drain(stack) == []
    assert archived(stack, event["headers"]["webhook-id"]) == []  # what is refused is not kept


def test_an_unknown_event_type_is_archived_and_ignored(stack: LocalStack) -> None:
    event = order_event(event_type="order.fulfilled", data={"id": "ord_7001"})
    delivery_id = event["headers"]["webhook-id"]

    status, body = post(stack, event)

    assert (status, body) == (
        202,
        {"status": "ignored", "delivery_id": delivery_id, "event_type": "order.fulfilled"},
    )
    assert drain(stack) == []
    assert len(archived(stack, delivery_id)) == 1


def test_a_rotated_secret_is_picked_up_without_waiting_for_the_cache(stack: LocalStack) -> None:
    new_secret = "whsec_" + base64.b64encode(b"the shop's rotated webhook key!!").decode()
    assert post(stack, order_event())[0] == 202  # the old secret is now cached
    stack.aws.create_secret(SECRET_NAME, {"secrets": [SECRET, new_secret]})
    try:
        status, _ = post(stack, order_event(secret=new_secret))
    finally:
        stack.aws.create_secret(SECRET_NAME, {"secrets": [SECRET]})

    assert status == 202
    assert len(drain(stack)) == 2


# ---------------------------------------------------------------------- bounds: hostile but authentic bodies


def envelope_with(raw_data: bytes) -> bytes:
    """A Standard Webhooks envelope whose `data` is exactly the JSON text `raw_data`."""
    return b'{"type":"order.created","timestamp":"2026-11-20T15:15:00Z","data":' + raw_data + b"}"


def order_json(**changes: Any) -> bytes:
    return json.dumps({**ORDER, **changes}).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (envelope_with(b"[" * 40 + b"]" * 40), "body is nested deeper than 32 levels"),
        (envelope_with(b'{"a":' * 40_000 + b"1" + b"}" * 40_000), "body is nested deeper than 32 levels"),
        (envelope_with(order_json(id="@@").replace(b'"@@"', b'"\\ud800"')),
         "body has text that is not valid Unicode (a lone surrogate) at data.id"),
        (envelope_with(order_json(note="@@").replace(b'"@@"', b'{"\\udfff": 1}')),
         "body has a key that is not valid Unicode (a lone surrogate) at data.note"),
        (envelope_with(order_json(total="@@").replace(b'"@@"', b"NaN")),
         "body is not valid JSON: NaN is not a JSON number"),
        (envelope_with(order_json(total="@@").replace(b'"@@"', b"-Infinity")),
         "-Infinity is not a JSON number"),
        (envelope_with(order_json(total="@@").replace(b'"@@"', b"1e400")),
         "body has a number that is out of range"),
        (envelope_with(order_json(total="@@").replace(b'"@@"', b"1" * 5000)),
         "body has an integer of more than 32 digits"),
        (envelope_with(order_json(id="x" * 2049)), "shop order 7001: id 'xxxxx"),
        (envelope_with(order_json(id="ord\x00")), "contains a control character"),
        (envelope_with(order_json(updatedAt="u" * 201)), "updatedAt 'uuuu"),
        (envelope_with(order_json(updatedAt=["2026-11-20"])), "shop order 7001 has no updatedAt"),
        (b'{"type":"' + b"t" * 300 + b'","data":{}}', "'type' is longer than 200 characters"),
        (b'{"type":"order.\\u0000created","data":{}}', "'type' contains a control character"),
        (b'{"type":12,"data":{}}', "'type' must be a non-empty string"),
        (b"", "body is not valid JSON"),
    ],
)  # fmt: skip
def test_an_authentic_body_beyond_the_bounds_is_a_400_with_the_reason(
    stack: LocalStack, raw: bytes, reason: str
) -> None:
    status, body = post(stack, signed_raw(raw))

    assert (status, body["status"]) == (400, "rejected")
    assert reason in body["reason"]
    assert len(body["reason"]) <= 500
    assert drain(stack) == []


def test_an_amount_beyond_the_money_bounds_passes_the_intake_for_the_delivery_to_fail(
    stack: LocalStack,
) -> None:
    # 1e30 is a finite JSON number: the intake queues it, and its delivery fails it with the reason.
    status, body = post(stack, order_event(data={**ORDER, "total": 1e30}))

    assert (status, body["status"]) == (202, "accepted")
    (item,) = drain(stack)
    assert item.payload["total"] == 1e30


def test_a_freshbooks_callback_with_an_object_id_that_cannot_be_a_key_is_a_400(stack: LocalStack) -> None:
    store_verifiers(stack, {"3001": VERIFIER})

    for object_id in ("9" * 201, "55\x005"):
        status, body = post(stack, payment_callback(object_id))

        assert (status, body["status"]) == (400, "rejected"), object_id
        assert body["reason"].startswith("the record id ")
    assert drain(stack) == []


def test_a_decoding_error_out_of_a_senders_verify_is_a_400(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Senders check the signature before reading the body: what escapes their parsing is the body's fault.
    from invoice_relay.partners.shop.source import ShopSource

    def unreadable(self: Any, headers: Any, body: bytes, now: Any) -> Any:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setattr(ShopSource, "verify", unreadable)
    status, body = post(stack, order_event())

    assert (status, body) == (
        400,
        {"status": "rejected", "reason": "the body cannot be read as a shop event"},
    )


def test_an_unexpected_exception_is_a_500_internal_error_never_an_unhandled_502(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from invoice_relay.partners.shop.source import ShopSource

    def bug(self: Any, headers: Any, body: bytes, now: Any) -> Any:
        raise KeyError("a bug of ours")

    monkeypatch.setattr(ShopSource, "verify", bug)
    status, body = post(stack, order_event())

    assert (status, body) == (500, {"status": "error", "reason": "internal error"})
    assert drain(stack) == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({1: "a key that is not text"}, "the event cannot be queued: payload.1.[key]: "),
        ({"unserialisable": object()}, "the event cannot be queued: its data does not serialise as JSON"),
    ],
)
def test_an_event_that_cannot_become_a_work_item_is_a_400(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, payload: dict, reason: str
) -> None:
    # A sender handing over a delivery the WorkItem model refuses: answered, never raised.
    from invoice_relay.partners.capabilities import WebhookDelivery, WorkRef
    from invoice_relay.partners.shop.source import ShopSource

    def odd(self: Any, headers: Any, body: bytes, now: Any) -> WebhookDelivery:
        return WebhookDelivery(
            delivery_id=f"msg_{uuid.uuid4().hex}",
            event_type="order.created",
            work=WorkRef(source_id="ord_1", version="v1"),
            payload=payload,
        )

    monkeypatch.setattr(ShopSource, "verify", odd)
    status, body = post(stack, order_event())

    assert (status, body["status"]) == (400, "rejected")
    assert body["reason"].startswith(reason)
    assert drain(stack) == []


# ---------------------------------------------------------------------- AWS failures: 5xx, then a clean retry


def aws_error(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "try again"}}, operation)


def test_a_queue_failure_is_a_503_and_the_retry_is_not_a_duplicate(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = order_event()

    def unavailable(*args: Any, **kwargs: Any) -> str:
        raise aws_error("SendMessage")

    with monkeypatch.context() as patch:
        patch.setattr(services().queue, "send", unavailable)
        status, body = post(stack, event)

    assert (status, body["status"]) == (503, "error")
    assert drain(stack) == []

    status, body = post(stack, event)  # the sender retries

    assert (status, body["status"]) == (202, "accepted")
    assert len(drain(stack)) == 1


def test_an_archive_failure_of_an_ignored_event_is_a_503(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = order_event(event_type="order.fulfilled", data={"id": "ord_7001"})

    def unavailable(*args: Any, **kwargs: Any) -> str:
        raise aws_error("PutObject")

    with monkeypatch.context() as patch:
        patch.setattr(services().bucket, "put_with_digest", unavailable)
        status, _ = post(stack, event)

    assert status == 503
    assert post(stack, event)[1]["status"] == "ignored"
    assert len(archived(stack, event["headers"]["webhook-id"])) == 1


# ---------------------------------------------------------------------- FreshBooks callbacks


def handshake(callback_id: str, verifier: str) -> dict[str, Any]:
    fields = {
        "name": "callback.verify",
        "object_id": callback_id,
        "verifier": verifier,
        "account_id": "xZNQ1X",
    }
    return freshbooks_callback(fields, verifier=None, connector_id=CID)


def payment_callback(payment_id: str, verifier: str = VERIFIER) -> dict[str, Any]:
    fields = {"name": "payment.create", "object_id": payment_id, "account_id": "xZNQ1X", "user_id": "1"}
    return freshbooks_callback(fields, verifier=verifier, connector_id=CID)


class FakeFreshBooksTarget:
    """Stands in for the FreshBooks target whose client confirms a handshake."""

    def __init__(self, refuse: bool | str = False):
        self.refuse = refuse
        self.confirmed: list[tuple[str, str]] = []
        self.client = self

    def verify_callback(self, callback_id: str, verifier: str) -> dict[str, Any]:
        if self.refuse == "unreachable":
            raise TransientError("FreshBooks timed out", partner="freshbooks")
        if self.refuse:
            raise PermanentError("FreshBooks: verifier does not match", partner="freshbooks", status=422)
        self.confirmed.append((callback_id, verifier))
        return {"callbackid": int(callback_id), "verified": True}

    def close(self) -> None:
        pass


def use_target(monkeypatch: pytest.MonkeyPatch, fake: FakeFreshBooksTarget) -> FakeFreshBooksTarget:
    """The FreshBooks callbacks of the connector confirm handshakes through `fake`."""
    monkeypatch.setattr(FreshBooksTarget, "from_config", classmethod(lambda cls, *args, **kwargs: fake))
    return fake


def test_the_freshbooks_handshake_confirms_and_stores_the_verifier(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_verifiers(stack, {})
    fake = use_target(monkeypatch, FakeFreshBooksTarget())

    status, body = post(stack, handshake("3001", VERIFIER))

    assert (status, body) == (200, {"status": "verified", "callback_id": "3001"})
    assert fake.confirmed == [("3001", VERIFIER)]
    assert stored_verifiers(stack) == {"verifiers": {"3001": VERIFIER}, "pending": {}}
    assert drain(stack) == []
    # The handshake body holds a secret: it is never archived.
    assert not any(VERIFIER.encode() in raw_object(stack, key) for key in archived(stack, ""))

    status, body = post(stack, payment_callback("987654"))  # now signed callbacks count

    assert (status, body["status"]) == (202, "accepted")
    (item,) = drain(stack)
    assert (item.source_system, item.event_type, item.source_id) == ("freshbooks", "payment.create", "987654")
    assert item.payload["account_id"] == "xZNQ1X"
    assert item.raw is not None and item.raw.content_type == "application/x-www-form-urlencoded"


def test_a_handshake_freshbooks_refuses_leaves_the_verifier_pending(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Anybody can post a callback.verify: its verifier must not sign anything until FreshBooks accepts it.
    store_verifiers(stack, {"3001": VERIFIER})
    use_target(monkeypatch, FakeFreshBooksTarget(refuse=True))

    status, body = post(stack, handshake("3002", "forged-verifier"))

    assert (status, body["status"]) == (401, "rejected")
    assert stored_verifiers(stack) == {
        "verifiers": {"3001": VERIFIER},
        "pending": {"3002": "forged-verifier"},
    }
    status, _ = post(stack, payment_callback("111", verifier="forged-verifier"))
    assert status == 401
    assert drain(stack) == []


def test_a_handshake_that_cannot_be_confirmed_yet_stores_the_verifier_as_pending(stack: LocalStack) -> None:
    # The real adapter, but the connector has no FreshBooks tokens yet: our side, so a 5xx (FreshBooks
    # resends the verification), and the verifier waits as pending.
    store_verifiers(stack, {})

    status, body = post(stack, handshake("3003", "verifier-3003"))

    assert status == 500 and body["status"] == "error"
    assert stored_verifiers(stack) == {"verifiers": {}, "pending": {"3003": "verifier-3003"}}


def test_a_freshbooks_callback_is_queued_as_one_work_and_tampering_is_rejected(stack: LocalStack) -> None:
    store_verifiers(stack, {"3001": VERIFIER})
    event = payment_callback("555")

    answers = [post(stack, event)[1]["status"] for _ in range(2)]
    tampered = payment_callback("556")
    # HTTP API events: the form body is base64, header names are lower-cased
    tampered["body"] = base64.b64encode(base64.b64decode(tampered["body"]).replace(b"556", b"557")).decode()
    unsigned = payment_callback("558")
    del unsigned["headers"]["x-freshbooks-hmac-sha256"]

    assert answers == ["accepted", "accepted"]  # the same work twice (one idempotency key)
    assert post(stack, tampered)[0] == 401
    assert post(stack, unsigned) == (
        401,
        {"status": "rejected", "reason": "missing header X-FreshBooks-Hmac-SHA256"},
    )
    first, second = drain(stack)
    assert first.source_id == second.source_id == "555" and first.work_key == second.work_key


def test_an_unrouted_freshbooks_event_is_archived_and_ignored(stack: LocalStack) -> None:
    store_verifiers(stack, {"3001": VERIFIER})
    fields = {"name": "estimate.create", "object_id": "42", "account_id": "xZNQ1X"}

    status, body = post(stack, freshbooks_callback(fields, verifier=VERIFIER, connector_id=CID))

    assert (status, body["status"]) == (202, "ignored")
    assert len(archived(stack, body["delivery_id"])) == 1
    assert drain(stack) == []


def test_a_handshake_freshbooks_cannot_be_reached_for_is_a_503(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_verifiers(stack, {})
    use_target(monkeypatch, FakeFreshBooksTarget(refuse="unreachable"))

    status, body = post(stack, handshake("3005", "verifier-3005"))

    assert (status, body["status"]) == (503, "error")
    assert stored_verifiers(stack) == {"verifiers": {}, "pending": {"3005": "verifier-3005"}}


def test_forged_handshakes_cannot_grow_the_verifier_secret(stack: LocalStack) -> None:
    store_verifiers(stack, {"3001": VERIFIER})
    store = callbacks.CallbackVerifiers(VERIFIER_SECRET_NAME, client=stack.aws.client("secretsmanager"))

    for callback_id in range(5000, 5000 + callbacks.MAX_PENDING + 5):
        store.add_pending(str(callback_id), f"forged-{callback_id}")

    stored = stored_verifiers(stack)
    assert stored["verifiers"] == {"3001": VERIFIER}  # confirmed ones are never pushed out
    assert list(stored["pending"]) == [str(i) for i in range(5005, 5015)]
    assert store.confirm("5014") and not store.confirm("5000")
    assert stored_verifiers(stack)["verifiers"] == {"3001": VERIFIER, "5014": "forged-5014"}


# ---------------------------------------------------------------------- the outcome line and its metric


def test_every_request_leaves_one_outcome_line_that_the_template_counts(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = load_template()
    lines: list[tuple[str, dict[str, Any]]] = []

    class Capture:
        def info(self, message: str, extra: dict[str, Any]) -> None:
            lines.append((message, extra))

        warning = info

    monkeypatch.setattr(intake, "logger", Capture())
    accepted = post(stack, order_event())[1]
    post(
        stack, order_event(secret="whsec_" + base64.b64encode(b"not the secret of this connector!").decode())
    )
    post(stack, order_event(connector_id="no-such-connector"))

    assert [message for message, _ in lines] == ["webhook accepted", "webhook rejected", "webhook rejected"]
    (_, extra), (_, refused), (_, unknown) = lines
    assert (extra["webhook_status"], extra["status_code"], extra["metric_connector"]) == (
        "accepted",
        202,
        CID,
    )
    assert extra["delivery_id"] == accepted["delivery_id"] and extra["message_id"] and extra["source_id"]
    assert (refused["webhook_status"], refused["status_code"], refused["metric_connector"]) == (
        "rejected",
        401,
        CID,
    )
    assert refused["reason"]
    assert unknown["metric_connector"] == "unknown"  # a guessed id never becomes a metric dimension
    # the metric filter reads exactly these fields
    (metric_filter,) = [
        r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Logs::MetricFilter"
    ]
    assert metric_filter["FilterPattern"] == '{ $.webhook_status = "*" }'
    (transformation,) = metric_filter["MetricTransformations"]
    assert {d["Key"]: d["Value"] for d in transformation["Dimensions"]} == {
        "connector": "$.metric_connector",
        "status": "$.webhook_status",
    }
