"""Nothing lost, nothing twice in flow 3 when events come out of order, are resent, or a worker dies at
the worst moment (issue 8: payments before orders, a lost payment, a crash after a token grant)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoice_relay.http.oauth import TokenSecret
from invoice_relay.storage.held import HeldWork
from invoice_relay.storage.state import CrossReferences
from invoice_relay.storage.table import state_table
from local.runtime.api_gateway import LocalApi
from local.scenarios.stack import LocalStack

CID = "reliable-shop"


@pytest.fixture
def stack():
    with LocalStack(seed_demo=False) as local:
        local.add_shop_connector(CID)
        api = LocalApi(local, log_requests=False).start(port=0)
        local.shop.subscribe(f"{api.url}/webhooks/{CID}")
        try:
            yield local
        finally:
            api.stop()


def invoices_for(stack: LocalStack, order_id: str) -> list[dict]:
    number = stack.shop.order(order_id)["number"]
    return [i for i in stack.freshbooks.invoices() if number in (i.get("po_number") or "")]


def payment_of(stack: LocalStack, order_id: str) -> dict:
    return next(p for p in stack.shop.payments() if p["orderId"] == order_id)


def held(stack: LocalStack) -> HeldWork:
    return HeldWork(state_table(stack.table_name))


def test_a_payment_before_its_order_waits_without_an_attempt_limit_and_is_recorded_once(stack):
    payment = payment_of(stack, "ord_2004")
    stack.shop.emit("payment.captured", payment)
    for _ in range(12):  # more than the old 8 tries: nothing gives up
        stack.drain_delivery_queue()
    assert held(stack).count_waiting(CID) == 1
    assert not stack.freshbooks.payments()
    stack.shop.emit("payment.captured", payment)  # the shop resends it under a new webhook id meanwhile
    stack.drain_delivery_queue()
    assert held(stack).count_waiting(CID) == 1  # still one waiting copy

    stack.shop.emit("order.created", stack.shop.order("ord_2004"))
    stack.drain_delivery_queue()

    [invoice] = invoices_for(stack, "ord_2004")
    [recorded] = stack.freshbooks.payments(invoice["id"])
    assert Decimal(recorded["amount"]["amount"]) == Decimal(payment["amount"])
    assert held(stack).count_waiting(CID) == 0

    stack.shop.emit("payment.captured", payment)  # a resend after it was recorded: recognised, not repeated
    stack.drain_delivery_queue()
    assert len(stack.freshbooks.payments(invoice["id"])) == 1


def test_a_payment_whose_order_sat_in_the_dlq_is_recorded_once_the_order_is_redriven(stack):
    # The order fails transiently until FreshBooks recovers (in production: five receives, then the DLQ,
    # then a redrive); meanwhile its payment arrives and waits.
    stack.freshbooks.inject_fault(method="POST", path=r".*/invoices/invoices", status=500, times=1000)
    stack.shop.emit("order.created", stack.shop.order("ord_2008"))
    stack.shop.emit("payment.captured", payment_of(stack, "ord_2008"))
    stack.drain_delivery_queue()  # five receives, then the order is in the DLQ
    assert not stack.freshbooks.invoices() and held(stack).count_waiting(CID) == 1
    for _ in range(10):
        stack.drain_delivery_queue()  # days pass: the payment still waits, nothing gives up

    stack.freshbooks.clear_faults()
    assert stack.redrive_dead_letters() == 1
    stack.drain_delivery_queue()

    [invoice] = invoices_for(stack, "ord_2008")
    assert len(stack.freshbooks.payments(invoice["id"])) == 1


def test_a_crash_after_the_order_was_linked_but_before_its_payments_were_released(stack, monkeypatch):
    from invoice_relay.pipeline import deliver as deliver_module

    stack.shop.emit("payment.captured", payment_of(stack, "ord_2006"))
    stack.drain_delivery_queue()
    crashed = []
    real = deliver_module.Delivery.release_waiting_for_this

    def die_once(self):
        if not crashed:
            crashed.append(self.item.source_id)
            raise RuntimeError("the Lambda died right after linking the order")
        return real(self)

    monkeypatch.setattr(deliver_module.Delivery, "release_waiting_for_this", die_once)
    stack.shop.emit("order.created", stack.shop.order("ord_2006"))
    stack.drain_delivery_queue()  # dies once, is redelivered: already delivered → releases the payment
    stack.drain_delivery_queue()

    assert crashed == ["ord_2006"]
    [invoice] = invoices_for(stack, "ord_2006")
    assert len(stack.freshbooks.payments(invoice["id"])) == 1
    assert CrossReferences(state_table(stack.table_name)).get(CID, "shop-document", "ord_2006")


def test_a_crash_right_after_a_token_grant_holds_the_orders_until_reconnected_then_delivers_them(
    stack, monkeypatch
):
    """FreshBooks answered the refresh grant but the worker died before storing the new pair: the old
    refresh token is spent (single-use), so the connector must be reconnected. Nothing is failed meanwhile;
    after the reconnect, the held orders go through."""
    stack.freshbooks.expire_access_tokens()
    real_write = TokenSecret.write
    died = []

    def die_before_storing(self, tokens):
        if not died:
            died.append(tokens.generation)
            raise RuntimeError("the Lambda died after FreshBooks granted the new tokens")
        return real_write(self, tokens)

    monkeypatch.setattr(TokenSecret, "write", die_before_storing)
    stack.shop.emit("order.created", stack.shop.order("ord_2001"))
    stack.shop.emit("order.created", stack.shop.order("ord_2002"))
    stack.drain_delivery_queue()
    stack.drain_delivery_queue()

    assert died  # the grant happened, the new pair was lost
    assert not stack.freshbooks.invoices()
    assert held(stack).count(CID) == 2  # held, not failed ("reconnect FreshBooks" is the connector's)

    monkeypatch.undo()
    from invoice_relay.pipeline.oauth_connect import finish_connection, start_connection
    from invoice_relay.pipeline.services import services

    url = start_connection(services(), CID)
    state = url.split("state=")[1].split("&")[0]
    code = stack.freshbooks.authorize(stack.oauth_redirect_uri(CID))
    finish_connection(services(), CID, code=code, state=state)
    stack.drain_delivery_queue()

    assert held(stack).count(CID) == 0
    assert len(invoices_for(stack, "ord_2001")) == 1 and len(invoices_for(stack, "ord_2002")) == 1
