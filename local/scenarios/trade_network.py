"""Flow 5 on the demo stack: the sandbox trade network (ShipServ) and two sandbox ClearBooks accounts — the
supplier's books (upload: its sales invoices and credit notes go to the network) and the buyer's books
(download: what the buyer received becomes purchase bills and credit notes).

Two ClearBooks accounts, not one: a ClearBooks user holds one OAuth connection per app (a second consent
revokes the first), and the supplier and the buyer are different companies anyway. Both are seeded with
the sandbox's demo books; the download side only uses its suppliers, account codes and VAT rates.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.sandboxes.clearbooks import ClearBooksSandbox
from local.sandboxes.shipserv import ShipServSandbox
from local.scenarios import fixtures


class TradeNetworkSandboxes:
    """Mixed into `LocalStack`: the flow-5 sandboxes (started on first use) and connectors."""

    shipserv: ShipServSandbox | None = None
    clearbooks_supplier: ClearBooksSandbox | None = None  # the supplier's books (upload)
    clearbooks_buyer: ClearBooksSandbox | None = None  # the buyer's books (download)
    clearbooks_supplier_demo: Any = None  # what seeding the supplier's books created (ids, broken ones)

    # LocalStack provides `aws` (the embedded AWS) and `register(connector_id, name, source, target)`.
    aws: Any
    register: Any

    def start_trade_network_sandboxes(self) -> tuple[ShipServSandbox, ClearBooksSandbox, ClearBooksSandbox]:
        """The network with its demo (a supplier with two buyers; a buyer with 25 received documents) and
        both companies' books, each seeded with the sandbox's demo data."""
        if self.shipserv is None:
            self.shipserv = ShipServSandbox().start()
            self.shipserv.seed_demo_data()
        if self.clearbooks_supplier is None:
            self.clearbooks_supplier = ClearBooksSandbox().start()
            self.clearbooks_supplier_demo = self.clearbooks_supplier.seed_demo_data()
        if self.clearbooks_buyer is None:
            self.clearbooks_buyer = ClearBooksSandbox().start()
            self.clearbooks_buyer.seed_demo_data()
        return self.shipserv, self.clearbooks_supplier, self.clearbooks_buyer

    def stop_trade_network_sandboxes(self) -> None:
        for sandbox in (self.shipserv, self.clearbooks_supplier, self.clearbooks_buyer):
            if sandbox is not None and sandbox.running:
                sandbox.stop()

    # -- connector sides ----------------------------------------------------------------------------------
    def shipserv_side(self, connector_id: str, role: str, **options: Any) -> dict[str, Any]:
        """The network side of a connector acting for the demo supplier (`role` "supplier") or buyer: the
        tenant authorization + integration user in Secrets Manager, the TNID in the configuration."""
        shipserv, _, _ = self.start_trade_network_sandboxes()
        assert shipserv.demo is not None
        kit = dict(
            shipserv.demo.supplier_credentials if role == "supplier" else shipserv.demo.buyer_credentials
        )
        tnid = kit.pop("tnid")
        name = fixtures.secret_name(connector_id, "shipserv")
        self.aws.create_secret(name, kit)
        return {
            "system": "shipserv",
            "api_url": shipserv.base_url,
            "tnid": tnid,
            "credentials_secret": name,
            **options,
        }

    def clearbooks_side(self, connector_id: str, books: ClearBooksSandbox, **options: Any) -> dict[str, Any]:
        """The accounting side: the ClearBooks app in Secrets Manager (the tokens come with `connect`)."""
        app = fixtures.secret_name(connector_id, "clearbooks-app")
        self.aws.create_secret(app, books.client_credentials(clearbooks_redirect_uri(connector_id)))
        return {
            "system": "clearbooks",
            "api_url": books.base_url,
            "auth_url": books.base_url,
            "oauth_app_secret": app,
            "token_secret": fixtures.secret_name(connector_id, "clearbooks-tokens"),
            **options,
        }

    def connect_clearbooks(self, config: Any, books: ClearBooksSandbox) -> None:
        """Like a user clicking "Allow" on ClearBooks' consent page from the connector's connect link: the
        callback's code goes through the connector's OAuth connection (the tokens go to Secrets Manager)."""
        from invoice_relay.partners.capabilities import OAUTH_CONNECT
        from invoice_relay.pipeline.services import services

        answer = books.authorize(clearbooks_redirect_uri(config.connector_id))
        [code] = parse_qs(urlsplit(answer).query)["code"]
        services().open(config, OAUTH_CONNECT).complete(code)

    # -- connectors ---------------------------------------------------------------------------------------
    def add_upload_connector(
        self,
        connector_id: str,
        *,
        connect_oauth: bool = True,
        source: dict[str, Any] | None = None,
        target: dict[str, Any] | None = None,
    ) -> Any:
        """ClearBooks sales invoices and credit notes → ShipServ (the supplier's upload action)."""
        _, books, _ = self.start_trade_network_sandboxes()
        return self._register_connected(
            connector_id,
            "ClearBooks → ShipServ (upload)",
            self.clearbooks_side(connector_id, books, **(source or {})),
            self.shipserv_side(connector_id, "supplier", **(target or {})),
            books if connect_oauth else None,
        )

    def add_download_connector(
        self,
        connector_id: str,
        *,
        connect_oauth: bool = True,
        source: dict[str, Any] | None = None,
        target: dict[str, Any] | None = None,
    ) -> Any:
        """ShipServ documents received by the buyer → ClearBooks purchases (the buyer's download action).
        Lines map to account codes by part code (`DOWNLOAD_ACCOUNTING`)."""
        _, _, books = self.start_trade_network_sandboxes()
        return self._register_connected(
            connector_id,
            "ShipServ → ClearBooks (download)",
            self.shipserv_side(connector_id, "buyer", **(source or {})),
            self.clearbooks_side(connector_id, books, **{**DOWNLOAD_ACCOUNTING, **(target or {})}),
            books if connect_oauth else None,
        )

    def _register_connected(
        self, connector_id: str, name: str, source: dict[str, Any], target: dict[str, Any], books: Any
    ) -> Any:
        """Register the connector and, given the ClearBooks sandbox it uses, connect it there."""
        config = self.register(connector_id, name, source, target)
        if books is not None:
            self.connect_clearbooks(config, books)
        return config


# The buyer's bookkeeping choices for the demo (ClearBooks' default chart): the workshop overhaul to repairs,
# every other line to ship spares and stores.
DOWNLOAD_ACCOUNTING: dict[str, Any] = {
    "account_codes": {"MSI-WS-01": 7800},
    "unmapped_lines": "default",
    "default_account_code": 5200,
}


def clearbooks_redirect_uri(connector_id: str) -> str:
    return f"http://127.0.0.1:3000/oauth/{connector_id}/callback"
