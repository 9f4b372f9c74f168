"""The sandbox Clearnox's records and their rules: access tokens, booking entries and their listing, and
the import of a checked bundle (an id is imported once; the same bytes again are answered with the same
receipt, other bytes are a conflict; every entry must exist, lack a document and carry the invoice
number the metadata states).

The store is plain data: `ClearnoxSandbox` serialises access with its data lock.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from invoice_relay.partners.clearnox.models import BundleMetadata


@dataclass(frozen=True)
class StoredDocument:
    """A document attached to a booking entry by an imported bundle."""

    file_name: str
    sha256: str
    size: int
    bundle_id: str


@dataclass(frozen=True)
class UploadRecord:
    """One upload attempt as the sandbox saw it: status, size, what was accepted or why it was not."""

    bundle_id: str | None
    status: int
    size: int | None
    sha256: str | None = None
    accepted: tuple[str, ...] = ()
    code: str | None = None
    reasons: tuple[str, ...] = ()  # "target: code: message", one per problem


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an upload, as a 422's `details` entry names it."""

    code: str
    target: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "target": self.target, "message": self.message}

    def __str__(self) -> str:
        return ": ".join(part for part in (self.target, self.code, self.message) if part)


class Rejected(Exception):
    """An upload refused with `status`: every problem found (422), or just a message (400, 413, 415)."""

    def __init__(self, status: int, problems: list[Problem], message: str | None = None):
        super().__init__(message or "; ".join(str(p) for p in problems))
        self.status = status
        self.problems = problems
        self.message = message
        self.size: int | None = None  # bytes received, once the body was read


@dataclass(frozen=True)
class ImportedBundle:
    sha256: str
    receipt: dict[str, Any]


@dataclass
class ClearnoxStore:
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    documents: dict[str, StoredDocument] = field(default_factory=dict)
    bundles: dict[str, ImportedBundle] = field(default_factory=dict)
    uploads: list[UploadRecord] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)  # token → expires at (time.time())
    tokens_issued: int = 0

    # -- tokens ---------------------------------------------------------------------------------------

    def issue_token(self, ttl_seconds: float) -> str:
        token = secrets.token_urlsafe(32)
        self.tokens[token] = time.time() + ttl_seconds
        self.tokens_issued += 1
        return token

    def token_valid(self, token: str) -> bool:
        return bool(token) and self.tokens.get(token, 0) > time.time()

    def expire_tokens(self) -> int:
        """Make every token issued so far expired. Returns how many were valid."""
        now = time.time()
        valid = sum(1 for expires_at in self.tokens.values() if expires_at > now)
        self.tokens = dict.fromkeys(self.tokens, now - 1)
        return valid

    # -- booking entries ------------------------------------------------------------------------------

    def clear_entries(self) -> None:
        """No entries, documents or imported bundles (tokens and the upload log stay)."""
        self.entries.clear()
        self.documents.clear()
        self.bundles.clear()

    def add_entry(self, record: dict[str, Any]) -> dict[str, Any]:
        entry = {"has_document": False, "updated_at": now_iso(), **copy.deepcopy(record)}
        self.entries[str(entry["id"])] = entry
        return copy.deepcopy(entry)

    def all_entries(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(e) for _, e in sorted(self.entries.items())]

    def missing(self) -> list[str]:
        return sorted(i for i, e in self.entries.items() if not e.get("has_document"))

    def detach_document(self, entry_id: str) -> None:
        self.documents.pop(entry_id, None)
        self.entries[entry_id].update(has_document=False, updated_at=now_iso())

    def listing(
        self, *, has_document: bool | None, page: int, per_page: int
    ) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """One page of the entries ordered by id (filtered by `has_document` unless None) and its `meta`
        (`total_pages` 0 when nothing matches; a page past the end is empty)."""
        rows = [
            copy.deepcopy(e)
            for _, e in sorted(self.entries.items())
            if has_document is None or bool(e.get("has_document")) == has_document
        ]
        total_pages = math.ceil(len(rows) / per_page)
        data = rows[(page - 1) * per_page : page * per_page]
        return data, {"page": page, "per_page": per_page, "total_pages": total_pages, "total": len(rows)}

    # -- bundles --------------------------------------------------------------------------------------

    def replay(self, bundle_id: str, digest: str) -> dict[str, Any] | None:
        """The receipt of a bundle id imported before with the same bytes, else None. Rejected 409
        `bundle_id_conflict` when it was imported with other bytes."""
        earlier = self.bundles.get(bundle_id)
        if earlier is None:
            return None
        if earlier.sha256 != digest:
            raise Rejected(
                409,
                [Problem("bundle_id_conflict", bundle_id, "this bundle id was imported with other content")],
            )
        return copy.deepcopy(earlier.receipt)

    def import_bundle(self, metadata: BundleMetadata, bundle_id: str, digest: str) -> dict[str, Any]:
        """Attach every file of a checked bundle to its entry (all or none) and return the receipt.
        Rejected 422 naming every entry that is unknown, has a document or is another invoice."""
        problems = self.entry_problems(metadata)
        if problems:
            raise Rejected(422, problems)
        accepted = []
        for file in metadata.files:
            entry = self.entries[file.entry.id]
            entry.update(has_document=True, updated_at=now_iso())
            self.documents[file.entry.id] = StoredDocument(file.file_name, file.sha256, file.size, bundle_id)
            accepted.append(file.entry.id)
        receipt = {"bundle_id": bundle_id, "accepted_entries": accepted, "status": "imported"}
        self.bundles[bundle_id] = ImportedBundle(digest, receipt)
        return copy.deepcopy(receipt)

    def entry_problems(self, metadata: BundleMetadata) -> list[Problem]:
        problems = []
        for file in metadata.files:
            entry_id = file.entry.id
            entry = self.entries.get(entry_id)
            if entry is None:
                problems.append(
                    Problem("unknown_entry", file.file_name, f"booking entry {entry_id} does not exist")
                )
            elif entry.get("has_document"):
                problems.append(
                    Problem(
                        "entry_has_document",
                        file.file_name,
                        f"booking entry {entry_id} already has a document",
                    )
                )
            elif str(entry.get("invoice_number")) != file.entry.invoice_number:
                problems.append(
                    Problem(
                        "entry_mismatch",
                        file.file_name,
                        f"booking entry {entry_id} is invoice {entry.get('invoice_number')}, "
                        f"metadata.json says {file.entry.invoice_number}",
                    )
                )
        return problems


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
