"""The sandbox shop's demo data (deterministic): 10 products, 6 customers and 8 orders of November 2026
in USD, Texas sales tax 8.25 % rounded per line; five orders are paid with a captured payment each, three
are open, and order 1005 contains `UNKNOWN_SKU`, a SKU that is in no catalogue. See `DemoData` for the
ids.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .store import STORE_ZONE, ShopStore, iso, parse

UNKNOWN_SKU = "NOT-IN-CATALOG-1"

_CENT = Decimal("0.01")
_TAX_RATE = "8.25"


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


def seed_demo_data(store: ShopStore) -> DemoData:
    """Fill an empty store with the demo records (see the module docstring)."""
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
        placed = dt.datetime(2026, 11, day, hour, minute, tzinfo=STORE_ZONE)
        order = _order(f"ord_{2001 + index}", number, store.customers[cid], placed, items, store.products)
        if method is not None:
            captured = placed + dt.timedelta(minutes=2)
            payment = store.add_payment(order, method, captured.isoformat())
            payments[order["id"]] = payment["id"]
            order.update(status="paid", paymentStatus="paid", paidAt=payment["capturedAt"])
        store.orders[order["id"]] = order
    stamps = [
        r["updatedAt"] for kind in (store.products, store.customers, store.orders) for r in kind.values()
    ]
    store.latest_stamp = max(parse(s) for s in stamps)
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
        "updatedAt": iso(placed + dt.timedelta(minutes=5)),
    }


def _cents(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


# -- generated orders (chaos runs) -----------------------------------------------------------------------

_FIRST_NAMES = ("Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jon", "Kira")
_LAST_NAMES = ("Alvarez", "Brooks", "Cho", "Dubois", "Eze", "Fischer", "Gupta", "Holm", "Ito", "Jensen")
_CITIES = (("Austin", "78701"), ("Dallas", "75201"), ("Houston", "77002"), ("El Paso", "79901"))
# Why each kind of invalid order fails at delivery (a fragment of the reason the run log records).
INVALID_ORDER_REASONS = {
    "unknown SKU": f"unknown SKU '{UNKNOWN_SKU}'",
    "quantity 0": "is not positive",
    "bad e-mail": "is not an e-mail address",
    "wrong tax total": "taxTotal",
}


@dataclass(frozen=True)
class SeededOrders:
    """What `seed_orders()` added: valid orders (most with one captured payment) and invalid ones."""

    order_ids: tuple[str, ...]  # valid orders, in creation order
    invalid: dict[str, str]  # invalid order id → a fragment of the reason its delivery must fail with
    payment_by_order: dict[str, str]  # valid order id → its captured payment's id
    shared_emails: int  # customers whose e-mail (in any letter case) another customer has too

    @property
    def all_order_ids(self) -> tuple[str, ...]:
        return (*self.order_ids, *self.invalid)


def seed_orders(store: ShopStore, count: int, seed: int, *, paid_share: float = 0.85) -> SeededOrders:
    """Add `count` orders over the catalogue (deterministic for a seed): one customer per three orders,
    about one customer in six sharing another's e-mail (half of them in other letter case); a captured
    payment (the order's total) for `paid_share` of the valid orders; and `max(4, count // 25)` invalid
    orders, one kind of `INVALID_ORDER_REASONS` after the other, without a payment (a payment of an order
    that can never be delivered would wait for it for ever). Ids continue after the demo data's."""
    if count < 1:
        raise ValueError("count must be at least 1")
    rng = random.Random(seed)
    start = 30001 + sum(1 for key in store.orders if key.startswith("ord_3"))
    first_customer = 30001 + sum(1 for key in store.customers if key.startswith("cus_3"))
    customers, shared = _generated_customers(store, rng, max(2, count // 3), first_id=first_customer)
    catalogue = sorted(store.products)
    kinds = list(INVALID_ORDER_REASONS)
    invalid_count = min(count, max(4, count // 25))
    invalid_at = set(rng.sample(range(count), invalid_count))
    valid: list[str] = []
    invalid: dict[str, str] = {}
    payments: dict[str, str] = {}
    for index in range(count):
        customer = rng.choice(customers)
        day, hour, minute = rng.randint(1, 28), rng.randint(7, 21), rng.randint(0, 59)
        placed = dt.datetime(2026, 11, day, hour, minute, tzinfo=STORE_ZONE)
        skus = rng.sample(catalogue, rng.randint(1, min(4, len(catalogue))))
        items = [(sku, rng.choice((1, 1, 1, 2, 2, 3, 5))) for sku in skus]
        kind = kinds[len(invalid) % len(kinds)] if index in invalid_at else None
        if kind == "unknown SKU":
            items.append((UNKNOWN_SKU, 1))
        order = _order(f"ord_{start + index}", str(start + index), customer, placed, items, store.products)
        if kind is not None:
            _break(order, kind)
            invalid[order["id"]] = INVALID_ORDER_REASONS[kind]
        elif rng.random() < paid_share:
            captured = placed + dt.timedelta(minutes=rng.randint(1, 90))
            payment = store.add_payment(order, rng.choice(("card", "card", "paypal")), captured.isoformat())
            payments[order["id"]] = payment["id"]
            order.update(status="paid", paymentStatus="paid", paidAt=payment["capturedAt"])
        if kind is None:
            valid.append(order["id"])
        store.orders[order["id"]] = order
        store.latest_stamp = max(store.latest_stamp, parse(order["updatedAt"]))
    return SeededOrders(tuple(valid), invalid, payments, shared)


def _generated_customers(
    store: ShopStore, rng: random.Random, count: int, *, first_id: int
) -> tuple[list[dict[str, Any]], int]:
    customers: list[dict[str, Any]] = []
    shared = 0
    for index in range(count):
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        email = f"{first}.{last}.{first_id + index}@example.com".lower()
        if customers and rng.random() < 1 / 6:  # a second account with the e-mail of an earlier one
            email = rng.choice(customers)["email"]
            email = email.title() if rng.random() < 0.5 else email
            shared += 1
        city, postal = rng.choice(_CITIES)
        customer = {
            "id": f"cus_{first_id + index}",
            "email": email,
            "firstName": first,
            "lastName": last,
            "company": None,
            "phone": None,
            "billingAddress": {
                "line1": f"{rng.randint(1, 9999)} Main St",
                "line2": None,
                "city": city,
                "region": "TX",
                "postalCode": postal,
                "country": "US",
            },
            "updatedAt": "2026-10-15T12:00:00.000Z",
        }
        store.customers[customer["id"]] = customer
        customers.append(customer)
    return customers, shared


def _break(order: dict[str, Any], kind: str) -> None:
    """Make a priced order invalid in the way `kind` names (the unknown SKU line is added before pricing)."""
    if kind == "quantity 0":
        order["lineItems"][0]["quantity"] = 0
    elif kind == "bad e-mail":
        order["customer"]["email"] = "not-an-e-mail-address"
    elif kind == "wrong tax total":
        tax = Decimal(order["taxTotal"]) + Decimal("1.00")
        order.update(taxTotal=str(tax), total=str(Decimal(order["subtotal"]) + tax))
