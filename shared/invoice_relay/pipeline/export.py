"""Flow 2: turn the staged documents of a connector into one import file per run, then write back.

Exactly-once, step by step (a lease makes export runs of one connector strictly sequential):
1. recover: documents `claimed` by a run that died are either in that run's stored file (→ `exported`)
   or not (→ back to `staged`): the claim records the file's S3 prefix before anything is written;
2. claim the staged documents for this run (conditional, version-checked);
3. render; documents that cannot be rendered → `rejected` with the reason *before* the file is stored,
   so the claimed set is exactly the file's content;
4. store the file in S3, then mark its documents `exported`;
5. write back: `exported` → `processed`, `rejected` → `failed` + private comment (see acknowledge.py).
A crash between any two steps leaves states that the next run completes without a duplicate or a loss.
"""

from __future__ import annotations

import datetime as dt

from ..connector import ConnectorConfig
from ..errors import TransientError
from ..models import Document
from ..partners.capabilities import FILE_TARGET, POLLED_SOURCE, RenderedFile
from ..storage.state import DocumentRecord, DocumentState
from ..storage.table import utc_now
from .acknowledge import acknowledge_pending
from .run import Finished, Run, run_connector
from .services import Services
from .summary import RunSummary


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


def _export(config: ConnectorConfig, services: Services, run: Run, run_date: dt.date) -> Finished:
    cid = config.connector_id
    target = services.open(config, FILE_TARGET)
    run.event("info", f"exporting with template {target.template_name()}", run_date=run_date.isoformat())
    _recover_claims(cid, services, run)
    export_key = link = None

    staged = services.documents.by_state(cid, DocumentState.STAGED)[: target.max_documents_per_file]
    prefix = f"exports/{cid}/{run_date:%Y/%m/%d}/{run.run_id}/"
    claimed = [
        r
        for r in staged
        if services.documents.transition(r, DocumentState.CLAIMED, run_id=run.run_id, export_file=prefix)
    ]
    if claimed:
        documents = [Document.model_validate_json(r.document_json or "") for r in claimed]
        import_file = target.render(documents, connector_id=cid, run_id=run.run_id, run_date=run_date)
        in_file = _reject_unrendered(claimed, import_file, services, run)
        run.counts["rejected"] += len(claimed) - len(in_file)
        if in_file:
            export_key = prefix + import_file.file_name
            digest = services.bucket.put_with_digest(
                export_key,
                import_file.content,
                import_file.content_type,
                {"connector": cid, "run-id": run.run_id, "documents": str(len(in_file))},
            )
            for record in in_file:
                services.documents.transition(record, DocumentState.EXPORTED, export_file=export_key)
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
    else:
        run.event("info", "nothing staged for export")

    source = services.open(config, POLLED_SOURCE)
    try:
        acknowledge_pending(services, source, run, target_system=config.target.system)
    except TransientError as exc:  # e.g. the source's login failed: documents wait for the next run
        run.counts["write_back_pending"] += 1
        run.event("warn", f"write-back postponed: {exc.reason}")
    finally:
        source.close()
    return Finished(
        status="partial" if run.counts["write_back_pending"] else "succeeded",
        message=f"{run.counts['exported']} exported, {run.counts['rejected']} rejected",
        export_file=export_key,
        download_link=link,
    )


def _reject_unrendered(
    claimed: list[DocumentRecord], import_file: RenderedFile, services: Services, run: Run
) -> list[DocumentRecord]:
    """Move documents the renderer left out to `rejected`; returns the records that are in the file."""
    in_file: list[DocumentRecord] = []
    for record in claimed:
        reason = import_file.failures.get(record.number or "")
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


def _recover_claims(connector_id: str, services: Services, run: Run) -> None:
    """Settle documents claimed by an export run that died (the lease guarantees it is not running)."""
    counts = run.counts
    for record in services.documents.by_state(connector_id, DocumentState.CLAIMED):
        prefix = record.export_file or ""
        stored = services.bucket.keys(prefix) if prefix else []
        if stored:
            services.documents.transition(record, DocumentState.EXPORTED, export_file=stored[0])
            counts["recovered_exported"] += 1
            run.event(
                "info",
                f"invoice {record.number} is in the file of interrupted run {record.run_id}: {stored[0]}",
                source_id=record.source_id,
                number=record.number,
            )
        else:
            services.documents.transition(record, DocumentState.STAGED, expect=DocumentState.CLAIMED)
            counts["recovered_restaged"] += 1
            run.event(
                "info",
                f"invoice {record.number} returned to the queue: run {record.run_id} stopped"
                " before storing its file",
                source_id=record.source_id,
                number=record.number,
            )
