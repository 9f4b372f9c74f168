"""The Clearnox client against the sandbox Clearnox API over real HTTP: token handling, the paged listing
of entries without a document, and streamed bundle uploads the sandbox really opens and checks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from invoice_relay.errors import AuthenticationError, MappingError, PermanentError, TransientError
from invoice_relay.http import partner_session
from invoice_relay.partners import clearnox as clearnox_partner
from invoice_relay.partners import context as partner_context
from invoice_relay.partners.capabilities import BUNDLE_TARGET, BookingEntry, BundleReceipt, BundleTarget
from invoice_relay.partners.clearnox.client import REFRESH_MARGIN_SECONDS, ClearnoxClient
from invoice_relay.partners.clearnox.config import ClearnoxTargetConfig
from invoice_relay.partners.clearnox.models import (
    BUNDLES_PATH,
    ENTRIES_PATH,
    TOKEN_PATH,
    BundleEntry,
    BundleFile,
    BundleMetadata,
    BundleRejected,
    booking_entry_from_payload,
)
from invoice_relay.partners.clearnox.target import ClearnoxTarget
from invoice_relay.partners.context import PartnerContext
from local.sandboxes.clearnox import TOKEN_TTL_SECONDS, ClearnoxSandbox

CONNECTOR = "demo-clearnox"


def fast_session() -> requests.Session:
    """The production retry policy with tiny waits (Retry-After up to 2 s is still honoured)."""
    return partner_session(
        partner="clearnox",
        backoff_factor=0.01,
        backoff_jitter=0,
        backoff_max=2,
        replay_safe_methods=ClearnoxClient.replay_safe_methods,
    )


@pytest.fixture(scope="module")
def server():
    with ClearnoxSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server):
    server.reset()
    server.set_rate_limit(None)
    server.max_upload_bytes = 64 * 1024**2
    server.token_ttl_seconds = TOKEN_TTL_SECONDS
    return server


@pytest.fixture
def client(sandbox):
    with ClearnoxClient.from_secret(sandbox.base_url, sandbox.credentials(), session=fast_session()) as cx:
        yield cx


# -- bundles built the way the bundler builds them ---------------------------------------------------------


def pdf(invoice_number: str, size: int = 3000) -> bytes:
    head = f"%PDF-1.7\n% invoice {invoice_number}\n".encode()
    return head + b"0" * (size - len(head))


def bundle_file(name: str, content: bytes, entry: BookingEntry | dict[str, Any]) -> BundleFile:
    booking = entry if isinstance(entry, BookingEntry) else booking_entry_from_payload(entry)
    return BundleFile(
        file_name=name,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        crc32=f"{zlib.crc32(content):08x}",
        entry=BundleEntry.from_booking_entry(booking),
    )


def metadata(bundle_id: str, files: list[BundleFile]) -> BundleMetadata:
    return BundleMetadata(
        bundle_id=bundle_id,
        connector_id=CONNECTOR,
        created_at=dt.datetime(2026, 11, 20, 10, 15, tzinfo=dt.UTC),
        files=files,
    )


def zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    """A zip with stored (uncompressed) members, like the bundler's for PDFs."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, content in members:
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 11, 20, 10, 15, 0)), content)
    return buffer.getvalue()


def valid_bundle(bundle_id: str, entries: list[dict[str, Any]]) -> bytes:
    files = [(f"{e['invoice_number']}.pdf", pdf(e["invoice_number"])) for e in entries]
    meta = metadata(bundle_id, [bundle_file(n, c, e) for (n, c), e in zip(files, entries, strict=True)])
    return zip_bytes([*files, ("metadata.json", meta.to_json_bytes())])


def upload(client: ClearnoxClient, bundle_id: str, data: bytes, **overrides: Any):
    options = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()} | overrides
    return client.upload_bundle(bundle_id, io.BytesIO(data), **options)


def chunks(data: bytes, size: int = 7_001) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


# -- token handling --------------------------------------------------------------------------------------


def test_one_token_serves_many_calls_and_is_sent_as_bearer(sandbox, client):
    list(client.missing_document_entries())
    list(client.missing_document_entries())
    assert sandbox.tokens_issued == 1
    token_request = sandbox.find_requests("POST", TOKEN_PATH)[0]
    assert token_request["json"] is None  # form-encoded: the secret is not in the request log
    listing = sandbox.find_requests("GET", ENTRIES_PATH)
    assert {r["headers"]["Authorization"] for r in listing} == {"[redacted]"}
    assert all(r["status"] == 200 for r in listing)


def test_a_token_about_to_expire_is_replaced_before_it_is_used(sandbox, client):
    sandbox.token_ttl_seconds = 2  # renewed min(REFRESH_MARGIN_SECONDS, half its lifetime) before it ends
    assert REFRESH_MARGIN_SECONDS > 1
    list(client.missing_document_entries())
    list(client.missing_document_entries())
    assert sandbox.tokens_issued == 1  # reused while fresh
    time.sleep(1.1)  # past the renewal point, before the sandbox would refuse the token
    list(client.missing_document_entries())
    assert sandbox.tokens_issued == 2
    assert not [r for r in sandbox.requests if r.get("status") == 401]


def test_an_expired_token_gets_a_401_then_a_new_token_and_one_retry(sandbox, client):
    list(client.missing_document_entries())
    assert sandbox.expire_tokens() == 1
    assert len(list(client.missing_document_entries())) == 40
    assert sandbox.tokens_issued == 2
    assert [r["status"] for r in sandbox.find_requests("GET", ENTRIES_PATH)] == [200, 401, 200]


def test_a_single_401_is_retried_once_with_a_new_token(sandbox, client):
    sandbox.inject_fault(method="GET", path=ENTRIES_PATH, status=401, times=1)
    assert len(list(client.missing_document_entries())) == 40
    assert sandbox.tokens_issued == 2


def test_a_401_after_a_fresh_token_is_an_authentication_error(sandbox, client):
    sandbox.inject_fault(method="GET", path=ENTRIES_PATH, status=401, times=2)
    with pytest.raises(AuthenticationError, match=r"clearnox refused our credentials \(HTTP 401"):
        list(client.missing_document_entries())


def test_wrong_client_credentials_are_an_authentication_error_without_the_secret(sandbox):
    with (
        ClearnoxClient(
            sandbox.base_url, "invoice-relay-sandbox", "wrong-secret", session=fast_session()
        ) as cx,
        pytest.raises(AuthenticationError) as caught,
    ):
        list(cx.missing_document_entries())
    assert "Client authentication failed" in caught.value.reason
    assert "wrong-secret" not in caught.value.reason
    assert not sandbox.find_requests("GET", ENTRIES_PATH)


def test_threads_share_one_token(sandbox, client):
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(len(list(client.missing_document_entries()))))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [40] * 6
    assert sandbox.tokens_issued == 1


# -- listing ---------------------------------------------------------------------------------------------


def test_pages_through_every_entry_without_a_document(sandbox, client):
    ids = sandbox.seed_demo_entries(250)
    entries = list(client.missing_document_entries())
    assert [e.id for e in entries] == list(ids)
    assert entries[0].invoice_number == "1001" and entries[-1].invoice_number == "1250"
    assert all(isinstance(e.amount, Decimal) and isinstance(e.document_date, dt.date) for e in entries)
    first = sandbox.entries()[0]
    assert str(entries[0].amount) == first["amount"]
    assert entries[0].document_date.isoformat() == first["document_date"]
    assert [r["query"] for r in sandbox.find_requests("GET", ENTRIES_PATH)] == [
        {"has_document": "false", "page": str(page), "per_page": "100"} for page in (1, 2, 3)
    ]


def test_entries_with_a_document_are_not_listed(sandbox, client):
    sandbox.add_entry({**sandbox.entries()[0], "id": "be_20000", "has_document": True})
    assert "be_20000" not in {e.id for e in client.missing_document_entries()}


def test_no_entries_without_a_document_is_an_empty_listing(sandbox, client):
    sandbox.seed_demo_entries(0)
    assert list(client.missing_document_entries()) == []
    assert len(sandbox.find_requests("GET", ENTRIES_PATH)) == 1


def test_429_is_retried_after_retry_after(sandbox, client):
    sandbox.inject_fault(method="GET", path=ENTRIES_PATH, query={"page": "1"}, status=429, retry_after=1)
    assert len(list(client.missing_document_entries())) == 40
    assert [r["status"] for r in sandbox.find_requests("GET", ENTRIES_PATH)] == [429, 200]


def test_a_partner_that_stays_rate_limited_is_a_transient_error(sandbox, client):
    sandbox.inject_fault(method="GET", path=ENTRIES_PATH, status=429, times=10)
    with pytest.raises(TransientError, match="rate limit reached"):
        list(client.missing_document_entries())


def test_a_malformed_entry_fails_the_listing_or_is_handed_to_on_malformed(sandbox, client):
    sandbox.add_entry({**sandbox.entries()[4], "document_date": "31/02/2026"})
    with pytest.raises(
        MappingError, match=r"be_10005 \(invoice 1005\): document_date '31/02/2026' is not a date"
    ):
        list(client.missing_document_entries())
    skipped: list[tuple[Any, MappingError]] = []
    entries = list(
        client.missing_document_entries(on_malformed=lambda item, exc: skipped.append((item, exc)))
    )
    assert len(entries) == 39 and "be_10005" not in {e.id for e in entries}
    assert [item["id"] for item, _ in skipped] == ["be_10005"]


# -- uploads ---------------------------------------------------------------------------------------------


def test_a_valid_bundle_is_imported_and_its_entries_leave_the_listing(sandbox, client):
    entries = sandbox.entries()[:3]
    data = valid_bundle("b-0001", entries)
    receipt = upload(client, "b-0001", data)
    assert receipt.bundle_id == "b-0001"
    assert receipt.accepted_entries == ("be_10001", "be_10002", "be_10003")
    assert (receipt.status, receipt.replayed) == ("imported", False)
    assert {e.id for e in client.missing_document_entries()} == set(sandbox.missing())
    assert len(sandbox.missing()) == 37 and "be_10001" not in sandbox.missing()
    stored = sandbox.documents_for("be_10001")
    assert (stored.file_name, stored.size, stored.bundle_id) == ("1001.pdf", 3000, "b-0001")
    assert stored.sha256 == hashlib.sha256(pdf("1001")).hexdigest()
    sent = sandbox.find_requests("POST", BUNDLES_PATH)[0]["headers"]
    assert sent["Content-Type"] == "application/zip"
    assert (sent["Content-Length"], sent["X-Bundle-Id"]) == (str(len(data)), "b-0001")
    assert sent["X-Bundle-Sha256"] == hashlib.sha256(data).hexdigest()
    assert sandbox.uploads[-1].status == 201 and sandbox.uploads[-1].size == len(data)


def test_uploading_the_same_bundle_again_answers_the_same_receipt_and_imports_nothing_twice(sandbox, client):
    data = valid_bundle("b-0002", sandbox.entries()[:2])
    first = upload(client, "b-0002", data)
    again = upload(client, "b-0002", data)
    assert again.replayed and again.accepted_entries == first.accepted_entries
    assert [u.status for u in sandbox.uploads] == [201, 200]
    assert sandbox.documents_for("be_10001").bundle_id == "b-0002"
    assert len(sandbox.missing()) == 38


def test_the_same_bundle_id_with_other_content_is_a_conflict(sandbox, client):
    upload(client, "b-0003", valid_bundle("b-0003", sandbox.entries()[:1]))
    with pytest.raises(BundleRejected) as caught:
        upload(client, "b-0003", valid_bundle("b-0003", sandbox.entries()[1:2]))
    assert (caught.value.status, caught.value.code) == (409, "bundle_id_conflict")
    assert "be_10002" in sandbox.missing()


def test_a_generator_body_is_streamed_chunked(sandbox, client):
    data = valid_bundle("b-0004", sandbox.entries()[:4])
    receipt = client.upload_bundle("b-0004", chunks(data), size=None, sha256=hashlib.sha256(data).hexdigest())
    assert len(receipt.accepted_entries) == 4
    sent = sandbox.find_requests("POST", BUNDLES_PATH)[0]["headers"]
    assert sent["Transfer-Encoding"] == "chunked" and "Content-Length" not in sent
    assert sandbox.uploads[-1].size == len(data)


def test_a_generator_body_with_a_known_size_is_sent_with_content_length(sandbox, client):
    data = valid_bundle("b-0005", sandbox.entries()[:2])
    client.upload_bundle("b-0005", chunks(data, 1_000), size=len(data), sha256=None)
    sent = sandbox.find_requests("POST", BUNDLES_PATH)[0]["headers"]
    assert sent["Content-Length"] == str(len(data)) and "Transfer-Encoding" not in sent


class ReadRecorder(io.RawIOBase):
    """A file-like body that records how much the client asks for at a time."""

    def __init__(self, data: bytes):
        self.data = io.BytesIO(data)
        self.reads: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.reads.append(size)
        return self.data.read(size)


def test_a_file_body_is_read_in_blocks_not_whole(sandbox, client):
    entries = sandbox.entries()[:10]
    files = [(f"{e['invoice_number']}.pdf", pdf(e["invoice_number"], 200_000)) for e in entries]
    meta = metadata("b-0006", [bundle_file(n, c, e) for (n, c), e in zip(files, entries, strict=True)])
    data = zip_bytes([*files, ("metadata.json", meta.to_json_bytes())])
    body = ReadRecorder(data)
    client.upload_bundle("b-0006", body, size=len(data), sha256=None)
    assert len(body.reads) > 50 and 0 < max(body.reads) <= 64 * 1024
    assert len(sandbox.missing()) == 30


def test_a_seekable_body_is_resent_after_503_and_after_401(sandbox, client):
    # Safe: Clearnox keys the upload by X-Bundle-Id (the client's replay-safe POST).
    sandbox.inject_fault(method="POST", path=BUNDLES_PATH, status=503, times=1)
    data = valid_bundle("b-0007", sandbox.entries()[:1])
    assert upload(client, "b-0007", data).accepted_entries == ("be_10001",)
    sandbox.expire_tokens()
    data = valid_bundle("b-0008", sandbox.entries()[1:2])
    assert upload(client, "b-0008", data).accepted_entries == ("be_10002",)
    assert [r["status"] for r in sandbox.find_requests("POST", BUNDLES_PATH)] == [503, 201, 401, 201]


@pytest.mark.parametrize("status", [503, 401])
def test_a_stream_that_cannot_be_rewound_is_not_resent_but_reported_transient(sandbox, client, status):
    list(client.missing_document_entries())  # a token first, so the 401 is the upload's
    sandbox.inject_fault(method="POST", path=BUNDLES_PATH, status=status, times=1)
    data = valid_bundle("b-0009", sandbox.entries()[:2])
    with pytest.raises(TransientError, match="uploaded again from a fresh stream"):
        client.upload_bundle("b-0009", chunks(data), size=len(data), sha256=None)
    assert len(sandbox.missing()) == 40
    assert client.upload_bundle("b-0009", chunks(data), size=len(data), sha256=None).accepted_entries == (
        "be_10001",
        "be_10002",
    )


def test_a_stream_shorter_or_longer_than_its_size_fails_before_anything_is_imported(sandbox, client):
    data = valid_bundle("b-0010", sandbox.entries()[:1])
    with pytest.raises(PermanentError, match="ended after"):
        client.upload_bundle("b-0010", chunks(data), size=len(data) + 10, sha256=None)
    with pytest.raises(PermanentError, match="longer than its declared size"):
        client.upload_bundle("b-0010", io.BytesIO(data), size=len(data) - 10, sha256=None)
    assert len(sandbox.missing()) == 40


def test_a_bundle_over_the_size_limit_is_rejected_413(sandbox, client):
    sandbox.max_upload_bytes = 4_000
    data = valid_bundle("b-0011", sandbox.entries()[:2])
    for size in (len(data), None):  # by Content-Length, and while reading a chunked body
        with pytest.raises(BundleRejected) as caught:
            client.upload_bundle("b-0011", chunks(data), size=size, sha256=None)
        assert (caught.value.status, caught.value.code) == (413, "payload_too_large")
    assert len(sandbox.missing()) == 40


def test_a_wrong_sha256_header_is_rejected(sandbox, client):
    data = valid_bundle("b-0012", sandbox.entries()[:1])
    with pytest.raises(BundleRejected) as caught:
        upload(client, "b-0012", data, sha256="0" * 64)
    assert caught.value.code == "checksum_mismatch"


# -- malformed bundles -----------------------------------------------------------------------------------


def corrupt_crc(entries: list[dict[str, Any]]) -> bytes:
    data = bytearray(valid_bundle("b-bad", entries))
    at = data.index(b"% invoice 1002") + 3
    data[at] ^= 0x01  # one flipped bit inside 1002.pdf's stored data
    return bytes(data)


def without_metadata(entries: list[dict[str, Any]]) -> bytes:
    return zip_bytes([(f"{e['invoice_number']}.pdf", pdf(e["invoice_number"])) for e in entries])


def with_members(
    entries: list[dict[str, Any]], listed: list[tuple[str, bytes]], members: list[tuple[str, bytes]]
):
    files = [
        bundle_file(name, content, entry) for (name, content), entry in zip(listed, entries, strict=False)
    ]
    return zip_bytes([*members, ("metadata.json", metadata("b-bad", files).to_json_bytes())])


def unlisted_file(entries):
    listed = [("1001.pdf", pdf("1001"))]
    return with_members(entries, listed, [*listed, ("notes.pdf", pdf("notes"))])


def listed_file_missing(entries):
    listed = [("1001.pdf", pdf("1001")), ("1002.pdf", pdf("1002"))]
    return with_members(entries, listed, listed[:1])


def not_a_pdf(entries):
    listed = [("1001.pdf", pdf("1001")), ("1002.pdf", b"<html>an error page, not a PDF</html>")]
    return with_members(entries, listed, listed)


def dot_dot_name(entries):
    """metadata.json written by hand: the schema refuses to build it with such a name."""
    content = pdf("1001")
    file = bundle_file("1001.pdf", content, entries[0]).model_dump(mode="json") | {"file_name": "../evil.pdf"}
    meta = json.loads(metadata("b-bad", [bundle_file("1001.pdf", content, entries[0])]).to_json_bytes())
    meta["files"] = [file]
    return zip_bytes([("../evil.pdf", content), ("metadata.json", json.dumps(meta).encode())])


def unknown_entry(entries):
    ghost = {**entries[1], "id": "be_99999"}
    listed = [("1001.pdf", pdf("1001")), ("1002.pdf", pdf("1002"))]
    return with_members([entries[0], ghost], listed, listed)


def size_mismatch(entries):
    content = pdf("1001")
    listed = bundle_file("1001.pdf", content, entries[0]).model_copy(update={"size": 2999})
    return zip_bytes([("1001.pdf", content), ("metadata.json", metadata("b-bad", [listed]).to_json_bytes())])


def not_a_zip(entries):
    return pdf("1001")


@pytest.mark.parametrize(
    ("build", "codes", "reason"),
    [
        (corrupt_crc, {"crc_mismatch"}, "1002.pdf: crc_mismatch: the member is corrupt: Bad CRC-32"),
        (without_metadata, {"metadata_missing"}, "metadata.json: metadata_missing"),
        (
            unlisted_file,
            {"unlisted_file"},
            "notes.pdf: unlisted_file: the file is not listed in metadata.json",
        ),
        (listed_file_missing, {"missing_file"}, "1002.pdf: missing_file: listed in metadata.json but not in"),
        (not_a_pdf, {"not_a_pdf"}, "1002.pdf: not_a_pdf: the file does not start with %PDF-"),
        (
            dot_dot_name,
            {"unsafe_file_name", "metadata_invalid"},
            "../evil.pdf: unsafe_file_name: the name contains '..'",
        ),
        (unknown_entry, {"unknown_entry"}, "1002.pdf: unknown_entry: booking entry be_99999 does not exist"),
        (size_mismatch, {"size_mismatch"}, "1001.pdf: size_mismatch: metadata.json says 2999 bytes"),
        (not_a_zip, {"invalid_archive"}, "invalid_archive: the body is not a readable zip"),
    ],
)
def test_a_malformed_bundle_is_rejected_with_a_reason_and_marks_nothing(
    sandbox, client, build: Callable[[list[dict[str, Any]]], bytes], codes: set[str], reason: str
):
    data = build(sandbox.entries()[:2])
    with pytest.raises(BundleRejected) as caught:
        upload(client, "b-bad", data)
    rejection = caught.value
    assert rejection.status == 422
    assert rejection.code == (codes.copy().pop() if len(codes) == 1 else "bundle_invalid")
    assert all(any(f"{code}: " in detail for code in codes) for detail in rejection.details)
    assert any(reason in detail for detail in rejection.details), rejection.details
    assert "clearnox rejected bundle b-bad (HTTP 422 on POST /api/v1/document-bundles)" in rejection.reason
    assert reason in rejection.reason
    assert len(sandbox.missing()) == 40 and sandbox.documents_for("be_10001") is None
    record = sandbox.uploads[-1]
    assert (record.status, record.size) == (422, len(data)) and any(reason in r for r in record.reasons)
    # nothing was imported, so the bundle id is still free for a corrected bundle
    assert upload(client, "b-bad", valid_bundle("b-bad", sandbox.entries()[:2])).status == "imported"


def test_an_entry_that_already_has_a_document_is_refused(sandbox, client):
    upload(client, "b-0013", valid_bundle("b-0013", sandbox.entries()[:1]))
    with pytest.raises(BundleRejected) as caught:
        upload(client, "b-0014", valid_bundle("b-0014", sandbox.entries()[:2]))
    assert caught.value.code == "entry_has_document"
    assert caught.value.details == (
        "1001.pdf: entry_has_document: booking entry be_10001 already has a document",
    )
    assert "be_10002" in sandbox.missing()


def test_every_problem_is_in_the_details_and_the_reason_names_the_first_ten(sandbox, client):
    entries = sandbox.entries()[:12]
    listed = [(f"{e['invoice_number']}.pdf", b"not a pdf " + e["id"].encode()) for e in entries]
    with pytest.raises(BundleRejected) as caught:
        upload(client, "b-bad", with_members(entries, listed, listed))
    assert len(caught.value.details) == 12
    assert caught.value.reason.endswith("; and 2 more")


# -- the sandbox's OAuth and listing rules ---------------------------------------------------------------


def token_request(sandbox: ClearnoxSandbox, **kwargs: Any) -> requests.Response:
    return requests.post(f"{sandbox.base_url}{TOKEN_PATH}", timeout=5, **kwargs)


def test_token_answers_are_not_cached_and_basic_auth_works(sandbox):
    form = {"grant_type": "client_credentials"}
    answer = token_request(sandbox, data=form, auth=(sandbox.client_id, sandbox.client_secret))
    assert answer.status_code == 200
    assert (answer.headers["Cache-Control"], answer.headers["Pragma"]) == ("no-store", "no-cache")
    assert answer.json()["token_type"] == "Bearer" and answer.json()["expires_in"] == TOKEN_TTL_SECONDS


@pytest.mark.parametrize(
    ("request_options", "status", "error", "challenge"),
    [
        (
            lambda cx: {
                "data": {"grant_type": "client_credentials", "client_id": cx.client_id, "client_secret": "x"}
            },
            401,
            "invalid_client",
            None,
        ),
        (
            lambda cx: {"data": {"grant_type": "client_credentials"}, "auth": (cx.client_id, "x")},
            401,
            "invalid_client",
            'Basic realm="clearnox-sandbox"',  # §5.2: the client used the Authorization header
        ),
        (lambda cx: {"data": cx.credentials()}, 400, "invalid_request", None),
        (
            lambda cx: {"data": {**cx.credentials(), "grant_type": "password"}},
            400,
            "unsupported_grant_type",
            None,
        ),
    ],
    ids=["wrong-client", "wrong-basic-client", "no-grant-type", "other-grant-type"],
)
def test_token_errors_follow_rfc_6749(sandbox, request_options, status, error, challenge):
    answer = token_request(sandbox, **request_options(sandbox))
    assert answer.status_code == status
    assert answer.json()["error"] == error and answer.json()["error_description"]
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers.get("WWW-Authenticate") == challenge
    assert sandbox.tokens_issued == 0


def test_api_calls_without_or_with_a_bad_token_get_the_bearer_challenge(sandbox):
    url = f"{sandbox.base_url}{ENTRIES_PATH}"
    anonymous = requests.get(url, timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="clearnox-sandbox"'  # no error code
    assert anonymous.json()["error"]["code"] == "invalid_token"
    wrong = requests.get(url, headers={"Authorization": "Bearer not-a-token"}, timeout=5)
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == 'Bearer realm="clearnox-sandbox", error="invalid_token"'


@pytest.mark.parametrize(
    "query",
    [{"page": "0"}, {"per_page": "501"}, {"per_page": "ten"}, {"has_document": "no"}],
)
def test_listing_parameters_out_of_range_are_invalid(sandbox, client, query):
    with pytest.raises(PermanentError, match=r"HTTP 400 on GET /api/v1/booking-entries"):
        client.call("GET", ENTRIES_PATH, params=query)
    assert sandbox.find_requests("GET", ENTRIES_PATH)[-1]["status"] == 400


def test_listing_with_documents_and_a_page_past_the_end(sandbox, client):
    upload(client, "b-0020", valid_bundle("b-0020", sandbox.entries()[:2]))
    with_documents = client.call("GET", ENTRIES_PATH, params={"has_document": "true"})
    assert [e["id"] for e in with_documents["data"]] == ["be_10001", "be_10002"]
    assert with_documents["meta"] == {"page": 1, "per_page": 100, "total_pages": 1, "total": 2}
    past_the_end = client.call("GET", ENTRIES_PATH, params={"page": 3, "per_page": 20})
    assert past_the_end == {"data": [], "meta": {"page": 3, "per_page": 20, "total_pages": 2, "total": 40}}


# -- Clearnox as a connector's bundle target -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Written:
    """A PDF as the bundler wrote it (the shape `bundle_metadata` reads)."""

    name: str
    size: int
    sha256: str
    crc32: int
    entry: BookingEntry


def test_the_spec_opens_a_bundle_target_that_lists_and_uploads(sandbox, monkeypatch):
    secret_name = "invoice-relay/dev/clearnox-demo"
    monkeypatch.setattr(
        partner_context,
        "partner_credentials",
        lambda name, *_, **__: {secret_name: sandbox.credentials()}[name],
    )
    config = ClearnoxTargetConfig(
        system="clearnox", base_url=sandbox.base_url, credentials_secret=secret_name, max_bundle_files=50
    )
    context = PartnerContext(connector_id=CONNECTOR, leases=None, bucket=None)
    target = clearnox_partner.SPEC.target.provides[BUNDLE_TARGET](config, context)
    try:
        assert isinstance(target, ClearnoxTarget) and isinstance(target, BundleTarget)
        assert (target.max_bundle_files, target.max_bundle_bytes, target.resend_grace_hours) == (
            50,
            512 * 1024 * 1024,
            24,
        )
        entries = list(target.missing_document_entries())[:2]
        contents = [pdf(e.invoice_number) for e in entries]
        written = [
            Written(f"{e.invoice_number}.pdf", len(c), hashlib.sha256(c).hexdigest(), zlib.crc32(c), e)
            for e, c in zip(entries, contents, strict=True)
        ]
        meta = target.bundle_metadata("b-target-1", CONNECTOR, written)
        assert BundleMetadata.from_json_bytes(meta).files[0].entry.id == entries[0].id
        data = zip_bytes(
            [*((w.name, c) for w, c in zip(written, contents, strict=True)), ("metadata.json", meta)]
        )
        receipt = target.upload_bundle("b-target-1", io.BytesIO(data), size=len(data), sha256=None)
        assert receipt == BundleReceipt(
            bundle_id="b-target-1", accepted_entries=(entries[0].id, entries[1].id), status="imported"
        )
        assert len(list(target.missing_document_entries())) == 38
        assert sandbox.tokens_issued == 1
    finally:
        target.close()
