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


def publish_run_metrics(metrics: Metrics, summary: RunSummary) -> None:
    """One metric per count of the run (dimension: connector), and the connector-error metric."""
    metrics.add_dimension(name="connector", value=summary.connector_id)
    metrics.add_metric(name=f"{summary.kind}_runs_{summary.status}", unit=MetricUnit.Count, value=1)
    for name, value in summary.counts.items():
        metrics.add_metric(name=f"{summary.kind}_{name}", unit=MetricUnit.Count, value=value)
    if summary.error_kind == "connector":
        metrics.add_metric(name=CONNECTOR_ERRORS, unit=MetricUnit.Count, value=1)
        publish_connector_error()


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


def publish_connector_error(count: int = 1) -> None:
    """`connector_errors` without the connector dimension: what the ConnectorErrorsAlarm watches."""
    with single_metric(name=CONNECTOR_ERRORS, unit=MetricUnit.Count, value=count):
        pass
