"""The sandbox Clearnox's HTTP API (`ClearnoxSandbox`); see the package docstring."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import secrets
import tempfile
import threading
from typing import IO, Any

from flask import Response, jsonify, request

from invoice_relay.partners.clearnox.models import (
    BUNDLE_ID_PATTERN,
    BUNDLES_PATH,
    ENTRIES_PATH,
    MAX_PER_PAGE,
    TOKEN_PATH,
    BundleMetadata,
)

from ..base import SandboxServer
from .inspection import READ_BLOCK_BYTES, BundleInspection
from .seed import demo_entries
from .store import ClearnoxStore, Problem, Rejected, StoredDocument, UploadRecord

SANDBOX_CLIENT_ID = "invoice-relay-sandbox"
SANDBOX_CLIENT_SECRET = "clearnox-sandbox-client-secret"  # a sandbox on loopback; not a secret
TOKEN_TTL_SECONDS = 3600
DEFAULT_PER_PAGE = 100
DEFAULT_MAX_UPLOAD_BYTES = 8 * 1024**3
SPOOL_MEMORY_BYTES = 1024**2  # an upload larger than this is spooled to disk
REALM = "clearnox-sandbox"
# RFC 6749 §5.1: token answers (and their errors, §5.2) must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

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


class ClearnoxSandbox(SandboxServer):
    """The sandbox Clearnox API (see the package docstring), controllable from Python."""

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
        self._store = ClearnoxStore()
        self._register_routes()
        if seed:
            self.seed_demo_entries()

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"code": _ERROR_CODES.get(status, "error"), "message": message, "details": []}}

    def reset(self) -> None:
        """Back to the state after construction: demo entries (if seeded); no tokens, uploads, faults, log."""
        super().reset()
        with self._data_lock:
            self._store = ClearnoxStore()
        if self._seed:
            self.seed_demo_entries()

    # -- Python control API: auth -------------------------------------------------------------------------

    def credentials(self) -> dict[str, str]:
        """What the connector's credentials secret holds for this sandbox."""
        return {"client_id": self.client_id, "client_secret": self.client_secret}

    def expire_tokens(self) -> int:
        """Make every access token issued so far expired. Returns how many were valid."""
        with self._data_lock:
            return self._store.expire_tokens()

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
        with self._data_lock:
            self._store.clear_entries()
            self._store.entries.update(demo_entries(count, start_number=start_number, seed=seed))
            return tuple(self._store.entries)

    def add_entry(self, record: dict[str, Any]) -> dict[str, Any]:
        """Add (or replace) one booking entry as the API lists it; `has_document` defaults to false and
        `updated_at` to now. Any shape is accepted, so tests can list malformed entries. Returns a copy."""
        with self._data_lock:
            return self._store.add_entry(record)

    def entries(self) -> list[dict[str, Any]]:
        """Every booking entry (copies), ordered by id."""
        with self._data_lock:
            return self._store.all_entries()

    def missing(self) -> list[str]:
        """Ids of the entries still without a document, ordered."""
        with self._data_lock:
            return self._store.missing()

    def documents_for(self, entry_id: str) -> StoredDocument | None:
        """The document a bundle attached to this entry, or None."""
        with self._data_lock:
            return self._store.documents.get(entry_id)

    def detach_document(self, entry_id: str) -> None:
        """Remove an entry's document, as if a user deleted it in Clearnox (it is listed as missing again)."""
        with self._data_lock:
            self._store.detach_document(entry_id)

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
            valid = self._store.token_valid(token)
        if valid:
            return None
        # RFC 6750 §3.1: a request without credentials gets the bare challenge, a bad token its error code.
        challenge = f'Bearer realm="{REALM}"' + ("" if not token else ', error="invalid_token"')
        return self.error(
            401, "The access token is missing, invalid or expired", {"WWW-Authenticate": challenge}
        )

    def _expire_tokens_http(self) -> Response:
        return jsonify({"expired": self.expire_tokens()})

    def _token(self) -> Response:
        body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        body = body if isinstance(body, dict) else {}
        basic = _basic_auth()
        client_id, client_secret = basic or (body.get("client_id"), body.get("client_secret"))
        if not (
            secrets.compare_digest(str(client_id or "").encode(), self.client_id.encode())
            and secrets.compare_digest(str(client_secret or "").encode(), self.client_secret.encode())
        ):
            # RFC 6749 §5.2: a client that authenticated with the Authorization header gets its challenge.
            challenge = {"WWW-Authenticate": f'Basic realm="{REALM}"'} if basic else {}
            return _oauth_error(401, "invalid_client", "Client authentication failed", challenge)
        grant_type = body.get("grant_type")
        if not grant_type:
            return _oauth_error(400, "invalid_request", "grant_type is required")
        if grant_type != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported")
        with self._data_lock:
            token = self._store.issue_token(self.token_ttl_seconds)
        response = jsonify(
            {"access_token": token, "token_type": "Bearer", "expires_in": math.ceil(self.token_ttl_seconds)}
        )
        response.headers.update(NO_STORE)
        return response

    def _list_entries(self) -> Response:
        try:
            has_document = _flag("has_document")
            page = _integer("page", 1, 1, None)
            per_page = _integer("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
        except ValueError as exc:
            return _coded_error(400, "invalid_parameter", str(exc))
        with self._data_lock:
            data, meta = self._store.listing(has_document=has_document, page=page, per_page=per_page)
        return jsonify({"data": data, "meta": meta})

    def _upload(self) -> Response:
        bundle_id = request.headers.get("X-Bundle-Id")
        try:
            response, record = self._receive_bundle(bundle_id)
        except Rejected as rejection:
            response, record = self._rejection(bundle_id, rejection)
        with self._data_lock:
            self._store.uploads.append(record)
        return response

    def _receive_bundle(self, bundle_id: str | None) -> tuple[Response, UploadRecord]:
        if request.mimetype != "application/zip":
            raise Rejected(415, [], f"Content-Type must be application/zip, not {request.mimetype or 'none'}")
        if bundle_id is None or not re.fullmatch(BUNDLE_ID_PATTERN, bundle_id):
            raise Rejected(400, [], f"X-Bundle-Id is required and must match {BUNDLE_ID_PATTERN}")
        declared = request.headers.get("X-Bundle-Sha256")
        if declared is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", declared):
            raise Rejected(400, [], "X-Bundle-Sha256 must be 64 hex digits")
        if request.content_length is not None and request.content_length > self.max_upload_bytes:
            raise Rejected(413, [], f"The bundle is larger than {self.max_upload_bytes} bytes")
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as spool:
            size, digest = _spool(request.stream, spool, self.max_upload_bytes)
            try:
                return self._check_and_import(spool, bundle_id, declared, size, digest)
            except Rejected as rejection:
                rejection.size = size
                raise

    def _check_and_import(
        self, spool: IO[bytes], bundle_id: str, declared: str | None, size: int, digest: str
    ) -> tuple[Response, UploadRecord]:
        if declared is not None and declared.lower() != digest:
            problem = Problem(
                "checksum_mismatch", None, f"X-Bundle-Sha256 is {declared}, the body's {digest}"
            )
            raise Rejected(422, [problem])
        with self._data_lock:
            receipt = self._store.replay(bundle_id, digest)
        if receipt is None:
            metadata = BundleInspection(spool, bundle_id).run()
            return self._import(metadata, bundle_id, digest, size)
        return self._replayed(receipt, bundle_id, digest, size)

    def _import(
        self, metadata: BundleMetadata, bundle_id: str, digest: str, size: int
    ) -> tuple[Response, UploadRecord]:
        with self._data_lock:  # checks and marks as one step, so concurrent uploads cannot both attach
            receipt = self._store.replay(bundle_id, digest)
            if receipt is not None:
                return self._replayed(receipt, bundle_id, digest, size)
            receipt = self._store.import_bundle(metadata, bundle_id, digest)
        response = jsonify({"data": receipt})
        response.status_code = 201
        return response, UploadRecord(bundle_id, 201, size, digest, tuple(receipt["accepted_entries"]))

    @staticmethod
    def _replayed(
        receipt: dict[str, Any], bundle_id: str, digest: str, size: int
    ) -> tuple[Response, UploadRecord]:
        """The earlier answer for a bundle id already imported with the same bytes (200)."""
        record = UploadRecord(bundle_id, 200, size, digest, tuple(receipt["accepted_entries"]))
        return jsonify({"data": receipt}), record

    def _rejection(self, bundle_id: str | None, rejection: Rejected) -> tuple[Response, UploadRecord]:
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


# -- request parsing --------------------------------------------------------------------------------------


def _spool(stream: IO[bytes], spool: IO[bytes], limit: int) -> tuple[int, str]:
    """Copy the request body into `spool` in blocks; (size, sha256). Rejected 413 past `limit` bytes."""
    digest, size = hashlib.sha256(), 0
    while block := stream.read(READ_BLOCK_BYTES):
        size += len(block)
        if size > limit:
            raise Rejected(413, [], f"The bundle is larger than {limit} bytes")
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


def _oauth_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> Response:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    response.headers.update({**NO_STORE, **(headers or {})})
    return response


def _coded_error(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "details": []}})
    response.status_code = status
    return response
