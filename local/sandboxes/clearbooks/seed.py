"""The sandbox ClearBooks' demo books (deterministic): a marine supplies business, the supplier side of
flow 5, with 30 sales invoices and 5 sales credit notes for trade-network buyers.

- Customers: two buyers whose ShipServ TNID is in the custom field `TNID` and in `externalId` (both
  ASSUMED places for it; the connector's mapping picks one), and one local customer with no TNID.
- 30 sales invoices, October 2026, one a day, each with the buyer's PO number in `reference` (ASSUMED:
  where the PO travels). Buyer 1 is invoiced in GBP under the UK treatment (20 %, one line with a manual
  VAT amount); buyer 2 in USD under GE (export of goods, 0 %). Two are broken on purpose:
  `broken["customer_without_tnid"]` (its customer has no TNID) and `broken["missing_po"]` (empty
  `reference`). Some were modified after they were created, so `modifiedAt` order differs from id order.
- 5 sales credit notes, each linked (`linkedInvoiceId`) to a good invoice of the same customer, with that
  invoice's PO in `reference` and one returned unit of its first line (positive amounts).
- PDFs for 20 of the invoices and 3 of the credit notes (`pdf_ids`); the others have none (their `/pdf`
  is 404).
- Suppliers for the download side: one per trade-network supplier TNID (`externalId` = TNID) and one
  known only by name.
- The default account codes and VAT rates of every business come from `store`.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import ClearBooksSandbox

# The defaults mirror the sandbox ShipServ's demo (local/sandboxes/shipserv/seed.py, not imported: the two
# sandboxes stay independent): its supplier tenant's two buyers (DEMO_SUPPLIER_BUYERS) and two of the
# senders to its buyer tenant (DEMO_SENDERS): one known here by externalId = TNID, one by name only; the
# third sender is unknown here (the download side creates it). Pass the TNIDs to keep the two in step.
DEMO_BUYER_TNIDS = (100101, 100102)
DEMO_SUPPLIERS: Mapping[int | str, str] = {300501: "Marine Spares International Ltd"}
DEMO_NAMED_SUPPLIER = "Harbour Provisions BV"  # no externalId: found by name or not at all
DEMO_START = dt.datetime(2026, 10, 1, 9, 0, tzinfo=dt.UTC)
INVOICE_COUNT, CREDIT_NOTE_COUNT = 30, 5
TNID_FIELD = "TNID"

_BUYERS = (
    ("Northsea Bulk Carriers AS", "ap@northsea-bulk.example", "UK", "GBP", None),
    ("Baltic Tanker Management Ltd", "invoices@baltic-tanker.example", "GE", "USD", "0.7850"),
)
_LOCAL_CUSTOMER = ("Harbour Chandlery Ltd", "accounts@harbourchandlery.example")
_NO_TNID_INDEX, _NO_PO_INDEX = 7, 18  # invoice positions (0-based) broken on purpose
_CREDITED_INDEXES = (2, 4, 12, 20, 25)  # invoices a credit note is linked to
_MANUAL_VAT_INDEX = 12
_MODIFIED_LATER = (3, 9, 14, 22, 27)  # invoices modified two days after they were created

_PRODUCTS = (
    # description, unit price, account code
    ("Fuel filter element, main engine", "48.75", 4000),
    ("Hydraulic hose assembly 1/2in x 2m", "126.40", 4000),
    ("Fresh water pump seal kit", "89.90", 4000),
    ("Mooring rope 40mm x 220m", "1450.00", 4000),
    ("Immersion suit, adult universal", "235.00", 4000),
    ("Chart corrections service (monthly)", "75.00", 4000),
    ("Galley stores: dry provisions", "612.35", 4000),
    ("Paint, antifouling 20l", "310.20", 4000),
)
_DELIVERY = ("Delivery alongside by launch", "180.00", 4100)


@dataclass(frozen=True)
class DemoData:
    """What `seed_demo_data()` created, for tests and the demo to assert on."""

    business_id: int
    customer_by_tnid: dict[str, int]  # TNID (as the custom field holds it, a string) → customer id
    customer_without_tnid: int
    invoice_ids: tuple[int, ...]  # all 30, in id (= date) order, broken ones included
    credit_note_ids: tuple[int, ...]  # all 5
    linked_invoice: dict[int, int]  # credit note id → the invoice it is linked to
    broken: dict[str, int]  # "customer_without_tnid" | "missing_po" → invoice id
    pdf_ids: tuple[int, ...]  # sales documents (invoices and credit notes) with a PDF
    supplier_by_tnid: dict[str, int]  # trade-network supplier TNID → supplier id (its externalId)
    supplier_by_name_only: int  # a supplier without externalId

    @property
    def broken_ids(self) -> frozenset[int]:
        return frozenset(self.broken.values())

    @property
    def document_ids(self) -> tuple[int, ...]:
        """Every sales document: 30 invoices, then 5 credit notes."""
        return self.invoice_ids + self.credit_note_ids

    @property
    def clean_ids(self) -> tuple[int, ...]:
        """Sales documents the trade network should accept (33)."""
        return tuple(i for i in self.document_ids if i not in self.broken_ids)


def seed_demo_data(
    sandbox: ClearBooksSandbox,
    buyer_tnids: Sequence[int | str] = DEMO_BUYER_TNIDS,
    suppliers: Mapping[int | str, str] = DEMO_SUPPLIERS,
    *,
    start: dt.datetime = DEMO_START,
) -> DemoData:
    """Seed the sandbox's default business (call it on a fresh or `reset()` sandbox): `buyer_tnids` are
    the two trade-network buyers' TNIDs, `suppliers` TNID → name of the trade-network suppliers the
    download side will meet. Same arguments, same books."""
    if len(buyer_tnids) != len(_BUYERS):
        raise ValueError(f"seed_demo_data needs {len(_BUYERS)} buyer TNIDs")
    rng = random.Random(11)
    contacts_created = start - dt.timedelta(days=30)
    buyers = []
    for (name, email, _, _, _), tnid in zip(_BUYERS, buyer_tnids, strict=True):
        customer = sandbox.add_customer(
            name,
            email=email,
            external_id=str(tnid),
            custom_fields={TNID_FIELD: str(tnid)},
            created_at=contacts_created,
        )
        buyers.append(customer["id"])
    local = sandbox.add_customer(_LOCAL_CUSTOMER[0], email=_LOCAL_CUSTOMER[1], created_at=contacts_created)[
        "id"
    ]

    invoices: list[dict[str, Any]] = []
    pdf_ids: list[int] = []
    for index in range(INVOICE_COUNT):
        buyer = 1 if index % 3 == 1 and index != _NO_TNID_INDEX else 0
        _, _, treatment, currency, rate = _BUYERS[buyer]
        customer = local if index == _NO_TNID_INDEX else buyers[buyer]
        created = start + dt.timedelta(days=index, minutes=7 * index)
        modified = created + dt.timedelta(days=2, hours=3) if index in _MODIFIED_LATER else created
        extra = {"currency": currency} | ({"exchangeRate": rate} if rate else {})
        invoice = sandbox.add_sales_invoice(
            customer,
            _invoice_lines(rng, index, treatment),
            date=created.date().isoformat(),
            date_due=(created.date() + dt.timedelta(days=30)).isoformat(),
            reference="" if index == _NO_PO_INDEX else f"PO-{buyer + 1}{4100 + index}",
            description=f"Ship supplies, order {index + 1} of October",
            vatTreatment=treatment,
            pdf=index % 3 != 2,
            created_at=created,
            modified_at=modified,
            **extra,
        )
        invoices.append(invoice)
        if index % 3 != 2:
            pdf_ids.append(invoice["id"])

    credit_notes, linked = [], {}
    for number, index in enumerate(_CREDITED_INDEXES):
        invoice = invoices[index]
        first = invoice["lineItems"][0]
        line = {k: first[k] for k in ("unitPrice", "accountCode", "vatRateKey")}
        line |= {"description": f"Returned: {first['description']}", "quantity": 1}
        if first["vatRateKey"] == "Manual":
            line["vatAmount"] = (first["vatAmount"] / first["quantity"]).quantize(first["vatAmount"])
        created = start + dt.timedelta(days=index + 5, hours=4)
        note = sandbox.add_sales_credit_note(
            invoice["customerId"],
            [line],
            date=created.date().isoformat(),
            linked_invoice_id=invoice["id"],
            reference=invoice["reference"],
            description=f"Credit for {invoice['formattedDocumentNumber']}",
            vatTreatment=invoice["vatTreatment"],
            currency=invoice["currency"],
            exchangeRate=invoice["exchangeRate"],
            pdf=number < 3,
            created_at=created,
        )
        credit_notes.append(note["id"])
        linked[note["id"]] = invoice["id"]
        if number < 3:
            pdf_ids.append(note["id"])

    supplier_by_tnid = {}
    for tnid, name in suppliers.items():
        email = f"accounts+{tnid}@suppliers.example"
        supplier = sandbox.add_supplier(name, external_id=str(tnid), email=email, created_at=contacts_created)
        supplier_by_tnid[str(tnid)] = supplier["id"]
    named = sandbox.add_supplier(DEMO_NAMED_SUPPLIER, created_at=contacts_created)["id"]
    return DemoData(
        business_id=sandbox.business_id,
        customer_by_tnid={str(t): c for t, c in zip(buyer_tnids, buyers, strict=True)},
        customer_without_tnid=local,
        invoice_ids=tuple(i["id"] for i in invoices),
        credit_note_ids=tuple(credit_notes),
        linked_invoice=linked,
        broken={
            "customer_without_tnid": invoices[_NO_TNID_INDEX]["id"],
            "missing_po": invoices[_NO_PO_INDEX]["id"],
        },
        pdf_ids=tuple(pdf_ids),
        supplier_by_tnid=supplier_by_tnid,
        supplier_by_name_only=named,
    )


def _invoice_lines(rng: random.Random, index: int, treatment: str) -> list[dict[str, Any]]:
    """One to three product lines (+ delivery on every fourth invoice); rates for `treatment`."""
    picks = rng.sample(_PRODUCTS, k=1 + index % 3)
    if index % 4 == 0:
        picks.append(_DELIVERY)
    rate = "20" if treatment == "UK" else "0"
    lines = [
        {
            "description": description,
            "unitPrice": price,
            "quantity": rng.randint(1, 12) if code == 4000 else 1,
            "accountCode": code,
            "vatRateKey": rate,
        }
        for description, price, code in picks
    ]
    if index == _MANUAL_VAT_INDEX:  # a UK invoice whose first line's VAT was agreed by hand
        lines[0] |= {"vatRateKey": "Manual", "vatAmount": "12.34"}
    return lines
