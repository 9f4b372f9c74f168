"""Flows 1 + 2 through the real handlers, on the embedded AWS with the ServiceTrade sandbox.

What is proven here: paging, checkpoints, one broken invoice among good ones, a crash at each point of
the export followed by a re-run (no duplicate, no loss), write-back outages, and concurrency guards.
"""

from __future__ import annotations

import csv
import io
from collections import Counter

import pytest

from invoice_relay.partners.servicetrade.client import ServiceTradeClient
from invoice_relay.pipeline import budget
from invoice_relay.storage.objects import DocumentBucket
from invoice_relay.storage.runs import RunHistory
from invoice_relay.storage.state import DocumentState, DocumentStates, StagedBatch, StagedBatches
from invoice_relay.storage.table import state_table
from local.scenarios.stack import LocalStack

CID = "test-servicetrade"


@pytest.fixture
def stack():
    with LocalStack(seed_demo=False) as local:
        local.add_servicetrade_connector(CID, template="generic_csv", page_size=20)
        yield local


def poll(stack: LocalStack) -> dict:
    return stack.invoke("PollFunction", {"connector_id": CID})


def export(stack: LocalStack) -> dict:
    return stack.invoke("ExportFunction", {"connector_id": CID})


def exported_numbers(stack: LocalStack) -> Counter[str]:
    """Invoice numbers across every import file in S3 (a number twice = a duplicate delivery)."""
    bucket = DocumentBucket(stack.bucket_name)
    numbers: Counter[str] = Counter()
    for key in bucket.keys(f"exports/{CID}/"):
        rows = list(csv.DictReader(io.StringIO(bucket.get(key).decode("utf-8-sig"))))
        numbers.update({row["invoice_number"] for row in rows})
    return numbers


def write_backs(stack: LocalStack) -> Counter[tuple[str, str]]:
    """(invoice id, status) of every successful PUT the sandbox received."""
    puts = Counter()
    for request in stack.servicetrade.requests:
        if request["method"] == "PUT" and request.get("status", 200) < 300:
            puts[(request["path"].rsplit("/", 1)[-1], request["json"]["status"])] += 1
    return puts


def pending_numbers(stack: LocalStack) -> set[str]:
    return {
        i["invoiceNumber"]
        for i in stack.servicetrade.invoices()
        if i["status"] == "pending_accounting" and i.get("type", "invoice") == "invoice"
    }


def test_cycle_pages_through_everything_and_writes_back_each_invoice_once(stack):
    demo = stack.servicetrade.seed_demo_data(count=45, broken=0, vendor_bills=3, external_invoices=1)
    expected = pending_numbers(stack)

    polled = poll(stack)
    assert polled["status"] == "succeeded"
    assert polled["counts"]["pages"] == 3  # 45 invoices, 20 a page
    assert polled["counts"]["staged"] == len(expected)

    exported = export(stack)
    assert exported["status"] == "succeeded"
    assert exported["counts"]["exported"] == len(expected)
    assert exported["export_file"].startswith(f"exports/{CID}/")
    assert "X-Amz-Signature" in exported["download_link"] or "Signature" in exported["download_link"]
    assert exported_numbers(stack) == Counter(expected)
    assert pending_numbers(stack) == set()
    assert all(count == 1 for count in write_backs(stack).values())
    assert len(write_backs(stack)) == len(expected)
    # vendor bills and external invoices wait in pending_accounting too, but are not ours: never written back
    assert {stack.servicetrade.invoice(i)["status"] for i in demo.other_types} == {"pending_accounting"}

    events = RunHistory(state_table(stack.table_name)).run_events(exported["run_id"])
    stored = [e for e in events if e.message.startswith("import file stored")]
    assert stored and stored[0].details["download_link"] == exported["download_link"]


def test_broken_invoices_fail_with_a_private_comment_and_the_others_still_go_out(stack):
    # A template that maps service lines to GL accounts, so the invoice with an unmapped one fails too.
    stack.add_servicetrade_connector(CID, template="example_legacy_header_detail", page_size=20)
    demo = stack.servicetrade.seed_demo_data(count=50)
    broken = set(stack.servicetrade.broken_invoice_ids)
    assert len(broken) == 3
    pending_before = pending_numbers(stack)

    polled = poll(stack)
    exported = export(stack)
    assert polled["counts"]["rejected"] + exported["counts"]["rejected"] == 3
    assert exported["counts"]["exported"] == len(pending_before) - 3

    reason_by_id = {f["source_id"]: f["reason"] for r in (polled, exported) for f in r["failures"]}
    assert set(reason_by_id) == {str(i) for i in broken}
    for invoice_id in broken:
        assert stack.servicetrade.invoice(invoice_id)["status"] == "failed"
        comments = stack.servicetrade.comments_for(invoice_id)
        assert len(comments) == 1
        assert comments[0]["visibility"] == []  # private
        assert reason_by_id[str(invoice_id)] in comments[0]["content"]
    reasons = " | ".join(reason_by_id.values())
    assert "no customer" in reasons
    assert "is not a date" in reasons
    assert "no mapping for 'ZZ'" in reasons
    good = set(demo.pending_ids) - broken
    assert {stack.servicetrade.invoice(i)["status"] for i in good} == {"processed"}


@pytest.mark.parametrize("crash_point", ["after_file_stored", "after_marked_exported", "mid_write_back"])
def test_crash_during_export_then_rerun_delivers_everything_exactly_once(stack, monkeypatch, crash_point):
    stack.servicetrade.seed_demo_data(count=25, broken=0)
    expected = pending_numbers(stack)
    poll(stack)

    import invoice_relay.pipeline.export as export_module

    class Crash(Exception):
        pass

    if crash_point == "after_file_stored":
        real_put = DocumentBucket.put_with_digest

        def put_then_die(self, *args, **kwargs):
            real_put(self, *args, **kwargs)
            raise Crash("Lambda died right after the file was stored")

        monkeypatch.setattr(DocumentBucket, "put_with_digest", put_then_die)
    elif crash_point == "after_marked_exported":

        def die(*args, **kwargs):
            raise Crash("Lambda died before the write-back")

        monkeypatch.setattr(export_module, "acknowledge_pending", die)
    else:
        real_mark = ServiceTradeClient.mark_processed
        calls = Counter()

        def die_after_third_write_back(self, *args, **kwargs):
            answer = real_mark(self, *args, **kwargs)
            calls["done"] += 1
            if calls["done"] == 3:
                raise Crash("Lambda died in the middle of the write-back")
            return answer

        monkeypatch.setattr(ServiceTradeClient, "mark_processed", die_after_third_write_back)

    with pytest.raises(Crash):
        export(stack)
    monkeypatch.undo()

    rerun = export(stack)
    assert rerun["status"] == "succeeded"
    assert exported_numbers(stack) == Counter(expected)  # every invoice in exactly one file
    assert len(DocumentBucket(stack.bucket_name).keys(f"exports/{CID}/")) == 1
    assert pending_numbers(stack) == set()
    puts = write_backs(stack)
    assert len(puts) == len(expected)
    # The write-back that was sent right before the crash may be repeated (PUT is idempotent); no other.
    assert sum(puts.values()) <= len(expected) + 1
    assert export(stack)["counts"].get("exported", 0) == 0


def test_poll_that_dies_mid_listing_resumes_from_its_checkpoint(stack):
    stack.servicetrade.seed_demo_data(count=50, broken=0)
    expected = pending_numbers(stack)
    stack.servicetrade.inject_fault(
        method="GET", path=r"^/api/invoice$", status=500, times=100, query={"page": "2"}
    )
    with pytest.raises(Exception, match=r"HTTP 500"):
        poll(stack)
    stack.servicetrade.clear_faults()

    resumed = poll(stack)
    assert resumed["counts"]["pages"] == 2  # pages 2 and 3 only
    listing_pages = [
        r["query"].get("page") for r in stack.servicetrade.requests if r["path"] == "/api/invoice"
    ]
    assert listing_pages[-2:] == ["2", "3"]
    export(stack)
    assert exported_numbers(stack) == Counter(expected)
    assert pending_numbers(stack) == set()


def test_repeated_polls_stage_nothing_twice(stack):
    stack.servicetrade.seed_demo_data(count=10, broken=0)
    first, second = poll(stack), poll(stack)
    assert first["counts"]["staged"] == len(pending_numbers(stack))
    assert second["counts"].get("staged", 0) == 0
    assert second["counts"]["unchanged"] == first["counts"]["staged"]


def test_write_back_outage_keeps_documents_waiting_without_a_second_file(stack):
    stack.servicetrade.seed_demo_data(count=5, broken=0)
    poll(stack)
    stack.servicetrade.inject_fault(method="PUT", path=r"^/api/invoice/\d+$", status=503, times=1000)
    first = export(stack)
    assert first["status"] == "partial"
    assert first["counts"]["write_back_pending"] >= 1
    assert len(pending_numbers(stack)) == 5  # nothing marked processed that was not written back
    stack.servicetrade.clear_faults()

    second = export(stack)
    assert second["status"] == "succeeded"
    assert second["counts"]["written_back_processed"] == 5
    assert second["export_file"] is None
    assert len(DocumentBucket(stack.bucket_name).keys(f"exports/{CID}/")) == 1
    assert pending_numbers(stack) == set()


def test_paused_connector_and_concurrent_runs_are_skipped(stack):
    from invoice_relay.connector import ConnectorStatus
    from invoice_relay.storage.state import ConnectorStore, Leases

    connectors = ConnectorStore(state_table(stack.table_name))
    with Leases(state_table(stack.table_name)).hold(CID, "export", 60):
        assert export(stack)["status"] == "skipped"
    config = connectors.get(CID)
    connectors.put(config.model_copy(update={"status": ConnectorStatus.PAUSED}))
    paused = poll(stack)
    assert (paused["status"], paused["message"]) == ("skipped", "connector is paused")
    assert not any(r["path"] == "/api/invoice" for r in stack.servicetrade.requests)


def test_where_is_invoice_1042(stack):
    """The per-document trail: every event about one invoice, across runs."""
    demo = stack.servicetrade.seed_demo_data(count=5, broken=0)
    poll(stack)
    export(stack)
    invoice = stack.servicetrade.invoice(demo.pending_ids[0])
    assert invoice["status"] == "processed"
    table = state_table(stack.table_name)
    record = DocumentStates(table).get(CID, str(invoice["id"]))
    trail = RunHistory(table).document_trail(record)
    messages = [e.message for e in trail]
    number = invoice["invoiceNumber"]
    assert messages == [
        f"invoice {number} staged for export",
        f"invoice {number} in import file {record.export_file}",
        f"invoice {number} written back as processed",
    ]
    assert [e.kind for e in trail] == ["poll", "export", "export"]
    assert trail[0].run_id != trail[1].run_id


def test_a_poll_out_of_time_stops_at_a_page_boundary_and_the_next_run_continues(stack, monkeypatch):
    """A backlog larger than one run: each run works to its time budget, the next continues at its page."""
    stack.servicetrade.seed_demo_data(count=50, broken=0)  # 20 a page: 3 pages
    expected = pending_numbers(stack)
    monkeypatch.setattr(budget, "exhausted", lambda: True)  # out of time after every page

    runs = [poll(stack) for _ in range(3)]

    assert [r["counts"].get("continues_at_page") for r in runs] == [2, 3, None]
    assert [r["counts"]["staged"] for r in runs] == [20, 20, 10]
    assert "continues at page 2" in runs[0]["message"]
    monkeypatch.undo()
    assert poll(stack)["counts"].get("staged", 0) == 0  # a completed walk starts over: all known
    assert export(stack)["counts"]["exported"] == 50
    assert exported_numbers(stack) == Counter(expected)


def test_an_export_out_of_time_leaves_its_write_backs_to_the_next_run_without_a_second_file(
    stack, monkeypatch
):
    stack.servicetrade.seed_demo_data(count=30, broken=0)
    expected = pending_numbers(stack)
    poll(stack)
    checks = Counter()

    def out_of_time_after_ten_checks() -> bool:
        checks["n"] += 1
        return checks["n"] > 10

    monkeypatch.setattr(budget, "exhausted", out_of_time_after_ten_checks)
    first = export(stack)
    monkeypatch.undo()

    assert first["status"] == "partial" and first["counts"]["exported"] == 30
    written_first = first["counts"]["written_back_processed"]
    assert 0 < written_first < 30 and first["counts"]["write_back_pending"] == 30 - written_first
    waiting = DocumentStates(state_table(stack.table_name)).by_state(CID, DocumentState.EXPORTED)
    assert len(waiting) == 30 - written_first

    second = export(stack)
    assert second["status"] == "succeeded" and second["counts"].get("exported", 0) == 0
    assert second["counts"]["written_back_processed"] == 30 - written_first
    assert len(DocumentBucket(stack.bucket_name).keys(f"exports/{CID}/")) == 1
    assert exported_numbers(stack) == Counter(expected)
    assert sum(write_backs(stack).values()) == 30 and pending_numbers(stack) == set()
    assert not DocumentStates(state_table(stack.table_name)).unsettled(CID)


def _batches(stack: LocalStack) -> list[StagedBatch]:
    return StagedBatches(state_table(stack.table_name)).pending(CID)


def test_a_clean_batch_is_exported_as_archived_and_a_touched_one_is_read_again(stack):
    stack.servicetrade.seed_demo_data(count=45, broken=0, vendor_bills=0, external_invoices=0)
    poll(stack)
    staged = _batches(stack)
    assert len(staged) == 3 and all(b.confirmed and not b.dirty for b in staged)  # the poll stored them all
    # An invoice of the first page is edited before the export: the next poll stages its new version in a
    # new batch and marks the first batch dirty, whose archive still holds the old version.
    archived = DocumentBucket(stack.bucket_name).get_json(staged[0].archive_key)["documents"]
    edited = sorted(archived, key=int)[0]
    stack.servicetrade._store.update_invoice(int(edited), {"poNumber": "PO-CHANGED"})
    assert poll(stack)["counts"]["staged"] == 1
    after = {b.archive_key: b for b in _batches(stack)}
    assert after[staged[0].archive_key].dirty
    assert not after[staged[1].archive_key].dirty and not after[staged[2].archive_key].dirty
    assert len(after) == 4

    exported = export(stack)

    assert exported["counts"]["batches_read_again"] == 1  # the dirty one; the three clean ones as archived
    assert exported["counts"]["exported"] == 45
    numbers = exported_numbers(stack)
    assert len(numbers) == 45 and set(numbers.values()) == {1}  # the edited invoice once, in its new version
    (record,) = DocumentStates(state_table(stack.table_name)).known(CID, [edited]).values()
    assert record.state is DocumentState.DONE and record.version != archived[edited]["version"]
    assert _batches(stack) == []


def test_a_batch_an_export_took_is_read_again_by_the_next_one(stack, monkeypatch):
    # An export that stops after taking its batches (here: it dies right after rendering) leaves them dirty,
    # so the next export reads their states again instead of trusting the archive.
    stack.servicetrade.seed_demo_data(count=25, broken=0, vendor_bills=0, external_invoices=0)
    poll(stack)
    from invoice_relay.pipeline import export as export_module

    def die(*args, **kwargs):
        raise RuntimeError("killed after rendering")

    with monkeypatch.context() as patch:
        patch.setattr(export_module, "_reject_unrendered", die)
        with pytest.raises(RuntimeError):
            export(stack)
    assert all(b.dirty for b in _batches(stack))

    again = export(stack)

    assert again["counts"]["batches_read_again"] == 2 and again["counts"]["exported"] == 25
    assert all(n == 1 for n in exported_numbers(stack).values())


def test_a_page_listing_documents_still_being_stored_waits_for_them_and_stages_nothing_twice(
    stack, monkeypatch
):
    # Pages are stored behind the listing; a listing that shifts can show a document twice in one run.
    from invoice_relay.partners.servicetrade.source import ServiceTradeSource

    stack.servicetrade.seed_demo_data(count=30, broken=0, vendor_bills=0, external_invoices=0)
    listed = ServiceTradeSource.poll

    def every_page_twice(self, start_page=1, position=None):
        for page in listed(self, start_page, position):
            yield page
            yield page

    monkeypatch.setattr(ServiceTradeSource, "poll", every_page_twice)
    polled = poll(stack)

    assert polled["counts"]["staged"] == 30 and polled["counts"]["unchanged"] == 30
    assert len(_batches(stack)) == 2  # 20 a page: one batch per page, none for the repeats
    assert export(stack)["counts"]["exported"] == 30
    assert set(exported_numbers(stack).values()) == {1}
