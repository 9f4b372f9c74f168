"""Clearnox (credit management; flow 4's target): booking entries lacking a document, and zip bundles.

Flow 4 of the design: ask Clearnox which booking entries still have no invoice document (paged), and
upload zips of the matching PDFs with a `metadata.json` that maps each file to its booking entry.
`models.py` is the one place Clearnox JSON is defined: the listing, the upload answer and
`metadata.json` (`BundleMetadata`), which the bundler writes and the sandbox checks; `client.py` is the
API client on the HTTP kit; `target.py` the `BUNDLE_TARGET` capability.

Clearnox's API is not public; this is the shape we integrate against (the sandbox in
`local/sandboxes/clearnox/` implements exactly this; check it against the partner's API before go-live):

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

from typing import Any

from ..capabilities import BUNDLE_TARGET
from ..spec import PartnerSpec, SideSpec
from .config import ClearnoxTargetConfig


def _open_target(config: ClearnoxTargetConfig, context: Any) -> Any:
    from .client import ClearnoxClient
    from .target import ClearnoxTarget

    client = ClearnoxClient.from_secret(config.base_url, context.credentials(config.credentials_secret))
    return ClearnoxTarget(config, client)


SPEC = PartnerSpec(
    system="clearnox",
    title="Clearnox",
    category="credit management",
    connection="OAuth 2.0 client credentials",
    documents=("invoice_pdf",),
    target=SideSpec(config=ClearnoxTargetConfig, provides={BUNDLE_TARGET: _open_target}),
)
