"""Status write-back: tell the source what became of each document, exactly once per outcome.

A document waits in `exported` (→ `processed`) or `rejected` (→ `failed` + private comment) until the
source confirms the write-back; only then does it reach its final state. If the source is unreachable the
documents stay where they are and the next run tries again — nothing is marked written back that was not.
"""

from __future__ import annotations

from collections import Counter

from ..connectors.base import Outcome, Source, SourceRef
from ..errors import PermanentError, TransientError
from ..storage.runs import RunLog
from ..storage.state import ACKNOWLEDGE_PENDING, DocumentState
from .services import Services


def acknowledge_pending(
    services: Services,
    connector_id: str,
    source: Source,
    run: RunLog,
    states: tuple[DocumentState, ...] = (DocumentState.EXPORTED, DocumentState.REJECTED),
) -> Counter[str]:
    """Write back every document waiting in `states`; returns counts (written_back_*, write_back_pending)."""
    counts: Counter[str] = Counter()
    for state in states:
        final = ACKNOWLEDGE_PENDING[state]
        waiting = services.documents.by_state(connector_id, state)
        for index, record in enumerate(waiting):
            ref = SourceRef(id=record.source_id, version=record.version, number=record.number)
            outcome = (
                Outcome.success(record.target_id, record.target_number)
                if state is DocumentState.EXPORTED
                else Outcome.failure(record.reason or "rejected")
            )
            label = f"invoice {record.number or record.source_id}"
            try:
                source.acknowledge(ref, outcome)
            except TransientError as exc:
                # The source is struggling: stop here, the rest waits for the next run.
                remaining = len(waiting) - index
                counts["write_back_pending"] += remaining
                run.event(
                    "warn",
                    f"write-back to {source.system} failed, {remaining} document(s) will be retried next run:"
                    f" {exc.reason}",
                    source_id=record.source_id,
                    number=record.number,
                )
                return counts
            except PermanentError as exc:
                # Retrying cannot help (e.g. the invoice was voided meanwhile): record it and move on.
                services.documents.transition(record, final, writeback_error=exc.reason)
                counts["write_back_refused"] += 1
                run.event(
                    "error",
                    f"{label}: {source.system} refused the write-back: {exc.reason}",
                    source_id=record.source_id,
                    number=record.number,
                )
                continue
            services.documents.transition(record, final)
            if state is DocumentState.EXPORTED:
                counts["written_back_processed"] += 1
                run.event(
                    "info",
                    f"{label} written back as processed",
                    source_id=record.source_id,
                    number=record.number,
                    export_file=record.export_file,
                )
            else:
                counts["written_back_failed"] += 1
                run.event(
                    "info",
                    f"{label} written back as failed with a private comment: {record.reason}",
                    source_id=record.source_id,
                    number=record.number,
                )
    return counts
