"""The sandbox ServiceTrade's records and their rules: invoices, comments, sessions and access tokens.

Everything here is plain Python (no Flask): `server.py` reads the request, asks the store, and answers.
The rules and where they come from are in the docstring of `server.py`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

INVOICE_STATUSES = (
    "draft",
    "ok",
    "internal_review",
    "pending_accounting",
    "processed",
    "failed",
    "sent",
    "paid",
    "void",
)
INVOICE_TYPES = ("invoice", "vendorbill", "external")
INVOICE_ENTITY_TYPE = 6
ENTITY_TYPES = {2: "asset", 3: "job", 6: "invoice", 9: "quote", 10: "deficiency", 11: "location"}
COMMENT_VISIBILITY = ("public", "tech", "schedule", "billing")
DEFAULT_LIMIT, MAX_LIMIT = 100, 2000
MAX_COMMENT_LENGTH = 5000
MAX_INVOICE_NUMBER_LENGTH = 30
MAX_EXTERNAL_ID_LENGTH = 255
# "must start with a letter ... must be all lower-case" (ServiceTrade support, External Systems).
EXTERNAL_SYSTEM_NAME = re.compile(r"[a-z][a-z0-9_]{0,49}")
UPDATABLE_FIELDS = ("status", "invoiceNumber", "externalIds")


@dataclass
class Session:
    username: str
    created: float
    last_seen: float


class ServiceTradeStore:
    """The in-memory account: invoices by id, comments, login sessions and OAuth access tokens.

    Thread-safe (one lock); every method returns copies, so callers cannot change a record by accident.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._invoices: dict[int, dict[str, Any]] = {}
        self._comments: list[dict[str, Any]] = []
        self._next_comment_id = 5001
        self._sessions: dict[str, Session] = {}
        self._tokens: dict[str, float] = {}  # access token → expires at (time.time())
        self._tokens_issued = 0
        self._signing_key = secrets.token_bytes(32)

    # -- invoices -------------------------------------------------------------------------------------

    def replace_invoices(self, invoices: dict[int, dict[str, Any]]) -> None:
        """Start over with these invoices and no comments (seeding)."""
        with self.lock:
            self._invoices = copy.deepcopy(invoices)
            self._comments.clear()

    def add_invoice(self, invoice: dict[str, Any], first_id: int) -> int:
        """Store an invoice as given (it may be malformed on purpose), filling only a missing id (the next
        after the highest, or `first_id`), uri, created and updated. Returns its id."""
        stored = copy.deepcopy(invoice)
        with self.lock:
            if stored.get("id") is None:
                stored["id"] = max(self._invoices, default=first_id - 1) + 1
            stored.setdefault("uri", None)
            stored.setdefault("created", now())
            stored.setdefault("updated", stored["created"])
            self._invoices[stored["id"]] = stored
        return stored["id"]

    def invoice(self, invoice_id: int) -> dict[str, Any] | None:
        with self.lock:
            invoice = self._invoices.get(invoice_id)
            return copy.deepcopy(invoice) if invoice is not None else None

    def invoices(self) -> list[dict[str, Any]]:
        """Every invoice, by id."""
        with self.lock:
            return [copy.deepcopy(inv) for _, inv in sorted(self._invoices.items())]

    def invoice_page(
        self, statuses: set[str] | None, types: set[str] | None, page: int, limit: int
    ) -> tuple[int, list[dict[str, Any]]]:
        """(total pages, the invoices on `page`) of the invoices in `statuses` of `types` (None: any), by
        id. A record without a `type` counts as an `invoice`."""
        with self.lock:
            matching = [
                inv
                for _, inv in sorted(self._invoices.items())
                if (statuses is None or inv.get("status") in statuses)
                and (types is None or (inv.get("type") or "invoice") in types)
            ]
            window = [copy.deepcopy(inv) for inv in matching[(page - 1) * limit : page * limit]]
        return math.ceil(len(matching) / limit), window

    def update_problems(self, invoice_id: int, changes: dict[str, Any]) -> list[str]:
        """Why `PUT /api/invoice/{id}` must refuse `changes` (empty when it may apply them)."""
        problems = [f"{key} cannot be updated" for key in changes if key not in UPDATABLE_FIELDS]
        if "status" in changes and changes["status"] not in INVOICE_STATUSES:
            problems.append(f"status must be one of {', '.join(INVOICE_STATUSES)}")
        if "invoiceNumber" in changes:
            number = changes["invoiceNumber"]
            if not isinstance(number, str) or not 1 <= len(number) <= MAX_INVOICE_NUMBER_LENGTH:
                problems.append(
                    f"invoiceNumber must be a string of 1 to {MAX_INVOICE_NUMBER_LENGTH} characters"
                )
        if "externalIds" in changes:
            problems += self._external_id_problems(invoice_id, changes["externalIds"])
        return problems

    def _external_id_problems(self, invoice_id: int, external_ids: object) -> list[str]:
        if not isinstance(external_ids, dict):
            return ["externalIds must be an object of external system name to id"]
        problems = []
        with self.lock:
            for system, value in external_ids.items():
                if not EXTERNAL_SYSTEM_NAME.fullmatch(system):
                    problems.append(
                        f"externalIds: {system!r} is not an external system name (lower-case letters,"
                        " digits and _, starting with a letter)"
                    )
                elif not isinstance(value, str) or not 1 <= len(value.strip()) <= MAX_EXTERNAL_ID_LENGTH:
                    problems.append(
                        f"externalIds.{system} must be a string of 1 to {MAX_EXTERNAL_ID_LENGTH} characters"
                    )
                else:
                    owner = self._external_id_owner(system, value)
                    if owner is not None and owner != invoice_id:
                        # "External IDs must be unique" (ServiceTrade support, External IDs).
                        problems.append(f"externalIds.{system} {value!r} is already used by invoice {owner}")
        return problems

    def _external_id_owner(self, system: str, value: str) -> int | None:
        for invoice_id, invoice in self._invoices.items():
            known = invoice.get("externalIds")
            if isinstance(known, dict) and known.get(system) == value:
                return invoice_id
        return None

    def update_invoice(self, invoice_id: int, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Apply validated `changes` (external ids are merged into the invoice's); None if unknown. A
        change sets `updated` to now."""
        with self.lock:
            invoice = self._invoices.get(invoice_id)
            if invoice is None:
                return None
            if changes:
                changes = dict(changes)
                if "externalIds" in changes:
                    known = invoice.get("externalIds")
                    merged = dict(known) if isinstance(known, dict) else {}
                    merged.update(changes.pop("externalIds"))
                    invoice["externalIds"] = merged
                invoice.update(changes)
                invoice["updated"] = now()
            return copy.deepcopy(invoice)

    # -- comments -------------------------------------------------------------------------------------

    def add_comment(self, body: dict[str, Any], author: dict[str, Any]) -> dict[str, Any] | None:
        """Store a validated comment; None when its entity does not exist (only invoices do here)."""
        entity_type, entity_id = body["entityType"], body["entityId"]
        with self.lock:
            if entity_type != INVOICE_ENTITY_TYPE or entity_id not in self._invoices:
                return None
            comment = {
                "id": self._next_comment_id,
                "entityType": entity_type,
                "entityId": entity_id,
                "content": body["content"],
                "visibility": list(body["visibility"]),
                "created": now(),
                "author": author,
            }
            self._next_comment_id += 1
            self._comments.append(comment)
            return copy.deepcopy(comment)

    def comments(self, entity_type: int | None, entity_id: int | None) -> list[dict[str, Any]]:
        """Comments on an entity (None: any), oldest first."""
        with self.lock:
            return [
                copy.deepcopy(c)
                for c in self._comments
                if entity_type in (None, c["entityType"]) and entity_id in (None, c["entityId"])
            ]

    # -- sessions (legacy username/password) ----------------------------------------------------------

    def open_session(self, username: str, max_per_user: int) -> str:
        """A new session for `username`; the user's oldest sessions beyond `max_per_user` are dropped."""
        token = secrets.token_hex(16)
        moment = time.monotonic()
        with self.lock:
            self._sessions[token] = Session(username, created=moment, last_seen=moment)
            mine = sorted((s.created, t) for t, s in self._sessions.items() if s.username == username)
            for _, old in mine[: max(0, len(mine) - max_per_user)]:
                del self._sessions[old]
        return token

    def use_session(self, token: str, ttl_seconds: float) -> Session | None:
        """The live session of `token` (its idle time starts again), or None."""
        with self.lock:
            self._drop_idle_sessions(ttl_seconds)
            session = self._sessions.get(token)
            if session is not None:
                session.last_seen = time.monotonic()
            return session

    def end_session(self, token: str | None) -> None:
        with self.lock:
            self._sessions.pop(token or "", None)

    def expire_sessions(self) -> int:
        """End every session now. Returns how many there were."""
        with self.lock:
            count = len(self._sessions)
            self._sessions.clear()
        return count

    def active_sessions(self, ttl_seconds: float) -> int:
        with self.lock:
            self._drop_idle_sessions(ttl_seconds)
            return len(self._sessions)

    def _drop_idle_sessions(self, ttl_seconds: float) -> None:
        moment = time.monotonic()
        for token in [t for t, s in self._sessions.items() if moment - s.last_seen > ttl_seconds]:
            del self._sessions[token]

    # -- OAuth 2.0 access tokens (client credentials) -------------------------------------------------

    def issue_token(self, client_id: str, ttl_seconds: float) -> str:
        """A new access token: a signed JWT whose `exp` claim says when it expires (the official SDKs
        read its lifetime from there)."""
        issued = time.time()
        expires = issued + ttl_seconds
        claims = {
            "sub": client_id,
            "iat": int(issued),
            "exp": math.ceil(expires),
            "jti": secrets.token_hex(8),
        }
        token = self._jwt(claims)
        with self.lock:
            self._tokens[token] = expires
            self._tokens_issued += 1
        return token

    def token_valid(self, token: str) -> bool:
        with self.lock:
            return self._tokens.get(token, 0) > time.time()

    def expire_tokens(self) -> int:
        """Make every access token issued so far expired. Returns how many were still valid."""
        moment = time.time()
        with self.lock:
            valid = sum(1 for expires in self._tokens.values() if expires > moment)
            self._tokens = dict.fromkeys(self._tokens, moment - 1)
        return valid

    @property
    def tokens_issued(self) -> int:
        with self.lock:
            return self._tokens_issued

    def _jwt(self, claims: dict[str, Any]) -> str:
        def part(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        header = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = part(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._signing_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{part(signature)}"


# -- request rules --------------------------------------------------------------------------------------


def choices(raw: str | None, allowed: Iterable[str], name: str) -> set[str] | None:
    """A comma-separated filter of known values (`status=a,b`); None when absent. ValueError names the
    unknown ones."""
    if not raw:
        return None
    allowed = tuple(allowed)
    values = {v.strip() for v in raw.split(",") if v.strip()}
    unknown = values - set(allowed)
    if unknown:
        raise ValueError(
            f"unknown invoice {name} {', '.join(sorted(unknown))}; expected {', '.join(allowed)}"
        )
    return values


def comment_problems(body: dict[str, Any]) -> list[str]:
    """Why `POST /api/comment` must refuse `body` (empty when it is valid)."""
    problems = [
        f"unknown field {key}"
        for key in body
        if key not in ("entityType", "entityId", "content", "visibility")
    ]
    entity_type, entity_id = body.get("entityType"), body.get("entityId")
    if not is_int(entity_type) or entity_type not in ENTITY_TYPES:
        problems.append(f"entityType must be one of {', '.join(map(str, ENTITY_TYPES))}")
    if not is_int(entity_id):
        problems.append("entityId must be an integer")
    content = body.get("content")
    if not isinstance(content, str) or not content.strip():
        problems.append("content is required")
    elif len(content) > MAX_COMMENT_LENGTH:
        problems.append(f"content must be at most {MAX_COMMENT_LENGTH} characters")
    visibility = body.get("visibility")
    if not isinstance(visibility, list) or not all(isinstance(v, str) for v in visibility):
        problems.append(f"visibility is required: a list of {', '.join(COMMENT_VISIBILITY)} ([] = private)")
    elif set(visibility) - set(COMMENT_VISIBILITY):
        problems.append(f"visibility must be drawn from {', '.join(COMMENT_VISIBILITY)}")
    return problems


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def now() -> int:
    return int(time.time())
