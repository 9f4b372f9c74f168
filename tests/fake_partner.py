"""Two tiny partners defined in the test tree and added through the registry alone: a polled source with
status write-back ("fakeledger") and a document target ("fakebooks"). They prove the seam: the flows,
the webhook intake and the handlers run them without a line that names them.

Their "APIs" are in-memory books shared with the test (`BOOKS`), so a test can look at what the flows did.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from invoice_relay.errors import AuthenticationError, MappingError, PermanentError
from invoice_relay.models import Customer, Document, Payment
from invoice_relay.partners.capabilities import (
    DOCUMENT_TARGET,
    POLLED_SOURCE,
    Delivered,
    Outcome,
    SourcePage,
    SourceRef,
)
from invoice_relay.partners.spec import PartnerConfig, PartnerSpec, SideSpec

PAGE_SIZE = 2


@dataclass
class Books:
    """The fake partners' records: source documents with a status, and what the target received."""

    source: dict[str, dict[str, Any]] = field(default_factory=dict)
    target: dict[str, dict[str, Any]] = field(default_factory=dict)
    refuse_credentials: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, source_id: str, total: str, *, customer: str | None = "Ada Ltd") -> None:
        self.source[source_id] = {
            "id": source_id,
            "number": f"F-{source_id}",
            "total": total,
            "customer": customer,
            "status": "ready",
            "version": "1",
            "comment": None,
            "target_number": None,
        }

    def reset(self) -> None:
        self.source.clear()
        self.target.clear()
        self.refuse_credentials = False


BOOKS = Books()


class FakeLedgerConfig(PartnerConfig):
    system: Literal["fakeledger"]


class FakeBooksConfig(PartnerConfig):
    system: Literal["fakebooks"]
    prefix: str = "FB"


def to_document(record: dict[str, Any]) -> Document:
    if not record.get("customer"):
        raise MappingError(f"fake document {record['id']} has no customer", partner="fakeledger", raw=record)
    total = Decimal(record["total"])
    return Document.model_validate(
        {
            "number": record["number"],
            "issue_date": dt.date(2026, 11, 30),
            "currency": "EUR",
            "buyer": {"name": record["customer"], "email": "books@ada.example"},
            "lines": [{"position": 1, "description": "Service", "quantity": 1, "unit_price": total}],
        }
    )


class FakeLedger:
    """POLLED_SOURCE: documents in status `ready`, written back `done` (with the target's number) or
    `failed` (with a comment)."""

    system = "fakeledger"

    def poll(self, start_page: int = 1, position: Any = None) -> Iterator[SourcePage]:
        ready = sorted((r for r in BOOKS.source.values() if r["status"] == "ready"), key=lambda r: r["id"])
        pages = max(1, -(-len(ready) // PAGE_SIZE))
        for page in range(start_page, pages + 1):
            chunk = ready[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
            refs = [SourceRef(r["id"], r["version"], r["number"]) for r in chunk]
            yield SourcePage(page=page, total_pages=pages, refs=refs, raw=chunk)

    def fetch(self, ref: SourceRef) -> tuple[Document, dict[str, Any]]:
        record = dict(BOOKS.source[ref.id])
        return to_document(record), record

    def current_ref(self, raw: dict[str, Any]) -> SourceRef | None:
        record = BOOKS.source[raw["id"]]
        return (
            SourceRef(record["id"], record["version"], record["number"])
            if record["status"] == "ready"
            else None
        )

    def acknowledge(self, ref: SourceRef, outcome: Outcome, *, check_first: bool = False) -> None:
        record = BOOKS.source[ref.id]
        if outcome.delivered:
            record.update(status="done", target_number=outcome.target_number)
        else:
            record.update(status="failed", comment=outcome.reason)

    def close(self) -> None:
        pass


class FakeBooks:
    """DOCUMENT_TARGET: invoices numbered `<prefix>-<n>`, found again by their marker."""

    system = "fakebooks"

    def __init__(self, config: FakeBooksConfig):
        self.prefix = config.prefix

    def deliver_document(self, document: Document, *, customer: Customer, marker: str) -> Delivered:
        if BOOKS.refuse_credentials:
            raise AuthenticationError("fakebooks refused our credentials", partner="fakebooks", status=401)
        if document.totals.total > 10_000:
            raise PermanentError(
                f"fakebooks refuses invoices over 10000 ({document.number})", partner="fakebooks"
            )
        with BOOKS.lock:
            for target_id, invoice in BOOKS.target.items():
                if invoice["marker"] == marker:
                    return Delivered(target_id, invoice["number"])
            target_id = str(len(BOOKS.target) + 1)
            number = f"{self.prefix}-{target_id}"
            BOOKS.target[target_id] = {
                "number": number,
                "marker": marker,
                "total": str(document.totals.total),
            }
        return Delivered(target_id, number, notes=(f"fakebooks rounded nothing for {document.number}",))

    def update_customer(self, customer: Customer, known_id: str | None) -> str:
        return known_id or "c-1"

    def record_payment(self, target_document_id: str, payment: Payment) -> Delivered:
        return Delivered(f"p-{target_document_id}")

    def close(self) -> None:
        pass


LEDGER_SPEC = PartnerSpec(
    system="fakeledger",
    title="Fake ledger",
    category="test",
    connection="none",
    source=SideSpec(config=FakeLedgerConfig, provides={POLLED_SOURCE: lambda config, context: FakeLedger()}),
)
BOOKS_SPEC = PartnerSpec(
    system="fakebooks",
    title="Fake books",
    category="test",
    connection="none",
    target=SideSpec(
        config=FakeBooksConfig, provides={DOCUMENT_TARGET: lambda config, context: FakeBooks(config)}
    ),
)
