"""Canonical models ⇄ FreshBooks JSON: the only place FreshBooks payloads are built or read.

Pure functions, no I/O. The client (client.py) wraps these payloads in FreshBooks' request envelopes
(`{"client": ...}`, `{"invoice": ...}`); see the package docstring for the API assumptions behind the
field names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ...errors import MappingError
from ...models import Customer, Document, DocumentKind, Line, Payment, Product, minor_units, round_money

PARTNER = "freshbooks"

LINE_TYPE_NORMAL = 0  # FreshBooks line `type`: 0 = normal line, 1 = rebilled expense
DEFAULT_TAX_NAME = "Tax"
ROUNDING_ADJUSTMENT = "Rounding adjustment"
PAYMENT_NOTE_PREFIX = "Transaction "
VIS_STATE_ACTIVE = 0
SETTLED_PAYMENT_STATUSES = frozenset({"paid", "auto-paid"})  # invoice `payment_status` (Java SDK enum)

# Our payment method names (lower case, `-`/space/`_` folded) → FreshBooks payment `type` values.
PAYMENT_TYPES = {
    "credit_card": "Credit Card",
    "card": "Credit Card",
    "creditcard": "Credit Card",
    "stripe": "Credit Card",
    "visa": "Credit Card",
    "mastercard": "Credit Card",
    "amex": "Credit Card",
    "debit": "Debit",
    "debit_card": "Debit",
    "paypal": "PayPal",
    "check": "Check",
    "cheque": "Check",
    "cash": "Cash",
    "bank_transfer": "Bank Transfer",
    "bank": "Bank Transfer",
    "wire": "Bank Transfer",
    "wire_transfer": "Bank Transfer",
    "sepa": "Bank Transfer",
    "ach": "ACH",
    "other": "Other",
}
OTHER_PAYMENT_TYPE = "Other"

_TRANSACTION_IN_NOTE = re.compile(rf"(?:^|\n){re.escape(PAYMENT_NOTE_PREFIX)}(\S+)")


# -- clients ----------------------------------------------------------------------------------------------


def client_fields(customer: Customer) -> dict[str, Any]:
    """FreshBooks client fields for a customer (create and update).

    Names, email and organization are always sent (blank as ""), so an update also clears what the
    customer no longer has. `organization` is the customer's organization or, for a customer with
    neither first nor last name, its `name` (FreshBooks shows the organization as the client's name).
    Address fields (`p_*`, the primary/billing address) are sent only when the customer has an
    address, so an update without one keeps what a bookkeeper entered in FreshBooks. The country goes
    through as given (ISO 3166 alpha-2 in our model; FreshBooks stores free text).
    """
    organization = customer.organization
    if not organization and not (customer.first_name or customer.last_name):
        organization = customer.name
    fields: dict[str, Any] = {
        "fname": customer.first_name or "",
        "lname": customer.last_name or "",
        "email": customer.email or "",
        "organization": organization or "",
    }
    if customer.phone:
        fields["bus_phone"] = customer.phone
    address = customer.address
    if address is not None:
        fields.update(
            {
                "p_street": address.line1 or "",
                "p_street2": address.line2 or "",
                "p_city": address.city or "",
                "p_province": address.region or "",
                "p_code": address.postal_code or "",
                "p_country": address.country or "",
            }
        )
    return fields


def same_email(a: str | None, b: str | None) -> bool:
    """Email addresses compare case-insensitively (FreshBooks' equals search does too, we assume)."""
    return bool(a and b) and a.strip().casefold() == b.strip().casefold()


# -- items ------------------------------------------------------------------------------------------------


def item_fields(product: Product) -> dict[str, Any]:
    """FreshBooks item fields for a catalog product; the SKU is FreshBooks' own item `sku` field."""
    return {
        "name": product.name,
        "description": product.description or "",
        "sku": product.sku,
        "unit_cost": money(product.unit_price, product.currency),
    }


def item_fields_for_line(line: Line, currency: str) -> dict[str, Any]:
    """A new FreshBooks item for an order line whose SKU FreshBooks does not know yet."""
    if not line.sku:
        raise MappingError(f"line {line.position} has no SKU to create an item for", partner=PARTNER)
    return {
        "name": line.description or line.sku,
        "description": line.description or "",
        "sku": line.sku,
        "unit_cost": money(line.unit_price, currency),
    }


def item_changes(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `wanted` (from `item_fields`) that differ from the FreshBooks item `existing`.

    Empty when the item is already in step. Money is compared as numbers ("12.5" == "12.50"). A deleted
    or archived item whose product is still sold is made active again (`vis_state` 0).
    """
    changes: dict[str, Any] = {}
    if not is_active(existing):
        changes["vis_state"] = VIS_STATE_ACTIVE
    for key in ("name", "description", "sku"):
        if (existing.get(key) or "") != (wanted.get(key) or ""):
            changes[key] = wanted.get(key)
    have = existing.get("unit_cost") if isinstance(existing.get("unit_cost"), Mapping) else {}
    want = wanted.get("unit_cost") or {}
    if _decimal_or_none(have.get("amount")) != _decimal_or_none(want.get("amount")) or (
        (have.get("code") or "").upper() != (want.get("code") or "").upper()
    ):
        changes["unit_cost"] = dict(want)
    return changes


# -- invoices -------------------------------------------------------------------------------------------


def check_deliverable(document: Document, currency: str) -> None:
    """Raise MappingError if `document` cannot become a FreshBooks invoice for a connector in `currency`.

    Only invoices are delivered (credit notes are a separate FreshBooks resource, not mapped yet), and
    only in the connector's currency: FreshBooks would otherwise book the amounts in another currency
    than the source charged, and converting is not ours to decide.
    """
    if document.kind is not DocumentKind.INVOICE:
        raise MappingError(
            f"{document.kind.value.replace('_', ' ')} {document.number}: only invoices are delivered to "
            "FreshBooks",
            partner=PARTNER,
        )
    if document.currency != currency.upper():
        raise MappingError(
            f"invoice {document.number} is in {document.currency} but the FreshBooks connector is set up "
            f"for {currency.upper()}",
            partner=PARTNER,
        )


def invoice_payload(
    document: Document,
    client_id: str | int,
    *,
    due_offset_days: int,
    currency: str,
    item_lookup: Mapping[str, Mapping[str, Any]],
    marker: str | None = None,
) -> dict[str, Any]:
    """The FreshBooks invoice for `document`, billed to client `client_id`.

    - `create_date` is the document's issue date; FreshBooks derives the due date from
      `due_offset_days` (the connector's payment terms).
    - Each line is a normal line (`type` 0) with `qty` and `unit_cost` `{"amount": "12.50", "code":
      "USD"}` as decimal strings (never floats). Its `name` is the FreshBooks item's name when the line's
      SKU is in `item_lookup` (SKU → FreshBooks item), else the line's description.
    - Tax: `taxName1` + `taxAmount1`, where `taxAmount1` is the tax *percentage* ("8.25"), as FreshBooks
      expects; FreshBooks computes the tax amount itself.
    - A line discount becomes its own line with a negative unit cost and the same tax, because FreshBooks
      lines carry no discount of their own (qty × unit_cost must stay exact).
    - `marker` (the idempotency marker) goes into `po_number`, which `find_invoice_by_marker` reads
      back; the source's own purchase order, if any, goes into `notes` with the memo.
    """
    check_deliverable(document, currency)
    code = document.currency
    lines: list[dict[str, Any]] = []
    for line in document.lines:
        item = item_lookup.get(line.sku) if line.sku else None
        name = (item or {}).get("name") or line.description or line.sku or f"Line {line.position}"
        entry: dict[str, Any] = {
            "type": LINE_TYPE_NORMAL,
            "name": name,
            "description": line.description or (item or {}).get("description") or "",
            "qty": decimal_text(line.quantity),
            "unit_cost": money(line.unit_price, code),
        }
        tax = _line_tax(document, line)
        entry.update(tax)
        lines.append(entry)
        if line.discount:
            lines.append(
                {
                    "type": LINE_TYPE_NORMAL,
                    "name": "Discount",
                    "description": f"Discount on line {line.position}"
                    + (f": {line.description}" if line.description else ""),
                    "qty": "1",
                    "unit_cost": money(-line.discount, code),
                    **tax,
                }
            )
    payload: dict[str, Any] = {
        "customerid": _id_value(client_id),
        "create_date": document.issue_date.isoformat(),
        "due_offset_days": due_offset_days,
        "currency_code": code,
        "lines": lines,
    }
    if marker:
        payload["po_number"] = marker
    notes = [document.memo] if document.memo else []
    if document.purchase_order:
        notes.append(f"Customer PO: {document.purchase_order}")
    if notes:
        payload["notes"] = "\n".join(notes)
    terms = document.payment_terms.description if document.payment_terms else None
    if terms:
        payload["terms"] = terms
    return payload


def expected_total(payload: Mapping[str, Any], currency: str) -> Decimal:
    """The total FreshBooks will compute for an invoice payload: each line's amount is qty × unit cost in
    the currency's minor unit; each tax (name, percentage) is charged on the sum of the amounts of the lines
    carrying it, rounded half-up once per invoice (not per line). Assumption from FreshBooks' invoice
    documentation (taxes are summed per tax on the invoice) and observed totals; `add_rounding_adjustment`
    relies on it and the target checks the real total afterwards."""
    bases: dict[tuple[str, Decimal], Decimal] = {}
    subtotal = Decimal(0)
    for line in payload.get("lines", []):
        amount = round_money(Decimal(line["qty"]) * Decimal(line["unit_cost"]["amount"]), currency)
        subtotal += amount
        percent = _decimal_or_none(line.get("taxAmount1"))
        if percent:
            key = (str(line.get("taxName1") or ""), percent)
            bases[key] = bases.get(key, Decimal(0)) + amount
    taxes = sum(
        (round_money(base * percent / 100, currency) for (_, percent), base in bases.items()), Decimal(0)
    )
    return subtotal + taxes


def add_rounding_adjustment(payload: dict[str, Any], document: Document, limit: Decimal) -> Decimal:
    """Even out a difference between the source's total and FreshBooks' (`expected_total`) of at most `limit`
    with a "Rounding adjustment" line (untaxed), so the bookkeeper's invoice total is the source's to the
    cent. Returns the adjustment (0 when none was needed or the difference is larger than `limit`, which is
    then not a rounding difference and is left for the target to report)."""
    currency = document.currency
    difference = document.totals.total - expected_total(payload, currency)
    if not difference or abs(difference) > limit:
        return Decimal(0)
    payload["lines"].append(
        {
            "type": LINE_TYPE_NORMAL,
            "name": ROUNDING_ADJUSTMENT,
            "description": f"Tax rounding: the total of {document.number} is {document.totals.total}",
            "qty": "1",
            "unit_cost": money(difference, currency),
        }
    )
    return difference


def _line_tax(document: Document, line: Line) -> dict[str, Any]:
    if not line.tax_rate:
        return {}
    tax = next((t for t in document.taxes if t.rate == line.tax_rate), None)
    name = line.tax_code or (tax.code if tax and tax.code else None) or (tax.name if tax else None)
    return {"taxName1": name or DEFAULT_TAX_NAME, "taxAmount1": decimal_text(line.tax_rate)}


def invoice_marker_of(invoice: Mapping[str, Any]) -> str | None:
    """The idempotency marker an invoice was created with (its `po_number`), if any."""
    marker = invoice.get("po_number")
    return (marker.strip() or None) if isinstance(marker, str) else None


def invoice_id_of(invoice: Mapping[str, Any]) -> str:
    """A FreshBooks invoice's id (`id`, or `invoiceid` on older payloads) as a string."""
    return _required_id(invoice, ("id", "invoiceid"), "invoice")


def invoice_number_of(invoice: Mapping[str, Any]) -> str:
    """The invoice number FreshBooks assigned (`invoice_number`); its id if it sent none."""
    number = invoice.get("invoice_number")
    if number is None or str(number).strip() == "":
        return invoice_id_of(invoice)
    return str(number).strip()


def invoice_total_of(invoice: Mapping[str, Any]) -> Decimal | None:
    """The invoice's total (`amount.amount`) as FreshBooks computed it, if it sent one."""
    amount = invoice.get("amount")
    return _decimal_or_none(amount.get("amount")) if isinstance(amount, Mapping) else None


def invoice_outstanding_of(invoice: Mapping[str, Any]) -> Decimal | None:
    """What is still owed on the invoice (`outstanding.amount`, a decimal string), if FreshBooks sent it."""
    outstanding = invoice.get("outstanding")
    return _decimal_or_none(outstanding.get("amount")) if isinstance(outstanding, Mapping) else None


def invoice_is_settled(invoice: Mapping[str, Any]) -> bool:
    """Whether nothing is owed on the invoice: `outstanding` is zero (or, when FreshBooks sent no
    `outstanding`, its `payment_status` is `paid` or `auto-paid`)."""
    outstanding = invoice_outstanding_of(invoice)
    if outstanding is not None:
        return outstanding <= 0
    return invoice.get("payment_status") in SETTLED_PAYMENT_STATUSES


def payment_invoice_id_of(payment: Mapping[str, Any]) -> str | None:
    """The invoice a FreshBooks payment pays (`invoiceid`), if any (a payment can be an overpayment)."""
    value = payment.get("invoiceid")
    return str(value) if value not in (None, "", 0, "0") else None


# -- payments ---------------------------------------------------------------------------------------------


def payment_type(method: str | None) -> str:
    """FreshBooks payment `type` for one of our method names (unknown or missing → "Other")."""
    if not method:
        return OTHER_PAYMENT_TYPE
    key = re.sub(r"[\s\-]+", "_", method.strip().casefold())
    return PAYMENT_TYPES.get(key, OTHER_PAYMENT_TYPE)


def payment_note(transaction_id: str) -> str:
    return f"{PAYMENT_NOTE_PREFIX}{transaction_id}"


def payment_payload(payment: Payment, invoice_id: str | int) -> dict[str, Any]:
    """The FreshBooks payment for `payment` on invoice `invoice_id`.

    The shop's transaction id is written into `note` ("Transaction <id>"), which `transaction_id_of`
    reads back so that a payment is recorded once per transaction.
    """
    if not payment.transaction_id:
        raise MappingError(
            "payment has no transaction id, so it cannot be recorded exactly once", partner=PARTNER
        )
    return {
        "invoiceid": _id_value(invoice_id),
        "amount": money(payment.amount, payment.currency),
        "date": payment.date.isoformat(),
        "type": payment_type(payment.method),
        "note": payment_note(payment.transaction_id),
    }


def transaction_id_of(payment: Mapping[str, Any]) -> str | None:
    """The transaction id a FreshBooks payment was recorded with (from its note), if any."""
    note = payment.get("note")
    if not isinstance(note, str):
        return None
    match = _TRANSACTION_IN_NOTE.search(note)
    return match.group(1) if match else None


def payment_id_of(payment: Mapping[str, Any]) -> str:
    return _required_id(payment, ("id", "paymentid", "logid"), "payment")


# -- ids, money, numbers ----------------------------------------------------------------------------------


def client_id_of(client: Mapping[str, Any]) -> str:
    return _required_id(client, ("id", "userid"), "client")


def item_id_of(item: Mapping[str, Any]) -> str:
    return _required_id(item, ("id", "itemid"), "item")


def callback_id_of(callback: Mapping[str, Any]) -> str:
    return _required_id(callback, ("callbackid", "id"), "callback")


def is_active(record: Mapping[str, Any]) -> bool:
    """FreshBooks `vis_state`: 0 active, 1 deleted, 2 archived (absent: active)."""
    return record.get("vis_state", VIS_STATE_ACTIVE) in (VIS_STATE_ACTIVE, None)


def money(amount: Decimal, currency: str) -> dict[str, str]:
    """FreshBooks money: `{"amount": "<decimal string>", "code": "<ISO 4217>"}`.

    The amount has the currency's minor-unit places ("12.50", "1000" for JPY); a price finer than the
    minor unit (0.125) keeps its own digits rather than being rounded here.
    """
    code = currency.upper()
    quantum = Decimal(1).scaleb(-minor_units(code))
    rounded = amount.quantize(quantum)
    text = f"{rounded:f}" if rounded == amount else decimal_text(amount)
    return {"amount": text, "code": code}


def decimal_text(value: Decimal) -> str:
    """A Decimal as a plain decimal string without exponent or trailing zeros: 8.250 → "8.25", 10 → "10"."""
    normalized = value.normalize()
    text = f"{normalized:f}"
    return "0" if text in ("-0", "") else text


def _decimal_or_none(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return None


def _id_value(value: str | int) -> int | str:
    """FreshBooks ids are integers; keep a non-numeric id as the string it is."""
    text = str(value).strip()
    return int(text) if text.isdigit() else text


def _required_id(record: Mapping[str, Any], keys: tuple[str, ...], what: str) -> str:
    for key in keys:
        value = record.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    raise MappingError(f"freshbooks sent a {what} without an id", partner=PARTNER)
