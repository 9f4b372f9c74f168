"""The sandbox shop's HTTP API and webhook sender (`ShopSandbox`); see the package docstring."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from flask import Response, jsonify, request

from ..base import SandboxServer
from .seed import DemoData, SeededOrders, seed_demo_data, seed_orders
from .store import CUSTOMER_FIELDS, KINDS, PRODUCT_FIELDS, Key, OrderConflict, ShopStore, iso, parse

SANDBOX_API_KEY = "shop-sandbox-api-key"  # a sandbox on loopback; not a secret
SANDBOX_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"invoice-relay-sandbox-shop-hook!").decode()
# A 31-byte key, so its base64 ends in "==": written without that padding, as some senders hand it out.
_UNPADDED_KEY = b"invoice-relay-sandbox-unpadded!"
SANDBOX_UNPADDED_WEBHOOK_SECRET = "whsec_" + base64.b64encode(_UNPADDED_KEY).decode().rstrip("=")
SECRET_PREFIX = "whsec_"  # the prefix of every secret, not one
API_KEY_HEADER = "X-Api-Key"
DEFAULT_LIMIT, MAX_LIMIT = 50, 250
WEBHOOK_TIMEOUT = (3.05, 10)  # seconds

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
class _Subscription:
    url: str
    secret: str


class ShopSandbox(SandboxServer):
    """The sandbox shop (see the package docstring), controllable from Python."""

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
        webhook_key(webhook_secret)  # fail early on a malformed secret
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.demo: DemoData | None = None
        self._seed = seed
        self._data_lock = threading.RLock()
        self._store = ShopStore()
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
            self._store = ShopStore()
            self._subscriptions.clear()
            self.demo = None
        if self._seed:
            self.seed_demo_data()

    def seed_demo_data(self) -> DemoData:
        """Replace every record with the deterministic demo store (see `seed.py`)."""
        with self._data_lock:
            self._store = ShopStore()
            self.demo = seed_demo_data(self._store)
            return self.demo

    def seed_orders(self, count: int, seed: int, *, paid_share: float = 0.85) -> SeededOrders:
        """Add `count` generated orders over the catalogue, with customers (some sharing an e-mail), a
        captured payment for most valid orders and a few invalid orders (see `seed.seed_orders`)."""
        with self._data_lock:
            return seed_orders(self._store, count, seed, paid_share=paid_share)

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
        with self._data_lock:
            return self._store.update("customers", customer_id, changes, CUSTOMER_FIELDS)

    def update_product(self, sku: str, **changes: Any) -> dict[str, Any]:
        """Change a product (name, description, price, currency, taxRate) and bump its updatedAt."""
        with self._data_lock:
            return self._store.update("products", sku, changes, PRODUCT_FIELDS)

    def add_product(self, product: dict[str, Any]) -> dict[str, Any]:
        """Store a product as given (keyed by its `sku`), with updatedAt now unless it has one."""
        with self._data_lock:
            return self._store.add_product(product)

    def add_order(self, order: dict[str, Any]) -> dict[str, Any]:
        """Store an order as given (it may be malformed on purpose), filling only a missing id and
        updatedAt. Returns the stored order."""
        with self._data_lock:
            return self._store.add_order(order)

    def capture_payment(
        self, order_id: str, *, method: str = "card", amount: str | None = None
    ) -> dict[str, Any]:
        """Capture a payment for an order (the order's total unless `amount` is given): the order
        becomes paid. Returns the payment; send it with `emit_payment_captured(payment["id"])`."""
        with self._data_lock:
            return self._store.capture_payment(order_id, method=method, amount=amount)

    # -- Python control API: webhooks -------------------------------------------------------------------

    def subscribe(self, url: str, secret: str | None = None) -> None:
        """Send webhooks to `url`, signed with `secret` (default: `webhook_secret`; padded or unpadded
        base64 after `whsec_`)."""
        webhook_key(secret or self.webhook_secret)
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
        payload = {"type": event_type, "timestamp": iso(moment), "data": data}
        body = _json_bytes(payload)
        signature = " ".join(sign(key, msg_id, seconds, body) for key in keys)
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
            return self._store.all(kind)

    def _one(self, kind: str, key: str) -> dict[str, Any]:
        with self._data_lock:
            return self._store.one(kind, key)

    # -- internals: HTTP API --------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        app = self.app
        app.before_request(self._require_api_key)
        for kind, key in zip(KINDS, ("sku", "id", "id", "id"), strict=True):
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
        def listing() -> Response:
            try:
                limit = _limit()
                since = _datetime_param("updatedSince")
                after = _cursor()
            except ValueError as exc:
                return self.error(400, str(exc))
            order_id = request.args.get("orderId") if kind == "payments" else None
            with self._data_lock:
                page, cursor = self._store.listing(
                    kind, limit=limit, since=since, after=after, order_id=order_id
                )
            return jsonify({"data": page, "nextCursor": _encode_cursor(cursor) if cursor else None})

        return listing

    def _getter(self, kind: str) -> Callable[..., Response]:
        noun = kind.removesuffix("s").capitalize()

        def get(**key: str) -> Response:
            (value,) = key.values()
            with self._data_lock:
                record = self._store.find(kind, value)
            if record is None:
                return self.error(404, f"{noun} {value} not found")
            return jsonify(record)

        return get

    def _mark_paid(self, order_id: str) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.error(400, "expected a JSON object")
        try:
            paid_at = parse(body.get("paidAt"))
        except ValueError:
            return self.error(400, "paidAt must be an ISO 8601 date-time with a time zone")
        reference = body.get("reference")
        if reference is not None and (not isinstance(reference, str) or len(reference) > 255):
            return self.error(400, "reference must be a string of at most 255 characters")
        with self._data_lock:
            try:
                order = self._store.mark_paid(order_id, paid_at=paid_at, reference=reference)
            except KeyError:
                return self.error(404, f"Order {order_id} not found")
            except OrderConflict as conflict:
                return _coded_error(409, conflict.code, conflict.message)
        return jsonify(order)


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
        return parse(raw)
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 date-time with a time zone") from None


def _cursor() -> Key | None:
    raw = request.args.get("cursor")
    if not raw:
        return None
    try:
        stamp, key = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return parse(stamp), str(key)
    except (ValueError, TypeError, binascii.Error):
        raise ValueError("cursor is not one this shop handed out") from None


def _encode_cursor(key: Key) -> str:
    return base64.urlsafe_b64encode(json.dumps([iso(key[0]), key[1]]).encode()).decode()


def _coded_error(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


# -- webhook signing (Standard Webhooks) ------------------------------------------------------------------


def webhook_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret. Unpadded base64 is accepted, as the reference library
    does ("add padding in case whsecret is unpadded base64"). ValueError if malformed."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with 'whsec_'")
    encoded = secret.removeprefix(SECRET_PREFIX)
    key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    if not key:
        raise ValueError("a webhook secret needs a key after 'whsec_'")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature: HMAC-SHA256 over "{msg_id}.{timestamp}.{body}"."""
    mac = hmac.new(webhook_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
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
