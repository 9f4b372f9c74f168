"""WebhookFunction: API Gateway `POST /webhooks/{connector_id}` → verify, archive, de-duplicate, enqueue, 202.

The route only unpacks the proxy event (raw body, base64 when API Gateway encoded it; headers in any
letter case) and shapes the answer; `invoice_relay.webhooks.intake.accept_webhook` does the work.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_relay.pipeline.services import services
from invoice_relay.webhooks.intake import accept_webhook

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver()


@app.post("/webhooks/<connector_id>")
@tracer.capture_method
def receive_webhook(connector_id: str) -> Response:
    event = app.current_event
    logger.append_keys(connector_id=connector_id)
    try:
        body = raw_body(event.get("body"), bool(event.get("isBase64Encoded")))
    except (binascii.Error, ValueError):
        return _json(400, {"status": "rejected", "reason": "body is not valid base64"})
    result = accept_webhook(
        connector_id,
        event.get("headers") or {},
        body,
        services(),
        now=dt.datetime.now(dt.UTC),
    )
    if result.status_code != 404:  # unknown connector ids would make a dimension per guess
        metrics.add_dimension(name="connector", value=connector_id)
    metrics.add_metric(name=f"webhook_{result.status or 'unknown'}", unit=MetricUnit.Count, value=1)
    return _json(result.status_code, result.body)


def raw_body(body: str | None, is_base64_encoded: bool) -> bytes:
    """The request body as the sender sent it (API Gateway hands text bodies over as UTF-8 strings)."""
    if not body:
        return b""
    return base64.b64decode(body, validate=True) if is_base64_encoded else body.encode("utf-8")


def _json(status_code: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status_code, content_type=content_types.APPLICATION_JSON, body=body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
