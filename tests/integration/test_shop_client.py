"""The shop client and adapter against the sandbox shop over real HTTP, and the sandbox's signed webhooks."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
from decimal import Decimal

import pytest
import requests
from flask import Response, request

from invoice_relay.connector import ShopSourceConfig
from invoice_relay.connectors.shop import ShopAdapter, ShopClient
from invoice_relay.errors import AuthenticationError, ConfigurationError, PermanentError, TransientError
from invoice_relay.http import partner_session
from local.sandboxes.base import REDACTED, SandboxServer
from local.sandboxes.shop import SANDBOX_API_KEY, SANDBOX_WEBHOOK_SECRET, UNKNOWN_SKU, ShopSandbox

PRODUCT_STAMPS = [  # the demo catalogue, oldest change first
    ("TEE-BLK-M", "2026-10-01T15:00:00Z"),
    ("TEE-WHT-L", "2026-10-01T15:00:05Z"),
    ("HOOD-GRY-M", "2026-10-03T09:30:00Z"),
    ("MUG-12OZ", "2026-10-07T12:00:00Z"),
    ("CAP-NVY", "2026-10-12T08:15:00Z"),
    ("SOCK-3PK", "2026-10-20T17:45:00Z"),
    ("TOTE-NAT", "2026-10-28T10:00:00Z"),
    ("BOTTLE-750", "2026-11-02T14:20:00Z"),
    ("GIFT-25", "2026-11-05T16:00:00Z"),
    ("SHIP-STD", "2026-11-09T11:10:00Z"),
]


def fast_session() -> requests.Session:
    """The production retry policy with tiny waits (Retry-After up to 2 s is still honoured)."""
    return partner_session(partner="shop", backoff_factor=0.01, backoff_jitter=0, backoff_max=2)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def server():
    with ShopSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def shop(server):
    server.reset()
    server.set_rate_limit(None)
    return server


@pytest.fixture
def client(shop):
    with ShopClient(shop.base_url, shop.api_key, session=fast_session(), page_size=3) as shop_client:
        yield shop_client


def config(shop: ShopSandbox) -> ShopSourceConfig:
    return ShopSourceConfig(
        system="shop",
        base_url=shop.base_url,
        credentials_secret="invoice-relay/dev/shop-demo",
        webhook_secret="invoice-relay/dev/shop-demo-webhooks",
    )


# -- auth and errors -------------------------------------------------------------------------------------


def test_api_key_is_required(shop):
    anonymous = requests.get(f"{shop.base_url}/v1/orders/ord_2001", timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json() == {"error": {"code": "unauthorized", "message": "Missing or invalid API key"}}

    with (
        ShopClient(shop.base_url, "wrong-key", session=fast_session()) as wrong,
        pytest.raises(AuthenticationError) as caught,
    ):
        wrong.order("ord_2001")
    assert caught.value.status == 401
    assert "wrong-key" not in caught.value.reason
    assert "Missing or invalid API key" in caught.value.reason


def test_api_key_travels_in_its_header_and_is_redacted_in_the_log(shop, client):
    client.order("ord_2001")
    (logged,) = shop.find_requests("GET", "/v1/orders/ord_2001")
    assert logged["headers"]["X-Api-Key"] == REDACTED
    assert logged["status"] == 200


def test_adapter_from_config_fetches_and_maps(shop):
    with ShopAdapter.from_config(config(shop), {"api_key": SANDBOX_API_KEY}) as adapter:
        document, raw = adapter.fetch_order(shop.demo.unknown_sku_order_id)
        assert document.number == "1005" and raw["id"] == "ord_2005"
        assert UNKNOWN_SKU in [line.sku for line in document.lines]
        assert document.totals.total == Decimal("53.50")

        customer, _ = adapter.fetch_customer("cus_103")
        assert (customer.organization, customer.email) == (
            "Lone Star Coffee Roasters",
            "ap@lonestarcoffee.example",
        )

        payment, raw_payment = adapter.fetch_payment(shop.demo.payment_by_order["ord_2004"])
        assert raw_payment["orderId"] == "ord_2004"
        assert (payment.document_number, payment.amount, payment.date) == (
            "1004",
            Decimal("45.40"),
            dt.date(2026, 11, 17),
        )


def test_adapter_from_config_names_a_missing_key_without_values(shop):
    with pytest.raises(ConfigurationError, match="api_key"):
        ShopAdapter.from_config(config(shop), {"apikey": "typo-sandbox-key"})
    with pytest.raises(ConfigurationError) as caught:
        ShopAdapter.from_config(config(shop), {"api_key": "   "})
    assert "   " not in caught.value.reason.replace("api_key", "")


def test_mapping_error_of_a_fetched_order_carries_the_payload(shop):
    broken = shop.add_order({**shop.order("ord_2001"), "id": "ord_broken", "number": "1999", "total": "1.00"})
    with (
        ShopAdapter.from_config(config(shop), {"api_key": SANDBOX_API_KEY}) as adapter,
        pytest.raises(PermanentError) as caught,
    ):
        adapter.fetch_order("ord_broken")
    assert "shop order 1999: totals do not match lines: total 1.00" in caught.value.reason
    assert caught.value.raw == broken


def test_unknown_order_is_permanent_with_status_404(client):
    with pytest.raises(PermanentError) as caught:
        client.order("ord_9999")
    assert caught.value.status == 404
    assert "Order ord_9999 not found" in caught.value.reason


def test_429_with_retry_after_then_success(shop, client):
    shop.inject_fault(method="GET", path="/v1/orders/ord_2002", status=429, retry_after=1)
    assert client.order("ord_2002")["number"] == "1002"
    assert [r["status"] for r in shop.find_requests("GET", "/v1/orders/ord_2002")] == [429, 200]


def test_rate_limit_then_success(shop, client):
    shop.set_rate_limit(2)
    skus = [p["sku"] for p in client.products()]  # 4 pages at 2 a second: some are answered 429 first
    assert skus == [sku for sku, _ in PRODUCT_STAMPS]
    assert any(r.get("rate_limited") for r in shop.requests)


def test_an_outage_that_outlasts_the_retries_is_transient(shop, client):
    shop.inject_fault(method="GET", path="/v1/customers/cus_101", status=503, times=10)
    with pytest.raises(TransientError) as caught:
        client.customer("cus_101")
    assert caught.value.status == 503


# -- products: keyset pages, updatedSince ----------------------------------------------------------------


def test_products_page_by_cursor_oldest_change_first(shop, client):
    products = list(client.products())
    assert [(p["sku"], p["updatedAt"]) for p in products] == PRODUCT_STAMPS
    listing = shop.find_requests("GET", "/v1/products")
    assert len(listing) == 4  # 3 + 3 + 3 + 1
    assert "cursor" not in listing[0]["query"]
    assert all(r["query"]["limit"] == "3" and r["query"]["cursor"] for r in listing[1:])


def test_products_updated_since_is_inclusive(client):
    since = utc("2026-11-02T14:20:00Z")  # BOTTLE-750's updatedAt, to the second
    assert [p["sku"] for p in client.products(updated_since=since)] == ["BOTTLE-750", "GIFT-25", "SHIP-STD"]
    local_time = since.astimezone(dt.timezone(dt.timedelta(hours=-6)))
    assert next(client.products(updated_since=local_time))["sku"] == "BOTTLE-750"
    assert list(client.products(updated_since=utc("2027-01-01T00:00:00Z"))) == []


def test_a_changed_product_comes_after_everything_already_synced(shop, client):
    newest = max(utc(stamp) for _, stamp in PRODUCT_STAMPS)
    changed = shop.update_product("MUG-12OZ", price="17.25")
    assert utc(changed["updatedAt"]) > newest
    assert [(p["sku"], p["price"]) for p in client.products(updated_since=utc(changed["updatedAt"]))] == [
        ("MUG-12OZ", "17.25")
    ]


def test_a_product_changed_during_the_walk_is_not_skipped(shop, client):
    seen = []
    for product in client.products():
        seen.append(product["sku"])
        if len(seen) == 1:
            shop.update_product(product["sku"], name="Organic cotton tee (new cut)")
    # With page numbers the change would shift every product up by one and one would be skipped; with a
    # keyset cursor the changed product is listed again at its new place and nothing is missed.
    assert set(seen) == {sku for sku, _ in PRODUCT_STAMPS}
    assert seen == [sku for sku, _ in PRODUCT_STAMPS] + ["TEE-BLK-M"]


def test_updated_since_must_be_timezone_aware(client):
    with pytest.raises(ValueError, match="timezone-aware"):
        list(client.products(updated_since=dt.datetime(2026, 11, 1)))


# -- mark paid (FreshBooks invoice.paid → shop) ----------------------------------------------------------


def test_mark_order_paid_then_again_is_a_no_op(shop, client):
    order_id = shop.demo.open_order_ids[0]
    paid_at = dt.datetime(2026, 11, 20, 15, 30, tzinfo=dt.UTC)
    order = client.mark_order_paid(order_id, paid_at=paid_at, reference="freshbooks-invoice-731")
    assert (order["status"], order["paymentStatus"]) == ("paid", "paid")
    assert (order["paidAt"], order["paymentReference"]) == (
        "2026-11-20T15:30:00.000Z",
        "freshbooks-invoice-731",
    )
    assert shop.order(order_id) == order

    again = client.mark_order_paid(
        order_id, paid_at="2026-11-21T09:00:00+00:00", reference="freshbooks-invoice-731"
    )
    assert again == order  # unchanged: same paidAt, same updatedAt
    assert len(shop.find_requests("POST", rf"/v1/orders/{order_id}/mark-paid")) == 1
    assert shop.payments() == [shop.payment(p) for p in sorted(shop.demo.payment_ids)]  # no payment created


def test_mark_paid_on_an_order_paid_at_checkout_changes_nothing(shop, client):
    order_id = shop.demo.paid_order_ids[0]
    before = shop.order(order_id)
    assert client.mark_order_paid(order_id, paid_at="2026-11-20T12:00:00Z", reference=None) == before
    assert shop.find_requests("POST") == []


def test_mark_paid_race_lost_to_another_payment_is_not_an_error(shop, client):
    order_id = shop.demo.open_order_ids[1]
    shop.inject_fault(
        method="POST",
        path=rf"/v1/orders/{order_id}/mark-paid",
        status=409,
        body={"error": {"code": "order_already_paid", "message": f"Order {order_id} is already paid"}},
    )
    order = client.mark_order_paid(order_id, paid_at="2026-11-20T12:00:00Z", reference="freshbooks-invoice-9")
    assert order["id"] == order_id
    assert [r["method"] for r in shop.find_requests(path=rf"/v1/orders/{order_id}.*")] == [
        "GET",
        "POST",
        "GET",
    ]


def test_mark_paid_on_a_cancelled_order_is_permanent(shop, client):
    shop.add_order({**shop.order("ord_2003"), "id": "ord_cancelled", "status": "cancelled"})
    with pytest.raises(PermanentError) as caught:
        client.mark_order_paid("ord_cancelled", paid_at="2026-11-20T12:00:00Z", reference="x")
    assert caught.value.status == 409
    assert "Order ord_cancelled is cancelled" in caught.value.reason


def test_mark_paid_needs_an_aware_paid_at(client):
    with pytest.raises(ValueError, match="timezone-aware"):
        client.mark_order_paid("ord_2003", paid_at="2026-11-20T12:00:00", reference=None)
    with pytest.raises(ValueError, match="not an ISO 8601"):
        client.mark_order_paid("ord_2003", paid_at="yesterday", reference=None)


def test_capture_payment_pays_an_open_order(shop, client):
    order_id = shop.demo.open_order_ids[2]
    payment = shop.capture_payment(order_id, method="bank_transfer")
    assert (payment["orderId"], payment["amount"], payment["status"]) == (
        order_id,
        shop.order(order_id)["total"],
        "captured",
    )
    assert client.payment(payment["id"]) == payment
    assert client.order(order_id)["status"] == "paid"


# -- webhooks (Standard Webhooks signing) ----------------------------------------------------------------


class HookReceiver(SandboxServer):
    """Our side of the webhook: records each delivery's headers and raw body, answers 202."""

    name = "hook-receiver"

    def __init__(self):
        super().__init__()
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self._received = threading.Lock()
        self.app.add_url_rule("/webhooks/demo-shop", view_func=self._receive, methods=["POST"])

    def _receive(self) -> Response:
        with self._received:
            self.deliveries.append(({k.lower(): v for k, v in request.headers.items()}, request.get_data()))
        return Response('{"accepted": true}', status=202, content_type="application/json")


@pytest.fixture(scope="module")
def receiver_server():
    with HookReceiver() as receiver:
        yield receiver


@pytest.fixture
def receiver(receiver_server, shop):
    receiver_server.deliveries.clear()
    shop.subscribe(f"{receiver_server.base_url}/webhooks/demo-shop")
    return receiver_server


def expected_signature(secret: str, headers: dict[str, str], body: bytes) -> str:
    """Standard Webhooks v1, computed here from the spec rather than with the sandbox's signer."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def test_order_created_is_signed_per_standard_webhooks(shop, receiver):
    (response,) = shop.emit_order_created("ord_2001")
    assert response.status_code == 202

    ((headers, body),) = receiver.deliveries
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"].startswith("msg_")
    assert abs(int(headers["webhook-timestamp"]) - dt.datetime.now(dt.UTC).timestamp()) < 60
    assert hmac.compare_digest(
        headers["webhook-signature"], expected_signature(SANDBOX_WEBHOOK_SECRET, headers, body)
    )
    payload = json.loads(body)
    assert payload["type"] == "order.created"
    assert dt.datetime.fromisoformat(payload["timestamp"]).timestamp() == int(headers["webhook-timestamp"])
    assert payload["data"] == shop.order("ord_2001")


def test_customer_updated_and_payment_captured_carry_the_current_records(shop, receiver):
    updated = shop.update_customer("cus_102", email="james.whitfield@example.net")
    shop.emit_customer_updated("cus_102")
    shop.emit_payment_captured(shop.demo.payment_by_order["ord_2002"])
    (customer_headers, customer_body), (payment_headers, payment_body) = receiver.deliveries
    customer_event, payment_event = json.loads(customer_body), json.loads(payment_body)
    assert customer_event["type"] == "customer.updated"
    assert customer_event["data"] == updated
    assert customer_event["data"]["updatedAt"] > "2026-10-02T09:05:00Z"
    assert payment_event["type"] == "payment.captured"
    assert payment_event["data"]["orderId"] == "ord_2002"
    assert customer_headers["webhook-id"] != payment_headers["webhook-id"]
    for headers, body in receiver.deliveries:
        assert headers["webhook-signature"] == expected_signature(SANDBOX_WEBHOOK_SECRET, headers, body)


def test_duplicate_emission_reuses_the_webhook_id(shop, receiver):
    responses = shop.emit_order_created("ord_2003", duplicate=2, delivery_id="msg_demo_duplicate")
    assert [r.status_code for r in responses] == [202, 202, 202]
    assert len(receiver.deliveries) == 3
    assert {h["webhook-id"] for h, _ in receiver.deliveries} == {"msg_demo_duplicate"}
    assert (
        len({(h["webhook-timestamp"], h["webhook-signature"], body) for h, body in receiver.deliveries}) == 1
    )


def test_tampered_body_no_longer_fits_its_signature(shop, receiver):
    sent_at = int(dt.datetime.now(dt.UTC).timestamp())
    shop.emit_order_created("ord_2001", tamper=True, delivery_id="msg_tampered", timestamp=sent_at)
    ((headers, body),) = receiver.deliveries
    assert json.loads(body)["data"]["total"] == "0.01"  # the attacker's change
    assert headers["webhook-signature"] != expected_signature(SANDBOX_WEBHOOK_SECRET, headers, body)
    # the signature is the genuine one, made over the body before it was altered
    _, genuine = shop.webhook_event(
        "order.created", shop.order("ord_2001"), delivery_id="msg_tampered", timestamp=sent_at
    )
    assert genuine != body
    assert headers["webhook-signature"] == expected_signature(SANDBOX_WEBHOOK_SECRET, headers, genuine)


def test_webhook_event_without_sending_old_timestamp_and_rotated_secrets(shop):
    new_secret = "whsec_" + base64.b64encode(b"the-next-webhook-secret-32-bytes").decode()
    old = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    headers, body = shop.webhook_event(
        "payment.captured",
        shop.payment("pay_3001"),
        secret=[SANDBOX_WEBHOOK_SECRET, new_secret],
        delivery_id="msg_rotation",
        timestamp=old,
    )
    assert headers["webhook-id"] == "msg_rotation"
    assert headers["webhook-timestamp"] == str(int(old.timestamp()))
    assert json.loads(body)["timestamp"] == "2026-11-20T12:00:00.000Z"
    assert headers["webhook-signature"].split(" ") == [
        expected_signature(SANDBOX_WEBHOOK_SECRET, headers, body),
        expected_signature(new_secret, headers, body),
    ]
    assert shop.requests == []  # nothing was sent


def test_emit_needs_a_subscription(shop):
    with pytest.raises(RuntimeError, match="subscribe"):
        shop.emit_order_created("ord_2001")


def test_subscription_with_its_own_secret(shop, receiver_server):
    receiver_server.deliveries.clear()
    own = "whsec_" + base64.b64encode(b"a-connector-specific-secret-0001").decode()
    shop.subscribe(f"{receiver_server.base_url}/webhooks/demo-shop", own)
    shop.emit_customer_updated("cus_101")
    ((headers, body),) = receiver_server.deliveries
    assert headers["webhook-signature"] == expected_signature(own, headers, body)
    with pytest.raises(ValueError, match="whsec_"):
        shop.subscribe("http://127.0.0.1:9/hooks", "not-a-standard-secret")
