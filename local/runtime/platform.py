"""The local platform: an embedded AWS (moto server) with the resources of template.yaml, and the functions'
real handlers invoked in-process with real event shapes (`invoke`), fed by the SQS event source emulation
(`drain_delivery_queue`).

`start_background()` adds what runs the platform by itself (`make api` starts it): the Lambda Invoke API on
loopback (`local.runtime.lambda_service`, with its async queue and worker), the EventBridge Scheduler that
fires the schedules kept in the embedded AWS (`local.runtime.scheduler`) and the delivery queue's event
source mapping as a thread (`event_source.QueuePump`). Without it (tests, `make demo`) nothing runs unless
called.

The handlers share this process and its `os.environ` (each invocation sets its function's environment), so
invocations never overlap: every `invoke` — API requests, the Lambda worker, schedules, the queue pump —
holds one lock. A handler that invokes another function synchronously through the Lambda API runs it inline
while it waits (`invoke_from_function`), rather than waiting for its own lock.

Nothing here knows a partner; the demo stack (`local.scenarios.stack.LocalStack`) adds sandbox partners and
connectors on top. Nothing here ships to Lambda, and the application code has no local branches: boto3
reaches the embedded AWS through AWS_ENDPOINT_URL (and the Lambda service through AWS_ENDPOINT_URL_LAMBDA).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Self

from local.runtime import event_source, runner
from local.runtime.embedded_aws import EmbeddedAWS
from local.runtime.lambda_service import ASYNC_RETRY_DELAYS, AsyncConfig, FunctionDirectory, LambdaService
from local.runtime.scheduler import LocalScheduler
from local.runtime.template import (
    function_environment,
    functions,
    load_template,
    parameter_defaults,
    resolve,
)

STAGE = "dev"
# Environment the local platform sets on top of the template's (none today).
LOCAL_OVERRIDES: dict[str, str] = {}
LAMBDA_ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_LAMBDA"  # boto3's service-specific endpoint for Lambda
# A delivery that failed is received again after this many seconds (SQS would wait out the queue's
# visibility timeout, 720 s: too long to watch locally, and with no wait at all the 5 receives before the
# dead-letter queue would be spent in one second).
QUEUE_RETRY_AFTER = 5


class UnknownFunction(ValueError):
    """No function of the template has this logical id."""


class LocalPlatform:
    """`with LocalPlatform() as platform:` starts it; `platform.invoke(logical_id, event)` runs a handler;
    `platform.start_background()` runs the Lambda API, the scheduler and the delivery queue by themselves."""

    def __init__(self) -> None:
        self.aws = EmbeddedAWS()
        self.template: dict[str, Any] = load_template()
        self.physical: dict[str, str] = {}
        self.functions = FunctionDirectory({})
        # One invocation at a time (see the module docstring). Re-entrant, so that code already inside an
        # invocation on this thread may invoke again.
        self._invocation_lock = threading.RLock()
        # Logical ids of the invocations in progress, outermost first (nested: a handler's synchronous
        # invoke of another function).
        self._running: list[str] = []
        self.lambda_service: LambdaService | None = None
        self.scheduler: LocalScheduler | None = None
        self.delivery_pump: event_source.QueuePump | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> Self:
        """Start the embedded AWS and create the template's resources (schedule groups included)."""
        self.aws.start()
        os.environ.update(self.aws.env())
        # The management API creates the connectors' schedules in the template's groups (created here too).
        self.physical = self.aws.create_resources(self.template)
        self.functions = FunctionDirectory.from_template(self.template, self.physical, {"Stage": STAGE})
        # Environment shared by every function (service name, log level...), set before any layer module
        # is imported, as Lambda does: Powertools reads it at import time.
        any_function = next(iter(functions(self.template)))
        os.environ.update(self.environment(any_function))
        runner.reset_layer_caches()
        runner.capture_layer_logs()
        return self

    def stop(self) -> None:
        """Stop the background services, if started, and the embedded AWS."""
        self.stop_background()
        self.aws.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- background services ---------------------------------------------------------------------------
    def start_background(
        self,
        *,
        lambda_host: str = "127.0.0.1",
        lambda_port: int = 0,
        schedules: bool = True,
        delivery_queue: bool = True,
        retry_delays: Iterable[float] = ASYNC_RETRY_DELAYS,
        queue_retry_after: int = QUEUE_RETRY_AFTER,
        log: bool = True,
    ) -> Self:
        """Start the Lambda Invoke API on `lambda_host:lambda_port` (0: any free port) with its async
        worker, and unless told not to, the scheduler (`schedules`) and the delivery queue pump
        (`delivery_queue`). `retry_delays`: seconds before the retries of a failed asynchronous
        invocation; `queue_retry_after`: seconds before a failed delivery is received again; `log`: one
        line on stderr per invocation and fired schedule. `stop_background()` (or `stop()`) ends them."""
        if self.lambda_service is not None:
            raise RuntimeError("the background services are already running")
        try:
            self.lambda_service = LambdaService(
                self,
                self.functions,
                async_configs=self._async_configs(),
                sqs_client=self.aws.client("sqs"),
                retry_delays=retry_delays,
                log_invocations=log,
            ).start(lambda_host, lambda_port)
            # Code outside the functions (tools, tests) reaches the service through boto3 too.
            os.environ[LAMBDA_ENDPOINT_VARIABLE] = self.lambda_service.url
            if schedules:
                self.scheduler = LocalScheduler(
                    self.aws.client("scheduler"),
                    self.functions,
                    self._dispatch_async,
                    sqs_client=self.aws.client("sqs"),
                    log_firings=log,
                ).start()
            if delivery_queue:
                self.delivery_pump = event_source.QueuePump(
                    self.delivery_queue_url,
                    lambda event: self.invoke("DeliverFunction", event),
                    batch_size=sqs_batch_size(self.template, "DeliverFunction"),
                    sqs_client=self.aws.client("sqs"),
                    retry_after=queue_retry_after,
                    consumer="DeliverFunction",
                    log=log,
                ).start()
        except BaseException:
            self.stop_background()
            raise
        return self

    def stop_background(self) -> None:
        """Stop the scheduler and the queue pump, then the Lambda service (queued async invocations are
        dropped); the functions' environment no longer names the service."""
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        if self.delivery_pump is not None:
            self.delivery_pump.stop()
            self.delivery_pump = None
        if self.lambda_service is not None:
            self.lambda_service.stop()
            self.lambda_service = None
        os.environ.pop(LAMBDA_ENDPOINT_VARIABLE, None)

    def _dispatch_async(self, logical_id: str, event: Any, source: str) -> str:
        """How a fired schedule reaches its function: Scheduler invokes Lambda asynchronously."""
        if self.lambda_service is None:
            raise RuntimeError("the Lambda service is not running")
        return self.lambda_service.submit(logical_id, event, source=source)

    def _async_configs(self) -> dict[str, AsyncConfig]:
        """Each function's asynchronous invocation settings from the template: EventInvokeConfig's
        MaximumRetryAttempts / MaximumEventAgeInSeconds and its SQS DeadLetterQueue."""
        parameters = {**parameter_defaults(self.template), "Stage": STAGE}
        resource_types = {lid: str(r.get("Type", "")) for lid, r in self.template["Resources"].items()}
        function_globals = self.template.get("Globals", {}).get("Function", {})
        configs = {}
        for logical_id in functions(self.template):
            properties = {**function_globals, **self.template["Resources"][logical_id].get("Properties", {})}
            invoke_config = properties.get("EventInvokeConfig") or {}
            dead_letter = properties.get("DeadLetterQueue") or {}
            queue_url = None
            if dead_letter.get("Type") == "SQS" and "TargetArn" in dead_letter:
                queue_arn = resolve(
                    dead_letter["TargetArn"], self.physical, parameters, resource_types=resource_types
                )
                queue_url = self._queue_url(queue_arn)
            configs[logical_id] = AsyncConfig(
                maximum_retry_attempts=int(invoke_config.get("MaximumRetryAttempts", 2)),
                maximum_event_age=float(invoke_config.get("MaximumEventAgeInSeconds", 6 * 3600)),
                dead_letter_queue_url=queue_url,
            )
        return configs

    def _queue_url(self, queue_arn: str) -> str | None:
        name = queue_arn.rsplit(":", 1)[-1]
        for value in self.physical.values():
            if value.startswith("http") and value.rstrip("/").rsplit("/", 1)[-1] == name:
                return value
        return None

    # -- resources -------------------------------------------------------------------------------------
    @property
    def table_name(self) -> str:
        return self.physical["StateTable"]

    @property
    def bucket_name(self) -> str:
        return self.physical["DocumentBucket"]

    @property
    def delivery_queue_url(self) -> str:
        return self.physical["DeliveryQueue"]

    def environment(self, logical_id: str) -> dict[str, str]:
        """The function's environment: the template's, resolved locally, plus the local endpoints."""
        env = function_environment(self.template, logical_id, self.physical, {"Stage": STAGE})
        env = {**env, **LOCAL_OVERRIDES, **self.aws.env()}
        if self.lambda_service is not None:
            # The functions' own endpoint: its path tells the service that a handler is calling.
            env[LAMBDA_ENDPOINT_VARIABLE] = self.lambda_service.function_endpoint_url
        return env

    # -- invocation ------------------------------------------------------------------------------------
    def check_function(self, logical_id: str) -> None:
        """UnknownFunction naming the functions there are, when `logical_id` is not one of them."""
        check_function(self.template, logical_id)

    def invoke(self, logical_id: str, event: dict[str, Any], *, echo_logs: bool = False) -> Any:
        """Run the function's handler with `event` and return what it returned (its exception
        propagates); waits while another invocation runs."""
        self.check_function(logical_id)
        with self._invocation_lock:
            return self._run(logical_id, event, echo_logs=echo_logs)

    def invoke_from_function(self, logical_id: str, event: Any) -> Any:
        """A synchronous invoke a running handler makes through the Lambda service (a request to its
        `function_endpoint_url`): it runs now, in the caller's stead, while the calling invocation waits
        for the answer — taking the lock would wait for the caller, which waits for this.

        Only when no invocation is in progress (a thread a handler left behind) does it take the lock like
        any other. A handler must not call synchronously from a thread of its own while it goes on working:
        the two would share os.environ, switched to the callee's environment for the call.
        """
        self.check_function(logical_id)
        if self._invocation_lock.acquire(blocking=False):
            try:
                return self._run(logical_id, event)
            finally:
                self._invocation_lock.release()
        caller = self._running[-1] if self._running else None
        # The runner's log sink is global: the caller's log file is taken back after the call.
        sink_file, sink_echo = runner._sink.file, runner._sink.echo
        try:
            return self._run(logical_id, event)
        finally:
            runner._sink.file, runner._sink.echo = sink_file, sink_echo
            if caller is not None:
                environment = self.environment(caller)
                os.environ.update(environment)
                os.environ["AWS_LAMBDA_FUNCTION_NAME"] = environment.get("FUNCTION_NAME", caller)

    def _run(self, logical_id: str, event: Any, *, echo_logs: bool = False) -> Any:
        spec = functions(self.template)[logical_id]
        self._running.append(logical_id)
        try:
            return runner.invoke(
                logical_id,
                event,
                self.environment(logical_id),
                code_uri=Path(spec.code_uri),
                handler=spec.handler,
                timeout=spec.timeout,
                memory=spec.memory_size,
                echo_logs=echo_logs,
            )
        finally:
            self._running.pop()
            if not self._running and self.lambda_service is not None:
                # Between invocations the process's own boto3 clients get the plain endpoint: a request
                # from them is never taken for a handler's own.
                os.environ[LAMBDA_ENDPOINT_VARIABLE] = self.lambda_service.url

    def redrive_dead_letters(self) -> int:
        """Move every message of the delivery DLQ back onto the delivery queue (what an operator's redrive
        from the console does); returns how many."""
        return event_source.redrive(self.physical["DeliveryDeadLetterQueue"], self.delivery_queue_url)

    def drain_delivery_queue(self, *, wait_for_delayed: float = 0.0) -> dict[str, int]:
        """Feed the delivery queue to DeliverFunction, as the SQS event source mapping would (its
        `BatchSize` from the template)."""
        return event_source.drain(
            self.delivery_queue_url,
            lambda event: self.invoke("DeliverFunction", event),
            batch_size=sqs_batch_size(self.template, "DeliverFunction"),
            wait_for_delayed=wait_for_delayed,
        )


def sqs_batch_size(template: dict[str, Any], logical_id: str) -> int:
    """The `BatchSize` of the function's SQS event source in the template (SAM's default 10)."""
    events = template["Resources"][logical_id].get("Properties", {}).get("Events", {})
    for event in events.values():
        if event.get("Type") == "SQS":
            return int(event.get("Properties", {}).get("BatchSize", 10))
    return 10


def check_function(template: dict[str, Any], logical_id: str) -> None:
    known = sorted(functions(template))
    if logical_id not in known:
        raise UnknownFunction(
            f"no function {logical_id!r} in template.yaml; the functions are: {', '.join(known)}"
        )
