"""Canonical models (see document.py) and money rules (see money.py).

The models are pydantic classes built when `document.py` is imported, which happens the first time one of
them is asked for (`from invoice_relay.models import Document`), not with the package: a module that
only needs the money rules, and a function that maps no document, do not pay for building them.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_names
from .money import minor_units, round_money, to_decimal

if TYPE_CHECKING:
    from .document import (
        TNID,
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

__all__ = [
    "TNID",
    "Address", "Attachment", "Customer", "Document", "DocumentKind", "DocumentStatus", "ExternalRef",
    "Line", "Party", "Payment", "PaymentTerms", "Product", "Tax", "Totals",
    "minor_units", "round_money", "to_decimal",
]  # fmt: skip

# Every other name is a model: imported from document.py the first time it is asked for.
__getattr__ = lazy_names(globals(), {name: ".document" for name in __all__ if name not in globals()})
