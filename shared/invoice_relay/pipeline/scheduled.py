"""The scheduled-run request shared by Poll, Export, CatalogSync and Bundle functions, and their handler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from ..identifiers import ConnectorId
from ..logs import tracer
from . import budget
from .observability import publish_run_metrics
from .services import Services, services
from .summary import RunSummary

ScheduledRunner = Callable[[str, Services], RunSummary]


class InvalidScheduledEvent(ValueError):
    """The event names no (well-formed) connector: the schedule's Input is missing or wrong."""


class ScheduledRun(BaseModel):
    """EventBridge Scheduler delivers the schedule's Input as the event: `{"connector_id": "..."}`.
    An EventBridge rule delivers it as the event's `detail`; both are accepted."""

    connector_id: ConnectorId

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> ScheduledRun:
        payload = (
            event.get("detail")
            if isinstance(event, dict) and isinstance(event.get("detail"), dict)
            else event
        )
        value = payload.get("connector_id") if isinstance(payload, dict) else None
        if value is None:
            raise InvalidScheduledEvent(
                "the scheduled event has no connector_id: set the schedule's Input to "
                '{"connector_id": "<id>"}'
            )
        try:
            return cls.model_validate({"connector_id": value})
        except ValidationError:
            raise InvalidScheduledEvent(
                f"the scheduled event's connector_id {value!r} is not a connector id (lower-case letters,"
                " digits, dashes; 2-63 characters)"
            ) from None


def scheduled_handler(run: ScheduledRunner) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The Lambda handler of a scheduled function: the Powertools stack around `run(connector_id)`."""
    logger, metrics = Logger(), Metrics()  # the tracer is the layer's: it says what X-Ray patches

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            request = ScheduledRun.from_event(event)
        except InvalidScheduledEvent as exc:
            logger.error("invalid scheduled event", extra={"reason": str(exc)})
            raise
        logger.append_keys(connector_id=request.connector_id)
        with budget.for_invocation(context):  # the run stops at a checkpoint before the function's timeout
            summary = run(request.connector_id, services())
        publish_run_metrics(metrics, summary)
        return summary.model_dump(mode="json")

    return lambda_handler
