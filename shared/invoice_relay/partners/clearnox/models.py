"""Clearnox's data: the booking-entry listing, the bundle metadata schema (`metadata.json`) and the API's
paths and limits — the one place Clearnox JSON is defined (the bundler writes it, the sandbox checks it).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from ...errors import MappingError, PermanentError
from ..capabilities import BookingEntry
from ..payload import (
    PLAUSIBLE_YEARS,
    PayloadProblem,
    currency_code,
    id_value,
    label_text,
    map_record,
    money_field,
    shown,
    text_value,
    validation_reason,
)

PARTNER = "clearnox"
DEFAULT_BASE_URL = "https://api.clearnox.com"  # assumption: see the package docstring
TOKEN_PATH = "/oauth/token"  # noqa: S105 (a URL path, not a password)
ENTRIES_PATH = "/api/v1/booking-entries"
BUNDLES_PATH = "/api/v1/document-bundles"
MAX_PER_PAGE = 500

BUNDLE_SCHEMA = "invoice-relay.clearnox.bundle/v1"
METADATA_FILE_NAME = "metadata.json"
BUNDLE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
MAX_FILE_NAME_LENGTH = 255
PDF_MAGIC = b"%PDF-"

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Crc32Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8}$")]
BundleId = Annotated[str, StringConstraints(pattern=BUNDLE_ID_PATTERN)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class BundleRejected(PermanentError):
    """Clearnox refused a bundle (4xx): nothing of it was imported. `code` is the partner's error code,
    `details` every problem it named ("1042.pdf: not_a_pdf: …"); the reason names the first few."""

    def __init__(
        self, reason: str, *, bundle_id: str, code: str | None, details: tuple[str, ...], status: int
    ):
        super().__init__(reason, partner=PARTNER, status=status)
        self.bundle_id = bundle_id
        self.code = code
        self.details = details


# -- metadata.json --------------------------------------------------------------------------------------


class InvalidBundleMetadata(ValueError):
    """`metadata.json` does not follow `BundleMetadata`; `problems` says where, one sentence each."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def unsafe_file_name_reason(name: str) -> str | None:
    """Why `name` is not a safe zip member name for a bundle, or None when it is.

    Safe: relative, "/"-separated, no empty, "." or ".." segment, no backslash, no control character,
    at most MAX_FILE_NAME_LENGTH characters.
    """
    if not name:
        return "is empty"
    if len(name) > MAX_FILE_NAME_LENGTH:
        return f"is longer than {MAX_FILE_NAME_LENGTH} characters"
    if "\\" in name:
        return "contains a backslash"
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        return "contains a control character"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "is an absolute path"
    if any(segment == ".." for segment in name.split("/")):
        return "contains '..'"
    if any(segment in ("", ".") for segment in name.split("/")):
        return "has an empty or '.' path segment"
    return None


class BundleCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Text
    name: Text
    number: str | None = None


class BundleEntry(BaseModel):
    """The booking entry a file belongs to, as `metadata.json` states it (amount as a decimal string)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Text
    entry_reference: Text
    invoice_number: Text
    document_date: dt.date
    amount: Decimal = Field(allow_inf_nan=False)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    customer: BundleCustomer

    @field_validator("amount", mode="before")
    @classmethod
    def _decimal_text(cls, value: object) -> object:
        # Money travels as text: a JSON number may already have passed through a float somewhere.
        if not isinstance(value, str | Decimal):
            raise ValueError('must be a decimal string such as "511.25", not a JSON number')
        return value

    @classmethod
    def from_booking_entry(cls, entry: BookingEntry) -> BundleEntry:
        return cls(
            id=entry.id,
            entry_reference=entry.entry_reference,
            invoice_number=entry.invoice_number,
            document_date=entry.document_date,
            amount=entry.amount,
            currency=entry.currency,
            customer=BundleCustomer(
                id=entry.customer_id, name=entry.customer_name, number=entry.customer_number
            ),
        )


class BundleFile(BaseModel):
    """One PDF in the zip: its member name, size in bytes, SHA-256 and CRC-32 (lowercase hex), its entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file_name: str
    size: int = Field(ge=0)
    sha256: Sha256Hex
    crc32: Crc32Hex
    entry: BundleEntry

    @field_validator("file_name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        reason = unsafe_file_name_reason(value)
        if reason is not None:
            raise ValueError(f"{value!r} {reason}")
        if value.casefold() == METADATA_FILE_NAME:
            raise ValueError(f"{METADATA_FILE_NAME!r} is reserved for the bundle's metadata")
        return value


class BundleMetadata(BaseModel):
    """`metadata.json` of a Clearnox document bundle (schema `invoice-relay.clearnox.bundle/v1`):

    `{"schema", "bundle_id", "connector_id", "created_at" (ISO 8601 with zone), "files": [{"file_name",
    "size", "sha256", "crc32" (8 hex digits), "entry": {"id", "entry_reference", "invoice_number",
    "document_date", "amount" (string), "currency", "customer": {"id", "name", "number"}}}]}`.
    File names are unique ignoring case, and so are entry ids (one document per entry).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_id: Literal["invoice-relay.clearnox.bundle/v1"] = Field(default=BUNDLE_SCHEMA, alias="schema")
    bundle_id: BundleId
    connector_id: Text
    created_at: AwareDatetime
    files: list[BundleFile] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> BundleMetadata:
        problems = []
        names: dict[str, str] = {}
        entries: dict[str, str] = {}
        for file in self.files:
            key = file.file_name.casefold()
            if key in names:
                problems.append(f"file name {file.file_name!r} is listed twice (also as {names[key]!r})")
            names.setdefault(key, file.file_name)
            if file.entry.id in entries:
                problems.append(
                    f"entry {file.entry.id} has two files ({entries[file.entry.id]!r}, {file.file_name!r})"
                )
            entries.setdefault(file.entry.id, file.file_name)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def to_json_bytes(self) -> bytes:
        """The `metadata.json` content (UTF-8, indented)."""
        return self.model_dump_json(by_alias=True, indent=2).encode()

    @classmethod
    def from_json_bytes(cls, data: bytes) -> BundleMetadata:
        """Parse and validate `metadata.json`. InvalidBundleMetadata lists every problem."""
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            raise InvalidBundleMetadata(validation_reason(exc).split("; ")) from None


class BundledFile(Protocol):
    """A PDF as the bundler wrote it into the zip (e.g. `bundles.zipstream.WrittenMember`)."""

    @property
    def name(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def sha256(self) -> str: ...
    @property
    def crc32(self) -> int: ...
    @property
    def entry(self) -> BookingEntry: ...


def bundle_metadata(
    bundle_id: str,
    connector_id: str,
    files: Iterable[BundledFile],
    *,
    created_at: dt.datetime | None = None,
) -> BundleMetadata:
    """The `metadata.json` of a bundle from the files written into it (created now unless given).

    Raises ValidationError when a file breaks the schema (an unsafe or duplicate name, two files for one
    entry): the bundler names members safely, so that is a bug, not data.
    """
    return BundleMetadata(
        bundle_id=bundle_id,
        connector_id=connector_id,
        created_at=created_at or dt.datetime.now(dt.UTC).replace(microsecond=0),
        files=[
            BundleFile(
                file_name=file.name,
                size=file.size,
                sha256=file.sha256,
                crc32=f"{file.crc32 & 0xFFFFFFFF:08x}",
                entry=BundleEntry.from_booking_entry(file.entry),
            )
            for file in files
        ],
    )


# -- the listing ----------------------------------------------------------------------------------------


def booking_entry_from_payload(payload: object) -> BookingEntry:
    """Map one listed Clearnox booking entry to a `BookingEntry`.

    Raises MappingError naming the entry and the field ("clearnox booking entry be_10001 (invoice 1042):
    document_date '02/10/2026' is not a date", "clearnox booking entry be_10002 has no amount"); anything
    else mapping this one entry raises (an amount out of the money model's bounds, a value of the wrong
    type) becomes its MappingError too, so one poison entry never stops the listing.
    """
    if not isinstance(payload, dict):
        raise MappingError("clearnox booking entry is not a JSON object", partner=PARTNER)
    entry_id = text_value(payload.get("id"))
    if entry_id is None:
        raise MappingError("clearnox booking entry has no id", partner=PARTNER)
    number = text_value(payload.get("invoice_number"))
    label = f"clearnox booking entry {label_text(entry_id)}" + (
        f" (invoice {label_text(number)})" if number else ""
    )
    return map_record(label, lambda: _booking_entry(payload), partner=PARTNER, raw=payload)


def _booking_entry(payload: dict[str, Any]) -> BookingEntry:
    customer = payload.get("customer")
    if customer is None:
        raise PayloadProblem("customer", missing=True)
    if not isinstance(customer, dict):
        raise PayloadProblem(f"customer {shown(customer)} is not a customer record")
    return BookingEntry(
        id=id_value(payload.get("id"), "id"),
        entry_reference=_required_text(payload, "entry_reference"),
        invoice_number=_required_text(payload, "invoice_number"),
        document_date=_date(payload.get("document_date"), "document_date"),
        amount=money_field(payload, "amount"),
        currency=currency_code(payload.get("currency"), "currency"),
        customer_id=_required_text(customer, "id", "customer."),
        customer_name=_required_text(customer, "name", "customer."),
        customer_number=text_value(customer.get("number")),
    )


def _required_text(record: dict[str, Any], field: str, prefix: str = "") -> str:
    text = text_value(record.get(field))
    if text is None:
        raise PayloadProblem(f"{prefix}{field}", missing=True)
    return text


def _date(value: object, field: str) -> dt.date:
    """A calendar date written "YYYY-MM-DD"."""
    if value is None or value == "":
        raise PayloadProblem(field, missing=True)
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        raise PayloadProblem(f"{field} {value!r} is not a date (YYYY-MM-DD)")
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise PayloadProblem(f"{field} {value!r} is not a date (YYYY-MM-DD)") from None
    if day.year not in PLAUSIBLE_YEARS:
        raise PayloadProblem(f"{field} {value!r} is not a plausible date")
    return day
