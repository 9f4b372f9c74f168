"""Canonical model: Decimal money, the rounding rule, and totals validated against lines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pydantic import ValidationError

from invoice_relay.models import Document, DocumentKind, ExternalRef, minor_units, round_money, to_decimal


def _doc(**overrides):
    base = {
        "number": "1042",
        "issue_date": "2026-11-02",
        "currency": "usd",
        "buyer": {"name": "Acme Facilities"},
        "lines": [
            {"position": 1, "description": "Extinguisher inspection", "quantity": "3", "unit_price": "19.99",
             "tax_rate": "7.25"},
            {"position": 2, "description": "Travel", "quantity": 1, "unit_price": "45"},
        ],
    }  # fmt: skip
    return Document.model_validate({**base, **overrides})


def test_money_is_decimal_and_rounds_half_up_per_currency():
    assert round_money(Decimal("2.675"), "USD") == Decimal("2.68")  # float arithmetic would give 2.67
    assert round_money(Decimal("1234.5"), "JPY") == Decimal("1235")
    assert round_money(Decimal("1.2345"), "KWD") == Decimal("1.235")
    assert (minor_units("usd"), minor_units("JPY"), minor_units("BHD")) == (2, 0, 3)
    assert to_decimal(19.99) == Decimal("19.99")
    with pytest.raises(ValueError, match="not a number"):
        to_decimal("12,50")


def test_totals_and_taxes_are_computed_from_lines():
    doc = _doc()
    assert doc.currency == "USD"
    assert [line.net_amount for line in doc.lines] == [Decimal("59.97"), Decimal("45.00")]
    assert len(doc.taxes) == 1 and doc.taxes[0].amount == Decimal("4.35")  # 59.97 × 7.25% = 4.3478
    assert doc.totals.subtotal == Decimal("104.97")
    assert doc.totals.total == Decimal("109.32")
    assert all(isinstance(v, Decimal) for v in doc.totals.model_dump().values())


def test_given_totals_must_match_lines():
    with pytest.raises(ValidationError, match=r"totals do not match lines: total 110.00 != computed 109.32"):
        _doc(totals={"subtotal": "104.97", "tax_total": "4.35", "total": "110.00"})
    assert _doc(
        totals={"subtotal": "104.97", "tax_total": "4.35", "total": "109.32"}
    ).totals.total == Decimal("109.32")


def test_line_net_must_match_quantity_times_price():
    with pytest.raises(ValidationError, match=r"line 1: net amount 60.00 != quantity 3 × unit price 19.99"):
        _doc(lines=[{"position": 1, "quantity": 3, "unit_price": "19.99", "net_amount": "60.00"}])


def test_tax_rounded_per_line_is_accepted_within_half_a_cent_per_line():
    lines = [{"position": i, "quantity": 1, "unit_price": "0.10", "tax_rate": "5"} for i in (1, 2, 3)]
    # per line: 0.005 → 0.01 each = 0.03; per rate: 0.30 × 5% = 0.015 → 0.02. Both are legitimate.
    per_line = _doc(lines=lines, taxes=[{"rate": "5", "taxable_amount": "0.30", "amount": "0.03"}])
    assert per_line.totals.tax_total == Decimal("0.03")
    with pytest.raises(ValidationError, match=r"tax Tax at 5%: amount 0\.10"):
        _doc(lines=lines, taxes=[{"rate": "5", "taxable_amount": "0.30", "amount": "0.10"}])


def test_credit_note_zero_decimal_currency_and_due_date_from_terms():
    doc = _doc(
        kind="credit_note",
        currency="JPY",
        lines=[{"position": 1, "quantity": "1", "unit_price": "1500.4"}],
        payment_terms={"code": "NET30", "due_offset_days": 30},
    )
    assert doc.kind is DocumentKind.CREDIT_NOTE
    assert doc.totals.total == Decimal("1500")
    assert doc.due_date == dt.date(2026, 12, 2)


def test_due_date_before_issue_date_is_rejected_and_refs_are_replaced_per_system():
    with pytest.raises(ValidationError, match="before issue date"):
        _doc(due_date="2026-10-01")
    doc = (
        _doc()
        .with_ref(ExternalRef(system="servicetrade", id="1"))
        .with_ref(ExternalRef(system="servicetrade", id="2", number="1042"))
    )
    assert doc.ref("servicetrade").id == "2" and len(doc.external_refs) == 1
    assert doc.ref("freshbooks") is None


def test_unknown_fields_and_bad_currency_are_rejected():
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        _doc(colour="blue")
    with pytest.raises(ValidationError, match="currency"):
        _doc(currency="dollars")


# -- bounds: an absurd amount is a readable ValueError, never decimal.InvalidOperation --------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("NaN", "'NaN' is not a number"),
        (float("inf"), "inf is not a number"),
        (Decimal("-Infinity"), "-Infinity is not a number"),
        ("1e30", "'1e30' is out of range (at most 15 digits before the decimal point)"),
        (1e30, "1e+30 is out of range"),
        (10**15, "1000000000000000 is out of range"),
        (Decimal("-1E+15"), "-1E+15 is out of range"),
        pytest.param(10**5000, "a number of more than 4300 digits is out of range", id="5000-digit-int"),
        ("0.1234567", "'0.1234567' has more than 6 decimal places"),
        (1e-7, "1e-07 has more than 6 decimal places"),
        (["1"], "['1'] is not a number"),
        (None, "None is not a number"),
        (True, "True is not a number"),
        ("9" * 100, "'999999999999999999999999999999...' is out of range"),
    ],
)
def test_to_decimal_refuses_what_the_money_model_cannot_hold_with_the_reason(value, reason):
    with pytest.raises(ValueError) as caught:
        to_decimal(value)
    assert str(caught.value).startswith(reason)


def test_to_decimal_accepts_everything_up_to_the_bounds():
    assert to_decimal("999999999999999.999999") == Decimal("999999999999999.999999")
    assert to_decimal("-999999999999999") == Decimal("-999999999999999")
    assert to_decimal("0.123456") == Decimal("0.123456")
    assert to_decimal("19.9900000000") == Decimal("19.9900000000")  # trailing zeros are not places
    assert to_decimal(8.875) == Decimal("8.875")


def test_round_money_refuses_an_amount_computed_beyond_the_bound():
    with pytest.raises(ValueError, match=r"1E\+16 is out of range"):
        round_money(Decimal("1E+16"), "USD")
    with pytest.raises(ValueError, match="is not a number"):
        round_money(Decimal("NaN"), "USD")
    assert round_money(Decimal("999999999999999.995"), "BHD") == Decimal("999999999999999.995")


def test_money_fields_refuse_out_of_range_amounts_as_validation_errors():
    with pytest.raises(ValidationError, match=r"lines.0.unit_price\n.*1e30' is out of range"):
        _doc(lines=[{"position": 1, "unit_price": "1e30"}])
    with pytest.raises(ValidationError, match=r"quantity\n.*has more than 6 decimal places"):
        _doc(lines=[{"position": 1, "unit_price": "1", "quantity": "0.0000001"}])


def test_a_line_whose_net_would_overflow_the_bound_is_a_validation_error_not_invalid_operation():
    # Each factor is in range; their product (10^28) is not: the model says so instead of raising
    # decimal.InvalidOperation from quantize.
    with pytest.raises(ValidationError, match="is out of range"):
        _doc(lines=[{"position": 1, "quantity": "99999999999999", "unit_price": "99999999999999"}])
    with pytest.raises(ValidationError, match="is out of range"):  # the sum of the lines
        _doc(
            lines=[
                {"position": 1, "unit_price": "900000000000000"},
                {"position": 2, "unit_price": "900000000000000"},
            ]
        )
