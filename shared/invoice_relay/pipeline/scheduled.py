"""The scheduled-run request shared by PollFunction and ExportFunction, and their run metrics."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, Field

from .summary import RunSummary


class ScheduledRun(BaseModel):
    """EventBridge Scheduler delivers the schedule's Input as the event: `{"connector_id": "..."}`.
    An EventBridge rule delivers it as the event's `detail`; both are accepted."""

    connector_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> ScheduledRun:
        payload = event.get("detail") if isinstance(event.get("detail"), dict) else event
        return cls.model_validate({"connector_id": payload.get("connector_id")})


def publish_run_metrics(metrics: Metrics, summary: RunSummary) -> None:
    """One metric per count of the run (EMF, dimension: connector)."""
    metrics.add_dimension(name="connector", value=summary.connector_id)
    metrics.add_metric(name=f"{summary.kind}_runs_{summary.status}", unit=MetricUnit.Count, value=1)
    for name, value in summary.counts.items():
        metrics.add_metric(name=f"{summary.kind}_{name}", unit=MetricUnit.Count, value=value)
