"""Write-backs when the answer is lost after ServiceTrade acted (issue 8, item 7): the failure comment — the
one write-back that is not idempotent — is never posted twice, and a later run does not write again what
ServiceTrade already shows."""

from __future__ import annotations

import pytest

from invoice_relay.storage.state import DocumentStates
from invoice_relay.storage.table import state_table
from local.scenarios.stack import LocalStack

CID = "write-back-once"


@pytest.fixture
def stack():
    with LocalStack(seed_demo=False) as local:
        local.add_servicetrade_connector(CID, template="generic_csv", page_size=50)
        yield local


def run(stack: LocalStack, function: str) -> dict:
    return stack.invoke(function, {"connector_id": CID})


def requests_to(stack: LocalStack, method: str, path: str) -> list[dict]:
    return [r for r in stack.servicetrade.find_requests(method, path) if r.get("status", 200) < 300]


def test_a_lost_answer_to_the_failure_comment_never_makes_a_second_comment(stack):
    demo = stack.servicetrade.seed_demo_data(count=4, broken=["no_customer"], credits=0)
    [broken] = demo.broken_ids
    stack.servicetrade.inject_fault(method="POST", path="/api/comment", status=500, after=True)

    first = run(stack, "PollFunction")  # rejected, written back: the comment is made, its answer lost
    assert first["status"] == "partial" and first["counts"]["write_back_pending"] == 1
    record = DocumentStates(state_table(stack.table_name)).get(CID, str(broken))
    assert record.write_back_attempted

    puts_before = len(requests_to(stack, "PUT", rf"/api/invoice/{broken}"))
    second = run(stack, "PollFunction")  # checks ServiceTrade first: failed, and the comment is there
    assert second["counts"]["written_back_failed"] == 1

    assert len(stack.servicetrade.comments_for(broken)) == 1
    assert len(requests_to(stack, "POST", "/api/comment")) == 1
    assert len(requests_to(stack, "PUT", rf"/api/invoice/{broken}")) == puts_before  # not written again
    assert stack.servicetrade.invoice(broken)["status"] == "failed"


def test_a_processed_write_back_whose_answers_were_all_lost_is_not_sent_again_by_the_next_run(stack):
    demo = stack.servicetrade.seed_demo_data(count=3, broken=0, credits=0)
    run(stack, "PollFunction")
    first_id = demo.pending_ids[0]
    # Every try of this PUT (the first and the HTTP layer's retries) is carried out, its answer lost.
    stack.servicetrade.inject_fault(
        method="PUT", path=rf"/api/invoice/{first_id}", status=502, after=True, times=5
    )

    exported = run(stack, "ExportFunction")
    assert exported["status"] == "partial"
    assert stack.servicetrade.invoice(first_id)["status"] == "processed"  # it did go through
    sent = len(stack.servicetrade.find_requests("PUT", rf"/api/invoice/{first_id}"))

    again = run(stack, "ExportFunction")
    assert again["status"] == "succeeded" and again["counts"].get("exported", 0) == 0
    assert len(stack.servicetrade.find_requests("PUT", rf"/api/invoice/{first_id}")) == sent  # shown: skipped
    assert {stack.servicetrade.invoice(i)["status"] for i in demo.pending_ids} == {"processed"}
