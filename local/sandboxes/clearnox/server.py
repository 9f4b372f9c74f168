"""Sandbox Clearnox: the credit-management API of flow 4 — OAuth client credentials, the paged listing of
booking entries without a document, and a document-bundle upload that really opens and checks the zip.

The API is the one written down in `invoice_relay.connectors.clearnox` (module docstring); the
`metadata.json` schema is that module's `BundleMetadata`. On top of the shared sandbox plumbing (faults,
request log, rate limit: see `base.py`).

- `POST /oauth/token` (form or JSON body, or HTTP Basic client auth), `grant_type=client_credentials` →
  `{"access_token", "token_type": "Bearer", "expires_in"}`; tokens live `token_ttl_seconds`. Wrong client
  → 401 `{"error": "invalid_client", ...}`; another grant type → 400 `unsupported_grant_type`.
- `/api/...` needs `Authorization: Bearer <valid token>`, else 401 code `invalid_token`.
- `GET /api/v1/booking-entries?has_document=true|false&page=&per_page=` (page from 1, per_page 1..500,
  default 100; anything else → 400 `invalid_parameter`), ordered by id.
- `POST /api/v1/document-bundles`: `application/zip` only (415), `X-Bundle-Id` required (400),
  `X-Bundle-Sha256` optional but checked. A body over `max_upload_bytes` → 413 (by Content-Length before
  reading, or while reading a chunked body). The body is spooled to a `SpooledTemporaryFile` that holds
  at most `SPOOL_MEMORY_BYTES` in memory (the rest on disk) while its SHA-256 is computed; a bundle id
  already imported answers 200 with the earlier receipt when the bytes are the same and 409
  `bundle_id_conflict` when they differ. Otherwise the archive is opened with `zipfile` and every check
  of the adapter's docstring runs: each member is read to its end in blocks, so `zipfile` verifies its
  CRC-32 (what `ZipFile.testzip()` does, but reporting every bad member, not only the first) while its
  SHA-256 and first bytes are taken. All problems found go into one 422 `{"error": {"code", "message",
  "details": [{"code", "target", "message"}]}}` (code: the problems' code when they share one, else
  `bundle_invalid`), and nothing is marked. A valid bundle attaches every file to its entry
  (`has_document` true) and answers 201 `{"data": {"bundle_id", "accepted_entries", "status":
  "imported"}}`. The file contents are not kept, only (name, sha256, size, bundle id) per entry.

Python control API: `credentials()`, `expire_tokens()`, `tokens_issued`, `seed_demo_entries()`,
`add_entry()`, `entries()`, `missing()`, `documents_for()`, `detach_document()`, `uploads`,
`max_upload_bytes`, plus `inject_fault()`, `requests`/`find_requests()` and `set_rate_limit()` from the
base. HTTP: `POST /_sandbox/expire-tokens`.

Demo data (`seed_demo_entries()`, done on construction; deterministic): booking entries `be_10001`, … whose
invoice numbers run from `start_number` (1001, like the sandbox ServiceTrade's invoices), in USD, for a
handful of customers, none with a document yet.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import math
import random
import re
import secrets
import tempfile
import threading
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from flask import Response, jsonify, request

from invoice_relay.connectors.clearnox import (
    BUNDLE_ID_PATTERN,
    BUNDLES_PATH,
    ENTRIES_PATH,
    MAX_PER_PAGE,
    METADATA_FILE_NAME,
    PDF_MAGIC,
    TOKEN_PATH,
    BundleMetadata,
    InvalidBundleMetadata,
    unsafe_file_name_reason,
)

from .base import SandboxServer

SANDBOX_CLIENT_ID = "invoice-relay-sandbox"
SANDBOX_CLIENT_SECRET = "clearnox-sandbox-client-secret"  # a sandbox on loopback; not a secret
TOKEN_TTL_SECONDS = 3600
DEFAULT_PER_PAGE = 100
DEFAULT_MAX_UPLOAD_BYTES = 8 * 1024**3
SPOOL_MEMORY_BYTES = 1024**2  # an upload larger than this is spooled to disk
MAX_METADATA_BYTES = 32 * 1024**2
READ_BLOCK_BYTES = 256 * 1024

_ERROR_CODES = {
    400: "invalid_request",
    401: "invalid_token",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "bundle_invalid",
    429: "rate_limited",
}


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
class _Problem:
    code: str
    target: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "target": self.target, "message": self.message}

    def __str__(self) -> str:
        return ": ".join(part for part in (self.target, self.code, self.message) if part)


@dataclass
class _MemberScan:
    """What reading one zip member to its end found."""

    sha256: str | None = None
    head: bytes = b""
    content: bytes | None = None  # metadata.json only


@dataclass(frozen=True)
class _Bundle:
    sha256: str
    receipt: dict[str, Any]


@dataclass
class _Store:
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    documents: dict[str, StoredDocument] = field(default_factory=dict)
    bundles: dict[str, _Bundle] = field(default_factory=dict)
    uploads: list[UploadRecord] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)  # token → expires at (time.time())
    tokens_issued: int = 0


class _Rejected(Exception):
    def __init__(self, status: int, problems: list[_Problem], message: str | None = None):
        super().__init__(message or "; ".join(str(p) for p in problems))
        self.status = status
        self.problems = problems
        self.message = message
        self.size: int | None = None  # bytes received, once the body was read


class ClearnoxSandbox(SandboxServer):
    """The sandbox Clearnox API (see the module docstring), controllable from Python."""

    name = "clearnox"

    def __init__(
        self,
        *,
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str = SANDBOX_CLIENT_SECRET,
        token_ttl_seconds: float = TOKEN_TTL_SECONDS,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        seed: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_per_second: int | None = None,
    ):
        super().__init__(host=host, port=port, rate_limit_per_second=rate_limit_per_second)
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl_seconds = token_ttl_seconds
        self.max_upload_bytes = max_upload_bytes
        self._seed = seed
        self._data_lock = threading.RLock()
        self._store = _Store()
        self._register_routes()
        if seed:
            self.seed_demo_entries()

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"code": _ERROR_CODES.get(status, "error"), "message": message, "details": []}}

    def reset(self) -> None:
        """Back to the state after construction: demo entries (if seeded); no tokens, uploads, faults, log."""
        super().reset()
        with self._data_lock:
            self._store = _Store()
        if self._seed:
            self.seed_demo_entries()

    # -- Python control API: auth -------------------------------------------------------------------------

    def credentials(self) -> dict[str, str]:
        """What the connector's credentials secret holds for this sandbox."""
        return {"client_id": self.client_id, "client_secret": self.client_secret}

    def expire_tokens(self) -> int:
        """Make every access token issued so far expired. Returns how many were valid."""
        with self._data_lock:
            now = time.time()
            valid = sum(1 for expires_at in self._store.tokens.values() if expires_at > now)
            self._store.tokens = dict.fromkeys(self._store.tokens, now - 1)
            return valid

    @property
    def tokens_issued(self) -> int:
        """Access tokens handed out so far."""
        with self._data_lock:
            return self._store.tokens_issued

    # -- Python control API: data -------------------------------------------------------------------------

    def seed_demo_entries(
        self, count: int = 40, *, start_number: int = 1001, seed: int = 4
    ) -> tuple[str, ...]:
        """Replace all data with `count` booking entries without a document (same arguments → same data):
        ids `be_10001`, …, invoice numbers `start_number`, `start_number + 1`, …. Returns the ids."""
        rng = random.Random(seed)
        first_day = dt.date(2026, 3, 2)
        with self._data_lock:
            self._store.entries.clear()
            self._store.documents.clear()
            self._store.bundles.clear()
            for index in range(count):
                customer_id, name, number = rng.choice(_CUSTOMERS)
                self._store.entries[f"be_{10001 + index}"] = {
                    "id": f"be_{10001 + index}",
                    "entry_reference": f"AR-2026-{index + 1:04d}",
                    "invoice_number": str(start_number + index),
                    "document_date": (first_day + dt.timedelta(days=index // 3)).isoformat(),
                    "amount": str(Decimal(rng.randint(4_500, 480_000)) / 100),
                    "currency": "USD",
                    "customer": {"id": customer_id, "name": name, "number": number},
                    "has_document": False,
                    "updated_at": _now(),
                }
            return tuple(self._store.entries)

    def add_entry(self, record: dict[str, Any]) -> dict[str, Any]:
        """Add (or replace) one booking entry as the API lists it; `has_document` defaults to false and
        `updated_at` to now. Any shape is accepted, so tests can list malformed entries. Returns a copy."""
        entry = {"has_document": False, "updated_at": _now(), **copy.deepcopy(record)}
        with self._data_lock:
            self._store.entries[str(entry["id"])] = entry
            return copy.deepcopy(entry)

    def entries(self) -> list[dict[str, Any]]:
        """Every booking entry (copies), ordered by id."""
        with self._data_lock:
            return [copy.deepcopy(e) for _, e in sorted(self._store.entries.items())]

    def missing(self) -> list[str]:
        """Ids of the entries still without a document, ordered."""
        with self._data_lock:
            return sorted(i for i, e in self._store.entries.items() if not e.get("has_document"))

    def documents_for(self, entry_id: str) -> StoredDocument | None:
        """The document a bundle attached to this entry, or None."""
        with self._data_lock:
            return self._store.documents.get(entry_id)

    def detach_document(self, entry_id: str) -> None:
        """Remove an entry's document, as if a user deleted it in Clearnox (it is listed as missing again)."""
        with self._data_lock:
            self._store.documents.pop(entry_id, None)
            self._store.entries[entry_id].update(has_document=False, updated_at=_now())

    @property
    def uploads(self) -> list[UploadRecord]:
        """Every upload request that reached the endpoint, oldest first."""
        with self._data_lock:
            return list(self._store.uploads)

    # -- HTTP API -----------------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        app = self.app
        app.before_request(self._require_token)
        app.add_url_rule(TOKEN_PATH, view_func=self._token, methods=["POST"])
        app.add_url_rule(ENTRIES_PATH, view_func=self._list_entries, methods=["GET"])
        app.add_url_rule(BUNDLES_PATH, view_func=self._upload, methods=["POST"])
        app.add_url_rule("/_sandbox/expire-tokens", view_func=self._expire_tokens_http, methods=["POST"])

    def _require_token(self) -> Response | None:
        if not request.path.startswith("/api/"):
            return None
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        with self._data_lock:
            valid = bool(token) and self._store.tokens.get(token, 0) > time.time()
        if not valid:
            return self.error(
                401,
                "The access token is missing, invalid or expired",
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return None

    def _expire_tokens_http(self) -> Response:
        return jsonify({"expired": self.expire_tokens()})

    def _token(self) -> Response:
        body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        body = body if isinstance(body, dict) else {}
        client_id, client_secret = _basic_auth() or (body.get("client_id"), body.get("client_secret"))
        if not (
            secrets.compare_digest(str(client_id or "").encode(), self.client_id.encode())
            and secrets.compare_digest(str(client_secret or "").encode(), self.client_secret.encode())
        ):
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        if body.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported")
        token = secrets.token_urlsafe(32)
        with self._data_lock:
            self._store.tokens[token] = time.time() + self.token_ttl_seconds
            self._store.tokens_issued += 1
        return jsonify(
            {"access_token": token, "token_type": "Bearer", "expires_in": math.ceil(self.token_ttl_seconds)}
        )

    def _list_entries(self) -> Response:
        try:
            has_document = _flag("has_document")
            page = _integer("page", 1, 1, None)
            per_page = _integer("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
        except ValueError as exc:
            return _coded_error(400, "invalid_parameter", str(exc))
        with self._data_lock:
            rows = [
                copy.deepcopy(e)
                for _, e in sorted(self._store.entries.items())
                if has_document is None or bool(e.get("has_document")) == has_document
            ]
        total_pages = math.ceil(len(rows) / per_page)
        data = rows[(page - 1) * per_page : page * per_page]
        meta = {"page": page, "per_page": per_page, "total_pages": total_pages, "total": len(rows)}
        return jsonify({"data": data, "meta": meta})

    def _upload(self) -> Response:
        bundle_id = request.headers.get("X-Bundle-Id")
        try:
            response, record = self._receive_bundle(bundle_id)
        except _Rejected as rejection:
            response, record = self._rejection(bundle_id, rejection)
        with self._data_lock:
            self._store.uploads.append(record)
        return response

    def _receive_bundle(self, bundle_id: str | None) -> tuple[Response, UploadRecord]:
        if request.mimetype != "application/zip":
            raise _Rejected(
                415, [], f"Content-Type must be application/zip, not {request.mimetype or 'none'}"
            )
        if bundle_id is None or not re.fullmatch(BUNDLE_ID_PATTERN, bundle_id):
            raise _Rejected(400, [], f"X-Bundle-Id is required and must match {BUNDLE_ID_PATTERN}")
        declared = request.headers.get("X-Bundle-Sha256")
        if declared is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", declared):
            raise _Rejected(400, [], "X-Bundle-Sha256 must be 64 hex digits")
        if request.content_length is not None and request.content_length > self.max_upload_bytes:
            raise _Rejected(413, [], f"The bundle is larger than {self.max_upload_bytes} bytes")
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as spool:
            size, digest = _spool(request.stream, spool, self.max_upload_bytes)
            try:
                return self._check_and_import(spool, bundle_id, declared, size, digest)
            except _Rejected as rejection:
                rejection.size = size
                raise

    def _check_and_import(
        self, spool: IO[bytes], bundle_id: str, declared: str | None, size: int, digest: str
    ) -> tuple[Response, UploadRecord]:
        if declared is not None and declared.lower() != digest:
            problem = _Problem(
                "checksum_mismatch", None, f"X-Bundle-Sha256 is {declared}, the body's {digest}"
            )
            raise _Rejected(422, [problem])
        replay = self._replay(bundle_id, digest, size)
        if replay is not None:
            return replay
        metadata = _BundleInspection(spool, bundle_id).run()
        return self._import(metadata, bundle_id, digest, size)

    def _replay(self, bundle_id: str, digest: str, size: int) -> tuple[Response, UploadRecord] | None:
        """The earlier answer for a bundle id already imported (the same bytes), else None."""
        with self._data_lock:
            earlier = self._store.bundles.get(bundle_id)
        if earlier is None:
            return None
        if earlier.sha256 != digest:
            raise _Rejected(
                409,
                [_Problem("bundle_id_conflict", bundle_id, "this bundle id was imported with other content")],
            )
        record = UploadRecord(bundle_id, 200, size, digest, tuple(earlier.receipt["accepted_entries"]))
        return jsonify({"data": copy.deepcopy(earlier.receipt)}), record

    def _import(
        self, metadata: BundleMetadata, bundle_id: str, digest: str, size: int
    ) -> tuple[Response, UploadRecord]:
        with self._data_lock:  # checks and marks as one step, so concurrent uploads cannot both attach
            replay = self._replay(bundle_id, digest, size)
            if replay is not None:
                return replay
            problems = self._entry_problems(metadata)
            if problems:
                raise _Rejected(422, problems)
            accepted = []
            for file in metadata.files:
                entry = self._store.entries[file.entry.id]
                entry.update(has_document=True, updated_at=_now())
                self._store.documents[file.entry.id] = StoredDocument(
                    file.file_name, file.sha256, file.size, bundle_id
                )
                accepted.append(file.entry.id)
            receipt = {"bundle_id": bundle_id, "accepted_entries": accepted, "status": "imported"}
            self._store.bundles[bundle_id] = _Bundle(digest, receipt)
        response = jsonify({"data": copy.deepcopy(receipt)})
        response.status_code = 201
        return response, UploadRecord(bundle_id, 201, size, digest, tuple(accepted))

    def _entry_problems(self, metadata: BundleMetadata) -> list[_Problem]:
        problems = []
        for file in metadata.files:
            entry_id = file.entry.id
            entry = self._store.entries.get(entry_id)
            if entry is None:
                problems.append(
                    _Problem("unknown_entry", file.file_name, f"booking entry {entry_id} does not exist")
                )
            elif entry.get("has_document"):
                problems.append(
                    _Problem(
                        "entry_has_document",
                        file.file_name,
                        f"booking entry {entry_id} already has a document",
                    )
                )
            elif str(entry.get("invoice_number")) != file.entry.invoice_number:
                problems.append(
                    _Problem(
                        "entry_mismatch",
                        file.file_name,
                        f"booking entry {entry_id} is invoice {entry.get('invoice_number')}, "
                        f"metadata.json says {file.entry.invoice_number}",
                    )
                )
        return problems

    def _rejection(self, bundle_id: str | None, rejection: _Rejected) -> tuple[Response, UploadRecord]:
        problems = rejection.problems
        codes = {p.code for p in problems}
        code = codes.pop() if len(codes) == 1 else _ERROR_CODES.get(rejection.status, "error")
        if rejection.message is not None:
            message = rejection.message
        else:
            message = f"The bundle has {len(problems)} problem{'s' if len(problems) > 1 else ''}"
        body = {"error": {"code": code, "message": message, "details": [p.to_json() for p in problems]}}
        response = jsonify(body)
        response.status_code = rejection.status
        reasons = tuple(str(p) for p in problems) or (message,)
        size = rejection.size if rejection.size is not None else request.content_length
        return response, UploadRecord(bundle_id, rejection.status, size, code=code, reasons=reasons)


class _BundleInspection:
    """Opens an uploaded zip and checks it against its metadata.json (everything but the entries' state,
    which is checked under the data lock when the bundle is imported). `run()` returns the metadata or
    raises _Rejected with every problem found."""

    def __init__(self, archive: IO[bytes], bundle_id: str):
        self.archive = archive
        self.bundle_id = bundle_id
        self.problems: list[_Problem] = []

    def run(self) -> BundleMetadata:
        self.archive.seek(0)
        try:
            with zipfile.ZipFile(self.archive) as bundle:
                members = bundle.infolist()
                self._check_names(members)
                scans = {id(info): self._scan(bundle, info) for info in members}
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
            raise _Rejected(
                422, [_Problem("invalid_archive", None, f"the body is not a readable zip: {exc}")]
            ) from None
        metadata = self._metadata(members, scans)
        self._check_files(metadata, members, scans)
        if self.problems:
            raise _Rejected(422, self.problems)
        return metadata

    def _problem(self, code: str, target: str | None, message: str) -> None:
        self.problems.append(_Problem(code, target, message))

    def _check_names(self, members: list[zipfile.ZipInfo]) -> None:
        seen: dict[str, str] = {}
        for info in members:
            name = info.filename
            reason = unsafe_file_name_reason(name.rstrip("/") if info.is_dir() else name)
            if reason is not None:
                self._problem("unsafe_file_name", name, f"the name {reason}")
            elif info.is_dir():
                self._problem("unlisted_file", name, "directories are not allowed in a bundle")
            key = name.casefold()
            if key in seen:
                self._problem(
                    "duplicate_file_name", name, f"the archive already has a member named {seen[key]!r}"
                )
            seen.setdefault(key, name)

    def _scan(self, bundle: zipfile.ZipFile, info: zipfile.ZipInfo) -> _MemberScan | None:
        """Read one member to its end (zipfile checks its CRC-32 there); None if it cannot be read."""
        if info.is_dir():
            return _MemberScan()
        is_metadata = info.filename == METADATA_FILE_NAME
        digest, head, content = hashlib.sha256(), b"", bytearray()
        try:
            with bundle.open(info) as member:
                while block := member.read(READ_BLOCK_BYTES):
                    digest.update(block)
                    head = head or block[: len(PDF_MAGIC)]
                    if is_metadata and len(content) <= MAX_METADATA_BYTES:
                        content += block
        except zipfile.BadZipFile as exc:
            code = "crc_mismatch" if "CRC" in str(exc) else "invalid_archive"
            self._problem(code, info.filename, f"the member is corrupt: {exc}")
            return None
        except (zlib.error, NotImplementedError, RuntimeError, EOFError, ValueError) as exc:
            self._problem("invalid_archive", info.filename, f"the member cannot be read: {exc}")
            return None
        return _MemberScan(digest.hexdigest(), head, bytes(content) if is_metadata else None)

    def _metadata(
        self, members: list[zipfile.ZipInfo], scans: dict[int, _MemberScan | None]
    ) -> BundleMetadata:
        info = next((i for i in members if i.filename == METADATA_FILE_NAME), None)
        if info is None:
            self._problem("metadata_missing", METADATA_FILE_NAME, "the bundle has no metadata.json")
            raise _Rejected(422, self.problems)
        scan = scans[id(info)]
        if scan is None:
            raise _Rejected(422, self.problems)
        if scan.content is None or len(scan.content) > MAX_METADATA_BYTES:
            self._problem("metadata_invalid", METADATA_FILE_NAME, f"larger than {MAX_METADATA_BYTES} bytes")
            raise _Rejected(422, self.problems)
        try:
            metadata = BundleMetadata.from_json_bytes(scan.content)
        except InvalidBundleMetadata as exc:
            self.problems.extend(_Problem("metadata_invalid", METADATA_FILE_NAME, p) for p in exc.problems)
            raise _Rejected(422, self.problems) from None
        if metadata.bundle_id != self.bundle_id:
            self._problem(
                "bundle_id_mismatch",
                METADATA_FILE_NAME,
                f"bundle_id is {metadata.bundle_id}, X-Bundle-Id is {self.bundle_id}",
            )
        return metadata

    def _check_files(
        self,
        metadata: BundleMetadata,
        members: list[zipfile.ZipInfo],
        scans: dict[int, _MemberScan | None],
    ) -> None:
        by_name = {info.filename: info for info in members}
        listed = {file.file_name for file in metadata.files}
        for info in members:
            if info.filename not in listed and info.filename != METADATA_FILE_NAME and not info.is_dir():
                self._problem("unlisted_file", info.filename, "the file is not listed in metadata.json")
        for file in metadata.files:
            info = by_name.get(file.file_name)
            if info is None:
                self._problem(
                    "missing_file", file.file_name, "listed in metadata.json but not in the archive"
                )
                continue
            if info.file_size != file.size:
                self._problem(
                    "size_mismatch",
                    file.file_name,
                    f"metadata.json says {file.size} bytes, the archive has {info.file_size}",
                )
            if f"{info.CRC:08x}" != file.crc32:
                self._problem(
                    "checksum_mismatch",
                    file.file_name,
                    f"metadata.json says CRC-32 {file.crc32}, the archive {info.CRC:08x}",
                )
            scan = scans[id(info)]
            if scan is None:
                continue  # unreadable: already reported
            if scan.sha256 != file.sha256:
                self._problem(
                    "checksum_mismatch",
                    file.file_name,
                    f"metadata.json says SHA-256 {file.sha256}, the file's is {scan.sha256}",
                )
            if scan.head != PDF_MAGIC:
                self._problem(
                    "not_a_pdf",
                    file.file_name,
                    f"the file does not start with %PDF- (starts with {scan.head!r})",
                )


# -- request parsing --------------------------------------------------------------------------------------


def _spool(stream: IO[bytes], spool: IO[bytes], limit: int) -> tuple[int, str]:
    """Copy the request body into `spool` in blocks; (size, sha256). _Rejected 413 past `limit` bytes."""
    digest, size = hashlib.sha256(), 0
    while block := stream.read(READ_BLOCK_BYTES):
        size += len(block)
        if size > limit:
            raise _Rejected(413, [], f"The bundle is larger than {limit} bytes")
        digest.update(block)
        spool.write(block)
    return size, digest.hexdigest()


def _flag(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise ValueError(f"{name} must be true or false")
    return raw == "true"


def _integer(name: str, default: int, low: int, high: int | None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
        limits = f"{low} to {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be an integer, {limits}")
    return int(raw)


def _basic_auth() -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if header[:6].lower() != "basic ":
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _oauth_error(status: int, error: str, description: str) -> Response:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    return response


def _coded_error(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "details": []}})
    response.status_code = status
    return response


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# -- demo data --------------------------------------------------------------------------------------------

_CUSTOMERS: tuple[tuple[str, str, str | None], ...] = (
    ("c_55", "Acme Facilities", "C-0055"),
    ("c_61", "Brightwater Property Group", "C-0061"),
    ("c_72", "Cedar Ridge Medical Center", "C-0072"),
    ("c_80", "Harbor Logistics", "C-0080"),
    ("c_93", "Northgate School District", None),
    ("c_104", "Summit Hotels Raleigh", "C-0104"),
)
