"""Flow 3 end to end: the sandbox shop POSTs signed webhooks over HTTP to the local API (WebhookFunction),
the delivery queue is fed to DeliverFunction like the SQS event source does, and FreshBooks (sandbox)
ends up with exactly the clients, invoices and payments it should have.
"""

from __future__ import annotations

from decimal import Decimal

import boto3
import pytest

from invoice_relay.storage.runs import RunHistory
from invoice_relay.storage.state import CrossReferences
from invoice_relay.storage.table import state_table
from local.runtime.api_gateway import LocalApi
from local.scenarios.stack import LocalStack

CID = "test-shop"


@pytest.fixture
def stack():
    with LocalStack(seed_demo=False) as local:
        local.add_shop_connector(CID)
        api = LocalApi(local).start(port=0)
        local.api_url = api.url
        local.shop.subscribe(f"{api.url}/webhooks/{CID}")
        try:
            yield local
        finally:
            api.stop()


def order_created(stack: LocalStack, order_id: str, *, duplicate: int = 0) -> list[int]:
    responses = stack.shop.emit("order.created", stack.shop.order(order_id), duplicate=duplicate)
    return [r.status_code for r in responses]


def invoices_for(stack: LocalStack, order_number: str) -> list[dict]:
    return [i for i in stack.freshbooks.invoices() if order_number in (i.get("po_number") or "")]


def queue_depth(stack: LocalStack) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.delivery_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def run_log_messages(stack: LocalStack, connector_id: str = CID) -> list[str]:
    history = RunHistory(state_table(stack.table_name))
    return [
        e.message for run in history.recent_runs(connector_id, 50) for e in history.run_events(run["run_id"])
    ]


def test_signed_order_created_becomes_one_invoice_for_the_right_client_with_the_right_lines(stack):
    order = stack.shop.order("ord_2001")
    assert order_created(stack, "ord_2001") == [202]
    assert queue_depth(stack) == 1
    stack.drain_delivery_queue()

    [invoice] = invoices_for(stack, order["number"])
    [client] = [c for c in stack.freshbooks.clients() if c["id"] == invoice["customerid"]]
    assert client["email"] == order["customer"]["email"]
    assert invoice["create_date"] == order["orderDate"][:10]
    skus = [line["sku"] for line in order["lineItems"]]
    assert [line["name"] for line in invoice["lines"]] == [
        next(i["name"] for i in stack.freshbooks.items() if i["sku"] == sku) for sku in skus
    ]
    assert [Decimal(line["unit_cost"]["amount"]) for line in invoice["lines"]] == [
        Decimal(line["unitPrice"]) for line in order["lineItems"]
    ]
    link = CrossReferences(state_table(stack.table_name)).get(CID, "shop-document", "ord_2001")
    assert link["target_id"] == str(invoice["id"])


def test_the_same_webhook_delivered_three_times_makes_one_invoice(stack):
    order = stack.shop.order("ord_2002")
    statuses = order_created(stack, "ord_2002", duplicate=2)
    assert statuses[0] == 202 and len(statuses) == 3
    stack.drain_delivery_queue()
    # and the shop re-sending it later with a new delivery id (same order version) changes nothing either
    stack.shop.emit("order.created", order)
    stack.drain_delivery_queue()
    assert len(invoices_for(stack, order["number"])) == 1
    # each copy reached the delivery (the intake keeps no ledger of delivery ids); the delivery runs say
    # which one delivered and that the others were repeats
    runs = RunHistory(state_table(stack.table_name)).recent_runs(CID, 50)
    outcomes = [
        (o["status"], o["detail"].endswith("(a repeat)"))
        for r in runs
        if r["kind"] == "deliver"
        for o in r["details"]["records"]
        if o["id"] == "ord_2002"
    ]
    assert sorted(outcomes) == [("already_delivered", True)] * 3 + [("delivered", False)]


def test_payment_before_its_order_waits_and_becomes_one_payment_once_the_order_lands(stack):
    order = stack.shop.order("ord_2004")
    payment = next(p for p in stack.shop.payments() if p["orderId"] == "ord_2004")
    stack.shop.emit("payment.captured", payment)
    stack.drain_delivery_queue()  # the payment has nothing to attach to yet: it is put back to wait
    assert not stack.freshbooks.payments()

    order_created(stack, "ord_2004")
    stack.drain_delivery_queue(wait_for_delayed=4)  # the waiting payment comes back after its delay

    [invoice] = invoices_for(stack, order["number"])
    [recorded] = stack.freshbooks.payments(invoice["id"])
    assert Decimal(recorded["amount"]["amount"]) == Decimal(payment["amount"])
    assert payment["transactionId"] in recorded["note"]
    assert any("arrived before document ord_2004" in m for m in run_log_messages(stack))


def test_unknown_sku_fails_with_its_reason_while_the_rest_of_the_batch_succeeds(stack):
    order_created(stack, "ord_2005")  # has NOT-IN-CATALOG-1
    order_created(stack, "ord_2006")
    counts = stack.drain_delivery_queue()
    assert counts["records"] == 2 and counts["failed"] == 0  # a permanent failure is not retried

    assert invoices_for(stack, stack.shop.order("ord_2006")["number"])
    assert not invoices_for(stack, stack.shop.order("ord_2005")["number"])
    assert any("unknown SKU 'NOT-IN-CATALOG-1'" in m for m in run_log_messages(stack))


def test_customer_updated_updates_the_freshbooks_client(stack):
    order_created(stack, "ord_2001")
    stack.drain_delivery_queue()
    customer_id = stack.shop.order("ord_2001")["customer"]["id"]
    stack.shop.update_customer(
        customer_id,
        lastName="Okafor-Smith",
        billingAddress={
            "line1": "9 Harbour Road",
            "line2": None,
            "city": "Leith",
            "region": "Edinburgh",
            "postalCode": "EH6 6LX",
            "country": "GB",
        },
    )
    stack.shop.emit("customer.updated", stack.shop.customer(customer_id))
    stack.drain_delivery_queue()

    email = stack.shop.customer(customer_id)["email"]
    [client] = [c for c in stack.freshbooks.clients() if c["email"] == email]
    assert client["lname"] == "Okafor-Smith"
    assert client["p_city"] == "Leith"


def test_freshbooks_5xx_and_429_then_success_deliver_once(stack):
    stack.freshbooks.inject_fault(method="POST", path=r".*/invoices/invoices", status=503, times=1)
    stack.freshbooks.inject_fault(method="GET", path=r".*/users/clients", status=429, times=1, retry_after=1)
    order_created(stack, "ord_2008")
    stack.drain_delivery_queue()
    assert len(invoices_for(stack, stack.shop.order("ord_2008")["number"])) == 1


def test_crash_after_the_invoice_was_created_but_before_the_cross_reference_was_stored(stack, monkeypatch):
    real_put = CrossReferences.put
    crashed = []

    def crash_once(self, connector_id, system, key, link):
        if system == "shop-document" and not crashed:
            crashed.append(key)
            raise RuntimeError("Lambda died right after FreshBooks created the invoice")
        return real_put(self, connector_id, system, key, link)

    monkeypatch.setattr(CrossReferences, "put", crash_once)
    order_created(stack, "ord_2003")
    counts = stack.drain_delivery_queue()
    assert crashed == ["ord_2003"]
    assert counts["failed"] == 1  # reported as a batch item failure, redelivered, then succeeded
    assert len(invoices_for(stack, stack.shop.order("ord_2003")["number"])) == 1
    assert CrossReferences(state_table(stack.table_name)).get(CID, "shop-document", "ord_2003")


def test_tampered_and_replayed_webhooks_are_rejected_and_nothing_is_queued(stack):
    order = stack.shop.order("ord_2001")
    assert [r.status_code for r in stack.shop.emit("order.created", order, tamper=True)] == [401]
    assert [r.status_code for r in stack.shop.emit("order.created", order, timestamp=1_600_000_000)] == [401]
    assert queue_depth(stack) == 0


def freshbooks_client(stack: LocalStack):
    """Our FreshBooks client for the test connector (what a bookkeeper's action in FreshBooks stands for)."""
    from invoice_relay.partners.freshbooks.target import FreshBooksTarget
    from invoice_relay.storage.state import ConnectorStore, Leases

    config = ConnectorStore(state_table(stack.table_name)).get(CID)
    return FreshBooksTarget.from_config(CID, config.target, Leases(state_table(stack.table_name))).client


def subscribe_freshbooks(stack: LocalStack, event: str = "payment.create") -> None:
    """Register a FreshBooks callback to our webhook URL: FreshBooks sends the verification at once, the
    intake confirms it with FreshBooks (the handshake), and signed events follow."""
    client = freshbooks_client(stack)
    callback = client.create_callback(event, f"{stack.api_url}/webhooks/{CID}")
    registered = {c["callbackid"]: c for c in stack.freshbooks.callbacks()}
    assert registered[callback["callbackid"]]["verified"]


def test_a_payment_recorded_in_freshbooks_marks_the_shop_order_paid_once_nothing_is_outstanding(stack):
    subscribe_freshbooks(stack)
    order_created(stack, "ord_2003")
    stack.drain_delivery_queue()
    [invoice] = invoices_for(stack, stack.shop.order("ord_2003")["number"])
    client = freshbooks_client(stack)
    total = Decimal(invoice["amount"]["amount"])

    part = client.create_payment(
        {
            "invoiceid": invoice["id"],
            "amount": {"amount": "1.00", "code": "USD"},
            "date": "2026-11-21",
            "type": "Check",
        }
    )
    stack.drain_delivery_queue()
    assert stack.shop.order("ord_2003")["status"] != "paid"  # 1.00 paid, the rest still outstanding
    assert any("still has" in m and "outstanding" in m for m in run_log_messages(stack))

    rest = client.create_payment(
        {
            "invoiceid": invoice["id"],
            "amount": {"amount": str(total - Decimal("1.00")), "code": "USD"},
            "date": "2026-11-21",
            "type": "Check",
        }
    )
    stack.drain_delivery_queue()
    order = stack.shop.order("ord_2003")
    assert order["status"] == "paid"
    assert order["paymentReference"] == f"freshbooks-payment-{rest['id']}"
    assert part["id"] != rest["id"]


def test_a_shop_connector_without_its_freshbooks_connection_holds_orders_until_it_is_connected(stack):
    from urllib.parse import parse_qs, urlsplit

    from invoice_relay.storage.held import HeldWork

    cid = "shop-not-connected"
    stack.add_shop_connector(cid, connect_oauth=False)
    stack.shop.unsubscribe_all()  # only this connector hears the shop
    stack.shop.subscribe(f"{stack.api_url}/webhooks/{cid}")
    stack.shop.emit("order.created", stack.shop.order("ord_2006"))
    counts = stack.drain_delivery_queue()
    assert counts["failed"] == 0 and not invoices_for(stack, stack.shop.order("ord_2006")["number"])
    held = HeldWork(state_table(stack.table_name))
    assert held.count(cid) >= 1  # held, not failed: the order is nobody's mistake
    runs = RunHistory(state_table(stack.table_name)).recent_runs(cid, 10)
    assert runs[0]["status"] == "failed" and "FreshBooks is not connected" in runs[0]["reason"]

    # The user connects FreshBooks: /oauth/<id>/connect → consent page → /oauth/<id>/callback.
    connect = stack.invoke(
        "OAuthFunction", api_event("GET", f"/oauth/{cid}/connect", "/oauth/{connector_id}/connect", cid)
    )
    assert connect["statusCode"] == 302
    consent = connect["headers"]["Location"]  # an HTTP API answer: headers, no multiValueHeaders
    state = parse_qs(urlsplit(consent).query)["state"][0]
    code = stack.freshbooks.authorize(stack.oauth_redirect_uri(cid))
    answer = stack.invoke(
        "OAuthFunction",
        api_event(
            "GET",
            f"/oauth/{cid}/callback",
            "/oauth/{connector_id}/callback",
            cid,
            {"code": code, "state": state},
        ),
    )
    assert answer["statusCode"] == 200, answer
    assert held.count(cid) == 0  # released onto the queue
    stack.drain_delivery_queue()
    assert len(invoices_for(stack, stack.shop.order("ord_2006")["number"])) == 1


def api_event(method: str, path: str, resource: str, cid: str, query: dict | None = None) -> dict:
    from local.runtime.api_gateway import http_api_event

    return http_api_event(
        method=method,
        resource=resource,
        path=path,
        query=list((query or {}).items()),
        path_parameters={"connector_id": cid},
    )
