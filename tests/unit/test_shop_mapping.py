"""Shop JSON → canonical models: orders, customers, payments and products exactly, every broken shape by
reason (naming the record and the field)."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from invoice_relay.errors import MappingError, PermanentError
from invoice_relay.models import Address, DocumentKind, DocumentStatus, ExternalRef, Tax
from invoice_relay.partners.capabilities import WorkRef
from invoice_relay.partners.shop.mapping import (
    customer_to_customer,
    event_ref,
    order_customer,
    order_to_document,
    payment_order_id,
    payment_to_payment,
    product_to_product,
)
from local.sandboxes.shop import UNKNOWN_SKU, ShopSandbox

CUSTOMER = {
    "id": "cus_103",
    "email": "ap@lonestarcoffee.example",
    "firstName": "Priya",
    "lastName": "Raman",
    "company": "Lone Star Coffee Roasters",
    "phone": "713-555-0177",
    "billingAddress": {
        "line1": "2200 Westheimer Rd",
        "line2": "Suite 310",
        "city": "Houston",
        "region": "TX",
        "postalCode": "77098",
        "country": "us",
    },
    "updatedAt": "2026-10-19T14:40:00Z",
}

# Tax rounded per line, as many shops do: 39.98 × 8.25 % = 3.29835 → 3.30 and 19.95 × 8.25 % = 1.645875
# → 1.65, so 4.95; rounded once on the rate's base it would be 59.93 × 8.25 % = 4.944225 → 4.94.
ORDER = {
    "id": "ord_2042",
    "number": "1042",
    "orderDate": "2026-11-17T21:45:00-06:00",  # 03:45 UTC on the 18th: still the 17th in the store
    "currency": "usd",
    "customer": {k: v for k, v in CUSTOMER.items() if k != "updatedAt"},
    "lineItems": [
        {
            "sku": "TEE-BLK-M",
            "name": "Organic cotton tee",
            "description": "Black, size M",
            "quantity": 2,
            "unitPrice": "19.99",
            "taxRate": "8.25",
        },
        {
            "sku": "SOCK-3PK",
            "name": "Merino socks",
            "description": None,
            "quantity": 1,
            "unitPrice": "19.95",
            "taxRate": "8.25",
        },
        {"sku": "GIFT-25", "name": "Gift card $25", "quantity": 1, "unitPrice": "25.00", "taxRate": None},
        {"sku": "SHIP-STD", "name": "Standard shipping", "quantity": 1, "unitPrice": 6.95, "taxRate": None},
    ],
    "pricesIncludeTax": False,
    "subtotal": "91.88",
    "taxTotal": "4.95",
    "total": "96.83",
    "status": "open",
    "paymentStatus": "pending",
    "paidAt": None,
    "paymentReference": None,
    "updatedAt": "2026-11-18T03:50:00.000Z",
}

PAYMENT = {
    "id": "pay_3042",
    "orderId": "ord_2042",
    "amount": "96.83",
    "currency": "USD",
    "capturedAt": "2026-11-17T21:47:00-06:00",
    "method": "card",
    "transactionId": "txn_5f2c9a81d04be713",
    "status": "captured",
}

PRODUCT = {
    "id": "prod_sock-3pk",
    "sku": "SOCK-3PK",
    "name": "Merino socks",
    "description": "3-pack, mixed colours",
    "price": "19.95",
    "currency": "USD",
    "taxRate": "8.25",
    "updatedAt": "2026-10-20T17:45:00Z",
}


def changed(record: dict[str, Any], change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    copied = copy.deepcopy(record)
    change(copied)
    return copied


# -- orders ----------------------------------------------------------------------------------------------


def test_order_maps_to_an_invoice_with_exact_money_and_per_line_tax():
    document = order_to_document(ORDER)

    assert document.kind is DocumentKind.INVOICE
    assert document.number == "1042"
    assert document.issue_date == dt.date(2026, 11, 17)
    assert document.due_date is None  # the target's payment terms decide
    assert document.currency == "USD"
    assert document.status is DocumentStatus.ISSUED
    assert [
        (ln.position, ln.sku, ln.description, ln.quantity, ln.unit_price, ln.net_amount, ln.tax_rate)
        for ln in document.lines
    ] == [
        (
            1,
            "TEE-BLK-M",
            "Organic cotton tee — Black, size M",
            2,
            Decimal("19.99"),
            Decimal("39.98"),
            Decimal("8.25"),
        ),
        (2, "SOCK-3PK", "Merino socks", 1, Decimal("19.95"), Decimal("19.95"), Decimal("8.25")),
        (3, "GIFT-25", "Gift card $25", 1, Decimal("25.00"), Decimal("25.00"), None),
        (4, "SHIP-STD", "Standard shipping", 1, Decimal("6.95"), Decimal("6.95"), None),
    ]
    assert all(type(ln.unit_price) is Decimal for ln in document.lines)
    assert document.taxes == [
        Tax(name="Sales tax", rate=Decimal("8.25"), taxable_amount=Decimal("59.93"), amount=Decimal("4.95"))
    ]
    totals = document.totals
    assert (totals.subtotal, totals.tax_total, totals.total) == (
        Decimal("91.88"),
        Decimal("4.95"),
        Decimal("96.83"),
    )
    assert str(totals.total) == "96.83"
    assert document.external_refs == [ExternalRef(system="shop", id="ord_2042", number="1042")]


def test_order_buyer_is_the_company_with_its_billing_address():
    buyer = order_to_document(ORDER).buyer

    assert type(buyer).__name__ == "Party"
    assert buyer.name == "Lone Star Coffee Roasters"
    assert buyer.email == "ap@lonestarcoffee.example"
    assert buyer.phone == "713-555-0177"
    assert buyer.address == Address(
        line1="2200 Westheimer Rd",
        line2="Suite 310",
        city="Houston",
        region="TX",
        postal_code="77098",
        country="US",
    )
    assert buyer.external_refs == [ExternalRef(system="shop", id="cus_103")]


def test_tax_rounded_per_rate_is_accepted_too():
    order = changed(ORDER, lambda o: o.update(taxTotal="4.94", total="96.82"))
    document = order_to_document(order)
    assert document.taxes[0].amount == Decimal("4.94")
    assert document.totals.total == Decimal("96.82")


def test_several_rates_discounts_and_a_paid_order():
    order = changed(
        ORDER,
        lambda o: o.update(
            lineItems=[
                {"sku": "A", "name": "A", "quantity": "1.5", "unitPrice": "10.00", "taxRate": "8.25"},
                {
                    "sku": "B",
                    "name": "B",
                    "quantity": 1,
                    "unitPrice": "40.00",
                    "discount": "5.00",
                    "taxRate": "6.25",
                },
            ],
            subtotal="50.00",
            taxTotal="3.43",  # 15.00 × 8.25 % = 1.2375 → 1.24; 35.00 × 6.25 % = 2.1875 → 2.19
            total="53.43",
            status="paid",
        ),
    )
    document = order_to_document(order)
    assert [(t.rate, t.taxable_amount, t.amount) for t in document.taxes] == [
        (Decimal("6.25"), Decimal("35.00"), Decimal("2.19")),
        (Decimal("8.25"), Decimal("15.00"), Decimal("1.24")),
    ]
    assert [ln.net_amount for ln in document.lines] == [Decimal("15.00"), Decimal("35.00")]
    assert document.lines[1].discount == Decimal("5.00")
    assert document.status is DocumentStatus.PAID


def test_an_order_without_tax_and_with_zero_rates():
    order = changed(
        ORDER,
        lambda o: o.update(
            lineItems=[
                {"sku": "GIFT-25", "name": "Gift card", "quantity": 2, "unitPrice": "25", "taxRate": "0"}
            ],
            subtotal="50.00",
            taxTotal="0.00",
            total="50.00",
        ),
    )
    document = order_to_document(order)
    assert document.taxes == []
    assert document.totals.total == Decimal("50.00")


def test_order_customer_and_a_guest_checkout():
    customer = order_customer(ORDER)
    assert (customer.first_name, customer.last_name, customer.organization) == (
        "Priya",
        "Raman",
        "Lone Star Coffee Roasters",
    )
    assert customer.external_refs == [ExternalRef(system="shop", id="cus_103")]

    guest = changed(ORDER, lambda o: o["customer"].update(id=None, company=None))
    assert order_customer(guest).external_refs == []
    assert order_customer(guest).name == "Priya Raman"
    assert order_to_document(guest).buyer.external_refs == []


# Each broken shape → MappingError naming the order (by number) and the field.
BROKEN_ORDERS = [
    ("id", lambda o: o.pop("id"), "shop order has no id"),
    ("number", lambda o: o.update(number=" "), "shop order ord_2042 has no number"),
    ("orderDate missing", lambda o: o.pop("orderDate"), "shop order 1042 has no orderDate"),
    (
        "orderDate",
        lambda o: o.update(orderDate="31/02/2026"),
        "shop order 1042: orderDate '31/02/2026' is not an ISO 8601 date-time",
    ),
    (
        "orderDate year",
        lambda o: o.update(orderDate="0201-11-17T10:00:00Z"),
        "orderDate '0201-11-17T10:00:00Z'",
    ),
    (
        "currency",
        lambda o: o.update(currency="dollars"),
        "shop order 1042: currency 'dollars' is not an ISO 4217",
    ),
    ("currency missing", lambda o: o.pop("currency"), "shop order 1042 has no currency"),
    ("customer", lambda o: o.update(customer=None), "shop order 1042 has no customer"),
    ("customer shape", lambda o: o.update(customer="cus_103"), "customer 'cus_103' is not a customer record"),
    ("email", lambda o: o["customer"].pop("email"), "shop order 1042 has no customer.email"),
    (
        "email shape",
        lambda o: o["customer"].update(email="priya at example"),
        "customer.email 'priya at example' is not an e-mail address",
    ),
    (
        "country",
        lambda o: o["customer"]["billingAddress"].update(country="Texas"),
        "customer.billingAddress.country 'Texas' is not an ISO 3166-1 alpha-2 code",
    ),
    (
        "address",
        lambda o: o["customer"].update(billingAddress="Houston"),
        "customer.billingAddress 'Houston'",
    ),
    ("lineItems", lambda o: o.update(lineItems=[]), "shop order 1042 has no lineItems"),
    ("line shape", lambda o: o["lineItems"].insert(1, "TEE"), "line item 2 is not a line item record"),
    (
        "unitPrice",
        lambda o: o["lineItems"][1].update(unitPrice="abc"),
        "shop order 1042: line item 2 (sku SOCK-3PK): unitPrice 'abc' is not a number",
    ),
    (
        "unitPrice missing",
        lambda o: o["lineItems"][0].pop("unitPrice"),
        "line item 1 (sku TEE-BLK-M) has no unitPrice",
    ),
    ("unitPrice bool", lambda o: o["lineItems"][0].update(unitPrice=True), "unitPrice True is not a number"),
    ("unitPrice NaN", lambda o: o["lineItems"][0].update(unitPrice="NaN"), "unitPrice 'NaN' is not a number"),
    (
        "quantity",
        lambda o: o["lineItems"][0].update(quantity=0),
        "line item 1 (sku TEE-BLK-M): quantity 0 is not positive",
    ),
    (
        "quantity missing",
        lambda o: o["lineItems"][2].pop("quantity"),
        "line item 3 (sku GIFT-25) has no quantity",
    ),
    (
        "taxRate",
        lambda o: o["lineItems"][0].update(taxRate="eight"),
        "line item 1 (sku TEE-BLK-M): taxRate 'eight'",
    ),
    ("taxRate negative", lambda o: o["lineItems"][0].update(taxRate="-8.25"), "taxRate '-8.25' is negative"),
    ("discount", lambda o: o["lineItems"][0].update(discount="a lot"), "discount 'a lot' is not a number"),
    ("subtotal missing", lambda o: o.pop("subtotal"), "shop order 1042 has no subtotal"),
    (
        "subtotal",
        lambda o: o.update(subtotal="90.00"),
        "shop order 1042: totals do not match lines: subtotal 90.00",
    ),
    ("total", lambda o: o.update(total="97.00"), "shop order 1042: totals do not match lines: total 97.00"),
    ("taxTotal", lambda o: o.update(taxTotal="4.97"), "shop order 1042: taxTotal 4.97 does not match"),
    ("taxTotal shape", lambda o: o.update(taxTotal="n/a"), "shop order 1042: taxTotal 'n/a' is not a number"),
    (
        "status",
        lambda o: o.update(status="shipped"),
        "shop order 1042: status 'shipped' is not one of open, paid",
    ),
    ("pricesIncludeTax", lambda o: o.update(pricesIncludeTax=True), "shop order 1042: pricesIncludeTax True"),
]


@pytest.mark.parametrize(
    ("change", "reason"), [b[1:] for b in BROKEN_ORDERS], ids=[b[0] for b in BROKEN_ORDERS]
)
def test_broken_order_names_the_field(change, reason):
    broken = changed(ORDER, change)
    with pytest.raises(MappingError) as caught:
        order_to_document(broken)
    assert reason in caught.value.reason
    assert isinstance(caught.value, PermanentError)
    assert caught.value.partner == "shop"
    assert caught.value.raw == broken  # archived with the failure


def test_taxtotal_mismatch_shows_both_roundings():
    with pytest.raises(MappingError, match=r"4\.94 rounded per rate, 4\.95 rounded per line"):
        order_to_document(changed(ORDER, lambda o: o.update(taxTotal="5.00", total="96.88")))


def test_not_an_object():
    with pytest.raises(MappingError, match="shop order is not a JSON object"):
        order_to_document(["ord_2042"])  # type: ignore[arg-type]


# -- customers -------------------------------------------------------------------------------------------


def test_customer_record_maps_to_a_customer():
    customer = customer_to_customer(CUSTOMER)
    assert customer.name == "Lone Star Coffee Roasters"
    assert (customer.first_name, customer.last_name, customer.organization) == (
        "Priya",
        "Raman",
        "Lone Star Coffee Roasters",
    )
    assert customer.email == "ap@lonestarcoffee.example"
    assert customer.phone == "713-555-0177"
    assert customer.address.country == "US"
    assert customer.address.line2 == "Suite 310"
    assert customer.external_refs == [ExternalRef(system="shop", id="cus_103")]


def test_customer_display_name_falls_back_to_person_then_email():
    person = changed(CUSTOMER, lambda c: c.update(company=""))
    assert customer_to_customer(person).name == "Priya Raman"
    assert customer_to_customer(person).organization is None
    nameless = changed(CUSTOMER, lambda c: c.update(company=None, firstName=None, lastName=" "))
    assert customer_to_customer(nameless).name == "ap@lonestarcoffee.example"
    no_address = changed(CUSTOMER, lambda c: c.update(billingAddress={"line1": None, "country": ""}))
    assert customer_to_customer(no_address).address is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda c: c.pop("id"), "shop customer has no id"),
        (lambda c: c.update(email=None), "shop customer cus_103 has no email"),
        (lambda c: c.update(email="ap@"), "shop customer cus_103: email 'ap@' is not an e-mail address"),
        (
            lambda c: c["billingAddress"].update(country="USA"),
            "shop customer cus_103: billingAddress.country 'USA' is not an ISO 3166-1 alpha-2 code",
        ),
    ],
)
def test_broken_customer_names_the_field(change, reason):
    with pytest.raises(MappingError) as caught:
        customer_to_customer(changed(CUSTOMER, change))
    assert caught.value.reason == reason


# -- payments --------------------------------------------------------------------------------------------


def test_payment_with_its_order():
    payment = payment_to_payment(PAYMENT, ORDER)
    assert payment.amount == Decimal("96.83") and type(payment.amount) is Decimal
    assert payment.currency == "USD"
    assert payment.date == dt.date(2026, 11, 17)  # the store's day, not UTC's (the 18th)
    assert payment.method == "card"
    assert payment.transaction_id == "txn_5f2c9a81d04be713"
    assert payment.document_number == "1042"
    assert payment.external_refs == [ExternalRef(system="shop", id="pay_3042")]


def test_payment_without_its_order_has_no_document_number():
    payment = payment_to_payment(PAYMENT, None)
    assert payment.document_number is None
    assert payment.amount == Decimal("96.83")
    assert payment_order_id(PAYMENT) == "ord_2042"


@pytest.mark.parametrize(
    ("change", "order", "reason"),
    [
        (lambda p: p.pop("id"), None, "shop payment has no id"),
        (lambda p: p.pop("orderId"), None, "shop payment pay_3042 has no orderId"),
        (lambda p: p.update(amount="ninety"), None, "shop payment pay_3042: amount 'ninety' is not a number"),
        (lambda p: p.update(amount="0.00"), None, "shop payment pay_3042: amount '0.00' is not positive"),
        (lambda p: p.pop("amount"), None, "shop payment pay_3042 has no amount"),
        (
            lambda p: p.update(currency="$"),
            None,
            "shop payment pay_3042: currency '$' is not an ISO 4217 code",
        ),
        (
            lambda p: p.update(capturedAt="yesterday"),
            None,
            "shop payment pay_3042: capturedAt 'yesterday' is not an ISO 8601 date-time",
        ),
        (lambda p: p.pop("capturedAt"), None, "shop payment pay_3042 has no capturedAt"),
        (
            lambda p: p.update(status="refunded"),
            None,
            "shop payment pay_3042: status 'refunded' is not 'captured'",
        ),
        (
            lambda p: p.update(orderId="ord_9999"),
            ORDER,
            "shop payment pay_3042: orderId 'ord_9999' is not the order given ('ord_2042')",
        ),
        (
            lambda p: p.update(currency="CAD"),
            ORDER,
            "shop payment pay_3042: currency CAD differs from order ord_2042's usd",
        ),
        (lambda p: None, {**ORDER, "number": None}, "shop payment pay_3042: order ord_2042 has no number"),
    ],
)
def test_broken_payment_names_the_field(change, order, reason):
    with pytest.raises(MappingError) as caught:
        payment_to_payment(changed(PAYMENT, change), order)
    assert caught.value.reason == reason


# -- products --------------------------------------------------------------------------------------------


def test_product_maps_to_a_product():
    product = product_to_product(PRODUCT)
    assert product.sku == "SOCK-3PK"
    assert product.name == "Merino socks"
    assert product.description == "3-pack, mixed colours"
    assert product.unit_price == Decimal("19.95") and type(product.unit_price) is Decimal
    assert product.currency == "USD"
    assert product.tax_rate == Decimal("8.25")
    assert product.external_refs == [ExternalRef(system="shop", id="prod_sock-3pk")]
    untaxed = product_to_product(changed(PRODUCT, lambda p: p.update(taxRate=None, id=None, description="")))
    assert (untaxed.tax_rate, untaxed.description) == (None, None)
    assert untaxed.external_refs == [ExternalRef(system="shop", id="SOCK-3PK")]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda p: p.pop("sku"), "shop product has no sku"),
        (lambda p: p.update(name=""), "shop product SOCK-3PK has no name"),
        (lambda p: p.pop("price"), "shop product SOCK-3PK has no price"),
        (lambda p: p.update(price="19,95"), "shop product SOCK-3PK: price '19,95' is not a number"),
        (lambda p: p.update(price="-1"), "shop product SOCK-3PK: price '-1' is negative"),
        (lambda p: p.update(currency=None), "shop product SOCK-3PK has no currency"),
        (lambda p: p.update(taxRate="high"), "shop product SOCK-3PK: taxRate 'high' is not a number"),
    ],
)
def test_broken_product_names_the_field(change, reason):
    with pytest.raises(MappingError) as caught:
        product_to_product(changed(PRODUCT, change))
    assert caught.value.reason == reason


# -- webhook subjects ------------------------------------------------------------------------------------


def test_event_ref_names_the_record_and_its_version():
    assert event_ref("order.created", ORDER) == WorkRef(
        source_id="ord_2042", version="2026-11-18T03:50:00.000Z", number="1042"
    )
    assert event_ref("customer.updated", CUSTOMER) == WorkRef(
        source_id="cus_103", version="2026-10-19T14:40:00Z"
    )
    assert event_ref("payment.captured", PAYMENT) == WorkRef(
        source_id="pay_3042", version="2026-11-17T21:47:00-06:00"
    )
    assert event_ref("order.created", {**ORDER, "id": 2042}).source_id == "2042"  # numbers read via str()
    without_version = changed(ORDER, lambda o: o.pop("updatedAt"))
    with pytest.raises(MappingError, match="shop order 1042 has no updatedAt") as caught:
        event_ref("order.created", without_version)
    assert caught.value.raw == without_version
    with pytest.raises(MappingError, match="shop customer has no id"):
        event_ref("customer.updated", {"email": "x@example.com"})
    with pytest.raises(PermanentError, match=r"'order\.shipped' is not supported"):
        event_ref("order.shipped", ORDER)


# -- poison records: every exception while mapping one record is that record's MappingError --------------


def poison(mapper: Callable[[Any], object], record: Any) -> MappingError:
    with pytest.raises(MappingError) as caught:
        mapper(record)
    assert caught.value.partner == "shop" and caught.value.raw == record
    return caught.value


POISON_ORDERS = [
    ("subtotal 1e30", lambda o: o.update(subtotal=1e30),
     "shop order 1042: subtotal 1e+30 is out of range (at most 15 digits before the decimal point)"),
    ("unitPrice '1e30'", lambda o: o["lineItems"][0].update(unitPrice="1e30"),
     "shop order 1042: line item 1 (sku TEE-BLK-M): unitPrice '1e30' is out of range"),
    ("quantity × price over the bound", lambda o: o["lineItems"][0].update(quantity=10**14, unitPrice="9999"),
     "is out of range"),
    ("taxRate with 7 places", lambda o: o["lineItems"][0].update(taxRate="8.2500001"),
     "taxRate '8.2500001' has more than 6 decimal places"),
    ("list-valued status", lambda o: o.update(status=["open"]),
     "shop order 1042: status ['open'] is not one of open, paid, cancelled"),
    ("dict-valued status", lambda o: o.update(status={"s": "open"}), "status {'s': 'open'} is not one of"),
    ("list-valued quantity", lambda o: o["lineItems"][0].update(quantity=[2]),
     "quantity [2] is not a number"),
    ("list-valued currency", lambda o: o.update(currency=["USD"]),
     "currency ['USD'] is not an ISO 4217 code"),
    ("lineItems as an object", lambda o: o.update(lineItems={"0": {}}), "shop order 1042 has no lineItems"),
    ("list-valued pricesIncludeTax", lambda o: o.update(pricesIncludeTax=[True]), "pricesIncludeTax [True]"),
    ("huge number", lambda o: o.update(number="9" * 300), "number '999"),
    ("number with a control character", lambda o: o.update(number="10\x0042"),
     "contains a control character"),
    ("customer id of 500 characters", lambda o: o["customer"].update(id="c" * 500), "is longer than 200"),
    ("email longer than 254", lambda o: o["customer"].update(email="a" * 300 + "@example.com"),
     "is not an e-mail address"),
    ("id that cannot be a key", lambda o: o.update(id="ord\n2042"),
     "shop order 1042: id 'ord\\n2042' contains"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "reason"), [b[1:] for b in POISON_ORDERS], ids=[b[0] for b in POISON_ORDERS]
)
def test_a_poison_order_is_one_mapping_error_with_the_reason(change, reason):
    error = poison(order_to_document, changed(ORDER, change))
    assert reason in error.reason


def test_an_unexpected_exception_is_the_records_mapping_error_not_a_crash(monkeypatch):
    from invoice_relay.partners.shop import mapping

    def broken(*args: object) -> object:
        raise TypeError("unhashable type: 'list'")

    monkeypatch.setattr(mapping, "_lines", broken)
    error = poison(order_to_document, copy.deepcopy(ORDER))
    assert error.reason == "shop order 1042: unexpected data (TypeError: unhashable type: 'list')"
    monkeypatch.setattr(mapping, "_lines", lambda items: [] + 1)  # type: ignore[operator]
    assert "unexpected data (TypeError" in poison(order_to_document, copy.deepcopy(ORDER)).reason


@pytest.mark.parametrize(
    ("mapper", "record", "reason"),
    [
        (lambda p: payment_to_payment(p, None), changed(PAYMENT, lambda p: p.update(amount=1e30)),
         "shop payment pay_3042: amount 1e+30 is out of range"),
        (lambda p: payment_to_payment(p, None), changed(PAYMENT, lambda p: p.update(status=["captured"])),
         "status ['captured'] is not 'captured'"),
        (lambda p: payment_to_payment(p, None), changed(PAYMENT, lambda p: p.update(orderId="o" * 3000)),
         "orderId 'oooo"),
        (payment_order_id, changed(PAYMENT, lambda p: p.update(orderId="o" * 3000)), "is longer than 200"),
        (payment_order_id, changed(PAYMENT, lambda p: p.update(orderId=["ord_1"])), "has no orderId"),
        (customer_to_customer, changed(CUSTOMER, lambda c: c.update(email=["a@example.com"])),
         "has no email"),
        (customer_to_customer, changed(CUSTOMER, lambda c: c.update(billingAddress=["1 Main St"])),
         "billingAddress ['1 Main St'] is not an address"),
        (product_to_product, changed(PRODUCT, lambda p: p.update(price="1e30")),
         "price '1e30' is out of range"),
        (product_to_product, changed(PRODUCT, lambda p: p.update(sku="S" * 201)), "is longer than 200"),
    ],
)  # fmt: skip
def test_poison_payments_customers_and_products(mapper, record, reason):
    assert reason in poison(mapper, record).reason


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({**ORDER, "id": "x" * 2049}, "id 'xxxx"),
        ({**ORDER, "updatedAt": "2026\x00"}, "updatedAt '2026\\x00' contains a control character"),
        ({**ORDER, "updatedAt": ["2026-11-18"]}, "has no updatedAt"),
        ({**ORDER, "number": "n" * 201}, "number 'nnn"),
        ({**ORDER, "id": "ord_\ud800"}, "is not valid Unicode (a lone surrogate)"),
    ],
)
def test_event_ref_refuses_what_cannot_become_a_key(data, reason):
    with pytest.raises(MappingError) as caught:
        event_ref("order.created", data)
    assert reason in caught.value.reason
    assert len(caught.value.reason) < 300  # the hostile value is quoted cut short


# -- the sandbox's demo store -------------------------------------------------------------------------------


def test_every_demo_record_maps():
    shop = ShopSandbox()  # seeded on construction; not started: no HTTP needed here
    orders = {o["id"]: o for o in shop.orders()}
    documents = {oid: order_to_document(order) for oid, order in orders.items()}
    assert sorted(d.number for d in documents.values()) == [str(n) for n in range(1001, 1009)]
    unknown = documents[shop.demo.unknown_sku_order_id]
    assert UNKNOWN_SKU in [ln.sku for ln in unknown.lines]  # maps fine: the target decides about SKUs
    assert {p["sku"] for p in shop.products()} == set(shop.demo.product_skus)
    assert UNKNOWN_SKU not in shop.demo.product_skus
    assert all(product_to_product(p).currency == "USD" for p in shop.products())
    assert len({customer_to_customer(c).email for c in shop.customers()}) == 6
    for order_id, payment_id in shop.demo.payment_by_order.items():
        payment = payment_to_payment(shop.payment(payment_id), orders[order_id])
        assert payment.amount == documents[order_id].totals.total
        assert payment.document_number == orders[order_id]["number"]
    # order 1004 was placed at 21:45 store time: the invoice and its payment carry the store's day
    late = next(o for o in orders.values() if o["number"] == "1004")
    assert documents[late["id"]].issue_date == dt.date(2026, 11, 17)
    late_payment = shop.payment(shop.demo.payment_by_order[late["id"]])
    assert payment_to_payment(late_payment, late).date == dt.date(2026, 11, 17)
