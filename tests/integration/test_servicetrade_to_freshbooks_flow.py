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
    by_number = {i["invoice_number"]: i for i in stack.freshbooks.invoices()}
    for invoice_id in set(demo.pending_ids) - broken:  # the FreshBooks id is recorded as an external id
        invoice = stack.servicetrade.invoice(invoice_id)
        assert invoice["externalIds"] == {"freshbooks": str(by_number[invoice["invoiceNumber"]]["id"])}


def test_a_freshbooks_connection_never_completed_fails_no_invoice_and_holds_them_until_connected(stack):
    from invoice_relay.pipeline.oauth_connect import finish_connection, start_connection
    from invoice_relay.pipeline.services import services
    from invoice_relay.storage.held import HeldWork
    from invoice_relay.storage.table import state_table

    cid = "test-st-fb-unconnected"
    stack.add_servicetrade_freshbooks_connector(cid, connect_oauth=False)
    demo = stack.servicetrade.seed_demo_data(count=6, broken=["no_customer"], credits=0)

    polled = stack.invoke("PollFunction", {"connector_id": cid})
    assert polled["counts"]["queued"] == len(demo.pending_ids)
    drained = stack.drain_delivery_queue()
    assert drained["failed"] == 0  # held, not retried into the DLQ

    # The connector's problem is no document's: nothing written back for the good invoices. (The broken one
    # fails for its own reason, which has nothing to do with FreshBooks.)
    good = set(demo.pending_ids) - set(demo.broken_ids)
    for invoice_id in good:
        assert stack.servicetrade.invoice(invoice_id)["status"] == "pending_accounting"
        assert stack.servicetrade.comments_for(invoice_id) == []
    [broken] = demo.broken_ids
    assert "has no customer" in stack.servicetrade.comments_for(broken)[0]["content"]
    held = HeldWork(state_table(stack.table_name))
    assert held.count(cid) == len(good)
    assert (
        stack.invoke("PollFunction", {"connector_id": cid})["counts"].get("queued", 0) == 0
    )  # not lost either

    # The operator completes the connection (what /oauth/<id>/callback does): the held work goes again.
    url = start_connection(services(), cid)
    state = url.split("state=")[1].split("&")[0]
    finish_connection(
        services(), cid, code=stack.freshbooks.authorize(stack.oauth_redirect_uri(cid)), state=state
    )
    assert held.count(cid) == 0
    stack.drain_delivery_queue()
    assert {stack.servicetrade.invoice(i)["status"] for i in good} == {"processed"}
    assert {stack.servicetrade.invoice(i)["status"] for i in demo.broken_ids} == {"failed"}


def test_a_wrong_servicetrade_secret_ends_the_run_failed_with_its_reason_and_touches_nothing(stack):
    from invoice_relay.storage.runs import RunHistory
    from invoice_relay.storage.table import state_table

    demo = stack.servicetrade.seed_demo_data(count=3, broken=[], credits=0)
    config = stack.servicetrade_source(CID)
    stack.aws.create_secret(config["credentials_secret"], {"client_id": "relay", "client_secret": "wrong"})

    result = stack.invoke("PollFunction", {"connector_id": CID})

    assert result["status"] == "failed" and result["error_kind"] == "connector"
    assert "servicetrade refused our client credentials" in result["reason"]
    [run] = RunHistory(state_table(stack.table_name)).recent_runs(CID, 1)
    assert run["status"] == "failed" and run["reason"] == result["reason"]  # closed, never left `running`
    assert {stack.servicetrade.invoice(i)["status"] for i in demo.pending_ids} == {"pending_accounting"}


def test_a_delivery_that_died_after_the_write_back_is_settled_not_left_queued(stack, monkeypatch):
    """Written back `processed`, then the Lambda died before our state said so: ServiceTrade no longer lists
    the invoice as pending, so the retry settles it from the cross reference recorded before the write-back
    (it used to take "no longer ready" for "nothing to do" and leave the document queued for ever)."""
    from invoice_relay.pipeline import deliver as deliver_module
    from invoice_relay.storage.state import DocumentState, DocumentStates
    from invoice_relay.storage.table import state_table

    demo = stack.servicetrade.seed_demo_data(count=4, broken=0, credits=0)
    real = deliver_module.Delivery._settle
    crashed: list[str] = []

    def die_before_settling(self, ref, state, **fields):
        if state is DocumentState.DONE and not crashed:
            crashed.append(ref.id)
            raise RuntimeError("the Lambda died after the write-back")
        return real(self, ref, state, **fields)

    monkeypatch.setattr(deliver_module.Delivery, "_settle", die_before_settling)
    stack.invoke("PollFunction", {"connector_id": CID})
    stack.drain_delivery_queue()
    stack.drain_delivery_queue()

    [invoice_id] = crashed
    record = DocumentStates(state_table(stack.table_name)).get(CID, invoice_id)
    assert record.state is DocumentState.DONE and record.target_id
    assert stack.servicetrade.invoice(int(invoice_id))["status"] == "processed"
    assert len(stack.freshbooks.invoices()) == len(demo.pending_ids)  # none twice
