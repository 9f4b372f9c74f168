"""Flow 4 through the real BundleFunction handler: Clearnox (sandbox) lists what it lacks, the PDFs come
from the embedded S3 drop zone, the bundles are streamed into S3 and uploaded, the sandbox really opens
them — and nothing is sent twice."""

from __future__ import annotations

import pytest

from invoice_relay.storage.runs import RunHistory
from invoice_relay.storage.table import state_table
from local.scenarios.stack import LocalStack

CID = "test-clearnox"


@pytest.fixture
def stack():
    with LocalStack(seed_demo=False) as local:
        local.add_clearnox_connector(CID)
        yield local


def bundle(stack: LocalStack) -> dict:
    return stack.invoke("BundleFunction", {"connector_id": CID})


def run_log(stack: LocalStack, run_id: str) -> list[str]:
    return [e.message for e in RunHistory(state_table(stack.table_name)).run_events(run_id)]


def test_every_missing_pdf_is_sent_once_and_the_rest_is_reported(stack):
    keys = stack.seed_drop_zone(CID, without_pdf=4)
    entries = stack.clearnox.entries()
    not_a_pdf, hostile = entries[2], entries[3]

    first = bundle(stack)
    assert first["status"] == "succeeded"
    assert first["counts"]["bundles_sent"] == 1
    assert first["counts"]["entries_sent"] == len(keys) - 1  # the non-PDF is skipped with its reason
    assert first["counts"]["without_pdf"] == 4
    messages = run_log(stack, first["run_id"])
    assert any(m.startswith("4 booking entries have no PDF") for m in messages)
    assert any("does not start with %PDF-" in f["reason"] or "PDF" in f["reason"] for f in first["failures"])
    assert set(stack.clearnox.missing()) == {e["id"] for e in entries[-4:]} | {not_a_pdf["id"]}

    stored = stack.clearnox.documents_for(hostile["id"])
    assert stored.file_name == f"{hostile['invoice_number']}.pdf"  # "../../" is gone inside the zip

    second = bundle(stack)
    assert second["counts"].get("bundles_sent", 0) == 0  # nothing sent twice
    assert len([u for u in stack.clearnox.uploads if u.status == 201]) == 1


def test_bundles_split_at_the_configured_file_limit(stack):
    stack.add_clearnox_connector(CID, max_bundle_files=10)
    stack.seed_drop_zone(CID, without_pdf=0)
    result = bundle(stack)
    pdfs = len(stack.clearnox.entries()) - 1  # one file in the drop zone is not a PDF
    assert result["counts"]["entries_sent"] == pdfs
    assert result["counts"]["bundles_sent"] == -(-len(stack.clearnox.entries()) // 10)
    assert all(len(u.accepted) <= 10 for u in stack.clearnox.uploads)


def test_a_listing_over_several_pages_is_read_to_the_end(stack):
    stack.clearnox.seed_demo_entries(count=230)
    stack.seed_drop_zone(CID, without_pdf=0)
    result = bundle(stack)
    assert result["counts"]["missing_at_partner"] == 230
    listings = [r for r in stack.clearnox.requests if r["path"] == "/api/v1/booking-entries"]
    assert len(listings) >= 3
    assert len(stack.clearnox.missing()) == 1  # only the non-PDF


def test_a_rejected_bundle_is_reported_and_its_entries_stay_pending(stack):
    stack.seed_drop_zone(CID, without_pdf=0)
    missing_before = set(stack.clearnox.missing())
    stack.clearnox.inject_fault(
        method="POST",
        path=r"^/api/v1/document-bundles$",
        status=422,
        times=1,
        body={"error": {"code": "bundle_invalid", "message": "The bundle was refused", "details": []}},
    )
    rejected = bundle(stack)
    assert rejected["counts"]["bundles_rejected"] == 1
    assert rejected["status"] == "failed"
    assert set(stack.clearnox.missing()) == missing_before
    assert any("refused" in m and "stay pending" in m for m in run_log(stack, rejected["run_id"]))

    retried = bundle(stack)  # not sent before, so no grace period applies
    assert retried["counts"]["bundles_sent"] == 1


def test_an_entry_still_missing_is_sent_again_only_after_the_grace_period(stack):
    stack.seed_drop_zone(CID, without_pdf=0)
    bundle(stack)
    entry = stack.clearnox.entries()[0]["id"]
    stack.clearnox.detach_document(entry)  # the partner lost it / has not processed it yet

    within_grace = bundle(stack)
    assert within_grace["counts"]["awaiting_partner"] == 1
    assert within_grace["counts"].get("bundles_sent", 0) == 0

    stack.add_clearnox_connector(CID, resend_grace_hours=0)
    after_grace = bundle(stack)
    assert after_grace["counts"]["resent"] == 1
    assert after_grace["counts"]["entries_sent"] == 1
    assert stack.clearnox.documents_for(entry) is not None


def bundle_tags(stack: LocalStack) -> dict[str, str]:
    """Stored bundle key → its `upload` tag."""
    s3 = stack.aws.client("s3")
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=stack.bucket_name, Prefix=f"bundles/{CID}/").get("Contents", [])
    ]
    return {
        key: {
            t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=stack.bucket_name, Key=key)["TagSet"]
        }.get("upload", "")
        for key in keys
    }


def test_a_bundle_stored_but_never_uploaded_stays_tagged_pending_for_the_lifecycle_rule(stack, monkeypatch):
    from invoice_relay.pipeline import bundle as bundle_module

    stack.seed_drop_zone(CID, without_pdf=0)

    def crash(*args, **kwargs):
        raise RuntimeError("the Lambda died before the upload")

    monkeypatch.setattr(bundle_module, "_upload", crash)
    with pytest.raises(RuntimeError):
        bundle(stack)
    monkeypatch.undo()
    [pending] = bundle_tags(stack).values()
    assert pending == "pending"  # expires after 7 days (template: ExpireBundlesNeverUploaded)

    again = bundle(stack)  # the entries go out in a new bundle
    assert again["counts"]["bundles_sent"] == 1
    assert sorted(bundle_tags(stack).values()) == ["done", "pending"]
