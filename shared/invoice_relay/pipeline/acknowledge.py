"""Status write-back: tell the source what became of each document, exactly once per outcome.

A document reaches its final state only after the source confirmed the write-back. If the source is
unreachable, or the run's time budget is used, the documents not written back wait (in `exported` or
`rejected`, both indexed) for the next run — nothing is marked written back that was not; one whose answer
was lost is marked `write_back_attempted`, and the next write-back checks the source first. A connector
problem (the source refusing our credentials) is raised: the run fails with its reason, no document is
failed for it.

Write-backs run concurrently, at most the source's `write_back_concurrency` at a time (its rate limit
is the partner's business: a 429 is waited out by the HTTP kit), each in a copy of the caller's context
(the invocation's budget and log keys go with it).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from ..errors import PermanentError, TransientError
from ..partners.capabilities import Outcome, PolledSource, SourceRef
from ..storage.state import DocumentRecord, DocumentState
from . import budget
from .observability import publish_writeback_wait
from .run import Run
from .services import Services


@dataclass
class WriteBacks:
    """What became of a set of write-backs."""

    written: list[DocumentRecord] = field(default_factory=list)  # the source shows the outcome now
    refused: list[tuple[DocumentRecord, str]] = field(default_factory=list)  # it never will (PermanentError)
    waiting: list[DocumentRecord] = field(default_factory=list)  # for the next run (`write_back_attempted`)
    stopped_by: str | None = None  # why the rest waits: the source's transient failure, or the budget


SETTLE_EVERY = 25  # outcomes stored together (one BatchWriteItem) while the next write-backs are under way
# Chunks stored at once: each record is in one chunk, so their order does not matter, and a second thread
# serializes the next batch while the first waits for DynamoDB.
SETTLE_THREADS = 2


def write_back(
    services: Services,
    source: PolledSource,
    run: Run,
    state: DocumentState,
    work: list[tuple[DocumentRecord, Outcome]],
) -> WriteBacks:
    """Write back each (record, outcome) of documents in `state`, concurrently, storing the outcomes in
    chunks as they come (so the state writes overlap the partner calls); stops starting new ones when the
    source fails transiently or the time budget is used. Raises what is neither transient nor the
    document's own problem (a connector problem): the records not stored yet then wait as they are."""
    results, chunk = WriteBacks(), WriteBacks()
    workers = max(1, getattr(source, "write_back_concurrency", 1))
    queue = list(reversed(work))
    in_flight: dict[Future[None], DocumentRecord] = {}

    def one(record: DocumentRecord, outcome: Outcome) -> None:
        ref = SourceRef(id=record.source_id, version=record.version, number=record.number)
        source.acknowledge(ref, outcome, check_first=record.write_back_attempted)

    # Threads of their own store the outcomes while the write-backs go on.
    settler = ThreadPoolExecutor(max_workers=SETTLE_THREADS, thread_name_prefix="write-back-settle")
    settled: list[Future[None]] = []

    def settle(part: WriteBacks) -> None:
        settled.append(settler.submit(contextvars.copy_context().run, _settle, services, run, state, part))

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="write-back") as pool:
        try:
            while queue or in_flight:
                while queue and len(in_flight) < workers and results.stopped_by is None:
                    if budget.exhausted():
                        results.stopped_by = "the run's time budget is used"
                        break
                    record, outcome = queue.pop()
                    context = contextvars.copy_context()
                    in_flight[pool.submit(context.run, one, record, outcome)] = record
                if not in_flight:
                    break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    _collect(future, in_flight.pop(future), results, chunk)
                if len(chunk.written) + len(chunk.refused) >= SETTLE_EVERY:
                    settle(chunk)
                    chunk = WriteBacks()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            settler.shutdown(wait=True, cancel_futures=True)
            raise
    not_sent = [record for record, _ in reversed(queue)]
    results.waiting.extend(not_sent)
    chunk.waiting.extend(not_sent)
    settle(chunk)
    settler.shutdown(wait=True)
    for future in settled:
        future.result()  # a failed state write is raised here (the next run re-checks those documents)
    _report(source, run, state, results)
    return results


def _collect(future: Future[None], record: DocumentRecord, *into: WriteBacks) -> None:
    try:
        future.result()
    except TransientError as exc:  # its answer may be lost: the next one checks first
        record.write_back_attempted = True
        for results in into:
            results.waiting.append(record)
        into[0].stopped_by = into[0].stopped_by or exc.reason
    except PermanentError as exc:
        for results in into:
            results.refused.append((record, exc.reason))
    else:
        for results in into:
            results.written.append(record)


def acknowledge_pending(
    services: Services,
    source: PolledSource,
    run: Run,
    states: tuple[DocumentState, ...] = (DocumentState.EXPORTED, DocumentState.REJECTED),
    target_system: str | None = None,
) -> None:
    """Write back every document waiting in `states`; counts go to the run (written_back_*,
    write_back_refused, write_back_pending)."""
    for state in states:
        waiting = services.documents.by_state(run.connector_id, state)
        if not waiting:
            continue
        publish_writeback_wait(min(record.updated_at for record in waiting))
        outcome = _outcome_of(state, target_system)
        write_back(services, source, run, state, [(record, outcome(record)) for record in waiting])


def _outcome_of(state: DocumentState, target_system: str | None) -> Callable[[DocumentRecord], Outcome]:
    if state is DocumentState.EXPORTED:
        return lambda r: Outcome.success(r.target_id, r.target_number, target_system)
    return lambda r: Outcome.failure(r.reason or "rejected")


def _settle(services: Services, run: Run, state: DocumentState, results: WriteBacks) -> None:
    """Store what some write-backs of documents in `state` did. Documents in `exported`/`staged` belong to
    the export holding the lease and are stored in batches; `rejected` ones are also written back by polls,
    so they move with conditional writes."""
    if state is DocumentState.REJECTED:
        _settle_rejected(services, run, results)
    else:
        _settle_exported(services, run, results)


def _report(source: PolledSource, run: Run, state: DocumentState, results: WriteBacks) -> None:
    """The run's counts and events for all the write-backs of one state."""
    counts = run.counts
    for record, reason in results.refused:
        run.event(
            "error",
            f"invoice {record.number or record.source_id}: {source.system} refused the write-back: {reason}",
            source_id=record.source_id,
            number=record.number,
        )
    if state is not DocumentState.REJECTED and results.written:
        counts["written_back_processed"] += len(results.written)
        run.event(
            "info",
            f"{len(results.written)} invoices written back to {source.system} as processed",
            invoices=[r.number or r.source_id for r in results.written],
        )
    counts["write_back_refused"] += len(results.refused)
    if results.waiting:
        counts["write_back_pending"] += len(results.waiting)
        run.event(
            "warn",
            f"write-back to {source.system} stopped, {len(results.waiting)} document(s) will be written back"
            f" by the next run: {results.stopped_by}",
            invoices=[r.number or r.source_id for r in results.waiting],
        )


def _settle_rejected(services: Services, run: Run, results: WriteBacks) -> None:
    documents, final = services.documents, DocumentState.FAILED
    for record in results.written:
        if documents.transition(record, final):
            run.counts["written_back_failed"] += 1
            run.event(
                "info",
                f"invoice {record.number or record.source_id} written back as failed with a private"
                f" comment: {record.reason}",
                source_id=record.source_id,
                number=record.number,
            )
    for record, reason in results.refused:
        documents.transition(record, final, writeback_error=reason)
    for record in results.waiting:
        if record.write_back_attempted:
            documents.transition(record, DocumentState.REJECTED, write_back_attempted=True)


def _settle_exported(services: Services, run: Run, results: WriteBacks) -> None:
    """`exported` (or just exported, still `staged`) → `done`; not written back → `exported`."""
    settled = []
    for record in results.written:
        record.state = DocumentState.DONE
        settled.append(record)
    for record, reason in results.refused:
        record.state, record.writeback_error = DocumentState.DONE, reason
        settled.append(record)
    for record in results.waiting:
        record.state = DocumentState.EXPORTED
        settled.append(record)
    # Each document's happy path is in its state item and in the run's event listing the invoices written
    # back (`_report`): no log line per document (thousands per run, billed by the byte).
    services.documents.put_many(settled)
