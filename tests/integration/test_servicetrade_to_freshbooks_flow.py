"""The delivery pipeline serves polled sources too: ServiceTrade invoices are polled, queued, delivered to
FreshBooks by DeliverFunction, and written back `processed` with the FreshBooks invoice number — or
`failed` with a private comment."""

from __future__ import annotations

import pytest

from local.scenarios.stack import LocalStack

CID = "test-st-freshbooks"


@pytest.fixture
def stack():
    with LocalStack(seed_demo=False) as local:
        local.add_servicetrade_freshbooks_connector(CID)
        yield local


def test_polled_invoices_reach_freshbooks_through_the_queue_and_are_written_back_once(stack):
    demo = stack.servicetrade.seed_demo_data(count=12, broken=["no_customer"], credits=0)
    polled = stack.invoke("PollFunction", {"connector_id": CID})
    assert polled["counts"]["queued"] == len(demo.pending_ids)

    stack.drain_delivery_queue()
    again = stack.invoke("PollFunction", {"connector_id": CID})  # nothing pending: nothing queued twice
    assert again["counts"].get("queued", 0) == 0
    stack.drain_delivery_queue()

    broken = set(demo.broken_ids)
    for invoice_id in demo.pending_ids:
        invoice = stack.servicetrade.invoice(invoice_id)
        if invoice_id in broken:
            assert invoice["status"] == "failed"
            [comment] = stack.servicetrade.comments_for(invoice_id)
            assert "has no customer" in comment["content"] and comment["visibility"] == []
            continue
        assert invoice["status"] == "processed"
        # the FreshBooks number was written back as the ServiceTrade invoice number
        assert invoice["invoiceNumber"] in {i["invoice_number"] for i in stack.freshbooks.invoices()}
    assert len(stack.freshbooks.invoices()) == len(demo.pending_ids) - len(broken)
    puts = [r for r in stack.servicetrade.requests if r["method"] == "PUT" and r.get("status", 200) < 300]
    assert len(puts) == len(demo.pending_ids)  # one write-back per invoice
