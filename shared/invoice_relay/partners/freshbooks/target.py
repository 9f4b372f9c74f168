"""`FreshBooksTarget`: the `DOCUMENT_TARGET` and `CATALOG_TARGET` of a connector, each call safe to repeat.

- `ensure_client`: find the client by email, else create it; losing a duplicate-email race ends with
  the client that won, never an error (FreshBooks keeps e-mails unique among active clients, so the
  refused create is the race check: no second search before creating).
- `deliver_document` (`deliver_invoice`): an invoice already created with this marker (by a run that
  died before recording it) is returned instead of creating a second one; unknown SKUs fail fast, before
  anything is created, unless the connector creates unknown items.
- `record_payment`: once per transaction id and invoice.
- `update_customer`: the client found (or created) and brought in step.
- `sync_product`: an item per SKU, created, updated or left alone.

One target serves many orders of its connector (the delivery pipeline keeps it per container for a short
while), so it remembers the items it found by SKU (`known_items`, at most `MAX_KNOWN_ITEMS`): an order whose
SKUs are known needs no item search. The pipeline replaces the target when the catalog sync changed items
(a new catalog generation), so what it remembers is never older than the last sync; `forget_items()`
drops it. Nothing exactly-once depends on it: invoice lines carry the item's name, not its id, and the
invoice marker is looked up before every create, as before.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

import requests

from ...errors import MappingError, PermanentError
from ...logs import logger
from ...models import Customer, Document, Payment, Product
from ..capabilities import Delivered
from .client import FreshBooksClient
from .mapping import (
    add_rounding_adjustment,
    check_deliverable,
    client_fields,
    client_id_of,
    invoice_id_of,
    invoice_number_of,
    invoice_payload,
    invoice_total_of,
    item_changes,
    item_fields,
    item_fields_for_line,
    item_id_of,
    payment_id_of,
    payment_payload,
)
from .oauth import connector_oauth

if TYPE_CHECKING:
    from ...http.auth import Clock
    from ...http.oauth import LeaseHolder, OAuthApp
    from .config import FreshBooksTargetConfig

PARTNER = "freshbooks"
# A create refused with one of these may have lost a race with a concurrent create of the same client.
_CONFLICT_STATUSES = frozenset({400, 409, 422})
MAX_KNOWN_ITEMS = 10_000  # SKUs remembered per target (a few MB at most); beyond it, it starts over


class FreshBooksTarget:
    """FreshBooks as the target of flow 3 (orders → clients, invoices, payments; catalog → items)."""

    system = PARTNER

    def __init__(self, config: FreshBooksTargetConfig, client: FreshBooksClient):
        self.config = config
        self.client = client
        self.known_items: dict[str, dict[str, Any]] = {}

    @classmethod
    def from_config(
        cls,
        connector_id: str,
        config: FreshBooksTargetConfig,
        leases: LeaseHolder,
        *,
        secrets_client: Any = None,
        session: requests.Session | None = None,
        app: OAuthApp | None = None,
        clock: Clock = time.time,
        **token_options: Any,
    ) -> FreshBooksTarget:
        """A target for a connector: tokens from its `token_secret`, app credentials (needed to refresh)
        from its `oauth_app_secret` in Secrets Manager unless `app` is given. `token_options` go to the
        token authenticator (lease wait, poll interval, refresh margin)."""
        auth = connector_oauth(config).token_auth(
            connector_id,
            leases,
            secrets_client=secrets_client,
            app=app,
            session=session,
            clock=clock,
            **token_options,
        )
        return cls(config, FreshBooksClient(config, auth, session=session))

    def close(self) -> None:
        self.client.close()

    # -- clients --------------------------------------------------------------------------------------

    def ensure_client(self, customer: Customer) -> str:
        """The FreshBooks client id for `customer`: found by email, or created."""
        email = _email_of(customer)
        found = self.client.find_client_by_email(email)
        if found is not None:
            return client_id_of(found)
        return self._create_client(customer, email)

    def _create_client(self, customer: Customer, email: str) -> str:
        """Create the client of `customer`, whom a search by `email` just did not find. A create refused
        because the e-mail exists (a concurrent create won the race) ends with the winner."""
        try:
            created = self.client.create_client(client_fields(customer))
        except PermanentError as exc:
            if exc.status not in _CONFLICT_STATUSES:
                raise
            winner = self.client.find_client_by_email(email)
            if winner is None:
                raise
            logger.info(f"freshbooks: client for {email} was created concurrently; using it")
            return client_id_of(winner)
        logger.info(f"freshbooks: created client {client_id_of(created)}")
        return client_id_of(created)

    def update_client(self, client_id: str, customer: Customer) -> None:
        """Bring the FreshBooks client in step with the customer (names, email, organization, address)."""
        self.client.update_client(client_id, client_fields(customer))

    def update_customer(self, customer: Customer, known_id: str | None) -> str:
        """The customer's client (by `known_id`, else found by email or created), brought in step."""
        client_id = known_id or self.ensure_client(customer)
        self.update_client(client_id, customer)
        return client_id

    # -- invoices -------------------------------------------------------------------------------------

    def deliver_document(self, document: Document, *, customer: Customer, marker: str) -> Delivered:
        """The `DOCUMENT_TARGET` delivery: `deliver_invoice` with the connector's unknown-item rule."""
        return self.deliver_invoice(
            document, customer=customer, marker=marker, create_unknown_items=self.config.create_unknown_items
        )

    def deliver_invoice(
        self, document: Document, *, customer: Customer, marker: str, create_unknown_items: bool
    ) -> Delivered:
        """Create the invoice for `document` (once) and return its FreshBooks id and invoice number.

        Order of work, so that a failure creates as little as possible and a repeat creates nothing:
        1. if the client exists, an invoice with `marker` on it is returned as it is;
        2. every line's SKU is looked up (in `known_items`, else searched; unknown → PermanentError
           naming SKU and line, or a new item when `create_unknown_items`), before any client or invoice
           is created;
        3. the client is created if step 1 did not find it (one client search per order), then the
           invoice is created with `marker`.
        """
        if not marker:
            raise MappingError("an invoice needs an idempotency marker to be delivered exactly once")
        check_deliverable(document, self.config.currency)
        existing_client = self.client.find_client_by_email(_email_of(customer))
        if existing_client is not None:
            earlier = self.client.find_invoice_by_marker(
                marker, customer_id=client_id_of(existing_client), create_date=document.issue_date
            )
            if earlier is not None:
                logger.info(f"freshbooks: invoice {invoice_id_of(earlier)} already exists for {marker}")
                return Delivered(invoice_id_of(earlier), invoice_number_of(earlier))
        items = self._items_for(document, create_unknown_items)
        client_id = (
            client_id_of(existing_client)
            if existing_client
            else self._create_client(customer, _email_of(customer))
        )
        payload = invoice_payload(
            document,
            client_id,
            due_offset_days=self.config.due_offset_days,
            currency=self.config.currency,
            item_lookup=items,
            marker=marker,
        )
        adjustment = add_rounding_adjustment(payload, document, self.config.rounding_adjustment_limit)
        created = self.client.create_invoice(payload)
        invoice_id, number = invoice_id_of(created), invoice_number_of(created)
        total = invoice_total_of(created)
        notes: list[str] = []
        if adjustment:
            notes.append(
                f"FreshBooks invoice {number}: a rounding adjustment of {adjustment} {document.currency} "
                f"makes its total equal the source's {document.totals.total} (FreshBooks rounds tax per "
                "invoice)"
            )
        if total is not None and total != document.totals.total:
            # More than a rounding difference, or FreshBooks rounded otherwise: a bookkeeper must see it.
            notes.append(
                f"FreshBooks invoice {number} totals {total} {document.currency} but the source document "
                f"{document.number} totals {document.totals.total}"
            )
        logger.debug(f"freshbooks: created invoice {number} (id {invoice_id}) for {marker}")
        return Delivered(invoice_id, number, tuple(notes))

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        """The FreshBooks invoice with its lines."""
        return self.client.get_invoice(invoice_id)

    def _items_for(self, document: Document, create_unknown_items: bool) -> dict[str, dict[str, Any]]:
        items: dict[str, dict[str, Any]] = {}
        for line in document.lines:
            if not line.sku or line.sku in items:
                continue
            item = self.known_items.get(line.sku) or self.client.find_item_by_sku(line.sku)
            if item is None:
                if not create_unknown_items:
                    raise PermanentError(
                        f"unknown SKU '{line.sku}' on line {line.position}: no FreshBooks item has this SKU",
                        partner=PARTNER,
                    )
                item = self.client.create_item(item_fields_for_line(line, document.currency))
                logger.info(f"freshbooks: created item {item_id_of(item)} for unknown SKU {line.sku}")
            items[line.sku] = item
            self._remember_item(line.sku, item)
        return items

    def _remember_item(self, sku: str, item: dict[str, Any]) -> None:
        if sku not in self.known_items and len(self.known_items) >= MAX_KNOWN_ITEMS:
            self.known_items.clear()
        self.known_items[sku] = item

    def forget_items(self) -> None:
        """Search every SKU again from now on (the catalog changed)."""
        self.known_items.clear()

    # -- payments -------------------------------------------------------------------------------------

    def record_payment(self, target_document_id: str, payment: Payment) -> Delivered:
        """Record `payment` on the invoice once per transaction id; returns the FreshBooks payment."""
        payload = payment_payload(payment, target_document_id)  # refuses a payment without a transaction id
        existing = self.client.find_payment(target_document_id, str(payment.transaction_id))
        if existing is not None:
            logger.info(f"freshbooks: payment for transaction {payment.transaction_id} already recorded")
            return Delivered(payment_id_of(existing))
        return Delivered(payment_id_of(self.client.create_payment(payload)))

    # -- catalog ----------------------------------------------------------------------------------------

    def sync_product(self, product: Product) -> tuple[str, Literal["created", "updated", "unchanged"]]:
        """Keep the FreshBooks item of `product.sku` in step.

        Returns (item id, "created" | "updated" | "unchanged").
        """
        wanted = item_fields(product)
        self.known_items.pop(product.sku, None)  # whatever happens next, search it again when it is needed
        existing = self.client.find_item_by_sku(product.sku)
        if existing is None:
            return item_id_of(self.client.create_item(wanted)), "created"
        item_id = item_id_of(existing)
        changes = item_changes(existing, wanted)
        if not changes:
            return item_id, "unchanged"
        self.client.update_item(item_id, changes)
        return item_id, "updated"


def _email_of(customer: Customer) -> str:
    if not customer.email:
        raise MappingError(
            f"customer '{customer.name}' has no email, so the FreshBooks client cannot be found or created "
            "exactly once",
            partner=PARTNER,
        )
    return customer.email
