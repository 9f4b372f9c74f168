"""Shop JSON → canonical models (orders, customers, payments, products): the only place shop records are
read. See the package docstring for the records and the mapping rules.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ...errors import MappingError, PermanentError
from ...models import (
    Address,
    Customer,
    Document,
    DocumentKind,
    DocumentStatus,
    ExternalRef,
    Line,
    Party,
    Payment,
    Product,
    Tax,
    Totals,
    round_money,
)
from ..capabilities import WorkRef
from ..payload import (
    PLAUSIBLE_YEARS,
    PayloadProblem,
    currency_code,
    decimal_value,
    id_value,
    label_text,
    map_record,
    money_field,
    shown,
    text_value,
)

PARTNER = "shop"
EVENT_VERSION_FIELDS = {
    "order.created": "updatedAt",
    "customer.updated": "updatedAt",
    "payment.captured": "capturedAt",
}

MAX_EMAIL_LENGTH = 254  # RFC 5321's limit on a forward path; the address becomes a cross-reference key

_ORDER_STATUSES = {
    "open": DocumentStatus.ISSUED,
    "paid": DocumentStatus.PAID,
    "cancelled": DocumentStatus.VOID,
}
_ADDRESS_FIELDS = {
    "line1": "line1",
    "line2": "line2",
    "city": "city",
    "region": "region",
    "postal_code": "postalCode",
}


def _mapping(
    kind: str,
    payload: object,
    id_field: str,
    build: Callable[[dict[str, Any]], Any],
    *,
    label_field: str | None = None,
) -> Any:
    """Run `build(payload)` for one record, turning every problem into a MappingError naming the record:
    a field's problem, a bound of the money model, and anything unexpected (a list where text belongs, an
    amount that cannot be computed) alike (see `payload.map_record`)."""
    if not isinstance(payload, dict):
        raise MappingError(f"shop {kind} is not a JSON object", partner=PARTNER)
    if text_value(payload.get(id_field)) is None:
        raise MappingError(f"shop {kind} has no {id_field}", partner=PARTNER, raw=payload)
    name = text_value(payload.get(label_field)) if label_field else None
    label = f"shop {kind} {label_text(name or payload[id_field])}"
    return map_record(label, lambda: build(payload), partner=PARTNER, raw=payload)


def order_to_document(order: dict[str, Any]) -> Document:
    """Map a shop order to a canonical invoice `Document` (see the module docstring for the rules).

    Raises MappingError naming the order (by number) and the field, e.g. "shop order 1005: line item 2
    (sku MUG-12OZ): unitPrice 'abc' is not a number".
    """
    return _mapping("order", order, "id", _document, label_field="number")


def order_customer(order: dict[str, Any]) -> Customer:
    """The customer of an order (its checkout snapshot) as a canonical `Customer`."""
    return _mapping(
        "order", order, "id", lambda o: _customer(o.get("customer"), "customer."), label_field="number"
    )


def customer_to_customer(customer: dict[str, Any]) -> Customer:
    """Map a shop customer record (`customer.updated`, GET /v1/customers/{id}) to a canonical `Customer`."""
    return _mapping("customer", customer, "id", lambda c: _customer(c, ""))


def payment_to_payment(payment: dict[str, Any], order: dict[str, Any] | None) -> Payment:
    """Map a captured shop payment to a canonical `Payment`.

    `document_number` is the order's number when the order is given (it must be the payment's order and
    in the same currency), else None.
    """
    return _mapping("payment", payment, "id", lambda p: _payment(p, order))


def product_to_product(product: dict[str, Any]) -> Product:
    """Map a shop product to a canonical `Product` (the catalogue is keyed by SKU)."""
    return _mapping("product", product, "sku", _product)


def payment_order_id(payment: dict[str, Any]) -> str:
    """The id of the order a shop payment pays. MappingError if it has none (or one that cannot be an id)."""
    return _mapping("payment", payment, "id", lambda p: id_value(p.get("orderId"), "orderId"))


def event_ref(event_type: str, data: dict[str, Any]) -> WorkRef:
    """The record a shop webhook is about: its id and version (`updatedAt`; a payment's `capturedAt`).

    `order.created` → the order (with its number), `customer.updated` → the customer, `payment.captured`
    → the payment. PermanentError for another event type, MappingError for data without id or version,
    or whose id, version or number breaks the id bounds (`payload.id_problem`: they become keys).
    """
    if event_type not in EVENT_VERSION_FIELDS:
        raise PermanentError(f"shop event type {event_type!r} is not supported", partner=PARTNER)
    kind = event_type.split(".")[0]

    def build(record: dict[str, Any]) -> WorkRef:
        number = text_value(record.get("number")) if kind == "order" else None
        return WorkRef(
            source_id=id_value(record.get("id"), "id"),
            version=id_value(record.get(EVENT_VERSION_FIELDS[event_type]), EVENT_VERSION_FIELDS[event_type]),
            number=None if number is None else id_value(number, "number"),
        )

    return _mapping(kind, data, "id", build, label_field="number" if kind == "order" else None)


def _document(order: dict[str, Any]) -> Document:
    number = id_value(order.get("number"), "number")
    issue_date = _datetime(order.get("orderDate"), "orderDate").date()
    currency = currency_code(order.get("currency"), "currency")
    if order.get("pricesIncludeTax") not in (None, False):
        raise PayloadProblem(
            f"pricesIncludeTax {order['pricesIncludeTax']!r}: only tax-exclusive prices are supported"
        )
    status = order.get("status")
    if not isinstance(status, str) or status not in _ORDER_STATUSES:
        raise PayloadProblem(f"status {shown(status)} is not one of {', '.join(_ORDER_STATUSES)}")
    lines = _lines(order.get("lineItems"))
    totals = Totals(
        subtotal=money_field(order, "subtotal"),
        tax_total=money_field(order, "taxTotal"),
        total=money_field(order, "total"),
    )
    buyer = _customer(order.get("customer"), "customer.")
    return Document(
        kind=DocumentKind.INVOICE,
        number=number,
        issue_date=issue_date,
        currency=currency,
        buyer=Party.model_validate(buyer.model_dump(include=set(Party.model_fields))),
        lines=lines,
        taxes=_taxes(lines, totals.tax_total, currency),
        totals=totals,
        status=_ORDER_STATUSES[status],
        external_refs=[ExternalRef(system=PARTNER, id=id_value(order.get("id"), "id"), number=number)],
    )


def _lines(items: object) -> list[Line]:
    if not isinstance(items, list) or not items:
        raise PayloadProblem("lineItems", missing=True)
    lines = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise PayloadProblem(f"line item {position} is not a line item record")
        sku = text_value(item.get("sku"))
        what = f"line item {position}" + (f" (sku {sku})" if sku else "")
        if item.get("unitPrice") is None:
            raise PayloadProblem(f"{what} has no unitPrice")
        if item.get("quantity") is None:
            raise PayloadProblem(f"{what} has no quantity")
        quantity = decimal_value(item["quantity"], f"{what}: quantity")
        if quantity <= 0:
            raise PayloadProblem(f"{what}: quantity {item['quantity']!r} is not positive")
        rate = None if item.get("taxRate") is None else decimal_value(item["taxRate"], f"{what}: taxRate")
        if rate is not None and rate < 0:
            raise PayloadProblem(f"{what}: taxRate {item['taxRate']!r} is negative")
        name, description = text_value(item.get("name")), text_value(item.get("description"))
        lines.append(
            Line(
                position=position,
                description=" — ".join(part for part in (name, description) if part),
                sku=sku,
                quantity=quantity,
                unit_price=decimal_value(item["unitPrice"], f"{what}: unitPrice"),
                discount=decimal_value(item.get("discount") or 0, f"{what}: discount"),
                tax_rate=rate,
            )
        )
    return lines


def _taxes(lines: list[Line], tax_total: Decimal, currency: str) -> list[Tax]:
    """The order's taxes per rate, rounded the way the shop rounded them (per rate or per line)."""
    nets: dict[Decimal, list[Decimal]] = {}
    for line in lines:
        if line.tax_rate:
            net = round_money(line.quantity * line.unit_price - line.discount, currency)
            nets.setdefault(line.tax_rate, []).append(net)
    per_rate = {rate: round_money(sum(n, Decimal(0)) * rate / 100, currency) for rate, n in nets.items()}
    per_line = {
        rate: sum((round_money(net * rate / 100, currency) for net in n), Decimal(0))
        for rate, n in nets.items()
    }
    for amounts in (per_rate, per_line):
        if sum(amounts.values(), Decimal(0)) == tax_total:
            return [
                Tax(name="Sales tax", rate=rate, taxable_amount=sum(nets[rate], Decimal(0)), amount=amount)
                for rate, amount in sorted(amounts.items())
            ]
    rate_sum, line_sum = (sum(amounts.values(), Decimal(0)) for amounts in (per_rate, per_line))
    raise PayloadProblem(
        f"taxTotal {tax_total} does not match the line items' taxes"
        f" ({rate_sum} rounded per rate, {line_sum} rounded per line)"
    )


def _customer(customer: object, prefix: str) -> Customer:
    """A customer record (or an order's checkout snapshot, `prefix` "customer.") as a Customer."""
    if customer is None:
        raise PayloadProblem(prefix.rstrip(".") or "customer", missing=True)
    if not isinstance(customer, dict):
        raise PayloadProblem(f"{prefix.rstrip('.') or 'customer'} {customer!r} is not a customer record")
    email = text_value(customer.get("email"))
    if email is None:
        raise PayloadProblem(f"{prefix}email", missing=True)
    if len(email) > MAX_EMAIL_LENGTH or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise PayloadProblem(f"{prefix}email {shown(email)} is not an e-mail address")
    first, last = text_value(customer.get("firstName")), text_value(customer.get("lastName"))
    company = text_value(customer.get("company"))
    person = " ".join(part for part in (first, last) if part) or None
    customer_id = text_value(customer.get("id"))  # None for a guest checkout
    if customer_id is not None:
        customer_id = id_value(customer_id, f"{prefix}id")
    return Customer(
        name=company or person or email,
        email=email,
        phone=text_value(customer.get("phone")),
        address=_address(customer.get("billingAddress"), f"{prefix}billingAddress"),
        first_name=first,
        last_name=last,
        organization=company,
        external_refs=[ExternalRef(system=PARTNER, id=customer_id)] if customer_id else [],
    )


def _address(address: object, field: str) -> Address | None:
    if address is None:
        return None
    if not isinstance(address, dict):
        raise PayloadProblem(f"{field} {address!r} is not an address")
    country = text_value(address.get("country"))
    if country is not None and not re.fullmatch(r"[A-Za-z]{2}", country):
        raise PayloadProblem(f"{field}.country {country!r} is not an ISO 3166-1 alpha-2 code")
    result = Address(
        **{ours: text_value(address.get(theirs)) for ours, theirs in _ADDRESS_FIELDS.items()},
        country=country.upper() if country else None,
    )
    return result if any(result.model_dump().values()) else None


def _payment(payment: dict[str, Any], order: dict[str, Any] | None) -> Payment:
    status = payment.get("status")
    if status not in (None, "captured"):
        raise PayloadProblem(f"status {shown(status)} is not 'captured'")
    order_id = id_value(payment.get("orderId"), "orderId")
    currency = currency_code(payment.get("currency"), "currency")
    amount = money_field(payment, "amount")
    if amount <= 0:
        raise PayloadProblem(f"amount {payment['amount']!r} is not positive")
    number = None
    if order is not None:
        if not isinstance(order, dict) or text_value(order.get("id")) != order_id:
            raise PayloadProblem(f"orderId {order_id!r} is not the order given ({_order_id(order)!r})")
        if (
            text_value(order.get("currency"))
            and currency_code(order["currency"], "order currency") != currency
        ):
            raise PayloadProblem(f"currency {currency} differs from order {order_id}'s {order['currency']}")
        number = text_value(order.get("number"))
        if number is None:
            raise PayloadProblem(f"order {order_id} has no number")
    return Payment(
        amount=amount,
        currency=currency,
        date=_datetime(payment.get("capturedAt"), "capturedAt").date(),
        method=text_value(payment.get("method")),
        transaction_id=text_value(payment.get("transactionId")),
        document_number=number,
        external_refs=[ExternalRef(system=PARTNER, id=id_value(payment.get("id"), "id"))],
    )


def _order_id(order: object) -> str | None:
    return text_value(order.get("id")) if isinstance(order, dict) else None


def _product(product: dict[str, Any]) -> Product:
    currency = currency_code(product.get("currency"), "currency")
    if product.get("price") is None:
        raise PayloadProblem("price", missing=True)
    price = decimal_value(product["price"], "price")
    if price < 0:
        raise PayloadProblem(f"price {product['price']!r} is negative")
    rate = None if product.get("taxRate") is None else decimal_value(product["taxRate"], "taxRate")
    if rate is not None and rate < 0:
        raise PayloadProblem(f"taxRate {product['taxRate']!r} is negative")
    sku = id_value(product.get("sku"), "sku")
    return Product(
        sku=sku,
        name=_required_text(product, "name"),
        description=text_value(product.get("description")),
        unit_price=price,
        currency=currency,
        tax_rate=rate,
        external_refs=[ExternalRef(system=PARTNER, id=text_value(product.get("id")) or sku)],
    )


# -- field readers --------------------------------------------------------------------------------------


def _required_text(record: dict[str, Any], field: str) -> str:
    text = text_value(record.get(field))
    if text is None:
        raise PayloadProblem(field, missing=True)
    return text


def _datetime(value: object, field: str) -> dt.datetime:
    """An ISO 8601 date-time, kept in its own offset (its `.date()` is the local calendar day)."""
    if value is None or value == "":
        raise PayloadProblem(field, missing=True)
    try:
        if not isinstance(value, str):
            raise ValueError
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise PayloadProblem(f"{field} {value!r} is not an ISO 8601 date-time") from None
    if moment.year not in PLAUSIBLE_YEARS:
        raise PayloadProblem(f"{field} {value!r} is not a plausible date")
    return moment
