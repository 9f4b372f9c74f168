"""The sandbox shop's records and their rules: ever-increasing `updatedAt` stamps, keyset listings ordered
by (updatedAt, id), what a change may touch, capturing a payment and marking an order paid.

The store is plain data: `ShopSandbox` serialises access with its data lock.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

STORE_ZONE = dt.timezone(dt.timedelta(hours=-6), "CST")  # the store's local time (orderDate offset)
CUSTOMER_FIELDS = frozenset({"email", "firstName", "lastName", "company", "phone", "billingAddress"})
PRODUCT_FIELDS = frozenset({"name", "description", "price", "currency", "taxRate"})
KINDS = ("products", "customers", "orders", "payments")

Key = tuple[dt.datetime, str]  # a listing's sort key and cursor: (stamp, id or sku)


class OrderConflict(Exception):
    """Marking an order paid is refused (the shop's 409): `code` is the API's error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ShopStore:
    """Every record, keyed as the API addresses them (products by SKU, the rest by id)."""

    products: dict[str, dict[str, Any]] = field(default_factory=dict)  # by SKU
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    latest_stamp: dt.datetime = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    next_payment: int = 3001

    # -- reading --------------------------------------------------------------------------------------

    def all(self, kind: str) -> list[dict[str, Any]]:
        """Every record of a kind (copies), by key."""
        records = self._records(kind)
        return [copy.deepcopy(records[key]) for key in sorted(records)]

    def one(self, kind: str, key: str) -> dict[str, Any]:
        """One record (a copy). KeyError if unknown."""
        return copy.deepcopy(self._records(kind)[str(key)])

    def find(self, kind: str, key: str) -> dict[str, Any] | None:
        """One record (a copy), or None."""
        record = self._records(kind).get(key)
        return copy.deepcopy(record) if record is not None else None

    def listing(
        self,
        kind: str,
        *,
        limit: int,
        since: dt.datetime | None = None,
        after: Key | None = None,
        order_id: str | None = None,
    ) -> tuple[list[dict[str, Any]], Key | None]:
        """One keyset page: records ordered by (stamp, key) with stamp ≥ `since` (inclusive) and key
        after the cursor `after`; returns the page (copies) and the next cursor (None on the last page).
        Payments are stamped by capturedAt, the rest by updatedAt; `order_id` filters payments."""
        stamp_field = "capturedAt" if kind == "payments" else "updatedAt"
        key_field = "sku" if kind == "products" else "id"
        rows = [
            ((parse(r[stamp_field]), str(r[key_field])), r)
            for r in self._records(kind).values()
            if order_id is None or str(r.get("orderId")) == order_id
        ]
        rows.sort(key=lambda row: row[0])
        rows = [(k, r) for k, r in rows if (since is None or k[0] >= since) and (after is None or k > after)]
        page = rows[:limit]
        cursor = page[-1][0] if len(rows) > limit else None
        return [copy.deepcopy(r) for _, r in page], cursor

    # -- changing -------------------------------------------------------------------------------------

    def stamp(self) -> str:
        """Now as an updatedAt, strictly later than every stamp handed out before (so a change always
        sorts after what a sync already saw, even when the demo data lies in the future)."""
        now = dt.datetime.now(dt.UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # stamps carry milliseconds
        moment = max(now, self.latest_stamp + dt.timedelta(milliseconds=1))
        self.latest_stamp = moment
        return iso(moment)

    def update(self, kind: str, key: str, changes: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
        """Change the `allowed` fields of a record and bump its updatedAt. ValueError for other fields,
        KeyError for an unknown record. Returns the record (a copy)."""
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(
                f"cannot change {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}"
            )
        record = self._records(kind)[str(key)]
        record.update(copy.deepcopy(changes))
        record["updatedAt"] = self.stamp()
        return copy.deepcopy(record)

    def add_product(self, product: dict[str, Any]) -> dict[str, Any]:
        stored = copy.deepcopy(product)
        stored.setdefault("updatedAt", self.stamp())
        self.products[str(stored["sku"])] = stored
        return copy.deepcopy(stored)

    def add_order(self, order: dict[str, Any]) -> dict[str, Any]:
        stored = copy.deepcopy(order)
        if stored.get("id") is None:
            stored["id"] = f"ord_{2001 + len(self.orders)}"
        stored.setdefault("updatedAt", self.stamp())
        self.orders[str(stored["id"])] = stored
        return copy.deepcopy(stored)

    def capture_payment(self, order_id: str, *, method: str, amount: str | None) -> dict[str, Any]:
        """A captured payment for an order (its total unless `amount`), stamped now in the store's
        offset; the order becomes paid. KeyError for an unknown order. Returns the payment (a copy)."""
        order = self.orders[order_id]
        now = self.stamp()
        captured_at = parse(now).astimezone(STORE_ZONE).isoformat(timespec="milliseconds")
        payment = self.add_payment(order, method, captured_at, amount=amount)
        order.update(status="paid", paymentStatus="paid", paidAt=captured_at, updatedAt=now)
        return copy.deepcopy(payment)

    def add_payment(
        self, order: dict[str, Any], method: str, captured_at: str, *, amount: str | None = None
    ) -> dict[str, Any]:
        """Store the next captured payment of `order` (the stored record; the order is not changed)."""
        payment_id = f"pay_{self.next_payment}"
        self.next_payment += 1
        payment = {
            "id": payment_id,
            "orderId": order["id"],
            "amount": amount or order["total"],
            "currency": order["currency"],
            "capturedAt": captured_at,
            "method": method,
            "transactionId": f"txn_{hashlib.sha256(payment_id.encode()).hexdigest()[:16]}",
            "status": "captured",
        }
        self.payments[payment_id] = payment
        return payment

    def mark_paid(self, order_id: str, *, paid_at: dt.datetime, reference: str | None) -> dict[str, Any]:
        """`POST /v1/orders/{id}/mark-paid`: the order becomes paid with this reference; no payment is
        captured. KeyError for an unknown order; OrderConflict when it is already paid or cancelled."""
        order = self.orders[order_id]
        if order.get("status") == "paid":
            raise OrderConflict("order_already_paid", f"Order {order_id} is already paid")
        if order.get("status") == "cancelled":
            raise OrderConflict("order_cancelled", f"Order {order_id} is cancelled")
        order.update(
            status="paid",
            paymentStatus="paid",
            paidAt=iso(paid_at),
            paymentReference=reference,
            updatedAt=self.stamp(),
        )
        return copy.deepcopy(order)

    def _records(self, kind: str) -> dict[str, dict[str, Any]]:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        return getattr(self, kind)


def parse(value: object) -> dt.datetime:
    """An aware ISO 8601 date-time (ValueError otherwise)."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date-time")
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return moment


def iso(moment: dt.datetime) -> str:
    """A moment as the shop writes it: UTC with milliseconds and a `Z`."""
    text = moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
