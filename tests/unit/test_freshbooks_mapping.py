"""Canonical models → FreshBooks JSON: invoices, payments, clients, items; and reading FreshBooks back
(invoices, what is outstanding on them, payments, what a `payment.create` callback means, and a 403
`insufficient_scope`)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from types import SimpleNamespace

import pytest
import requests

from invoice_relay.errors import AuthenticationError, ConnectorError, MappingError, PermanentError
from invoice_relay.http import PartnerAuth
from invoice_relay.models import Address, Customer, Document, Line, Payment, PaymentTerms, Product
from invoice_relay.partners.capabilities import DocumentSettled, NothingToDo
from invoice_relay.partners.freshbooks import mapping
from invoice_relay.partners.freshbooks.callbacks import ROUTED_EVENTS, FreshBooksCallbacks
from invoice_relay.partners.freshbooks.client import FreshBooksClient
from invoice_relay.partners.freshbooks.config import FreshBooksTargetConfig
from invoice_relay.partners.freshbooks.mapping import (
    client_fields,
    invoice_is_settled,
    invoice_marker_of,
    invoice_number_of,
    invoice_outstanding_of,
    invoice_payload,
    item_changes,
    item_fields,
    money,
    payment_invoice_id_of,
    payment_payload,
    payment_type,
    transaction_id_of,
)

ITEMS = {
    "TEE-BLK-M": {"id": 5001, "name": "Organic tee, black, M", "sku": "TEE-BLK-M"},
    "MUG-12OZ": {"id": 5002, "name": "Ceramic mug 12 oz", "sku": "MUG-12OZ", "description": "Stoneware"},
}


def order(**changes) -> Document:
    fields = {
        "number": "1042",
        "issue_date": dt.date(2026, 3, 3),
        "currency": "USD",
        "buyer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "lines": [
            {
                "position": 1,
                "description": "Tee, black, size M",
                "sku": "TEE-BLK-M",
                "quantity": 2,
                "unit_price": "12.5",
                "tax_rate": "8.25",
            },
            {
                "position": 2,
                "description": "Mug",
                "sku": "MUG-12OZ",
                "quantity": "1.5",
                "unit_price": "14.50",
            },
        ],
        "payment_terms": {"description": "Net 30", "due_offset_days": 30},
    }
    fields.update(changes)
    return Document.model_validate(fields)


def payload(document: Document | None = None, **kwargs) -> dict:
    options = {"due_offset_days": 14, "currency": "USD", "item_lookup": ITEMS, "marker": "shop-order-1042"}
    options.update(kwargs)
    return invoice_payload(document or order(), 77, **options)


def test_invoice_payload_header():
    result = payload()
    assert result["customerid"] == 77
    assert result["create_date"] == "2026-03-03"
    assert result["due_offset_days"] == 14  # the connector's payment terms, not the document's 30
    assert result["currency_code"] == "USD"
    assert result["po_number"] == "shop-order-1042"
    assert result["terms"] == "Net 30"
    assert "notes" not in result


def test_invoice_lines_are_typed_with_money_strings_and_the_item_names():
    first, second = payload()["lines"]
    assert first == {
        "type": 0,
        "name": "Organic tee, black, M",
        "description": "Tee, black, size M",
        "qty": "2",
        "unit_cost": {"amount": "12.50", "code": "USD"},
        "taxName1": "Tax",
        "taxAmount1": "8.25",
    }
    assert second == {
        "type": 0,
        "name": "Ceramic mug 12 oz",
        "description": "Mug",
        "qty": "1.5",
        "unit_cost": {"amount": "14.50", "code": "USD"},
    }


def test_tax_amount_is_the_percentage_not_the_tax():
    document = order()
    [line] = [ln for ln in payload(document)["lines"] if "taxAmount1" in ln]
    assert line["taxAmount1"] == "8.25"
    assert document.taxes[0].amount == Decimal("2.06")  # 8.25 % of 25.00: what FreshBooks works out itself
    assert Decimal(line["taxAmount1"]) == document.taxes[0].rate


def test_tax_name_comes_from_the_line_tax_code_else_the_document_tax():
    coded = order(
        lines=[{"position": 1, "sku": "MUG-12OZ", "unit_price": 10, "tax_rate": 13, "tax_code": "HST"}]
    )
    assert payload(coded)["lines"][0]["taxName1"] == "HST"
    named = order(
        lines=[{"position": 1, "sku": "MUG-12OZ", "unit_price": 10, "tax_rate": 7}],
        taxes=[{"name": "Sales tax", "rate": 7, "taxable_amount": 10, "amount": "0.70"}],
    )
    assert payload(named)["lines"][0]["taxName1"] == "Sales tax"


def test_payload_has_no_floats_and_survives_json():
    text = json.dumps(payload())

    def no_floats(node):
        if isinstance(node, dict):
            return all(no_floats(v) for v in node.values())
        if isinstance(node, list):
            return all(no_floats(v) for v in node)
        return not isinstance(node, float)

    assert no_floats(json.loads(text))


def test_line_without_a_known_item_uses_its_description():
    document = order(
        lines=[
            {"position": 1, "description": "Shipping", "unit_price": "5.00"},
            {"position": 2, "sku": "NEW-SKU", "unit_price": "1.00"},
        ]
    )
    lines = payload(document)["lines"]
    assert [line["name"] for line in lines] == ["Shipping", "NEW-SKU"]


def test_a_line_discount_becomes_its_own_negative_line_with_the_same_tax():
    document = order(
        lines=[
            {
                "position": 1,
                "description": "Tee",
                "sku": "TEE-BLK-M",
                "quantity": 3,
                "unit_price": "10.00",
                "discount": "4.50",
                "tax_rate": "5",
            }
        ]
    )
    tee, discount = payload(document)["lines"]
    assert tee["unit_cost"]["amount"] == "10.00" and tee["qty"] == "3"
    assert discount["name"] == "Discount" and discount["description"] == "Discount on line 1: Tee"
    assert (discount["qty"], discount["unit_cost"]) == ("1", {"amount": "-4.50", "code": "USD"})
    assert (discount["taxName1"], discount["taxAmount1"]) == ("Tax", "5")
    net = sum(Decimal(ln["qty"]) * Decimal(ln["unit_cost"]["amount"]) for ln in (tee, discount))
    assert net == document.totals.subtotal == Decimal("25.50")


def test_memo_and_source_purchase_order_go_to_notes():
    result = payload(order(memo="Gift wrap", purchase_order="PO-77"))
    assert result["notes"] == "Gift wrap\nCustomer PO: PO-77"
    assert result["po_number"] == "shop-order-1042"


def test_money_keeps_the_currency_places_and_finer_prices():
    assert money(Decimal("12.5"), "usd") == {"amount": "12.50", "code": "USD"}
    assert money(Decimal("1000"), "JPY") == {"amount": "1000", "code": "JPY"}
    assert money(Decimal("0.125"), "USD") == {"amount": "0.125", "code": "USD"}
    assert money(Decimal("1.5"), "KWD") == {"amount": "1.500", "code": "KWD"}


def test_currency_other_than_the_connectors_is_refused():
    with pytest.raises(
        MappingError, match="invoice 1042 is in EUR but the FreshBooks connector is set up for USD"
    ):
        payload(order(currency="EUR"))


def test_credit_notes_are_not_delivered_as_invoices():
    with pytest.raises(MappingError, match="credit note 1042: only invoices"):
        payload(order(kind="credit_note"))


# -- payments ------------------------------------------------------------------------------------------


def test_payment_payload():
    payment = Payment(
        amount="27.06",
        currency="USD",
        date=dt.date(2026, 3, 4),
        method="credit_card",
        transaction_id="ch_3Pq9",
    )
    assert payment_payload(payment, "300001") == {
        "invoiceid": 300001,
        "amount": {"amount": "27.06", "code": "USD"},
        "date": "2026-03-04",
        "type": "Credit Card",
        "note": "Transaction ch_3Pq9",
    }


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("credit_card", "Credit Card"),
        ("Credit Card", "Credit Card"),
        ("card", "Credit Card"),
        ("paypal", "PayPal"),
        ("PayPal", "PayPal"),
        ("check", "Check"),
        ("cheque", "Check"),
        ("cash", "Cash"),
        ("bank-transfer", "Bank Transfer"),
        ("wire", "Bank Transfer"),
        ("ach", "ACH"),
        ("debit", "Debit"),
        ("gift_card", "Other"),
        (None, "Other"),
    ],
)
def test_payment_types(method, expected):
    assert payment_type(method) == expected


def test_payment_without_transaction_id_is_refused():
    payment = Payment(amount=5, currency="USD", date=dt.date(2026, 3, 4))
    with pytest.raises(MappingError, match="no transaction id"):
        payment_payload(payment, 1)


def test_transaction_id_is_read_back_from_the_note():
    assert transaction_id_of({"note": "Transaction ch_3Pq9"}) == "ch_3Pq9"
    assert transaction_id_of({"note": "Paid at the counter\nTransaction pi_77"}) == "pi_77"
    assert transaction_id_of({"note": "no transaction here"}) is None
    assert transaction_id_of({"note": None}) is None


# -- clients ---------------------------------------------------------------------------------------------


def test_client_fields_for_a_person_with_an_address():
    customer = Customer(
        name="Ada Lovelace",
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        phone="+44 20 7946 0000",
        address=Address(
            line1="12 St James's Sq", city="London", region="LND", postal_code="SW1Y 4JH", country="GB"
        ),
    )
    assert client_fields(customer) == {
        "fname": "Ada",
        "lname": "Lovelace",
        "email": "ada@example.com",
        "organization": "",
        "bus_phone": "+44 20 7946 0000",
        "p_street": "12 St James's Sq",
        "p_street2": "",
        "p_city": "London",
        "p_province": "LND",
        "p_code": "SW1Y 4JH",
        "p_country": "GB",
    }


def test_client_fields_for_a_company_without_an_address_leave_the_address_alone():
    company = Customer(name="Acme Facilities", email="ap@acme.example")
    assert client_fields(company) == {
        "fname": "",
        "lname": "",
        "email": "ap@acme.example",
        "organization": "Acme Facilities",
    }
    with_org = Customer(
        name="Ada L.", first_name="Ada", organization="Analytical Engines Ltd", email="a@b.example"
    )
    assert client_fields(with_org)["organization"] == "Analytical Engines Ltd"


# -- items and reading back ----------------------------------------------------------------------------


def test_item_fields_and_changes():
    product = Product(sku="MUG-12OZ", name="Ceramic mug 12 oz", unit_price="14.5", currency="USD")
    wanted = item_fields(product)
    assert wanted == {
        "name": "Ceramic mug 12 oz",
        "description": "",
        "sku": "MUG-12OZ",
        "unit_cost": {"amount": "14.50", "code": "USD"},
    }
    same = {"id": 1, "name": "Ceramic mug 12 oz", "description": None, "sku": "MUG-12OZ",
            "unit_cost": {"amount": "14.5", "code": "USD"}, "vis_state": 0}  # fmt: skip
    assert item_changes(same, wanted) == {}
    assert item_changes({**same, "unit_cost": {"amount": "13.00", "code": "USD"}}, wanted) == {
        "unit_cost": {"amount": "14.50", "code": "USD"}
    }
    assert item_changes({**same, "name": "Mug"}, wanted) == {"name": "Ceramic mug 12 oz"}
    assert item_changes({**same, "vis_state": 1}, wanted) == {"vis_state": 0}


def test_reading_invoices_back():
    invoice = {"id": 300001, "invoice_number": "0000042", "po_number": " shop-order-1042 "}
    assert invoice_number_of(invoice) == "0000042"
    assert invoice_number_of({"invoiceid": 7}) == "7"
    assert invoice_marker_of(invoice) == "shop-order-1042"
    assert invoice_marker_of({"po_number": None}) is None
    assert mapping.invoice_id_of({"invoiceid": 9}) == "9"
    with pytest.raises(MappingError, match="invoice without an id"):
        mapping.invoice_id_of({})


def test_payload_for_payment_terms_on_the_document_only():
    document = order(payment_terms=PaymentTerms(due_offset_days=10))
    assert "terms" not in payload(document)
    assert payload(document, due_offset_days=0)["due_offset_days"] == 0


def test_lines_keep_their_order_and_positions():
    lines = [Line(position=n, description=f"Line {n}", unit_price=1) for n in (1, 2, 3)]
    result = payload(order(lines=lines))
    assert [line["description"] for line in result["lines"]] == ["Line 1", "Line 2", "Line 3"]


# -- what is paid: invoices and payments read back ---------------------------------------------------------

# The Java SDK's fixture get_invoice_response.json (trimmed): a part-paid invoice.
PART_PAID = {
    "id": 987654,
    "invoiceid": 987654,
    "invoice_number": "0000042",
    "amount": {"amount": "41.94", "code": "CAD"},
    "outstanding": {"amount": "21.94", "code": "CAD"},
    "paid": {"amount": "20.00", "code": "CAD"},
    "payment_status": "partial",
    "v3_status": "partial",
}


def test_what_is_outstanding_on_an_invoice():
    assert invoice_outstanding_of(PART_PAID) == Decimal("21.94")
    assert not invoice_is_settled(PART_PAID)
    paid = {**PART_PAID, "outstanding": {"amount": "0.00", "code": "CAD"}, "payment_status": "paid"}
    assert invoice_outstanding_of(paid) == Decimal("0") and invoice_is_settled(paid)
    overpaid = {**PART_PAID, "outstanding": {"amount": "-1.00", "code": "CAD"}}
    assert invoice_is_settled(overpaid)


def test_an_invoice_without_outstanding_is_judged_by_its_payment_status():
    bare = {"id": 1, "payment_status": "paid"}
    assert invoice_outstanding_of(bare) is None
    assert invoice_is_settled(bare) and invoice_is_settled({"payment_status": "auto-paid"})
    assert not invoice_is_settled({"payment_status": "partial"}) and not invoice_is_settled({})
    assert invoice_outstanding_of({"outstanding": {"amount": "n/a"}}) is None
    assert invoice_outstanding_of({"outstanding": "12.00"}) is None  # not FreshBooks' money shape


def test_the_invoice_a_payment_pays():
    assert payment_invoice_id_of({"id": 700001, "invoiceid": 987654}) == "987654"
    assert payment_invoice_id_of({"invoiceid": "987654"}) == "987654"
    for none in ({}, {"invoiceid": None}, {"invoiceid": 0}, {"invoiceid": "0"}, {"invoiceid": ""}):
        assert payment_invoice_id_of(none) is None  # e.g. an overpayment credited to the client


# -- payment.create decoded, with a stand-in FreshBooks ----------------------------------------------------


class _FreshBooks:
    """What `FreshBooksCallbacks.decode` reads: one payment and one invoice."""

    def __init__(self, payment: dict, invoice: dict):
        self.payment, self.invoice_record, self.calls = payment, invoice, []

    def get_payment(self, payment_id: str) -> dict:
        self.calls.append(("payment", payment_id))
        return self.payment

    def get_invoice(self, invoice_id: str) -> dict:
        self.calls.append(("invoice", invoice_id))
        return self.invoice_record


CONFIG = FreshBooksTargetConfig(
    system="freshbooks",
    account_id="xZNQ1X",
    oauth_app_secret="app",
    token_secret="tokens",
    callback_verifier_secret="verifiers",
)


def callbacks_with(payment: dict, invoice: dict) -> tuple[FreshBooksCallbacks, _FreshBooks]:
    freshbooks = _FreshBooks(payment, invoice)
    context = SimpleNamespace(connector_id="shop-fb", leases=None, secrets_client=object())
    return FreshBooksCallbacks(CONFIG, context, target=SimpleNamespace(client=freshbooks)), freshbooks


NOW = dt.datetime(2026, 3, 4, 12, 0, tzinfo=dt.UTC)


def test_payment_create_on_a_fully_paid_invoice_settles_it():
    paid = {**PART_PAID, "outstanding": {"amount": "0.00", "code": "CAD"}, "payment_status": "paid"}
    callbacks, freshbooks = callbacks_with({"id": 700002, "invoiceid": 987654}, paid)
    assert set(ROUTED_EVENTS) == {"payment.create"}  # FreshBooks has no invoice.paid
    assert callbacks.decode("payment.create", {"name": "payment.create", "object_id": "700002"}, NOW) == (
        DocumentSettled(target_document_id="987654", paid_at=NOW, reference="freshbooks-payment-700002")
    )
    assert freshbooks.calls == [("payment", "700002"), ("invoice", "987654")]


def test_payment_create_on_a_part_paid_invoice_needs_nothing():
    callbacks, _ = callbacks_with({"id": 700001, "invoiceid": 987654}, PART_PAID)
    assert callbacks.decode("payment.create", {"object_id": "700001"}, NOW) == NothingToDo(
        "FreshBooks invoice 0000042 still has 21.94 outstanding after payment 700001"
    )


def test_payment_create_on_no_invoice_and_other_events_need_nothing():
    callbacks, freshbooks = callbacks_with({"id": 700003, "invoiceid": 0}, PART_PAID)
    assert callbacks.decode("payment.create", {"object_id": "700003"}, NOW) == NothingToDo(
        "FreshBooks payment 700003 pays no invoice"
    )
    assert callbacks.decode("invoice.update", {"object_id": "987654"}, NOW) == NothingToDo(
        "FreshBooks invoice.update needs nothing delivered"
    )
    assert freshbooks.calls == [("payment", "700003")]  # nothing read for an unrouted event
    with pytest.raises(MappingError, match=r"payment\.create without object_id") as caught:
        callbacks.decode("payment.create", {"name": "payment.create"}, NOW)
    assert caught.value.raw == {"name": "payment.create"}


# -- a 403 insufficient_scope names the missing scope --------------------------------------------------------


def _answer(status: int, body: dict) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers["Content-Type"] = "application/json"
    response.request = requests.Request(
        "POST", "https://api.freshbooks.com/accounting/account/x/payments/payments"
    ).prepare()
    return response


@pytest.mark.parametrize(
    ("message", "named"),
    [
        (
            "insufficient_scope: The request requires higher privileges than provided by the access token. "
            "Provided: ['user:profile:read user:expenses:read']. Required: ['user:retainers:read'].",
            "the scope user:retainers:read;",
        ),
        ("insufficient_scope: no detail", "the scope (not named by FreshBooks);"),
    ],
)
def test_a_missing_scope_is_an_authentication_error_naming_it(message, named):
    client = FreshBooksClient(CONFIG, PartnerAuth(), session=requests.Session())
    with pytest.raises(AuthenticationError) as caught:
        client.raise_for_status(_answer(403, {"message": message}))
    assert caught.value.status == 403 and named in caught.value.reason
    assert caught.value.reason.startswith(
        "freshbooks refused POST /accounting/account/x/payments/payments (HTTP 403, insufficient_scope)"
    )
    assert isinstance(caught.value, ConnectorError) and not isinstance(caught.value, PermanentError)


def test_another_403_is_an_authentication_error_as_usual():
    client = FreshBooksClient(CONFIG, PartnerAuth(), session=requests.Session())
    with pytest.raises(AuthenticationError, match=r"refused our credentials .*: account suspended"):
        client.raise_for_status(_answer(403, {"message": "account suspended"}))


# -- rounding adjustment ------------------------------------------------------------------------------------


def taxed_document(prices: list[str], tax_total: str, currency: str = "USD") -> Document:
    lines = [
        {"position": n, "description": f"Line {n}", "quantity": 1, "unit_price": price, "tax_rate": "8.25"}
        for n, price in enumerate(prices, start=1)
    ]
    base = sum((Decimal(p) for p in prices), Decimal(0))
    return Document.model_validate(
        {
            "number": "R1",
            "issue_date": dt.date(2026, 3, 3),
            "currency": currency,
            "buyer": {"name": "Ada", "email": "ada@example.com"},
            "lines": lines,
            "taxes": [{"rate": "8.25", "taxable_amount": str(base), "amount": tax_total}],
        }
    )


def test_expected_total_rounds_tax_once_per_invoice_not_per_line():
    document = taxed_document(["12.30", "12.30"], "2.02")  # the source: 1.01 per line
    payload = mapping.invoice_payload(document, 7, due_offset_days=0, currency="USD", item_lookup={})
    assert mapping.expected_total(payload, "USD") == Decimal("26.63")  # 24.60 + 2.0295 → 2.03


def test_a_rounding_difference_within_the_limit_gets_an_untaxed_adjustment_line():
    document = taxed_document(["12.30", "12.30"], "2.02")
    payload = mapping.invoice_payload(document, 7, due_offset_days=0, currency="USD", item_lookup={})
    assert mapping.add_rounding_adjustment(payload, document, Decimal("0.05")) == Decimal("-0.01")
    line = payload["lines"][-1]
    assert line["name"] == "Rounding adjustment" and "taxAmount1" not in line
    assert line["unit_cost"] == {"amount": "-0.01", "code": "USD"}
    assert mapping.expected_total(payload, "USD") == document.totals.total


@pytest.mark.parametrize("limit", [Decimal(0), Decimal("0.005")])
def test_no_adjustment_when_turned_off_or_the_difference_is_over_the_limit(limit):
    document = taxed_document(["12.30", "12.30"], "2.02")
    payload = mapping.invoice_payload(document, 7, due_offset_days=0, currency="USD", item_lookup={})
    lines = len(payload["lines"])
    assert mapping.add_rounding_adjustment(payload, document, limit) == 0
    assert len(payload["lines"]) == lines


def test_no_adjustment_when_the_totals_already_agree():
    document = taxed_document(["10.00"], "0.83")
    payload = mapping.invoice_payload(document, 7, due_offset_days=0, currency="USD", item_lookup={})
    assert mapping.add_rounding_adjustment(payload, document, Decimal("0.05")) == 0
