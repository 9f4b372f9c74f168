"""ServiceTrade invoice JSON → canonical `Document` (the only place ServiceTrade invoices are read).

See the package docstring for the fields and the rules.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from ...errors import MappingError
from ...models import (
    Address,
    Document,
    DocumentKind,
    DocumentStatus,
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
    shown,
    text_value,
)

PARTNER = "servicetrade"
INVOICE_TYPE = "invoice"
OTHER_TYPES = frozenset({"vendorbill", "external"})  # listed with invoices, but not ours to transfer
MAX_PAYMENT_TERM_DAYS = 3660  # ten years: beyond that a due date is garbage (or beyond year 9999)
_STATUSES = {"draft": DocumentStatus.DRAFT, "void": DocumentStatus.VOID}


def invoice_to_document(payload: dict[str, Any]) -> Document:
    """Map a ServiceTrade invoice to a canonical `Document`.

    Raises MappingError with a reason a bookkeeper can act on, naming the invoice and the field
    ("invoice 1042 has no customer", "invoice 1043: transactionDate '31/02/2026' is not a date",
    "invoice 1044: subtotal 1e+30 is out of range (...)"), and carrying the payload (`raw`) so it can be
    archived. Whatever else mapping this one invoice raises becomes its MappingError too (see
    `payload.mapping_error`): one poison invoice never stops the poll it is in.
    """
    if not isinstance(payload, dict) or payload.get("id") is None:
        raise MappingError("servicetrade invoice has no id", partner=PARTNER)
    label = f"invoice {label_text(payload['id'])}"
    return map_record(label, lambda: _document(payload, label), partner=PARTNER, raw=payload)


def _document(payload: dict[str, Any], label: str) -> Document:
    kind = _kind(payload)
    # Canonical credit notes carry positive amounts: turn a credit's negative amounts around.
    sign = -1 if kind is DocumentKind.CREDIT_NOTE else 1
    number = text_value(payload.get("invoiceNumber"))
    if number is None:
        raise PayloadProblem("invoiceNumber", missing=True)
    issue_date = _date(payload.get("transactionDate"), "transactionDate")
    if issue_date is None:
        raise PayloadProblem("transactionDate", missing=True)
    currency = currency_code(payload.get("currency"), "currency", default="USD")
    raw_rate = payload.get("taxRate")
    tax_rate = Decimal(0) if raw_rate is None else decimal_value(raw_rate, "taxRate")
    lines = _lines(payload.get("items"), tax_rate, sign)
    totals = Totals(
        subtotal=round_money(sign * money_field(payload, "subtotal"), currency),
        tax_total=round_money(sign * money_field(payload, "totalTax"), currency),
        total=round_money(sign * money_field(payload, "totalPrice"), currency),
    )
    location = payload.get("location") if isinstance(payload.get("location"), dict) else {}
    return Document(
        kind=kind,
        number=number,
        issue_date=issue_date,
        due_date=_date(payload.get("dueDate"), "dueDate"),
        currency=currency,
        seller=_seller(payload.get("vendor")),
        buyer=_buyer(payload.get("customer"), location),
        lines=lines,
        taxes=_taxes(lines, tax_rate, totals.tax_total, currency),
        totals=totals,
        payment_terms=_payment_terms(payload.get("paymentTerms")),
        status=_STATUSES.get(str(payload.get("status")), DocumentStatus.ISSUED),
        purchase_order=text_value(payload.get("poNumber")),
        memo=_memo(payload.get("job"), location),
        external_refs=[
            ExternalRef(
                system=PARTNER, id=str(payload["id"]), number=number, url=text_value(payload.get("uri"))
            )
        ],
    )


def _kind(payload: dict[str, Any]) -> DocumentKind:
    """An invoice, or a credit note when its total is negative (ServiceTrade has no credit type)."""
    invoice_type = payload.get("type")
    if invoice_type not in (None, INVOICE_TYPE):
        raise PayloadProblem(f"type {invoice_type!r} is not an invoice for accounting")
    return DocumentKind.CREDIT_NOTE if money_field(payload, "totalPrice") < 0 else DocumentKind.INVOICE


def is_accounting_invoice(payload: dict[str, Any]) -> bool:
    """Whether a listed record is an invoice for accounting (not a vendor bill or an external invoice)."""
    return payload.get("type") in (None, INVOICE_TYPE)


def _buyer(customer: object, location: dict[str, Any]) -> Party:
    if not customer:
        raise PayloadProblem("customer", missing=True)
    if not isinstance(customer, dict):
        raise PayloadProblem(f"customer {customer!r} is not a customer record")
    if customer.get("id") is None:
        raise PayloadProblem("customer id", missing=True)
    name = text_value(customer.get("name"))
    if name is None:
        raise PayloadProblem(f"customer {customer['id']} has no name")
    return Party(
        name=name,
        account_number=text_value(customer.get("accountNumber")),
        email=text_value(customer.get("email")),
        phone=text_value(customer.get("phone")),
        address=_address(location.get("address")),
        external_refs=[
            ExternalRef(system=PARTNER, id=str(customer["id"]), url=text_value(customer.get("uri")))
        ],
    )


def _seller(vendor: object) -> Party | None:
    if not isinstance(vendor, dict) or text_value(vendor.get("name")) is None:
        return None
    refs = [ExternalRef(system=PARTNER, id=str(vendor["id"]))] if vendor.get("id") is not None else []
    return Party(name=text_value(vendor["name"]), external_refs=refs)


def _address(address: object) -> Address | None:
    if not isinstance(address, dict):
        return None
    country = text_value(address.get("country"))
    result = Address(
        line1=text_value(address.get("street")),
        city=text_value(address.get("city")),
        region=text_value(address.get("state")),
        postal_code=text_value(address.get("postalCode")),
        country=country.upper() if country and len(country) == 2 else None,
    )
    return result if any(result.model_dump().values()) else None


def _lines(items: object, tax_rate: Decimal, sign: int) -> list[Line]:
    if not isinstance(items, list) or not items:
        raise PayloadProblem("items", missing=True)
    lines = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise PayloadProblem(f"item {position} is not an item record")
        what = f"item {position}" + (f" (id {item['id']})" if item.get("id") is not None else "")
        if item.get("price") is None:
            raise PayloadProblem(f"{what} has no price")
        service_line = item.get("serviceLine") if isinstance(item.get("serviceLine"), dict) else {}
        lib_item = item.get("libItem") if isinstance(item.get("libItem"), dict) else {}
        net = item.get("totalPrice")
        lines.append(
            Line(
                position=position,
                description=text_value(item.get("description")) or "",
                sku=text_value(lib_item.get("code")),
                item_code=text_value(service_line.get("abbr")),
                quantity=decimal_value(item.get("quantity", 1), f"{what} quantity"),
                unit_price=sign * decimal_value(item["price"], f"{what} price"),
                net_amount=None if net is None else sign * decimal_value(net, f"{what} totalPrice"),
                tax_rate=tax_rate if item.get("taxable") is True and tax_rate else None,
            )
        )
    return lines


def _taxes(lines: list[Line], rate: Decimal, tax_total: Decimal, currency: str) -> list[Tax]:
    """The invoice's one tax, as ServiceTrade computed it (the model checks it against the lines)."""
    if not rate:
        if tax_total:
            raise PayloadProblem(f"totalTax {tax_total} is charged without a taxRate")
        return []
    taxable = [ln for ln in lines if ln.tax_rate]
    nets = (ln.quantity * ln.unit_price if ln.net_amount is None else ln.net_amount for ln in taxable)
    base = round_money(sum(nets, Decimal(0)), currency)
    return [Tax(name="Sales tax", rate=rate, taxable_amount=base, amount=tax_total)]


def _payment_terms(terms: object) -> PaymentTerms | None:
    if not isinstance(terms, dict):
        return None
    days = terms.get("days")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 0):
        raise PayloadProblem(f"paymentTerms days {shown(days)} is not a number of days")
    if days is not None and days > MAX_PAYMENT_TERM_DAYS:
        raise PayloadProblem(f"paymentTerms days {shown(days)} is more than {MAX_PAYMENT_TERM_DAYS} days")
    return PaymentTerms(description=text_value(terms.get("name")), due_offset_days=days)


def _memo(job: object, location: dict[str, Any]) -> str | None:
    parts = []
    if isinstance(job, dict) and text_value(job.get("number")):
        parts.append(f"Job {text_value(job['number'])}")
    if text_value(location.get("name")):
        parts.append(f"Location {text_value(location['name'])}")
    return "; ".join(parts) or None


def _date(value: object, field: str) -> dt.date | None:
    """The UTC date of a Unix timestamp (seconds, as a number or a string of digits)."""
    if value is None:
        return None
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        seconds = int(value)
    try:
        if seconds is None:
            raise ValueError
        date = dt.datetime.fromtimestamp(seconds, tz=dt.UTC).date()
    except (ValueError, OverflowError, OSError):
        raise PayloadProblem(f"{field} {value!r} is not a date") from None
    if date.year not in PLAUSIBLE_YEARS:
        raise PayloadProblem(f"{field} {value!r} is not a plausible date ({date.isoformat()})")
    return date
