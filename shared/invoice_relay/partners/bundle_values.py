"""What a document-bundle target lists and answers (`capabilities.BUNDLE_TARGET`). Named through
`capabilities`, which loads this module the first time one of them is used."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class BookingEntry(BaseModel):
    """An open item at a document-bundle target (a booking entry) that still lacks its invoice document."""

    # Built when first used (the bundle flow's listing, one thread), not at every function's cold start.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: Text
    entry_reference: Text
    invoice_number: Text
    document_date: dt.date
    amount: Decimal = Field(allow_inf_nan=False)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    customer_id: Text
    customer_name: Text
    customer_number: str | None = None

    @property
    def label(self) -> str:
        """How a run log names the entry: "booking entry be_10001 (invoice 1042)"."""
        return f"booking entry {self.id} (invoice {self.invoice_number})"


class BundleReceipt(BaseModel):
    """A bundle target's answer to an upload. `replayed`: the bundle id was imported before."""

    model_config = ConfigDict(frozen=True, defer_build=True)  # as BookingEntry

    bundle_id: str
    accepted_entries: tuple[str, ...]
    status: str
    replayed: bool = False
