"""The Lambda Invoke API on loopback, for the local platform (like `sam local start-lambda`).

    service = LambdaService(platform, platform.functions).start()
    boto3.client("lambda", endpoint_url=service.url).invoke(FunctionName="invoice-relay-dev-poll", ...)
    service.stop()

`POST /2015-03-31/functions/{FunctionName}/invocations` answers as Lambda does, so boto3's `lambda` client
(and `aws lambda invoke --endpoint-url`) work unchanged once `AWS_ENDPOINT_URL_LAMBDA` points here:

- `X-Amz-Invocation-Type: RequestResponse` (the default): the handler runs now; 200 with its JSON answer
  and `X-Amz-Executed-Version: $LATEST`, or 200 with `X-Amz-Function-Error: Unhandled` and the error
  payload (`errorMessage`, `errorType`, `stackTrace`) when it raised.
- `Event`: 202 at once; the invocation waits in the async queue and a worker thread runs it. A failed run is
  retried twice (the function's `EventInvokeConfig.MaximumRetryAttempts`, Lambda's default 2), then its
  event goes to the function's `DeadLetterQueue` (SQS) with Lambda's attributes — every step logged.
  Lambda waits about one and then two minutes between attempts; locally `retry_delays` (seconds).
- `DryRun`: 204, nothing runs.
- an unknown function (or a qualifier other than `$LATEST`): 404 `ResourceNotFoundException`.

FunctionName may be a function name (`invoice-relay-dev-poll`), the template's logical id (`PollFunction`,
as `sam local` takes it), a full ARN or a partial ARN (`123456789012:function:invoice-relay-dev-poll`).

Every invocation goes through the host (`LocalPlatform`), which runs one at a time. A handler that invokes
another function synchronously would wait for itself; functions therefore get an endpoint URL with a path
prefix (`function_endpoint_url`) that marks their requests, and those run inline in the request's thread
while the calling invocation waits for them (`LocalPlatform.invoke_from_function`).
"""

from __future__ import annotations

import heapq
import itertools
import json
import re
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local.runtime.template import (
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    LOCAL_STACK_NAME,
    functions,
    parameter_defaults,
    resolve,
)

# Lambda's Invoke API route (API version 2015-03-31); FunctionName is one path segment (URL-encoded).
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<function>[^/]+)/invocations/?$")
# The path prefix of the endpoint the functions themselves get (see the module docstring).
FUNCTION_CALLER_PREFIX = "/_invoked-by-a-function"
# FunctionName as the Invoke API accepts it: name, partial ARN or full ARN, with an optional qualifier.
_FUNCTION_REFERENCE = re.compile(
    r"^(?:arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?(?:function:)?(?P<name>[a-zA-Z0-9_.-]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$"
)
LATEST = "$LATEST"
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")

# Lambda waits about 1 and then 2 minutes before retrying a failed asynchronous invocation; locally a
# second and two, so that a failure and its retries show together in the terminal.
ASYNC_RETRY_DELAYS = (1.0, 2.0)
DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 2  # Lambda's default for asynchronous invocations (0-2)
DEFAULT_MAXIMUM_EVENT_AGE = 6 * 3600.0  # seconds, Lambda's default (and maximum)
_KEPT_OUTCOMES = 1000


class InvocationHost(Protocol):
    """What the service runs invocations on (`LocalPlatform`): one at a time, by logical id."""

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Run the function now, after any invocation in progress; its exception propagates."""
        ...

    def invoke_from_function(self, logical_id: str, event: Any) -> Any:
        """Run the function for a handler that called it synchronously (it must not wait for the caller)."""
        ...


# -- function names ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FunctionDirectory:
    """The template's functions under the names the Lambda API takes, and back.

    `names`: logical id → function name: the template's `FunctionName` resolved with the stage, without one
    `invoice-relay-local-<logical id in lower case>` — the rule `template.resolve` follows for `!Ref` of a
    function — and the ARN `arn:aws:lambda:us-east-1:123456789012:function:<name>`, what it gives
    `!GetAtt <Function>.Arn`: the ARNs in the functions' environment (schedule targets) lead back here.
    """

    names: Mapping[str, str]
    region: str = LOCAL_REGION
    account: str = LOCAL_ACCOUNT_ID

    @classmethod
    def from_template(
        cls,
        template: Mapping[str, Any],
        physical: Mapping[str, str] | None = None,
        parameters: Mapping[str, str] | None = None,
    ) -> FunctionDirectory:
        """Every function of the template with its resolved `FunctionName` (`parameters` override the
        template's defaults, e.g. `{"Stage": "dev"}`)."""
        parameter_values = {**parameter_defaults(template), **(parameters or {})}
        names = {}
        for logical_id in functions(template):
            declared = template["Resources"][logical_id].get("Properties", {}).get("FunctionName")
            names[logical_id] = (
                resolve(declared, physical or {}, parameter_values)
                if declared is not None
                else f"{LOCAL_STACK_NAME}-{logical_id.lower()}"
            )
        return cls(names)

    def arn(self, logical_id: str) -> str:
        """The function's ARN (unqualified)."""
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.names[logical_id]}"

    def name(self, logical_id: str) -> str:
        """The function's name (its template FunctionName, resolved)."""
        return self.names[logical_id]

    def logical_id(self, reference: str, qualifier: str | None = None) -> str | None:
        """The logical id `reference` (name, logical id, full or partial ARN, optionally `:qualifier`)
        names, or None when it is none of this template's functions. Only `$LATEST` exists locally: a
        version or alias qualifier names nothing, as an unpublished version would not exist on Lambda."""
        match = _FUNCTION_REFERENCE.match(reference)
        if match is None:
            return None
        if match["region"] not in (None, self.region) or match["account"] not in (None, self.account):
            return None
        qualifiers = {q for q in (match["qualifier"], qualifier) if q}
        if qualifiers - {LATEST}:
            return None
        name = match["name"]
        for logical_id, function_name in self.names.items():
            if name in (function_name, logical_id):
                return logical_id
        return None

    def not_found_arn(self, reference: str, qualifier: str | None = None) -> str:
        """The ARN Lambda names in its "Function not found" message for `reference`."""
        arn = (
            reference
            if reference.startswith("arn:")
            else f"arn:aws:lambda:{self.region}:{self.account}:function:{reference.split(':function:')[-1]}"
        )
        return f"{arn}:{qualifier}" if qualifier else arn


# -- asynchronous invocations ----------------------------------------------------------------------------
@dataclass(frozen=True)
class AsyncConfig:
    """A function's asynchronous invocation settings (its `EventInvokeConfig` and `DeadLetterQueue`)."""

    maximum_retry_attempts: int = DEFAULT_MAXIMUM_RETRY_ATTEMPTS
    maximum_event_age: float = DEFAULT_MAXIMUM_EVENT_AGE
    dead_letter_queue_url: str | None = None


@dataclass
class AsyncInvocation:
    """One event in the async queue."""

    request_id: str
    logical_id: str
    event: Any
    source: str  # who sent it, for the log: "Invoke API", "schedule <group>/<name>"
    received: float = field(default_factory=time.time)
    attempts: int = 0


@dataclass(frozen=True)
class AsyncOutcome:
    """How an asynchronous invocation ended, after its retries."""

    request_id: str
    logical_id: str
    source: str
    attempts: int
    result: Any = None
    error: str | None = None  # "<ErrorType>: <message>" of the last attempt
    dead_letter_queue_url: str | None = None  # where its event went, when it failed

    @property
    def succeeded(self) -> bool:
        """True when an attempt returned (the handler's answer may still report a failed run)."""
        return self.error is None


# -- the service ---------------------------------------------------------------------------------------
class LambdaService:
    """The Lambda Invoke API (a WSGI app on loopback) and the async queue's worker thread."""

    def __init__(
        self,
        host: InvocationHost,
        directory: FunctionDirectory,
        *,
        async_configs: Mapping[str, AsyncConfig] | None = None,
        sqs_client: Any | None = None,
        retry_delays: Iterable[float] = ASYNC_RETRY_DELAYS,
        log_invocations: bool = True,
    ):
        """`host` runs the invocations; `async_configs` (logical id → AsyncConfig) and `sqs_client` (for
        the dead-letter queues) come from the platform."""
        self.host = host
        self.directory = directory
        self.async_configs = dict(async_configs or {})
        self.sqs_client = sqs_client
        self.retry_delays = tuple(retry_delays) or (0.0,)
        self.log_invocations = log_invocations
        self.outcomes: deque[AsyncOutcome] = deque(maxlen=_KEPT_OUTCOMES)
        # The async queue: (due on the monotonic clock, order received, invocation), earliest first.
        self._pending: list[tuple[float, int, AsyncInvocation]] = []
        self._order = itertools.count()
        self._busy = False
        self._stopping = False
        self._queue_changed = threading.Condition()
        self._worker: threading.Thread | None = None
        self._server: BaseWSGIServer | None = None
        self._server_thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Serve on `host:port` (0: any free port, see `url`) and start the async worker."""
        # threaded: a handler's own Invoke request must be answered while another request waits for it.
        self._server = make_server(host, port, self, threaded=True, request_handler=_QuietRequestHandler)
        self._server_thread = threading.Thread(
            target=self._server.serve_forever, name="local-lambda-api", daemon=True
        )
        self._server_thread.start()
        self._stopping = False
        self._worker = threading.Thread(target=self._work, name="local-lambda-async", daemon=True)
        self._worker.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and stop the worker (after the invocation it runs, waiting up to `timeout`).
        Events still queued are dropped: nothing of the local platform outlives it."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._server_thread is not None:
            self._server_thread.join(timeout=5)
        with self._queue_changed:
            self._stopping = True
            dropped = len(self._pending)
            self._pending.clear()
            self._queue_changed.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=timeout)
        if dropped:
            self._log(f"lambda: {dropped} queued asynchronous invocation(s) dropped at shutdown")
        self._server = self._server_thread = self._worker = None

    @property
    def running(self) -> bool:
        """True between `start` and `stop`."""
        return self._server is not None

    @property
    def url(self) -> str:
        """The endpoint for `AWS_ENDPOINT_URL_LAMBDA` / `endpoint_url=` (clients outside the functions)."""
        if self._server is None:
            raise RuntimeError("the local Lambda service is not started")
        return f"http://{self._server.host}:{self._server.port}"

    @property
    def function_endpoint_url(self) -> str:
        """The endpoint the functions get: `url` plus the prefix that marks a handler's own requests."""
        return self.url + FUNCTION_CALLER_PREFIX

    # -- the async queue -------------------------------------------------------------------------------
    def submit(self, logical_id: str, event: Any, *, source: str, request_id: str | None = None) -> str:
        """Queue an asynchronous invocation (what an `Event` invoke or a schedule does); returns its
        request id. The worker runs it as soon as the invocations before it are done."""
        invocation = AsyncInvocation(request_id or str(uuid.uuid4()), logical_id, event, source)
        self._enqueue(invocation, delay=0.0)
        return invocation.request_id

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until the async queue is empty (retries included) and the worker is idle; False on
        timeout."""
        with self._queue_changed:
            return self._queue_changed.wait_for(lambda: not self._pending and not self._busy, timeout)

    def outcome(self, request_id: str) -> AsyncOutcome | None:
        """How the asynchronous invocation `request_id` ended (None while it is queued or running)."""
        return next((o for o in reversed(self.outcomes) if o.request_id == request_id), None)

    def _enqueue(self, invocation: AsyncInvocation, delay: float) -> None:
        with self._queue_changed:
            heapq.heappush(self._pending, (time.monotonic() + delay, next(self._order), invocation))
            self._queue_changed.notify_all()

    def _work(self) -> None:
        while True:
            with self._queue_changed:
                while not self._stopping and not self._due():
                    timeout = self._pending[0][0] - time.monotonic() if self._pending else None
                    self._queue_changed.wait(timeout)
                if self._stopping:
                    return
                _, _, invocation = heapq.heappop(self._pending)
                self._busy = True
            try:
                self._run_async(invocation)
            except Exception:  # the worker must outlive anything (a dead-letter queue gone, ...)
                traceback.print_exc(file=sys.stderr)
            finally:
                with self._queue_changed:
                    self._busy = False
                    self._queue_changed.notify_all()

    def _due(self) -> bool:
        return bool(self._pending) and self._pending[0][0] <= time.monotonic()

    def _run_async(self, invocation: AsyncInvocation) -> None:
        invocation.attempts += 1
        config = self.async_configs.get(invocation.logical_id, AsyncConfig())
        attempts_allowed = 1 + config.maximum_retry_attempts
        started = time.monotonic()
        try:
            result = self.host.invoke(invocation.logical_id, invocation.event)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # the function failed (or crashed): Lambda's retry policy applies
            error = f"{type(exc).__name__}: {exc}"
            age = time.time() - invocation.received
            what = (
                f"{invocation.logical_id} ← {invocation.source}: "
                f"attempt {invocation.attempts} of {attempts_allowed}"
            )
            if invocation.attempts < attempts_allowed and age < config.maximum_event_age:
                delay = self.retry_delays[min(invocation.attempts - 1, len(self.retry_delays) - 1)]
                self._log(f"lambda: {what} failed ({error}); retried in {delay:g} s")
                self._enqueue(invocation, delay)
                return
            queue_url = self._dead_letter(invocation, error)
            where = (
                f"event sent to the dead-letter queue {queue_url.rsplit('/', 1)[-1]}"
                if queue_url
                else "event dropped (the function has no dead-letter queue)"
            )
            self._log(f"lambda: {what} failed ({error}); no retries left, {where}")
            self.outcomes.append(
                AsyncOutcome(
                    invocation.request_id,
                    invocation.logical_id,
                    invocation.source,
                    invocation.attempts,
                    error=error,
                    dead_letter_queue_url=queue_url,
                )
            )
            return
        elapsed_ms = (time.monotonic() - started) * 1000
        self._log(
            f"lambda: {invocation.logical_id} ← {invocation.source}: {_summary(result)} ({elapsed_ms:.0f} ms)"
        )
        self.outcomes.append(
            AsyncOutcome(
                invocation.request_id, invocation.logical_id, invocation.source, invocation.attempts, result
            )
        )

    def _dead_letter(self, invocation: AsyncInvocation, error: str) -> str | None:
        """Send the event to the function's dead-letter queue as Lambda does (body: the event;
        attributes RequestID, ErrorCode, ErrorMessage); returns the queue URL, None without one."""
        queue_url = self.async_configs.get(invocation.logical_id, AsyncConfig()).dead_letter_queue_url
        if not queue_url or self.sqs_client is None:
            return None
        self.sqs_client.send_message(
            QueueUrl=queue_url,
            MessageBody=json.dumps(invocation.event),
            MessageAttributes={
                "RequestID": {"DataType": "String", "StringValue": invocation.request_id},
                "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                "ErrorMessage": {"DataType": "String", "StringValue": error[:1024]},
            },
        )
        return queue_url

    # -- the Invoke API --------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request: Request) -> Response:
        """Answer one HTTP request as Lambda's Invoke API does."""
        path = request.path
        from_function = path.startswith(FUNCTION_CALLER_PREFIX + "/")
        if from_function:
            path = path[len(FUNCTION_CALLER_PREFIX) :]
        match = _INVOKE_PATH.match(path)
        if request.method != "POST" or match is None:
            return _error(
                404,
                "UnknownOperationException",
                f"the local Lambda endpoint answers Invoke only (POST /2015-03-31/functions/<name>"
                f"/invocations), not {request.method} {path}",
            )
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type not in INVOCATION_TYPES:
            return _error(
                400,
                "InvalidParameterValueException",
                f"X-Amz-Invocation-Type {invocation_type!r} is not one of {', '.join(INVOCATION_TYPES)}",
            )
        reference, qualifier = match["function"], request.args.get("Qualifier")
        logical_id = self.directory.logical_id(reference, qualifier)
        if logical_id is None:
            return _error(
                404,
                "ResourceNotFoundException",
                f"Function not found: {self.directory.not_found_arn(reference, qualifier)}",
            )
        body = request.get_data(cache=False)
        try:
            # No payload is an empty object to the function, as on Lambda.
            event = json.loads(body) if body.strip() else {}
        except ValueError as exc:
            return _error(
                400, "InvalidRequestContentException", f"Could not parse request body into json: {exc}"
            )
        request_id = str(uuid.uuid4())
        if invocation_type == "DryRun":
            return Response(status=204, headers={"x-amzn-RequestId": request_id})
        if invocation_type == "Event":
            self.submit(logical_id, event, source="Invoke API", request_id=request_id)
            return Response(status=202, headers={"x-amzn-RequestId": request_id})
        return self._invoke_now(logical_id, event, request_id, from_function=from_function)

    def _invoke_now(self, logical_id: str, event: Any, request_id: str, *, from_function: bool) -> Response:
        headers = {
            "x-amzn-RequestId": request_id,
            "X-Amz-Executed-Version": LATEST,
            "Content-Type": "application/json",
        }
        started = time.monotonic()
        run = self.host.invoke_from_function if from_function else self.host.invoke
        try:
            result = run(logical_id, event)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # the function failed (or crashed): an Unhandled function error
            headers["X-Amz-Function-Error"] = "Unhandled"
            payload = json.dumps(_function_error(exc, request_id))
            outcome = f"error {type(exc).__name__}"
        else:
            try:
                payload = json.dumps(result)
                outcome = _summary(result)
            except (TypeError, ValueError) as exc:  # what the Python runtime answers for such a result
                headers["X-Amz-Function-Error"] = "Unhandled"
                payload = json.dumps(_marshal_error(exc, request_id))
                outcome = "error Runtime.MarshalError"
        elapsed_ms = (time.monotonic() - started) * 1000
        caller = "a function" if from_function else "Invoke API"
        self._log(f"lambda: {logical_id} ← {caller} (RequestResponse): {outcome} ({elapsed_ms:.0f} ms)")
        return Response(payload, status=200, headers=headers)

    def _log(self, line: str) -> None:
        if self.log_invocations:
            print(line, file=sys.stderr)


def _function_error(exc: BaseException, request_id: str) -> dict[str, Any]:
    """The payload Lambda's Python runtime returns for an unhandled error."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _marshal_error(exc: Exception, request_id: str) -> dict[str, Any]:
    """The payload of the Python runtime when a handler returns something that is not JSON."""
    return {
        "errorMessage": f"Unable to marshal response: {exc}",
        "errorType": "Runtime.MarshalError",
        "requestId": request_id,
        "stackTrace": [],
    }


def _error(status: int, error_type: str, message: str) -> Response:
    """A Lambda API error: botocore reads the code from `x-amzn-ErrorType` and the message from the body."""
    return Response(
        json.dumps({"Type": "User", "message": message}),
        status=status,
        headers={
            "x-amzn-ErrorType": error_type,
            "x-amzn-RequestId": str(uuid.uuid4()),
            "Content-Type": "application/json",
        },
    )


def _summary(result: Any) -> str:
    """One word on what a handler returned, for the log: a run's status, or a batch's failures."""
    if isinstance(result, Mapping):
        if "status" in result:
            return f"returned status={result['status']}"
        if "batchItemFailures" in result:
            return f"returned {len(result['batchItemFailures'])} batch item failure(s)"
        if "statusCode" in result:
            return f"returned statusCode={result['statusCode']}"
    return "returned"


class _QuietRequestHandler(WSGIRequestHandler):
    """The service logs each invocation itself; werkzeug's access log would repeat it."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None
