"""Money arithmetic: `Decimal` only, rounded per currency with one explicit rule.

Rounding rule (used everywhere a money amount is produced):
- amounts are rounded to the currency's minor unit (ISO 4217 exponent: 2 for most currencies,
  0 for JPY/KRW/..., 3 for BHD/KWD/...),
- with ROUND_HALF_UP ("commercial rounding", what accounting systems and tax authorities expect),
- at the smallest sensible unit: each line's net amount, then each tax amount per rate on the sum of
  the nets at that rate; document totals are sums of already-rounded parts, never re-rounded.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

ROUNDING = ROUND_HALF_UP

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
    """Round an amount to the currency's minor unit with the project's rounding rule."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUNDING)


def to_decimal(value: object) -> Decimal:
    """Convert a partner value (str, int, Decimal; floats via their shortest repr) to Decimal.

    JSON numbers from partner APIs arrive as floats when parsed naively; `str(float)` gives the shortest
    round-tripping representation, so 19.99 stays 19.99 instead of 19.98999999999999843680598....
    """
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    try:
        return Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc
