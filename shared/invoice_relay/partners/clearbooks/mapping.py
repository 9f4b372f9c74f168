"""Canonical models ⇄ ClearBooks JSON: the only place ClearBooks payloads are read or built.

Pure functions, no I/O: what needs another record (the customer, the VAT rates, the credited invoice's
number, the PDF) is read by the source or target and handed in. Field names and the rules behind them are
in the package docstring.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from ...errors import MappingError, PermanentError
from ...models import (
    TNID,
    Address,
    Attachment,
    Document,
    DocumentKind,
    ExternalRef,
    Line,
    Party,
    Tax,
    Totals,
    round_money,
)
from ..payload import (
    PayloadProblem,
    currency_code,
    decimal_value,
    id_value,
    label_text,
    map_record,
    text_value,
)

PARTNER = "clearbooks"
HOME_CURRENCY = "GBP"  # served when a document names none ("omitted for sterling")
MANUAL_VAT = "Manual"  # the vatRateKey whose VAT amount is given, not computed
READY_STATUS = "approved"
SALES_LEDGERS: dict[str, DocumentKind] = {
    "invoices": DocumentKind.INVOICE,
    "creditNotes": DocumentKind.CREDIT_NOTE,
}
REF_PREFIXES = {"invoices": "invoice", "creditNotes": "creditNote"}  # ref ids: "invoice:5001"
PURCHASE_LEDGERS = {DocumentKind.INVOICE: "bills", DocumentKind.CREDIT_NOTE: "creditNotes"}
_HUNDRED = Decimal(100)
_RATE_PLACES = Decimal("0.000001")  # an effective rate of a manual VAT amount, in percent

TnidPlace = Literal["custom_field", "external_id", "table"]


# -- refs -------------------------------------------------------------------------------------------------


def ref_id(doc_type: str, document_id: object) -> str:
    """Our id of a sales document: its ledger and ClearBooks id ("invoice:5001", "creditNote:45"), since
    the two ledgers number their ids independently as far as the docs say."""
    return f"{REF_PREFIXES[doc_type]}:{id_value(document_id, 'id')}"


def parse_ref_id(text: str) -> tuple[str, int]:
    """("invoices" | "creditNotes", ClearBooks id) of a ref id; PermanentError when it is not one."""
    prefix, _, number = text.partition(":")
    doc_type = next((t for t, p in REF_PREFIXES.items() if p == prefix), None)
    if doc_type is None or not number.isdigit():
        raise PermanentError(f"{text!r} is not a ClearBooks sales document id", partner=PARTNER)
    return doc_type, int(number)


def is_ready(document: Mapping[str, Any]) -> bool:
    """Approved documents go to the trade network; drafts are not finished and voided ones are withdrawn."""
    return document.get("status") == READY_STATUS


# -- sales documents → Document -----------------------------------------------------------------------


def sales_document_to_document(
    doc_type: str,
    payload: dict[str, Any],
    *,
    customer: Mapping[str, Any],
    buyer_tnid: str | None,
    vat_rates: Mapping[str, Decimal | None],
    credited_invoice: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> Document:
    """The canonical document of a sales invoice or credit note (positive amounts: the kind says which
    way the money goes). `vat_rates`: vatRateKey → fraction (None for Manual). MappingError names the
    document and the field."""
    shown_as = payload.get("formattedDocumentNumber") or payload.get("id")
    label = f"ClearBooks {REF_PREFIXES.get(doc_type, 'document')} {label_text(shown_as)}"

    def build() -> Document:
        currency = currency_code(payload.get("currency"), "currency", default=HOME_CURRENCY)
        lines = _lines(payload.get("lineItems"), vat_rates)
        vat_amounts = [decimal_value(item.get("vatAmount", 0), "vatAmount") for item in payload["lineItems"]]
        number = text_value(payload.get("formattedDocumentNumber"))
        if number is None:
            raise PayloadProblem("formattedDocumentNumber", missing=True)
        return Document(
            kind=SALES_LEDGERS[doc_type],
            number=number,
            issue_date=_date(payload.get("date"), "date", required=True),
            due_date=_date(payload.get("dateDue"), "dateDue") if doc_type == "invoices" else None,
            currency=currency,
            buyer=buyer_party(customer, buyer_tnid),
            lines=lines,
            taxes=_taxes(lines, vat_amounts, currency),
            totals=Totals(
                subtotal=money(payload, "net"), tax_total=money(payload, "vat"), total=money(payload, "gross")
            ),
            purchase_order=text_value(payload.get("reference")),
            credited_invoice=credited_invoice if doc_type == "creditNotes" else None,
            memo=text_value(payload.get("description")),
            external_refs=[ExternalRef(system=PARTNER, id=id_value(payload.get("id"), "id"), number=number)],
            attachments=list(attachments),
        )

    return map_record(label, build, partner=PARTNER, raw=payload)


def buyer_party(customer: Mapping[str, Any], tnid: str | None) -> Party:
    """The ClearBooks customer as the document's buyer; its TNID, when known, as an external ref."""
    refs = [ExternalRef(system=PARTNER, id=id_value(customer.get("id"), "customer id"))]
    if tnid is not None:
        refs.append(ExternalRef(system=TNID, id=tnid))
    name = text_value(customer.get("name"))
    if name is None:
        raise PayloadProblem("customer name", missing=True)
    return Party(
        name=name,
        account_number=text_value(customer.get("id")),
        tax_id=text_value(customer.get("vatNumber")),
        email=text_value(customer.get("email")),
        phone=text_value(customer.get("phone")),
        address=_address(customer.get("address")),
        external_refs=refs,
    )


def customer_tnid(
    customer: Mapping[str, Any],
    place: TnidPlace,
    *,
    custom_field: str,
    table: Mapping[str, int],
    document_label: str,
) -> str:
    """The buyer TNID of a customer from where the connector keeps it. MappingError naming the customer
    and the place when there is none or it is not a TNID (a positive whole number)."""
    customer_id = str(customer.get("id"))
    if place == "custom_field":
        fields = customer.get("customFields")
        value = fields.get(custom_field) if isinstance(fields, Mapping) else None
        where = f"its custom field '{custom_field}'"
    elif place == "external_id":
        value, where = customer.get("externalId"), "its external id"
    else:
        value, where = table.get(customer_id), "the connector's TNID table"
    who = f"ClearBooks customer '{label_text(customer.get('name'))}' (id {label_text(customer_id)})"
    text = text_value(value)
    if text is None:
        raise MappingError(
            f"{document_label}: {who} has no buyer TNID in {where}, so the trade network cannot address it",
            partner=PARTNER,
        )
    if not text.isdigit() or int(text) <= 0:
        raise MappingError(
            f"{document_label}: {who} has {text[:40]!r} in {where}, which is not a TNID (a whole number)",
            partner=PARTNER,
        )
    return str(int(text))


def vat_rate_table(rates: Sequence[Mapping[str, Any]]) -> dict[str, Decimal | None]:
    """vatRateKey → rate as a fraction (None: Manual, or no rate given) from `GET vatRates/...`."""
    table: dict[str, Decimal | None] = {}
    for rate in rates:
        key = text_value(rate.get("key"))
        if key is None:
            continue
        value = rate.get("rate")
        table[key] = None if value is None or key == MANUAL_VAT else to_fraction(value, key)
    return table


def to_fraction(value: object, key: str) -> Decimal:
    try:
        return decimal_value(value, f"VAT rate {key}")
    except PayloadProblem as problem:
        raise MappingError(f"ClearBooks VAT rates: {problem.text}", partner=PARTNER) from None


def money(record: Mapping[str, Any], field: str) -> Decimal:
    if record.get(field) is None:
        raise PayloadProblem(field, missing=True)
    return decimal_value(record[field], field)


def _lines(items: object, vat_rates: Mapping[str, Decimal | None]) -> list[Line]:
    if not isinstance(items, list) or not items:
        raise PayloadProblem("lineItems", missing=True)
    lines = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise PayloadProblem(f"lineItems[{position - 1}] is not an object")
        key = text_value(item.get("vatRateKey"))
        net = money(item, "net")
        if key is None:
            raise PayloadProblem(f"lineItems[{position - 1}].vatRateKey", missing=True)
        if key not in vat_rates:
            raise PayloadProblem(
                f"lineItems[{position - 1}]: VAT rate {key!r} is not one of ClearBooks' rates"
            )
        fraction = vat_rates[key]
        if fraction is None:  # a manual amount: the rate it amounts to, so the taxes add up
            vat = money(item, "vatAmount")
            percent = (vat / net * _HUNDRED).quantize(_RATE_PLACES) if net else Decimal(0)
        else:
            percent = fraction * _HUNDRED
        account = item.get("accountCode")
        lines.append(
            Line(
                position=position,
                description=text_value(item.get("description")) or "",
                quantity=decimal_value(item.get("quantity"), f"lineItems[{position - 1}].quantity"),
                unit_price=money(item, "unitPrice"),
                net_amount=net,
                tax_rate=plain(percent),
                tax_code=key,
                account_code=str(account) if account is not None else None,
            )
        )
    return lines


def plain(value: Decimal) -> Decimal:
    """A number without trailing zeros and never in exponent form: 20.00 → 20, 2.50 → 2.5."""
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral() else normal


def _taxes(lines: list[Line], vat_amounts: list[Decimal], currency: str) -> list[Tax]:
    """One tax per rate: the nets and ClearBooks' own VAT amounts at that rate (it rounds per line)."""
    by_rate: dict[tuple[Decimal, str], tuple[Decimal, Decimal]] = {}
    for line, vat in zip(lines, vat_amounts, strict=True):
        if not line.tax_rate and not vat:
            continue
        key = (line.tax_rate or Decimal(0), line.tax_code or "")
        base, amount = by_rate.get(key, (Decimal(0), Decimal(0)))
        by_rate[key] = (base + (line.net_amount or Decimal(0)), amount + vat)
    return [
        Tax(
            name="VAT" if code != MANUAL_VAT else "VAT (manual amount)",
            code=code,
            rate=rate,
            taxable_amount=base,
            amount=round_money(amount, currency),
        )
        for (rate, code), (base, amount) in sorted(by_rate.items())
    ]


def _address(address: object) -> Address | None:
    if not isinstance(address, Mapping):
        return None
    line1 = " ".join(t for t in (text_value(address.get("building")), text_value(address.get("line1"))) if t)
    found = Address(
        line1=line1 or None,
        line2=text_value(address.get("line2")),
        city=text_value(address.get("town")),
        region=text_value(address.get("county")),
        postal_code=text_value(address.get("postcode")),
        country=text_value(address.get("countryCode")),
    )
    return found if any(found.model_dump().values()) else None


def _date(value: object, field: str, *, required: bool = False) -> dt.date | None:
    text = text_value(value)
    if text is None:
        if required:
            raise PayloadProblem(field, missing=True)
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise PayloadProblem(f"{field} {text[:30]!r} is not a date") from None


# -- Document → purchase documents --------------------------------------------------------------------


def purchase_ledger(document: Document) -> str:
    """`bills` for an invoice, `creditNotes` for a credit note."""
    return PURCHASE_LEDGERS[document.kind]


def account_code_for(
    line: Line, codes: Mapping[str, int], *, default: int | None, unmapped: Literal["default", "fail"]
) -> int:
    """The ClearBooks account code of a line: the map entry of its SKU, else of its item code, else of its
    account code text (the most specific name of what was bought first); else the default when the
    connector says so. PermanentError naming the line otherwise."""
    for key in (line.sku, line.item_code, line.account_code):
        if key and key in codes:
            return codes[key]
    named = (("SKU", line.sku), ("item code", line.item_code), ("account code", line.account_code))
    names = ", ".join(f"{what} {key!r}" for what, key in named if key) or "no SKU, item code or account code"
    if unmapped == "fail":
        raise PermanentError(
            f"no account code for line {line.position} ({names}): the connector's account code map does not "
            "name it and unmapped lines fail",
            partner=PARTNER,
        )
    if default is None:
        raise PermanentError(
            f"no account code for line {line.position} ({names}): the connector's account code map does not "
            "name it and no default account code is set",
            partner=PARTNER,
        )
    return default


def vat_rate_key_for(
    line: Line, rates: Sequence[Mapping[str, Any]], overrides: Mapping[str, str], treatment: str
) -> str:
    """The purchases vatRateKey for the line's VAT percent under `treatment`: the connector's override for
    that percent, else the first of ClearBooks' rates (in its order) with that rate. PermanentError when
    there is none."""
    percent = line.tax_rate or Decimal(0)
    keys = [text_value(r.get("key")) for r in rates]
    for text, key in overrides.items():
        try:
            matches = Decimal(text) == percent
        except ArithmeticError:
            continue
        if matches:
            if key not in keys:
                raise PermanentError(
                    f"line {line.position}: the connector maps VAT {plain(percent)}% to '{key}', which is "
                    f"not a ClearBooks VAT rate of treatment {treatment}",
                    partner=PARTNER,
                )
            return key
    for rate in rates:
        value, key = rate.get("rate"), text_value(rate.get("key"))
        if key is None or key == MANUAL_VAT or value is None:
            continue
        if to_fraction(value, key) * _HUNDRED == percent:
            return key
    offered = ", ".join(f"{r.get('key')} ({r.get('rate')})" for r in rates if r.get("rate") is not None)
    raise PermanentError(
        f"line {line.position}: no ClearBooks VAT rate of {plain(percent)}% under treatment {treatment} "
        f"(it has: {offered or 'none'})",
        partner=PARTNER,
    )


def purchase_line(line: Line, account_code: int, vat_rate_key: str) -> dict[str, Any]:
    """A purchase line. ClearBooks lines have no discount: a discounted line is sent as one unit at its
    net amount, the quantity and price written into the description."""
    description = line.description or f"Line {line.position}"
    quantity, unit_price = line.quantity, line.unit_price
    if line.discount:
        description = f"{description} ({plain(quantity)} × {unit_price} less {line.discount})"
        quantity, unit_price = Decimal(1), line.net_amount or Decimal(0)
    return {
        "description": description,
        "unitPrice": unit_price,
        "quantity": plain(quantity),
        "accountCode": account_code,
        "vatRateKey": vat_rate_key,
    }


def purchase_payload(
    document: Document,
    *,
    supplier_id: int,
    lines: list[dict[str, Any]],
    vat_treatment: str,
    marker: str,
    default_due_days: int,
) -> dict[str, Any]:
    """The bill or purchase credit note of `document`: `reference` the supplier's document number,
    `externalId` our idempotency marker, the PO (and the credited invoice) in `description`. A credit note
    has no `dateDue` (ClearBooks refuses one)."""
    notes = []
    if document.purchase_order:
        notes.append(f"PO {document.purchase_order}")
    if document.credited_invoice:
        notes.append(f"credits invoice {document.credited_invoice}")
    if document.memo:
        notes.append(document.memo)
    payload: dict[str, Any] = {
        "date": document.issue_date.isoformat(),
        "supplierId": supplier_id,
        "vatTreatment": vat_treatment,
        "currency": document.currency,
        "reference": document.number,
        "description": "; ".join(notes),
        "externalId": marker,
        "lineItems": lines,
    }
    if document.kind is DocumentKind.INVOICE:
        due = document.due_date or document.issue_date + dt.timedelta(days=default_due_days)
        payload["dateDue"] = due.isoformat()
    return payload


def supplier_fields(seller: Party, tnid: str | None) -> dict[str, Any]:
    """A new supplier for the document's seller; its TNID as the external id (how it is found next time)."""
    fields: dict[str, Any] = {"name": seller.name}
    for key, value in (("externalId", tnid), ("email", seller.email), ("phone", seller.phone),
                       ("vatNumber", seller.tax_id)):  # fmt: skip
        if value:
            fields[key] = value
    if seller.address is not None:
        address = {
            "line1": seller.address.line1,
            "line2": seller.address.line2,
            "town": seller.address.city,
            "county": seller.address.region,
            "postcode": seller.address.postal_code,
            "countryCode": seller.address.country,
        }
        if any(address.values()):
            fields["address"] = {k: v for k, v in address.items() if v}
    return fields


def document_id_of(record: Mapping[str, Any]) -> int:
    value = record.get("id")
    if not isinstance(value, int) or isinstance(value, bool):
        raise PermanentError(
            f"ClearBooks answered a record without an id: {label_text(value)}", partner=PARTNER
        )
    return value


# -- JSON for the archive -------------------------------------------------------------------------------


def archivable(value: Any) -> Any:
    """A ClearBooks record as plain JSON values, for the raw archive and the pipeline: exact `Decimal`s
    become the floats that print as the same number (str otherwise, beyond a float's 15 digits)."""
    if isinstance(value, Decimal):
        number = float(value)
        return number if Decimal(repr(number)) == value else str(value)
    if isinstance(value, dict):
        return {k: archivable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [archivable(v) for v in value]
    return value
