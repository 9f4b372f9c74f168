"""Flow 4: the invoice PDFs a bundle target (credit management) still lacks → streamed zips → upload.

Exactly once, and in constant memory:
- what is missing is decided by the partner (its listing of booking entries without a document), so an
  entry it has imported is never sent again; an entry we sent that it still lists is sent again only
  after the connector's grace period (its import may not be visible yet);
- each bundle is streamed from the drop zone into S3 (multipart) and from S3 to the partner, never held
  whole in memory or in /tmp; the upload carries the bundle id, which the partner uses to ignore a
  repeated upload of the same bundle (a retry after a timeout);
- an entry is recorded as sent only after the partner accepted its bundle; a rejected bundle is reported
  with the partner's reason and its entries stay pending.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from ..connector import ConnectorConfig
from ..errors import PermanentError, TransientError
from ..partners.capabilities import BUNDLE_TARGET, DOCUMENT_DROP_ZONE, BundleTarget
from ..storage.table import utc_now
from .run import Finished, Run, run_connector
from .services import Services
from .summary import DocumentFailure, RunSummary

if TYPE_CHECKING:
    from ..partners.capabilities import BookingEntry

MISSING_LISTED = 50  # entries named in the run log when their PDF is not in the drop zone
UPLOAD_TAG = "upload"  # on a stored bundle: pending until the partner accepted it, then done


def run_bundle(connector_id: str, services: Services) -> RunSummary:
    return run_connector(connector_id, "bundle", services, _bundle, needs=(DOCUMENT_DROP_ZONE, BUNDLE_TARGET))


def _bundle(config: ConnectorConfig, services: Services, run: Run) -> Finished:
    from ..bundles.matching import MatchRule, index_drop_zone, match_entries
    from ..bundles.zipstream import plan_bundles

    cid = config.connector_id
    drop_zone = services.open(config, DOCUMENT_DROP_ZONE)
    prefix = drop_zone.prefix()
    rule = MatchRule.model_validate(drop_zone.match_rule())
    run.event("info", f"bundling from s3://{services.bucket.bucket}/{prefix}", rule=rule.rule)
    counts = run.counts
    target = services.open(config, BUNDLE_TARGET)
    try:
        entries = list(target.missing_document_entries())
        counts["missing_at_partner"] = len(entries)
        eligible = _past_grace(entries, services.bundles.sent_at(cid, [e.id for e in entries]), target, run)
        index = index_drop_zone(services.bucket.client, services.bucket.bucket, prefix)
        matched, without_pdf = match_entries(eligible, index, rule)
        counts["without_pdf"] = len(without_pdf)
        if without_pdf:
            listed = ", ".join(
                f"{e.invoice_number or e.entry_reference} ({e.id})" for e in without_pdf[:MISSING_LISTED]
            )
            more = (
                f" and {len(without_pdf) - MISSING_LISTED} more" if len(without_pdf) > MISSING_LISTED else ""
            )
            run.event(
                "warn",
                f"{len(without_pdf)} booking entries have no PDF in s3://{services.bucket.bucket}/"
                f"{prefix}: {listed}{more}",
                entries=[e.id for e in without_pdf],
            )
        plans = plan_bundles(matched, max_bytes=target.max_bundle_bytes, max_files=target.max_bundle_files)
        number = 0
        while plans:
            number += 1
            deferred = _send_bundle(f"{run.run_id}-{number:03d}", plans.pop(0), target, services, run)
            if deferred:  # the archive would have outgrown the limit: they open the next bundle
                plans.insert(0, deferred)
    finally:
        target.close()
    status = "failed" if counts["bundles_rejected"] and not counts["bundles_sent"] else "succeeded"
    if counts["bundles_rejected"] and counts["bundles_sent"]:
        status = "partial"
    return Finished(
        status=status,
        message=(
            f"{counts['entries_sent']} documents sent in {counts['bundles_sent']} bundle(s), "
            f"{counts['without_pdf']} entries without a PDF, "
            f"{counts['awaiting_partner']} awaiting the partner"
        ),
    )


def _past_grace(
    entries: list[BookingEntry], sent_at: dict[str, dt.datetime], target: BundleTarget, run: Run
) -> list[BookingEntry]:
    """Entries never sent, or sent longer ago than the grace period and still missing."""
    grace = dt.timedelta(hours=target.resend_grace_hours)
    counts = run.counts
    now = utc_now()
    eligible = []
    for entry in entries:
        sent = sent_at.get(entry.id)
        if sent is not None and now - sent < grace:
            counts["awaiting_partner"] += 1
        else:
            counts["resent" if sent is not None else "new"] += 1
            eligible.append(entry)
    return eligible


def _send_bundle(
    bundle_id: str, plan: list[Any], target: BundleTarget, services: Services, run: Run
) -> list[Any]:
    """Build, store and upload one bundle; returns the members deferred to the next bundle."""
    from ..bundles.zipstream import stream_bundle

    connector_id, counts, ledger = run.connector_id, run.counts, services.bundles
    key = f"bundles/{connector_id}/{utc_now():%Y/%m/%d}/{bundle_id}.zip"
    result = stream_bundle(
        services.bucket.client,
        services.bucket.bucket,
        plan,
        dest_key=key,
        metadata_json=lambda written: target.bundle_metadata(bundle_id, connector_id, list(written)),
        max_bytes=target.max_bundle_bytes,
        # A bundle stored but never uploaded (the run died) expires by the bucket's lifecycle rule for this
        # tag; the next run builds its entries into a new bundle.
        tagging=f"{UPLOAD_TAG}=pending",
    )
    for member, reason in result.skipped:
        counts["skipped"] += 1  # not a PDF, empty, gone or changed since matched: reason in the log
        entry = member.entry
        run.document_failed(
            entry.id, entry.invoice_number, reason, f"{member.key} skipped for entry {entry.id}: {reason}"
        )
    if not result.members or result.key is None:
        run.event("info", f"bundle {bundle_id}: nothing left to send after skipping")
        return result.deferred
    entries = {m.entry.id: m.name for m in result.members}
    ledger.record_bundle(
        connector_id,
        bundle_id,
        run.run_id,
        key=key,
        size=result.size,
        sha256=result.sha256,
        files=len(entries),
        status="stored",
    )
    run.event(
        "info",
        f"bundle {bundle_id} stored: s3://{services.bucket.bucket}/{key} ({len(entries)} PDFs,"
        f" {result.size} bytes)",
        bundle_id=bundle_id,
        sha256=result.sha256,
    )
    try:
        receipt = _upload(target, services, key, bundle_id, result)
    except PermanentError as exc:
        counts["bundles_rejected"] += 1
        ledger.record_bundle(
            connector_id, bundle_id, run.run_id, key=key, status="rejected", reason=exc.reason
        )
        run.event("error", f"{exc.reason} — its {len(entries)} entries stay pending", bundle_id=bundle_id)
        run.failures.extend(DocumentFailure(source_id=entry_id, reason=exc.reason) for entry_id in entries)
        return result.deferred
    ledger.record_sent(connector_id, bundle_id, entries)
    services.bucket.client.put_object_tagging(
        Bucket=services.bucket.bucket, Key=key, Tagging={"TagSet": [{"Key": UPLOAD_TAG, "Value": "done"}]}
    )
    ledger.record_bundle(
        connector_id,
        bundle_id,
        run.run_id,
        key=key,
        size=result.size,
        sha256=result.sha256,
        files=len(entries),
        status="uploaded",
        accepted=len(receipt.accepted_entries),
    )
    counts["bundles_sent"] += 1
    counts["entries_sent"] += len(entries)
    run.event(
        "info",
        f"bundle {bundle_id} uploaded to {target.system}: {len(receipt.accepted_entries)} entries accepted",
        bundle_id=bundle_id,
    )
    return result.deferred


def _upload(target: BundleTarget, services: Services, key: str, bundle_id: str, result: Any) -> Any:
    """Stream the stored bundle to the partner; one more try (a fresh S3 stream, the same bundle id, which
    the partner answers with its earlier receipt if the first try did arrive) on a transient failure."""
    for attempt in (1, 2):
        body = services.bucket.client.get_object(Bucket=services.bucket.bucket, Key=key)["Body"]
        try:
            return target.upload_bundle(bundle_id, body, size=result.size, sha256=result.sha256)
        except TransientError:
            if attempt == 2:
                raise
        finally:
            body.close()
    raise AssertionError("unreachable")
