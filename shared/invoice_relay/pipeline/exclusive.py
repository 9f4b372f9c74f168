"""The frame every scheduled run of a connector shares: skip paused connectors, one run of a kind at a
time (a lease), and a run log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from ..connector import ConnectorConfig
from ..storage.runs import RunLog
from ..storage.state import LeaseHeld
from .services import Services
from .summary import RunSummary

LEASE_SECONDS = 900  # longer than any function timeout: a live run never loses its lease


def run_exclusively(
    connector_id: str,
    kind: Literal["poll", "export", "catalog", "bundle"],
    services: Services,
    work: Callable[[ConnectorConfig, RunLog], RunSummary],
) -> RunSummary:
    """Run `work` for an active connector while holding its `kind` lease; otherwise a skipped summary."""
    config = services.connectors.get(connector_id)
    if not config.active:
        return RunSummary(
            connector_id=connector_id, kind=kind, status="skipped", message="connector is paused"
        )
    try:
        with services.leases.hold(connector_id, kind, LEASE_SECONDS):
            return work(
                config, RunLog(services.table, connector_id, kind, services.settings.run_log_ttl_days)
            )
    except LeaseHeld as exc:
        return RunSummary(connector_id=connector_id, kind=kind, status="skipped", message=exc.reason)
