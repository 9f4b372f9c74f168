"""Money arithmetic: `Decimal` only, rounded per currency with one explicit rule.

Rounding rule (used everywhere a money amount is produced):
- amounts are rounded to the currency's minor unit (ISO 4217 exponent: 2 for most currencies,
  0 for JPY/KRW/..., 3 for BHD/KWD/...),
- with ROUND_HALF_UP ("commercial rounding", what accounting systems and tax authorities expect),
- at the smallest sensible unit: each line's net amount, then each tax amount per rate on the sum of
  the nets at that rate; document totals are sums of already-rounded parts, never re-rounded.

Bounds (what a partner value may be, so that one absurd amount fails its document with a reason instead
of raising `decimal.InvalidOperation` somewhere downstream):
- finite: NaN and Infinity are not numbers;
- magnitude below 10^15 (`MAX_AMOUNT`, at most 15 digits before the decimal point): accounting systems
  hold 13–15 digits, and 15 + 3 minor-unit places stay well inside the 28 digits of Decimal's context,
  so rounding can never fail;
- at most 6 decimal places (`MAX_DECIMAL_PLACES`) once trailing zeros are dropped: enough for unit
  prices finer than a cent, tax rates (8.875) and fractional quantities; more is float noise or garbage.
`to_decimal` (and so the `Money`, `Quantity` and `Percent` fields of the models) refuses anything else
with a ValueError saying which bound (mappers turn it into a MappingError); `round_money` refuses an
amount computed beyond the magnitude bound (a quantity × a price) the same way.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

ROUNDING = ROUND_HALF_UP
MAX_AMOUNT = Decimal(10) ** 15  # exclusive bound on the magnitude of any amount, quantity or rate
MAX_DECIMAL_PLACES = 6

# ISO 4217 currencies whose minor unit is not 2 digits. Everything else uses 2.
_MINOR_UNITS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip


def minor_units(currency: str) -> int:
    """Number of decimal places of the currency's minor unit (ISO 4217 exponent)."""
    return _MINOR_UNITS.get(currency.upper(), 2)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round an amount to the currency's minor unit with the project's rounding rule.

    ValueError (never InvalidOperation) for an amount that is not finite or not below MAX_AMOUNT.
    """
    _check_magnitude(amount, amount)
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUNDING)


def to_decimal(value: object) -> Decimal:
    """Convert a partner value (str, int, Decimal; floats via their shortest repr) to a bounded Decimal.

    JSON numbers from partner APIs arrive as floats when parsed naively; `str(float)` gives the shortest
    round-tripping representation, so 19.99 stays 19.99 instead of 19.98999999999999843680598....
    ValueError, its message starting with the value, when it is not a number or breaks a bound (see the
    module docstring): "'abc' is not a number", "1e+30 is out of range (...)".
    """
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    elif isinstance(value, float | str):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{_shown(value)} is not a number") from None
    else:
        raise ValueError(f"{_shown(value)} is not a number")
    _check_magnitude(number, value)
    if number and -number.normalize().as_tuple().exponent > MAX_DECIMAL_PLACES:
        raise ValueError(f"{_shown(value)} has more than {MAX_DECIMAL_PLACES} decimal places")
    return number


def _check_magnitude(number: Decimal, value: object) -> None:
    if not number.is_finite():
        raise ValueError(f"{_shown(value)} is not a number")
    if abs(number) >= MAX_AMOUNT:
        raise ValueError(f"{_shown(value)} is out of range (at most 15 digits before the decimal point)")


def _shown(value: object) -> str:
    """The value as a reason quotes it: a Decimal as its digits, anything else as its repr, cut short."""
    if isinstance(value, str) and len(value) > 36:
        value = f"{value[:30]}..."
    try:
        text = str(value) if isinstance(value, Decimal) else repr(value)
    except ValueError:  # an int beyond Python's 4300-digit limit for str()
        return "a number of more than 4300 digits"
    return text if len(text) <= 40 else f"{text[:37]}..."
