"""The sandbox Clearnox's demo data (deterministic): booking entries `be_10001`, … whose invoice numbers
run from `start_number` (1001, like the sandbox ServiceTrade's invoices), in USD, for a handful of
customers, none with a document yet.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from .store import now_iso

_CUSTOMERS: tuple[tuple[str, str, str | None], ...] = (
    ("c_55", "Acme Facilities", "C-0055"),
    ("c_61", "Brightwater Property Group", "C-0061"),
    ("c_72", "Cedar Ridge Medical Center", "C-0072"),
    ("c_80", "Harbor Logistics", "C-0080"),
    ("c_93", "Northgate School District", None),
    ("c_104", "Summit Hotels Raleigh", "C-0104"),
)


def demo_entries(count: int, *, start_number: int, seed: int) -> dict[str, dict[str, Any]]:
    """`count` booking entries without a document, by id (same arguments → same entries)."""
    rng = random.Random(seed)
    first_day = dt.date(2026, 3, 2)
    entries = {}
    for index in range(count):
        customer_id, name, number = rng.choice(_CUSTOMERS)
        entries[f"be_{10001 + index}"] = {
            "id": f"be_{10001 + index}",
            "entry_reference": f"AR-2026-{index + 1:04d}",
            "invoice_number": str(start_number + index),
            "document_date": (first_day + dt.timedelta(days=index // 3)).isoformat(),
            "amount": str(Decimal(rng.randint(4_500, 480_000)) / 100),
            "currency": "USD",
            "customer": {"id": customer_id, "name": name, "number": number},
            "has_document": False,
            "updated_at": now_iso(),
        }
    return entries
