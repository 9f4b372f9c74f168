"""ServiceTrade as the polled source of a connector (the `POLLED_SOURCE` capability)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import requests

from ...errors import PermanentError
from ...logs import logger
from ...models import Document
from ..capabilities import Outcome, SourcePage, SourceRef
from ..payload import id_problem, source_page, text_value
from .client import PARTNER, ServiceTradeClient
from .config import ServiceTradeSourceConfig
from .mapping import OTHER_TYPES, invoice_to_document, is_accounting_invoice


class ServiceTradeSource:
    """Invoices in pending_accounting, mapped as listed and written back (see the package docstring)."""

    system = PARTNER

    def __init__(self, client: ServiceTradeClient, *, write_back_concurrency: int = 1):
        self.client = client
        self.write_back_concurrency = write_back_concurrency

    @classmethod
    def from_config(
        cls,
        config: ServiceTradeSourceConfig,
        credentials: Mapping[str, Any],
        *,
        session: requests.Session | None = None,
    ) -> ServiceTradeSource:
        """A source for a connector's configuration and its credentials secret (client credentials or
        username/password). ConfigurationError names missing fields, never their values."""
        return cls(
            ServiceTradeClient.from_credentials(
                config.base_url, credentials, session=session, page_size=config.page_size
            ),
            write_back_concurrency=config.write_back_concurrency,
        )

    def poll(self, start_page: int = 1, position: Mapping[str, Any] | None = None) -> Iterator[SourcePage]:
        """Pages of invoices in pending_accounting; a ref's version is the invoice's `updated`. Records
        that are not invoices for accounting (vendor bills, external invoices) are passed over. The
        status filter says what is ready, so there is no `position` (a run starts at page 1)."""
        for page in self.client.pending_accounting_invoices(start_page):
            yield source_page(page, _listed_ref)

    def fetch(self, ref: SourceRef) -> tuple[Document, dict[str, Any]]:
        """The invoice, fresh from ServiceTrade, and its Document. MappingError carries the payload."""
        payload = self.client.invoice(_invoice_id(ref))
        return invoice_to_document(payload), payload

    def document(self, raw: dict[str, Any]) -> Document:
        """The Document of an invoice as the listing gave it: the listing carries whole invoices, items
        included (assumption, see the package docstring), so no second GET per invoice is needed."""
        return invoice_to_document(raw)

    def current_ref(self, raw: dict[str, Any]) -> SourceRef | None:
        """The ref of a fetched invoice as it is now; None once it has left pending_accounting."""
        if (
            raw.get("status") != "pending_accounting"
            or raw.get("id") is None
            or not is_accounting_invoice(raw)
        ):
            return None
        return _ref(raw)

    def acknowledge(self, ref: SourceRef, outcome: Outcome, *, check_first: bool = False) -> None:
        """Success → processed (+ the accounting number and id); failure → failed + a private comment.

        `check_first` (an earlier write-back of this outcome may have gone through, its answer lost): the
        invoice is read first, and a status it already shows is not written again.
        """
        invoice_id = _invoice_id(ref)
        shown = self.client.invoice(invoice_id) if check_first else {}
        if outcome.delivered:
            number_shown = not outcome.target_number or shown.get("invoiceNumber") == outcome.target_number
            if shown.get("status") == "processed" and number_shown:
                logger.info(f"servicetrade: invoice {invoice_id} already shows processed; not written again")
                return
            external = (
                {outcome.target_system: outcome.target_id}
                if outcome.target_system and outcome.target_id
                else None
            )
            self.client.mark_processed(invoice_id, outcome.target_number, external)
        else:
            reason = outcome.reason or "no reason was given"
            self.client.mark_failed(invoice_id, reason, status_shown=shown.get("status") == "failed")

    def close(self) -> None:
        self.client.close()


def _invoice_id(ref: SourceRef) -> int:
    try:
        return int(ref.id)
    except ValueError:
        raise PermanentError(f"{ref.id!r} is not a ServiceTrade invoice id", partner=PARTNER) from None


def _listed_ref(invoice: Any, page_number: int) -> SourceRef | None:
    """The ref of a listed invoice; None, logged, for one that cannot be tracked or is not for accounting."""
    if not isinstance(invoice, dict) or invoice.get("id") is None:
        logger.error(f"servicetrade: skipping an invoice without an id on page {page_number}")
        return None
    unusable = id_problem(str(invoice["id"])) or id_problem(str(invoice.get("updated", "")))
    if unusable:  # it would be a key of our state: it cannot be tracked, so it is not taken
        logger.error(f"servicetrade: skipping a listed invoice whose id or version {unusable}")
        return None
    if not is_accounting_invoice(invoice):
        _log_passed_over(invoice)
        return None
    return _ref(invoice)


def _ref(invoice: dict[str, Any]) -> SourceRef:
    """An invoice's ref: its `updated` timestamp is the version (it changes with every edit)."""
    return SourceRef(
        id=str(invoice["id"]),
        version=str(invoice.get("updated", "")),
        number=text_value(invoice.get("invoiceNumber")),
    )


def _log_passed_over(record: dict[str, Any]) -> None:
    """Vendor bills and external invoices are expected; any other type is news worth a warning (the
    public docs do not list the types)."""
    record_type = record.get("type")
    what = f"servicetrade: passing over {record_type!r} record {record['id']} (not an invoice for accounting)"
    if record_type in OTHER_TYPES:
        logger.info(what)
    else:
        logger.warning(f"{what}: unknown type")
