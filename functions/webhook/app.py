"""WebhookFunction: API Gateway `POST /webhooks/{connector_id}` → verify, archive, de-duplicate, enqueue, 202.

The route only unpacks the HTTP API event (payload format 2.0: the raw body, base64 when API Gateway
encoded it — it does for every body that is not text/*, JSON, XML or JavaScript, the form-encoded
FreshBooks callbacks included; header names lower-cased) and shapes the answer;
`invoice_relay.webhooks.intake.accept_webhook` does the work.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_relay.pipeline.services import services
from invoice_relay.webhooks.intake import IntakeResult, accept_webhook, log_outcome

logger = Logger()
tracer = Tracer()
app = APIGatewayHttpResolver()


@app.post("/webhooks/<connector_id>")
@tracer.capture_method
def receive_webhook(connector_id: str) -> Response:
    event = app.current_event
    logger.append_keys(connector_id=connector_id)
    try:
        body = raw_body(event.get("body"), bool(event.get("isBase64Encoded")))
    except (binascii.Error, ValueError):
        result = IntakeResult(400, {"status": "rejected", "reason": "body is not valid base64"})
    else:
        result = accept_webhook(
            connector_id,
            event.get("headers") or {},
            body,
            services(),
            now=dt.datetime.now(dt.UTC),
        )
    log_outcome(connector_id, result)  # the request's log line, and its metric (a metric filter)
    return _json(result.status_code, result.body)


def raw_body(body: str | None, is_base64_encoded: bool) -> bytes:
    """The request body as the sender sent it, byte for byte (text bodies arrive as UTF-8 strings)."""
    if not body:
        return b""
    return base64.b64decode(body, validate=True) if is_base64_encoded else body.encode("utf-8")


def _json(status_code: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status_code, content_type=content_types.APPLICATION_JSON, body=body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
