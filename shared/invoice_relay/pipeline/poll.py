"""Flow 1 (and the first half of flow 2): poll a connector's source for ready documents, hand each on once.

What "hand on" means follows the connector's target, by capability:
- a file target (flat import files): the page's documents are mapped as listed and *staged* for the next
  export, a page at a time;
- a document target (an accounting API): each document is *queued* for DeliverFunction.

Exactly once, step by step (per listed page, a few AWS calls whatever its size):
- the page's documents are looked up in one `BatchGetItem`; each is keyed by (connector, source id,
  version): a version already known is `unchanged`, so re-polling the same page is harmless;
- file targets: the page is archived in S3 first (the raw records as listed and the canonical documents
  staged from them), then the page's *staged batch* (the export's work list) is recorded, then the new
  documents' states in `BatchWriteItem`s — so nothing is staged without its original and its batch. New
  documents need no condition: polls of a connector are serialized by its lease and nothing else writes
  a document we have never seen. A *changed* version of a known document is fetched again ("still
  ready?" — it may have been written back meanwhile by an export) and replaces the known one with a
  conditional write: the one place where a poll and an export could meet;
- the checkpoint (next page) is saved after each page: a run that dies, or stops because its time budget
  ran out, resumes there; a completed run starts over at page 1, because what is "ready" is decided by the
  source's status filter, not by our position in it;
- documents that cannot be mapped are `rejected` with the reason and written back `failed`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..concurrency import read_ahead
from ..connector import ConnectorConfig
from ..errors import MappingError
from ..models import Document
from ..partners.capabilities import (
    DOCUMENT_TARGET,
    FILE_TARGET,
    POLLED_SOURCE,
    PolledSource,
    SourcePage,
    SourceRef,
)
from ..storage.state import DocumentRecord, DocumentState, DocumentStates, StagedBatches, StageResult
from ..storage.table import iso, utc_now
from . import budget
from .acknowledge import acknowledge_pending
from .run import Finished, Run, run_connector
from .services import Services
from .summary import RunSummary
from .work import DOCUMENT_READY, WorkItem

CURSOR = "poll"
ARCHIVE_FORMAT = "invoice-relay.listing-page/v1"


def run_poll(connector_id: str, services: Services) -> RunSummary:
    """One poll of one connector. Raises TransientError when the source fails mid-run (the schedule
    retries; the checkpoint makes the retry resume where this run stopped)."""
    return run_connector(connector_id, "poll", services, _poll, needs=(POLLED_SOURCE,))


PageHandler = Callable[[Services, PolledSource, Run, SourcePage, dict[str, DocumentRecord]], None]


def _poll(config: ConnectorConfig, services: Services, run: Run) -> Finished:
    connector_id = config.connector_id
    if services.partners.provides(config, FILE_TARGET):
        hand_on: PageHandler = _stage_page
    else:
        services.partners.require(config, DOCUMENT_TARGET)
        hand_on = _enqueue_page
    cursor = services.cursors.get(connector_id, CURSOR)
    start_page = int(cursor.get("next_page", 1)) if cursor.get("in_progress") else 1
    source = services.open(config, POLLED_SOURCE)
    run.event("info", f"polling {source.system} from page {start_page}", resumed_from=cursor.get("run_id"))
    counts = run.counts
    try:
        for page in read_ahead(source.poll(start_page), name="poll-listing"):
            known = services.documents.known(connector_id, [ref.id for ref in page.refs])
            hand_on(services, source, run, page, known)
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
            run.log.flush()
            if page.next_page is not None and budget.exhausted():
                counts["continues_at_page"] = page.next_page
                run.event(
                    "info",
                    f"time budget used after page {page.page} of {page.total_pages}: the next run continues"
                    f" at page {page.next_page}",
                )
                break
        acknowledge_pending(services, source, run, (DocumentState.REJECTED,))
    finally:
        source.close()
    return Finished(
        status="partial" if counts["write_back_pending"] else "succeeded",
        message=(
            f"{counts['staged']} staged, "
            + (f"{counts['queued']} queued for delivery, " if counts["queued"] else "")
            + f"{counts['rejected']} rejected, {counts['unchanged']} already known"
            + (f"; continues at page {counts['continues_at_page']}" if counts["continues_at_page"] else "")
        ),
    )


def _enqueue_page(
    services: Services, source: PolledSource, run: Run, page: SourcePage, known: dict[str, DocumentRecord]
) -> None:
    for ref in page.refs:
        verdict = DocumentStates.verdict(known.get(ref.id), ref.version)
        run.counts[
            verdict.value if verdict else _enqueue_for_delivery(services, source, run, ref, known)
        ] += 1


def _enqueue_for_delivery(
    services: Services, source: PolledSource, run: Run, ref: SourceRef, known: dict[str, DocumentRecord]
) -> str:
    """Document targets: put the document on the delivery queue, then record it as queued.

    Sent before it is recorded: a crash in between re-sends it on the next poll, and the delivery's
    idempotency key (connector, source id, version) makes the second message a no-op — never a loss.
    Recorded with a conditional write: a delivery of an earlier version may be settling it right now.
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
    record = DocumentRecord(
        run.connector_id, ref.id, ref.version, DocumentState.QUEUED, number=ref.number, run_id=run.run_id
    )
    if services.documents.stage(record, replacing=known.get(ref.id)) is not StageResult.NEW:
        return "unchanged"
    run.log.line(
        "info", f"invoice {ref.number or ref.id} queued for delivery", source_id=ref.id, number=ref.number
    )
    return "queued"


class _PageStaging:
    """What one listed page contributes to the export: its archive, new records, replaced ones."""

    def __init__(self, services: Services, source: PolledSource, run: Run, page: SourcePage):
        self.services, self.source, self.run, self.page = services, source, run, page
        self.archive_key = (
            f"raw/{run.connector_id}/{source.system}/pages/{run.started_on}/{run.run_id}/{page.page:06d}.json"
        )
        self.documents: dict[str, dict[str, Any]] = {}  # source id → archived canonical document
        self.staged: dict[str, Document] = {}
        self.fetched: dict[str, Any] = {}  # source id → payload fetched again (changed documents)
        self.new: list[DocumentRecord] = []
        self.replacing: list[tuple[DocumentRecord, DocumentRecord]] = []  # (new, the known one it replaces)

    def add(self, ref: SourceRef, previous: DocumentRecord | None) -> None:
        try:
            if previous is None:
                current, document = ref, self.source.document(self.page.records.get(ref.id) or {})
            else:
                document, raw = self.source.fetch(ref)
                self.fetched[ref.id] = raw
                current = self.source.current_ref(raw)
                if current is None:  # written back meanwhile (e.g. by a concurrent export)
                    self.run.counts["no_longer_ready"] += 1
                    return
        except MappingError as exc:
            if previous is not None and exc.raw is not None:
                self.fetched[ref.id] = exc.raw
            self._record(ref, previous, DocumentState.REJECTED, number=ref.number, reason=exc.reason)
            return
        # Kept as JSON text: an export holds thousands of them while it renders one at a time.
        self.documents[current.id] = {
            "version": current.version,
            "number": document.number,
            "document": document.model_dump_json(),
        }
        self.staged[current.id] = document
        self._record(current, previous, DocumentState.STAGED, number=document.number)

    def _record(
        self,
        ref: SourceRef,
        previous: DocumentRecord | None,
        state: DocumentState,
        *,
        number: str | None,
        reason: str | None = None,
    ) -> None:
        record = DocumentRecord(
            self.run.connector_id,
            ref.id,
            ref.version,
            state,
            number=number,
            raw_key=self.archive_key,
            reason=reason,
            run_id=self.run.run_id,
        )
        if previous is None:
            self.new.append(record)
        else:
            self.replacing.append((record, previous))

    def store(self) -> list[DocumentRecord]:
        """Archive, batch, states — in this order (see the module docstring). Returns the records stored."""
        if not (self.new or self.replacing):
            return []
        services, run = self.services, self.run
        services.bucket.put_json(
            self.archive_key,
            {
                "format": ARCHIVE_FORMAT,
                "connector_id": run.connector_id,
                "system": self.source.system,
                "run_id": run.run_id,
                "page": self.page.page,
                "listed_at": iso(utc_now()),
                "records": self.page.raw,
                "fetched_again": self.fetched,
                "documents": self.documents,
            },
        )
        if self.documents:
            StagedBatches(services.table).add(
                run.connector_id, run.run_id, self.page.page, self.archive_key, len(self.documents)
            )
        services.documents.put_many(self.new)
        stored = list(self.new)
        for record, previous in self.replacing:
            result = services.documents.stage(record, replacing=previous)
            if result is StageResult.NEW:
                stored.append(record)
            else:
                run.counts[result.value] += 1
        for record in stored:
            self._report(record)
        return stored

    def _report(self, record: DocumentRecord) -> None:
        run, label = self.run, f"invoice {record.number or record.source_id}"
        if record.state is DocumentState.REJECTED:
            run.counts["rejected"] += 1
            reason = record.reason or "rejected"
            run.document_failed(
                record.source_id, record.number, reason, f"{label} rejected: {reason}", raw_key=record.raw_key
            )
            return
        run.counts["staged"] += 1
        document = self.staged[record.source_id]
        run.log.line(
            "info",
            f"{label} staged for export ({len(document.lines)} lines,"
            f" total {document.totals.total} {document.currency})",
            source_id=record.source_id,
            number=record.number,
            raw_key=record.raw_key,
        )


def _stage_page(
    services: Services, source: PolledSource, run: Run, page: SourcePage, known: dict[str, DocumentRecord]
) -> None:
    """File targets: stage a listed page's new documents for the next export (or record why not)."""
    staging = _PageStaging(services, source, run, page)
    for ref in page.refs:
        previous = known.get(ref.id)
        verdict = DocumentStates.verdict(previous, ref.version)
        if verdict is not None:
            run.counts[verdict.value] += 1
        else:
            staging.add(ref, previous)
    stored = staging.store()
    staged = [r.number or r.source_id for r in stored if r.state is DocumentState.STAGED]
    if staged:
        run.event(
            "info",
            f"page {page.page} of {page.total_pages}: {len(staged)} invoices staged for export",
            archive=staging.archive_key,
            invoices=staged,
        )
