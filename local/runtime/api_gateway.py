"""API Gateway, locally: the template's API routes on loopback, like `sam local start-api` (no Docker).

Every `Type: Api` event of every function in template.yaml becomes a route. A request is turned into the
API Gateway REST proxy event Lambda would receive (resource, path, httpMethod, headers and
multiValueHeaders, query string parameters, pathParameters, requestContext with requestId, stage and
identity.sourceIp, body — base64 when it is not text — and isBase64Encoded), the function's real handler
runs in-process against the local stack (`LocalStack.invoke`), and its proxy response goes back to the
client. As in API Gateway, a path without a route gets 403 `Missing Authentication Token` and a handler
that raises gets 502.

`LocalApi` serves a started local platform (anything with `template` and `invoke(logical_id, event)`).
Requests are served one at a time: handlers run in this process and share its environment, as one Lambda
container would. `make api` (`local.commands.api`) starts it with the demo stack.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local.runtime.template import LOCAL_ACCOUNT_ID, load_template, resources_of_type

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
LOCAL_API_ID = "localapi01"
# Bodies of these types reach the handler as text; anything else is base64 (isBase64Encoded: true),
# which is what API Gateway does for binary media types.
_TEXT_TYPES = re.compile(
    r"^(text/.*|application/(json|.*\+json|xml|.*\+xml|x-www-form-urlencoded|javascript))$", re.IGNORECASE
)
_PATH_PARAMETER = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")


@dataclass(frozen=True)
class Route:
    """One `Type: Api` event of a function: `method` is upper case, or `ANY`."""

    logical_id: str
    method: str
    resource: str  # the API Gateway resource path, e.g. /webhooks/{connector_id}

    @property
    def rule(self) -> str:
        """The werkzeug rule for `resource` ({name} → <name>, greedy {name+} → <path:name>)."""
        return _PATH_PARAMETER.sub(
            lambda m: f"<path:{m.group(1)}>" if m.group(2) else f"<{m.group(1)}>", self.resource
        )


def api_routes(template: Mapping[str, Any]) -> list[Route]:
    """Every API route of the template's functions, in template order."""
    routes = []
    for logical_id, function in resources_of_type(template, "AWS::Serverless::Function").items():
        for event in function.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "Api":
                continue
            properties = event.get("Properties", {})
            method = str(properties.get("Method", "any")).upper()
            routes.append(Route(logical_id, method, str(properties["Path"])))
    return routes


def proxy_event(
    *,
    method: str,
    resource: str,
    path: str,
    headers: Iterable[tuple[str, str]] = (),
    query: Iterable[tuple[str, str]] = (),
    path_parameters: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    content_type: str | None = None,
    stage: str = "dev",
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
    received: dt.datetime | None = None,
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event, as Lambda receives it.

    `body` as bytes is sent as text when `content_type` is a text type and it is UTF-8, else base64; a
    `str` body is sent as text. Repeated headers or query parameters keep every value in the
    multi-value maps and the last one in the single-value maps, as API Gateway does.
    """
    header_pairs, query_pairs = list(headers), list(query)
    received = received or dt.datetime.now(dt.UTC)
    request_id = request_id or str(uuid.uuid4())
    text, is_base64 = _event_body(body, content_type)
    single_headers = {name: value for name, value in header_pairs}
    user_agent = next((v for k, v in header_pairs if k.lower() == "user-agent"), None)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method.upper(),
        "headers": single_headers or None,
        "multiValueHeaders": _multi(header_pairs) or None,
        "queryStringParameters": dict(query_pairs) or None,
        "multiValueQueryStringParameters": _multi(query_pairs) or None,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": None,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT_ID,
            "apiId": LOCAL_API_ID,
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method.upper(),
            "path": f"/{stage}{path}",
            "stage": stage,
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": received.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(received.timestamp() * 1000),
            "domainName": single_headers.get("Host", f"{DEFAULT_HOST}:{DEFAULT_PORT}"),
            "identity": {"sourceIp": source_ip, "userAgent": user_agent},
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }


def _event_body(body: bytes | str | None, content_type: str | None) -> tuple[str | None, bool]:
    if body is None or body == b"" or body == "":
        return None, False
    if isinstance(body, str):
        return body, False
    mimetype = (content_type or "").split(";", 1)[0].strip()
    if _TEXT_TYPES.match(mimetype):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    return values


def http_response(result: Any) -> Response:
    """The HTTP response for a Lambda proxy result (statusCode, headers, multiValueHeaders, body,
    isBase64Encoded); anything else is API Gateway's 502."""
    if not isinstance(result, Mapping) or not isinstance(result.get("statusCode"), int):
        return _api_gateway_error(502, "Internal server error")
    body = result.get("body") or ""
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    response = Response(payload, status=result["statusCode"])
    response.headers.pop("Content-Type", None)
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        response.headers.pop(name, None)
        for value in values:
            response.headers.add(name, str(value))
    return response


def _api_gateway_error(status: int, message: str) -> Response:
    return Response(json.dumps({"message": message}), status=status, content_type="application/json")


class LocalApi:
    """A WSGI app serving the template's API routes against a started `LocalStack`."""

    def __init__(self, stack: Any, *, stage: str = "dev", echo_logs: bool = False, log_requests: bool = True):
        self.stack = stack
        self.log_requests = log_requests
        self.stage = stage
        self.echo_logs = echo_logs
        self.routes = api_routes(stack.template or load_template())
        self._map = Map(
            [
                Rule(
                    route.rule,
                    endpoint=index,
                    methods=None if route.method == "ANY" else [route.method],
                    strict_slashes=False,
                )
                for index, route in enumerate(self.routes)
            ]
        )
        self._invoke_lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- WSGI -----------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        return self.handle(request)(environ, start_response)

    def handle(self, request: Request) -> Response:
        try:
            index, path_parameters = self._map.bind_to_environ(request.environ).match()
        except (NotFound, MethodNotAllowed):
            return _api_gateway_error(403, "Missing Authentication Token")
        except HTTPException as exc:  # e.g. a redirect for a trailing slash
            return _api_gateway_error(exc.code or 400, exc.description or "Bad Request")
        route = self.routes[index]
        event = proxy_event(
            method=request.method,
            resource=route.resource,
            path=request.path,
            headers=list(request.headers.items()),
            query=list(request.args.items(multi=True)),
            path_parameters=path_parameters,
            body=request.get_data(cache=False),
            content_type=request.content_type,
            stage=self.stage,
            source_ip=request.remote_addr or "127.0.0.1",
        )
        started = time.monotonic()
        with self._invoke_lock:  # one invocation at a time: handlers share this process's environment
            try:
                result = self.stack.invoke(route.logical_id, event, echo_logs=self.echo_logs)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:  # the function failed or crashed: API Gateway answers 502
                if self.log_requests:
                    traceback.print_exc(file=sys.stderr)
                response = _api_gateway_error(502, "Internal server error")
            else:
                response = http_response(result)
        elapsed_ms = (time.monotonic() - started) * 1000
        if self.log_requests:
            print(
                f"{request.method} {request.full_path.rstrip('?')} → {route.logical_id} "
                f"{response.status_code} ({elapsed_ms:.0f} ms)",
                file=sys.stderr,
            )
        return response

    # -- serving ----------------------------------------------------------------------------------------
    def start(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> LocalApi:
        """Serve in a background thread (`port=0`: any free port, see `url`)."""
        self._server = make_server(host, port, self, threaded=False, request_handler=_QuietRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the local API is not started")
        return f"http://{self._server.host}:{self._server.port}"

    def describe_routes(self) -> list[str]:
        width = max((len(r.resource) for r in self.routes), default=0)
        return [f"  {r.method:<6} {r.resource:<{width}}  → {r.logical_id}" for r in self.routes]


class _QuietRequestHandler(WSGIRequestHandler):
    """`LocalApi.handle` prints one line per request; werkzeug's access log would repeat it."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None
