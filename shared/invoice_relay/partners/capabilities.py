"""What a partner can do for a flow: the capability protocols, and the canonical values they exchange.

A flow never names a partner. It asks the registry (`registry.PartnerRegistry.open`) for a capability of a
connector — "the polled source", "the invoice target" — and gets an object with these methods, or a
`ConfigurationError` naming the connector, the system and the missing capability. A partner package
declares in its `spec` which capabilities each side (source, target) provides. The values are defined
in one module per flow (`polled_values`, `delivery_values`, `catalog_values`, `file_values`,
`bundle_values`) and named through this one.

| capability              | side   | used by                       | examples                    |
|-------------------------|--------|-------------------------------|-----------------------------|
| POLLED_SOURCE           | source | poll, deliver (write-back)    | ServiceTrade, ClearBooks, ShipServ |
| WEBHOOK_SOURCE          | either | webhook intake, deliver       | shop, FreshBooks (events back) |
| PAID_STATUS             | source | deliver (target says "paid")  | shop                        |
| CATALOG_SOURCE          | source | catalog sync                  | shop                        |
| DOCUMENT_DROP_ZONE      | source | bundle                        | drop zone                   |
| DOCUMENT_TARGET         | target | deliver (documents, payments, customers) | FreshBooks, ClearBooks,  |
|                         |        |                               | ShipServ                    |
| DELIVERY_RECEIPTS       | target | poll (records READ receipts)  | ShipServ                    |
| CATALOG_TARGET          | target | catalog sync                  | FreshBooks                  |
| FILE_TARGET             | target | export                        | flat file                   |
| BUNDLE_TARGET           | target | bundle                        | Clearnox                    |
| OAUTH_CONNECT           | either | oauth connect                 | FreshBooks, ClearBooks      |
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from ..lazy import lazy_names

if TYPE_CHECKING:  # for annotations: the values are imported on first use (below), the models likewise
    from ..models import Customer, Document, Payment, Product
    from .bundle_values import BookingEntry, BundleReceipt
    from .catalog_values import CatalogChange
    from .delivery_values import (  # noqa: F401 (named through this module, see below)
        CustomerChanged,
        Delivered,
        DeliveryReceipt,
        DocumentSettled,
        HandshakeAnswer,
        NewDocument,
        NothingToDo,
        PaymentReceived,
        WebhookDelivery,
        Work,
        WorkRef,
    )
    from .file_values import RenderedFile
    from .polled_values import Outcome, SourcePage, SourceRef

# -- values ---------------------------------------------------------------------------------------------
# Imported from their flow's module the first time they are named (`from .capabilities import Outcome`):
# a function builds the classes of its own flows only, not those of every flow (cold start).

__getattr__ = lazy_names(
    globals(),
    {
        **dict.fromkeys(("SourceRef", "SourcePage", "Outcome"), ".polled_values"),
        **dict.fromkeys(
            (
                "Delivered",
                "DeliveryReceipt",
                "WorkRef",
                "NewDocument",
                "CustomerChanged",
                "PaymentReceived",
                "DocumentSettled",
                "NothingToDo",
                "Work",
                "WebhookDelivery",
                "HandshakeAnswer",
            ),
            ".delivery_values",
        ),
        "CatalogChange": ".catalog_values",
        "RenderedFile": ".file_values",
        **dict.fromkeys(("BookingEntry", "BundleReceipt"), ".bundle_values"),
    },
)


# -- protocols ------------------------------------------------------------------------------------------


@runtime_checkable
class Closeable(Protocol):
    system: str

    def close(self) -> None:
        """End the conversation with the partner (logout, release the HTTP session)."""
        ...


@runtime_checkable
class PolledSource(Closeable, Protocol):
    """Lists documents that are ready, fetches one, and writes the outcome back to its status."""

    write_back_concurrency: int  # write-backs the source takes at once (within its rate limit)

    def poll(self, start_page: int = 1, position: Mapping[str, Any] | None = None) -> Iterator[SourcePage]:
        """Pages of records ready for the target, from `start_page` to the last page. An incremental source
        lists from `position` instead (the last `SourcePage.position` saved; None on its first run)."""
        ...

    def fetch(self, ref: SourceRef) -> tuple[Document, dict[str, Any]]:
        """The canonical document and the raw payload it was mapped from, fresh from the source.
        MappingError carries `raw`."""
        ...

    def document(self, raw: dict[str, Any]) -> Document:
        """The canonical document of a record as listed (`SourcePage.records`). MappingError carries `raw`."""
        ...

    def current_ref(self, raw: dict[str, Any]) -> SourceRef | None:
        """The ref of a fetched payload as it is now, or None if it is no longer ready."""
        ...

    def acknowledge(self, ref: SourceRef, outcome: Outcome, *, check_first: bool = False) -> None:
        """Write the outcome back (status, target number and id, or the failure reason), never posting a
        non-idempotent part (a comment) twice. `check_first`: an earlier write-back of this outcome may
        have gone through with its answer lost — skip what the source already shows."""
        ...


@runtime_checkable
class WebhookSource(Closeable, Protocol):
    """Receives signed webhook deliveries and turns them into work for the delivery pipeline."""

    def recognises(self, headers: Mapping[str, str]) -> bool:
        """Whether these (lower-cased) headers are this sender's signature scheme."""
        ...

    def handshake(self, headers: Mapping[str, str], body: bytes) -> HandshakeAnswer | None:
        """The answer to an unsigned setup request, or None when this is not one."""
        ...

    def verify(self, headers: Mapping[str, str], body: bytes, now: dt.datetime) -> WebhookDelivery:
        """Check the signature, then parse. InvalidSignature (401) or MalformedDelivery (400)."""
        ...

    def decode(self, event_type: str, payload: dict[str, Any], received_at: dt.datetime) -> Work:
        """What an accepted delivery asks for, in canonical terms (may call the partner's API)."""
        ...


@runtime_checkable
class PaidStatus(Closeable, Protocol):
    """A source whose documents can be marked paid when the target reports them settled."""

    def mark_paid(self, source_id: str, *, paid_at: dt.datetime, reference: str) -> None:
        """Mark the document paid (idempotent: a paid document is left alone)."""
        ...


@runtime_checkable
class CatalogSource(Closeable, Protocol):
    def products(self, updated_since: dt.datetime | None) -> Iterator[CatalogChange]:
        """Products changed at or after `updated_since` (all when None), oldest change first."""
        ...


@runtime_checkable
class DocumentDropZone(Protocol):
    system: str

    def prefix(self) -> str:
        """The S3 prefix the customer syncs its documents into."""
        ...

    def match_rule(self) -> Mapping[str, Any]:
        """How an entry finds its document there (`bundles.matching.MatchRule` fields)."""
        ...


@runtime_checkable
class DocumentTarget(Closeable, Protocol):
    """An accounting API: invoices, their customers, their payments."""

    def deliver_document(self, document: Document, *, customer: Customer, marker: str) -> Delivered:
        """Create the document once (a repeat with the same marker returns the first)."""
        ...

    def update_customer(self, customer: Customer, known_id: str | None) -> str:
        """Bring the target's customer in step (found by `known_id` or by e-mail); returns its id."""
        ...

    def record_payment(self, target_document_id: str, payment: Payment) -> Delivered:
        """Record the payment on the document once (per transaction id)."""
        ...


@runtime_checkable
class DeliveryReceipts(Closeable, Protocol):
    """A target that says when the recipient has seen what was delivered (a trade network's READ)."""

    def receipts(self, since: dt.datetime | None) -> Iterator[DeliveryReceipt]:
        """Receipts that came at or after `since` (all when None), oldest first."""
        ...


@runtime_checkable
class CatalogTarget(Closeable, Protocol):
    def sync_product(self, product: Product) -> tuple[str, Literal["created", "updated", "unchanged"]]:
        """Keep the target's item of this SKU in step; returns (item id, what happened)."""
        ...


@runtime_checkable
class FileTarget(Protocol):
    system: str
    max_documents_per_file: int

    def template_name(self) -> str:
        """The import template's name (checked when the run starts: a broken template stops it)."""
        ...

    def render(
        self, documents: Iterable[Document], *, connector_id: str, run_id: str, run_date: dt.date
    ) -> RenderedFile:
        """One import file of `documents` (read once, in order: a generator keeps one in memory at a time);
        documents that cannot be rendered are left out with a reason."""
        ...


@runtime_checkable
class BundleTarget(Closeable, Protocol):
    """A credit-management API that lacks invoice documents and imports them as zip bundles."""

    max_bundle_bytes: int
    max_bundle_files: int
    resend_grace_hours: float

    def missing_document_entries(self) -> Iterator[BookingEntry]:
        """Every entry that still has no document (read the whole listing before uploading)."""
        ...

    def bundle_metadata(self, bundle_id: str, connector_id: str, files: list[Any]) -> bytes:
        """The bundle's metadata file (maps each file to its entry) for the files written."""
        ...

    def upload_bundle(
        self, bundle_id: str, body: Any, *, size: int | None, sha256: str | None
    ) -> BundleReceipt:
        """Upload one zip streamed from `body`; the same `bundle_id` again is answered, not imported twice."""
        ...


@runtime_checkable
class OAuthConnect(Protocol):
    """A partner connected by OAuth 2.0 authorization code (connect link + callback)."""

    system: str
    title: str

    def connect_url(self, state: str) -> str:
        """The partner's consent page, carrying the one-time `state`."""
        ...

    def complete(self, code: str) -> None:
        """Exchange the code and store the tokens (Secrets Manager)."""
        ...


# -- the capability catalogue ---------------------------------------------------------------------------

Side = Literal["source", "target", "either"]


@dataclass(frozen=True)
class Capability[T]:
    """One capability: its name, the protocol its objects follow, the side of a connector that provides
    it, and what it means in words (for errors and the connector catalogue)."""

    name: str
    protocol: type[T]
    side: Side
    description: str

    def __repr__(self) -> str:
        return f"Capability({self.name})"


POLLED_SOURCE = Capability("polled_source", PolledSource, "source", "a polled source with status write-back")
WEBHOOK_SOURCE = Capability("webhook_source", WebhookSource, "either", "signed webhook deliveries")
PAID_STATUS = Capability("paid_status", PaidStatus, "source", "marking documents paid")
CATALOG_SOURCE = Capability("catalog_source", CatalogSource, "source", "a product catalog")
DOCUMENT_DROP_ZONE = Capability("document_drop_zone", DocumentDropZone, "source", "a document drop zone")
DOCUMENT_TARGET = Capability(
    "document_target", DocumentTarget, "target", "an invoice, payment and customer API"
)
DELIVERY_RECEIPTS = Capability(
    "delivery_receipts", DeliveryReceipts, "target", "receipts for delivered documents"
)
CATALOG_TARGET = Capability("catalog_target", CatalogTarget, "target", "catalog items")
FILE_TARGET = Capability("file_target", FileTarget, "target", "flat import files")
BUNDLE_TARGET = Capability("bundle_target", BundleTarget, "target", "document bundles")
OAUTH_CONNECT = Capability("oauth_connect", OAuthConnect, "either", "an OAuth 2.0 connection")

CAPABILITIES: tuple[Capability[Any], ...] = (
    POLLED_SOURCE,
    WEBHOOK_SOURCE,
    PAID_STATUS,
    CATALOG_SOURCE,
    DOCUMENT_DROP_ZONE,
    DOCUMENT_TARGET,
    DELIVERY_RECEIPTS,
    CATALOG_TARGET,
    FILE_TARGET,
    BUNDLE_TARGET,
    OAUTH_CONNECT,
)
