"""The sandbox ServiceTrade's demo account: a realistic, deterministic set of invoices.

`sample_invoice()` is one well-formed invoice; `demo_account()` builds a whole account from a seed (the
same seed gives the same invoices), with some invoices broken on purpose (`BROKEN_KINDS`), some credits
(type `invoice` with negative prices and totals, as ServiceTrade sends them) and, on request, vendor
bills and external invoices that also sit in `pending_accounting` but are not invoices for accounting.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

BROKEN_KINDS = ("no_customer", "bad_transaction_date", "unmapped_service_line")
BAD_TRANSACTION_DATE = "31/02/2026"
UNMAPPED_SERVICE_LINE = {"id": 99, "name": "Unmapped Service Line", "abbr": "ZZ"}
SUBCONTRACTOR = {"id": 2, "name": "Carolina Backflow Subcontracting"}  # the vendor of vendor bills

_CENT = Decimal("0.01")
_EASTERN = dt.timezone(dt.timedelta(hours=-5), "EST")
_FIRST_DAY = dt.datetime(2026, 3, 2, tzinfo=_EASTERN)  # a Monday; seeded invoices follow from here
FIRST_ID = 1001


def sample_invoice(invoice_id: int = 1042) -> dict[str, Any]:
    """One well-formed invoice in the shape the sandbox (and, we assume, ServiceTrade) sends.

    2 × 125.00 taxable + 1.5 h × 92.50 labour; tax 7.25 % of 250.00 = 18.125 → 18.13 (half-up).
    `uri` values are filled in by the sandbox when it serves the invoice.
    """
    return {
        "id": invoice_id,
        "uri": None,
        "invoiceNumber": str(invoice_id),
        "type": "invoice",
        "status": "pending_accounting",
        "transactionDate": 1772514000,  # 2026-03-03 00:00 EST
        "dueDate": None,
        "paymentTerms": {"name": "Net 30", "days": 30},
        "currency": "USD",
        "customer": {
            "id": 55,
            "name": "Acme Facilities",
            "uri": None,
            "email": "ap@acme-facilities.example",
            "phone": "919-555-0142",
            "accountNumber": "C-0055",
        },
        "vendor": {"id": 1, "name": "Relay Fire & Safety"},
        "location": {
            "id": 77,
            "name": "Acme HQ",
            "address": {
                "street": "400 Fayetteville St",
                "city": "Raleigh",
                "state": "NC",
                "postalCode": "27601",
            },
        },
        "job": {"id": 901, "number": "J-901"},
        "poNumber": "PO-77",
        "items": [
            {
                "id": 1,
                "description": "New 10 lb ABC extinguisher",
                "quantity": 2,
                "price": 125.0,
                "totalPrice": 250.0,
                "taxable": True,
                "serviceLine": {"id": 3, "name": "Fire Extinguisher", "abbr": "FE"},
                "libItem": {"id": 12, "code": "FE-NEW10"},
            },
            {
                "id": 2,
                "description": "Technician labor (hours)",
                "quantity": 1.5,
                "price": 92.5,
                "totalPrice": 138.75,
                "taxable": False,
                "serviceLine": {"id": 3, "name": "Fire Extinguisher", "abbr": "FE"},
                "libItem": {"id": 40, "code": "LAB-HR"},
            },
        ],
        "taxRate": 7.25,
        "subtotal": 388.75,
        "totalTax": 18.13,
        "totalPrice": 406.88,
        "externalIds": {},
        "created": 1772560800,
        "updated": 1772564400,
    }


@dataclass(frozen=True)
class DemoData:
    """What `seed_demo_data()` created, for tests and the demo to assert on."""

    pending_ids: tuple[int, ...]  # every pending_accounting `invoice`, broken ones and credits included
    credit_ids: tuple[int, ...]
    other_statuses: dict[int, str]  # invoices the pending_accounting filter must exclude
    broken: dict[str, int]  # kind (see BROKEN_KINDS) → invoice id
    # pending_accounting records that are not invoices for accounting (id → `vendorbill` | `external`):
    # the `type=invoice` filter must exclude them; they are not in `pending_ids`.
    other_types: dict[int, str] = field(default_factory=dict)

    @property
    def broken_ids(self) -> frozenset[int]:
        return frozenset(self.broken.values())

    @property
    def clean_ids(self) -> tuple[int, ...]:
        """Pending invoices that should go all the way through."""
        return tuple(i for i in self.pending_ids if i not in self.broken_ids)


def demo_account(
    count: int = 50,
    broken: bool | int | Iterable[str] = True,
    *,
    seed: int = 1042,
    credits: int = 2,
    vendor_bills: int = 0,
    external_invoices: int = 0,
) -> tuple[dict[int, dict[str, Any]], DemoData]:
    """The invoices of a deterministic demo account by id, and what they are (see
    `ServiceTradeSandbox.seed_demo_data` for the arguments)."""
    kinds = _broken_kinds(broken)
    if count < len(kinds) + credits:
        raise ValueError("count is too small for the broken invoices and credits asked for")
    if vendor_bills < 0 or external_invoices < 0:
        raise ValueError("vendor_bills and external_invoices must not be negative")
    rng = random.Random(seed)
    others = ["processed"] * 4 + ["draft"] * 3 + ["ok"]
    statuses = ["pending_accounting"] * count + others
    rng.shuffle(statuses)
    ids = list(range(FIRST_ID, FIRST_ID + len(statuses)))
    pending = [i for i, s in zip(ids, statuses, strict=True) if s == "pending_accounting"]
    special = rng.sample(pending, len(kinds) + credits)
    broken_ids = dict(zip(kinds, special[: len(kinds)], strict=True))
    credit_ids = sorted(special[len(kinds) :])
    builder = _DemoBuilder(rng)
    invoices = {}
    for day, (invoice_id, status) in enumerate(zip(ids, statuses, strict=True)):
        invoices[invoice_id] = builder.invoice(invoice_id, status, day // 3, credit=invoice_id in credit_ids)
    for kind, invoice_id in broken_ids.items():
        _break(invoices[invoice_id], kind)
    # Records of the other types come last, so they leave the invoices above exactly as they were.
    other_types = {}
    kinds_of_other = ["vendorbill"] * vendor_bills + ["external"] * external_invoices
    for offset, invoice_type in enumerate(kinds_of_other):
        invoice_id = FIRST_ID + len(ids) + offset
        invoices[invoice_id] = builder.other_type(invoice_id, invoice_type, (len(ids) + offset) // 3)
        other_types[invoice_id] = invoice_type
    demo = DemoData(
        pending_ids=tuple(pending),
        credit_ids=tuple(credit_ids),
        other_statuses={i: s for i, s in zip(ids, statuses, strict=True) if s != "pending_accounting"},
        broken=broken_ids,
        other_types=other_types,
    )
    return invoices, demo


def _broken_kinds(broken: bool | int | Iterable[str]) -> list[str]:
    if isinstance(broken, bool):
        kinds = list(BROKEN_KINDS) if broken else []
    elif isinstance(broken, int):
        if not 0 <= broken <= len(BROKEN_KINDS):
            raise ValueError(f"broken must be 0..{len(BROKEN_KINDS)}")
        kinds = list(BROKEN_KINDS[:broken])
    else:
        kinds = list(broken)
    unknown = set(kinds) - set(BROKEN_KINDS)
    if unknown:
        raise ValueError(f"unknown broken kinds: {sorted(unknown)}")
    return kinds


# -- demo data --------------------------------------------------------------------------------------------

_CUSTOMERS = [
    # id, name, account number, AP e-mail, phone, [(location id, name, street, city, state, zip, tax rate)]
    (55, "Acme Facilities", "C-0055", "ap@acme-facilities.example", "919-555-0142", [
        (77, "Acme HQ", "400 Fayetteville St", "Raleigh", "NC", "27601", "7.25"),
        (78, "Acme Distribution Center", "2100 Garner Rd", "Raleigh", "NC", "27610", "7.25"),
    ]),
    (61, "Triangle Property Group", "C-0061", "invoices@triangleprop.example", "919-555-0178", [
        (81, "Park Place Tower", "301 W Main St", "Durham", "NC", "27701", "7.5"),
        (82, "Brightleaf Lofts", "905 W Main St", "Durham", "NC", "27701", "7.5"),
    ]),
    (64, "Blue Ridge Medical Center", "C-0064", "payables@brmc.example", "828-555-0110", [
        (85, "Main Hospital", "1 Hospital Dr", "Asheville", "NC", "28801", "7.0"),
    ]),
    (70, "Harbor Point Apartments", "C-0070", "office@harborpoint.example", "910-555-0133", [
        (88, "Harbor Point Building A", "12 Water St", "Wilmington", "NC", "28401", "7.0"),
    ]),
    (73, "Queen City Hospitality LLC", "C-0073", "ap@qchospitality.example", "704-555-0190", [
        (91, "Uptown Grill", "210 N Tryon St", "Charlotte", "NC", "28202", "7.25"),
        (92, "South End Kitchen", "1500 South Blvd", "Charlotte", "NC", "28203", "7.25"),
    ]),
    (76, "Pine State Schools", "C-0076", "accounts@pinestate.k12.example", "336-555-0121", [
        (95, "Pine State Middle School", "800 Elm St", "Greensboro", "NC", "27401", "0"),  # tax exempt
    ]),
    (82, "Summit Logistics", "C-0082", "billing@summitlogistics.example", "919-555-0166", [
        (97, "Cary Cross-Dock", "5000 Weston Pkwy", "Cary", "NC", "27513", "7.25"),
    ]),
]  # fmt: skip

_SERVICE_LINES = [
    # (id, name, abbr), [(lib item id, code, description, price, taxable, quantities)]
    ((3, "Fire Extinguisher", "FE"), [
        (12, "FE-INSP", "Annual fire extinguisher inspection", "12.50", False, (4, 6, 9, 12, 25)),
        (13, "FE-6YR", "6-year maintenance, ABC extinguisher", "45.00", False, (1, 2, 3)),
        (14, "FE-NEW10", "New 10 lb ABC extinguisher", "89.95", True, (1, 2, 4)),
    ]),
    ((4, "Sprinkler", "SPR"), [
        (20, "SPR-INSP", "Quarterly sprinkler inspection", "275.00", False, (1,)),
        (21, "SPR-HEAD", "Replace pendant sprinkler head", "42.35", True, (1, 3, 6)),
    ]),
    ((5, "Fire Alarm", "FA"), [
        (25, "FA-INSP", "Annual fire alarm inspection", "350.00", False, (1,)),
        (26, "FA-SMOKE", "Replace photoelectric smoke detector", "64.15", True, (1, 2, 5)),
    ]),
    ((6, "Kitchen Hood", "KH"), [
        (30, "KH-CLEAN", "Kitchen exhaust hood cleaning", "425.00", False, (1,)),
        (31, "KH-LINK", "Replace fusible link", "18.65", True, (2, 4, 6)),
    ]),
    ((7, "Backflow", "BF"), [
        (35, "BF-TEST", "Annual backflow preventer test", "95.00", False, (1, 2)),
    ]),
    ((8, "Emergency Lighting", "EL"), [
        (38, "EL-INSP", "Emergency light inspection (per fixture)", "8.25", False, (10, 18, 36)),
        (39, "EL-BATT", "Replace emergency light battery", "23.45", True, (1, 3, 7)),
    ]),
]  # fmt: skip

_LABOUR = (40, "LAB-HR", "Technician labor (hours)", "92.50", False, ("0.5", "1", "1.5", "2.25", "3.25"))
_TERMS = [
    {"name": "Net 30", "days": 30},
    {"name": "Net 15", "days": 15},
    {"name": "Due on receipt", "days": 0},
]


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _number(value: Decimal) -> int | float:
    """A quantity as a JSON number: an integer when it is whole (2), else a float (1.5)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _amount(value: Decimal) -> float:
    """A money amount or rate as the JSON number ServiceTrade sends (125.0, 18.13)."""
    return float(value)


class _DemoBuilder:
    """Builds realistic invoices from one random generator (so a seed reproduces the whole account)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.next_item_id = 1

    def invoice(self, invoice_id: int, status: str, day: int, *, credit: bool) -> dict[str, Any]:
        rng = self.rng
        cust_id, cust_name, account, email, phone, locations = rng.choice(_CUSTOMERS)
        loc_id, loc_name, street, city, state, postal, rate = rng.choice(locations)
        transaction = _FIRST_DAY + dt.timedelta(days=day)
        created = transaction + dt.timedelta(hours=rng.randint(8, 17), minutes=rng.randint(0, 59))
        updated = created + dt.timedelta(minutes=rng.randint(1, 600))
        terms = rng.choice([*_TERMS, None])
        due = None
        if terms is not None and rng.random() < 0.4:
            due = int((transaction + dt.timedelta(days=terms["days"])).timestamp())
        items = self._credit_items() if credit else self._items()
        tax_rate = Decimal(rate)
        subtotal = sum((Decimal(str(i["totalPrice"])) for i in items), Decimal(0))
        taxable = sum((Decimal(str(i["totalPrice"])) for i in items if i["taxable"]), Decimal(0))
        total_tax = _money(taxable * tax_rate / 100)
        job = None if rng.random() < 0.15 else {"id": invoice_id - 100, "number": f"J-{invoice_id - 100}"}
        return {
            "id": invoice_id,
            "uri": None,
            "invoiceNumber": str(invoice_id),
            "type": "invoice",  # a credit is an invoice with negative prices and totals
            "status": status,
            "transactionDate": int(transaction.timestamp()),
            "dueDate": due,
            "paymentTerms": terms,
            "currency": "USD",
            "customer": {
                "id": cust_id,
                "name": cust_name,
                "uri": None,
                "email": email,
                "phone": phone,
                "accountNumber": account,
            },
            "vendor": {"id": 1, "name": "Relay Fire & Safety"},
            "location": {
                "id": loc_id,
                "name": loc_name,
                "address": {"street": street, "city": city, "state": state, "postalCode": postal},
            },
            "job": job,
            "poNumber": f"PO-{rng.randint(1000, 9999)}" if rng.random() < 0.5 else None,
            "items": items,
            "taxRate": _amount(tax_rate),
            "subtotal": _amount(subtotal),
            "totalTax": _amount(total_tax),
            "totalPrice": _amount(subtotal + total_tax),
            "externalIds": {},
            "created": int(created.timestamp()),
            "updated": int(updated.timestamp()),
        }

    def other_type(self, invoice_id: int, invoice_type: str, day: int) -> dict[str, Any]:
        """A well-formed record in pending_accounting that is not an invoice for accounting: a vendor
        bill (a subcontractor's bill to us) or an invoice issued in an external system."""
        record = self.invoice(invoice_id, "pending_accounting", day, credit=False)
        record["type"] = invoice_type
        if invoice_type == "vendorbill":
            record["vendor"] = dict(SUBCONTRACTOR)
            record["invoiceNumber"] = f"VB-{invoice_id}"
        return record

    def _items(self) -> list[dict[str, Any]]:
        rng = self.rng
        service_line, catalogue = rng.choice(_SERVICE_LINES)
        picks = rng.sample(catalogue, k=rng.randint(1, len(catalogue)))
        if rng.random() < 0.6:
            picks.append(_LABOUR)
        if len(picks) < 5 and rng.random() < 0.25:  # a second service line on the same visit
            other_line, other_catalogue = rng.choice(_SERVICE_LINES)
            return [
                *self._lines(service_line, picks[:4]),
                *self._lines(other_line, [rng.choice(other_catalogue)]),
            ]
        return self._lines(service_line, picks[:5])

    def _credit_items(self) -> list[dict[str, Any]]:
        service_line, catalogue = self.rng.choice(_SERVICE_LINES)
        lib_id, code, description, price, taxable, _ = self.rng.choice(catalogue)
        return [self._item(service_line, (lib_id, code, f"Credit: {description}", f"-{price}", taxable), "1")]

    def _lines(self, service_line: tuple[int, str, str], picks: list[tuple]) -> list[dict[str, Any]]:
        return [self._item(service_line, pick[:5], str(self.rng.choice(pick[5]))) for pick in picks]

    def _item(self, service_line: tuple[int, str, str], lib: tuple, quantity: str) -> dict[str, Any]:
        lib_id, code, description, price, taxable = lib
        qty, unit_price = Decimal(quantity), Decimal(price)
        item = {
            "id": self.next_item_id,
            "description": description,
            "quantity": _number(qty),
            "price": _amount(unit_price),
            "totalPrice": _amount(_money(qty * unit_price)),
            "taxable": taxable,
            "serviceLine": {"id": service_line[0], "name": service_line[1], "abbr": service_line[2]},
            "libItem": {"id": lib_id, "code": code},
        }
        self.next_item_id += 1
        return item


def _break(invoice: dict[str, Any], kind: str) -> None:
    """Damage a demo invoice in exactly one way."""
    if kind == "no_customer":
        invoice["customer"] = None
    elif kind == "bad_transaction_date":
        invoice["transactionDate"] = BAD_TRANSACTION_DATE
    elif kind == "unmapped_service_line":
        # Totals stay consistent: only the service line is unknown to every flat-file template.
        invoice["items"][0]["serviceLine"] = dict(UNMAPPED_SERVICE_LINE)
        invoice["items"][0]["libItem"] = {"id": 990, "code": "ZZ-MISC"}
    else:  # pragma: no cover - guarded by seed_demo_data
        raise ValueError(kind)
