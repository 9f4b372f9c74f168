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
    link = CrossReferences(state_table(stack.table_name)).get(CID, "shop-order", "ord_2001")
    assert link["invoice_id"] == str(invoice["id"]) or link["invoice_id"] == invoice["id"]


def test_the_same_webhook_delivered_three_times_makes_one_invoice(stack):
    order = stack.shop.order("ord_2002")
    statuses = order_created(stack, "ord_2002", duplicate=2)
    assert statuses[0] == 202 and len(statuses) == 3
    stack.drain_delivery_queue()
    # and the shop re-sending it later with a new delivery id (same order version) changes nothing either
    stack.shop.emit("order.created", order)
    stack.drain_delivery_queue()
    assert len(invoices_for(stack, order["number"])) == 1


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
    assert any("arrived before order" in m for m in run_log_messages(stack))


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
    stack.freshbooks.inject_fault(method="POST", path=r"/invoices/invoices$", status=503, times=1)
    stack.freshbooks.inject_fault(method="GET", path=r"/users/clients$", status=429, times=1, retry_after=1)
    order_created(stack, "ord_2008")
    stack.drain_delivery_queue()
    assert len(invoices_for(stack, stack.shop.order("ord_2008")["number"])) == 1


def test_crash_after_the_invoice_was_created_but_before_the_cross_reference_was_stored(stack, monkeypatch):
    real_put = CrossReferences.put
    crashed = []

    def crash_once(self, connector_id, system, key, link):
        if system == "shop-order" and not crashed:
            crashed.append(key)
            raise RuntimeError("Lambda died right after FreshBooks created the invoice")
        return real_put(self, connector_id, system, key, link)

    monkeypatch.setattr(CrossReferences, "put", crash_once)
    order_created(stack, "ord_2003")
    counts = stack.drain_delivery_queue()
    assert crashed == ["ord_2003"]
    assert counts["failed"] == 1  # reported as a batch item failure, redelivered, then succeeded
    assert len(invoices_for(stack, stack.shop.order("ord_2003")["number"])) == 1
    assert CrossReferences(state_table(stack.table_name)).get(CID, "shop-order", "ord_2003")


def test_tampered_and_replayed_webhooks_are_rejected_and_nothing_is_queued(stack):
    order = stack.shop.order("ord_2001")
    assert [r.status_code for r in stack.shop.emit("order.created", order, tamper=True)] == [401]
    assert [r.status_code for r in stack.shop.emit("order.created", order, timestamp=1_600_000_000)] == [401]
    assert queue_depth(stack) == 0


def test_freshbooks_invoice_paid_marks_the_shop_order_paid(stack):
    from local.scenarios.sample_events import freshbooks_callback

    order_created(stack, "ord_2003")
    stack.drain_delivery_queue()
    [invoice] = invoices_for(stack, stack.shop.order("ord_2003")["number"])
    fields = {
        "name": "invoice.paid",
        "object_id": str(invoice["id"]),
        "account_id": stack.freshbooks.account_id,
        "business_id": "1",
        "identity_id": "1",
        "user_id": "1",
    }
    answer = stack.invoke("WebhookFunction", freshbooks_callback(fields, connector_id=CID))
    assert answer["statusCode"] == 202, answer
    stack.drain_delivery_queue()
    order = stack.shop.order("ord_2003")
    assert order["status"] == "paid"
    assert order["paymentReference"] == f"freshbooks-invoice-{invoice['id']}"
