"""Flow 1 (and the first half of flow 2): poll a connector's source for ready documents, hand each on once.

What "hand on" means follows the connector's target, by capability:
- a file target (flat import files): the document is fetched, mapped and *staged* for the next export;
- a document target (an accounting API): the document is *queued* for DeliverFunction.

Exactly once, step by step:
- each listed document is keyed by (connector, source id, version); a version already handed on is
  `unchanged`, so re-polling the same page is harmless;
- the checkpoint (next page) is saved after each page is handed on: a run that dies resumes there, and a
  completed run starts over at page 1, because what is "ready" is decided by the source's status filter,
  not by our position in it;
- the raw payload is stored in S3 before the document is staged, so nothing staged lacks its original;
- documents that cannot be mapped are recorded as `rejected` with the reason and written back `failed`.
"""

from __future__ import annotations

from ..connector import ConnectorConfig
from ..errors import MappingError
from ..partners.capabilities import DOCUMENT_TARGET, FILE_TARGET, POLLED_SOURCE, PolledSource, SourceRef
from ..storage.state import DocumentState, StageResult
from ..storage.table import iso, utc_now
from .acknowledge import acknowledge_pending
from .run import Finished, Run, run_connector
from .services import Services
from .summary import RunSummary
from .work import DOCUMENT_READY, WorkItem

CURSOR = "poll"


def run_poll(connector_id: str, services: Services) -> RunSummary:
    """One poll of one connector. Raises TransientError when the source fails mid-run (the schedule
    retries; the checkpoint makes the retry resume where this run stopped)."""
    return run_connector(connector_id, "poll", services, _poll, needs=(POLLED_SOURCE,))


def _poll(config: ConnectorConfig, services: Services, run: Run) -> Finished:
    connector_id = config.connector_id
    if services.partners.provides(config, FILE_TARGET):
        hand_on = _stage_for_export
    else:
        services.partners.require(config, DOCUMENT_TARGET)
        hand_on = _enqueue_for_delivery
    cursor = services.cursors.get(connector_id, CURSOR)
    start_page = int(cursor.get("next_page", 1)) if cursor.get("in_progress") else 1
    source = services.open(config, POLLED_SOURCE)
    run.event("info", f"polling {source.system} from page {start_page}", resumed_from=cursor.get("run_id"))
    counts = run.counts
    try:
        for page in source.poll(start_page):
            for ref in page.refs:
                if services.documents.seen(connector_id, ref.id, ref.version) is not None:
                    result = "unchanged"
                else:
                    result = hand_on(services, source, run, ref)
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
        acknowledge_pending(services, source, run, (DocumentState.REJECTED,))
    finally:
        source.close()
    return Finished(
        status="partial" if counts["write_back_pending"] else "succeeded",
        message=(
            f"{counts['staged']} staged, "
            + (f"{counts['queued']} queued for delivery, " if counts["queued"] else "")
            + f"{counts['rejected']} rejected, {counts['unchanged']} already known"
        ),
    )


def _enqueue_for_delivery(services: Services, source: PolledSource, run: Run, ref: SourceRef) -> str:
    """Document targets: put the document on the delivery queue, then record it as queued.

    Sent before it is recorded: a crash in between re-sends it on the next poll, and the delivery's
    idempotency key (connector, source id, version) makes the second message a no-op — never a loss.
    """
    item = WorkItem(
        connector_id=run.connector_id,
        source_system=source.system,
        event_type=DOCUMENT_READY,
        source_id=ref.id,
        version=ref.version,
        payload={"number": ref.number},
        received_at=iso(utc_now()),
    )
    services.queue.send(item)
    result = services.documents.stage(
        run.connector_id,
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


def _stage_for_export(services: Services, source: PolledSource, run: Run, ref: SourceRef) -> str:
    """File targets: stage one listed document for the next export (or record why not).
    Returns the count key for the run summary."""
    connector_id = run.connector_id
    try:
        document, raw = source.fetch(ref)
    except MappingError as exc:
        raw_key = (
            services.bucket.put_raw(connector_id, source.system, ref.id, ref.version, exc.raw)
            if exc.raw
            else None
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
        if result is not StageResult.NEW:
            return "unchanged"
        run.document_failed(
            ref.id,
            ref.number,
            exc.reason,
            f"invoice {ref.number or ref.id} rejected: {exc.reason}",
            raw_key=raw_key,
        )
        return "rejected"
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
