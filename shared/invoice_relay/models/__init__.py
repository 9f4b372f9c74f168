"""Canonical models (see document.py) and money rules (see money.py)."""

from .document import (
    Address,
    Attachment,
    Customer,
    Document,
    DocumentKind,
    DocumentStatus,
    ExternalRef,
    Line,
    Party,
    Payment,
    PaymentTerms,
    Product,
    Tax,
    Totals,
)
from .money import minor_units, round_money, to_decimal

__all__ = [
    "Address", "Attachment", "Customer", "Document", "DocumentKind", "DocumentStatus", "ExternalRef",
    "Line", "Party", "Payment", "PaymentTerms", "Product", "Tax", "Totals",
    "minor_units", "round_money", "to_decimal",
]  # fmt: skip
