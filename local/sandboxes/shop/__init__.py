"""Sandbox shop: the eCommerce platform's REST API (orders, customers, products, payments) and its
Standard-Webhooks-signed webhooks, so flow 3 can be tested and demonstrated without a store.

The API is the one written down in `invoice_relay.partners.shop` (package docstring): `/v1` resources,
`X-Api-Key` auth (401 without or with a wrong key), `{"error": {"code", "message"}}` errors, keyset-paged
listings `{"data": [...], "nextCursor"}` ordered by (updatedAt, id) with an inclusive `updatedSince`,
and `POST /v1/orders/{id}/mark-paid` (409 `order_already_paid` / `order_cancelled`; no payment is
captured). On top of the shared sandbox plumbing (faults, request log, rate limit: see `base.py`).

Webhooks follow the Standard Webhooks specification (https://www.standardwebhooks.com, spec
`standard-webhooks.md`, version 1.0.0): `subscribe(url, secret)` and then `emit(...)` POSTs the
recommended payload `{"type", "timestamp", "data"}` with headers `webhook-id` (the same on every
redelivery), `webhook-timestamp` (Unix seconds of the attempt) and `webhook-signature:
v1,<base64 HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{body}">`, keyed with the base64-decoded
part of the `whsec_...` secret (several secrets → several space-separated signatures, as during a
rotation). A secret may be written without its base64 padding (`SANDBOX_UNPADDED_WEBHOOK_SECRET`): the
reference library pads it before decoding (standard-webhooks `libraries/python/standardwebhooks/
webhooks.py`: "add padding in case whsecret is unpadded base64"), and so does the sandbox.
`webhook_event()` builds the same request without sending it.

Layout: `server.py` is the HTTP API and the webhook sender (`ShopSandbox`), `store.py` the records and
their rules (`ShopStore`), `seed.py` the demo data (`seed_demo_data()`, done on construction;
deterministic): 10 products, 6 customers and 8 orders of November 2026 in USD, Texas sales tax 8.25 %
rounded per line; five orders are paid with a captured payment each, three are open, and order 1005
contains `UNKNOWN_SKU`, a SKU that is in no catalogue. See `DemoData` for the ids. `seed_orders(count,
seed)` adds generated orders for chaos runs (`SeededOrders`).
"""

from .seed import INVALID_ORDER_REASONS, UNKNOWN_SKU, DemoData, SeededOrders
from .server import (
    API_KEY_HEADER,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    SANDBOX_API_KEY,
    SANDBOX_UNPADDED_WEBHOOK_SECRET,
    SANDBOX_WEBHOOK_SECRET,
    WEBHOOK_TIMEOUT,
    ShopSandbox,
)
from .store import STORE_ZONE, OrderConflict, ShopStore

__all__ = [
    "API_KEY_HEADER",
    "DEFAULT_LIMIT",
    "INVALID_ORDER_REASONS",
    "MAX_LIMIT",
    "SANDBOX_API_KEY",
    "SANDBOX_UNPADDED_WEBHOOK_SECRET",
    "SANDBOX_WEBHOOK_SECRET",
    "STORE_ZONE",
    "UNKNOWN_SKU",
    "WEBHOOK_TIMEOUT",
    "DemoData",
    "OrderConflict",
    "SeededOrders",
    "ShopSandbox",
    "ShopStore",
]
