"""Shop adapter: the eCommerce platform's REST client and its order, customer, payment and product mappers.

Flow 3 of the design: webhooks from the shop (`order.created`, `customer.updated`, `payment.captured`,
signed per Standard Webhooks and verified elsewhere) carry these records; the delivery pipeline maps them
here and nowhere else, fetches fresh copies through `ShopClient`, syncs the catalogue from `products()`
and, when FreshBooks reports an invoice paid, calls `mark_order_paid()`.

The shop's API is not public; this is the shape we integrate against (the sandbox in
`local/sandboxes/shop.py` implements exactly this; check it against the merchant's platform before
go-live):

- Base URL = the connector's `base_url`; resources under `/v1`. JSON only, keys in camelCase, ids are
  strings (numbers are accepted and read with `str()`). A single resource is the bare object; a listing
  is `{"data": [...], "nextCursor": "<opaque>" | null}`.
- Auth: header `X-Api-Key: <api_key>` on every call (the secret is `{"api_key": "..."}`). Missing or wrong
  key → 401. Errors are `{"error": {"code": "<machine_code>", "message": "<text>"}}`; rate limiting is
  429 with `Retry-After` (seconds).
- Listings (`GET /v1/products`, `/v1/orders`, `/v1/customers`, `/v1/payments`) take `limit` (1..250,
  default 50), `updatedSince` (ISO 8601 with a zone; *inclusive*: records with updatedAt ≥ it) and
  `cursor` (the previous page's `nextCursor`). They are ordered by (updatedAt, id) and paged by keyset,
  not by page number: a record changed while we page moves behind the cursor and is listed again later,
  instead of shifting the pages and making us skip a neighbour. So an incremental sync may see a record
  twice (upserts by SKU are harmless) but never misses one; `updatedSince` = the newest `updatedAt`
  already synced is safe because the filter is inclusive.
- `GET /v1/orders/{id}`, `/v1/customers/{id}`, `/v1/payments/{id}`, `/v1/products/{sku}`; unknown → 404.
- `POST /v1/orders/{id}/mark-paid` `{"paidAt": "<ISO>", "reference": "<text>" | null}` → 200 with the
  order (status `paid`, paymentStatus `paid`, `paidAt`, `paymentReference`, new `updatedAt`). Already
  paid → 409 code `order_already_paid`; cancelled → 409 code `order_cancelled`. Marking paid creates no
  captured payment and sends no `payment.captured` webhook (the money was received outside the shop;
  an echo would record the FreshBooks payment a second time).

Records (money is a decimal *string* such as "24.00"; numbers are accepted and read through `str()`):

- order: `{"id", "number", "orderDate" (ISO date-time with the store's UTC offset, e.g.
  "2026-11-16T21:45:00-06:00"), "currency", "customer": <customer, a snapshot taken at checkout; its "id"
  is null for a guest checkout>, "lineItems": [{"sku" (null for a custom line), "name", "description",
  "quantity" (number), "unitPrice", "discount" (optional amount off the line, default "0"), "taxRate"
  (percent string such as "8.25", or null: not taxed)}], "pricesIncludeTax" (false; true is rejected),
  "subtotal", "taxTotal", "total", "status": "open" | "paid" | "cancelled", "paymentStatus": "pending" |
  "paid" | "refunded", "paidAt", "paymentReference", "updatedAt"}`. Shipping and fees are line items.
  The shop rounds tax either per rate or per line (half-up to the currency's minor unit); both are
  accepted when they give exactly `taxTotal`.
- customer: `{"id", "email", "firstName", "lastName", "company", "phone", "billingAddress": {"line1",
  "line2", "city", "region", "postalCode", "country" (ISO 3166-1 alpha-2)}, "updatedAt"}`.
- product: `{"id", "sku", "name", "description", "price", "currency", "taxRate", "updatedAt"}`.
- payment (captured): `{"id", "orderId", "amount", "currency", "capturedAt" (ISO date-time with the
  store's offset), "method": "card" | "paypal" | "bank_transfer" | "gift_card" | ..., "transactionId",
  "status": "captured"}`.
- webhook data: `order.created` → the order, `customer.updated` → the customer, `payment.captured` →
  the payment (`event_ref()` gives each one's id and version).

Mapping rules: an order is an invoice numbered with the order number, dated with orderDate's calendar
date *in the store's own offset* (an order at 21:45 −06:00 is that day's, not the next UTC day's); a
line's description is its name, followed by " — " and its description when it has one; the buyer's
display name is the company, else "first last", else the e-mail; a payment's date is capturedAt's date in
its own offset. Every mapped record carries `ExternalRef(system="shop", id=<shop id>)` (an order's also
its number). Problems raise `MappingError` with a reason naming the record and the field.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from ..errors import ConfigurationError, MappingError, PermanentError, TransientError
from ..http import PartnerClient, raise_for_partner_status, transport_error
from ..models import (
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
from .base import SourceRef
from .payload import (
    PLAUSIBLE_YEARS,
    PayloadProblem,
    currency_code,
    decimal_value,
    money_field,
    text_value,
    validation_reason,
)

if TYPE_CHECKING:
    from ..connector import ShopSourceConfig

log = logging.getLogger(__name__)

PARTNER = "shop"
API_PREFIX = "/v1"
API_KEY_HEADER = "X-Api-Key"
MAX_PAGE_SIZE = 250
ALREADY_PAID = "order_already_paid"

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


class ShopCredentials(BaseModel):
    """The shop's API key (Secrets Manager: `{"api_key": "..."}`)."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    api_key: SecretStr = Field(min_length=1)


# -- client ---------------------------------------------------------------------------------------------


class ShopClient(PartnerClient):
    """The shop's REST API for one store (see the module docstring for its shape).

    Every failure is a domain error from `invoice_relay.errors` (via `raise_for_partner_status` and
    `transport_error`): 401/403 → AuthenticationError, 404 and other 4xx → PermanentError (with
    `.status`), 429/5xx/timeouts → TransientError. The API key is never logged or put into an error.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | SecretStr,
        *,
        session: requests.Session | None = None,
        page_size: int = 100,
    ):
        if not re.match(r"^https?://[^/\s]+", base_url or ""):
            raise ConfigurationError("shop base_url must be an http(s) URL")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigurationError(f"shop page size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        super().__init__(partner=PARTNER, session=session)
        self.page_size = page_size

    def __repr__(self) -> str:
        return f"ShopClient({self.base_url!r})"

    # -- records --------------------------------------------------------------------------------------------

    def order(self, order_id: str | int) -> dict[str, Any]:
        """One order (GET /v1/orders/{id}). PermanentError with status 404 if the shop has no such order."""
        return self._object("GET", f"/orders/{_segment(order_id)}")

    def customer(self, customer_id: str | int) -> dict[str, Any]:
        """One customer (GET /v1/customers/{id})."""
        return self._object("GET", f"/customers/{_segment(customer_id)}")

    def payment(self, payment_id: str | int) -> dict[str, Any]:
        """One captured payment (GET /v1/payments/{id})."""
        return self._object("GET", f"/payments/{_segment(payment_id)}")

    def products(self, updated_since: dt.datetime | None = None) -> Iterator[dict[str, Any]]:
        """Every product, or those with updatedAt ≥ `updated_since` (timezone-aware), oldest change first.

        Pages with the shop's keyset cursor; a product changed during the walk may be yielded twice
        (once more at its new place), never skipped.
        """
        params: dict[str, Any] = {"limit": self.page_size}
        if updated_since is not None:
            if updated_since.tzinfo is None:
                raise ValueError("updated_since must be timezone-aware")
            params["updatedSince"] = _iso_utc(updated_since)
        while True:
            page = self._object("GET", "/products", params=params)
            records, cursor = page.get("data"), page.get("nextCursor")
            if not isinstance(records, list) or not (cursor is None or isinstance(cursor, str)):
                raise PermanentError(
                    "shop sent an unexpected product list: expected data and nextCursor", partner=PARTNER
                )
            yield from records
            if not cursor:
                return
            params["cursor"] = cursor

    def mark_order_paid(
        self, order_id: str | int, *, paid_at: dt.datetime | str, reference: str | None
    ) -> dict[str, Any]:
        """Mark an order paid (FreshBooks `invoice.paid` → shop) and return the order as it now is.

        Idempotent: an order that is already paid is left alone (no call that changes it), also when it
        became paid between our look and our request (the shop's 409 `order_already_paid`). A cancelled
        order is a PermanentError. `paid_at` is a timezone-aware datetime or an ISO 8601 string with a
        zone; `reference` (e.g. the FreshBooks invoice) is recorded on the order.
        """
        paid_at_iso = _paid_at(paid_at)
        order = self.order(order_id)
        if order.get("status") == "paid":
            log.info("shop: order %s is already paid", order_id)
            return order
        path = f"/orders/{_segment(order_id)}/mark-paid"
        response = self._send("POST", path, json={"paidAt": paid_at_iso, "reference": reference})
        if response.status_code == 409 and _error_code(response) == ALREADY_PAID:
            log.info("shop: order %s was paid meanwhile", order_id)
            return self.order(order_id)
        log.info("shop: order %s marked paid (%s)", order_id, reference)
        return self._json_object(response, "POST", path)

    # -- plumbing -------------------------------------------------------------------------------------------

    def _object(self, method: str, path: str, *, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._json_object(self._send(method, path, params=params), method, path)

    def _json_object(self, response: requests.Response, method: str, path: str) -> dict[str, Any]:
        raise_for_partner_status(response, PARTNER)
        try:
            body = response.json()
        except ValueError:
            raise TransientError(
                f"shop answered {method} {API_PREFIX}{path} with HTTP {response.status_code} but no JSON",
                partner=PARTNER,
                status=response.status_code,
            ) from None
        if not isinstance(body, dict):
            raise PermanentError(
                f"shop answered {method} {API_PREFIX}{path} without a JSON object", partner=PARTNER
            )
        return body

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {API_KEY_HEADER: self._api_key.get_secret_value()}
        try:
            return self.session.request(
                method, f"{self.base_url}{API_PREFIX}{path}", headers=headers, **kwargs
            )
        except requests.RequestException as exc:
            raise transport_error(exc, PARTNER) from exc


def _segment(record_id: str | int) -> str:
    text = str(record_id).strip()
    if not text:
        raise PermanentError("a shop record id is empty", partner=PARTNER)
    return quote(text, safe="")


def _iso_utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _paid_at(value: dt.datetime | str) -> str:
    moment = value
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"paid_at {value!r} is not an ISO 8601 date-time") from None
    if not isinstance(moment, dt.datetime) or moment.tzinfo is None:
        raise ValueError(f"paid_at {value!r} must be a timezone-aware date-time")
    return _iso_utc(moment)


def _error_code(response: requests.Response) -> str | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("code") if isinstance(error, dict) else None


# -- adapter --------------------------------------------------------------------------------------------


class ShopAdapter:
    """The shop as a connector's source: its client plus fetch-and-map helpers."""

    system = PARTNER

    def __init__(self, client: ShopClient):
        self.client = client

    @classmethod
    def from_config(
        cls,
        config: ShopSourceConfig,
        credentials: dict[str, Any],
        *,
        session: requests.Session | None = None,
    ) -> ShopAdapter:
        """An adapter for a connector's `ShopSourceConfig` and its credentials secret (`{"api_key"}`).
        ConfigurationError when the key is missing (never showing its value)."""
        try:
            creds = ShopCredentials.model_validate(credentials or {})
        except ValidationError:
            raise ConfigurationError("shop credentials are incomplete or invalid: api_key") from None
        return cls(ShopClient(config.base_url, creds.api_key, session=session))

    def __enter__(self) -> ShopAdapter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def fetch_order(self, order_id: str | int) -> tuple[Document, dict[str, Any]]:
        """The order, fresh from the shop, and its Document. MappingError carries the payload as `.raw`."""
        return _mapped(self.client.order(order_id), order_to_document)

    def fetch_customer(self, customer_id: str | int) -> tuple[Customer, dict[str, Any]]:
        """The customer, fresh from the shop, and its canonical Customer."""
        return _mapped(self.client.customer(customer_id), customer_to_customer)

    def fetch_payment(self, payment_id: str | int) -> tuple[Payment, dict[str, Any]]:
        """The payment and its canonical Payment, numbered with its order's number (fetched too)."""
        payment = self.client.payment(payment_id)
        order = self.client.order(payment_order_id(payment))
        return _mapped(payment, lambda raw: payment_to_payment(raw, order))


def _mapped(raw: dict[str, Any], mapper: Callable[[dict[str, Any]], Any]) -> tuple[Any, dict[str, Any]]:
    try:
        return mapper(raw), raw
    except MappingError as exc:
        exc.raw = raw
        raise


# -- mapping --------------------------------------------------------------------------------------------


def _mapping(
    kind: str,
    payload: object,
    id_field: str,
    build: Callable[[dict[str, Any]], Any],
    *,
    label_field: str | None = None,
) -> Any:
    """Run `build(payload)` for one record, turning every problem into a MappingError naming the record."""
    if not isinstance(payload, dict):
        raise MappingError(f"shop {kind} is not a JSON object", partner=PARTNER)
    if text_value(payload.get(id_field)) is None:
        raise MappingError(f"shop {kind} has no {id_field}", partner=PARTNER)
    name = text_value(payload.get(label_field)) if label_field else None
    label = f"shop {kind} {name or payload[id_field]}"
    try:
        return build(payload)
    except PayloadProblem as problem:
        raise MappingError(problem.reason(label), partner=PARTNER) from None
    except ValidationError as exc:
        raise MappingError(f"{label}: {validation_reason(exc)}", partner=PARTNER) from exc


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
    """The id of the order a shop payment pays. MappingError if it has none."""
    return _mapping("payment", payment, "id", lambda p: _required_text(p, "orderId"))


def event_ref(event_type: str, data: dict[str, Any]) -> SourceRef:
    """The record a shop webhook is about: its id and version (`updatedAt`; a payment's `capturedAt`).

    `order.created` → the order (with its number), `customer.updated` → the customer, `payment.captured`
    → the payment. PermanentError for another event type, MappingError for data without id or version.
    """
    version_field = {
        "order.created": "updatedAt",
        "customer.updated": "updatedAt",
        "payment.captured": "capturedAt",
    }
    if event_type not in version_field:
        raise PermanentError(f"shop event type {event_type!r} is not supported", partner=PARTNER)
    kind = event_type.split(".")[0]

    def build(record: dict[str, Any]) -> SourceRef:
        number = text_value(record.get("number")) if kind == "order" else None
        return SourceRef(
            id=str(record["id"]).strip(),
            version=_required_text(record, version_field[event_type]),
            number=number,
        )

    return _mapping(kind, data, "id", build, label_field="number" if kind == "order" else None)


def _document(order: dict[str, Any]) -> Document:
    number = _required_text(order, "number")
    issue_date = _datetime(order.get("orderDate"), "orderDate").date()
    currency = currency_code(order.get("currency"), "currency")
    if order.get("pricesIncludeTax") not in (None, False):
        raise PayloadProblem(
            f"pricesIncludeTax {order['pricesIncludeTax']!r}: only tax-exclusive prices are supported"
        )
    status = order.get("status")
    if status not in _ORDER_STATUSES:
        raise PayloadProblem(f"status {status!r} is not one of {', '.join(_ORDER_STATUSES)}")
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
        external_refs=[ExternalRef(system=PARTNER, id=str(order["id"]).strip(), number=number)],
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
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise PayloadProblem(f"{prefix}email {email!r} is not an e-mail address")
    first, last = text_value(customer.get("firstName")), text_value(customer.get("lastName"))
    company = text_value(customer.get("company"))
    person = " ".join(part for part in (first, last) if part) or None
    customer_id = text_value(customer.get("id"))  # None for a guest checkout
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
        raise PayloadProblem(f"status {status!r} is not 'captured'")
    order_id = _required_text(payment, "orderId")
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
        external_refs=[ExternalRef(system=PARTNER, id=str(payment["id"]).strip())],
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
    sku = str(product["sku"]).strip()
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
