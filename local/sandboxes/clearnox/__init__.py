"""Sandbox Clearnox: the credit-management API of flow 4 — OAuth client credentials, the paged listing of
booking entries without a document, and a document-bundle upload that really opens and checks the zip.

The API is the one written down in `invoice_relay.partners.clearnox` (package docstring); the
`metadata.json` schema is `invoice_relay.partners.clearnox.models.BundleMetadata`. On top of the shared
sandbox plumbing (faults, request log, rate limit: see `base.py`).

- `POST /oauth/token` (form or JSON body, or HTTP Basic client auth), `grant_type=client_credentials` →
  `{"access_token", "token_type": "Bearer", "expires_in"}`; tokens live `token_ttl_seconds`. As RFC 6749
  asks: wrong client → 401 `{"error": "invalid_client", "error_description"}` (§5.2; with a
  `WWW-Authenticate: Basic` challenge when the client used HTTP Basic), no grant_type → 400
  `invalid_request`, another grant type → 400 `unsupported_grant_type`, and every token answer carries
  `Cache-Control: no-store` and `Pragma: no-cache` (§5.1).
- `/api/...` needs `Authorization: Bearer <valid token>`, else 401 code `invalid_token` with the RFC 6750
  §3 challenge: `WWW-Authenticate: Bearer realm="…"`, plus `error="invalid_token"` when a token was sent
  (a request without credentials gets no error code, §3.1).
- `GET /api/v1/booking-entries?has_document=true|false&page=&per_page=` (page from 1, per_page 1..500,
  default 100; anything else → 400 `invalid_parameter`), ordered by id.
- `POST /api/v1/document-bundles`: `application/zip` only (415), `X-Bundle-Id` required (400),
  `X-Bundle-Sha256` optional but checked. A body over `max_upload_bytes` → 413 (by Content-Length before
  reading, or while reading a chunked body). The body is spooled to a `SpooledTemporaryFile` that holds
  at most `SPOOL_MEMORY_BYTES` in memory (the rest on disk) while its SHA-256 is computed; a bundle id
  already imported answers 200 with the earlier receipt when the bytes are the same and 409
  `bundle_id_conflict` when they differ. Otherwise the archive is opened with `zipfile` and every check
  of the layer's docstring runs (`inspection.py`). All problems found go into one 422 `{"error": {"code",
  "message", "details": [{"code", "target", "message"}]}}` (code: the problems' code when they share one,
  else `bundle_invalid`), and nothing is marked. A valid bundle attaches every file to its entry
  (`has_document` true) and answers 201 `{"data": {"bundle_id", "accepted_entries", "status":
  "imported"}}`. The file contents are not kept, only (name, sha256, size, bundle id) per entry.

Python control API: `credentials()`, `expire_tokens()`, `tokens_issued`, `seed_demo_entries()`,
`add_entry()`, `entries()`, `missing()`, `documents_for()`, `detach_document()`, `uploads`,
`max_upload_bytes`, plus `inject_fault()`, `requests`/`find_requests()` and `set_rate_limit()` from the
base. HTTP: `POST /_sandbox/expire-tokens`.

Layout: `server.py` is the HTTP API (`ClearnoxSandbox`), `store.py` the tokens, entries and imported
bundles with their rules (`ClearnoxStore`), `inspection.py` the checks of an uploaded zip, `seed.py` the
demo data (`seed_demo_entries()`, done on construction; deterministic): booking entries `be_10001`, …
whose invoice numbers run from `start_number` (1001, like the sandbox ServiceTrade's invoices), in USD,
for a handful of customers, none with a document yet.
"""

from .inspection import MAX_METADATA_BYTES, READ_BLOCK_BYTES
from .server import (
    DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_PER_PAGE,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SPOOL_MEMORY_BYTES,
    TOKEN_TTL_SECONDS,
    ClearnoxSandbox,
)
from .store import ClearnoxStore, StoredDocument, UploadRecord

__all__ = [
    "DEFAULT_MAX_UPLOAD_BYTES",
    "DEFAULT_PER_PAGE",
    "MAX_METADATA_BYTES",
    "READ_BLOCK_BYTES",
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "SPOOL_MEMORY_BYTES",
    "TOKEN_TTL_SECONDS",
    "ClearnoxSandbox",
    "ClearnoxStore",
    "StoredDocument",
    "UploadRecord",
]
