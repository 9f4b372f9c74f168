"""Clearnox payloads: booking-entry mapping and the bundle's metadata.json schema."""

from __future__ import annotations

import copy
import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal

import pytest

from invoice_relay.errors import ConfigurationError, MappingError
from invoice_relay.partners.capabilities import BookingEntry
from invoice_relay.partners.clearnox.client import ClearnoxClient
from invoice_relay.partners.clearnox.models import (
    BUNDLE_SCHEMA,
    BundleEntry,
    BundleFile,
    BundleMetadata,
    InvalidBundleMetadata,
    booking_entry_from_payload,
    bundle_metadata,
    unsafe_file_name_reason,
)

LISTED = {
    "id": "be_10001",
    "entry_reference": "AR-2026-0042",
    "invoice_number": "1042",
    "document_date": "2026-10-02",
    "amount": "511.25",
    "currency": "USD",
    "customer": {"id": "c_55", "name": "Acme Facilities", "number": "C-0055"},
    "has_document": False,
    "updated_at": "2026-10-02T14:03:11Z",
}


def listed(**changes: object) -> dict:
    entry = copy.deepcopy(LISTED)
    entry.update(changes)
    return entry


def entry() -> BookingEntry:
    return booking_entry_from_payload(LISTED)


def metadata(*files: BundleFile) -> BundleMetadata:
    return BundleMetadata(
        bundle_id="demo-clearnox.20261120T101500Z.1",
        connector_id="demo-clearnox",
        created_at=dt.datetime(2026, 11, 20, 10, 15, tzinfo=dt.UTC),
        files=list(files) or [bundle_file()],
    )


def bundle_file(name: str = "1042.pdf", booking: BookingEntry | None = None) -> BundleFile:
    return BundleFile(
        file_name=name,
        size=48211,
        sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        crc32="0a1b2c3d",
        entry=BundleEntry.from_booking_entry(booking or entry()),
    )


# -- booking entries ------------------------------------------------------------------------------------


def test_booking_entry_maps_money_as_decimal_and_the_date_as_a_date():
    booking = entry()
    assert booking == BookingEntry(
        id="be_10001",
        entry_reference="AR-2026-0042",
        invoice_number="1042",
        document_date=dt.date(2026, 10, 2),
        amount=Decimal("511.25"),
        currency="USD",
        customer_id="c_55",
        customer_name="Acme Facilities",
        customer_number="C-0055",
    )
    assert isinstance(booking.amount, Decimal)
    assert booking.label == "booking entry be_10001 (invoice 1042)"


def test_booking_entry_reads_numbers_through_str_and_tolerates_a_missing_customer_number():
    booking = booking_entry_from_payload(
        listed(amount=19.99, currency="usd", customer={"id": 55, "name": " Acme ", "number": None})
    )
    assert booking.amount == Decimal("19.99")
    assert booking.currency == "USD"
    assert (booking.customer_id, booking.customer_name, booking.customer_number) == ("55", "Acme", None)


def test_booking_entries_are_frozen():
    with pytest.raises(ValueError, match="frozen"):
        entry().amount = Decimal(1)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"amount": None}, "clearnox booking entry be_10001 (invoice 1042) has no amount"),
        (
            {"amount": "5l1.25"},
            "clearnox booking entry be_10001 (invoice 1042): amount '5l1.25' is not a number",
        ),
        ({"amount": "NaN"}, "amount 'NaN' is not a number"),
        ({"document_date": "02/10/2026"}, "document_date '02/10/2026' is not a date (YYYY-MM-DD)"),
        ({"document_date": "2026-02-31"}, "document_date '2026-02-31' is not a date (YYYY-MM-DD)"),
        ({"document_date": "1926-10-02"}, "document_date '1926-10-02' is not a plausible date"),
        ({"document_date": None}, "has no document_date"),
        ({"currency": "US$"}, "currency 'US$' is not an ISO 4217 code"),
        ({"invoice_number": ""}, "clearnox booking entry be_10001 has no invoice_number"),
        ({"entry_reference": None}, "has no entry_reference"),
        ({"customer": None}, "has no customer"),
        ({"customer": "Acme"}, "customer 'Acme' is not a customer record"),
        ({"customer": {"id": "c_55"}}, "has no customer.name"),
        ({"customer": {"name": "Acme"}}, "has no customer.id"),
    ],
)
def test_a_malformed_booking_entry_is_a_mapping_error_naming_the_field(changes, reason):
    payload = listed(**changes)
    with pytest.raises(MappingError) as caught:
        booking_entry_from_payload(payload)
    assert reason in caught.value.reason
    assert caught.value.partner == "clearnox"
    assert caught.value.raw == payload  # kept for the run log


@pytest.mark.parametrize(
    ("payload", "reason"),
    [({"invoice_number": "1042"}, "clearnox booking entry has no id"), (["be_1"], "is not a JSON object")],
)
def test_a_booking_entry_without_identity_is_a_mapping_error(payload, reason):
    with pytest.raises(MappingError, match=reason):
        booking_entry_from_payload(payload)


# -- metadata.json --------------------------------------------------------------------------------------


def test_metadata_round_trips_through_json_bytes():
    original = metadata(
        bundle_file(), bundle_file("2026/1043.pdf", entry().model_copy(update={"id": "be_10002"}))
    )
    data = original.to_json_bytes()
    assert BundleMetadata.from_json_bytes(data) == original
    document = json.loads(data)
    assert document["schema"] == BUNDLE_SCHEMA == "invoice-relay.clearnox.bundle/v1"
    assert document["created_at"] == "2026-11-20T10:15:00Z"
    assert document["files"][0] == {
        "file_name": "1042.pdf",
        "size": 48211,
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "crc32": "0a1b2c3d",
        "entry": {
            "id": "be_10001",
            "entry_reference": "AR-2026-0042",
            "invoice_number": "1042",
            "document_date": "2026-10-02",
            "amount": "511.25",  # a string: money never travels as a JSON number
            "currency": "USD",
            "customer": {"id": "c_55", "name": "Acme Facilities", "number": "C-0055"},
        },
    }


@dataclass(frozen=True)
class Written:
    """What the bundler knows about a PDF it wrote (the shape of `bundles.zipstream.WrittenMember`)."""

    name: str
    size: int
    sha256: str
    crc32: int
    entry: BookingEntry


def test_bundle_metadata_is_built_from_the_files_written():
    written = Written("1042.pdf", 48211, "ab" * 32, 0x0A1B2C3D, entry())
    built = bundle_metadata(
        "b-1", "demo-clearnox", [written], created_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    )
    assert built.files == [
        BundleFile(
            file_name="1042.pdf",
            size=48211,
            sha256="ab" * 32,
            crc32="0a1b2c3d",
            entry=BundleEntry.from_booking_entry(entry()),
        )
    ]
    assert (built.bundle_id, built.connector_id, built.schema_id) == ("b-1", "demo-clearnox", BUNDLE_SCHEMA)
    now = bundle_metadata("b-2", "demo-clearnox", [written]).created_at
    assert now.tzinfo is not None and now.microsecond == 0


def json_with(change) -> bytes:
    document = json.loads(metadata().to_json_bytes())
    change(document)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.update(schema="invoice-relay.clearnox.bundle/v2"), "schema: Input should be"),
        (
            lambda d: d["files"][0]["entry"].update(amount=511.25),
            "files.0.entry.amount: must be a decimal string",
        ),
        (lambda d: d["files"][0].update(sha256="ABC"), "files.0.sha256: String should match pattern"),
        (lambda d: d["files"][0].update(crc32="0a1b2c3"), "files.0.crc32: String should match pattern"),
        (lambda d: d["files"][0].update(file_name="../evil.pdf"), "'../evil.pdf' contains '..'"),
        (lambda d: d["files"][0].update(file_name="/etc/evil.pdf"), "is an absolute path"),
        (lambda d: d["files"][0].update(file_name="a\\evil.pdf"), "contains a backslash"),
        (lambda d: d["files"][0].update(file_name="metadata.json"), "reserved for the bundle's metadata"),
        (lambda d: d.update(created_at="2026-11-20T10:15:00"), "created_at: Input should have timezone info"),
        (lambda d: d.update(files=[]), "files: List should have at least 1 item"),
        (lambda d: d.update(bundle_id="bad id"), "bundle_id: String should match pattern"),
        (lambda d: d.update(extra="x"), "extra: Extra inputs are not permitted"),
        (lambda d: d["files"].append(copy.deepcopy(d["files"][0])), "file name '1042.pdf' is listed twice"),
        (
            lambda d: d["files"][0]["entry"]["customer"].pop("name"),
            "files.0.entry.customer.name: Field required",
        ),
    ],
)
def test_invalid_metadata_names_every_problem(change, problem):
    with pytest.raises(InvalidBundleMetadata) as caught:
        BundleMetadata.from_json_bytes(json_with(change))
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_two_files_for_one_entry_or_names_differing_only_in_case_are_refused():
    with pytest.raises(ValueError, match=r"entry be_10001 has two files \('1042.pdf', '1042-copy.pdf'\)"):
        metadata(bundle_file(), bundle_file("1042-copy.pdf"))
    other = entry().model_copy(update={"id": "be_10002"})
    with pytest.raises(ValueError, match=r"file name '1042\.PDF' is listed twice"):
        metadata(bundle_file(), bundle_file("1042.PDF", other))


def test_metadata_that_is_not_json_is_invalid():
    with pytest.raises(InvalidBundleMetadata, match="Invalid JSON"):
        BundleMetadata.from_json_bytes(b"\xff{not json")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("1042.pdf", None),
        ("2026/10/1042 Acme Facilities.pdf", None),
        ("", "is empty"),
        ("../evil.pdf", "contains '..'"),
        ("docs/../../evil.pdf", "contains '..'"),
        ("/abs.pdf", "is an absolute path"),
        ("C:evil.pdf", "is an absolute path"),
        ("dir\\evil.pdf", "contains a backslash"),
        ("a//b.pdf", "has an empty or '.' path segment"),
        ("./a.pdf", "has an empty or '.' path segment"),
        ("bell\x07.pdf", "contains a control character"),
        ("x" * 256, "is longer than 255 characters"),
    ],
)
def test_unsafe_file_names(name, reason):
    assert unsafe_file_name_reason(name) == reason


# -- credentials ----------------------------------------------------------------------------------------


def test_from_secret_reads_the_client_credentials():
    client = ClearnoxClient.from_secret(
        "https://api.clearnox.test/", {"client_id": "relay", "client_secret": "s3"}
    )
    assert client.base_url == "https://api.clearnox.test"
    assert client.client_id == "relay"
    assert "s3" not in repr(client)


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ({"client_id": "relay"}, "client_secret: Field required"),
        (
            {"client_id": "relay", "clientSecret": "do-not-echo"},
            "clientSecret: Extra inputs are not permitted",
        ),
        ({"client_id": "relay", "client_secret": " "}, "client_secret: must not be empty"),
    ],
)
def test_a_bad_secret_is_a_configuration_error_that_does_not_echo_it(secret, reason):
    with pytest.raises(ConfigurationError) as caught:
        ClearnoxClient.from_secret("https://api.clearnox.test", secret)
    assert reason in caught.value.reason
    assert "do-not-echo" not in caught.value.reason


def test_page_size_and_base_url_are_checked():
    with pytest.raises(ConfigurationError, match=r"page size must be 1\.\.500"):
        ClearnoxClient("https://api.clearnox.test", "relay", "s3", per_page=501)
    with pytest.raises(ConfigurationError, match="http"):
        ClearnoxClient("api.clearnox.test", "relay", "s3")
