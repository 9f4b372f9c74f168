"""`ClearBooksTarget`: the `DOCUMENT_TARGET` of the download side, every call safe to repeat.

A trade-network invoice becomes a purchase bill, a credit note a purchase credit note, of the supplier
that issued it (`document.seller`). Exactly once: the document is created with `externalId` = the
pipeline's marker, and before creating, the ledger is searched for that marker — a run that died
between the create and recording it finds its bill instead of creating a second one. Supporting files
are attached only when the document does not carry one of that name yet, so a repeat attaches nothing
twice (and completes an attachment a crash cut short).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...errors import PermanentError
from ...logs import logger
from ...models import TNID, Customer, Document, Party, Payment
from ..attachments import attachment_content
from ..capabilities import Delivered
from .client import PARTNER, PURCHASES, ClearBooksClient
from .mapping import (
    account_code_for,
    document_id_of,
    purchase_ledger,
    purchase_line,
    purchase_payload,
    supplier_fields,
    vat_rate_key_for,
)

if TYPE_CHECKING:
    from ..context import PartnerContext
    from .config import ClearBooksTargetConfig

_RACE_STATUSES = frozenset({400, 409, 422})  # a supplier create refused: maybe a concurrent create won


class ClearBooksTarget:
    """ClearBooks as the buyer's books (flow 5, download): purchase bills and credit notes."""

    system = PARTNER

    def __init__(self, config: ClearBooksTargetConfig, client: ClearBooksClient, context: PartnerContext):
        self.config = config
        self.client = client
        self.context = context
        self._vat_rates: list[dict[str, Any]] | None = None
        # Suppliers found or created by this target, by (TNID, name): the pipeline keeps a target for a
        # few minutes, and a network sender sends many documents. A remembered supplier the create refuses
        # (deleted in ClearBooks meanwhile) is forgotten and looked up again once.
        self._known_suppliers: dict[tuple[str | None, str], int] = {}

    @classmethod
    def from_config(
        cls, config: ClearBooksTargetConfig, context: PartnerContext, **options: Any
    ) -> ClearBooksTarget:
        """A target for a connector (`options`: session, app, clock and token options, see
        `ClearBooksClient.for_connector`)."""
        return cls(config, ClearBooksClient.for_connector(config, context, **options), context)

    def close(self) -> None:
        self.client.close()

    # -- documents --------------------------------------------------------------------------------------

    def deliver_document(self, document: Document, *, customer: Customer, marker: str) -> Delivered:
        """Create the bill or purchase credit note of `document` once and return its id and number.

        `customer` is the buyer — the owner of these books — so it is not needed: the other party of a
        purchase is the seller. Order of work, so that a failure creates as little as possible and a
        repeat creates nothing: 1. a document with `marker` as its external id is returned (its
        attachments completed); 2. every line's account code and VAT rate is decided, before anything is
        created; 3. the supplier is found or created; 4. the document is created; 5. files attached.
        """
        if not marker:
            raise PermanentError("a purchase needs an idempotency marker to be created exactly once")
        ledger = purchase_ledger(document)
        earlier = self.client.purchases_with_external_id(ledger, marker)
        if earlier:
            created = earlier[0]
            logger.info(
                f"clearbooks: {ledger} {created.get('formattedDocumentNumber')} already exists for {marker}"
            )
            notes = self._attach_files(document, ledger, document_id_of(created))
            return self._delivered(created, document, notes)
        lines = self._lines(document)
        remembered = self._remembered_supplier(document.seller)
        try:
            created = self._create(
                document, ledger, lines, remembered or self._supplier_id(document.seller), marker
            )
        except PermanentError:
            if remembered is None:
                raise
            self._known_suppliers.clear()  # the refusal may be about a supplier that is gone: look again
            created = self._create(document, ledger, lines, self._supplier_id(document.seller), marker)
        logger.info(f"clearbooks: created {ledger} {created.get('formattedDocumentNumber')} for {marker}")
        notes = self._attach_files(document, ledger, document_id_of(created))
        return self._delivered(created, document, notes)

    def _create(
        self, document: Document, ledger: str, lines: list[dict[str, Any]], supplier_id: int, marker: str
    ) -> dict[str, Any]:
        payload = purchase_payload(
            document,
            supplier_id=supplier_id,
            lines=lines,
            vat_treatment=self.config.vat_treatment,
            marker=marker,
            default_due_days=self.config.default_due_days,
        )
        return self.client.create_purchase(ledger, payload)

    def _remembered_supplier(self, seller: Party | None) -> int | None:
        return self._known_suppliers.get(_supplier_key(seller)) if seller is not None else None

    def update_customer(self, customer: Customer, known_id: str | None) -> str:
        """Not part of this flow: the download side keeps suppliers, found or created with each document."""
        raise PermanentError(
            "updating customers is not supported by the ClearBooks purchases target", partner=PARTNER
        )

    def record_payment(self, target_document_id: str, payment: Payment) -> Delivered:
        """Not part of this flow: payments of purchase bills are made and recorded in ClearBooks."""
        raise PermanentError(
            "recording payments is not supported by the ClearBooks purchases target", partner=PARTNER
        )

    # -- parts --------------------------------------------------------------------------------------------

    def _lines(self, document: Document) -> list[dict[str, Any]]:
        rates = self._purchase_vat_rates()
        return [
            purchase_line(
                line,
                account_code_for(
                    line,
                    self.config.account_codes,
                    default=self.config.default_account_code,
                    unmapped=self.config.unmapped_lines,
                ),
                vat_rate_key_for(line, rates, self.config.vat_rate_keys, self.config.vat_treatment),
            )
            for line in document.lines
        ]

    def _purchase_vat_rates(self) -> list[dict[str, Any]]:
        """The purchases VAT rates of the connector's treatment (read once per target: ClearBooks defines
        them, they do not change between documents)."""
        if self._vat_rates is None:
            self._vat_rates = self.client.vat_rates(PURCHASES, self.config.vat_treatment)
        return self._vat_rates

    def _supplier_id(self, seller: Party | None) -> int:
        """The ClearBooks supplier of the seller: by its TNID in the external id, by exact name (as the
        connector's `supplier_match` says), else created when the connector allows it."""
        if seller is None:
            raise PermanentError(
                "the document names no seller, so it has no ClearBooks supplier", partner=PARTNER
            )
        supplier_id = self._look_up_supplier(seller)
        self._known_suppliers[_supplier_key(seller)] = supplier_id
        return supplier_id

    def _look_up_supplier(self, seller: Party) -> int:
        tnid = _tnid_of(seller)
        found = self._find_supplier(seller, tnid)
        if found is not None:
            return document_id_of(found)
        who = f"supplier '{seller.name}'" + (f" (TNID {tnid})" if tnid else "")
        if not self.config.create_suppliers:
            tried = " or ".join(self._ways(tnid)) or "no way (supplier_match is empty)"
            raise PermanentError(
                f"no ClearBooks supplier found for {who} by {tried}, and the connector does not create "
                "suppliers",
                partner=PARTNER,
            )
        try:
            created = self.client.create_supplier(supplier_fields(seller, tnid))
        except PermanentError as exc:
            winner = self._find_supplier(seller, tnid) if exc.status in _RACE_STATUSES else None
            if winner is None:
                raise
            logger.info(f"clearbooks: {who} was created concurrently; using it")
            return document_id_of(winner)
        logger.info(f"clearbooks: created {who} as supplier {created.get('id')}")
        return document_id_of(created)

    def _ways(self, tnid: str | None) -> list[str]:
        ways = {"external_id": "external id (TNID)" if tnid else None, "name": "name"}
        return [w for m in self.config.supplier_match if (w := ways[m])]

    def _find_supplier(self, seller: Party, tnid: str | None) -> dict[str, Any] | None:
        for way in self.config.supplier_match:
            if way == "external_id" and tnid:
                found = self.client.suppliers(external_id=tnid)
            elif way == "name":
                found = self.client.suppliers(name=seller.name)
            else:
                continue
            if found:
                return next((s for s in found if not s.get("archived")), found[0])
        return None

    def _attach_files(self, document: Document, ledger: str, document_id: int) -> tuple[str, ...]:
        """Attach the document's files the source kept, those not attached yet (by name)."""
        if not document.attachments:
            return ()
        attached = {a.get("name") for a in self.client.attachments(PURCHASES, ledger, document_id)}
        notes = []
        for attachment in document.attachments:
            if attachment.filename in attached:
                continue
            content = attachment_content(self.context, attachment)
            if content is None:
                notes.append(
                    f"{attachment.filename} was not attached: its file was not kept for this connector"
                )
                continue
            self.client.upload_attachment(PURCHASES, ledger, document_id, attachment.filename, content)
            attached.add(attachment.filename)
        return tuple(notes)

    def _delivered(self, created: dict[str, Any], document: Document, notes: tuple[str, ...]) -> Delivered:
        number = created.get("formattedDocumentNumber")
        gross = created.get("gross")
        total = document.totals.total if document.totals else None
        if isinstance(gross, Decimal | int) and total is not None and Decimal(gross) != total:
            # ClearBooks computes VAT per line; a sender may round per rate: a bookkeeper must see it.
            notes += (
                f"ClearBooks {number} totals {gross} {document.currency} but {document.number} totals "
                f"{total}",
            )
        return Delivered(str(document_id_of(created)), str(number) if number else None, notes)


def _tnid_of(party: Party) -> str | None:
    """The party's TradeNet ID (its external ref of system TNID), if it has one."""
    return next((r.id for r in party.external_refs if r.system == TNID), None)


def _supplier_key(seller: Party) -> tuple[str | None, str]:
    return _tnid_of(seller), seller.name
