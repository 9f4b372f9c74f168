"""BundleFunction: EventBridge Scheduler → bundle the PDFs Clearnox lacks (streamed zip + metadata.json)
and upload them, sending nothing twice."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_relay.pipeline.bundle import run_bundle
from invoice_relay.pipeline.scheduled import ScheduledRun, publish_run_metrics
from invoice_relay.pipeline.services import services

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = ScheduledRun.from_event(event)
    logger.append_keys(connector_id=request.connector_id)
    summary = run_bundle(request.connector_id, services())
    publish_run_metrics(metrics, summary)
    return summary.model_dump(mode="json")
