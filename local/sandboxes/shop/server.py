"""Sandbox shop: the eCommerce platform's REST API (orders, customers, products, payments) and its
Standard-Webhooks-signed webhooks, so flow 3 can be tested and demonstrated without a store.

The API is the one written down in `invoice_relay.connectors.shop` (module docstring): `/v1` resources,
`X-Api-Key` auth (401 without or with a wrong key), `{"error": {"code", "message"}}` errors, keyset-paged
listings `{"data": [...], "nextCursor"}` with an inclusive `updatedSince`, and
`POST /v1/orders/{id}/mark-paid` (409 `order_already_paid` / `order_cancelled`). On top of the shared
sandbox plumbing (faults, request log, rate limit: see `base.py`).

Webhooks follow https://www.standardwebhooks.com: `subscribe(url, secret)` and then `emit(...)` POSTs
`{"type", "timestamp", "data"}` with headers `webhook-id`, `webhook-timestamp` (Unix seconds) and
`webhook-signature: v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`, keyed with the base64-decoded
part of the `whsec_...` secret (several secrets → several space-separated signatures, as during a
rotation). `webhook_event()` builds the same request without sending it.

Demo data (`seed_demo_data()`, done on construction; deterministic): 10 products, 6 customers and 8
orders of November 2026 in USD, Texas sales tax 8.25 % rounded per line; five orders are paid with a
captured payment each, three are open, and order 1005 contains `UNKNOWN_SKU`, a SKU that is in no
catalogue. See `DemoData` for the ids.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import requests
from flask import Response, jsonify, request

from .base import SandboxServer

SANDBOX_API_KEY = "shop-sandbox-api-key"  # a sandbox on loopback; not a secret
SANDBOX_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"invoice-relay-sandbox-shop-hook!").decode()
API_KEY_HEADER = "X-Api-Key"
DEFAULT_LIMIT, MAX_LIMIT = 50, 250
UNKNOWN_SKU = "NOT-IN-CATALOG-1"
WEBHOOK_TIMEOUT = (3.05, 10)  # seconds

_CENT = Decimal("0.01")
_TAX_RATE = "8.25"
_STORE_ZONE = dt.timezone(dt.timedelta(hours=-6), "CST")  # the store's local time (orderDate offset)
_CUSTOMER_FIELDS = frozenset({"email", "firstName", "lastName", "company", "phone", "billingAddress"})
_PRODUCT_FIELDS = frozenset({"name", "description", "price", "currency", "taxRate"})
_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    429: "rate_limited",
}


@dataclass(frozen=True)
class DemoData:
    """What `seed_demo_data()` created, for tests and the demo to assert on."""

    product_skus: tuple[str, ...]
    customer_ids: tuple[str, ...]
    order_ids: tuple[str, ...]
    paid_order_ids: tuple[str, ...]  # each has exactly one captured payment
    open_order_ids: tuple[str, ...]  # no payment yet (e.g. bank transfer due): mark-paid candidates
    payment_by_order: dict[str, str]  # order id → payment id
    unknown_sku_order_id: str  # the order with UNKNOWN_SKU on its second line

    @property
    def payment_ids(self) -> tuple[str, ...]:
        return tuple(self.payment_by_order[o] for o in self.paid_order_ids)


@dataclass
class _Store:
    products: dict[str, dict[str, Any]] = field(default_factory=dict)  # by SKU
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    latest_stamp: dt.datetime = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    next_payment: int = 3001


@dataclass(frozen=True)
class _Subscription:
    url: str
    secret: str


class ShopSandbox(SandboxServer):
    """The sandbox shop (see the module docstring), controllable from Python."""

    name = "shop"

    def __init__(
        self,
        *,
        api_key: str = SANDBOX_API_KEY,
        webhook_secret: str = SANDBOX_WEBHOOK_SECRET,
        seed: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_per_second: int | None = None,
    ):
        super().__init__(host=host, port=port, rate_limit_per_second=rate_limit_per_second)
        _webhook_key(webhook_secret)  # fail early on a malformed secret
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.demo: DemoData | None = None
        self._seed = seed
        self._data_lock = threading.RLock()
        self._store = _Store()
        self._subscriptions: list[_Subscription] = []
        self._register_routes()
        if seed:
            self.seed_demo_data()

    # -- Python control API: data -------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"code": _ERROR_CODES.get(status, "error"), "message": message}}

    def reset(self) -> None:
        """Back to the state after construction: demo data (if seeded), no subscriptions, faults or log."""
        super().reset()
        with self._data_lock:
            self._store = _Store()
            self._subscriptions.clear()
            self.demo = None
        if self._seed:
            self.seed_demo_data()

    def seed_demo_data(self) -> DemoData:
        """Replace every record with the deterministic demo store (see the module docstring)."""
        with self._data_lock:
            self._store = _Store()
            self.demo = _seed(self._store)
            return self.demo

    def products(self) -> list[dict[str, Any]]:
        """Every product as the API serves it, by SKU (copies)."""
        return self._all("products")

    def product(self, sku: str) -> dict[str, Any]:
        """One product (a copy). KeyError if unknown."""
        return self._one("products", sku)

    def customers(self) -> list[dict[str, Any]]:
        return self._all("customers")

    def customer(self, customer_id: str) -> dict[str, Any]:
        return self._one("customers", customer_id)

    def orders(self) -> list[dict[str, Any]]:
        return self._all("orders")

    def order(self, order_id: str) -> dict[str, Any]:
        return self._one("orders", order_id)

    def payments(self) -> list[dict[str, Any]]:
        return self._all("payments")

    def payment(self, payment_id: str) -> dict[str, Any]:
        return self._one("payments", payment_id)

    def update_customer(self, customer_id: str, **changes: Any) -> dict[str, Any]:
        """Change a customer (camelCase fields: email, firstName, lastName, company, phone,
        billingAddress) and bump its updatedAt. Orders keep their checkout snapshot. Returns the customer."""
        return self._update("customers", customer_id, changes, _CUSTOMER_FIELDS)

    def update_product(self, sku: str, **changes: Any) -> dict[str, Any]:
        """Change a product (name, description, price, currency, taxRate) and bump its updatedAt."""
        return self._update("products", sku, changes, _PRODUCT_FIELDS)

    def add_product(self, product: dict[str, Any]) -> dict[str, Any]:
        """Store a product as given (keyed by its `sku`), with updatedAt now unless it has one."""
        with self._data_lock:
            stored = copy.deepcopy(product)
            stored.setdefault("updatedAt", self._stamp())
            self._store.products[str(stored["sku"])] = stored
            return copy.deepcopy(stored)

    def add_order(self, order: dict[str, Any]) -> dict[str, Any]:
        """Store an order as given (it may be malformed on purpose), filling only a missing id and
        updatedAt. Returns the stored order."""
        with self._data_lock:
            stored = copy.deepcopy(order)
            if stored.get("id") is None:
                stored["id"] = f"ord_{2001 + len(self._store.orders)}"
            stored.setdefault("updatedAt", self._stamp())
            self._store.orders[str(stored["id"])] = stored
            return copy.deepcopy(stored)

    def capture_payment(
        self, order_id: str, *, method: str = "card", amount: str | None = None
    ) -> dict[str, Any]:
        """Capture a payment for an order (the order's total unless `amount` is given): the order
        becomes paid. Returns the payment; send it with `emit_payment_captured(payment["id"])`."""
        with self._data_lock:
            order = self._store.orders[order_id]
            now = self._stamp()
            captured_at = _parse(now).astimezone(_STORE_ZONE).isoformat(timespec="milliseconds")
            payment = _payment(f"pay_{self._store.next_payment}", order, method, captured_at, amount=amount)
            self._store.next_payment += 1
            self._store.payments[payment["id"]] = payment
            order.update(status="paid", paymentStatus="paid", paidAt=captured_at, updatedAt=now)
            return copy.deepcopy(payment)

    # -- Python control API: webhooks -------------------------------------------------------------------

    def subscribe(self, url: str, secret: str | None = None) -> None:
        """Send webhooks to `url`, signed with `secret` (default: `webhook_secret`)."""
        _webhook_key(secret or self.webhook_secret)
        with self._data_lock:
            self._subscriptions.append(_Subscription(url, secret or self.webhook_secret))

    def unsubscribe_all(self) -> None:
        with self._data_lock:
            self._subscriptions.clear()

    def webhook_event(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        secret: str | Sequence[str] | None = None,
        delivery_id: str | None = None,
        timestamp: int | dt.datetime | None = None,
        tamper: bool = False,
    ) -> tuple[dict[str, str], bytes]:
        """The (headers, body) of one signed webhook, without sending it.

        `secret`: one `whsec_...` secret or several (one signature each); default `webhook_secret`.
        `delivery_id` (the `webhook-id`): default a fresh `msg_...`. `timestamp`: Unix seconds or an
        aware datetime, default now (use an old one to test the replay window). `tamper`: the body is
        altered *after* signing (an amount or the e-mail changes), so the signature no longer fits it.
        """
        keys = [secret] if isinstance(secret, str) else list(secret or [self.webhook_secret])
        moment = _moment(timestamp)
        msg_id = delivery_id or f"msg_{secrets.token_hex(12)}"
        seconds = int(moment.timestamp())
        payload = {"type": event_type, "timestamp": _iso(moment), "data": data}
        body = _json_bytes(payload)
        signature = " ".join(_sign(key, msg_id, seconds, body) for key in keys)
        if tamper:
            body = _json_bytes({**payload, "data": _tampered(data)})
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(seconds),
            "webhook-signature": signature,
        }
        return headers, body

    def emit(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        delivery_id: str | None = None,
        duplicate: int = 0,
        tamper: bool = False,
        timestamp: int | dt.datetime | None = None,
    ) -> list[requests.Response]:
        """POST one webhook to every subscription, `1 + duplicate` times each with the same `webhook-id`,
        body and signature (a redelivery). Returns the responses in order. RuntimeError without a
        subscription."""
        with self._data_lock:
            subscriptions = list(self._subscriptions)
        if not subscriptions:
            raise RuntimeError("shop sandbox has no webhook subscription: call subscribe(url) first")
        msg_id = delivery_id or f"msg_{secrets.token_hex(12)}"
        responses = []
        for subscription in subscriptions:
            headers, body = self.webhook_event(
                event_type,
                data,
                secret=subscription.secret,
                delivery_id=msg_id,
                timestamp=timestamp,
                tamper=tamper,
            )
            for _ in range(1 + duplicate):
                responses.append(
                    requests.post(subscription.url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT)
                )
        return responses

    def emit_order_created(self, order_id: str, **options: Any) -> list[requests.Response]:
        """`order.created` with the order as it is now (options as for `emit`)."""
        return self.emit("order.created", self.order(order_id), **options)

    def emit_customer_updated(self, customer_id: str, **options: Any) -> list[requests.Response]:
        """`customer.updated` with the customer as it is now."""
        return self.emit("customer.updated", self.customer(customer_id), **options)

    def emit_payment_captured(self, payment_id: str, **options: Any) -> list[requests.Response]:
        """`payment.captured` with the payment."""
        return self.emit("payment.captured", self.payment(payment_id), **options)

    # -- internals: data ----------------------------------------------------------------------------------

    def _all(self, kind: str) -> list[dict[str, Any]]:
        with self._data_lock:
            records = getattr(self._store, kind)
            return [copy.deepcopy(records[key]) for key in sorted(records)]

    def _one(self, kind: str, key: str) -> dict[str, Any]:
        with self._data_lock:
            return copy.deepcopy(getattr(self._store, kind)[str(key)])

    def _update(
        self, kind: str, key: str, changes: dict[str, Any], allowed: frozenset[str]
    ) -> dict[str, Any]:
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(
                f"cannot change {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}"
            )
        with self._data_lock:
            record = getattr(self._store, kind)[str(key)]
            record.update(copy.deepcopy(changes))
            record["updatedAt"] = self._stamp()
            return copy.deepcopy(record)

    def _stamp(self) -> str:
        """Now as an updatedAt, strictly later than every stamp handed out before (so a change always
        sorts after what a sync already saw, even when the demo data lies in the future)."""
        with self._data_lock:
            now = dt.datetime.now(dt.UTC)
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # stamps carry milliseconds
            moment = max(now, self._store.latest_stamp + dt.timedelta(milliseconds=1))
            self._store.latest_stamp = moment
            return _iso(moment)

    # -- internals: HTTP API --------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        app = self.app
        app.before_request(self._require_api_key)
        for kind, key in (("products", "sku"), ("customers", "id"), ("orders", "id"), ("payments", "id")):
            app.add_url_rule(f"/v1/{kind}", f"list_{kind}", self._lister(kind), methods=["GET"])
            app.add_url_rule(f"/v1/{kind}/<{key}>", f"get_{kind}", self._getter(kind), methods=["GET"])
        app.add_url_rule("/v1/orders/<order_id>/mark-paid", view_func=self._mark_paid, methods=["POST"])

    def _require_api_key(self) -> Response | None:
        if not request.path.startswith("/v1/"):
            return None
        given = request.headers.get(API_KEY_HEADER, "")
        if not given or not secrets.compare_digest(given.encode(), self.api_key.encode()):
            return self.error(401, "Missing or invalid API key")
        return None

    def _lister(self, kind: str) -> Callable[[], Response]:
        stamp_field = "capturedAt" if kind == "payments" else "updatedAt"
        key_field = "sku" if kind == "products" else "id"

        def listing() -> Response:
            try:
                limit = _limit()
                since = _datetime_param("updatedSince")
                after = _cursor()
            except ValueError as exc:
                return self.error(400, str(exc))
            order_id = request.args.get("orderId") if kind == "payments" else None
            with self._data_lock:
                rows = [
                    ((_parse(r[stamp_field]), str(r[key_field])), r)
                    for r in getattr(self._store, kind).values()
                    if order_id is None or str(r.get("orderId")) == order_id
                ]
            rows.sort(key=lambda row: row[0])
            rows = [
                (k, r) for k, r in rows if (since is None or k[0] >= since) and (after is None or k > after)
            ]
            page = rows[:limit]
            cursor = _encode_cursor(page[-1][0]) if len(rows) > limit else None
            return jsonify({"data": [copy.deepcopy(r) for _, r in page], "nextCursor": cursor})

        return listing

    def _getter(self, kind: str) -> Callable[..., Response]:
        noun = kind.removesuffix("s").capitalize()

        def get(**key: str) -> Response:
            (value,) = key.values()
            with self._data_lock:
                record = getattr(self._store, kind).get(value)
                if record is None:
                    return self.error(404, f"{noun} {value} not found")
                return jsonify(copy.deepcopy(record))

        return get

    def _mark_paid(self, order_id: str) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.error(400, "expected a JSON object")
        try:
            paid_at = _parse(body.get("paidAt"))
        except ValueError:
            return self.error(400, "paidAt must be an ISO 8601 date-time with a time zone")
        reference = body.get("reference")
        if reference is not None and (not isinstance(reference, str) or len(reference) > 255):
            return self.error(400, "reference must be a string of at most 255 characters")
        with self._data_lock:
            order = self._store.orders.get(order_id)
            if order is None:
                return self.error(404, f"Order {order_id} not found")
            if order.get("status") == "paid":
                return _coded_error(409, "order_already_paid", f"Order {order_id} is already paid")
            if order.get("status") == "cancelled":
                return _coded_error(409, "order_cancelled", f"Order {order_id} is cancelled")
            order.update(
                status="paid",
                paymentStatus="paid",
                paidAt=_iso(paid_at),
                paymentReference=reference,
                updatedAt=self._stamp(),
            )
            return jsonify(copy.deepcopy(order))


# -- request parsing --------------------------------------------------------------------------------------


def _limit() -> int:
    raw = request.args.get("limit", "")
    if not raw:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def _datetime_param(name: str) -> dt.datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return _parse(raw)
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 date-time with a time zone") from None


def _cursor() -> tuple[dt.datetime, str] | None:
    raw = request.args.get("cursor")
    if not raw:
        return None
    try:
        stamp, key = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return _parse(stamp), str(key)
    except (ValueError, TypeError, binascii.Error):
        raise ValueError("cursor is not one this shop handed out") from None


def _encode_cursor(key: tuple[dt.datetime, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps([_iso(key[0]), key[1]]).encode()).decode()


def _parse(value: object) -> dt.datetime:
    """An aware ISO 8601 date-time (ValueError otherwise)."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date-time")
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return moment


def _coded_error(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


# -- webhook signing (Standard Webhooks) ------------------------------------------------------------------


def _webhook_key(secret: str) -> bytes:
    if not secret.startswith("whsec_"):
        raise ValueError("a webhook secret starts with 'whsec_'")
    return base64.b64decode(secret.removeprefix("whsec_"), validate=True)


def _sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(_webhook_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def _tampered(data: dict[str, Any]) -> dict[str, Any]:
    for name, value in (("total", "0.01"), ("amount", "0.01"), ("email", "attacker@example.invalid")):
        if name in data:
            return {**data, name: value}
    return {**data, "tampered": True}


def _json_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _moment(timestamp: int | dt.datetime | None) -> dt.datetime:
    if timestamp is None:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    if isinstance(timestamp, dt.datetime):
        if timestamp.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware")
        return timestamp.astimezone(dt.UTC)
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def _iso(moment: dt.datetime) -> str:
    text = moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


# -- demo data --------------------------------------------------------------------------------------------

_PRODUCTS = [
    # sku, name, description, price, taxable, updatedAt (UTC)
    ("TEE-BLK-M", "Organic cotton tee", "Black, size M", "24.00", True, "2026-10-01T15:00:00Z"),
    ("TEE-WHT-L", "Organic cotton tee", "White, size L", "24.00", True, "2026-10-01T15:00:05Z"),
    ("HOOD-GRY-M", "Heavyweight hoodie", "Grey, size M", "58.00", True, "2026-10-03T09:30:00Z"),
    ("MUG-12OZ", "Stoneware mug", "12 oz, speckled glaze", "16.50", True, "2026-10-07T12:00:00Z"),
    ("CAP-NVY", "Canvas cap", "Navy, one size", "21.99", True, "2026-10-12T08:15:00Z"),
    ("SOCK-3PK", "Merino socks", "3-pack, mixed colours", "19.95", True, "2026-10-20T17:45:00Z"),
    ("TOTE-NAT", "Canvas tote", "Natural, 15 l", "14.99", True, "2026-10-28T10:00:00Z"),
    ("BOTTLE-750", "Insulated bottle", "750 ml, stainless steel", "32.00", True, "2026-11-02T14:20:00Z"),
    ("GIFT-25", "Gift card $25", None, "25.00", False, "2026-11-05T16:00:00Z"),
    ("SHIP-STD", "Standard shipping", "3–5 business days", "6.95", False, "2026-11-09T11:10:00Z"),
]  # fmt: skip

_CUSTOMERS = [
    # id, first, last, company, email, phone, (line1, line2, city, region, postal code), updatedAt
    ("cus_101", "Maria", "Gonzalez", None, "maria.gonzalez@example.com", "512-555-0101",
     ("1402 Barton Springs Rd", None, "Austin", "TX", "78704"), "2026-09-14T18:22:00Z"),
    ("cus_102", "James", "Whitfield", None, "j.whitfield@example.net", None,
     ("88 Elm St", "Apt 4B", "Dallas", "TX", "75201"), "2026-10-02T09:05:00Z"),
    ("cus_103", "Priya", "Raman", "Lone Star Coffee Roasters", "ap@lonestarcoffee.example", "713-555-0177",
     ("2200 Westheimer Rd", "Suite 310", "Houston", "TX", "77098"), "2026-10-19T14:40:00Z"),
    ("cus_104", "Daniel", "Okafor", None, "dokafor@example.org", "210-555-0142",
     ("315 E Commerce St", None, "San Antonio", "TX", "78205"), "2026-11-01T20:10:00Z"),
    ("cus_105", "Emily", "Chen", None, "emily.chen@example.com", None,
     ("4100 Camp Bowie Blvd", None, "Fort Worth", "TX", "76107"), "2026-11-08T13:30:00Z"),
    ("cus_106", "Robert", "Hayes", "Hayes Outfitters", "orders@hayesoutfitters.example", "806-555-0199",
     ("1010 Broadway", None, "Lubbock", "TX", "79401"), "2026-11-12T16:55:00Z"),
]  # fmt: skip

_ORDERS = [
    # number, customer, local placed (2026-11-dd hh:mm, store time), [(sku, quantity)], payment method or None
    ("1001", "cus_101", (16, 9, 12), [("TEE-BLK-M", 2), ("MUG-12OZ", 1), ("SHIP-STD", 1)], "card"),
    ("1002", "cus_102", (16, 14, 3), [("HOOD-GRY-M", 1), ("SOCK-3PK", 3)], "paypal"),
    ("1003", "cus_103", (17, 10, 40), [("MUG-12OZ", 24), ("TOTE-NAT", 24), ("BOTTLE-750", 12)], None),
    ("1004", "cus_101", (17, 21, 45), [("CAP-NVY", 1), ("SOCK-3PK", 1)], "card"),  # 03:45 UTC next day
    ("1005", "cus_104", (18, 11, 20), [("TEE-WHT-L", 1), (UNKNOWN_SKU, 2), ("SHIP-STD", 1)], None),
    ("1006", "cus_105", (18, 16, 5), [("GIFT-25", 2), ("CAP-NVY", 1)], "card"),
    ("1007", "cus_106", (19, 8, 30), [("HOOD-GRY-M", 6), ("TEE-BLK-M", 12), ("TEE-WHT-L", 12)], None),
    ("1008", "cus_102", (19, 19, 50), [("BOTTLE-750", 1), ("SHIP-STD", 1)], "paypal"),
]  # fmt: skip

_UNKNOWN_LINE = ("Limited-edition enamel pin", "Artist collaboration, not in the catalogue", "9.50")


def _seed(store: _Store) -> DemoData:
    for sku, name, description, price, taxable, updated in _PRODUCTS:
        store.products[sku] = {
            "id": f"prod_{sku.lower()}",
            "sku": sku,
            "name": name,
            "description": description,
            "price": price,
            "currency": "USD",
            "taxRate": _TAX_RATE if taxable else None,
            "updatedAt": updated,
        }
    for cid, first, last, company, email, phone, (line1, line2, city, region, postal), updated in _CUSTOMERS:
        store.customers[cid] = {
            "id": cid,
            "email": email,
            "firstName": first,
            "lastName": last,
            "company": company,
            "phone": phone,
            "billingAddress": {
                "line1": line1,
                "line2": line2,
                "city": city,
                "region": region,
                "postalCode": postal,
                "country": "US",
            },
            "updatedAt": updated,
        }
    payments: dict[str, str] = {}
    for index, (number, cid, (day, hour, minute), items, method) in enumerate(_ORDERS):
        placed = dt.datetime(2026, 11, day, hour, minute, tzinfo=_STORE_ZONE)
        order = _order(f"ord_{2001 + index}", number, store.customers[cid], placed, items, store.products)
        if method is not None:
            captured = placed + dt.timedelta(minutes=2)
            payment = _payment(f"pay_{store.next_payment}", order, method, captured.isoformat())
            store.next_payment += 1
            store.payments[payment["id"]] = payment
            payments[order["id"]] = payment["id"]
            order.update(status="paid", paymentStatus="paid", paidAt=payment["capturedAt"])
        store.orders[order["id"]] = order
    stamps = [
        r["updatedAt"] for kind in (store.products, store.customers, store.orders) for r in kind.values()
    ]
    store.latest_stamp = max(_parse(s) for s in stamps)
    order_ids = tuple(store.orders)
    return DemoData(
        product_skus=tuple(store.products),
        customer_ids=tuple(store.customers),
        order_ids=order_ids,
        paid_order_ids=tuple(o for o in order_ids if o in payments),
        open_order_ids=tuple(o for o in order_ids if o not in payments),
        payment_by_order=payments,
        unknown_sku_order_id=next(o for o, r in store.orders.items() if r["number"] == "1005"),
    )


def _order(
    order_id: str,
    number: str,
    customer: dict[str, Any],
    placed: dt.datetime,
    items: list[tuple[str, int]],
    products: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """An open order priced from the catalogue, tax rounded half-up per line (as many shops do)."""
    lines = []
    for sku, quantity in items:
        if sku == UNKNOWN_SKU:
            name, description, price = _UNKNOWN_LINE
            rate: str | None = _TAX_RATE
        else:
            product = products[sku]
            name, description, price, rate = (product[k] for k in ("name", "description", "price", "taxRate"))
        lines.append(
            {
                "sku": sku,
                "name": name,
                "description": description,
                "quantity": quantity,
                "unitPrice": price,
                "taxRate": rate,
            }
        )
    nets = [_cents(Decimal(line["unitPrice"]) * line["quantity"]) for line in lines]
    taxes = [
        _cents(net * Decimal(line["taxRate"]) / 100) if line["taxRate"] else Decimal(0)
        for net, line in zip(nets, lines, strict=True)
    ]
    subtotal, tax_total = sum(nets, Decimal(0)), sum(taxes, Decimal(0))
    snapshot = {k: copy.deepcopy(v) for k, v in customer.items() if k != "updatedAt"}
    return {
        "id": order_id,
        "number": number,
        "orderDate": placed.isoformat(),
        "currency": "USD",
        "customer": snapshot,
        "lineItems": lines,
        "pricesIncludeTax": False,
        "subtotal": str(subtotal),
        "taxTotal": str(tax_total),
        "total": str(subtotal + tax_total),
        "status": "open",
        "paymentStatus": "pending",
        "paidAt": None,
        "paymentReference": None,
        "updatedAt": _iso(placed + dt.timedelta(minutes=5)),
    }


def _payment(
    payment_id: str, order: dict[str, Any], method: str, captured_at: str, *, amount: str | None = None
) -> dict[str, Any]:
    return {
        "id": payment_id,
        "orderId": order["id"],
        "amount": amount or order["total"],
        "currency": order["currency"],
        "capturedAt": captured_at,
        "method": method,
        "transactionId": f"txn_{hashlib.sha256(payment_id.encode()).hexdigest()[:16]}",
        "status": "captured",
    }


def _cents(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)
