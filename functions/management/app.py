"""ManagementApiFunction: the management API (REST, Cognito) and the "My Integrations" admin page.

Connectors: list, show, create, update, start, pause, delete, run now; their runs (paged), a run's log, a
document's timeline, documents by number, dead letters and their replay, import files with download links;
the connector kinds of the store. API Gateway checks the caller's Cognito ID token on every data route;
here the groups decide: `admins` may change things, `viewers` only read. Domain errors become HTTP answers
in one place (`answer_control_error`); the logic is in the layer (invoice_relay.control).

The admin page (/admin and its files), its sign-in settings (/admin/config.json) and the Swagger UI
(/swagger) carry no data and load without a token: a browser cannot send one with a page navigation.
"""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_relay.control import api_models as api
from invoice_relay.control.errors import ControlError, Forbidden, InvalidInput
from invoice_relay.control.kinds import describe_kind, describe_kinds
from invoice_relay.control.management import management
from invoice_relay.errors import ConfigurationError

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver(enable_validation=True)
app.enable_swagger(
    path="/swagger",
    title="Invoice Relay management API",
    version="1.0",
    description="Connectors, schedules, runs, logs, dead letters and import files. Send a Cognito ID token "
    "in the Authorization header; members of `admins` may change things, `viewers` may read.",
)
ADMIN_PAGE = Path(__file__).parent / "admin"
ADMINS, VIEWERS = "admins", "viewers"


# -- who is asking ----------------------------------------------------------------------------------------


def _claims() -> dict[str, Any]:
    authorizer = app.current_event.request_context.authorizer
    claims = authorizer.claims if authorizer else None
    return dict(claims or {})


def _groups(claims: dict[str, Any]) -> list[str]:
    """`cognito:groups` as API Gateway passes it: a list, or text ("admins,viewers" / "[admins viewers]")."""
    value = claims.get("cognito:groups") or []
    if isinstance(value, str):
        value = value.strip("[]").replace(",", " ").split()
    return [str(group) for group in value]


def _caller() -> str:
    claims = _claims()
    return str(claims.get("cognito:username") or claims.get("email") or claims.get("sub") or "someone")


def require_admin() -> str:
    """The admin making a change (Forbidden for anyone else: viewers change nothing)."""
    if ADMINS not in _groups(_claims()):
        raise Forbidden("only members of the admins group may change connectors; you may read them")
    return _caller()


def require_reader() -> None:
    groups = _groups(_claims())
    if ADMINS not in groups and VIEWERS not in groups:
        raise Forbidden("you are in neither the admins nor the viewers group")


# -- routes -----------------------------------------------------------------------------------------------


@app.get("/me")
def me() -> api.Me:
    groups = _groups(_claims())
    require_reader()
    return api.Me(username=_caller(), groups=groups, role="admin" if ADMINS in groups else "viewer")


@app.get("/kinds")
def kinds() -> api.Kinds:
    require_reader()
    return api.Kinds(kinds=describe_kinds())


@app.get("/kinds/<system>")
def kind(system: str) -> dict[str, Any]:
    require_reader()
    return describe_kind(system)


@app.get("/connectors")
def list_connectors() -> api.Connectors:
    require_reader()
    return api.Connectors.model_validate({"connectors": management().connectors()})


@app.get("/connectors/<connector_id>")
def show_connector(connector_id: str) -> api.Connector:
    require_reader()
    return api.Connector.model_validate(management().connector(connector_id))


@app.post("/connectors")
def create_connector(request: Annotated[api.ConnectorCreate, Body()]) -> Response[api.Connector]:
    who = require_admin()
    config = management().plane.create(request.model_dump(exclude_none=True), by=who)
    logger.info("connector created", extra={"connector_id": config.connector_id, "by": who})
    body = api.Connector.model_validate(management().connector(config.connector_id))
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=body)


@app.put("/connectors/<connector_id>")
def update_connector(connector_id: str, request: Annotated[api.ConnectorChange, Body()]) -> api.Connector:
    who = require_admin()
    management().plane.update(connector_id, request.model_dump(exclude_none=True))
    logger.info("connector updated", extra={"connector_id": connector_id, "by": who})
    return api.Connector.model_validate(management().connector(connector_id))


@app.delete("/connectors/<connector_id>")
def delete_connector(connector_id: str) -> Response[None]:
    who = require_admin()
    secrets = management().plane.delete(connector_id)
    logger.info("connector deleted", extra={"connector_id": connector_id, "by": who, "secrets": len(secrets)})
    return Response(status_code=204, body="")


@app.post("/connectors/<connector_id>/start")
def start_connector(connector_id: str) -> api.Connector:
    who = require_admin()
    management().plane.start(connector_id)
    released = management().release_held(connector_id)
    logger.info("connector started", extra={"connector_id": connector_id, "by": who, "released": released})
    return api.Connector.model_validate(management().connector(connector_id))


@app.post("/connectors/<connector_id>/pause")
def pause_connector(connector_id: str) -> api.Connector:
    who = require_admin()
    management().plane.pause(connector_id, reason=f"paused by {who}")
    logger.info("connector paused", extra={"connector_id": connector_id, "by": who})
    return api.Connector.model_validate(management().connector(connector_id))


@app.post("/connectors/<connector_id>/runs")
def run_now(
    connector_id: str, request: Annotated[api.RunRequest | None, Body()] = None
) -> Response[api.RunRequested]:
    who = require_admin()
    requested = management().plane.run_now(connector_id, request.kind if request else None)
    logger.info(
        "run requested", extra={"connector_id": connector_id, "by": who, "run_kind": requested["kind"]}
    )
    return Response(
        status_code=202, content_type=content_types.APPLICATION_JSON, body=api.RunRequested(**requested)
    )


@app.get("/connectors/<connector_id>/runs")
def list_runs(
    connector_id: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> api.Runs:
    require_reader()
    management().plane.get(connector_id)
    runs, next_cursor = management().history.runs(connector_id, limit, cursor)
    return api.Runs.model_validate({"runs": runs, "next": next_cursor})


@app.get("/runs/<run_id>")
def run_log(run_id: str) -> api.RunLog:
    require_reader()
    run, events = management().history.run(run_id)
    return api.RunLog.model_validate({"run": run, "events": events})


@app.get("/connectors/<connector_id>/documents/<source_id>")
def document_timeline(connector_id: str, source_id: str) -> api.Timeline:
    require_reader()
    document, events = management().history.document(connector_id, source_id)
    return api.Timeline.model_validate({"document": document, "events": events})


@app.get("/documents")
def documents_by_number(number: Annotated[str, Query(min_length=1, max_length=100)]) -> api.Documents:
    require_reader()
    return api.Documents.model_validate({"documents": management().history.by_number(number)})


@app.get("/connectors/<connector_id>/dead-letters")
def dead_letters(connector_id: str) -> api.DeadLetters:
    require_reader()
    management().plane.get(connector_id)
    letters = management().history.dead_letters(connector_id)
    return api.DeadLetters.model_validate({"items": [management().dead_letter_view(x) for x in letters]})


@app.post("/connectors/<connector_id>/dead-letters/replay")
def replay_dead_letters(
    connector_id: str, request: Annotated[api.ReplayRequest | None, Body()] = None
) -> api.Replayed:
    who = require_admin()
    management().plane.get(connector_id)
    replayed = management().history.replay(connector_id, request.ids if request else None)
    logger.info(
        "dead letters replayed", extra={"connector_id": connector_id, "by": who, "replayed": replayed}
    )
    return api.Replayed(replayed=replayed)


@app.get("/connectors/<connector_id>/files")
def import_files(connector_id: str) -> api.ImportFiles:
    require_reader()
    management().plane.get(connector_id)
    return api.ImportFiles.model_validate({"files": management().history.files(connector_id)})


# -- the admin page (no data: loads before sign-in) -------------------------------------------------------


@app.get("/admin", include_in_schema=False)
def admin_page() -> Response[str]:
    return _admin_file("index.html")


@app.get("/admin/config.json", include_in_schema=False)
def admin_config() -> dict[str, str]:
    """What the page needs to sign in: the user pool's app client and where Cognito answers."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = (
        os.environ.get("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER")
        or os.environ.get("AWS_ENDPOINT_URL")
        or f"https://cognito-idp.{region}.amazonaws.com/"
    )
    return {
        "region": region,
        "cognito_endpoint": endpoint.rstrip("/") + "/",
        "client_id": os.environ.get("USER_POOL_CLIENT_ID", ""),
        "user_pool_id": os.environ.get("USER_POOL_ID", ""),
        "stage": os.environ.get("STAGE", ""),
    }


@app.get("/admin/<asset>", include_in_schema=False)
def admin_asset(asset: str) -> Response[str]:
    return _admin_file(asset)


def _admin_file(name: str) -> Response[str]:
    # Only the page's own files: a name is looked up among them, never joined into a path.
    files = {p.name: p for p in ADMIN_PAGE.iterdir() if p.is_file()} if ADMIN_PAGE.is_dir() else {}
    path = files.get(name)
    if path is None:
        return Response(
            status_code=404, content_type=content_types.APPLICATION_JSON, body={"message": "Not Found"}
        )
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".js":
        kind = "text/javascript"
    headers = {
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'self'; connect-src 'self' https: http://127.0.0.1:* "
        "http://localhost:*; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
    }
    return Response(
        status_code=200, content_type=kind, body=path.read_text(encoding="utf-8"), headers=headers
    )


# -- errors, in one place ---------------------------------------------------------------------------------


def _json(status: int, body: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@app.exception_handler(ControlError)
def answer_control_error(exc: ControlError) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"message": exc.message}
    if isinstance(exc, InvalidInput):
        body["errors"] = exc.errors
    return _json(exc.status, body)


@app.exception_handler(RequestValidationError)
def answer_bad_request(exc: RequestValidationError) -> Response[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        if location and location[0] in ("body", "query", "path"):
            location = location[1:]
        if location and location[0] == "request":  # the body parameter's own name
            location = location[1:]
        errors.append({"field": ".".join(location) or "body", "reason": str(error.get("msg", "invalid"))})
    return _json(
        400, {"message": "; ".join(f"{e['field']}: {e['reason']}" for e in errors), "errors": errors}
    )


@app.exception_handler(ConfigurationError)
def answer_configuration_error(exc: ConfigurationError) -> Response[dict[str, Any]]:
    # A connector stored with a configuration that no longer validates, or a deployment setting missing.
    return _json(409, {"message": exc.reason})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
