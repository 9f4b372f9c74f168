"""Status write-back: tell the source what became of each document, exactly once per outcome.

A document waits in `exported` (→ `processed`) or `rejected` (→ `failed` + private comment) until the
source confirms the write-back; only then does it reach its final state. If the source is unreachable the
documents stay where they are and the next run tries again — nothing is marked written back that was not.
A connector problem (the source refusing our credentials) stops the write-back the same way, and is
raised: the run fails with its reason, no document is failed for it.
"""

from __future__ import annotations

from ..errors import PermanentError, TransientError
from ..partners.capabilities import Outcome, PolledSource, SourceRef
from ..storage.state import ACKNOWLEDGE_PENDING, DocumentState
from .run import Run
from .services import Services


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
        final = ACKNOWLEDGE_PENDING[state]
        waiting = services.documents.by_state(run.connector_id, state)
        for index, record in enumerate(waiting):
            ref = SourceRef(id=record.source_id, version=record.version, number=record.number)
            outcome = (
                Outcome.success(record.target_id, record.target_number, target_system)
                if state is DocumentState.EXPORTED
                else Outcome.failure(record.reason or "rejected")
            )
            label = f"invoice {record.number or record.source_id}"
            try:
                source.acknowledge(ref, outcome, check_first=record.write_back_attempted)
            except TransientError as exc:
                # The source is struggling: stop here, the rest waits for the next run. This write-back may
                # have gone through with its answer lost: the next one checks the source first.
                services.documents.transition(record, state, write_back_attempted=True)
                remaining = len(waiting) - index
                run.counts["write_back_pending"] += remaining
                run.event(
                    "warn",
                    f"write-back to {source.system} failed, {remaining} document(s) will be retried next run:"
                    f" {exc.reason}",
                    source_id=record.source_id,
                    number=record.number,
                )
                return
            except PermanentError as exc:
                # Retrying cannot help (e.g. the invoice was voided meanwhile): record it and move on.
                services.documents.transition(record, final, writeback_error=exc.reason)
                run.counts["write_back_refused"] += 1
                run.event(
                    "error",
                    f"{label}: {source.system} refused the write-back: {exc.reason}",
                    source_id=record.source_id,
                    number=record.number,
                )
                continue
            services.documents.transition(record, final)
            if state is DocumentState.EXPORTED:
                run.counts["written_back_processed"] += 1
                run.event(
                    "info",
                    f"{label} written back as processed",
                    source_id=record.source_id,
                    number=record.number,
                    export_file=record.export_file,
                )
            else:
                run.counts["written_back_failed"] += 1
                run.event(
                    "info",
                    f"{label} written back as failed with a private comment: {record.reason}",
                    source_id=record.source_id,
                    number=record.number,
                )
