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
- a page is stored (archive, batch, states, checkpoint) in a thread of its own while the listing's thread
  reads and maps the next one — one store at a time, in listing order; a page that lists a document the
  page before it is still storing waits for that store before it reads the states;
- the checkpoint (next page) is saved after each page is stored: a run that dies, or stops because its
  time budget ran out, resumes there; a completed run starts over at page 1, because what is "ready" is
  decided by the source's status filter, not by our position in it;
- documents that cannot be mapped are `rejected` with the reason and written back `failed`.
"""

from __future__ import annotations

import contextvars
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..concurrency import read_ahead
from ..connector import ConnectorConfig
from ..errors import MappingError
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

CURSOR = "poll"
ARCHIVE_FORMAT = "invoice-relay.listing-page/v1"


def run_poll(connector_id: str, services: Services) -> RunSummary:
    """One poll of one connector. Raises TransientError when the source fails mid-run (the schedule
    retries; the checkpoint makes the retry resume where this run stopped)."""
    return run_connector(connector_id, "poll", services, _poll, needs=(POLLED_SOURCE,))


def _poll(config: ConnectorConfig, services: Services, run: Run) -> Finished:
    connector_id = config.connector_id
    file_target = services.partners.provides(config, FILE_TARGET)
    if not file_target:
        services.partners.require(config, DOCUMENT_TARGET)
    cursor = services.cursors.get(connector_id, CURSOR)
    start_page = int(cursor.get("next_page", 1)) if cursor.get("in_progress") else 1
    position = cursor.get("position")  # incremental sources: where the last page stored left off
    source = services.open(config, POLLED_SOURCE)
    run.event(
        "info",
        f"polling {source.system} " + (f"from {_said(position)}" if position else f"from page {start_page}"),
        resumed_from=cursor.get("run_id"),
    )
    counts = run.counts
    staged_here: set[str] = set()  # documents this run stores (staged or rejected): their page may still
    # be being stored, so a later page listing one of them waits for it and reads their states after
    try:
        with _StoresBehind() as behind:
            for page in read_ahead(source.poll(start_page, position=position), name="poll-listing"):
                ids = [ref.id for ref in page.refs]
                if staged_here.intersection(ids):
                    behind.wait()  # the page lists documents still being stored: read their states after
                known = services.documents.known(connector_id, ids)
                if file_target:
                    staging = _prepare_page(services, source, run, page, known)
                    staged_here.update(r.source_id for r in staging.new)
                    staged_here.update(r.source_id for r, _ in staging.replacing)
                    behind.submit(_store_page, staging, page)
                else:
                    _enqueue_page(services, source, run, page, known)
                    _checkpoint(services, run, page)
                if page.next_page is not None and budget.exhausted():
                    behind.wait()
                    counts["continues_at_page"] = page.next_page
                    run.event(
                        "info",
                        f"time budget used after page {page.page} of {page.total_pages}: the next run "
                        f"continues at page {page.next_page}",
                    )
                    break
        acknowledge_pending(services, source, run, (DocumentState.REJECTED,))
    finally:
        source.close()
    if not file_target:
        from .receipts import record_receipts  # deferred: only document targets can send receipts

        record_receipts(services, config, run)
    return Finished(
        status="partial" if counts["write_back_pending"] else "succeeded",
        message=(
            f"{counts['staged']} staged, "
            + (f"{counts['queued']} queued for delivery, " if counts["queued"] else "")
            + f"{counts['rejected']} rejected, {counts['unchanged']} already known"
            + (
                f", {counts['receipts']} read receipt{'s' if counts['receipts'] != 1 else ''} recorded"
                if counts["receipts"]
                else ""
            )
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
    from .work import DOCUMENT_READY, WorkItem  # deferred: only document targets enqueue (cold start)

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
        self.fetched: dict[str, Any] = {}  # source id → payload fetched again (changed documents)
        self.new: list[DocumentRecord] = []
        self.replacing: list[tuple[DocumentRecord, DocumentRecord]] = []  # (new, the known one it replaces)
        self.counts: Counter[str] = Counter()  # what the listing's thread found (merged when stored)
        self.staged_at = iso(utc_now())  # of every record staged from the page, and of its batch

    def add(self, ref: SourceRef, previous: DocumentRecord | None) -> None:
        try:
            if previous is None:
                current, document = ref, self.source.document(self.page.records.get(ref.id) or {})
            else:
                document, raw = self.source.fetch(ref)
                self.fetched[ref.id] = raw
                current = self.source.current_ref(raw)
                if current is None:  # written back meanwhile (e.g. by a concurrent export)
                    self.counts["no_longer_ready"] += 1
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
            staged_at=self.staged_at,
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
        batches = StagedBatches(services.table)
        batch_key = None
        if self.documents:
            batch_key = batches.add(
                run.connector_id,
                run.run_id,
                self.page.page,
                self.archive_key,
                len(self.documents),
                self.staged_at,
            )
        services.documents.put_many(self.new)
        stored = list(self.new)
        replaced_staged: set[str] = set()
        for record, previous in self.replacing:
            result = services.documents.stage(record, replacing=previous)
            if result is StageResult.NEW:
                stored.append(record)
                if previous.state is DocumentState.STAGED and previous.raw_key:
                    replaced_staged.add(previous.raw_key)  # its old batch archived another version
            else:
                run.counts[result.value] += 1
        # Batches whose archived version of a document is no longer the staged one are read again on export.
        batches.mark_dirty_by_archive(run.connector_id, replaced_staged)
        staged_ids = {r.source_id for r in stored if r.state is DocumentState.STAGED}
        if batch_key and staged_ids == set(self.documents):
            batches.confirm(run.connector_id, batch_key)  # each archived document is stored as archived
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
        run.counts["staged"] += 1  # said with the page's event, which lists the invoices it staged


def _prepare_page(
    services: Services, source: PolledSource, run: Run, page: SourcePage, known: dict[str, DocumentRecord]
) -> _PageStaging:
    """Which of a page's documents are new, mapped and ready to be stored (no writes: the listing's
    thread does this while the page before is being stored)."""
    staging = _PageStaging(services, source, run, page)
    for ref in page.refs:
        previous = known.get(ref.id)
        verdict = DocumentStates.verdict(previous, ref.version)
        if verdict is not None:
            staging.counts[verdict.value] += 1
        else:
            staging.add(ref, previous)
    return staging


def _store_page(staging: _PageStaging, page: SourcePage) -> None:
    """Store a prepared page (archive, batch, states), say what it staged, then save the checkpoint: the
    next run starts after this page only once it is stored."""
    run = staging.run
    run.counts.update(staging.counts)
    stored = staging.store()
    staged = [r.number or r.source_id for r in stored if r.state is DocumentState.STAGED]
    if staged:
        run.event(
            "info",
            f"page {page.page} of {page.total_pages}: {len(staged)} invoices staged for export",
            archive=staging.archive_key,
            invoices=staged,
        )
    _checkpoint(staging.services, run, page)


def _checkpoint(services: Services, run: Run, page: SourcePage) -> None:
    """The page is handled: a run that stops now resumes at the next one (an incremental source: at the
    page's position, which the next run starts from even when this one completes)."""
    run.counts["pages"] += 1
    services.cursors.save(
        run.connector_id,
        CURSOR,
        {
            "in_progress": page.next_page is not None,
            "next_page": page.next_page or 1,
            "run_id": run.run_id,
            "total_pages": page.total_pages,
            "saved_at": iso(utc_now()),
            **({"position": page.position} if page.position is not None else {}),
        },
    )
    run.log.flush()


def _said(position: Any) -> str:
    """A saved position in a run's log: its fields as the source named them (no secrets live there)."""
    if isinstance(position, dict):
        return ", ".join(f"{key} {value}" for key, value in sorted(position.items()))
    return str(position)


class _StoresBehind:
    """Page stores run one at a time in a thread of their own, in listing order, while the listing's
    thread reads and maps the next page (S3 and DynamoDB waits overlap the mapping). Only that thread
    touches the run's counts and log while a store is under way; `wait` hands them back. A store that
    failed raises in `wait` (or `submit`, or at the end of the block), where the page would have failed."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="poll-store")
        self._pending: Future[None] | None = None

    def __enter__(self) -> _StoresBehind:
        return self

    def submit(self, store: Callable[..., None], *args: Any) -> None:
        self.wait()
        self._pending = self._pool.submit(contextvars.copy_context().run, store, *args)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        try:
            if error is None:
                self.wait()
            elif self._pending is not None:  # the listing failed: let the page before finish storing
                self._pending.exception()
        finally:
            self._pool.shutdown(wait=True)
