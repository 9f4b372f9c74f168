"""Flow 4: the invoice PDFs Clearnox still lacks → streamed zip bundles with metadata.json → upload.

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
from collections import Counter
from typing import Any

from ..connector import ClearnoxTargetConfig, ConnectorConfig, DropZoneSourceConfig
from ..errors import ConfigurationError, PermanentError, TransientError
from ..secrets import partner_credentials
from ..storage.runs import RunLog
from ..storage.state import BundleLedger
from ..storage.table import utc_now
from .exclusive import run_exclusively
from .services import Services
from .summary import DocumentFailure, RunSummary

MISSING_LISTED = 50  # entries named in the run log when their PDF is not in the drop zone


def run_bundle(connector_id: str, services: Services) -> RunSummary:
    return run_exclusively(
        connector_id, "bundle", services, lambda config, run: _bundle(config, services, run)
    )


def drop_zone_prefix(config: ConnectorConfig) -> str:
    source = config.source
    if not isinstance(source, DropZoneSourceConfig):
        raise ConfigurationError(f"connector '{config.connector_id}' has no document drop zone")
    return source.prefix or f"documents/{config.connector_id}/"


def _bundle(config: ConnectorConfig, services: Services, run: RunLog) -> RunSummary:
    from ..bundles.matching import MatchRule, index_drop_zone, match_entries
    from ..bundles.zipstream import plan_bundles
    from ..connectors.clearnox import ClearnoxClient

    target = config.target
    if not isinstance(target, ClearnoxTargetConfig):
        raise ConfigurationError(f"connector '{config.connector_id}' does not bundle documents for Clearnox")
    cid = config.connector_id
    prefix = drop_zone_prefix(config)
    run.start(drop_zone=prefix, rule=target.match.rule)
    counts: Counter[str] = Counter()
    failures: list[DocumentFailure] = []
    ledger = BundleLedger(services.table)
    client = ClearnoxClient.from_secret(
        target.base_url,
        partner_credentials(target.credentials_secret, services.settings.secret_cache_seconds),
    )
    try:
        entries = list(client.missing_document_entries())
        counts["missing_at_partner"] = len(entries)
        eligible = _past_grace(entries, ledger.sent_at(cid, [e.id for e in entries]), target, counts)
        index = index_drop_zone(services.bucket.client, services.bucket.bucket, prefix)
        rule = MatchRule.model_validate(target.match.model_dump())
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
            deferred = _send_bundle(
                cid,
                f"{run.run_id}-{number:03d}",
                plans.pop(0),
                client,
                services,
                ledger,
                run,
                counts,
                failures,
                max_bytes=target.max_bundle_bytes,
            )
            if deferred:  # the archive would have outgrown the limit: they open the next bundle
                plans.insert(0, deferred)
    finally:
        client.close()
    status = "failed" if counts["bundles_rejected"] and not counts["bundles_sent"] else "succeeded"
    if counts["bundles_rejected"] and counts["bundles_sent"]:
        status = "partial"
    run.finish(status, dict(counts))
    return RunSummary(
        connector_id=cid,
        kind="bundle",
        run_id=run.run_id,
        status=status,
        counts=dict(counts),
        failures=failures,
        message=(
            f"{counts['entries_sent']} documents sent in {counts['bundles_sent']} bundle(s), "
            f"{counts['without_pdf']} entries without a PDF, "
            f"{counts['awaiting_partner']} awaiting the partner"
        ),
    )


def _past_grace(
    entries: list[Any], sent_at: dict[str, dt.datetime], target: ClearnoxTargetConfig, counts: Counter[str]
) -> list[Any]:
    """Entries never sent, or sent longer ago than the grace period and still missing."""
    grace = dt.timedelta(hours=target.resend_grace_hours)
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
    connector_id: str,
    bundle_id: str,
    plan: list[Any],
    client: Any,
    services: Services,
    ledger: BundleLedger,
    run: RunLog,
    counts: Counter[str],
    failures: list[DocumentFailure],
    *,
    max_bytes: int,
) -> list[Any]:
    """Build, store and upload one bundle; returns the members deferred to the next bundle."""
    from ..bundles.zipstream import stream_bundle
    from ..connectors.clearnox import bundle_metadata

    key = f"bundles/{connector_id}/{utc_now():%Y/%m/%d}/{bundle_id}.zip"
    result = stream_bundle(
        services.bucket.client,
        services.bucket.bucket,
        plan,
        dest_key=key,
        metadata_json=lambda written: bundle_metadata(bundle_id, connector_id, written).to_json_bytes(),
        max_bytes=max_bytes,
    )
    for member, reason in result.skipped:
        counts["skipped"] += 1  # not a PDF, empty, gone or changed since matched: reason in the log
        entry = member.entry
        failures.append(DocumentFailure(source_id=entry.id, number=entry.invoice_number, reason=reason))
        run.event("warn", f"{member.key} skipped for entry {entry.id}: {reason}", source_id=entry.id)
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
        receipt = _upload(client, services, key, bundle_id, result)
    except PermanentError as exc:
        counts["bundles_rejected"] += 1
        ledger.record_bundle(
            connector_id, bundle_id, run.run_id, key=key, status="rejected", reason=exc.reason
        )
        run.event("error", f"{exc.reason} — its {len(entries)} entries stay pending", bundle_id=bundle_id)
        failures.extend(DocumentFailure(source_id=entry_id, reason=exc.reason) for entry_id in entries)
        return result.deferred
    ledger.record_sent(connector_id, bundle_id, entries)
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
        f"bundle {bundle_id} uploaded to Clearnox: {len(receipt.accepted_entries)} entries accepted",
        bundle_id=bundle_id,
    )
    return result.deferred


def _upload(client: Any, services: Services, key: str, bundle_id: str, result: Any) -> Any:
    """Stream the stored bundle to the partner; one more try (a fresh S3 stream, the same bundle id, which
    the partner answers with its earlier receipt if the first try did arrive) on a transient failure."""
    for attempt in (1, 2):
        body = services.bucket.client.get_object(Bucket=services.bucket.bucket, Key=key)["Body"]
        try:
            return client.upload_bundle(bundle_id, body, size=result.size, sha256=result.sha256)
        except TransientError:
            if attempt == 2:
                raise
        finally:
            body.close()
    raise AssertionError("unreachable")
