"""API Gateway, locally: the template's API routes on loopback, like `sam local start-api` (no Docker).

Every `Type: HttpApi` or `Type: Api` event of every function in template.yaml becomes a route. A request
is turned into the event Lambda would receive from that kind of API, the function's real handler runs
in-process against the local stack (`LocalStack.invoke`), and its answer goes back to the client the way
that kind of API maps it:

- HTTP API, payload format 2.0 (`http_api_event`, `http_api_response`): version "2.0", routeKey
  ("POST /webhooks/{connector_id}"), rawPath and requestContext.http.path with the stage in front
  (/dev/webhooks/..., as the execute-api URL has it), rawQueryString, header names lower-cased and
  repeated headers joined by commas, cookies apart, queryStringParameters with repeats joined by commas,
  pathParameters, requestContext (http.method, sourceIp, userAgent, requestId, routeKey, stage, time,
  timeEpoch), and the body as text only for text/*, application/json, application/xml and
  application/javascript; any other body (form-encoded ones included) is base64, isBase64Encoded true.
  Empty fields are left out, as API Gateway does. The answer: statusCode, headers, cookies (one
  Set-Cookie each), body, isBase64Encoded; a JSON answer without statusCode is a 200 application/json
  with that answer as its body. A path or method without a route is 404 `Not Found`; a handler that raises
  or answers something unusable is 500 `Internal Server Error`.
- REST API (`proxy_event`, `http_response`): resource, path (without the stage), httpMethod, headers and
  multiValueHeaders, query string parameters, pathParameters, requestContext with requestId, stage,
  identity.sourceIp and, behind a Cognito authorizer, authorizer.claims; body — base64 when it is not
  text — and isBase64Encoded; the proxy response back. A request goes to the most specific resource
  that matches its path, as API Gateway picks it (segment by segment: a literal before a `{name}` before
  a greedy `{name+}`: `/admin` and `/admin/{asset+}` win over `/{proxy+}`), then to that resource's
  method or its ANY; a path without a resource, or a resource without the method, is 403 `Missing
  Authentication Token`, a handler that raises 502.
- REST API authorizers: a route's authorizer is its event's `Auth.Authorizer`, else its API's
  `Auth.DefaultAuthorizer` (the `AWS::Serverless::Api` of its RestApiId, SAM's Globals.Api merged in);
  `NONE` is none. Cognito user-pool authorizers (`UserPoolArn`) are checked as API Gateway checks them
  (local.runtime.cognito.UserPoolAuthorizer, against the stack's embedded AWS): a missing or invalid ID
  token is 401 `{"message":"Unauthorized"}` and the function is not invoked; a valid one puts its claims
  in `requestContext.authorizer.claims`. Other authorizer kinds (Lambda, AWS_IAM) are not emulated: a
  template using one is refused.

One port serves both kinds of API (deployed, each has its own host). A path belongs to the HTTP API when
an HTTP API route's path matches it, or when its first segment is the first segment of an HTTP API route
and of no REST API resource (`/webhooks/...`, `/oauth/...`); every other path to the REST API.

`request_of(event)` turns either kind of event back into the request a client would send (sample events
posted to a running local API).

`LocalApi` serves a started local platform (anything with `template` and `invoke(logical_id, event)`).
Requests are served one at a time: handlers run in this process and share its environment, as one Lambda
container would. `make api` (`local.commands.api`) starts it with the demo stack.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import posixpath
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local.runtime.cognito import Unauthorized, UserPoolAuthorizer
from local.runtime.template import (
    LOCAL_ACCOUNT_ID,
    load_template,
    parameter_defaults,
    resolve,
    resources_of_type,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
LOCAL_API_ID = "localapi01"
HTTP_API = "HttpApi"  # the event Type of an HTTP API route (payload format 2.0)
REST_API = "Api"  # the event Type of a REST API route (proxy event, format 1.0)
# REST API: bodies of these types reach the handler as text; anything else is base64 (isBase64Encoded:
# true), which is what API Gateway does for binary media types.
_TEXT_TYPES = re.compile(
    r"^(text/.*|application/(json|.*\+json|xml|.*\+xml|x-www-form-urlencoded|javascript))$", re.IGNORECASE
)
# HTTP API: only these are passed as text, every other body is base64 — a missing Content-Type and
# application/x-www-form-urlencoded included (what AWS does; its documentation names no list).
_HTTP_API_TEXT_TYPES = re.compile(r"^(text/.*|application/(json|xml|javascript))$", re.IGNORECASE)
_PATH_PARAMETER = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")
IMPLICIT_REST_API = "ServerlessRestApi"  # SAM's API for `Type: Api` events without a RestApiId
NO_AUTHORIZER = "NONE"


@dataclass(frozen=True)
class Route:
    """One API event of a function: `method` is upper case, or `ANY`; `api` the event's Type
    (`HttpApi`: an HTTP API route, payload format 2.0; `Api`: a REST API route)."""

    logical_id: str
    method: str
    resource: str  # the route's path as the template gives it, e.g. /webhooks/{connector_id}
    api: str = REST_API
    # REST API routes: the logical id of their API (RestApiId; SAM's implicit one when the event names
    # none) and the name of their authorizer in its Auth.Authorizers (None: open).
    rest_api: str | None = field(default=None, compare=False)
    authorizer: str | None = field(default=None, compare=False)

    @property
    def rule(self) -> str:
        """The werkzeug rule for `resource` ({name} → <name>, greedy {name+} → <path:name>)."""
        return _PATH_PARAMETER.sub(
            lambda m: f"<path:{m.group(1)}>" if m.group(2) else f"<{m.group(1)}>", self.resource
        )


def api_routes(template: Mapping[str, Any]) -> list[Route]:
    """Every API route of the template's functions (`Type: HttpApi` and `Type: Api` events), in template
    order. HTTP API routes must have a Path and payload format 2.0 (SAM's default): the $default route
    and format 1.0 are not emulated. REST API routes carry their API and authorizer (module docstring)."""
    routes = []
    for logical_id, function in resources_of_type(template, "AWS::Serverless::Function").items():
        for name, event in function.get("Properties", {}).get("Events", {}).items():
            kind = event.get("Type")
            if kind not in (HTTP_API, REST_API):
                continue
            properties = event.get("Properties", {})
            payload_format = str(properties.get("PayloadFormatVersion", "2.0"))
            if kind == HTTP_API and ("Path" not in properties or payload_format != "2.0"):
                raise ValueError(
                    f"{logical_id} event {name}: only HttpApi routes with a Path and payload format 2.0 "
                    "are served locally"
                )
            method = str(properties.get("Method", "any")).upper()
            if kind == HTTP_API:
                routes.append(Route(logical_id, method, str(properties["Path"]), kind))
                continue
            rest_api = _logical_id(properties.get("RestApiId")) or IMPLICIT_REST_API
            authorizer = properties.get("Auth", {}).get("Authorizer")
            if authorizer is None:
                authorizer = rest_api_auth(template, rest_api).get("DefaultAuthorizer")
            if authorizer == NO_AUTHORIZER:
                authorizer = None
            routes.append(Route(logical_id, method, str(properties["Path"]), kind, rest_api, authorizer))
    return routes


def _logical_id(reference: Any) -> str | None:
    """`!Ref Api` → "Api" (a RestApiId is a Ref to the template's API)."""
    if isinstance(reference, Mapping) and set(reference) == {"Ref"}:
        return str(reference["Ref"])
    if reference is None:
        return None
    raise ValueError(f"RestApiId {reference!r}: only a Ref to an AWS::Serverless::Api is served locally")


def rest_api_auth(template: Mapping[str, Any], rest_api: str) -> dict[str, Any]:
    """The `Auth` of a REST API (an AWS::Serverless::Api, or SAM's implicit API), SAM's `Globals.Api.Auth`
    merged under it as SAM merges Globals (maps merge, the API's own keys win)."""
    global_auth = template.get("Globals", {}).get("Api", {}).get("Auth", {})
    resource = template["Resources"].get(rest_api, {})
    own_auth = resource.get("Properties", {}).get("Auth", {}) if resource else {}
    merged = {**global_auth, **own_auth}
    if "Authorizers" in global_auth and "Authorizers" in own_auth:
        merged["Authorizers"] = {**global_auth["Authorizers"], **own_auth["Authorizers"]}
    return merged


def cognito_authorizers(
    template: Mapping[str, Any],
    routes: Iterable[Route],
    physical: Mapping[str, str],
    endpoint_url: str,
    parameters: Mapping[str, str] | None = None,
) -> dict[tuple[str, str], UserPoolAuthorizer]:
    """(API, authorizer name) → the Cognito authorizer the routes use, its user pools resolved against the
    local resources (`physical`) and checked on the Cognito at `endpoint_url`. Any other kind of authorizer
    is a ValueError: it is not emulated."""
    parameter_values = {**parameter_defaults(template), **(parameters or {})}
    authorizers: dict[tuple[str, str], UserPoolAuthorizer] = {}
    for route in routes:
        if route.authorizer is None or route.rest_api is None:
            continue
        key = (route.rest_api, route.authorizer)
        if key in authorizers:
            continue
        settings = rest_api_auth(template, route.rest_api).get("Authorizers", {}).get(route.authorizer)
        if settings is None or "UserPoolArn" not in settings:
            kind = "undefined" if settings is None else "not a Cognito user pool authorizer"
            raise ValueError(
                f"{route.logical_id} {route.method} {route.resource}: authorizer {route.authorizer!r} of "
                f"{route.rest_api} is {kind}; only Cognito user pool authorizers are emulated locally"
            )
        arns = (
            settings["UserPoolArn"]
            if isinstance(settings["UserPoolArn"], list)
            else [settings["UserPoolArn"]]
        )
        identity = settings.get("Identity", {})
        authorizers[key] = UserPoolAuthorizer(
            endpoint_url,
            [resolve(arn, physical, parameter_values, resources=template["Resources"]) for arn in arns],
            header=str(identity.get("Header", "Authorization")),
            validation_expression=identity.get("ValidationExpression"),
        )
    return authorizers


def resource_match(resource: str, path: str) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """Whether a REST resource path (`/admin/{asset+}`) matches a request path: its precedence key (lower
    is more specific: per segment 0 literal, 1 `{name}`, 2 greedy `{name+}`) and its path parameters; None
    when it does not match. A trailing slash on the request is ignored."""
    wanted = [segment for segment in resource.strip("/").split("/") if segment]
    given = [segment for segment in path.strip("/").split("/")] if path.strip("/") else []
    key: list[int] = []
    parameters: dict[str, str] = {}
    for index, segment in enumerate(wanted):
        variable = _PATH_PARAMETER.fullmatch(segment)
        if variable and variable.group(2):  # greedy: one or more segments, the rest of the path
            rest = given[index:]
            if not rest or any(part == "" for part in rest):
                return None
            parameters[variable.group(1)] = "/".join(rest)
            return (*key, 2), parameters
        if index >= len(given) or given[index] == "":
            return None
        if variable:
            parameters[variable.group(1)] = given[index]
            key.append(1)
        elif segment == given[index]:
            key.append(0)
        else:
            return None
    if len(given) != len(wanted):
        return None
    return tuple(key), parameters


def http_api_event(
    *,
    method: str,
    resource: str,
    path: str,
    headers: Iterable[tuple[str, str]] = (),
    query: Iterable[tuple[str, str]] = (),
    raw_query_string: str | None = None,
    path_parameters: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    content_type: str | None = None,
    stage: str = "dev",
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
    received: dt.datetime | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API event (payload format 2.0), as Lambda receives it.

    `resource` is the route's path (/webhooks/{connector_id}), `path` the request's path without the
    stage; `raw_query_string` defaults to `query` URL-encoded. `content_type` defaults to the request's
    Content-Type header; it decides whether the body is text or base64 (see the module docstring; a text
    type whose body is not UTF-8 is base64 too, so the bytes stay exact). `stage="$default"` puts no stage
    in the paths.
    """
    header_pairs, query_pairs = list(headers), list(query)
    received = received or dt.datetime.now(dt.UTC)
    request_id = request_id or str(uuid.uuid4())
    single_headers, cookies = _http_api_headers(header_pairs)
    if content_type is None:
        content_type = single_headers.get("content-type")
    text, is_base64 = _http_api_body(body, content_type)
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    route_key = f"{method.upper()} {resource}"
    host = single_headers.get("host", f"{DEFAULT_HOST}:{DEFAULT_PORT}")
    api_id = host.split(".", 1)[0] if ".execute-api." in host else LOCAL_API_ID
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": urlencode(query_pairs) if raw_query_string is None else raw_query_string,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = single_headers
    if query_pairs:
        event["queryStringParameters"] = _joined(query_pairs)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["requestContext"] = {
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": api_id,
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0],
        "http": {
            "method": method.upper(),
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": single_headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": stage,
        "time": received.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(received.timestamp() * 1000),
    }
    if text is not None:
        event["body"] = text
    event["isBase64Encoded"] = is_base64
    return event


def _http_api_headers(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Header names lower-cased, repeated headers joined by commas; the Cookie headers apart, one entry per
    cookie (format 2.0's `cookies`)."""
    lowered = [(name.lower(), value) for name, value in pairs]
    cookies = [
        c.strip() for name, value in lowered if name == "cookie" for c in value.split(";") if c.strip()
    ]
    return _joined([(name, value) for name, value in lowered if name != "cookie"]), cookies


def _http_api_body(body: bytes | str | None, content_type: str | None) -> tuple[str | None, bool]:
    if body is None or body == b"" or body == "":
        return None, False
    data = body.encode("utf-8") if isinstance(body, str) else body
    mimetype = (content_type or "").split(";", 1)[0].strip()
    if _HTTP_API_TEXT_TYPES.match(mimetype):
        try:
            return data.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(data).decode("ascii"), True


def _joined(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Name → value, the values of a repeated name joined by commas (format 2.0's headers and query)."""
    values: dict[str, str] = {}
    for name, value in pairs:
        values[name] = f"{values[name]},{value}" if name in values else value
    return values


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
    authorizer: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event, as Lambda receives it.

    `body` as bytes is sent as text when `content_type` is a text type and it is UTF-8, else base64; a
    `str` body is sent as text. Repeated headers or query parameters keep every value in the
    multi-value maps and the last one in the single-value maps, as API Gateway does. `authorizer` is
    `requestContext.authorizer` (a Cognito authorizer's: `{"claims": {...}}`); left out when None.
    """
    header_pairs, query_pairs = list(headers), list(query)
    received = received or dt.datetime.now(dt.UTC)
    request_id = request_id or str(uuid.uuid4())
    text, is_base64 = _event_body(body, content_type)
    single_headers = {name: value for name, value in header_pairs}
    user_agent = next((v for k, v in header_pairs if k.lower() == "user-agent"), None)
    event: dict[str, Any] = {
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
    if authorizer is not None:
        event["requestContext"]["authorizer"] = dict(authorizer)
    return event


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


def http_api_response(result: Any) -> Response:
    """The HTTP response an HTTP API (payload format 2.0) makes of a Lambda result: statusCode, headers,
    cookies (one Set-Cookie each), body, isBase64Encoded (multiValueHeaders is not read). A JSON value
    without statusCode is a 200 application/json whose body is that value (a string as it is); a statusCode
    that is not a status or a body that is not base64 when it says so is API Gateway's 500."""
    if not (isinstance(result, Mapping) and "statusCode" in result):
        try:
            inferred = result if isinstance(result, str) else json.dumps(result)
        except (TypeError, ValueError):
            return _api_gateway_error(500, "Internal Server Error")
        return Response(inferred, status=200, content_type="application/json")
    status = result["statusCode"]
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return _api_gateway_error(500, "Internal Server Error")
    body = result.get("body") or ""
    try:
        encoded = bool(result.get("isBase64Encoded"))
        payload = base64.b64decode(body, validate=True) if encoded else str(body).encode("utf-8")
    except (binascii.Error, ValueError):
        return _api_gateway_error(500, "Internal Server Error")
    response = Response(payload, status=status)
    response.headers.pop("Content-Type", None)
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", str(cookie))
    return response


def http_response(result: Any) -> Response:
    """The HTTP response a REST API makes of a Lambda proxy result (statusCode, headers,
    multiValueHeaders, body, isBase64Encoded); anything else is API Gateway's 502."""
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


def _unauthorized() -> Response:
    """API Gateway's UNAUTHORIZED gateway response (a Cognito authorizer refusing a token, or none)."""
    response = _api_gateway_error(401, "Unauthorized")
    response.headers["x-amzn-ErrorType"] = "UnauthorizedException"
    return response


class ClientRequest(NamedTuple):
    """The request an API Gateway event stands for, as its client sends it to the local API."""

    method: str
    path: str  # without the stage (the local API serves none), with the query string
    headers: dict[str, str]  # without Host and Content-Length (the client sets them)
    body: bytes


def request_of(event: Mapping[str, Any]) -> ClientRequest:
    """The client request behind an HTTP API (2.0) or REST API (1.0) event: the body decoded when it is
    base64, the stage taken off the path, cookies back in a Cookie header."""
    headers = {
        name: value
        for name, value in (event.get("headers") or {}).items()
        if name.lower() not in {"host", "content-length"}
    }
    if event.get("version") == "2.0":
        context = event["requestContext"]
        method, path, query = context["http"]["method"], event["rawPath"], event.get("rawQueryString", "")
        stage = context.get("stage", "$default")
        if stage != "$default" and path.startswith(f"/{stage}/"):
            path = path[len(stage) + 1 :]
        if event.get("cookies"):
            headers["cookie"] = "; ".join(event["cookies"])
    else:
        method, path = event["httpMethod"], event["path"]
        multi = event.get("multiValueQueryStringParameters") or {}
        query = urlencode([(name, value) for name, values in multi.items() for value in values])
    return ClientRequest(method, f"{path}?{query}" if query else path, headers, body_of(event))


def body_of(event: Mapping[str, Any]) -> bytes:
    """The request body of an API Gateway event (either format) as the client sent it."""
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")


class LocalApi:
    """A WSGI app serving the template's API routes against a started `LocalStack`.

    Routes behind a Cognito authorizer need the stack's `physical` (the user pool's id) and
    `aws.endpoint_url` (the embedded AWS, whose cognito-idp issued the tokens); `authorizers` may give
    them instead ((API, authorizer name) → anything with `authorize(header_value)` and `header`).
    """

    def __init__(
        self,
        stack: Any,
        *,
        stage: str = "dev",
        echo_logs: bool = False,
        log_requests: bool = True,
        authorizers: Mapping[tuple[str, str], Any] | None = None,
    ):
        self.stack = stack
        self.log_requests = log_requests
        self.stage = stage
        self.echo_logs = echo_logs
        template = stack.template or load_template()
        self.routes = api_routes(template)
        if authorizers is None:
            guarded = [route for route in self.routes if route.authorizer is not None]
            authorizers = (
                cognito_authorizers(
                    template, guarded, stack.physical, stack.aws.endpoint_url, {"Stage": stage}
                )
                if guarded
                else {}
            )
        self.authorizers = dict(authorizers)
        self._map = Map(
            [
                Rule(
                    route.rule,
                    endpoint=index,
                    methods=None if route.method == "ANY" else [route.method],
                    strict_slashes=False,
                )
                for index, route in enumerate(self.routes)
                if route.api == HTTP_API
            ]
        )
        rest_first_segments = {_first_segment(r.resource) for r in self.routes if r.api == REST_API}
        self._http_api_segments = (
            {_first_segment(r.resource) for r in self.routes if r.api == HTTP_API}
            - rest_first_segments
            - {None}
        )
        self._invoke_lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- WSGI -----------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        return self.handle(request)(environ, start_response)

    def handle(self, request: Request) -> Response:
        started = time.monotonic()
        routed = self._route(request)
        if isinstance(routed, Response):
            return routed
        route, path_parameters = routed
        http_api = route.api == HTTP_API
        authorizer = None
        if route.authorizer is not None and route.rest_api is not None:
            guard = self.authorizers[(route.rest_api, route.authorizer)]
            try:
                authorizer = {"claims": guard.authorize(request.headers.get(guard.header))}
            except Unauthorized as refusal:
                self._log(request, route, 401, started, f" — unauthorized: {refusal}")
                return _unauthorized()
        fields: dict[str, Any] = {
            "method": request.method,
            "resource": route.resource,
            "path": request.path,
            "headers": list(request.headers.items()),
            "query": list(request.args.items(multi=True)),
            "path_parameters": path_parameters,
            "body": request.get_data(cache=False),
            "content_type": request.content_type,
            "stage": self.stage,
            "source_ip": request.remote_addr or "127.0.0.1",
        }
        if http_api:
            event = http_api_event(**fields, raw_query_string=request.query_string.decode("latin-1"))
        else:
            event = proxy_event(**fields, authorizer=authorizer)
        with self._invoke_lock:  # one invocation at a time: handlers share this process's environment
            try:
                result = self.stack.invoke(route.logical_id, event, echo_logs=self.echo_logs)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:  # the function failed or crashed: HTTP API answers 500, REST API 502
                if self.log_requests:
                    traceback.print_exc(file=sys.stderr)
                if http_api:
                    response = _api_gateway_error(500, "Internal Server Error")
                else:
                    response = _api_gateway_error(502, "Internal server error")
            else:
                response = http_api_response(result) if http_api else http_response(result)
        self._log(request, route, response.status_code, started)
        return response

    def _route(self, request: Request) -> tuple[Route, dict[str, str]] | Response:
        """The route a request takes and its path parameters, or API Gateway's answer when none does."""
        if self._belongs_to_http_api(request.path):
            try:
                index, path_parameters = self._map.bind_to_environ(request.environ).match()
            except (NotFound, MethodNotAllowed):
                return _api_gateway_error(404, "Not Found")
            except HTTPException as exc:  # e.g. a redirect for a trailing slash
                return _api_gateway_error(exc.code or 400, exc.description or "Bad Request")
            return self.routes[index], path_parameters
        matched = self._match_rest(request.method, request.path)
        return self._unrouted(request.path) if matched is None else matched

    def _log(self, request: Request, route: Route, status: int, started: float, note: str = "") -> None:
        if self.log_requests:
            elapsed_ms = (time.monotonic() - started) * 1000
            print(
                f"{request.method} {request.full_path.rstrip('?')} → {route.logical_id} "
                f"{status} ({elapsed_ms:.0f} ms){note}",
                file=sys.stderr,
            )

    def _belongs_to_http_api(self, path: str) -> bool:
        """Whether a path is the HTTP API's (module docstring: one port serves both APIs)."""
        if _first_segment(path) in self._http_api_segments:
            return True
        return any(
            route.api == HTTP_API and resource_match(route.resource, path) is not None
            for route in self.routes
        )

    def _match_rest(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The REST route API Gateway picks: the most specific resource matching the path, then its method
        (or ANY). None when no resource matches or the chosen one lacks the method: API Gateway does not
        fall back to a less specific resource."""
        candidates = []
        for route in self.routes:
            if route.api != REST_API:
                continue
            matched = resource_match(route.resource, path)
            if matched is not None:
                candidates.append((matched[0], route, matched[1]))
        if not candidates:
            return None
        best = min(key for key, _, _ in candidates)
        on_resource = [(route, parameters) for key, route, parameters in candidates if key == best]
        for wanted in (method.upper(), "ANY"):
            for route, parameters in on_resource:
                if route.method == wanted:
                    return route, parameters
        return None

    def _unrouted(self, path: str) -> Response:
        """What API Gateway answers a request no route takes. Locally one host serves every API, so it is
        the answer of the API whose route shares the longest beginning with the path."""
        nearest = max(self.routes, key=lambda r: len(posixpath.commonpath([r.resource, path])), default=None)
        if nearest is not None and nearest.api == HTTP_API:
            return _api_gateway_error(404, "Not Found")
        return _api_gateway_error(403, "Missing Authentication Token")

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


def _first_segment(path: str) -> str | None:
    """The first segment of a path when it is a literal (`/webhooks/{id}` → webhooks), else None."""
    first = path.strip("/").split("/", 1)[0]
    return first if first and not _PATH_PARAMETER.search(first) else None


class _QuietRequestHandler(WSGIRequestHandler):
    """`LocalApi.handle` prints one line per request; werkzeug's access log would repeat it."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None
