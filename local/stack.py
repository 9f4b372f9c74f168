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

from local import event_source, runner
from local.embedded_aws import EmbeddedAWS
from local.sandboxes.clearnox import ClearnoxSandbox
from local.sandboxes.freshbooks import FreshBooksSandbox
from local.sandboxes.servicetrade import ServiceTradeSandbox
from local.sandboxes.shop import SANDBOX_API_KEY, ShopSandbox
from local.template import function_environment, functions, load_template

STAGE = "dev"
DEMO_CONNECTOR_ID = "demo-servicetrade"
DEMO_TEMPLATE = "example_legacy_header_detail"
DEMO_SHOP_CONNECTOR_ID = "demo-shop"
DEMO_CLEARNOX_CONNECTOR_ID = "demo-clearnox"
# Locally, an event that waits for another (a payment before its order) is retried after 1 s, not 15 s.
LOCAL_OVERRIDES = {"DEPENDENCY_WAIT_SECONDS": "1"}


def demo_pdf(title: str) -> bytes:
    """A small, valid one-page PDF saying `title` (drop-zone demo data)."""
    text = f"BT /F1 24 Tf 72 720 Td (Invoice {title}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


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
        self.shop: ShopSandbox | None = None
        self.freshbooks: FreshBooksSandbox | None = None
        self.clearnox: ClearnoxSandbox | None = None
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
            self.add_shop_connector(DEMO_SHOP_CONNECTOR_ID)
            self.add_clearnox_connector(DEMO_CLEARNOX_CONNECTOR_ID)
            self.seed_drop_zone(DEMO_CLEARNOX_CONNECTOR_ID)
        return self

    def stop(self) -> None:
        for sandbox in (self.shop, self.freshbooks, self.clearnox, self.servicetrade):
            if sandbox is not None and sandbox.running:
                sandbox.stop()
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
        return {**env, **LOCAL_OVERRIDES, **self.aws.env()}

    @property
    def delivery_queue_url(self) -> str:
        return self.physical["DeliveryQueue"]

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

    def start_commerce_sandboxes(self) -> tuple[ShopSandbox, FreshBooksSandbox]:
        """The sandbox shop (signing with the demo webhook secret) and FreshBooks, whose items are the
        shop's catalog (as after a catalog sync): only the order with NOT-IN-CATALOG-1 has an unknown SKU."""
        from local.sample_events import DEMO_WEBHOOK_SECRET

        if self.shop is None:
            self.shop = ShopSandbox(webhook_secret=DEMO_WEBHOOK_SECRET).start()
        if self.freshbooks is None:
            self.freshbooks = FreshBooksSandbox().start()
            for product in self.shop.products():
                self.freshbooks.add_item(
                    product["sku"], product["name"], product["price"], product["currency"]
                )
        return self.shop, self.freshbooks

    def add_shop_connector(
        self, connector_id: str, *, create_unknown_items: bool = False, connect_oauth: bool = True
    ) -> Any:
        """Register a shop → FreshBooks connector: API key, webhook secret, FreshBooks app and (through
        the sandbox's consent page) OAuth tokens, all in Secrets Manager."""
        from local.sample_events import (
            DEMO_FRESHBOOKS_CALLBACK_ID,
            DEMO_FRESHBOOKS_VERIFIER,
            DEMO_WEBHOOK_SECRET,
        )

        shop, _ = self.start_commerce_sandboxes()
        prefix = f"invoice-relay/{STAGE}/{connector_id}"
        self.aws.create_secret(f"{prefix}/shop", {"api_key": SANDBOX_API_KEY})
        self.aws.create_secret(f"{prefix}/webhook", {"secrets": [DEMO_WEBHOOK_SECRET]})
        self.aws.create_secret(
            f"{prefix}/freshbooks-callbacks",
            {"verifiers": {DEMO_FRESHBOOKS_CALLBACK_ID: DEMO_FRESHBOOKS_VERIFIER}, "pending": {}},
        )
        source = {
            "system": "shop",
            "base_url": shop.base_url,
            "credentials_secret": f"{prefix}/shop",
            "webhook_secret": f"{prefix}/webhook",
        }
        target = {"callback_verifier_secret": f"{prefix}/freshbooks-callbacks"}
        return self._add_freshbooks_connector(
            connector_id, "Shop → FreshBooks", source, target, create_unknown_items, connect_oauth
        )

    def add_servicetrade_freshbooks_connector(self, connector_id: str, *, page_size: int = 20) -> Any:
        """Register a ServiceTrade → FreshBooks connector: polled invoices delivered through the queue.
        ServiceTrade's item codes are not in the FreshBooks catalog, so unknown items are created."""
        self.start_commerce_sandboxes()
        secret_name = f"invoice-relay/{STAGE}/{connector_id}/servicetrade"
        self.aws.create_secret(
            secret_name, {"username": self.servicetrade.username, "password": self.servicetrade.password}
        )
        source = {
            "system": "servicetrade",
            "base_url": self.servicetrade.base_url,
            "credentials_secret": secret_name,
            "page_size": page_size,
        }
        return self._add_freshbooks_connector(
            connector_id, "ServiceTrade → FreshBooks", source, {}, True, True
        )

    def _add_freshbooks_connector(
        self,
        connector_id: str,
        name: str,
        source: dict[str, Any],
        target_extra: dict[str, Any],
        create_unknown_items: bool,
        connect_oauth: bool,
    ) -> Any:
        from invoice_relay.connector import ConnectorConfig
        from invoice_relay.connectors.freshbooks.oauth import complete_connection
        from invoice_relay.storage.state import ConnectorStore
        from invoice_relay.storage.table import state_table

        assert self.freshbooks is not None
        prefix = f"invoice-relay/{STAGE}/{connector_id}"
        redirect_uri = f"http://127.0.0.1:3000/oauth/{connector_id}/callback"
        self.aws.create_secret(f"{prefix}/freshbooks-app", self.freshbooks.app_credentials(redirect_uri))
        target = {
            "system": "freshbooks",
            "api_url": self.freshbooks.base_url,
            "auth_url": self.freshbooks.base_url,
            "account_id": self.freshbooks.account_id,
            "oauth_app_secret": f"{prefix}/freshbooks-app",
            "token_secret": f"{prefix}/freshbooks-tokens",
            "create_unknown_items": create_unknown_items,
            **target_extra,
        }
        config = ConnectorConfig.model_validate(
            {"connector_id": connector_id, "name": name, "source": source, "target": target}
        )
        ConnectorStore(state_table(self.table_name)).put(config)
        if connect_oauth:  # like a user clicking "Allow" on the consent page of /oauth/<id>/connect
            complete_connection(config.target, self.freshbooks.authorize(redirect_uri))
        return config

    def add_clearnox_connector(self, connector_id: str, **target_options: Any) -> Any:
        """Register a drop zone → Clearnox connector (the sandbox seeded with 40 entries lacking a PDF)."""
        from invoice_relay.connector import ConnectorConfig
        from invoice_relay.storage.state import ConnectorStore
        from invoice_relay.storage.table import state_table

        if self.clearnox is None:
            self.clearnox = ClearnoxSandbox().start()
        secret_name = f"invoice-relay/{STAGE}/{connector_id}/clearnox"
        self.aws.create_secret(secret_name, self.clearnox.credentials())
        config = ConnectorConfig.model_validate(
            {
                "connector_id": connector_id,
                "name": "Invoice PDFs → Clearnox",
                "source": {"system": "dropzone"},
                "target": {
                    "system": "clearnox",
                    "base_url": self.clearnox.base_url,
                    "credentials_secret": secret_name,
                    **target_options,
                },
            }
        )
        ConnectorStore(state_table(self.table_name)).put(config)
        return config

    def seed_drop_zone(self, connector_id: str, *, without_pdf: int = 4) -> dict[str, str]:
        """Put a PDF in the drop zone for each entry Clearnox lacks, except the last `without_pdf`; the
        third file is not a PDF at all and the fourth has a hostile key. Returns entry id → key."""
        import boto3

        s3 = boto3.client("s3")
        entries = self.clearnox.entries() if self.clearnox else []
        keys: dict[str, str] = {}
        for index, entry in enumerate(entries[: max(0, len(entries) - without_pdf)]):
            number = entry["invoice_number"]
            key = f"documents/{connector_id}/{number}.pdf"
            body = demo_pdf(number)
            if index == 2:
                body = b"<html>Not a PDF: the sync tool saved an error page</html>"
            if index == 3:  # a hostile name: matched by its file name, sanitised inside the zip
                key = f"documents/{connector_id}/../../{number}.pdf"
            s3.put_object(Bucket=self.bucket_name, Key=key, Body=body, ContentType="application/pdf")
            keys[entry["id"]] = key
        return keys

    def drain_delivery_queue(self, *, wait_for_delayed: float = 0.0) -> dict[str, int]:
        """Feed the delivery queue to DeliverFunction, as the SQS event source mapping would."""
        return event_source.drain(
            self.delivery_queue_url,
            lambda event: self.invoke("DeliverFunction", event),
            wait_for_delayed=wait_for_delayed,
        )

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
