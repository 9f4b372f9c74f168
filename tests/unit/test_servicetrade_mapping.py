"""ServiceTrade invoice JSON → canonical Document: the good shapes exactly, every broken shape by reason."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest

from invoice_relay.errors import MappingError, PermanentError
from invoice_relay.models import Address, DocumentKind, DocumentStatus, ExternalRef, Tax
from invoice_relay.partners.servicetrade.mapping import invoice_to_document, is_accounting_invoice
from local.sandboxes.servicetrade import BROKEN_KINDS, ServiceTradeSandbox, sample_invoice

INVOICE = {
    "id": 1042,
    "uri": "https://api.servicetrade.com/api/invoice/1042",
    "invoiceNumber": "1042",
    "type": "invoice",
    "status": "pending_accounting",
    "transactionDate": 1772514000,  # 2026-03-03 05:00 UTC (midnight Eastern)
    "dueDate": None,
    "paymentTerms": {"name": "Net 30", "days": 30},
    "currency": "USD",
    "customer": {
        "id": 55,
        "name": "Acme Facilities",
        "uri": "https://api.servicetrade.com/api/company/55",
        "email": "ap@acme-facilities.example",
        "phone": "919-555-0142",
        "accountNumber": "C-0055",
    },
    "vendor": {"id": 1, "name": "Relay Fire & Safety"},
    "location": {
        "id": 77,
        "name": "Acme HQ",
        "address": {"street": "400 Fayetteville St", "city": "Raleigh", "state": "NC", "postalCode": "27601"},
    },
    "job": {"id": 901, "number": "J-901"},
    "poNumber": "PO-77",
    "items": [
        {
            "id": 1,
            "description": "New 10 lb ABC extinguisher",
            "quantity": 3,
            "price": 19.99,
            "totalPrice": 59.97,
            "taxable": True,
            "serviceLine": {"id": 3, "name": "Fire Extinguisher", "abbr": "FE"},
            "libItem": {"id": 14, "code": "FE-NEW10"},
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
        {
            "id": 3,
            "description": "Replace fusible link",
            "quantity": 2,
            "price": 0.1,
            "totalPrice": 0.2,
            "taxable": True,
            "serviceLine": {"id": 6, "name": "Kitchen Hood", "abbr": "KH"},
            "libItem": {"id": 31, "code": "KH-LINK"},
        },
    ],
    "taxRate": 7.25,
    "subtotal": 198.92,
    "totalTax": 4.36,  # 7.25 % of 60.17 = 4.362325
    "totalPrice": 203.28,
    "created": 1772560800,
    "updated": 1772564400,
}


def invoice(**changes):
    payload = copy.deepcopy(INVOICE)
    payload.update(changes)
    return payload


def reason(payload) -> str:
    with pytest.raises(MappingError) as caught:
        invoice_to_document(payload)
    assert isinstance(caught.value, PermanentError) and caught.value.partner == "servicetrade"
    return caught.value.reason


def test_good_invoice_maps_exactly():
    doc = invoice_to_document(invoice())

    assert doc.kind is DocumentKind.INVOICE and doc.status is DocumentStatus.ISSUED
    assert doc.number == "1042"
    assert doc.issue_date == dt.date(2026, 3, 3)
    assert doc.due_date == dt.date(2026, 4, 2)  # Net 30
    assert (doc.payment_terms.description, doc.payment_terms.due_offset_days) == ("Net 30", 30)
    assert doc.currency == "USD"
    assert doc.purchase_order == "PO-77"
    assert doc.memo == "Job J-901; Location Acme HQ"
    assert doc.external_refs == [
        ExternalRef(
            system="servicetrade",
            id="1042",
            number="1042",
            url="https://api.servicetrade.com/api/invoice/1042",
        )
    ]

    buyer = doc.buyer
    assert (buyer.name, buyer.account_number, buyer.email, buyer.phone) == (
        "Acme Facilities",
        "C-0055",
        "ap@acme-facilities.example",
        "919-555-0142",
    )
    assert buyer.address == Address(
        line1="400 Fayetteville St", city="Raleigh", region="NC", postal_code="27601"
    )
    assert buyer.external_refs == [
        ExternalRef(system="servicetrade", id="55", url="https://api.servicetrade.com/api/company/55")
    ]
    assert doc.seller.name == "Relay Fire & Safety"
    assert doc.seller.external_refs == [ExternalRef(system="servicetrade", id="1")]


def test_lines_taxes_and_totals_are_exact_decimals():
    doc = invoice_to_document(invoice())

    first, labour, link = doc.lines
    assert (first.position, first.description, first.sku, first.item_code) == (
        1,
        "New 10 lb ABC extinguisher",
        "FE-NEW10",
        "FE",
    )
    assert (first.quantity, first.unit_price, first.net_amount, first.tax_rate) == (
        Decimal("3"),
        Decimal("19.99"),
        Decimal("59.97"),
        Decimal("7.25"),
    )
    assert str(first.unit_price) == "19.99"  # from the float's shortest repr, not 19.989999999999998...
    assert (labour.quantity, labour.unit_price, labour.net_amount, labour.tax_rate) == (
        Decimal("1.5"),
        Decimal("92.5"),
        Decimal("138.75"),
        None,
    )
    assert (link.sku, link.item_code, link.net_amount) == ("KH-LINK", "KH", Decimal("0.20"))
    assert all(line.account_code is None and line.unit is None for line in doc.lines)

    assert doc.taxes == [
        Tax(name="Sales tax", rate=Decimal("7.25"), taxable_amount=Decimal("60.17"), amount=Decimal("4.36"))
    ]
    assert (str(doc.totals.subtotal), str(doc.totals.tax_total), str(doc.totals.total)) == (
        "198.92",
        "4.36",
        "203.28",
    )


def test_due_date_prefers_the_invoice_due_date():
    doc = invoice_to_document(invoice(dueDate=1773118800))  # 2026-03-10 05:00 UTC
    assert doc.due_date == dt.date(2026, 3, 10)
    assert invoice_to_document(invoice(paymentTerms=None)).due_date is None


def test_optional_parts_may_be_missing():
    doc = invoice_to_document(
        invoice(job=None, poNumber=None, location=None, vendor=None, currency=None, type=None, uri=None)
    )
    assert (doc.kind, doc.currency, doc.memo, doc.purchase_order, doc.seller) == (
        DocumentKind.INVOICE,
        "USD",
        None,
        None,
        None,
    )
    assert doc.buyer.address is None
    assert doc.external_refs[0].url is None


def test_tax_exempt_invoice_has_no_taxes():
    items = [dict(INVOICE["items"][1])]
    doc = invoice_to_document(
        invoice(items=items, taxRate=0.0, subtotal=138.75, totalTax=0.0, totalPrice=138.75)
    )
    assert doc.taxes == [] and doc.lines[0].tax_rate is None
    assert doc.totals.total == Decimal("138.75")


CREDIT_ITEM = {
    **INVOICE["items"][0],
    "description": "Credit: duplicate extinguisher",
    "quantity": 1,
    "price": -89.95,
    "totalPrice": -89.95,
}


@pytest.mark.parametrize("invoice_type", ["invoice", None])
def test_negative_invoice_becomes_a_credit_note_with_positive_amounts(invoice_type):
    # ServiceTrade has no credit type: a credit is an invoice whose prices and totals are negative.
    doc = invoice_to_document(
        invoice(type=invoice_type, items=[CREDIT_ITEM], subtotal=-89.95, totalTax=-6.52, totalPrice=-96.47)
    )
    assert doc.kind is DocumentKind.CREDIT_NOTE
    assert (doc.lines[0].quantity, doc.lines[0].unit_price, doc.lines[0].net_amount) == (
        Decimal("1"),
        Decimal("89.95"),
        Decimal("89.95"),
    )
    assert doc.taxes == [
        Tax(name="Sales tax", rate=Decimal("7.25"), taxable_amount=Decimal("89.95"), amount=Decimal("6.52"))
    ]
    assert (doc.totals.subtotal, doc.totals.tax_total, doc.totals.total) == (
        Decimal("89.95"),
        Decimal("6.52"),
        Decimal("96.47"),
    )
    assert doc.number == "1042" and doc.ref("servicetrade").id == "1042"


def test_credit_line_on_a_positive_invoice_keeps_it_an_invoice():
    items = [*copy.deepcopy(INVOICE["items"]), {**CREDIT_ITEM, "id": 4, "price": -0.2, "totalPrice": -0.2}]
    doc = invoice_to_document(invoice(items=items, subtotal=198.72, totalTax=4.35, totalPrice=203.07))
    assert doc.kind is DocumentKind.INVOICE
    assert doc.lines[3].net_amount == Decimal("-0.20") and doc.totals.total == Decimal("203.07")


@pytest.mark.parametrize("invoice_type", ["vendorbill", "external", "credit", "quote"])
def test_records_that_are_not_invoices_for_accounting_are_refused(invoice_type):
    payload = invoice(type=invoice_type)
    assert not is_accounting_invoice(payload)
    assert reason(payload) == f"invoice 1042: type {invoice_type!r} is not an invoice for accounting"
    with pytest.raises(MappingError) as caught:
        invoice_to_document(payload)
    assert caught.value.raw is payload  # archived as received


def test_invoices_for_accounting():
    assert is_accounting_invoice(invoice()) and is_accounting_invoice(invoice(type=None))
    payload = invoice()
    del payload["type"]
    assert is_accounting_invoice(payload) and invoice_to_document(payload).kind is DocumentKind.INVOICE


def test_sample_invoice_maps():
    doc = invoice_to_document(sample_invoice(5000))
    assert (doc.kind, doc.number, doc.totals.total) == (DocumentKind.INVOICE, "5000", Decimal("406.88"))


def test_unmapped_service_line_still_maps_with_its_abbreviation():
    items = copy.deepcopy(INVOICE["items"])
    items[2]["serviceLine"] = {"id": 99, "name": "Unmapped Service Line", "abbr": "ZZ"}
    assert invoice_to_document(invoice(items=items)).lines[2].item_code == "ZZ"


def test_void_and_draft_statuses():
    assert invoice_to_document(invoice(status="void")).status is DocumentStatus.VOID
    assert invoice_to_document(invoice(status="draft")).status is DocumentStatus.DRAFT


# -- broken shapes ---------------------------------------------------------------------------------------


def test_no_customer():
    assert reason(invoice(customer=None)) == "invoice 1042 has no customer"
    assert reason(invoice(customer={"id": 55, "name": " "})) == "invoice 1042: customer 55 has no name"
    assert reason(invoice(customer={"name": "Acme"})) == "invoice 1042 has no customer id"


def test_garbled_or_missing_transaction_date():
    assert (
        reason(invoice(transactionDate="31/02/2026"))
        == "invoice 1042: transactionDate '31/02/2026' is not a date"
    )
    payload = invoice()
    del payload["transactionDate"]
    assert reason(payload) == "invoice 1042 has no transactionDate"
    assert reason(invoice(transactionDate=True)) == "invoice 1042: transactionDate True is not a date"
    assert reason(invoice(transactionDate=1772514000000)) == (
        "invoice 1042: transactionDate 1772514000000 is not a date"  # milliseconds, not seconds
    )
    assert reason(invoice(transactionDate=0)) == (
        "invoice 1042: transactionDate 0 is not a plausible date (1970-01-01)"
    )
    assert invoice_to_document(invoice(transactionDate="1772514000")).issue_date == dt.date(2026, 3, 3)


def test_totals_that_do_not_match_the_lines():
    assert reason(invoice(subtotal=198.93, totalPrice=203.29)) == (
        "invoice 1042: totals do not match lines: subtotal 198.93 != computed 198.92"
    )
    assert (
        reason(invoice(totalPrice=203.0))
        == "invoice 1042: totals do not match lines: total 203.00 != computed 203.28"
    )
    items = copy.deepcopy(INVOICE["items"])
    items[1]["totalPrice"] = 138.70
    assert reason(invoice(items=items)) == (
        "invoice 1042: line 2: net amount 138.7 != quantity 1.5 × unit price 92.5 − discount 0 = 138.75"
    )


def test_tax_that_does_not_match_the_rate():
    assert reason(invoice(totalTax=5.36, totalPrice=204.28)).startswith(
        "invoice 1042: tax Sales tax at 7.25%: amount 5.36 != 4.3623 expected"
    )
    assert reason(invoice(taxRate=None)) == "invoice 1042: totalTax 4.36 is charged without a taxRate"


def test_bad_items():
    items = copy.deepcopy(INVOICE["items"])
    items[1]["price"] = "92,50"
    assert reason(invoice(items=items)) == "invoice 1042: item 2 (id 2) price '92,50' is not a number"
    del items[1]["price"]
    assert reason(invoice(items=items)) == "invoice 1042: item 2 (id 2) has no price"
    assert reason(invoice(items=[])) == "invoice 1042 has no items"
    assert reason(invoice(items=None)) == "invoice 1042 has no items"


def test_other_broken_fields():
    assert reason(invoice(invoiceNumber="")) == "invoice 1042 has no invoiceNumber"
    assert (
        reason(invoice(currency="US Dollar")) == "invoice 1042: currency 'US Dollar' is not an ISO 4217 code"
    )
    assert reason(invoice(subtotal=None)) == "invoice 1042 has no subtotal"
    assert (
        reason(invoice(dueDate=1772254800))
        == "invoice 1042: due date 2026-02-28 is before issue date 2026-03-03"
    )
    assert reason(invoice(paymentTerms={"name": "Net 30", "days": "30"})) == (
        "invoice 1042: paymentTerms days '30' is not a number of days"
    )
    with pytest.raises(MappingError, match="servicetrade invoice has no id"):
        invoice_to_document({"invoiceNumber": "1"})


# -- poison invoices: whatever is wrong, one MappingError naming the invoice, carrying the payload -------


def poison(payload) -> MappingError:
    with pytest.raises(MappingError) as caught:
        invoice_to_document(payload)
    assert caught.value.raw is payload and caught.value.partner == "servicetrade"
    return caught.value


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"subtotal": 1e30}, "invoice 1042: subtotal 1e+30 is out of range (at most 15 digits before the"),
        ({"totalPrice": float("nan")}, "invoice 1042: totalPrice nan is not a number"),
        ({"totalTax": "Infinity"}, "invoice 1042: totalTax 'Infinity' is not a number"),
        ({"taxRate": 1e-9}, "invoice 1042: taxRate 1e-09 has more than 6 decimal places"),
        ({"subtotal": 10**20}, "invoice 1042: subtotal 100000000000000000000 is out of range"),
    ],
)
def test_an_amount_beyond_the_money_bounds_fails_the_invoice_with_the_reason(changes, expected):
    assert poison(invoice(**changes)).reason.startswith(expected)


def test_a_line_whose_product_overflows_the_bound_fails_the_invoice_not_the_poll():
    items = copy.deepcopy(INVOICE["items"])
    items[0].update(quantity=99_999_999_999_999, price=99_999_999_999_999, totalPrice=None)
    assert "is out of range" in poison(invoice(items=items)).reason


@pytest.mark.parametrize(
    "changes",
    [
        {"items": [{"price": {"amount": 1}, "quantity": 1}]},
        {"items": [{"price": 1, "quantity": [1]}]},
        {"customer": {"id": 55, "name": ["Acme"]}},
        {"transactionDate": [1772514000]},
        {"transactionDate": 10**30},
        {"paymentTerms": {"days": 10**30}},
        {"paymentTerms": {"days": 3661}},
        {"location": {"address": ["400 Fayetteville St"]}, "customer": None},
        {"currency": ["USD"]},
        {"taxRate": {"rate": 7.25}},
    ],
)
def test_values_of_the_wrong_type_fail_the_invoice_with_a_mapping_error(changes):
    error = poison(invoice(**changes))
    assert error.reason.startswith("invoice 1042")


def test_an_unexpected_exception_while_mapping_becomes_the_invoices_mapping_error(monkeypatch):
    from invoice_relay.partners.servicetrade import mapping

    def broken(*args, **kwargs):
        raise AttributeError("'list' object has no attribute 'get'")

    monkeypatch.setattr(mapping, "_memo", broken)
    error = poison(invoice())
    assert error.reason == (
        "invoice 1042: unexpected data (AttributeError: 'list' object has no attribute 'get')"
    )


def test_text_that_is_not_valid_unicode_fails_the_invoice_instead_of_its_staging():
    # A lone surrogate cannot be stored (JSON, DynamoDB, S3 as UTF-8): refused here, named by field.
    customer = {**INVOICE["customer"], "name": "Acme \ud800"}
    assert poison(invoice(customer=customer)).reason == (
        "invoice 1042: name: text is not valid Unicode (a lone surrogate)"
    )


def test_a_hostile_id_makes_a_short_readable_label():
    error = poison(invoice(id="9" * 5000 + "\x00", subtotal="x"))
    assert error.reason.startswith("invoice " + "9" * 60 + "...: subtotal 'x' is not a number")
    assert len(error.reason) < 200


def test_a_huge_quoted_value_is_cut_short_in_the_reason():
    assert len(poison(invoice(currency="X" * 100_000)).reason) <= 1000


# -- the sandbox's demo account ----------------------------------------------------------------------------


def test_every_demo_invoice_maps_except_the_ones_broken_on_purpose():
    sandbox = ServiceTradeSandbox()  # not started: only its data is used
    demo = sandbox.seed_demo_data(count=50)
    assert set(demo.broken) == set(BROKEN_KINDS) and len(demo.broken_ids) == 3
    reasons = {}
    for payload in sandbox.invoices():
        try:
            doc = invoice_to_document(payload)
        except MappingError as exc:
            reasons[payload["id"]] = exc.reason
            continue
        assert doc.totals.total == Decimal(str(payload["totalPrice"])).copy_abs()
        assert (doc.kind is DocumentKind.CREDIT_NOTE) == (payload["id"] in demo.credit_ids)
    credits = [sandbox.invoice(i) for i in demo.credit_ids]
    assert len(credits) == 2
    assert all(c["type"] == "invoice" and c["totalPrice"] < 0 for c in credits)  # no credit type
    assert reasons == {
        demo.broken["no_customer"]: f"invoice {demo.broken['no_customer']} has no customer",
        demo.broken["bad_transaction_date"]: (
            f"invoice {demo.broken['bad_transaction_date']}: transactionDate '31/02/2026' is not a date"
        ),
    }
    unmapped = invoice_to_document(sandbox.invoice(demo.broken["unmapped_service_line"]))
    assert "ZZ" in {line.item_code for line in unmapped.lines}  # fails later, in the flat-file template


def test_demo_data_is_deterministic():
    first, second = ServiceTradeSandbox(), ServiceTradeSandbox()
    assert first.seed_demo_data(seed=7) == second.seed_demo_data(seed=7)
    assert first.invoices() == second.invoices()
    assert ServiceTradeSandbox().seed_demo_data(seed=8) != first.demo


def test_demo_vendor_bills_and_external_invoices_come_on_top():
    plain, mixed = ServiceTradeSandbox(), ServiceTradeSandbox()
    demo = plain.seed_demo_data(count=50)
    with_others = mixed.seed_demo_data(count=50, vendor_bills=3, external_invoices=1)
    # The invoices, and so the demo's counts, are the same with or without the other records.
    assert (with_others.pending_ids, with_others.broken, with_others.credit_ids) == (
        demo.pending_ids,
        demo.broken,
        demo.credit_ids,
    )
    others = {i["id"]: i for i in mixed.invoices() if i["id"] in with_others.other_types}
    assert mixed.invoices()[: len(plain.invoices())] == plain.invoices()
    assert sorted(with_others.other_types.values()) == ["external", "vendorbill", "vendorbill", "vendorbill"]
    assert min(others) > max(demo.pending_ids) and not set(others) & set(demo.pending_ids)
    for record in others.values():
        assert record["status"] == "pending_accounting"
        assert record["type"] == with_others.other_types[record["id"]]
        with pytest.raises(MappingError, match="is not an invoice for accounting"):
            invoice_to_document(record)
        # Well-formed apart from their type: an accounting invoice of the same shape would map.
        assert invoice_to_document({**record, "type": "invoice"}).totals.total > 0
    assert {r["vendor"]["name"] for r in others.values() if r["type"] == "vendorbill"} == {
        "Carolina Backflow Subcontracting"
    }


def test_demo_arguments_are_checked():
    sandbox = ServiceTradeSandbox()
    with pytest.raises(ValueError, match="count is too small"):
        sandbox.seed_demo_data(count=4, broken=True, credits=2)
    with pytest.raises(ValueError, match="unknown broken kinds"):
        sandbox.seed_demo_data(broken=["melted"])
    with pytest.raises(ValueError, match="must not be negative"):
        sandbox.seed_demo_data(vendor_bills=-1)
    assert len(sandbox.seed_demo_data(count=5, broken=2, credits=0).broken) == 2


def test_a_listed_invoice_whose_id_or_version_cannot_be_a_key_is_passed_over():
    from invoice_relay.http import Page
    from invoice_relay.partners.servicetrade.source import ServiceTradeSource

    class Listing:
        def pending_accounting_invoices(self, start_page=1):
            yield Page(
                records=[
                    {"id": 1, "type": "invoice", "updated": 5, "invoiceNumber": "1"},
                    {"id": "9" * 300, "type": "invoice", "updated": 5},
                    {"id": 2, "type": "invoice", "updated": "x\x00y"},
                ],
                number=1,
                total_pages=1,
            )

    [page] = ServiceTradeSource(Listing()).poll()
    assert [ref.id for ref in page.refs] == ["1"]
