"""The eCommerce shop: signed webhooks (orders, customers, payments), its product catalog, and "paid".

Flow 3 of the design: webhooks from the shop (`order.created`, `customer.updated`, `payment.captured`,
signed per Standard Webhooks, https://www.standardwebhooks.com) carry these records; this package maps
them (here and nowhere else) into canonical work for the connector's target, lists the catalogue for the
catalog sync, and marks an order paid when the target reports its invoice settled.

The shop's API is not public; this is the shape we integrate against (the sandbox in
`local/sandboxes/shop/` implements exactly this; check it against the merchant's platform before
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

from typing import Any

from ..capabilities import CATALOG_SOURCE, PAID_STATUS, WEBHOOK_SOURCE
from ..spec import PartnerSpec, SideSpec
from .config import ShopSourceConfig


def _open_source(config: ShopSourceConfig, context: Any) -> Any:
    from .source import ShopSource

    return ShopSource.from_config(config, context)


SPEC = PartnerSpec(
    system="shop",
    title="Shop (Standard Webhooks)",
    category="eCommerce",
    connection="API key; webhooks signed per Standard Webhooks",
    documents=("invoice", "customer", "payment", "product"),
    source=SideSpec(
        config=ShopSourceConfig,
        provides={WEBHOOK_SOURCE: _open_source, PAID_STATUS: _open_source, CATALOG_SOURCE: _open_source},
        triggers=("webhook", "scheduled"),
    ),
)
