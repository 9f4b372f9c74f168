"""`ShipServTarget`: the `DOCUMENT_TARGET` of an upload connector — a supplier's invoices and credit notes
sent to its buyers on the trade network, each exactly once.

Exactly once per document version, in three layers (each covers what the one before cannot):
1. our cross reference (the delivery pipeline): a version delivered before is not delivered again;
2. search-before-create: before every send, the supplier's sent documents are searched for the document's
   reference number and type (`role=supplier`) — this covers a crash between the send and our cross
   reference (the idempotency key's answer lost with the process);
3. `Idempotency-Key: <marker>` on the send (the marker names source, record and version): a send whose
   answer was lost is retried by the HTTP session and answered with the document the first one created
   (`Idempotent-Replayed: true`), never a second one.
And the network itself refuses a second document with the same (supplier, type, reference number): a 409
`DUPLICATE_DOCUMENT` names the existing one, which is then the delivery's result.

A *changed* version of a document already sent (same number, other content) cannot replace it: the network
has no update or cancel of a sent document. It ends with the document already sent and a note saying so
(the bookkeeper corrects it the trade-network way: a credit note, then a new invoice with a new number).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...errors import MappingError, PermanentError
from ...logs import logger
from ...models import TNID, Customer, Document, DocumentKind, Party, Payment
from ..attachments import attachment_content
from ..capabilities import Delivered
from ..payload import text_value
from .client import DUPLICATE_DOCUMENT, PARTNER, NetworkRefusal, ShipServClient
from .config import ShipServTargetConfig
from .mapping import PDF, send_body

if TYPE_CHECKING:
    from ..capabilities import DeliveryReceipt
    from ..context import PartnerContext

NOT_SUPPORTED = "not supported by the trade network (ShipServ takes invoices and credit notes only)"


class ShipServTarget:
    """ShipServ as the target of flow 5, upload side (see the module docstring)."""

    system = PARTNER

    def __init__(self, client: ShipServClient, context: PartnerContext):
        self.client = client
        self.context = context
        self._identity_checked = False

    @classmethod
    def from_config(
        cls,
        config: ShipServTargetConfig,
        credentials: Mapping[str, Any],
        context: PartnerContext,
        **options: Any,
    ) -> ShipServTarget:
        """A target for a connector side (`ShipServClient.for_connector`)."""
        return cls(ShipServClient.for_connector(config, credentials, **options), context)

    def close(self) -> None:
        self.client.close()

    # -- documents --------------------------------------------------------------------------------------

    def deliver_document(self, document: Document, *, customer: Customer, marker: str) -> Delivered:
        """Send `document` to its buyer (TNID from `document.buyer`'s `tnid` external ref) once; returns
        the ShipServ document id and reference number.

        Order of work: the body is built first (a document that cannot be mapped sends nothing), the
        connector's user is checked to act for the connector's TNID, the sent documents are searched for
        this reference number (found → that one), then the send with `Idempotency-Key: marker`.
        Refusals are PermanentErrors in the network's words ("ShipServ refused invoice INV-7:
        UNKNOWN_BUYER (buyerTnId): Buyer TNID 999001 is not a ShipServ buyer"); a 409 duplicate ends
        with the existing document.
        """
        if not marker:
            raise MappingError(
                "a document needs an idempotency marker to be sent exactly once", partner=PARTNER
            )
        label = _label(document)
        buyer_tnid = buyer_tnid_of(document.buyer, label)
        files, notes = self._files(document, label)
        body = send_body(document, buyer_tnid, files)
        self._check_identity()
        existing = self.sent_document(document.number, body["type"])
        if existing is not None:
            logger.info(f"shipserv: {label} was sent before (document {existing['id']}); not sent again")
            return self._already_sent(existing, body, label, notes)
        try:
            sent, replayed = self.client.send_document(body, marker)
        except NetworkRefusal as refusal:
            if DUPLICATE_DOCUMENT in refusal.codes and refusal.existing_id:
                # Sent meanwhile by someone else (a concurrent delivery, or by hand on the network).
                return self._already_sent(self.client.document(refusal.existing_id), body, label, notes)
            raise PermanentError(
                f"ShipServ refused {label}: {refusal.network_reason()}",
                partner=PARTNER,
                status=refusal.status,
            ) from None
        self.client.acting_party(sent, "supplierTnId", "supplier")
        logger.info(
            f"shipserv: {label} sent to buyer TNID {buyer_tnid} as document {sent['id']}"
            + (" (an earlier send with this key, replayed)" if replayed else "")
        )
        return Delivered(sent["id"], text_value(sent.get("referenceNumber")) or document.number, tuple(notes))

    def sent_document(self, reference_number: str, doc_type: str) -> dict[str, Any] | None:
        """The supplier's sent document of this type and reference number, if there is one."""
        for found in self.client.sent_documents(referenceNumber=reference_number, type=doc_type):
            if found.get("referenceNumber") == reference_number and found.get("type") == doc_type:
                self.client.acting_party(found, "supplierTnId", "supplier")
                return found
        return None

    def _check_identity(self) -> None:
        """Once per target: the connector's user must act for the connector's supplier TNID, or documents
        would go out under another company's name. The token says nothing of its user's TNID, so the first
        document the user sent tells (no document sent yet: checked on the first send's answer)."""
        if self._identity_checked:
            return
        page = self.client.documents_page(1, role="supplier")
        for found in page.records[:1]:
            if isinstance(found, dict):
                self.client.acting_party(found, "supplierTnId", "supplier")
        self._identity_checked = True

    def _files(self, document: Document, label: str) -> tuple[list[tuple[str, bytes, str]], list[str]]:
        """The document's files, read from the document bucket where its source kept them. One that
        cannot be read is left out, with a note."""
        files, notes = [], []
        for attachment in document.attachments:
            content = attachment_content(self.context, attachment)
            if content is None:
                notes.append(
                    f"ShipServ {label}: attachment {attachment.filename} was not sent (its file is not in "
                    "the document bucket)"
                )
                continue
            files.append((attachment.filename, content, attachment.content_type or PDF))
        return files, notes

    def _already_sent(
        self, existing: dict[str, Any], body: dict[str, Any], label: str, notes: list[str]
    ) -> Delivered:
        """The delivery's result when the network already has this document: the existing one, with a note
        when what it holds differs from this version (it cannot be replaced)."""
        self.client.acting_party(existing, "supplierTnId", "supplier")
        number = text_value(existing.get("referenceNumber")) or body["referenceNumber"]
        differences = _differences(existing, body)
        if differences:
            notes = [
                *notes,
                f"ShipServ already has {label} (document {existing['id']}, sent "
                f"{existing.get('submittedDate') or 'earlier'}) and a sent document cannot be replaced on "
                f"the trade network, so this changed version was not sent ({'; '.join(differences)}). To "
                "correct it, send a credit note and a new invoice with a new number.",
            ]
        return Delivered(existing["id"], number, tuple(notes))

    # -- the READ acknowledgement -----------------------------------------------------------------------

    def read_receipts(self, read_since: dt.datetime | None) -> Iterator[tuple[str, str, dt.datetime]]:
        """(ShipServ id, reference number, read at) of each sent document the buyer has read (status Read)
        at or after `read_since` (all when None). The network has no webhook or event list for it: the
        supplier's listing with `status=Read` is the only way to see it."""
        for found in self.client.sent_documents(status="Read"):
            read_at = _timestamp(found.get("readDate"))
            if read_at is None or not found.get("id"):
                continue
            if read_since is None or read_at >= read_since:
                yield str(found["id"]), text_value(found.get("referenceNumber")) or "", read_at

    def receipts(self, since: dt.datetime | None) -> Iterator[DeliveryReceipt]:
        """`read_receipts` as delivery receipts (status "read"), oldest first (the listing is in send
        order, so all of them are read before the first is handed out)."""
        from ..capabilities import DeliveryReceipt  # named through capabilities, built on first use

        for target_id, number, read_at in sorted(self.read_receipts(since), key=lambda r: (r[2], r[0])):
            yield DeliveryReceipt(target_id=target_id, number=number or None, status="read", at=read_at)

    # -- what the network does not have -----------------------------------------------------------------

    def update_customer(self, customer: Customer, known_id: str | None) -> str:
        """Buyers are network companies addressed by TNID: there is no customer record to keep in step."""
        raise PermanentError(f"updating customer {customer.name} is {NOT_SUPPORTED}", partner=PARTNER)

    def record_payment(self, target_document_id: str, payment: Payment) -> Delivered:
        """The network carries invoices, not payments."""
        raise PermanentError(f"recording a payment is {NOT_SUPPORTED}", partner=PARTNER)


def buyer_tnid_of(buyer: Party, label: str) -> int:
    """The buyer's TradeNet ID (its `tnid` external ref); PermanentError when it has none or it is not a
    number: the document cannot be addressed on the network."""
    ref = next((r for r in buyer.external_refs if r.system == TNID), None)
    if ref is None:
        raise PermanentError(
            f"no buyer TNID: {label}'s buyer {buyer.name} has no TradeNet ID, so it cannot be sent on "
            "ShipServ (give the customer its TNID in the accounting system)",
            partner=PARTNER,
        )
    if not ref.id.strip().isdigit() or int(ref.id) <= 0:
        raise PermanentError(
            f"{label}: buyer TNID {ref.id!r} is not a TradeNet ID (a number)", partner=PARTNER
        )
    return int(ref.id)


def _label(document: Document) -> str:
    return f"{'credit note' if document.kind is DocumentKind.CREDIT_NOTE else 'invoice'} {document.number}"


def _differences(existing: Mapping[str, Any], body: Mapping[str, Any]) -> list[str]:
    """What the existing document holds otherwise than this version would: buyer, currency, total."""
    found = []
    if existing.get("buyerTnId") != body["buyerTnId"]:
        found.append(f"buyer TNID {existing.get('buyerTnId')} there, {body['buyerTnId']} here")
    if existing.get("currency") != body["currency"]:
        found.append(f"currency {existing.get('currency')} there, {body['currency']} here")
    shown_total = existing.get("cost", existing.get("totalCost"))
    if _amount(shown_total) != _amount(body["cost"]):
        found.append(f"total {shown_total} there, {body['cost']} here")
    return found


def _amount(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _timestamp(value: object) -> dt.datetime | None:
    """An ISO-8601 timestamp ("2026-03-02T07:30:00.000Z") as an aware datetime; None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
