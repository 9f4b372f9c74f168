"""Metrics of runs and deliveries (EMF through Powertools), with the `connector` dimension.

A connector problem is also published without the connector dimension (`connector_errors`, dimension
`service` only), so one CloudWatch alarm in the template watches every connector.
"""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

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


def publish_delivery_metric(connector_id: str, status: str) -> None:
    """One delivery's outcome (`deliver_<status>`), dimension connector (a batch mixes connectors)."""
    with single_metric(
        name=f"deliver_{status}",
        unit=MetricUnit.Count,
        value=1,
        default_dimensions={"connector": connector_id},
    ):
        pass
    if status == "held":
        publish_connector_error()


def publish_connector_error() -> None:
    """`connector_errors` without the connector dimension: what the ConnectorErrorsAlarm watches."""
    with single_metric(name=CONNECTOR_ERRORS, unit=MetricUnit.Count, value=1):
        pass
