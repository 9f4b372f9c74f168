"""Decimal helpers shared by the sandboxes' stores (exact amounts: no floats on the way)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")


def decimal_or_none(value: Any) -> Decimal | None:
    """`value` (its text) as a finite `Decimal`; None for None, a bool or anything else that is not one."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def money_text(amount: Decimal) -> str:
    """The amount rounded half up to cents, as text ("12.50")."""
    return f"{amount.quantize(CENT, rounding=ROUND_HALF_UP):f}"
