"""The Clearnox API client, on the HTTP kit (see the package docstring for the API and our assumptions)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, BinaryIO

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from urllib3.exceptions import UnrewindableBodyError

from ...errors import ConfigurationError, MappingError, PermanentError, TransientError
from ...http import (
    ClientCredentialsAuth,
    Page,
    PageNumberPaginator,
    PartnerClient,
    partner_error_message,
    transport_error,
)
from ...logs import logger
from ..capabilities import BookingEntry, BundleReceipt
from ..payload import text_value, validation_reason
from .models import (
    BUNDLE_ID_PATTERN,
    BUNDLES_PATH,
    ENTRIES_PATH,
    MAX_PER_PAGE,
    PARTNER,
    TOKEN_PATH,
    BundleRejected,
    booking_entry_from_payload,
)

MAX_PAGES = 10_000  # a listing longer than this is a bug (ours or theirs), not data
REFRESH_MARGIN_SECONDS = 60  # fetch a new token this long before the current one expires
DEFAULT_TOKEN_LIFETIME_SECONDS = 300  # when the token answer has no expires_in
# (connect, read) seconds for uploads. urllib3 also applies the first value to every socket send while
# the body streams out, so it is generous too; the second covers the partner checking a large archive.
UPLOAD_TIMEOUT = (30.0, 600.0)
MAX_REASON_DETAILS = 10  # a rejection's reason names this many problems; `.details` has all of them


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


class ClearnoxClient(PartnerClient):
    """One Clearnox account through its API client credentials (OAuth 2.0 client credentials, the kit's
    `ClientCredentialsAuth`: one token shared by the threads using the client, a new one after a 401).

    Every failure is a domain error from `invoice_relay.errors`; the client secret and tokens are never
    logged or put into an error.
    """

    partner = PARTNER
    # The only POST is the bundle upload, keyed by X-Bundle-Id (a bundle uploaded again is answered again,
    # never imported twice): safe to resend after a 5xx or a timeout, as long as the body can be rewound.
    replay_safe_methods = frozenset({"POST"})

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
        auth = ClientCredentialsAuth(
            f"{base_url.rstrip('/')}{TOKEN_PATH}",
            client_id,
            client_secret,
            partner=PARTNER,
            refresh_margin=REFRESH_MARGIN_SECONDS,
            default_lifetime=DEFAULT_TOKEN_LIFETIME_SECONDS,
        )
        super().__init__(base_url, auth=auth, session=session)
        self.client_id = client_id
        self.per_page = per_page
        self.upload_timeout = upload_timeout
        self._pages = PageNumberPaginator(partner=PARTNER, what="booking entries", max_pages=MAX_PAGES)

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
        listing before uploading: uploads shift the pages (see the package docstring).
        """
        seen: set[str] = set()
        for page in self._pages.pages(self._entries_page):
            for item in page.records:
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

    def _entries_page(self, number: int) -> Page:
        params = {"has_document": "false", "page": number, "per_page": self.per_page}
        body = self.call("GET", ENTRIES_PATH, params=params)
        items, total_pages = _listing_page(body, number)
        meta = body.get("meta") if isinstance(body, dict) else None
        answered = meta.get("page") if isinstance(meta, dict) else None
        # The page the partner says it answered (the paginator's loop guard compares it with the one asked).
        answered = answered if isinstance(answered, int) and not isinstance(answered, bool) else number
        return Page(records=items, number=answered, total_pages=max(total_pages, 1))

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
        response = self._post_stream(bundle_id, stream, headers)
        if response.status_code == 401:
            logger.info(
                f"clearnox: token refused during the upload of bundle {bundle_id}, fetching a new one"
            )
            self.auth.renew(response.request)
            if not stream.rewind():
                raise TransientError(
                    f"clearnox refused the access token while bundle {bundle_id} was uploading; a new token "
                    "is ready and the bundle must be uploaded again from a fresh stream",
                    partner=PARTNER,
                    status=401,
                )
            response = self._post_stream(bundle_id, stream, headers)
        if 400 <= response.status_code < 500 and response.status_code not in (401, 403, 408, 429):
            raise _rejection(response, bundle_id)
        self.raise_for_status(response)
        return _receipt(self.json(response), response, bundle_id)

    def _post_stream(
        self, bundle_id: str, stream: _BundleStream, headers: dict[str, str]
    ) -> requests.Response:
        request = requests.Request(
            "POST", self.url(BUNDLES_PATH), data=stream, headers=headers, auth=self.auth
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
            # The session wanted to retry (429/5xx) but the stream cannot be sent a second time.
            raise TransientError(
                f"clearnox asked us to retry the upload of bundle {bundle_id} (rate limit or server error); "
                "the stream cannot be replayed, so the bundle must be uploaded again from a fresh stream",
                partner=PARTNER,
            ) from None
        except _StreamSizeMismatch as exc:
            raise PermanentError(f"bundle {bundle_id}: {exc}", partner=PARTNER) from None
        except requests.RequestException as exc:
            raise transport_error(exc, PARTNER) from exc


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


def _receipt(body: Any, response: requests.Response, bundle_id: str) -> BundleReceipt:
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
