"""The local stack: embedded AWS (moto server, resources from template.yaml) + sandbox partner APIs on
loopback + a demo connector, and a way to invoke the functions' real handlers against it.

Nothing here ships to Lambda. The application code has no local branches: boto3 reaches the embedded
AWS through AWS_ENDPOINT_URL and partners through the base URLs in the connector configuration.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from local import runner
from local.embedded_aws import EmbeddedAWS
from local.sandboxes.servicetrade import ServiceTradeSandbox
from local.template import function_environment, functions, load_template

STAGE = "dev"
DEMO_CONNECTOR_ID = "demo-servicetrade"
DEMO_TEMPLATE = "example_legacy_header_detail"


class LocalStack:
    """Start with `with LocalStack() as stack:`; `stack.invoke("PollFunction", event)` runs a handler."""

    def __init__(self, *, seed_demo: bool = True, demo_template: str = DEMO_TEMPLATE, invoices: int = 50):
        self.seed_demo = seed_demo
        self.demo_template = demo_template
        self.invoices = invoices
        self.aws = EmbeddedAWS()
        self.servicetrade = ServiceTradeSandbox(
            username="bookkeeper@demo.example", password=secrets.token_urlsafe(12)
        )
        self.template: dict[str, Any] = {}
        self.physical: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> LocalStack:
        self.aws.start()
        os.environ.update(self.aws.env())
        self.template = load_template()
        self.physical = self.aws.create_resources(self.template)
        # Environment shared by every function (service name, log level...), set before any layer module
        # is imported, as Lambda does: Powertools reads it at import time.
        any_function = next(iter(functions(self.template)))
        os.environ.update(self.environment(any_function))
        self.servicetrade.start()
        runner.reset_layer_caches()
        if self.seed_demo:
            self.servicetrade.seed_demo_data(count=self.invoices)
            self.add_servicetrade_connector(DEMO_CONNECTOR_ID, template=self.demo_template)
        return self

    def stop(self) -> None:
        self.servicetrade.stop()
        self.aws.stop()

    def __enter__(self) -> LocalStack:
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

    def environment(self, logical_id: str) -> dict[str, str]:
        env = function_environment(self.template, logical_id, self.physical, {"Stage": STAGE})
        return {**env, **self.aws.env()}

    def add_servicetrade_connector(
        self,
        connector_id: str,
        *,
        template: str = "generic_csv",
        field_maps: dict[str, dict[str, str]] | None = None,
        page_size: int = 20,
    ) -> Any:
        """Register a ServiceTrade → flat-file connector whose credentials live in Secrets Manager."""
        from invoice_relay.connector import ConnectorConfig
        from invoice_relay.storage.state import ConnectorStore
        from invoice_relay.storage.table import state_table

        secret_name = f"invoice-relay/{STAGE}/{connector_id}/servicetrade"
        self.aws.create_secret(
            secret_name, {"username": self.servicetrade.username, "password": self.servicetrade.password}
        )
        config = ConnectorConfig.model_validate(
            {
                "connector_id": connector_id,
                "name": f"ServiceTrade → {template}",
                "source": {
                    "system": "servicetrade",
                    "base_url": self.servicetrade.base_url,
                    "credentials_secret": secret_name,
                    "page_size": page_size,
                },
                "target": {"system": "flatfile", "template": template, "field_maps": field_maps or {}},
            }
        )
        ConnectorStore(state_table(self.table_name)).put(config)
        return config

    # -- invocation ------------------------------------------------------------------------------------
    def invoke(self, logical_id: str, event: dict[str, Any], *, echo_logs: bool = False) -> Any:
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
