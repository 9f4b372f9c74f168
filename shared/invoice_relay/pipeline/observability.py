"""Metrics of runs and deliveries (EMF through Powertools), with the `connector` dimension.

A connector problem is also published without the connector dimension (`connector_errors`, dimension
`service` only), so one CloudWatch alarm in the template watches every connector.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit, single_metric

if TYPE_CHECKING:  # annotations only: DeliverFunction publishes delivery metrics, never a run summary
    from .summary import RunSummary

CONNECTOR_ERRORS = "connector_errors"
RUNS_FAILED = "runs_failed"
RUNS_ABANDONED = "runs_abandoned"
WRITEBACK_WAIT = "writeback_wait_seconds"


def publish_run_metrics(metrics: Metrics, summary: RunSummary) -> None:
    """One metric per count of the run (dimension: connector), and the connector-error metric."""
    metrics.add_dimension(name="connector", value=summary.connector_id)
    metrics.add_metric(name=f"{summary.kind}_runs_{summary.status}", unit=MetricUnit.Count, value=1)
    for name, value in summary.counts.items():
        metrics.add_metric(name=f"{summary.kind}_{name}", unit=MetricUnit.Count, value=value)
    if summary.error_kind == "connector":
        metrics.add_metric(name=CONNECTOR_ERRORS, unit=MetricUnit.Count, value=1)
        publish_connector_error()
    if summary.status == "failed":
        # Without the connector dimension, by what went wrong: what the failed-runs alarm and the
        # dashboard's "errors by kind" read (an alarm cannot search across connectors).
        with single_metric(name=RUNS_FAILED, unit=MetricUnit.Count, value=1) as metric:
            metric.add_dimension(name="error_kind", value=summary.error_kind or "documents")


def publish_writeback_wait(oldest_updated_at: str) -> None:
    """How long the oldest document waiting for its write-back has waited (seconds; its alarm fires when
    write-backs stay impossible for too long)."""
    import datetime as dt

    try:
        since = dt.datetime.fromisoformat(oldest_updated_at.replace("Z", "+00:00"))
    except ValueError:
        return
    age = max(0.0, (dt.datetime.now(dt.UTC) - since).total_seconds())
    with single_metric(name=WRITEBACK_WAIT, unit=MetricUnit.Seconds, value=age):
        pass


def publish_abandoned_runs(count: int) -> None:
    """Runs found still `running` by the next run of their kind: their function died or timed out."""
    with single_metric(name=RUNS_ABANDONED, unit=MetricUnit.Count, value=count):
        pass


def publish_delivery_metrics(connector_id: str, outcomes: Mapping[str, int]) -> None:
    """A batch's delivery outcomes of one connector (`deliver_<status>` = how many), dimension connector:
    one EMF record per connector and batch, not one per record (CloudWatch Logs bills the bytes)."""
    metrics = EphemeralMetrics()
    metrics.add_dimension(name="connector", value=connector_id)
    for status, count in sorted(outcomes.items()):
        metrics.add_metric(name=f"deliver_{status}", unit=MetricUnit.Count, value=count)
    metrics.flush_metrics()
    if outcomes.get("held"):
        publish_connector_error(outcomes["held"])


AUTO_PAUSED = "connectors_auto_paused"


def publish_auto_pause(connector_id: str) -> None:
    """A connector paused itself: `connectors_auto_paused` (no dimension, what its alarm watches) and a
    log line saying which."""
    from ..logs import logger

    logger.error("connector auto-paused", extra={"connector_id": connector_id})
    with single_metric(name=AUTO_PAUSED, unit=MetricUnit.Count, value=1):
        pass


def publish_connector_error(count: int = 1) -> None:
    """`connector_errors` without the connector dimension: what the ConnectorErrorsAlarm watches."""
    with single_metric(name=CONNECTOR_ERRORS, unit=MetricUnit.Count, value=count):
        pass
