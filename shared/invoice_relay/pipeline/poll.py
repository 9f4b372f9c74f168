"""Flow 1, first half: page through the source's ready documents and hand each one on, exactly once.

Exactly-once, step by step:
- every document version is staged with a conditional write keyed on (connector, source id, version),
  so listing it again (next page, next run, a re-run after a crash) never stages it twice;
- the cursor is saved after each page is fully handed on, so a run that dies resumes at the first page
  that may be incomplete (re-staging its documents is a no-op); a completed run starts over at page 1,
  because what is "ready" is decided by the source's status filter, not by our position in it;
- the raw payload is stored in S3 before the document is staged, so nothing staged lacks its original;
- documents that cannot be mapped are recorded as `rejected` with the reason and written back `failed`.
"""

from __future__ import annotations

from collections import Counter

from ..connector import ConnectorConfig
from ..connectors.base import Source, SourceRef
from ..errors import MappingError, TransientError
from ..storage.runs import RunLog
from ..storage.state import DocumentState, StageResult
from ..storage.table import iso, utc_now
from .acknowledge import acknowledge_pending
from .exclusive import run_exclusively
from .queue import enqueue
from .services import Services
from .summary import DocumentFailure, RunSummary
from .work import WorkItem

CURSOR = "poll"
API_TARGETS = {"freshbooks"}


def run_poll(connector_id: str, services: Services) -> RunSummary:
    """One poll of one connector. Raises TransientError when the source fails mid-run (the schedule
    retries; the checkpoint makes the retry resume where this run stopped)."""
    return run_exclusively(
        connector_id,
        "poll",
        services,
        lambda config, run: _poll(config, services, services.source_for(config), run),
    )


def _poll(config: ConnectorConfig, services: Services, source: Source, run: RunLog) -> RunSummary:
    connector_id = config.connector_id
    hand_on = _enqueue_for_delivery if config.target.system in API_TARGETS else _stage_for_export
    cursor = services.cursors.get(connector_id, CURSOR)
    start_page = int(cursor.get("next_page", 1)) if cursor.get("in_progress") else 1
    run.start(source=source.system, start_page=start_page, resumed_from=cursor.get("run_id"))
    counts: Counter[str] = Counter()
    failures: list[DocumentFailure] = []
    try:
        for page in source.poll(start_page):
            for ref in page.refs:
                if services.documents.seen(connector_id, ref.id, ref.version) is not None:
                    result = "unchanged"
                else:
                    result = hand_on(connector_id, services, source, run, ref, failures)
                counts[result] += 1
            counts["pages"] += 1
            services.cursors.save(
                connector_id,
                CURSOR,
                {
                    "in_progress": page.next_page is not None,
                    "next_page": page.next_page or 1,
                    "run_id": run.run_id,
                    "total_pages": page.total_pages,
                    "saved_at": iso(utc_now()),
                },
            )
        counts.update(acknowledge_pending(services, connector_id, source, run, (DocumentState.REJECTED,)))
    except TransientError as exc:
        run.finish("failed", {**counts, "error": exc.reason})
        raise
    finally:
        source.close()
    status = "partial" if counts["write_back_pending"] else "succeeded"
    run.finish(status, dict(counts))
    return RunSummary(
        connector_id=connector_id,
        kind="poll",
        run_id=run.run_id,
        status=status,
        counts=dict(counts),
        failures=failures,
        message=(
            f"{counts['staged']} staged, "
            + (f"{counts['queued']} queued for delivery, " if counts["queued"] else "")
            + f"{counts['rejected']} rejected, {counts['unchanged']} already known"
        ),
    )


def _enqueue_for_delivery(
    connector_id: str,
    services: Services,
    source: Source,
    run: RunLog,
    ref: SourceRef,
    failures: list[DocumentFailure],
) -> str:
    """API targets: put the document on the delivery queue, then record it as queued.

    Sent before it is recorded: a crash in between re-sends it on the next poll, and the delivery's
    idempotency key (connector, source id, version) makes the second message a no-op — never a loss.
    """
    item = WorkItem(
        connector_id=connector_id,
        source_system=source.system,
        event_type="invoice.ready",
        source_id=ref.id,
        version=ref.version,
        payload={"number": ref.number},
        received_at=iso(utc_now()),
    )
    enqueue(services.settings.delivery_queue_url, item)
    result = services.documents.stage(
        connector_id,
        ref.id,
        ref.version,
        state=DocumentState.QUEUED,
        run_id=run.run_id,
        number=ref.number,
        document_json=None,
        raw_key=None,
    )
    if result is not StageResult.NEW:
        return "unchanged"
    run.event(
        "info", f"invoice {ref.number or ref.id} queued for delivery", source_id=ref.id, number=ref.number
    )
    return "queued"


def _stage_for_export(
    connector_id: str,
    services: Services,
    source: Source,
    run: RunLog,
    ref: SourceRef,
    failures: list[DocumentFailure],
) -> str:
    """Flat-file targets: stage one listed document for the next export (or record why not).
    Returns the count key for the run summary."""
    try:
        document, raw = source.fetch(ref)
    except MappingError as exc:
        raw = getattr(exc, "raw", None)
        raw_key = (
            services.bucket.put_raw(connector_id, source.system, ref.id, ref.version, raw) if raw else None
        )
        result = services.documents.stage(
            connector_id,
            ref.id,
            ref.version,
            state=DocumentState.REJECTED,
            run_id=run.run_id,
            number=ref.number,
            document_json=None,
            raw_key=raw_key,
            reason=exc.reason,
        )
        if result is StageResult.NEW:
            failures.append(DocumentFailure(source_id=ref.id, number=ref.number, reason=exc.reason))
            run.event(
                "warn",
                f"invoice {ref.number or ref.id} rejected: {exc.reason}",
                source_id=ref.id,
                number=ref.number,
                raw_key=raw_key,
            )
            return "rejected"
        return "unchanged"
    current = source.current_ref(raw)
    if current is None:
        return "no_longer_ready"  # written back meanwhile (e.g. by a concurrent export)
    raw_key = services.bucket.put_raw(connector_id, source.system, current.id, current.version, raw)
    result = services.documents.stage(
        connector_id,
        current.id,
        current.version,
        state=DocumentState.STAGED,
        run_id=run.run_id,
        number=document.number,
        document_json=document.model_dump_json(),
        raw_key=raw_key,
    )
    if result is not StageResult.NEW:
        return "unchanged" if result is StageResult.UNCHANGED else "in_flight"
    services.xrefs.put(connector_id, f"{source.system}-number", document.number, {"source_id": current.id})
    run.event(
        "info",
        f"invoice {document.number} staged for export ({len(document.lines)} lines,"
        f" total {document.totals.total} {document.currency})",
        source_id=current.id,
        number=document.number,
        raw_key=raw_key,
    )
    return "staged"
