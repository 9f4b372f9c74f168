"""Clearnox adapter: the credit-management API client, booking-entry mapping and the bundle metadata schema.

Flow 4 of the design: ask Clearnox which booking entries still have no invoice document (paged), and
upload zips of the matching PDFs with a `metadata.json` that maps each file to its booking entry. This
module is the one place Clearnox JSON is defined: the listing, the upload answer and `metadata.json`
(`BundleMetadata`), which the bundler writes and the sandbox checks.

Clearnox's API is not public; this is the shape we integrate against (the sandbox in
`local/sandboxes/clearnox.py` implements exactly this; check it against the partner's API before go-live):

- Base URL = the connector's `base_url` (default `DEFAULT_BASE_URL`, a guess); API resources under
  `/api/v1`. JSON, snake_case keys, ids are strings such as "be_10001".
- Auth: OAuth 2.0 client credentials (RFC 6749 §4.4). `POST /oauth/token`, form-encoded
  `grant_type=client_credentials&client_id=…&client_secret=…` (client_secret_post; HTTP Basic is assumed
  to work too but is not used) → 200 `{"access_token", "token_type": "Bearer", "expires_in": <seconds>}`.
  Refused credentials → 401 (or 400) `{"error": "invalid_client", "error_description"}`. The secret in
  Secrets Manager is `{"client_id", "client_secret"}` — the same credentials as the connector's.
  API calls send `Authorization: Bearer <token>`; an expired or revoked token → 401. Tokens are reused
  until `REFRESH_MARGIN_SECONDS` (at most half their lifetime) before they expire, and a 401 gets one new
  token and one retry. Client-credential tokens are not single-use, so concurrent workers each fetch
  their own; no lease is needed.
- Errors are `{"error": {"code": "<machine_code>", "message": "<text>", "details": [...]}}`; a detail is
  `{"code", "target" (a file name, an entry id or a metadata path; may be null), "message"}` (plain
  strings are accepted too). Rate limiting is 429 with `Retry-After` (seconds).
- `GET /api/v1/booking-entries?has_document=false&page=N&per_page=M` (pages from 1, per_page 1..500,
  ordered by id) → `{"data": [<entry>], "meta": {"page", "per_page", "total_pages", "total"}}`; no match
  → `total_pages` 0 (1 is accepted too). An entry is `{"id", "entry_reference", "invoice_number",
  "document_date" ("YYYY-MM-DD"), "amount" (decimal string, e.g. "511.25"; a JSON number is accepted and
  read through `str()`), "currency" (ISO 4217), "customer": {"id", "name", "number" (may be null)},
  "has_document", "updated_at"}`. Pages address a moving list: an entry that gets its document while we
  page leaves the filter and the entries after it move up, so read the whole listing before uploading
  (an entry passed over this way is listed by the next run); an entry listed twice is yielded once.
- `POST /api/v1/document-bundles`: the body is the zip itself (`Content-Type: application/zip`), with
  `Content-Length` when the size is known (else chunked), `X-Bundle-Id` (our idempotency key,
  `BUNDLE_ID_PATTERN`) and `X-Bundle-Sha256` (hex SHA-256 of the whole body). 201 → `{"data":
  {"bundle_id", "accepted_entries": [ids], "status": "imported"}}`. The same bundle id with the same
  bytes again → 200 with the earlier answer and nothing imported twice; with other bytes → 409
  `bundle_id_conflict`. A rejected bundle imports nothing and leaves its id unused. A malformed bundle →
  422 whose `code` is the problems' code when they share one (else `bundle_invalid`), and whose `details`
  name every problem found, each with its code (invalid_archive, unsafe_file_name, duplicate_file_name,
  metadata_missing, metadata_invalid, bundle_id_mismatch, unlisted_file, missing_file, size_mismatch,
  crc_mismatch, checksum_mismatch, not_a_pdf, unknown_entry, entry_has_document, entry_mismatch); too
  big → 413 `payload_too_large`; wrong content type → 415.
- The archive: every file listed in `metadata.json` (schema `BundleMetadata`, `BUNDLE_SCHEMA`) is a
  member with exactly the listed size, CRC-32 and SHA-256 and starts with `%PDF-`; no other members
  except `metadata.json`; names are relative, without `..`, backslashes or control characters, unique
  ignoring case (`unsafe_file_name_reason()`); each entry id exists, still lacks a document, and carries
  the partner's invoice number. Uploading attaches each file to its entry (`has_document` becomes true).

Uploads are streamed: the body is read in blocks while it is sent (a file-like object or an iterable of
byte chunks; never read whole). A body that can seek (a local file, a spooled file) is rewound and
resent when the session retries (429/503) or after a 401; one that cannot (an S3 stream, a generator)
is not resent: that attempt fails with a TransientError and the caller uploads again from a fresh stream,
under the same bundle id, so a bundle the partner did import is not imported twice.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Annotated, Any, BinaryIO, Literal, Protocol

import requests
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from urllib3.exceptions import UnrewindableBodyError

from ..errors import AuthenticationError, ConfigurationError, MappingError, PermanentError, TransientError
from ..http import (
    PartnerClient,
    partner_error_message,
    raise_for_partner_status,
    transport_error,
)
from .payload import (
    PLAUSIBLE_YEARS,
    PayloadProblem,
    currency_code,
    money_field,
    text_value,
    validation_reason,
)

log = logging.getLogger(__name__)

PARTNER = "clearnox"
DEFAULT_BASE_URL = "https://api.clearnox.com"  # assumption: see the module docstring
TOKEN_PATH = "/oauth/token"  # noqa: S105 (a URL path, not a password)
ENTRIES_PATH = "/api/v1/booking-entries"
BUNDLES_PATH = "/api/v1/document-bundles"
MAX_PER_PAGE = 500
MAX_PAGES = 10_000  # a listing longer than this is a bug (ours or theirs), not data
REFRESH_MARGIN_SECONDS = 60  # fetch a new token this long before the current one expires
DEFAULT_TOKEN_LIFETIME_SECONDS = 300  # when the token answer has no expires_in
# (connect, read) seconds for uploads. urllib3 also applies the first value to every socket send while
# the body streams out, so it is generous too; the second covers the partner checking a large archive.
UPLOAD_TIMEOUT = (30.0, 600.0)
MAX_REASON_DETAILS = 10  # a rejection's reason names this many problems; `.details` has all of them

BUNDLE_SCHEMA = "invoice-relay.clearnox.bundle/v1"
METADATA_FILE_NAME = "metadata.json"
BUNDLE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
MAX_FILE_NAME_LENGTH = 255
PDF_MAGIC = b"%PDF-"

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Crc32Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8}$")]
BundleId = Annotated[str, StringConstraints(pattern=BUNDLE_ID_PATTERN)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class ClearnoxCredentials(BaseModel):
    """The connector's Clearnox API client (stored in Secrets Manager as `{"client_id", "client_secret"}`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    client_id: str = Field(min_length=1)
    client_secret: SecretStr

    @field_validator("client_secret")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value


class BookingEntry(BaseModel):
    """A Clearnox booking entry (an open item of the customer's ledger) that still lacks its document."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
    """Clearnox's answer to an upload. `replayed`: the bundle id was imported before (200, not 201)."""

    model_config = ConfigDict(frozen=True)

    bundle_id: str
    accepted_entries: tuple[str, ...]
    status: str
    replayed: bool = False


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


# -- client ---------------------------------------------------------------------------------------------


class ClearnoxClient(PartnerClient):
    """One Clearnox account through its API client credentials (see the module docstring for the API).

    Thread-safe: one token is shared by the threads using the client and fetched by one of them at a
    time. Every failure is a domain error from `invoice_relay.errors`; the client secret and tokens are
    never logged or put into an error.
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str | SecretStr,
        *,
        session: requests.Session | None = None,
        per_page: int = 100,
        upload_timeout: tuple[float, float] = UPLOAD_TIMEOUT,
    ):
        if not re.match(r"^https?://[^/\s]+", base_url or ""):
            raise ConfigurationError("clearnox base_url must be an http(s) URL")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ConfigurationError(f"clearnox page size must be 1..{MAX_PER_PAGE}, got {per_page}")
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = (
            client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        )
        super().__init__(partner=PARTNER, session=session)
        self.per_page = per_page
        self.upload_timeout = upload_timeout
        self._token_lock = threading.Lock()
        self._token: str | None = None
        self._token_renew_at = 0.0  # time.monotonic() value

    @classmethod
    def from_secret(
        cls,
        base_url: str,
        secret: Mapping[str, Any],
        *,
        session: requests.Session | None = None,
        per_page: int = 100,
    ) -> ClearnoxClient:
        """A client from the connector's credentials secret `{"client_id", "client_secret"}`."""
        try:
            credentials = ClearnoxCredentials.model_validate(dict(secret))
        except ValidationError as exc:
            raise ConfigurationError(f"clearnox credentials: {validation_reason(exc)}") from None
        return cls(
            base_url, credentials.client_id, credentials.client_secret, session=session, per_page=per_page
        )

    def __repr__(self) -> str:
        return f"ClearnoxClient({self.base_url!r}, client_id={self.client_id!r})"

    # -- booking entries --------------------------------------------------------------------------------

    def missing_document_entries(
        self, *, on_malformed: Callable[[object, MappingError], None] | None = None
    ) -> Iterator[BookingEntry]:
        """Every booking entry that still has no document, page by page to the last page.

        An entry that cannot be mapped raises MappingError, or, when `on_malformed` is given, is passed
        to it with the error and skipped (so one bad entry does not hide the others). Consume the whole
        listing before uploading: uploads shift the pages (see the module docstring).
        """
        seen: set[str] = set()
        page = 1
        while True:
            body = self._get_json(
                ENTRIES_PATH, params={"has_document": "false", "page": page, "per_page": self.per_page}
            )
            items, total_pages = _listing_page(body, page)
            for item in items:
                if isinstance(item, dict) and item.get("has_document") is True:
                    continue  # attached meanwhile; the filter should have left it out
                try:
                    entry = booking_entry_from_payload(item)
                except MappingError as exc:
                    if on_malformed is None:
                        raise
                    on_malformed(item, exc)
                    continue
                if entry.id not in seen:
                    seen.add(entry.id)
                    yield entry
            if page >= total_pages:
                return
            if page >= MAX_PAGES:
                raise PermanentError(
                    f"clearnox listed more than {MAX_PAGES} pages of booking entries", partner=PARTNER
                )
            page += 1

    # -- bundles ------------------------------------------------------------------------------------------

    def upload_bundle(
        self,
        bundle_id: str,
        body: BinaryIO | Iterable[bytes],
        *,
        size: int | None,
        sha256: str | None,
    ) -> BundleReceipt:
        """Upload one zip, streamed from `body` (a binary file-like object or an iterable of bytes).

        `size` (bytes) is sent as Content-Length when known (else the body is chunked) and must be the
        stream's exact length; `sha256` (hex) lets Clearnox verify the bytes. Uploading again with the
        same `bundle_id` after a timeout or a 5xx is safe: an imported bundle is answered again
        (`replayed`), not imported twice. BundleRejected (a PermanentError) carries the partner's code
        and every detail when it refuses the bundle; TransientError when it is worth trying later.
        """
        if not re.fullmatch(BUNDLE_ID_PATTERN, bundle_id or ""):
            raise PermanentError(f"clearnox bundle id {bundle_id!r} does not match {BUNDLE_ID_PATTERN}")
        if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
            raise PermanentError(f"bundle {bundle_id}: sha256 {sha256!r} is not a hex SHA-256 digest")
        if size is not None and size < 0:
            raise PermanentError(f"bundle {bundle_id}: size {size} is negative")
        stream = _BundleStream(body, size)
        headers = {"Content-Type": "application/zip", "X-Bundle-Id": bundle_id}
        if sha256 is not None:
            headers["X-Bundle-Sha256"] = sha256.lower()
        token = self._access_token()
        response = self._post_stream(bundle_id, stream, headers, token)
        if response.status_code == 401:
            log.info("clearnox: token refused during the upload of bundle %s, fetching a new one", bundle_id)
            self._forget_token(token)
            if not stream.rewind():
                raise TransientError(
                    f"clearnox refused the access token while bundle {bundle_id} was uploading; a new token "
                    "is ready and the bundle must be uploaded again from a fresh stream",
                    partner=PARTNER,
                    status=401,
                )
            response = self._post_stream(bundle_id, stream, headers, self._access_token())
        if 400 <= response.status_code < 500 and response.status_code not in (401, 403, 408, 429):
            raise _rejection(response, bundle_id)
        raise_for_partner_status(response, PARTNER)
        return _receipt(response, bundle_id)

    # -- plumbing -------------------------------------------------------------------------------------------

    def _get_json(self, path: str, *, params: dict[str, Any]) -> Any:
        """GET an API resource with a valid token (one new token and one retry on 401); its JSON body."""
        token = self._access_token()
        response = self._send("GET", path, params=params, headers=_bearer(token))
        if response.status_code == 401:
            log.info("clearnox: access token refused, fetching a new one")
            self._forget_token(token)
            response = self._send("GET", path, params=params, headers=_bearer(self._access_token()))
        raise_for_partner_status(response, PARTNER)
        return _json(response, f"GET {path}")

    def _post_stream(
        self, bundle_id: str, stream: _BundleStream, headers: dict[str, str], token: str
    ) -> requests.Response:
        request = requests.Request(
            "POST", self._url(BUNDLES_PATH), data=stream, headers=headers | _bearer(token)
        )
        prepared = self.session.prepare_request(request)
        # requests cannot measure a stream; frame the body ourselves: the caller's size, else chunked.
        prepared.headers.pop("Content-Length", None)
        prepared.headers.pop("Transfer-Encoding", None)
        if stream.size is not None:
            prepared.headers["Content-Length"] = str(stream.size)
        else:
            prepared.headers["Transfer-Encoding"] = "chunked"
        settings = self.session.merge_environment_settings(prepared.url, {}, None, None, None)
        try:
            return self.session.send(prepared, timeout=self.upload_timeout, **settings)
        except UnrewindableBodyError:
            # The session wanted to retry (429/503) but the stream cannot be sent a second time.
            raise TransientError(
                f"clearnox asked us to retry the upload of bundle {bundle_id} (rate limit or unavailable); "
                "the stream cannot be replayed, so the bundle must be uploaded again from a fresh stream",
                partner=PARTNER,
            ) from None
        except _StreamSizeMismatch as exc:
            raise PermanentError(f"bundle {bundle_id}: {exc}", partner=PARTNER) from None
        except requests.RequestException as exc:
            raise transport_error(exc, PARTNER) from exc

    def _access_token(self) -> str:
        """The current token, or a new one when there is none or it expires within the refresh margin
        (REFRESH_MARGIN_SECONDS, or half the lifetime of a short-lived token)."""
        with self._token_lock:
            if self._token is None or time.monotonic() >= self._token_renew_at:
                asked_at = time.monotonic()
                self._token, lifetime = self._fetch_token()
                self._token_renew_at = asked_at + lifetime - min(REFRESH_MARGIN_SECONDS, lifetime / 2)
            return self._token

    def _forget_token(self, token: str) -> None:
        """Drop `token` after a 401, unless another thread has already replaced it."""
        with self._token_lock:
            if self._token == token:
                self._token = None

    def _fetch_token(self) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._client_secret.get_secret_value(),
        }
        response = self._send("POST", TOKEN_PATH, data=form)
        if response.status_code == 400:
            # RFC 6749 allows 400 for invalid_client; either way these credentials do not work.
            message = partner_error_message(response)
            raise AuthenticationError(
                f"clearnox refused our client credentials (HTTP 400 on POST {TOKEN_PATH})"
                + (f": {message}" if message else ""),
                partner=PARTNER,
                status=400,
            )
        raise_for_partner_status(response, PARTNER)
        body = _json(response, f"POST {TOKEN_PATH}")
        token = body.get("access_token") if isinstance(body, dict) else None
        token_type = str(body.get("token_type", "bearer")) if isinstance(body, dict) else ""
        if not isinstance(token, str) or not token or token_type.lower() != "bearer":
            raise PermanentError(
                "clearnox answered the token request without a bearer access_token", partner=PARTNER
            )
        expires_in = body.get("expires_in")
        lifetime = (
            float(expires_in)
            if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0
            else DEFAULT_TOKEN_LIFETIME_SECONDS
        )
        log.info("clearnox: new access token for client %s (expires in %.0f s)", self.client_id, lifetime)
        return token, lifetime

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(method, self._url(path), **kwargs)
        except requests.RequestException as exc:
            raise transport_error(exc, PARTNER) from exc

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"


class _StreamSizeMismatch(ValueError):
    """The upload stream is not as long as the size declared for it (raised while it is being sent)."""


class _BundleStream:
    """The upload body: read in blocks by the HTTP connection while it is sent, never held whole.

    Wraps a binary file-like object or an iterable of byte chunks. Rewindable only when the file-like
    object can seek: `tell()` raises OSError otherwise, which tells urllib3 not to replay it on a retry.
    When `size` is given, a stream longer or shorter than it fails (a wrong Content-Length would
    otherwise hang the connection or corrupt the next request on it).
    """

    def __init__(self, body: BinaryIO | Iterable[bytes], size: int | None):
        self.size = size
        self._file: BinaryIO | None = None
        self._chunks: Iterator[bytes] | None = None
        self._buffer = bytearray()
        if hasattr(body, "read"):
            self._file = body  # type: ignore[assignment]
        elif isinstance(body, bytes | bytearray | memoryview | str):
            raise TypeError("upload_bundle streams its body: pass a file-like object or an iterable of bytes")
        else:
            self._chunks = iter(body)
        seekable = getattr(self._file, "seekable", None)
        self._rewindable = bool(self._file is not None and callable(seekable) and seekable())
        self._start = self._file.tell() if self._rewindable else 0  # type: ignore[union-attr]
        self._sent = 0

    def read(self, amount: int | None = -1) -> bytes:
        amount = -1 if amount is None else amount
        data = self._file.read(amount) if self._file is not None else self._from_chunks(amount)
        self._sent += len(data)
        if self.size is not None:
            if self._sent > self.size:
                raise _StreamSizeMismatch(f"the stream is longer than its declared size of {self.size} bytes")
            if not data and self._sent < self.size:
                raise _StreamSizeMismatch(
                    f"the stream ended after {self._sent} bytes, its declared size is {self.size}"
                )
        return bytes(data)

    def _from_chunks(self, amount: int) -> bytes:
        assert self._chunks is not None
        while amount < 0 or len(self._buffer) < amount:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        cut = len(self._buffer) if amount < 0 else min(amount, len(self._buffer))
        data = bytes(self._buffer[:cut])
        del self._buffer[:cut]
        return data

    def tell(self) -> int:
        if not self._rewindable:
            raise io.UnsupportedOperation("this upload stream cannot be rewound")
        return self._file.tell()  # type: ignore[union-attr]

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if not self._rewindable:
            raise io.UnsupportedOperation("this upload stream cannot be rewound")
        position = self._file.seek(offset, whence)  # type: ignore[union-attr]
        self._sent = position - self._start
        return position

    def rewind(self) -> bool:
        """Back to where the upload started; False if the stream cannot go back."""
        if not self._rewindable:
            return False
        self.seek(self._start)
        return True


# -- answers --------------------------------------------------------------------------------------------


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _json(response: requests.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise TransientError(
            f"clearnox answered {what} with HTTP {response.status_code} but no JSON",
            partner=PARTNER,
            status=response.status_code,
        ) from None


def _listing_page(body: Any, page: int) -> tuple[list[Any], int]:
    data = body.get("data") if isinstance(body, dict) else None
    meta = body.get("meta") if isinstance(body, dict) else None
    total_pages = meta.get("total_pages") if isinstance(meta, dict) else None
    if not isinstance(data, list) or not isinstance(total_pages, int) or isinstance(total_pages, bool):
        raise PermanentError(
            f"clearnox sent an unexpected booking-entry list (page {page}): "
            "expected data and meta.total_pages",
            partner=PARTNER,
        )
    return data, total_pages


def _receipt(response: requests.Response, bundle_id: str) -> BundleReceipt:
    body = _json(response, f"POST {BUNDLES_PATH}")
    data = body.get("data") if isinstance(body, dict) else None
    try:
        if not isinstance(data, dict):
            raise ValueError("no data object")
        receipt = BundleReceipt(
            bundle_id=data.get("bundle_id"),
            accepted_entries=data.get("accepted_entries"),
            status=data.get("status"),
            replayed=response.status_code == 200,
        )
    except (ValueError, ValidationError) as exc:
        reason = validation_reason(exc) if isinstance(exc, ValidationError) else str(exc)
        raise PermanentError(
            f"clearnox answered the upload of bundle {bundle_id} unexpectedly: {reason}", partner=PARTNER
        ) from None
    if receipt.bundle_id != bundle_id:
        raise PermanentError(
            f"clearnox answered the upload of bundle {bundle_id} with bundle {receipt.bundle_id}",
            partner=PARTNER,
        )
    return receipt


def _rejection(response: requests.Response, bundle_id: str) -> BundleRejected:
    """The BundleRejected for a 4xx answer to an upload: the partner's code, message and every detail."""
    error = None
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
    except ValueError:
        pass
    code = text_value(error.get("code")) if isinstance(error, dict) else None
    message = text_value(error.get("message")) if isinstance(error, dict) else None
    message = message or partner_error_message(response)
    raw_details = error.get("details") if isinstance(error, dict) else None
    texts = (_detail_text(detail) for detail in raw_details) if isinstance(raw_details, list) else ()
    details = tuple(text for text in texts if text)
    reason = f"clearnox rejected bundle {bundle_id} (HTTP {response.status_code} on POST {BUNDLES_PATH})"
    reason += f": {code}" if code else ""
    reason += f": {message}" if message else ""
    if details:
        shown = "; ".join(details[:MAX_REASON_DETAILS])
        more = len(details) - MAX_REASON_DETAILS
        reason += f" — {shown}" + (f"; and {more} more" if more > 0 else "")
    return BundleRejected(
        reason, bundle_id=bundle_id, code=code, details=details, status=response.status_code
    )


def _detail_text(detail: object) -> str:
    if isinstance(detail, dict):
        parts = [text_value(detail.get(key)) for key in ("target", "code", "message")]
        return ": ".join(part for part in parts if part)
    return text_value(detail) or ""


# -- mapping --------------------------------------------------------------------------------------------


def booking_entry_from_payload(payload: object) -> BookingEntry:
    """Map one listed Clearnox booking entry to a `BookingEntry`.

    Raises MappingError naming the entry and the field ("clearnox booking entry be_10001 (invoice 1042):
    document_date '02/10/2026' is not a date", "clearnox booking entry be_10002 has no amount").
    """
    if not isinstance(payload, dict):
        raise MappingError("clearnox booking entry is not a JSON object", partner=PARTNER)
    entry_id = text_value(payload.get("id"))
    if entry_id is None:
        raise MappingError("clearnox booking entry has no id", partner=PARTNER)
    number = text_value(payload.get("invoice_number"))
    label = f"clearnox booking entry {entry_id}" + (f" (invoice {number})" if number else "")
    try:
        customer = payload.get("customer")
        if customer is None:
            raise PayloadProblem("customer", missing=True)
        if not isinstance(customer, dict):
            raise PayloadProblem(f"customer {customer!r} is not a customer record")
        return BookingEntry(
            id=entry_id,
            entry_reference=_required_text(payload, "entry_reference"),
            invoice_number=_required_text(payload, "invoice_number"),
            document_date=_date(payload.get("document_date"), "document_date"),
            amount=money_field(payload, "amount"),
            currency=currency_code(payload.get("currency"), "currency"),
            customer_id=_required_text(customer, "id", "customer."),
            customer_name=_required_text(customer, "name", "customer."),
            customer_number=text_value(customer.get("number")),
        )
    except PayloadProblem as problem:
        raise MappingError(problem.reason(label), partner=PARTNER) from None
    except ValidationError as exc:
        raise MappingError(f"{label}: {validation_reason(exc)}", partner=PARTNER) from exc


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
