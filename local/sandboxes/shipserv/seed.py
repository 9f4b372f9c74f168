"""Demo data for the sandbox ShipServ: a supplier tenant (the upload side's trade-network account) and a
buyer tenant with 25 received documents (the download side), deterministic for a given seed.

- Supplier tenant `DEMO_SUPPLIER_TENANT` (TNID `DEMO_SUPPLIER_TNID`, role supplier). Its buyers are the two
  TNIDs in `DEMO_SUPPLIER_BUYERS`, set up to receive invoices. `DEMO_NOT_SET_UP_BUYER` is known to the
  network but not set up, and `DEMO_UNKNOWN_BUYER_TNID` is not on the network at all: sending to either is
  refused (422 UNKNOWN_BUYER).
- Buyer tenant `DEMO_BUYER_TENANT` (TNID `DEMO_BUYER_TNID`, role buyer) with 25 received documents from
  the three suppliers in `DEMO_SENDERS`: 20 invoices and 5 credit notes, each credit note linked to an
  earlier invoice of the same supplier. Two vessels (`DEMO_VESSELS`), VAT 0 % and 20 % lines, three
  currencies. A few documents carry PDF attachments (one invoice also a supporting delivery note). All are
  "Sent" and not exported.

Credentials are demo values for loopback only. `demo_pdf()` makes the small, valid PDFs attached here.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..documents import pdf_text, text_page_pdf
from .store import ROLE_BUYER, ROLE_SUPPLIER, LineSpec

if TYPE_CHECKING:
    from .server import ShipServSandbox

DEMO_SEED = 11
DEMO_SUPPLIER_TENANT = "Relay Marine Supplies"
DEMO_SUPPLIER_TNID = 300371  # the supplier TNID of the KB examples
DEMO_SUPPLIER_USERNAME = "integration@relay-marine-supplies.example"
DEMO_SUPPLIER_PASSWORD = "sandbox-supplier-password"
DEMO_SUPPLIER_CLIENT_ID = "relay-marine-supplies-tenant"
DEMO_SUPPLIER_CLIENT_SECRET = "sandbox-supplier-client-secret"
DEMO_SUPPLIER_BUYERS = ((100101, "Northsea Bulk Carriers AS"), (100102, "Baltic Tanker Management Ltd"))
DEMO_NOT_SET_UP_BUYER = (100199, "Atlantic Reefers Ltd")
DEMO_UNKNOWN_BUYER_TNID = 999001

DEMO_BUYER_TENANT = "Bulker Bee Shipping"
DEMO_BUYER_TNID = 100004  # the buyer TNID of the KB example ("API Test Buyer")
DEMO_BUYER_USERNAME = "integration@bulkerbee-shipping.example"
DEMO_BUYER_PASSWORD = "sandbox-buyer-password"
DEMO_BUYER_CLIENT_ID = "bulker-bee-shipping-tenant"
DEMO_BUYER_CLIENT_SECRET = "sandbox-buyer-client-secret"
DEMO_VESSELS = (("9489986", "Bulker Bee 30"), ("9321483", "Bulker Bee 12"))  # valid IMO check digits

RECEIVED_INVOICES, RECEIVED_CREDIT_NOTES = 20, 5
_FIRST_SUBMISSION = dt.datetime(2026, 3, 2, 7, 30, tzinfo=dt.UTC)

# Senders to the demo buyer: (TNID, name, reference prefix, currency, [(part code, description, unit price,
# unit of measure, VAT rate %)]). Ship's stores delivered on board are zero-rated; work ashore carries 20 %.
DEMO_SENDERS = (
    (300501, "Marine Spares International Ltd", "MSI", "GBP", (
        ("5005292-01", "Pressure roller", "500.00", "PCE", "0"),
        ("MSI-GSK-220", "Cylinder head gasket set", "184.75", "SET", "0"),
        ("MSI-FLT-11", "Lube oil filter element", "36.40", "PCE", "0"),
        ("MSI-WS-01", "Workshop overhaul of fuel pump", "1250.00", "PCE", "20"),
    )),
    (300502, "Harbour Provisions BV", "HPV", "EUR", (
        ("HP-FRESH", "Fresh provisions", "1.00", "KGM", "0"),
        ("HP-WATER", "Potable water", "4.35", "TNE", "0"),
        ("HP-DEL", "Launch delivery to anchorage", "320.00", "PCE", "20"),
    )),
    (300503, "Nordic Engine Services AS", "NES", "USD", (
        ("NES-TECH-HR", "Service engineer attendance (hours)", "95.00", "HUR", "20"),
        ("NES-TC-KIT", "Turbocharger overhaul kit", "2875.50", "SET", "0"),
        ("NES-INJ", "Fuel injector nozzle", "212.30", "PCE", "0"),
    )),
)  # fmt: skip
_QUANTITIES = {"KGM": ("120", "250", "480.5"), "TNE": ("35", "60"), "HUR": ("4", "7.5", "12")}


@dataclass(frozen=True)
class DemoData:
    """What `seed_demo_data()` created: TNIDs, credentials (the connector's kit: client id + secret,
    username + password) and the ids of the buyer's received documents."""

    seed: int
    supplier_tnid: int
    supplier_credentials: dict[str, Any]
    supplier_buyer_tnids: tuple[int, ...]  # set up to receive invoices
    not_set_up_buyer_tnid: int
    unknown_buyer_tnid: int
    buyer_tnid: int
    buyer_credentials: dict[str, Any]
    received_ids: tuple[str, ...]  # the 25, in listing order (submittedDate, id)
    invoice_ids: tuple[str, ...]
    credit_note_ids: tuple[str, ...]
    credit_note_links: dict[str, str]  # credit note id → the invoice id it credits
    attachment_ids: dict[str, tuple[str, ...]]  # document id → its attachment ids (only those that have some)
    vessels: dict[str, str] = field(default_factory=lambda: dict(DEMO_VESSELS))  # IMO → vessel name
    sender_tnids: tuple[int, ...] = tuple(s[0] for s in DEMO_SENDERS)


def seed_demo(sandbox: ShipServSandbox, seed: int = DEMO_SEED) -> DemoData:
    """Fill an empty sandbox with the demo network (see the module docstring)."""
    supplier = _tenant(sandbox, DEMO_SUPPLIER_TENANT, DEMO_SUPPLIER_CLIENT_ID, DEMO_SUPPLIER_CLIENT_SECRET,
                       DEMO_SUPPLIER_USERNAME, DEMO_SUPPLIER_PASSWORD,
                       DEMO_SUPPLIER_TNID, ROLE_SUPPLIER)  # fmt: skip
    for tnid, name in DEMO_SUPPLIER_BUYERS:
        sandbox.add_buyer(tnid, name)
    sandbox.add_buyer(*DEMO_NOT_SET_UP_BUYER, receives_invoices=False)
    buyer = _tenant(sandbox, DEMO_BUYER_TENANT, DEMO_BUYER_CLIENT_ID, DEMO_BUYER_CLIENT_SECRET,
                    DEMO_BUYER_USERNAME, DEMO_BUYER_PASSWORD, DEMO_BUYER_TNID, ROLE_BUYER)  # fmt: skip
    for tnid, name, *_ in DEMO_SENDERS:
        sandbox.add_supplier(tnid, name)
    rng = random.Random(seed)
    documents = _received_documents(sandbox, rng)
    ordered = sandbox.documents(buyer_tnid=DEMO_BUYER_TNID)
    return DemoData(
        seed=seed,
        supplier_tnid=DEMO_SUPPLIER_TNID,
        supplier_credentials=supplier,
        supplier_buyer_tnids=tuple(tnid for tnid, _ in DEMO_SUPPLIER_BUYERS),
        not_set_up_buyer_tnid=DEMO_NOT_SET_UP_BUYER[0],
        unknown_buyer_tnid=DEMO_UNKNOWN_BUYER_TNID,
        buyer_tnid=DEMO_BUYER_TNID,
        buyer_credentials=buyer,
        received_ids=tuple(d["id"] for d in ordered),
        invoice_ids=tuple(d["id"] for d in ordered if d["type"] == "Invoice"),
        credit_note_ids=tuple(d["id"] for d in ordered if d["type"] == "CreditNote"),
        credit_note_links={d["id"]: d["linkedInvoiceId"] for d in documents if d["type"] == "CreditNote"},
        attachment_ids={
            d["id"]: tuple(a["id"] for a in d["attachments"]) for d in documents if d["attachments"]
        },
    )


def _tenant(
    sandbox: ShipServSandbox,
    name: str,
    client_id: str,
    secret: str,
    username: str,
    password: str,
    tnid: int,
    role: str,
) -> dict[str, Any]:
    """A tenant with its one integration user (acting for the company `name`): the user's credentials."""
    sandbox.add_tenant(name, client_id, secret)
    return sandbox.add_user(username, password, tnid, name, role, tenant=name)


def _received_documents(sandbox: ShipServSandbox, rng: random.Random) -> list[dict[str, Any]]:
    """20 invoices and 5 credit notes to the demo buyer, each credit note after the invoice it credits."""
    total = RECEIVED_INVOICES + RECEIVED_CREDIT_NOTES
    credit_slots = set(rng.sample(range(5, total), RECEIVED_CREDIT_NOTES))
    with_pdf = set(rng.sample(range(RECEIVED_INVOICES), 5))  # invoice numbers (0..19) with a PDF
    with_delivery_note = min(with_pdf)
    moment = _FIRST_SUBMISSION
    invoices: list[dict[str, Any]] = []
    credited: set[str] = set()
    documents = []
    numbers = {tnid: rng.randint(24010, 24090) for tnid, *_ in DEMO_SENDERS}
    for slot in range(total):
        moment += dt.timedelta(
            hours=rng.randint(3, 30), minutes=rng.randint(0, 59), seconds=rng.randint(0, 59)
        )
        if slot in credit_slots:
            open_invoices = [i for i in invoices if i["id"] not in credited]
            invoice = rng.choice(open_invoices)
            credited.add(invoice["id"])
            document = _credit_note(sandbox, rng, invoice, moment, with_pdf=len(credited) == 2)
        else:
            index = len(invoices)
            sender = rng.choice(DEMO_SENDERS)
            numbers[sender[0]] += rng.randint(1, 4)
            document = _invoice(
                sandbox,
                rng,
                sender,
                f"{sender[2]}-{numbers[sender[0]]}",
                moment,
                with_pdf=index in with_pdf,
                delivery_note=index == with_delivery_note,
            )
            invoices.append(document)
        documents.append(document)
    return documents


def _invoice(
    sandbox: ShipServSandbox,
    rng: random.Random,
    sender: tuple[Any, ...],
    reference: str,
    moment: dt.datetime,
    *,
    with_pdf: bool,
    delivery_note: bool,
) -> dict[str, Any]:
    tnid, name, _, currency, catalogue = sender
    imo, vessel = rng.choice(DEMO_VESSELS)
    picks = rng.sample(catalogue, rng.randint(1, min(3, len(catalogue))))
    lines = [
        LineSpec(
            description, rng.choice(_QUANTITIES.get(unit, ("1", "2", "3", "4"))), price, rate, code, unit
        )
        for code, description, price, unit, rate in picks
    ]
    invoice_date = (moment - dt.timedelta(days=rng.randint(0, 2))).date()
    files = []
    if with_pdf:
        files.append(
            (f"{reference}.pdf", demo_pdf(f"{name} - Invoice {reference}", _pdf_lines(lines)), "Invoice")
        )
    if delivery_note:
        files.append(
            (f"DN-{reference}.pdf", demo_pdf(f"Delivery note for {reference}", [vessel]), "Supporting")
        )
    return sandbox.add_received_document(
        buyer_tnid=DEMO_BUYER_TNID,
        supplier_tnid=tnid,
        reference_number=reference,
        lines=lines,
        purchase_order_number=f"PO-BB-{rng.randint(1000, 9999)}",
        currency=currency,
        invoice_date=invoice_date.isoformat(),
        due_date=(invoice_date + dt.timedelta(days=30)).isoformat(),
        payment_terms="30 days net",
        vessel_imo_number=imo,
        vessel_name=vessel,
        attachments=files,
        submitted=moment,
    )


def _credit_note(
    sandbox: ShipServSandbox,
    rng: random.Random,
    invoice: dict[str, Any],
    moment: dt.datetime,
    *,
    with_pdf: bool,
) -> dict[str, Any]:
    """A credit note for part of one line of `invoice` (same supplier, buyer, PO, vessel, currency)."""
    line = rng.choice(invoice["lineItems"])
    quantity = "1" if line["quantity"] != "1" and rng.random() < 0.5 else line["quantity"]
    spec = LineSpec(
        f"Credit: {line['description']}",
        quantity,
        line["unitPrice"],
        line["taxRate"],
        line["partCode"],
        line["unitOfMeasure"],
    )
    reference = f"CN-{invoice['referenceNumber']}"
    files = []
    if with_pdf:
        files.append(
            (f"{reference}.pdf", demo_pdf(f"Credit note {reference}", _pdf_lines([spec])), "Invoice")
        )
    return sandbox.add_received_document(
        buyer_tnid=invoice["buyerTnId"],
        supplier_tnid=invoice["supplierTnId"],
        reference_number=reference,
        doc_type="CreditNote",
        lines=[spec],
        purchase_order_number=invoice["purchaseOrderNumber"],
        currency=invoice["currency"],
        invoice_date=moment.date().isoformat(),
        vessel_imo_number=invoice["vesselImoNumber"],
        vessel_name=invoice["vesselName"],
        linked_invoice_id=invoice["id"],
        attachments=files,
        submitted=moment,
    )


def _pdf_lines(lines: list[LineSpec]) -> list[str]:
    return [
        f"{s.quantity} {s.unit_of_measure} {s.description} @ {s.unit_price} (VAT {s.tax_rate}%)"
        for s in lines
    ]


def demo_pdf(title: str, lines: list[str] | tuple[str, ...] = ()) -> bytes:
    """A small, valid one-page PDF (Helvetica text): the same text always gives the same bytes."""

    def escape(text: str) -> str:
        return pdf_text(text.encode("ascii", "replace").decode())

    rows = [f"BT /F1 16 Tf 50 790 Td ({escape(title)}) Tj ET"]
    rows += [f"BT /F1 10 Tf 50 {760 - 16 * i} Td ({escape(line)}) Tj ET" for i, line in enumerate(lines)]
    return text_page_pdf("\n".join(rows).encode())
