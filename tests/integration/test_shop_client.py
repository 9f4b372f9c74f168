"""The shop client and source against the sandbox shop over real HTTP, the sandbox's signed webhooks, and
the source's webhook side (verify → WebhookDelivery, decode → canonical work)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
import threading
from decimal import Decimal

import pytest
import requests
from flask import Response, request

from invoice_relay.errors import (
    AuthenticationError,
    ConfigurationError,
    MappingError,
    PermanentError,
    TransientError,
)
from invoice_relay.http import partner_session
from invoice_relay.partners import context as partner_context
from invoice_relay.partners import shop as shop_partner
from invoice_relay.partners.capabilities import (
    CATALOG_SOURCE,
    PAID_STATUS,
    WEBHOOK_SOURCE,
    CatalogChange,
    CatalogSource,
    CustomerChanged,
    NewDocument,
    PaidStatus,
    PaymentReceived,
    WebhookDelivery,
    WebhookSource,
    WorkRef,
)
from invoice_relay.partners.context import PartnerContext
from invoice_relay.partners.shop.client import ShopClient
from invoice_relay.partners.shop.config import ShopSourceConfig
from invoice_relay.partners.shop.mapping import customer_to_customer, order_customer, product_to_product
from invoice_relay.partners.shop.source import ShopSource
from invoice_relay.webhooks import InvalidSignature, MalformedDelivery
from local.sandboxes.base import REDACTED, SandboxServer
from local.sandboxes.shop import (
    SANDBOX_API_KEY,
    SANDBOX_UNPADDED_WEBHOOK_SECRET,
    SANDBOX_WEBHOOK_SECRET,
    UNKNOWN_SKU,
    ShopSandbox,
)

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


CREDENTIALS_SECRET = "invoice-relay/dev/shop-demo"
WEBHOOK_SECRET_NAME = "invoice-relay/dev/shop-demo-webhooks"


def config(shop: ShopSandbox) -> ShopSourceConfig:
    return ShopSourceConfig(
        system="shop",
        base_url=shop.base_url,
        credentials_secret=CREDENTIALS_SECRET,
        webhook_secret=WEBHOOK_SECRET_NAME,
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
    assert SANDBOX_API_KEY not in repr(client) and SANDBOX_API_KEY not in repr(client.auth)


def test_source_from_config_fetches_and_maps(shop):
    with ShopSource.from_config(config(shop), {"api_key": SANDBOX_API_KEY}) as source:
        document, raw = source.fetch_order(shop.demo.unknown_sku_order_id)
        assert document.number == "1005" and raw["id"] == "ord_2005"
        assert UNKNOWN_SKU in [line.sku for line in document.lines]
        assert document.totals.total == Decimal("53.50")

        customer, _ = source.fetch_customer("cus_103")
        assert (customer.organization, customer.email) == (
            "Lone Star Coffee Roasters",
            "ap@lonestarcoffee.example",
        )

        payment, raw_payment = source.fetch_payment(shop.demo.payment_by_order["ord_2004"])
        assert raw_payment["orderId"] == "ord_2004"
        assert (payment.document_number, payment.amount, payment.date) == (
            "1004",
            Decimal("45.40"),
            dt.date(2026, 11, 17),
        )


def test_source_from_config_names_a_missing_key_without_values(shop):
    with pytest.raises(ConfigurationError, match="api_key"):
        ShopSource.from_config(config(shop), {"apikey": "typo-sandbox-key"})
    with pytest.raises(ConfigurationError) as caught:
        ShopSource.from_config(config(shop), {"api_key": "   "})
    assert "   " not in caught.value.reason.replace("api_key", "")


def test_mapping_error_of_a_fetched_order_carries_the_payload(shop):
    broken = shop.add_order({**shop.order("ord_2001"), "id": "ord_broken", "number": "1999", "total": "1.00"})
    with (
        ShopSource.from_config(config(shop), {"api_key": SANDBOX_API_KEY}) as source,
        pytest.raises(MappingError) as caught,
    ):
        source.fetch_order("ord_broken")
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


@pytest.mark.parametrize("cursors", [["c-1", "c-1"], ["c-1", "c-2", "c-1"]], ids=["same", "cycle"])
def test_a_cursor_handed_back_twice_stops_the_listing_with_a_permanent_error(shop, client, cursors):
    # The shop answers a page with a cursor it handed out before: the listing would never end.
    products = shop.products()
    shop.inject_fault(
        method="GET", path="/v1/products", status=200, body={"data": products[:1], "nextCursor": "c-1"}
    )
    for number, (asked, answered) in enumerate(itertools.pairwise(cursors), start=1):
        shop.inject_fault(
            method="GET",
            path="/v1/products",
            query={"cursor": asked},
            status=200,
            body={"data": products[number : number + 1], "nextCursor": answered},
        )
    seen = []
    with pytest.raises(PermanentError, match=r"shop handed back cursor 'c-1' twice while listing products"):
        seen.extend(p["sku"] for p in client.products())
    assert [r["query"].get("cursor") for r in shop.find_requests("GET", "/v1/products")] == [
        None,
        *cursors[:-1],
    ]
    assert seen == [p["sku"] for p in products[: len(cursors)]]  # the pages read before the loop showed


def test_a_product_list_without_data_is_a_permanent_error(shop, client):
    shop.inject_fault(method="GET", path="/v1/products", status=200, body={"products": []})
    with pytest.raises(PermanentError, match="GET /v1/products with an unexpected product list"):
        list(client.products())


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
    """Standard Webhooks v1, computed here from the spec rather than with the sandbox's signer (an
    unpadded secret is padded first, as the reference library does)."""
    encoded = secret.removeprefix("whsec_")
    key = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
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
    for malformed in ("whsec_", "whsec_YWJjZ", "whsec_YW=Jj"):  # no key, not base64 of any length
        with pytest.raises(ValueError):
            shop.subscribe("http://127.0.0.1:9/hooks", malformed)


def test_an_unpadded_secret_signs_like_its_padded_form(shop, receiver_server):
    receiver_server.deliveries.clear()
    encoded = SANDBOX_UNPADDED_WEBHOOK_SECRET.removeprefix("whsec_")
    assert len(encoded) % 4 != 0 and not encoded.endswith("=")  # really unpadded
    padded = SANDBOX_UNPADDED_WEBHOOK_SECRET + "=" * (-len(encoded) % 4)
    shop.subscribe(f"{receiver_server.base_url}/webhooks/demo-shop", SANDBOX_UNPADDED_WEBHOOK_SECRET)
    shop.emit_order_created("ord_2001", delivery_id="msg_unpadded")
    ((headers, body),) = receiver_server.deliveries
    assert headers["webhook-signature"] == expected_signature(padded, headers, body)
    # The sandbox's default secret may be unpadded too.
    unpadded_shop = ShopSandbox(webhook_secret=SANDBOX_UNPADDED_WEBHOOK_SECRET, seed=False)
    headers, body = unpadded_shop.webhook_event("customer.updated", {"id": "cus_1"})
    assert headers["webhook-signature"] == expected_signature(padded, headers, body)


# -- the shop as a connector's source: webhooks, catalog, paid status -------------------------------------


def webhook_source(
    shop: ShopSandbox, cached: list[str] | None = None, fresh: list[str] | None = None
) -> tuple[ShopSource, list[bool]]:
    """A source whose webhook secrets are `cached` (default: the sandbox's) until read `fresh`; the list
    records each read (True: fresh)."""
    reads: list[bool] = []

    def secrets(read_fresh: bool) -> list[str]:
        reads.append(read_fresh)
        chosen = fresh if read_fresh and fresh is not None else cached
        return chosen or [shop.webhook_secret]

    client = ShopClient(shop.base_url, SANDBOX_API_KEY, session=fast_session())
    return ShopSource(client, webhook_secrets=secrets), reads


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_the_source_has_the_capabilities_its_spec_declares(shop):
    provides = shop_partner.SPEC.source.provides
    assert set(provides) == {WEBHOOK_SOURCE, PAID_STATUS, CATALOG_SOURCE}
    source, _ = webhook_source(shop)
    with source:
        assert isinstance(source, WebhookSource)
        assert isinstance(source, PaidStatus)
        assert isinstance(source, CatalogSource)
        assert source.system == "shop"


def test_the_spec_opens_a_source_through_the_context(shop, monkeypatch):
    stored = {
        CREDENTIALS_SECRET: {"api_key": SANDBOX_API_KEY},
        WEBHOOK_SECRET_NAME: {"secrets": [SANDBOX_WEBHOOK_SECRET]},
    }
    reads: list[tuple[str, bool]] = []

    def partner_credentials(name: str, max_age: int = 300, *, fresh: bool = False) -> dict:
        reads.append((name, fresh))
        return stored[name]

    monkeypatch.setattr(partner_context, "partner_credentials", partner_credentials)
    context = PartnerContext(connector_id="demo-shop", leases=None, bucket=None)
    with shop_partner.SPEC.source.provides[WEBHOOK_SOURCE](config(shop), context) as source:
        assert isinstance(source, ShopSource)
        assert source.fetch_order("ord_2001")[0].number == "1001"
        headers, body = shop.webhook_event("order.created", shop.order("ord_2001"), delivery_id="msg_ctx")
        assert source.verify(headers, body, now()).delivery_id == "msg_ctx"
    assert reads == [(CREDENTIALS_SECRET, False), (WEBHOOK_SECRET_NAME, False)]


def test_a_webhook_secret_of_the_wrong_shape_is_a_configuration_error(shop, monkeypatch):
    stored = {CREDENTIALS_SECRET: {"api_key": SANDBOX_API_KEY}, WEBHOOK_SECRET_NAME: {"secret": "whsec_x"}}
    monkeypatch.setattr(partner_context, "partner_credentials", lambda name, *_, **__: stored[name])
    context = PartnerContext(connector_id="demo-shop", leases=None, bucket=None)
    with ShopSource.from_config(config(shop), context) as source:
        headers, body = shop.webhook_event("order.created", shop.order("ord_2001"))
        with pytest.raises(
            ConfigurationError, match=r"webhook secret 'invoice-relay/dev/shop-demo-webhooks'"
        ):
            source.verify(headers, body, now())


def test_a_source_without_webhook_secrets_cannot_verify(shop):
    headers, body = shop.webhook_event("order.created", shop.order("ord_2001"))
    with (
        ShopSource.from_config(config(shop), {"api_key": SANDBOX_API_KEY}) as source,
        pytest.raises(ConfigurationError, match="no webhook secrets"),
    ):
        source.verify(headers, body, now())


def test_the_source_recognises_standard_webhooks_and_has_no_handshake(shop):
    source, _ = webhook_source(shop)
    headers, body = shop.webhook_event("order.created", shop.order("ord_2001"))
    assert source.recognises(headers)
    assert not source.recognises({"x-freshbooks-hmac-sha256": "abc", "content-type": "application/json"})
    assert source.handshake(headers, body) is None


@pytest.mark.parametrize(
    ("event_type", "kind", "record_id", "version_field", "number"),
    [
        ("order.created", "order", "ord_2001", "updatedAt", "1001"),
        ("customer.updated", "customer", "cus_102", "updatedAt", None),
        ("payment.captured", "payment", "pay_3002", "capturedAt", None),
    ],
)
def test_verify_turns_a_signed_event_into_a_delivery_of_its_record(
    shop, event_type, kind, record_id, version_field, number
):
    record = getattr(shop, kind)(record_id)
    headers, body = shop.webhook_event(event_type, record, delivery_id=f"msg_{kind}")
    source, reads = webhook_source(shop)
    delivery = source.verify(headers, body, now())
    assert delivery == WebhookDelivery(
        delivery_id=f"msg_{kind}",
        event_type=event_type,
        work=WorkRef(source_id=record_id, version=record[version_field], number=number),
        payload=record,
    )
    assert reads == [False]  # the cached secrets sufficed


def test_an_event_type_nobody_acts_on_is_verified_but_carries_no_work(shop):
    data = {"id": "ord_2001", "status": "shipped", "trackingNumber": "1Z999AA10123456784"}
    headers, body = shop.webhook_event("order.fulfilled", data, delivery_id="msg_fulfilled")
    source, _ = webhook_source(shop)
    delivery = source.verify(headers, body, now())
    assert (delivery.delivery_id, delivery.event_type, delivery.work) == (
        "msg_fulfilled",
        "order.fulfilled",
        None,
    )
    assert delivery.payload == data  # archived as received


def test_a_tampered_or_replayed_delivery_is_refused(shop):
    source, reads = webhook_source(shop)
    headers, body = shop.webhook_event("order.created", shop.order("ord_2001"), tamper=True)
    with pytest.raises(InvalidSignature, match="no signature matches"):
        source.verify(headers, body, now())
    assert reads == [False, True]  # read again in case the secret was rotated; same secret: refused
    old = now() - dt.timedelta(minutes=10)
    headers, body = shop.webhook_event("order.created", shop.order("ord_2001"), timestamp=old)
    with pytest.raises(InvalidSignature, match="too old"):
        source.verify(headers, body, now())


def test_a_rotated_secret_is_read_again_when_the_cached_one_fails(shop):
    rotated = "whsec_" + base64.b64encode(b"the-rotated-shop-webhook-secret!").decode()
    headers, body = shop.webhook_event("customer.updated", shop.customer("cus_101"), secret=rotated)
    source, reads = webhook_source(
        shop, cached=[SANDBOX_WEBHOOK_SECRET], fresh=[SANDBOX_WEBHOOK_SECRET, rotated]
    )
    assert source.verify(headers, body, now()).work.source_id == "cus_101"
    assert reads == [False, True]


def test_an_unpadded_secret_verifies(shop):
    headers, body = shop.webhook_event(
        "payment.captured", shop.payment("pay_3001"), secret=SANDBOX_UNPADDED_WEBHOOK_SECRET
    )
    source, _ = webhook_source(shop, cached=[SANDBOX_UNPADDED_WEBHOOK_SECRET])
    assert source.verify(headers, body, now()).work.source_id == "pay_3001"


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda shop: b"not json at all", "body is not valid JSON"),
        (lambda shop: b'["order.created"]', "body is not a JSON object"),
        (lambda shop: json.dumps({"type": "", "data": {}}).encode(), "'type' must be a non-empty string"),
        (lambda shop: json.dumps({"type": "order.created", "data": "ord_2001"}).encode(), "'data' must be"),
        (
            lambda shop: json.dumps(
                {
                    "type": "order.created",
                    "data": {k: v for k, v in shop.order("ord_2001").items() if k != "updatedAt"},
                }
            ).encode(),
            "shop order 1001 has no updatedAt",
        ),
    ],
    ids=["not-json", "not-object", "no-type", "data-not-object", "no-version"],
)
def test_an_authentic_delivery_that_is_not_an_event_is_malformed(shop, build, reason):
    body = build(shop)
    headers = {
        "webhook-id": "msg_malformed",
        "webhook-timestamp": str(int(now().timestamp())),
        "webhook-signature": expected_signature(
            SANDBOX_WEBHOOK_SECRET,
            {"webhook-id": "msg_malformed", "webhook-timestamp": str(int(now().timestamp()))},
            body,
        ),
    }
    source, _ = webhook_source(shop)
    with pytest.raises(MalformedDelivery, match=reason):
        source.verify(headers, body, now())


def test_decode_order_created_is_a_new_invoice_for_its_checkout_customer(shop):
    order = shop.order("ord_2003")
    source, _ = webhook_source(shop)
    work = source.decode("order.created", order, now())
    assert isinstance(work, NewDocument)
    assert (work.document.number, work.document.totals.total) == ("1003", Decimal(order["total"]))
    assert work.customer == order_customer(order)
    assert work.marker == "shop order 1003"  # found again at the target instead of creating a second


def test_decode_customer_updated_is_a_customer_change(shop):
    customer = shop.update_customer("cus_104", company="Okafor Design LLC")
    source, _ = webhook_source(shop)
    work = source.decode("customer.updated", customer, now())
    assert work == CustomerChanged(customer_to_customer(customer))
    assert work.customer.name == "Okafor Design LLC"


def test_decode_payment_captured_is_a_payment_for_its_order(shop):
    payment = shop.payment(shop.demo.payment_by_order["ord_2004"])
    source, _ = webhook_source(shop)
    work = source.decode("payment.captured", payment, now())
    assert isinstance(work, PaymentReceived)
    assert work.document_source_id == "ord_2004"  # the order's invoice must be delivered first
    assert (work.payment.amount, work.payment.date) == (Decimal("45.40"), dt.date(2026, 11, 17))
    assert work.payment.document_number is None  # resolved through the order's delivered invoice
    assert shop.requests == []  # decoded from the delivery alone, no API call


def test_decode_refuses_an_unknown_event_and_a_broken_record(shop):
    source, _ = webhook_source(shop)
    with pytest.raises(PermanentError, match=r"shop event type 'order.fulfilled' is not supported"):
        source.decode("order.fulfilled", shop.order("ord_2001"), now())
    broken = {**shop.order("ord_2001"), "total": "1.00"}
    with pytest.raises(MappingError, match="shop order 1001: totals do not match lines") as caught:
        source.decode("order.created", broken, now())
    assert caught.value.raw == broken


def test_mark_paid_through_the_source(shop):
    order_id = shop.demo.open_order_ids[0]
    source, _ = webhook_source(shop)
    paid_at = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)
    source.mark_paid(order_id, paid_at=paid_at, reference="freshbooks-payment-55")
    source.mark_paid(order_id, paid_at=paid_at, reference="freshbooks-payment-55")  # idempotent
    order = shop.order(order_id)
    assert (order["status"], order["paidAt"], order["paymentReference"]) == (
        "paid",
        "2026-11-21T09:00:00.000Z",
        "freshbooks-payment-55",
    )
    assert len(shop.find_requests("POST", rf"/v1/orders/{order_id}/mark-paid")) == 1


def test_catalog_changes_oldest_first_with_their_stamps(shop):
    source, _ = webhook_source(shop)
    since = utc("2026-11-02T14:20:00Z")
    changes = list(source.products(since))
    assert [(c.key, c.updated_at) for c in changes] == [
        (sku, utc(stamp)) for sku, stamp in PRODUCT_STAMPS if utc(stamp) >= since
    ]
    assert all(c.problem is None for c in changes)
    assert changes[0].product == product_to_product(shop.product("BOTTLE-750"))


def test_a_product_that_cannot_be_mapped_is_a_change_with_its_problem(shop):
    shop.add_product(
        {"id": "prod_broken", "sku": "BROKEN-1", "name": "Broken", "price": "n/a", "currency": "USD"}
    )
    source, _ = webhook_source(shop)
    broken = next(c for c in source.products(None) if c.key == "BROKEN-1")
    assert broken == CatalogChange(
        key="BROKEN-1",
        updated_at=broken.updated_at,
        problem="shop product BROKEN-1: price 'n/a' is not a number",
    )
    assert broken.updated_at is not None and broken.updated_at.tzinfo is not None


def test_a_product_stamp_without_a_zone_does_not_become_a_cursor(shop):
    # The catalog cursor is compared with aware datetimes: a naive one would break the next comparison.
    mug = shop.product("MUG-12OZ")
    listed = [
        {**mug, "sku": "MUG-NAIVE", "updatedAt": "2027-01-01T00:00:00"},
        {**mug, "sku": "MUG-GARBLED", "updatedAt": "soon"},
    ]
    shop.inject_fault(
        method="GET", path="/v1/products", status=200, body={"data": listed, "nextCursor": None}
    )
    source, _ = webhook_source(shop)
    changes = {c.key: c for c in source.products(None)}
    assert changes["MUG-NAIVE"].updated_at is None and changes["MUG-NAIVE"].product is not None
    assert changes["MUG-GARBLED"].updated_at is None and changes["MUG-GARBLED"].product is not None


def test_a_listed_product_that_is_not_an_object_is_a_problem_not_a_crash(shop):
    shop.inject_fault(
        method="GET", path="/v1/products", status=200, body={"data": ["TEE-BLK-M", None], "nextCursor": None}
    )
    source, _ = webhook_source(shop)
    changes = list(source.products(None))
    assert [(c.key, c.updated_at, c.product, c.problem) for c in changes] == [
        ("?", None, None, "shop product is not a JSON object")
    ] * 2
