"""OAuthFunction: HTTP API → connect a connector to its OAuth 2.0 partner (authorization-code flow).

GET /oauth/{connector_id}/connect   → 302 to the partner's consent page
GET /oauth/{connector_id}/callback  → exchange the code, store the tokens in Secrets Manager
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_relay.errors import AuthenticationError, ConfigurationError, PermanentError, TransientError
from invoice_relay.pipeline.oauth_connect import finish_connection, start_connection
from invoice_relay.pipeline.services import services

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayHttpResolver()


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@app.get("/oauth/<connector_id>/connect")
def connect(connector_id: str) -> Response:
    return Response(
        status_code=302, headers={"Location": start_connection(services(), connector_id)}, body=""
    )


@app.get("/oauth/<connector_id>/callback")
def callback(connector_id: str) -> Response:
    query = app.current_event.query_string_parameters or {}
    if query.get("error"):
        return _json(
            400, {"error": "authorization_denied", "reason": query.get("error_description", query["error"])}
        )
    if not query.get("code") or not query.get("state"):
        return _json(400, {"error": "bad_request", "reason": "the callback needs 'code' and 'state'"})
    partner = finish_connection(services(), connector_id, code=query["code"], state=query["state"])
    return _json(200, {"status": "connected", "connector_id": connector_id, "partner": partner})


@app.exception_handler(ConfigurationError)
def unknown_or_misconfigured(exc: ConfigurationError) -> Response:
    return _json(404, {"error": "not_found", "reason": exc.reason})


@app.exception_handler(AuthenticationError)
def refused(exc: AuthenticationError) -> Response:
    return _json(502, {"error": "partner_refused", "reason": exc.reason})


@app.exception_handler(PermanentError)
def bad_request(exc: PermanentError) -> Response:
    return _json(400, {"error": "bad_request", "reason": exc.reason})


@app.exception_handler(TransientError)
def try_again(exc: TransientError) -> Response:
    return _json(503, {"error": "partner_unavailable", "reason": exc.reason})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
