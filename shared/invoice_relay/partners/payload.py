"""Reading partner JSON safely: the small rules every adapter's mappers share.

A `PayloadProblem` names the field and what is wrong with it; the adapter turns it into a MappingError
worded for its record ("invoice 1042 has no customer", "shop order 7: total 'x' is not a number").
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from ..models import to_decimal

PLAUSIBLE_YEARS = range(1990, 2101)


class PayloadProblem(Exception):
    """A mapping problem; `reason(label)` words it for one record."""

    def __init__(self, text: str, *, missing: bool = False):
        super().__init__(text)
        self.text = text
        self.missing = missing

    def reason(self, label: str) -> str:
        return f"{label} has no {self.text}" if self.missing else f"{label}: {self.text}"


def money_field(record: dict[str, Any], field: str) -> Decimal:
    """A required money amount (Decimal, never via float arithmetic)."""
    if record.get(field) is None:
        raise PayloadProblem(field, missing=True)
    return decimal_value(record[field], field)


def decimal_value(value: object, what: str) -> Decimal:
    try:
        number = to_decimal(value)
    except ValueError:
        raise PayloadProblem(f"{what} {value!r} is not a number") from None
    if not number.is_finite():
        raise PayloadProblem(f"{what} {value!r} is not a number")
    return number


def currency_code(value: object, field: str, default: str | None = None) -> str:
    """An ISO 4217 code; `default` when absent (None: the field is required)."""
    if value is None or value == "":
        if default is None:
            raise PayloadProblem(field, missing=True)
        return default
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value.strip()):
        raise PayloadProblem(f"{field} {value!r} is not an ISO 4217 code")
    return value.strip().upper()


def text_value(value: object) -> str | None:
    """Stripped text, or None for empty values and for structures that are not text."""
    if value is None or isinstance(value, dict | list | bool):
        return None
    text = str(value).strip()
    return text or None


def validation_reason(exc: ValidationError) -> str:
    """A pydantic validation error as one readable sentence per problem."""
    reasons = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        where = ".".join(str(part) for part in error["loc"])
        reasons.append(f"{where}: {message}" if where else message)
    return "; ".join(reasons)
