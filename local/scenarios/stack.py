"""The demo stack: the local platform + sandbox partner APIs on loopback + the demo connectors.

    with LocalStack() as stack:
        stack.invoke("PollFunction", {"connector_id": "demo-servicetrade"})

The demo ids, secrets and records come from `local.scenarios.fixtures`. Nothing here ships to Lambda: the
connectors point at the sandboxes through their base URLs, as they would point at the real APIs.

Signing in to the management API: `stack.demo_users` = {"admin": ("demo-admin", password), "viewer":
("demo-viewer", password)} (groups `admins` / `viewers`, new random passwords at every start), on the Cognito
at `stack.cognito_endpoint` with app client `stack.user_pool_client_id` (pool `stack.user_pool_id`); see
`local.runtime.cognito.sign_in`.
"""

from __future__ import annotations

import secrets
from typing import Any, Self

from local.runtime.cognito import seed_demo_users
from local.runtime.platform import STAGE, LocalPlatform
from local.sandboxes.clearnox import ClearnoxSandbox
from local.sandboxes.freshbooks import FreshBooksSandbox
from local.sandboxes.servicetrade import ServiceTradeSandbox
from local.sandboxes.shop import SANDBOX_API_KEY, ShopSandbox
from local.scenarios import fixtures
from local.scenarios.trade_network import TradeNetworkSandboxes

__all__ = ["STAGE", "LocalStack"]


class LocalStack(TradeNetworkSandboxes, LocalPlatform):
    """Start with `with LocalStack() as stack:`; `seed_demo=False` starts without the demo connectors."""

    def __init__(
        self,
        *,
        seed_demo: bool = True,
        demo_template: str = fixtures.SERVICETRADE_TEMPLATE,
        invoices: int = 50,
    ):
        super().__init__()
        self.seed_demo = seed_demo
        self.demo_template = demo_template
        self.invoices = invoices
        self.servicetrade = ServiceTradeSandbox(
            username="bookkeeper@demo.example", password=secrets.token_urlsafe(12)
        )
        self.shop: ShopSandbox | None = None
        self.freshbooks: FreshBooksSandbox | None = None
        self.clearnox: ClearnoxSandbox | None = None
        # role ("admin", "viewer") → (username, password) of the demo operators; set by start().
        self.demo_users: dict[str, tuple[str, str]] = {}

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> Self:
        super().start()
        # The demo operators sign in to the management API (admin page, CLI) with these; new passwords on
        # every start.
        self.demo_users = seed_demo_users(self.aws.client("cognito-idp"), self.user_pool_id)
        self.servicetrade.start()
        if self.seed_demo:
            # Vendor bills and an external invoice wait in pending_accounting too: not ours to transfer.
            self.servicetrade.seed_demo_data(count=self.invoices, vendor_bills=3, external_invoices=1)
            self.add_servicetrade_connector(fixtures.SERVICETRADE_CONNECTOR_ID, template=self.demo_template)
            self.add_shop_connector(fixtures.SHOP_CONNECTOR_ID)
            self.add_clearnox_connector(fixtures.CLEARNOX_CONNECTOR_ID)
            self.seed_drop_zone(fixtures.CLEARNOX_CONNECTOR_ID)
            self.add_upload_connector(fixtures.UPLOAD_CONNECTOR_ID)
            self.add_download_connector(fixtures.DOWNLOAD_CONNECTOR_ID)
        return self

    def stop(self) -> None:
        for sandbox in (self.shop, self.freshbooks, self.clearnox, self.servicetrade):
            if sandbox is not None and sandbox.running:
                sandbox.stop()
        self.stop_trade_network_sandboxes()
        super().stop()

    # -- sign-in (Cognito) -------------------------------------------------------------------------------
    @property
    def cognito_endpoint(self) -> str:
        """Where clients call Cognito (InitiateAuth...): the embedded AWS, as
        `https://cognito-idp.<region>.amazonaws.com/` is deployed."""
        return self.aws.endpoint_url

    @property
    def user_pool_id(self) -> str:
        return self.physical["UserPool"]

    @property
    def user_pool_client_id(self) -> str:
        """The app client the admin page and the CLI sign in with (public, USER_PASSWORD_AUTH)."""
        return self.physical["UserPoolClient"]

    # -- connectors --------------------------------------------------------------------------------------
    def register(self, connector_id: str, name: str, source: dict[str, Any], target: dict[str, Any]) -> Any:
        """Validate a connector (the registry checks each side and the pairing) and store it."""
        from invoice_relay.connector import ConnectorConfig
        from invoice_relay.storage.state import ConnectorStore
        from invoice_relay.storage.table import state_table

        config = ConnectorConfig.model_validate(
            {"connector_id": connector_id, "name": name, "source": source, "target": target}
        )
        ConnectorStore(state_table(self.table_name)).put(config)
        self.schedule(config)
        return config

    def schedule(self, config: Any) -> None:
        """Give a connector registered here its schedules, as the management API does for the ones it
        creates (they fire only while the platform's scheduler runs: `make api`)."""
        import os

        from invoice_relay.control.schedules import ConnectorSchedules, ScheduleTargets

        env = {**os.environ, **self.environment("ManagementApiFunction")}
        ConnectorSchedules(ScheduleTargets.from_environment(env), self.aws.client("scheduler")).sync(config)

    def servicetrade_source(
        self, connector_id: str, *, page_size: int = 20, legacy_session: bool = False
    ) -> dict:
        """A ServiceTrade source on the sandbox; its credentials (OAuth client credentials, or a legacy
        username/password session) stored in Secrets Manager."""
        name = fixtures.secret_name(connector_id, "servicetrade")
        st = self.servicetrade
        credentials = (
            {"username": st.username, "password": st.password} if legacy_session else st.client_credentials()
        )
        self.aws.create_secret(name, credentials)
        return {
            "system": "servicetrade",
            "base_url": st.base_url,
            "credentials_secret": name,
            "page_size": page_size,
        }

    def add_servicetrade_connector(
        self,
        connector_id: str,
        *,
        template: str = "generic_csv",
        field_maps: dict[str, dict[str, str]] | None = None,
        page_size: int = 20,
        legacy_session: bool = False,
        max_documents_per_file: int = 5000,
    ) -> Any:
        """Register a ServiceTrade → flat-file connector."""
        return self.register(
            connector_id,
            f"ServiceTrade → {template}",
            self.servicetrade_source(connector_id, page_size=page_size, legacy_session=legacy_session),
            {
                "system": "flatfile",
                "template": template,
                "field_maps": field_maps or {},
                "max_documents_per_file": max_documents_per_file,
            },
        )

    def start_commerce_sandboxes(self) -> tuple[ShopSandbox, FreshBooksSandbox]:
        """The sandbox shop (signing with the demo webhook secret) and FreshBooks, whose items are the
        shop's catalog (as after a catalog sync): only the order with NOT-IN-CATALOG-1 has an unknown SKU.
        FreshBooks knows the demo callback of the sample events (its verifier confirms)."""
        if self.shop is None:
            self.shop = ShopSandbox(webhook_secret=fixtures.WEBHOOK_SECRET).start()
        if self.freshbooks is None:
            # The account the sample events' callbacks name, so their handshake confirms for real.
            self.freshbooks = FreshBooksSandbox(account_id=fixtures.FRESHBOOKS_ACCOUNT_ID).start()
            for product in self.shop.products():
                self.freshbooks.add_item(
                    product["sku"], product["name"], product["price"], product["currency"]
                )
            self.freshbooks.seed_demo_callback(
                callback_id=fixtures.FRESHBOOKS_CALLBACK_ID, verifier=fixtures.FRESHBOOKS_VERIFIER
            )
        return self.shop, self.freshbooks

    def add_shop_connector(
        self, connector_id: str, *, create_unknown_items: bool = False, connect_oauth: bool = True
    ) -> Any:
        """Register a shop → FreshBooks connector: API key, webhook secret, FreshBooks app and (through
        the sandbox's consent page) OAuth tokens, all in Secrets Manager."""
        shop, _ = self.start_commerce_sandboxes()
        self.aws.create_secret(fixtures.secret_name(connector_id, "shop"), {"api_key": SANDBOX_API_KEY})
        self.aws.create_secret(
            fixtures.secret_name(connector_id, "webhook"), {"secrets": [fixtures.WEBHOOK_SECRET]}
        )
        verifiers = fixtures.secret_name(connector_id, "freshbooks-callbacks")
        self.aws.create_secret(
            verifiers,
            {"verifiers": {fixtures.FRESHBOOKS_CALLBACK_ID: fixtures.FRESHBOOKS_VERIFIER}, "pending": {}},
        )
        source = {
            "system": "shop",
            "base_url": shop.base_url,
            "credentials_secret": fixtures.secret_name(connector_id, "shop"),
            "webhook_secret": fixtures.secret_name(connector_id, "webhook"),
        }
        target = self.freshbooks_target(
            connector_id, create_unknown_items=create_unknown_items, callback_verifier_secret=verifiers
        )
        config = self.register(connector_id, "Shop → FreshBooks", source, target)
        if connect_oauth:
            self.connect_freshbooks(config)
        return config

    def add_servicetrade_freshbooks_connector(
        self, connector_id: str, *, page_size: int = 20, connect_oauth: bool = True
    ) -> Any:
        """Register a ServiceTrade → FreshBooks connector: polled invoices delivered through the queue.
        ServiceTrade's item codes are not in the FreshBooks catalog, so unknown items are created."""
        self.start_commerce_sandboxes()
        config = self.register(
            connector_id,
            "ServiceTrade → FreshBooks",
            self.servicetrade_source(connector_id, page_size=page_size),
            self.freshbooks_target(connector_id, create_unknown_items=True),
        )
        if connect_oauth:
            self.connect_freshbooks(config)
        return config

    def freshbooks_target(self, connector_id: str, **options: Any) -> dict[str, Any]:
        """A FreshBooks target on the sandbox, its app credentials in Secrets Manager (not connected yet)."""
        assert self.freshbooks is not None
        app_secret = fixtures.secret_name(connector_id, "freshbooks-app")
        self.aws.create_secret(
            app_secret, self.freshbooks.app_credentials(self.oauth_redirect_uri(connector_id))
        )
        return {
            "system": "freshbooks",
            "api_url": self.freshbooks.base_url,
            "auth_url": self.freshbooks.base_url,
            "account_id": self.freshbooks.account_id,
            "oauth_app_secret": app_secret,
            "token_secret": fixtures.secret_name(connector_id, "freshbooks-tokens"),
            **options,
        }

    @staticmethod
    def oauth_redirect_uri(connector_id: str) -> str:
        return f"http://127.0.0.1:3000/oauth/{connector_id}/callback"

    def connect_freshbooks(self, config: Any) -> None:
        """Like a user clicking "Allow" on the consent page of /oauth/<id>/connect."""
        from invoice_relay.partners.freshbooks.oauth import connect

        assert self.freshbooks is not None
        connect(config.target, self.freshbooks.authorize(self.oauth_redirect_uri(config.connector_id)))

    def add_clearnox_connector(
        self, connector_id: str, *, match: dict[str, Any] | None = None, **target_options: Any
    ) -> Any:
        """Register a drop zone → Clearnox connector (the sandbox seeded with 40 entries lacking a PDF)."""
        if self.clearnox is None:
            self.clearnox = ClearnoxSandbox().start()
        name = fixtures.secret_name(connector_id, "clearnox")
        self.aws.create_secret(name, self.clearnox.credentials())
        source: dict[str, Any] = {"system": "dropzone", **({"match": match} if match else {})}
        target = {
            "system": "clearnox",
            "base_url": self.clearnox.base_url,
            "credentials_secret": name,
            **target_options,
        }
        return self.register(connector_id, "Invoice PDFs → Clearnox", source, target)

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
            body = fixtures.demo_pdf(number)
            if index == 2:
                body = b"<html>Not a PDF: the sync tool saved an error page</html>"
            if index == 3:  # a hostile name: matched by its file name, sanitised inside the zip
                key = f"documents/{connector_id}/../../{number}.pdf"
            s3.put_object(Bucket=self.bucket_name, Key=key, Body=body, ContentType="application/pdf")
            keys[entry["id"]] = key
        return keys
