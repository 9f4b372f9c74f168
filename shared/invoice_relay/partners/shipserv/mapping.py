"""ShipServ documents ↔ canonical `Document` (the only place ShipServ's JSON is read or written).

- `document_from_shipserv`: a received invoice or credit note (`GET /invoicing/documents/{id}`) → Document;
- `send_body`: a Document → the JSON of `POST /invoicing/documents`.

See the package docstring for the fields and the rules.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ...errors import MappingError
from ...models import (
    TNID,
    Document,
    DocumentKind,
    ExternalRef,
    Line,
    Party,
    PaymentTerms,
    Tax,
    Totals,
    round_money,
)
from ..payload import (
    PLAUSIBLE_YEARS,
    PayloadProblem,
    currency_code,
    decimal_value,
    label_text,
    map_record,
    money_field,
    text_value,
)

PARTNER = "shipserv"
INVOICE, CREDIT_NOTE = "Invoice", "CreditNote"
KINDS = {INVOICE: DocumentKind.INVOICE, CREDIT_NOTE: DocumentKind.CREDIT_NOTE}
TYPES = {kind: name for name, kind in KINDS.items()}
CLASSIFICATION_INVOICE, CLASSIFICATION_SUPPORTING = "Invoice", "Supporting"
PDF = "application/pdf"
_CENT = Decimal("0.01")
_UNIT_PRICE_PLACES = 4  # the network takes unit prices with up to 4 decimals, money with 2


# -- received: ShipServ → canonical ---------------------------------------------------------------------


def document_label(payload: dict[str, Any]) -> str:
    """How reasons name a ShipServ document: "shipserv invoice MSI-24031" (its id when it has no number)."""
    kind = "credit note" if payload.get("type") == CREDIT_NOTE else "invoice"
    return f"shipserv {kind} {label_text(payload.get('referenceNumber') or payload.get('id'))}"


def document_from_shipserv(payload: dict[str, Any]) -> Document:
    """Map a received ShipServ invoice or credit note (the full document) to a canonical `Document`,
    without its attachments (the source keeps those and adds them).

    Raises MappingError naming the document and the field ("shipserv invoice MSI-24031 has no invoiceDate",
    "...: totals do not match lines: total 120.00 != computed 110.00"), carrying the payload (`raw`).
    """
    if not isinstance(payload, dict) or not payload.get("id"):
        raise MappingError("shipserv document has no id", partner=PARTNER, raw=None)
    label = document_label(payload)
    return map_record(label, lambda: _document(payload), partner=PARTNER, raw=payload)


def _document(payload: dict[str, Any]) -> Document:
    kind = KINDS.get(str(payload.get("type")))
    if kind is None:
        raise PayloadProblem(f"type {payload.get('type')!r} is not an invoice or a credit note")
    number = text_value(payload.get("referenceNumber"))
    if number is None:
        raise PayloadProblem("referenceNumber", missing=True)
    currency = currency_code(payload.get("currency"), "currency")
    issue_date = _date(payload.get("invoiceDate"), "invoiceDate")
    if issue_date is None:
        raise PayloadProblem("invoiceDate", missing=True)
    lines = _lines(payload.get("lineItems"))
    totals = Totals(
        subtotal=money_field(payload, "subCost"),
        tax_total=money_field(payload, "taxCost"),
        total=money_field(payload, "cost"),
    )
    terms = text_value(payload.get("paymentTerms"))
    return Document(
        kind=kind,
        number=number,
        issue_date=issue_date,
        due_date=_date(payload.get("dueDate"), "dueDate"),
        currency=currency,
        seller=_party(payload, "supplier"),
        buyer=_party(payload, "buyer"),
        lines=lines,
        taxes=_taxes(lines, totals.tax_total, currency),
        totals=totals,
        payment_terms=PaymentTerms(description=terms) if terms else None,
        purchase_order=text_value(payload.get("purchaseOrderNumber")),
        # Credit notes name the invoice they credit by its number (the issuer's); invoices never do.
        credited_invoice=(
            text_value(payload.get("linkedInvoiceReferenceNumber"))
            if kind is DocumentKind.CREDIT_NOTE
            else None
        ),
        memo=_memo(payload),
        external_refs=[ExternalRef(system=PARTNER, id=str(payload["id"]), number=number)],
    )


def _party(payload: dict[str, Any], role: str) -> Party:
    """The supplier or the buyer, named as the document names it, with its TNID as an external ref."""
    nested = payload.get(role) if isinstance(payload.get(role), dict) else {}
    tnid = nested.get("tnId", payload.get(f"{role}TnId"))
    if tnid is None or isinstance(tnid, bool) or not isinstance(tnid, int | str) or not str(tnid).strip():
        raise PayloadProblem(f"{role} TNID", missing=True)
    name = text_value(nested.get("name")) or text_value(payload.get(f"{role}Name")) or f"TNID {tnid}"
    return Party(name=name, external_refs=[ExternalRef(system=TNID, id=str(tnid).strip())])


def _lines(items: object) -> list[Line]:
    if not isinstance(items, list) or not items:
        raise PayloadProblem("lineItems", missing=True)
    lines = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise PayloadProblem(f"line {position} is not a line item")
        what = f"line {position}"
        if item.get("unitPrice") is None:
            raise PayloadProblem(f"{what} has no unitPrice")
        rate = item.get("taxRate")
        lines.append(
            Line(
                position=position,
                description=text_value(item.get("description")) or "",
                sku=text_value(item.get("partCode")),
                quantity=decimal_value(item.get("quantity", 1), f"{what} quantity"),
                unit=text_value(item.get("unitOfMeasure")),
                unit_price=decimal_value(item["unitPrice"], f"{what} unitPrice"),
                discount=decimal_value(item.get("discountCost") or 0, f"{what} discountCost"),
                net_amount=(
                    None
                    if item.get("totalCost") is None
                    else decimal_value(item["totalCost"], f"{what} totalCost")
                ),
                tax_rate=None if rate is None else decimal_value(rate, f"{what} taxRate"),
            )
        )
    return lines


def _taxes(lines: list[Line], tax_total: Decimal, currency: str) -> list[Tax]:
    """One tax per rate. The network accepts the tax summed per line or rounded per rate: the amounts are
    taken the way that adds up to the document's `taxCost` (else per rate, and the model says what does
    not add up)."""
    by_rate: dict[Decimal, list[Line]] = {}
    for line in lines:
        if line.tax_rate:
            by_rate.setdefault(line.tax_rate, []).append(line)
    taxes = []
    for rate, at_rate in sorted(by_rate.items()):
        base = sum((_net(ln, currency) for ln in at_rate), Decimal(0))
        per_line = sum((round_money(_net(ln, currency) * rate / 100, currency) for ln in at_rate), Decimal(0))
        taxes.append((rate, base, per_line, round_money(base * rate / 100, currency)))
    use_line_sums = sum((t[2] for t in taxes), Decimal(0)) == tax_total
    return [
        Tax(
            name=f"Tax {rate}%",
            rate=rate,
            taxable_amount=base,
            amount=per_line if use_line_sums else per_rate,
        )
        for rate, base, per_line, per_rate in taxes
    ]


def _net(line: Line, currency: str) -> Decimal:
    if line.net_amount is not None:
        return line.net_amount
    return round_money(line.quantity * line.unit_price - line.discount, currency)


def _memo(payload: dict[str, Any]) -> str | None:
    """The vessel the goods or services were for: "Vessel Bulker Bee 30 (IMO 9489986)"."""
    vessel = payload.get("vessel") if isinstance(payload.get("vessel"), dict) else {}
    name = text_value(vessel.get("name")) or text_value(payload.get("vesselName"))
    imo = text_value(vessel.get("imoNumber")) or text_value(payload.get("vesselImoNumber"))
    if name and imo:
        return f"Vessel {name} (IMO {imo})"
    if name or imo:
        return f"Vessel {name}" if name else f"Vessel IMO {imo}"
    return None


def _date(value: object, field: str) -> dt.date | None:
    """A `YYYY-MM-DD` date (a timestamp's date part is accepted too)."""
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        date = dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise PayloadProblem(f"{field} {value!r} is not a date") from None
    if date.year not in PLAUSIBLE_YEARS:
        raise PayloadProblem(f"{field} {value!r} is not a plausible date")
    return date


# -- sent: canonical → ShipServ -------------------------------------------------------------------------


def send_body(
    document: Document, buyer_tnid: int, files: Iterable[tuple[str, bytes, str]] = ()
) -> dict[str, Any]:
    """The JSON of `POST /invoicing/documents` for `document`, sent to `buyer_tnid`; `files` are its
    attachments as (name, bytes, content type): the first PDF is classified Invoice, the rest Supporting.

    Money as decimal strings with 2 places (unit prices up to 4), credit notes positive like the canonical
    model (the `type` says which way the money goes). Optional fields without a value are left out. What
    the network requires (a PO number, a credit note's invoice) is left for it to refuse, so the run log
    shows the network's own reason. MappingError for an amount the network cannot take (more decimals).
    """
    label = f"{'credit note' if document.kind is DocumentKind.CREDIT_NOTE else 'invoice'} {document.number}"
    return map_record(label, lambda: _send_body(document, buyer_tnid, files), partner=PARTNER, raw=None)


def _send_body(
    document: Document, buyer_tnid: int, files: Iterable[tuple[str, bytes, str]]
) -> dict[str, Any]:
    totals = document.totals
    if totals is None:  # a built Document always has totals; this keeps the type checker honest
        raise PayloadProblem("totals", missing=True)
    terms = document.payment_terms
    body: dict[str, Any] = {
        "type": TYPES[document.kind],
        "buyerTnId": buyer_tnid,
        "referenceNumber": document.number,
        "purchaseOrderNumber": document.purchase_order,
        "invoiceDate": document.issue_date.isoformat(),
        "dueDate": document.due_date.isoformat() if document.due_date else None,
        "paymentTerms": (terms.description or terms.code) if terms else None,
        "currency": document.currency,
        "lineItems": [_line_item(line) for line in document.lines],
        "subCost": money_text(totals.subtotal, "subtotal"),
        "taxCost": money_text(totals.tax_total, "tax total"),
        "cost": money_text(totals.total, "total"),
        "linkedInvoiceReferenceNumber": (
            document.credited_invoice if document.kind is DocumentKind.CREDIT_NOTE else None
        ),
        "attachments": _attachments(files) or None,
    }
    return {key: value for key, value in body.items() if value is not None}


def _line_item(line: Line) -> dict[str, Any]:
    what = f"line {line.position}"
    net = line.net_amount if line.net_amount is not None else line.quantity * line.unit_price - line.discount
    rate = line.tax_rate or Decimal(0)
    item: dict[str, Any] = {
        "number": line.position,
        "description": line.description,
        "partCode": line.sku,
        "quantity": number_text(line.quantity),
        "unitOfMeasure": line.unit,
        "unitPrice": unit_price_text(line.unit_price, f"{what} unit price"),
        "discountCost": money_text(line.discount, f"{what} discount") if line.discount else None,
        "totalCost": money_text(net, f"{what} net amount"),
        "taxRate": number_text(rate),
        # The line's tax as the network computes it (half-up to the cent): it takes ±0.01 per line.
        "taxCost": money_text((net * rate / 100).quantize(_CENT, rounding=ROUND_HALF_UP), f"{what} tax"),
    }
    return {key: value for key, value in item.items() if value is not None}


def _attachments(files: Iterable[tuple[str, bytes, str]]) -> list[dict[str, Any]]:
    attachments, invoice_pdf_named = [], False
    for name, content, content_type in files:
        # The first PDF is the invoice itself; everything after it supports it (delivery notes, ...).
        is_invoice = not invoice_pdf_named and content_type == PDF
        invoice_pdf_named = invoice_pdf_named or is_invoice
        attachments.append(
            {
                "name": name,
                "contentBase64": base64.b64encode(content).decode("ascii"),
                "classification": CLASSIFICATION_INVOICE if is_invoice else CLASSIFICATION_SUPPORTING,
            }
        )
    return attachments


def money_text(amount: Decimal, what: str) -> str:
    """2 decimal places; PayloadProblem when that would change the amount (a 3-decimal currency)."""
    text = amount.quantize(_CENT)
    if text != amount:
        raise PayloadProblem(f"{what} {amount} has more than 2 decimal places, which ShipServ does not take")
    return f"{text:f}"


def unit_price_text(amount: Decimal, what: str) -> str:
    """At least 2 and at most 4 decimal places ("212.30", "0.1235")."""
    if amount != amount.quantize(Decimal(1).scaleb(-_UNIT_PRICE_PLACES)):
        raise PayloadProblem(
            f"{what} {amount} has more than {_UNIT_PRICE_PLACES} decimal places, which ShipServ does not take"
        )
    exponent = min(-2, amount.normalize().as_tuple().exponent)  # type: ignore[operator]
    return f"{amount.quantize(Decimal(1).scaleb(exponent)):f}"


def number_text(number: Decimal) -> str:
    """A quantity or a rate without trailing zeros ("2", "1.5", "20")."""
    text = f"{number.normalize():f}"
    return text if text != "-0" else "0"
