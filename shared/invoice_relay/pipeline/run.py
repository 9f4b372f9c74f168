"""The run frame: every scheduled run of a connector opens, holds its lease, counts, and closes here.

`run_connector` skips a paused connector and a run whose lease another invocation holds, checks that the
connector can do this kind of run at all (a poll on a webhook-only connector is a `ConfigurationError`
naming the connector, the system and the capability), and *always* closes the run with a final status,
whatever was raised:

- the work's own verdict (`succeeded`, or `partial` when some of it must wait for the next run);
- `failed` + the reason for a connector problem (`ConnectorError`: credentials, OAuth, configuration) —
  not raised again, since retrying cannot help; the summary says `error_kind="connector"` so the handler
  publishes the connector-error metric the alarm watches; one held work item is released as a probe;
- `failed` + the reason, then raised again, for a transient problem (the schedule retries; checkpoints
  make the retry resume) and for anything unexpected (`error_kind="internal"`: a bug; the function's
  error alarm fires).

Every closed run is noted on the connector (`ConnectorStore.record_run`: last run, last success, failing
streak). Runs failing for a reason a person must fix (a connector problem or an internal error — not a
transient one, which the next run may not have) lengthen the streak; a run that does not fail ends it.
When the streak reaches the connector's `failure_limit`, the connector pauses itself (as AWS AppFlow
deactivates a flow after repeated failures): status `paused` with the reason, its schedules disabled,
an event in the run's log and the `connectors_auto_paused` metric its alarm watches. Start clears it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..connector import ConnectorConfig
from ..errors import ConfigurationError, ConnectorError, TransientError
from ..logs import logger
from ..partners.capabilities import Capability
from ..storage.runs import RunLog
from ..storage.state import ConnectorStore, LeaseHeld
from .services import Services
from .summary import DocumentFailure, ErrorKind, RunKind, RunSummary

LEASE_SECONDS = 900  # longer than any function timeout: a live run never loses its lease


class Run:
    """One run of one connector as it goes: its log, its counts and the documents that failed."""

    def __init__(self, log: RunLog):
        self.log = log
        self.counts: Counter[str] = Counter()
        self.failures: list[DocumentFailure] = []

    @property
    def run_id(self) -> str:
        return self.log.run_id

    @property
    def connector_id(self) -> str:
        return self.log.connector_id

    @property
    def started_on(self) -> str:
        """The run's start date, YYYY-MM-DD (UTC): keys of what it stores sort by it."""
        return self.log.started_at[:10]

    def event(self, level: str, message: str, **details: Any) -> None:
        self.log.event(level, message, **details)

    def document_failed(
        self,
        source_id: str,
        number: str | None,
        reason: str,
        message: str,
        *,
        level: str = "warn",
        **details: Any,
    ) -> None:
        """Record a document's failure: in the summary's failures and as a run event about the document."""
        self.failures.append(DocumentFailure(source_id=source_id, number=number, reason=reason))
        self.log.event(level, message, source_id=source_id, number=number, **details)


@dataclass(frozen=True)
class Finished:
    """What a run's work returns: its verdict and a one-line summary."""

    message: str
    status: Literal["succeeded", "partial", "failed"] = "succeeded"
    export_file: str | None = None
    download_link: str | None = None


Work = Callable[[ConnectorConfig, Services, Run], Finished]


def run_connector(
    connector_id: str, kind: RunKind, services: Services, work: Work, *, needs: tuple[Capability[Any], ...]
) -> RunSummary:
    """Run `work` for an active connector while holding its `kind` lease (see the module docstring)."""
    try:
        config = services.connectors.get(connector_id)
    except ConfigurationError as exc:
        logger.error("scheduled run of an unusable connector", extra={"reason": exc.reason, "run_kind": kind})
        return RunSummary(
            connector_id=connector_id, kind=kind, status="failed", reason=exc.reason, error_kind="connector"
        )
    if not config.active:
        return RunSummary(
            connector_id=connector_id, kind=kind, status="skipped", message="connector is paused"
        )
    try:
        with services.leases.hold(connector_id, kind, LEASE_SECONDS):
            return _framed(config, kind, services, work, needs)
    except LeaseHeld as exc:
        return RunSummary(connector_id=connector_id, kind=kind, status="skipped", message=exc.reason)


def _framed(
    config: ConnectorConfig, kind: RunKind, services: Services, work: Work, needs: tuple[Capability[Any], ...]
) -> RunSummary:
    # Holding the lease, no other run of this kind is alive: one still marked running died (crash, timeout).
    abandoned = services.history.close_abandoned(
        config.connector_id, kind, "the function stopped before closing this run (crash or timeout)"
    )
    if abandoned:
        from .observability import publish_abandoned_runs

        publish_abandoned_runs(abandoned)
    run = Run(services.run_log(config.connector_id, kind).start())
    try:
        services.partners.require(config, *needs)
        finished = work(config, services, run)
    except ConnectorError as exc:
        run.counts["held"] = services.held.count(config.connector_id)
        return _close(run, kind, "failed", reason=exc.reason, error_kind="connector", config=config)
    except TransientError as exc:
        _close(run, kind, "failed", reason=exc.reason, error_kind="transient", config=config)
        raise
    except Exception as exc:
        reason = f"internal error: {type(exc).__name__}: {exc}"
        _close(run, kind, "failed", reason=reason, error_kind="internal", config=config)
        raise
    summary = _close(run, kind, finished.status, message=finished.message, finished=finished, config=config)
    if finished.status != "failed":
        # The connector works: let one held item try again (it releases the rest when it goes through).
        from .held import release_held

        release_held(services, config.connector_id, limit=1)
    return summary


def _close(
    run: Run,
    kind: RunKind,
    status: Literal["succeeded", "partial", "failed"],
    *,
    message: str = "",
    reason: str | None = None,
    error_kind: ErrorKind | None = None,
    finished: Finished | None = None,
    config: ConnectorConfig,
) -> RunSummary:
    counts = dict(run.counts)
    extra = {"export_file": finished.export_file} if finished and finished.export_file else {}
    _note_on_connector(run, kind, status, reason, error_kind, config)
    run.log.finish(status, {**counts, **extra}, reason=reason)
    return RunSummary(
        connector_id=run.connector_id,
        kind=kind,
        run_id=run.run_id,
        status=status,
        message=message or (reason or ""),
        reason=reason,
        error_kind=error_kind,
        counts=counts,
        failures=run.failures,
        export_file=finished.export_file if finished else None,
        download_link=finished.download_link if finished else None,
    )


def _note_on_connector(
    run: Run,
    kind: RunKind,
    status: str,
    reason: str | None,
    error_kind: ErrorKind | None,
    config: ConnectorConfig,
) -> None:
    """Note the run on its connector and pause the connector when its failing streak reaches the limit
    (see the module docstring). Never fails the run: the run's own record matters more."""
    from ..storage.table import iso, utc_now

    counted = status == "failed" and error_kind in ("connector", "internal")
    if status == "failed" and not counted:
        return  # transient: neither a failure a person must fix nor a success
    summary = {
        "run_id": run.run_id,
        "kind": kind,
        "status": status,
        "started_at": run.log.started_at,
        "finished_at": iso(utc_now()),
        "reason": reason,
    }
    try:
        store = ConnectorStore(run.log.table)
        streak = store.record_run(config.connector_id, summary, failed=counted)
        if counted and streak is not None and streak >= config.failure_limit:
            _auto_pause(run, store, config, streak, reason or "")
    except Exception:
        logger.exception(
            "could not note the run on its connector", extra={"connector_id": config.connector_id}
        )


def _auto_pause(run: Run, store: ConnectorStore, config: ConnectorConfig, streak: int, reason: str) -> None:
    import os

    from ..connector import ConnectorStatus
    from ..control.schedules import ConnectorSchedules, ScheduleTargets
    from .observability import publish_auto_pause

    current = store.get(config.connector_id)
    if not current.active:
        return
    why = f"auto-paused after {streak} failed runs in a row; the last: {reason}"[:500]
    store.put(current.model_copy(update={"status": ConnectorStatus.PAUSED, "paused_reason": why}))
    run.event("error", f"connector {why}", failing_streak=streak)
    publish_auto_pause(config.connector_id)
    if os.environ.get("SCHEDULE_GROUP"):
        targets = ScheduleTargets.from_environment(os.environ, group_only=True)
        ConnectorSchedules(targets).disable_existing(config.connector_id)
