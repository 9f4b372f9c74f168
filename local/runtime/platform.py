"""The local platform: an embedded AWS (moto server) with the resources of template.yaml, and the functions'
real handlers invoked in-process with real event shapes (`invoke`), fed by the SQS event source emulation
(`drain_delivery_queue`).

Nothing here knows a partner; the demo stack (`local.scenarios.stack.LocalStack`) adds sandbox partners and
connectors on top. Nothing here ships to Lambda, and the application code has no local branches: boto3
reaches the embedded AWS through AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Self

from local.runtime import event_source, runner
from local.runtime.embedded_aws import EmbeddedAWS
from local.runtime.template import function_environment, functions, load_template

STAGE = "dev"
# Environment the local platform sets on top of the template's (none today).
LOCAL_OVERRIDES: dict[str, str] = {}


class UnknownFunction(ValueError):
    """No function of the template has this logical id."""


class LocalPlatform:
    """`with LocalPlatform() as platform:` starts it; `platform.invoke(logical_id, event)` runs a handler."""

    def __init__(self) -> None:
        self.aws = EmbeddedAWS()
        self.template: dict[str, Any] = load_template()
        self.physical: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> Self:
        self.aws.start()
        os.environ.update(self.aws.env())
        self.physical = self.aws.create_resources(self.template)
        # Environment shared by every function (service name, log level...), set before any layer module
        # is imported, as Lambda does: Powertools reads it at import time.
        any_function = next(iter(functions(self.template)))
        os.environ.update(self.environment(any_function))
        runner.reset_layer_caches()
        runner.capture_layer_logs()
        return self

    def stop(self) -> None:
        self.aws.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

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
        env = function_environment(self.template, logical_id, self.physical, {"Stage": STAGE})
        return {**env, **LOCAL_OVERRIDES, **self.aws.env()}

    # -- invocation ------------------------------------------------------------------------------------
    def check_function(self, logical_id: str) -> None:
        """UnknownFunction naming the functions there are, when `logical_id` is not one of them."""
        check_function(self.template, logical_id)

    def invoke(self, logical_id: str, event: dict[str, Any], *, echo_logs: bool = False) -> Any:
        self.check_function(logical_id)
        spec = functions(self.template)[logical_id]
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
