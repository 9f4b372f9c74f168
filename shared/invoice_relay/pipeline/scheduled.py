"""The scheduled-run request shared by PollFunction and ExportFunction, and their run metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from .services import Services, services
from .summary import RunSummary

ScheduledRunner = Callable[[str, Services], RunSummary]


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


def scheduled_handler(run: ScheduledRunner) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The Lambda handler of a scheduled function: the Powertools stack around `run(connector_id)`.

    Poll, export, catalog sync and bundle functions differ only in the run they start."""
    logger, tracer, metrics = Logger(), Tracer(), Metrics()

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        request = ScheduledRun.from_event(event)
        logger.append_keys(connector_id=request.connector_id)
        summary = run(request.connector_id, services())
        publish_run_metrics(metrics, summary)
        return summary.model_dump(mode="json")

    return lambda_handler
