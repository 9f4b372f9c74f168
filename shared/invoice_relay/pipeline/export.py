"""Flow 2: turn the staged documents of a connector into one import file per run, then write back.

Exactly-once, step by step (a lease makes export runs of one connector strictly sequential):
1. recover: if the previous export died after announcing its file (the `export` checkpoint), the documents
   of its manifest that are still `staged` are either in its stored file (→ `exported`, written back by
   step 2 after checking the source) or the file was never stored (→ they stay `staged`, nothing happened);
2. write back what earlier runs left waiting (`exported`, `rejected`);
3. gather: the staged batches (one per listed page, oldest first), each read from its archive, keeping the
   documents whose state is still `staged` in the archived version — up to the target's file limit. The
   states are read again (one `BatchGetItem` a batch) unless the batch is *clean*: the poll confirmed it
   stored every archived document as archived, and nothing has touched it since — a later poll that
   replaces one of its documents marks it dirty, and so does every export that takes it, before it
   changes any state (so a batch left behind by a crash or a file limit is always read again);
4. render; documents that cannot be rendered → `rejected` with the reason, before anything is stored;
5. announce the file (checkpoint: run id, manifest, file prefix), store the manifest, then the file;
6. write back, concurrently and within the time budget: each written document → `done`, the rest →
   `exported` (the next run writes them back); all in batch writes. Then the consumed batches are removed
   and the checkpoint cleared.
A crash between any two steps leaves states that the next run completes without a duplicate or a loss.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..connector import ConnectorConfig
from ..partners.capabilities import FILE_TARGET, POLLED_SOURCE, FileTarget, Outcome, PolledSource
from ..storage.state import DocumentRecord, DocumentState, StagedBatch, StagedBatches
from ..storage.table import iso, utc_now
from . import budget
from .acknowledge import acknowledge_pending, write_back
from .run import Finished, Run, run_connector
from .services import Services
from .summary import RunSummary

CURSOR = "export"
GATHER_THREADS = 4
MANIFEST_FORMAT = "invoice-relay.export-manifest/v1"


def run_export(connector_id: str, services: Services, run_date: dt.date | None = None) -> RunSummary:
    """One export run of one connector (file target)."""
    day = run_date or utc_now().date()
    return run_connector(
        connector_id,
        "export",
        services,
        lambda config, svc, run: _export(config, svc, run, day),
        needs=(FILE_TARGET, POLLED_SOURCE),
    )


@dataclass
class _Gathered:
    """The staged documents this run takes, and the batches it empties."""

    records: list[DocumentRecord] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)  # canonical JSON, parsed one at a time to render
    consumed: list[str] = field(default_factory=list)  # sort keys of batches nothing is left staged in
    batches: list[StagedBatch] = field(default_factory=list)  # every batch read
    rechecked: int = 0  # batches whose documents' states were read again


def _export(config: ConnectorConfig, services: Services, run: Run, run_date: dt.date) -> Finished:
    cid = config.connector_id
    target = services.open(config, FILE_TARGET)
    run.event("info", f"exporting with template {target.template_name()}", run_date=run_date.isoformat())
    source = services.open(config, POLLED_SOURCE)
    export_key = link = None
    try:
        _recover(cid, services, run)
        acknowledge_pending(services, source, run, target_system=config.target.system)
        if budget.exhausted():
            run.event("info", "time budget used by earlier write-backs: the next run exports")
        else:
            export_key, link = _export_file(
                cid, services, run, run_date, target, source, config.target.system
            )
    finally:
        source.close()
    counts = run.counts
    return Finished(
        status="partial" if counts["write_back_pending"] else "succeeded",
        message=f"{counts['exported']} exported, {counts['rejected']} rejected"
        + (f", {counts['more_staged']} more staged for the next run" if counts["more_staged"] else ""),
        export_file=export_key,
        download_link=link,
    )


def _export_file(
    cid: str,
    services: Services,
    run: Run,
    run_date: dt.date,
    target: FileTarget,
    source: PolledSource,
    target_system: str,
) -> tuple[str | None, str | None]:
    batches = StagedBatches(services.table)
    gathered = _gather(cid, services, batches.pending(cid), target.max_documents_per_file, run)
    # Before any state changes: a batch this run took is read again by whichever export takes it next.
    batches.mark_dirty(cid, gathered.batches)
    if gathered.rechecked:
        run.counts["batches_read_again"] += gathered.rechecked
    if not gathered.records:
        batches.remove(cid, gathered.consumed)
        run.event("info", "nothing staged for export")
        return None, None
    from ..models import Document  # deferred: an export with nothing staged builds no model (cold start)

    # Each document is parsed as it is rendered and dropped after: memory holds the JSON, not the models.
    documents = (Document.model_validate_json(text) for text in gathered.documents)
    import_file = target.render(documents, connector_id=cid, run_id=run.run_id, run_date=run_date)
    gathered.documents.clear()
    in_file = _reject_unrendered(gathered.records, import_file.failures, services, run)
    run.counts["rejected"] += len(gathered.records) - len(in_file)
    export_key = link = None
    if in_file:
        prefix = f"exports/{cid}/{run_date:%Y/%m/%d}/{run.run_id}/"
        export_key = prefix + import_file.file_name
        manifest_key = f"manifests/{cid}/{run.run_id}.json"
        services.cursors.save(
            cid,
            CURSOR,
            {"in_progress": True, "run_id": run.run_id, "file_prefix": prefix, "manifest": manifest_key},
        )
        services.bucket.put_json(
            manifest_key,
            {
                "format": MANIFEST_FORMAT,
                "connector_id": cid,
                "run_id": run.run_id,
                "file": export_key,
                "documents": [[r.source_id, r.version, r.number] for r in in_file],
            },
        )
        digest = services.bucket.put_with_digest(
            export_key,
            import_file.content,
            import_file.content_type,
            {"connector": cid, "run-id": run.run_id, "documents": str(len(in_file))},
        )
        run.counts["exported"] += len(in_file)
        link = services.bucket.download_link(export_key, services.settings.export_link_ttl_seconds)
        run.event(
            "info",
            f"import file stored: s3://{services.bucket.bucket}/{export_key} ({len(in_file)} invoices)",
            export_file=export_key,
            sha256=digest,
            bytes=len(import_file.content),
            download_link=link,
            invoices=[r.number for r in in_file],
        )
        run.log.flush()
        exported_at = iso(utc_now())
        for record in in_file:
            record.export_file, record.export_run_id, record.exported_at = export_key, run.run_id, exported_at
        outcome = Outcome.success(None, None, target_system)
        write_back(services, source, run, DocumentState.STAGED, [(record, outcome) for record in in_file])
    batches.remove(cid, gathered.consumed)
    if in_file:
        services.cursors.save(cid, CURSOR, {"in_progress": False, "run_id": run.run_id})
    acknowledge_pending(services, source, run, (DocumentState.REJECTED,), target_system=target_system)
    return export_key, link


def _gather(cid: str, services: Services, pending: list[StagedBatch], limit: int, run: Run) -> _Gathered:
    """The staged documents of the pending batches, oldest first, up to `limit`. The batches needed are
    read a few at a time (archive from S3, states from DynamoDB)."""
    gathered = _Gathered()
    needed, expected = [], 0
    for batch in pending:
        if expected >= limit:
            run.counts["more_staged"] += batch.documents
            continue
        needed.append(batch)
        expected += batch.documents
    with ThreadPoolExecutor(max_workers=GATHER_THREADS, thread_name_prefix="export-gather") as pool:
        reads = [pool.submit(contextvars.copy_context().run, _read_batch, cid, services, b) for b in needed]
        gathered.batches = needed
        for index, batch in enumerate(needed):
            archived, current = reads[index].result()
            gathered.rechecked += not batch.clean
            reads[index] = None  # type: ignore[call-overload]  # nothing keeps a read batch but its documents
            left_staged = 0
            for source_id, entry in archived.items():
                record = current.get(source_id)
                if record is None or record.state is not DocumentState.STAGED:
                    continue  # exported already, or never recorded (a crash between batch and states)
                if record.version != entry["version"]:
                    continue  # replaced by a newer version, staged in a later batch
                if len(gathered.records) >= limit:
                    left_staged += 1
                    continue
                gathered.records.append(record)
                gathered.documents.append(entry["document"])
            if left_staged:
                run.counts["more_staged"] += left_staged
            else:
                gathered.consumed.append(batch.sort_key)
    return gathered


def _read_batch(
    cid: str, services: Services, batch: StagedBatch
) -> tuple[dict[str, dict[str, Any]], dict[str, DocumentRecord]]:
    """A batch's archived documents (the raw page in the archive is dropped at once) and their states: as
    the poll stored them for a clean batch (confirmed, untouched since), else read again."""
    archived: dict[str, dict[str, Any]] = services.bucket.get_json(batch.archive_key).get("documents", {})
    if batch.clean:
        return archived, {source_id: batch.record(cid, source_id, e) for source_id, e in archived.items()}
    return archived, services.documents.known(cid, list(archived))


def _reject_unrendered(
    records: list[DocumentRecord], failures: dict[str, str], services: Services, run: Run
) -> list[DocumentRecord]:
    """Move documents the renderer left out to `rejected`; returns the records that are in the file."""
    in_file: list[DocumentRecord] = []
    for record in records:
        reason = failures.get(record.number or "")
        if reason is None:
            in_file.append(record)
            continue
        services.documents.transition(record, DocumentState.REJECTED, reason=reason)
        run.document_failed(
            record.source_id,
            record.number,
            reason,
            f"invoice {record.number} left out of the import file: {reason}",
        )
    return in_file


def _recover(cid: str, services: Services, run: Run) -> None:
    """Settle the documents of an export run that died after announcing its file (the lease guarantees it is
    not running): in the stored file → `exported` (checked at the source before the write-back); no file
    stored → they are still `staged`, and their batches still list them."""
    cursor = services.cursors.get(cid, CURSOR)
    if not cursor.get("in_progress"):
        return
    stored = services.bucket.keys(cursor["file_prefix"])
    if stored:
        manifest = services.bucket.get_json(cursor["manifest"])
        versions = {source_id: version for source_id, version, _ in manifest["documents"]}
        current = services.documents.known(cid, list(versions))
        settled = [
            r
            for r in current.values()
            if r.state is DocumentState.STAGED and r.version == versions[r.source_id]
        ]
        for record in settled:
            record.state, record.export_file, record.export_run_id = (
                DocumentState.EXPORTED,
                stored[0],
                cursor["run_id"],
            )
            record.write_back_attempted = True
        services.documents.put_many(settled)
        run.counts["recovered_exported"] += len(settled)
        run.event(
            "info",
            f"{len(settled)} invoices are in the file of interrupted run {cursor['run_id']}: {stored[0]}",
            export_file=stored[0],
            invoices=[r.number for r in settled],
        )
    else:
        run.event(
            "info",
            f"interrupted run {cursor['run_id']} stored no file: its invoices are exported by this run",
        )
    services.cursors.save(cid, CURSOR, {"in_progress": False, "run_id": run.run_id, "recovered": True})
