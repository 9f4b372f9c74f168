"""Run a function's real handler in-process with a real event, like `sam local invoke` does in Docker.

The function's code folder and the layer (shared/) are put on sys.path as Lambda would (/var/task,
/opt/python); its environment comes from template.yaml with references resolved to the local resources.
Structured logs of every invocation are kept under .local/logs/ for `make logs` (`print_logs`).
The commands are `local.commands.invoke` and `local.commands.logs`.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import importlib.util
import io
import itertools
import json
import logging
import os
import sys
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "shared"  # on sys.path (local/__init__.py), as /opt/python on Lambda
LOG_DIR = REPO / ".local" / "logs"
SERVICE_LOGGER = "invoice-relay"  # POWERTOOLS_SERVICE_NAME in template.yaml

# A run that published no metric is normal (nothing to do); Powertools warns about it on every invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


@dataclass
class LocalLambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _LogSink(io.TextIOBase):
    """Where the Powertools log handler writes: the current invocation's log file, and optionally stderr."""

    def __init__(self) -> None:
        self.file: io.TextIOBase | None = None
        self.echo = False

    def write(self, text: str) -> int:
        if self.file is not None:
            self.file.write(text)
        if self.echo:
            sys.stderr.write(text)
        return len(text)

    def flush(self) -> None:
        if self.file is not None:
            self.file.flush()


_sink = _LogSink()
# Which function this thread runs right now (None between calls) and a number per invocation. A context
# variable, so that threads a function starts with a copy of its context (the layer's bounded concurrency
# does) belong to its invocation too: chaos crashes them like the rest of the function.
_invocation: contextvars.ContextVar[tuple[str | None, int]] = contextvars.ContextVar(
    "invocation", default=(None, 0)
)
_invocations_started = itertools.count(1)


def current_function() -> str | None:
    """The logical id of the function this thread is running, or None outside an invocation (chaos tools
    inject faults only inside the functions, never into the sandboxes or the checks)."""
    return _invocation.get()[0]


def current_invocation() -> int:
    """A number that changes with every invocation this thread starts (0 before the first)."""
    return _invocation.get()[1]


_modules: dict[str, ModuleType] = {}
_last_function: list[str] = []


def capture_layer_logs() -> None:
    """Send the layer's structured logs to the invocation log files from now on, also those written
    between invocations (a local stack's own setup), which would otherwise clutter the terminal."""
    import invoice_relay.logs  # noqa: F401 - creates the service logger and its handler

    _route_logs_to_sink()


def _route_logs_to_sink() -> None:
    for handler in logging.getLogger(SERVICE_LOGGER).handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is not _sink:
            handler.setStream(_sink)


def _load_handler(logical_id: str, code_uri: Path, handler: str) -> Any:
    module_name, function_name = handler.rsplit(".", 1)
    if logical_id not in _modules:
        for path in (str(LAYER), str(code_uri)):
            if path not in sys.path:
                sys.path.insert(0, path)
        spec = importlib.util.spec_from_file_location(f"lambda_{logical_id}", code_uri / f"{module_name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _modules[logical_id] = module
    return getattr(_modules[logical_id], function_name)


def reset_layer_caches() -> None:
    """Forget per-container caches (settings, clients) — a new local stack is a new 'container'."""
    from aws_lambda_powertools.utilities import parameters

    from invoice_relay.control import credentials, history, management, plane, schedules
    from invoice_relay.pipeline.deliver_function import _idempotent_delivery, idempotency_config
    from invoice_relay.pipeline.queue import sqs_client
    from invoice_relay.pipeline.services import services
    from invoice_relay.settings import settings
    from invoice_relay.storage.objects import s3_client
    from invoice_relay.storage.table import state_table

    for cached in (services, settings, s3_client, state_table, sqs_client):
        cached.cache_clear()
    for cached in (_idempotent_delivery, idempotency_config):
        cached.cache_clear()
    # the management API's clients and logic (a new stack's endpoints and resources)
    for cached in (
        management.management,
        plane.lambda_client,
        schedules.scheduler_client,
        credentials.secrets_client,
        history.sqs_client,
    ):
        cached.cache_clear()
    parameters.clear_caches()
    _last_function.clear()


def invoke(
    logical_id: str,
    event: dict[str, Any],
    environment: dict[str, str],
    *,
    code_uri: Path,
    handler: str,
    timeout: int = 120,
    memory: int = 512,
    echo_logs: bool = False,
) -> Any:
    """Invoke one handler with `event` under `environment`; returns what the handler returned.

    Exceptions propagate (as a failed invocation would), after the log file is closed.
    """
    if _last_function != [logical_id]:
        # Each function has its own containers on Lambda (and its own environment): a switch of function
        # here starts from fresh per-container caches, as a cold start would.
        reset_layer_caches()
        _last_function[:] = [logical_id]
    os.environ.update(environment)
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ["AWS_LAMBDA_FUNCTION_NAME"] = environment.get("FUNCTION_NAME", logical_id)
    fn = _load_handler(logical_id, code_uri, handler)
    _route_logs_to_sink()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    context = LocalLambdaContext(function_name=logical_id, memory_limit_in_mb=memory, timeout_seconds=timeout)
    log_path = LOG_DIR / f"{stamp}-{logical_id}.jsonl"
    _prune_logs()
    with log_path.open("w") as log_file:
        _sink.file, _sink.echo = log_file, echo_logs
        try:
            # Powertools Metrics prints its EMF lines to stdout, which Lambda sends to CloudWatch: here
            # they go to the same log file as the structured logs.
            with contextlib.redirect_stdout(_sink):
                token = _invocation.set((logical_id, next(_invocations_started)))
                try:
                    return fn(event, context)
                finally:
                    _invocation.reset(token)
        finally:
            _sink.file, _sink.echo = None, False


# What a structured log line says besides its message, in the order `make logs` shows it.
_SHOWN_KEYS = (
    "connector_id",
    "run_id",
    "source_id",
    "document_number",
    "event_type",
    "status",
    "status_code",
    "reason",
)


KEEP_LOG_FILES = 20_000  # the newest invocations' logs kept under .local/logs (a chaos run makes thousands)
_invocations_since_prune = [0]


def _prune_logs() -> None:
    """Keep the newest KEEP_LOG_FILES invocation logs (checked every 500 invocations)."""
    _invocations_since_prune[0] += 1
    if _invocations_since_prune[0] < 500:
        return
    _invocations_since_prune[0] = 0
    for old in sorted(LOG_DIR.glob("*.jsonl"))[:-KEEP_LOG_FILES]:
        old.unlink(missing_ok=True)


def print_logs(last: int = 3, out: Any = sys.stdout) -> int:
    """Print the structured logs of the last `last` invocations, one readable line per record: when,
    level, message, then the correlation keys and what went wrong (status, reason) when the line says."""
    files = sorted(LOG_DIR.glob("*.jsonl"))[-last:] if LOG_DIR.exists() else []
    if not files:
        print("no local runs yet: try `make demo` or `make invoke ...`", file=out)
        return 1
    for path in files:
        print(f"== {path.name}", file=out)
        for line in path.read_text().splitlines():
            print(f"   {_readable(line)}", file=out)
    return 0


def _readable(line: str) -> str:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return line
    if not isinstance(record, dict):
        return line
    if "_aws" in record:  # an EMF metrics line
        names = [m["Name"] for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
        dimensions = {
            name: record[name]
            for block in record["_aws"]["CloudWatchMetrics"]
            for names_set in block["Dimensions"]
            for name in names_set
            if name in record and name != "service"
        }
        values = " ".join(f"{n}={_metric(record[n])}" for n in names)
        where = " ".join(f"{k}={v}" for k, v in dimensions.items())
        return f"metrics {values}" + (f"  [{where}]" if where else "")
    keys = " ".join(f"{k}={record[k]}" for k in _SHOWN_KEYS if record.get(k) not in (None, ""))
    when, level = record.get("timestamp", ""), record.get("level", "")
    return f"{when} {level:<7} {record.get('message')}" + (f"  [{keys}]" if keys else "")


def _metric(value: Any) -> str:
    return f"{value[0]:g}" if isinstance(value, list) else f"{value:g}"
