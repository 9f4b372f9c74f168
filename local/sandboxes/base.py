"""Plumbing shared by every sandbox partner API: a Flask app served on loopback, fault injection,
a request log and rate limiting.

A sandbox subclasses `SandboxServer`, adds its routes to `self.app` and overrides `error_body()` with the
partner's error shape. Tests and the local stack then drive it from Python or over HTTP:

    with ServiceTradeSandbox() as sandbox:                       # a SandboxServer subclass
        sandbox.inject_fault(method="GET", path=r"/api/invoice", status=429, times=2, retry_after=1)
        ...                                                       # code under test calls sandbox.base_url
        assert [r["method"] for r in sandbox.find_requests(path=r"/api/auth")] == ["POST", "DELETE"]

Control endpoints (never faulted, rate limited or logged):
- `POST /_sandbox/faults` with one fault or a list of them: `{"method": "GET" | "*", "path": "<regex>",
  "query": {"page": "2"}, "status": 429, "times": 2, "retry_after": 1, "body": {...}, "headers": {...},
  "delay": 0.5}`. `path` must match the whole request path (`re.fullmatch`); `query`, when given, must
  be a subset of the request's query parameters (values compared as strings). Faults are matched in
  the order queued; each answers `times` matching requests, then disappears. `status` omitted with
  `delay` set: the request is held for `delay` seconds and then handled normally (a slow partner, for
  timeout tests). `"after": true`: the request is handled normally (the partner acts) and only its
  answer is replaced by the fault — an answer lost after the partner acted. `body` omitted: the
  partner's usual error body for that status. `GET` lists the queued faults, `DELETE` clears them.
- `GET /_sandbox/requests`: the requests received so far (method, path, query, json, headers, time,
  the response `status`; `fault`/`rate_limited` when the sandbox answered instead of the API).
  Authorization, Cookie and API-key headers and password/secret/token fields of JSON bodies are
  redacted. `DELETE` clears.
- `POST /_sandbox/rate-limit` `{"per_second": 5}` (or null to switch it off): more than N requests in
  any one-second window are answered 429 with `Retry-After`.
"""

from __future__ import annotations

import copy
import math
import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field, fields
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

REDACTED = "[redacted]"
REDACTED_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key", "x-auth-token"})
REDACTED_FIELDS = frozenset(
    {"password", "client_secret", "secret", "token", "access_token", "refresh_token", "api_key", "apikey"}
)
CONTROL_PREFIX = "/_sandbox"


@dataclass
class Fault:
    """One queued injected response (see the module docstring for the fields)."""

    method: str = "*"
    path: str = ".*"
    query: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    times: int = 1
    retry_after: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    after: bool = (
        False  # the request is handled (the partner acts), then its answer is replaced: a lost answer
    )

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self.query = {str(k): str(v) for k, v in (self.query or {}).items()}
        self._pattern = re.compile(self.path)
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status {self.status} is not an HTTP status")
        if self.status is None and not self.delay:
            raise ValueError("a fault needs a status, a delay or both")
        if self.times < 1:
            raise ValueError("times must be at least 1")
        if self.delay < 0:
            raise ValueError("delay must not be negative")

    @classmethod
    def from_json(cls, spec: object) -> Fault:
        if not isinstance(spec, dict):
            raise ValueError("a fault is a JSON object")
        unknown = set(spec) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        try:
            return cls(**spec)
        except (TypeError, re.error) as exc:
            raise ValueError(str(exc)) from exc

    def matches(self, method: str, path: str, query: dict[str, str]) -> bool:
        return (
            self.method in ("*", method.upper())
            and self._pattern.fullmatch(path) is not None
            and all(query.get(k) == v for k, v in self.query.items())
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "times": self.times,
            "retry_after": self.retry_after,
            "body": self.body,
            "headers": self.headers,
            "delay": self.delay,
            "after": self.after,
        }


@dataclass
class RandomFaults:
    """Faults at random, for chaos runs: each API request is answered by a fault with probability `rate`.

    A fault is a 500, 502 or 503, or a 429 with `Retry-After` 1 s or — `long_retry_after_share` of them —
    one too long to wait for; `lost_answer_share` of them are carried out first and only their answer is
    lost (the partner acted). `injected` counts them by kind. Seeded: the same seed, the same faults.
    """

    rate: float
    seed: int = 0
    lost_answer_share: float = 0.25
    long_retry_after_share: float = 0.1
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def pick(self, method: str, path: str) -> Fault | None:
        if self._rng.random() >= self.rate:
            return None
        status = self._rng.choice((500, 502, 503, 429))
        retry_after = None
        if status == 429:
            retry_after = 3600 if self._rng.random() < self.long_retry_after_share else 1
        after = status != 429 and self._rng.random() < self.lost_answer_share
        kind = (
            "lost answer" if after else (f"429 retry after {retry_after}s" if status == 429 else str(status))
        )
        self.injected[kind] = self.injected.get(kind, 0) + 1
        return Fault(method, re.escape(path), {}, status, 1, retry_after, None, {}, 0.0, after)


class _QuietRequestHandler(WSGIRequestHandler):
    """No access log lines: tests read the request log instead. Errors are still reported."""

    def log(self, type: str, message: str, *args: Any) -> None:
        if type != "info":
            super().log(type, message, *args)


class SandboxServer:
    """A partner API look-alike served from a background thread on 127.0.0.1 (a free port by default).

    Subclasses register their routes on `self.app` in `__init__` and override `error_body()`; the
    fault, request-log and rate-limit machinery applies to every route they add.
    """

    name = "sandbox"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, rate_limit_per_second: int | None = None):
        self.host = host
        self.port = port
        self.rate_limit_per_second = rate_limit_per_second
        self.app = Flask(f"{type(self).__module__}.{type(self).__name__}")
        self.app.json.sort_keys = False  # keep the partner's key order
        self._lock = threading.RLock()
        self._faults: list[Fault] = []
        self.random_faults: RandomFaults | None = None  # chaos runs: `set_random_faults(rate, seed)`
        self._log: list[dict[str, Any]] = []
        self._recent: deque[float] = deque()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._install_plumbing()

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        """Start serving (idempotent). Returns self, so `sandbox = Sandbox().start()` works."""
        if self._server is None:
            server = make_server(
                self.host, self.port, self.app, threaded=True, request_handler=_QuietRequestHandler
            )
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self.name}-sandbox"
            )
            self._thread.daemon = True
            self._server = server
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>` of the running server (no trailing slash)."""
        if self._server is None:
            raise RuntimeError(f"{self.name} sandbox is not running: call start() first")
        return f"http://{self.host}:{self._server.server_port}"

    def reset(self) -> None:
        """Forget faults, logged requests and rate-limit history (subclasses also reset their data)."""
        with self._lock:
            self._faults.clear()
            self._log.clear()
            self._recent.clear()

    # -- faults, request log, rate limit ----------------------------------------------------------------

    def inject_fault(
        self,
        *,
        method: str = "*",
        path: str = ".*",
        query: dict[str, str] | None = None,
        status: int | None = None,
        times: int = 1,
        retry_after: int | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        after: bool = False,
    ) -> Fault:
        """Queue an injected response for the next `times` requests matching `method`, `path` and `query`
        (see the module docstring). Returns the queued fault."""
        fault = Fault(
            method,
            path,
            dict(query or {}),
            status,
            times,
            retry_after,
            body,
            dict(headers or {}),
            delay,
            after,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def set_random_faults(self, rate: float | None, seed: int = 0, **options: float) -> RandomFaults | None:
        """Answer API requests with random faults (see `RandomFaults`); `rate=None` switches them off."""
        with self._lock:
            self.random_faults = RandomFaults(rate, seed, **options) if rate else None
            return self.random_faults

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        """Faults still queued (copies)."""
        with self._lock:
            return [copy.copy(f) for f in self._faults]

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The requests received so far, oldest first (redacted copies)."""
        with self._lock:
            return copy.deepcopy(self._log)

    def find_requests(self, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        """Logged requests with this method (any if None) whose path fully matches the regex `path`."""
        return [
            r
            for r in self.requests
            if (method is None or r["method"] == method.upper())
            and (path is None or re.fullmatch(path, r["path"]) is not None)
        ]

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def set_rate_limit(self, per_second: int | None) -> None:
        """Answer 429 to requests beyond `per_second` in any one-second window (None: no limit)."""
        if per_second is not None and per_second < 1:
            raise ValueError("per_second must be at least 1")
        with self._lock:
            self.rate_limit_per_second = per_second
            self._recent.clear()

    # -- for subclasses -----------------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """The partner's JSON error body for `status` (override with the partner's shape)."""
        return {"error": message}

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        """A JSON error response in the partner's shape."""
        response = jsonify(self.error_body(status, message))
        response.status_code = status
        response.headers.update(headers or {})
        return response

    # -- internals ------------------------------------------------------------------------------------------

    def _install_plumbing(self) -> None:
        control = Blueprint("sandbox_control", __name__, url_prefix=CONTROL_PREFIX)
        control.add_url_rule("/faults", view_func=self._post_faults, methods=["POST"])
        control.add_url_rule("/faults", view_func=self._get_faults, methods=["GET"])
        control.add_url_rule("/faults", view_func=self._delete_faults, methods=["DELETE"])
        control.add_url_rule("/requests", view_func=self._get_requests, methods=["GET"])
        control.add_url_rule("/requests", view_func=self._delete_requests, methods=["DELETE"])
        control.add_url_rule("/rate-limit", view_func=self._post_rate_limit, methods=["POST"])
        self.app.register_blueprint(control)
        self.app.before_request(self._intercept)
        self.app.after_request(self._record_status)
        self.app.register_error_handler(HTTPException, self._http_error)

    def _intercept(self) -> Response | None:
        if request.path.startswith(CONTROL_PREFIX):
            return None
        entry = self._record()
        fault = self._take_fault(request.method, request.path, request.args.to_dict(flat=True))
        if fault is None and self.random_faults is not None:
            with self._lock:
                fault = self.random_faults.pick(request.method, request.path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status is not None and fault.after:
                g.sandbox_fault_after = fault  # handled now, its answer lost on the way back
            elif fault.status is not None:
                entry["fault"] = fault.status
                return self._fault_response(fault)
        wait = self._rate_limit_wait()
        if wait is not None:
            entry["rate_limited"] = True
            return self.error(429, "Rate limit exceeded", {"Retry-After": str(wait)})
        return None

    def _record(self) -> dict[str, Any]:
        body = request.get_json(silent=True) if request.is_json else None
        entry = {
            "method": request.method,
            "path": request.path,
            "query": request.args.to_dict(flat=True),
            "json": _redact(body),
            "headers": {
                k: REDACTED if k.lower() in REDACTED_HEADERS else v for k, v in request.headers.items()
            },
            "time": time.time(),
        }
        with self._lock:
            self._log.append(entry)
        g.sandbox_log_entry = entry
        return entry

    def _record_status(self, response: Response) -> Response:
        entry = g.get("sandbox_log_entry")
        after = g.get("sandbox_fault_after")
        if entry is not None:
            with self._lock:
                entry["status"] = response.status_code  # what the partner did
                if after is not None:
                    entry["fault"] = after.status
                    entry["answer_lost"] = True
        return self._fault_response(after) if after is not None else response

    def _take_fault(self, method: str, path: str, query: dict[str, str]) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path, query):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _fault_response(self, fault: Fault) -> Response:
        assert fault.status is not None
        if fault.body is None:
            response = self.error(fault.status, f"Injected fault: HTTP {fault.status}")
        else:
            response = jsonify(fault.body)
            response.status_code = fault.status
        if fault.retry_after is not None:
            response.headers["Retry-After"] = str(fault.retry_after)
        response.headers.update(fault.headers)
        return response

    def _rate_limit_wait(self) -> int | None:
        """Seconds to wait if this request is over the limit, else None (and the request is counted)."""
        with self._lock:
            limit = self.rate_limit_per_second
            if limit is None:
                return None
            now = time.monotonic()
            while self._recent and now - self._recent[0] >= 1.0:
                self._recent.popleft()
            if len(self._recent) >= limit:
                return max(1, math.ceil(1.0 - (now - self._recent[0])))
            self._recent.append(now)
            return None

    def _http_error(self, exc: HTTPException) -> Response:
        response = self.error(exc.code or 500, exc.description or exc.name)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    def _post_faults(self) -> tuple[Response, int] | Response:
        spec = request.get_json(silent=True)
        try:
            faults = [Fault.from_json(s) for s in (spec if isinstance(spec, list) else [spec])]
        except ValueError as exc:
            return self.error(400, f"invalid fault: {exc}")
        with self._lock:
            self._faults.extend(faults)
        return jsonify({"queued": [f.to_json() for f in faults]}), 201

    def _get_faults(self) -> Response:
        return jsonify({"faults": [f.to_json() for f in self.faults]})

    def _delete_faults(self) -> tuple[str, int]:
        self.clear_faults()
        return "", 204

    def _get_requests(self) -> Response:
        return jsonify({"requests": self.requests})

    def _delete_requests(self) -> tuple[str, int]:
        self.clear_requests()
        return "", 204

    def _post_rate_limit(self) -> Response:
        spec = request.get_json(silent=True)
        per_second = spec.get("per_second") if isinstance(spec, dict) else "missing"
        if per_second is not None and (not isinstance(per_second, int) or isinstance(per_second, bool)):
            return self.error(400, 'expected {"per_second": <int> | null}')
        try:
            self.set_rate_limit(per_second)
        except ValueError as exc:
            return self.error(400, str(exc))
        return jsonify({"per_second": per_second})


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if str(k).lower() in REDACTED_FIELDS else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value
