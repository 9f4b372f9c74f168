"""Sandbox ServiceTrade API: session auth, paged invoice listing, invoice updates and comments.

It behaves like our reading of the real API (https://api.servicetrade.com/api/docs), so the adapter in
`invoice_relay.connectors.servicetrade` can be tested and demonstrated without an account. Assumptions,
to check against the real API before go-live:

- Auth is a session: `POST /api/auth` `{"username", "password"}` → 200
  `{"data": {"authenticated": true, "user": {...}}}` plus `Set-Cookie: PHPSESSID=<token>`; wrong
  credentials → 403. `DELETE /api/auth` ends the session (204). Every other `/api` call without a
  live session → 401, including `DELETE /api/auth` itself. Sessions expire after an idle TTL; like the
  real one (its FAQ), a user keeps a limited number of sessions and the oldest are dropped first.
- Errors are `{"messages": {"error": ["<reason>", ...]}}` with a 4xx/5xx status.
- `GET /api/invoice?status=a,b&page=p&limit=n` → `{"data": {"totalPages": N, "page": p, "invoices": [...]}}`,
  ordered by id, limit 1..500 (default 100, above 500 → 400), page from 1; a page past the end is an
  empty list with the real totalPages; no match at all → totalPages 0. Unknown query parameters are
  ignored; unknown status values → 400.
- `PUT /api/invoice/{id}` accepts only `status` (draft, ok, pending_accounting, processed, failed, void)
  and `invoiceNumber` (string, 1..30 characters); anything else → 400. A change sets `updated` to now.
- `POST /api/comment` `{"entityType", "entityId", "content", "visibility"}`: invoice comments use entity
  type `INVOICE_ENTITY_TYPE` (6, from a third-party listing of ServiceTrade entity types: Asset 2, Job 3,
  Invoice 6, Quote 9, Deficiency 10, Location 11 — unverified). `visibility` is a list drawn from
  {"tech", "customer", "vendor"}; an empty list is a private (internal) comment. The sandbox *requires*
  `visibility` (the real default is unknown and may be public): a client that forgets it must fail here
  rather than show a failure reason to a customer. `content` 1..5000 characters; entity must exist.
  `GET /api/comment?entityType=&entityId=` → `{"data": {"totalPages", "page", "comments": [...]}}`.
- Invoice resource: see `sample_invoice()`. Timestamps are Unix seconds (UTC); `transactionDate` is
  midnight of the transaction day in the account's time zone (US Eastern here), so its UTC date is the
  transaction day. Money is sent as JSON numbers; line `totalPrice` = quantity × price rounded half-up to
  cents; `totalTax` = taxRate % of the sum of the taxable lines' totals, rounded half-up (one invoice-level
  rate). Credits have `type: "credit"` and negative prices and totals.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import random
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import Response, g, jsonify, request

from .base import SandboxServer

SESSION_COOKIE = "PHPSESSID"
SANDBOX_USERNAME = "relay-integration@example.com"
SANDBOX_PASSWORD = "sandbox-password"  # a sandbox on loopback; not a secret
INVOICE_ENTITY_TYPE = 6
ENTITY_TYPES = {2: "asset", 3: "job", 6: "invoice", 9: "quote", 10: "deficiency", 11: "location"}
INVOICE_STATUSES = ("draft", "ok", "pending_accounting", "processed", "failed", "void")
COMMENT_VISIBILITY = frozenset({"tech", "customer", "vendor"})
DEFAULT_LIMIT, MAX_LIMIT = 100, 500
MAX_COMMENT_LENGTH = 5000
MAX_INVOICE_NUMBER_LENGTH = 30

BROKEN_KINDS = ("no_customer", "bad_transaction_date", "unmapped_service_line")
BAD_TRANSACTION_DATE = "31/02/2026"
UNMAPPED_SERVICE_LINE = {"id": 99, "name": "Unmapped Service Line", "abbr": "ZZ"}

_CENT = Decimal("0.01")
_EASTERN = dt.timezone(dt.timedelta(hours=-5), "EST")
_FIRST_DAY = dt.datetime(2026, 3, 2, tzinfo=_EASTERN)  # a Monday; seeded invoices follow from here
_FIRST_ID = 1001


def sample_invoice(invoice_id: int = 1042) -> dict[str, Any]:
    """One well-formed invoice in the shape the sandbox (and, we assume, ServiceTrade) sends.

    2 × 125.00 taxable + 1.5 h × 92.50 labour; tax 7.25 % of 250.00 = 18.125 → 18.13 (half-up).
    `uri` values are filled in by the sandbox when it serves the invoice.
    """
    return {
        "id": invoice_id,
        "uri": None,
        "invoiceNumber": str(invoice_id),
        "type": "invoice",
        "status": "pending_accounting",
        "transactionDate": 1772514000,  # 2026-03-03 00:00 EST
        "dueDate": None,
        "paymentTerms": {"name": "Net 30", "days": 30},
        "currency": "USD",
        "customer": {
            "id": 55,
            "name": "Acme Facilities",
            "uri": None,
            "email": "ap@acme-facilities.example",
            "phone": "919-555-0142",
            "accountNumber": "C-0055",
        },
        "vendor": {"id": 1, "name": "Relay Fire & Safety"},
        "location": {
            "id": 77,
            "name": "Acme HQ",
            "address": {
                "street": "400 Fayetteville St",
                "city": "Raleigh",
                "state": "NC",
                "postalCode": "27601",
            },
        },
        "job": {"id": 901, "number": "J-901"},
        "poNumber": "PO-77",
        "items": [
            {
                "id": 1,
                "description": "New 10 lb ABC extinguisher",
                "quantity": 2,
                "price": 125.0,
                "totalPrice": 250.0,
                "taxable": True,
                "serviceLine": {"id": 3, "name": "Fire Extinguisher", "abbr": "FE"},
                "libItem": {"id": 12, "code": "FE-NEW10"},
            },
            {
                "id": 2,
                "description": "Technician labor (hours)",
                "quantity": 1.5,
                "price": 92.5,
                "totalPrice": 138.75,
                "taxable": False,
                "serviceLine": {"id": 3, "name": "Fire Extinguisher", "abbr": "FE"},
                "libItem": {"id": 40, "code": "LAB-HR"},
            },
        ],
        "taxRate": 7.25,
        "subtotal": 388.75,
        "totalTax": 18.13,
        "totalPrice": 406.88,
        "created": 1772560800,
        "updated": 1772564400,
    }


@dataclass(frozen=True)
class DemoData:
    """What `seed_demo_data()` created, for tests and the demo to assert on."""

    pending_ids: tuple[int, ...]  # every pending_accounting invoice, broken ones and credits included
    credit_ids: tuple[int, ...]
    other_statuses: dict[int, str]  # invoices the pending_accounting filter must exclude
    broken: dict[str, int]  # kind (see BROKEN_KINDS) → invoice id

    @property
    def broken_ids(self) -> frozenset[int]:
        return frozenset(self.broken.values())

    @property
    def clean_ids(self) -> tuple[int, ...]:
        """Pending invoices that should go all the way through."""
        return tuple(i for i in self.pending_ids if i not in self.broken_ids)


@dataclass
class _Session:
    username: str
    created: float
    last_seen: float


@dataclass
class _Store:
    invoices: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)
    sessions: dict[str, _Session] = field(default_factory=dict)
    next_comment_id: int = 5001


class ServiceTradeSandbox(SandboxServer):
    """The sandbox ServiceTrade API (see the module docstring), controllable from Python.

    Invoices, comments and sessions live in memory; `seed_demo_data()` fills a realistic account.
    """

    name = "servicetrade"

    def __init__(
        self,
        *,
        username: str = SANDBOX_USERNAME,
        password: str = SANDBOX_PASSWORD,
        session_ttl_seconds: float = 30 * 60,
        max_sessions_per_user: int = 20,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_per_second: int | None = None,
    ):
        super().__init__(host=host, port=port, rate_limit_per_second=rate_limit_per_second)
        self.username = username
        self.password = password
        self.session_ttl_seconds = session_ttl_seconds
        self.max_sessions_per_user = max_sessions_per_user
        self.demo: DemoData | None = None
        self._data_lock = threading.RLock()
        self._store = _Store()
        self._register_routes()

    # -- Python control API -------------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        return {"messages": {"error": [message]}}

    def add_invoice(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """Store an invoice as given (it may be malformed on purpose), filling only a missing id, uri,
        created and updated. Returns the stored invoice as the API would serve it."""
        stored = copy.deepcopy(invoice)
        with self._data_lock:
            if stored.get("id") is None:
                stored["id"] = max(self._store.invoices, default=_FIRST_ID - 1) + 1
            stored.setdefault("uri", None)
            stored.setdefault("created", _now())
            stored.setdefault("updated", stored["created"])
            self._store.invoices[stored["id"]] = stored
        return self.invoice(stored["id"])

    def invoice(self, invoice_id: int) -> dict[str, Any]:
        """The invoice as the API serves it (a copy). KeyError if unknown."""
        with self._data_lock:
            return self._render(self._store.invoices[invoice_id])

    def invoices(self) -> list[dict[str, Any]]:
        """Every invoice as the API serves it, by id (copies)."""
        with self._data_lock:
            return [self._render(inv) for _, inv in sorted(self._store.invoices.items())]

    def comments_for(self, invoice_id: int) -> list[dict[str, Any]]:
        """Comments on an invoice, oldest first (copies)."""
        with self._data_lock:
            return [
                copy.deepcopy(c)
                for c in self._store.comments
                if c["entityType"] == INVOICE_ENTITY_TYPE and c["entityId"] == invoice_id
            ]

    def expire_sessions(self) -> int:
        """End every session now (as if they had timed out). Returns how many there were."""
        with self._data_lock:
            count = len(self._store.sessions)
            self._store.sessions.clear()
        return count

    @property
    def active_sessions(self) -> int:
        with self._data_lock:
            self._drop_idle_sessions()
            return len(self._store.sessions)

    @property
    def broken_invoice_ids(self) -> frozenset[int]:
        """Ids of the invoices `seed_demo_data()` broke on purpose."""
        return self.demo.broken_ids if self.demo else frozenset()

    def reset(self) -> None:
        super().reset()
        with self._data_lock:
            self._store = _Store()
            self.demo = None

    def seed_demo_data(
        self,
        count: int = 50,
        broken: bool | int | Iterable[str] = True,
        *,
        seed: int = 1042,
        credits: int = 2,
    ) -> DemoData:
        """Replace all invoices with a deterministic demo account (same `seed` → same data).

        `count` pending_accounting invoices, `credits` of them credits, plus eight in other statuses
        (processed, draft, ok) interleaved by id. `broken=True` breaks three pending invoices, one way
        each (BROKEN_KINDS); a number breaks that many (the first kinds), a list of kinds those, and
        False or 0 none.
        """
        if isinstance(broken, bool):
            kinds = list(BROKEN_KINDS) if broken else []
        elif isinstance(broken, int):
            if not 0 <= broken <= len(BROKEN_KINDS):
                raise ValueError(f"broken must be 0..{len(BROKEN_KINDS)}")
            kinds = list(BROKEN_KINDS[:broken])
        else:
            kinds = list(broken)
        unknown = set(kinds) - set(BROKEN_KINDS)
        if unknown:
            raise ValueError(f"unknown broken kinds: {sorted(unknown)}")
        if count < len(kinds) + credits:
            raise ValueError("count is too small for the broken invoices and credits asked for")
        rng = random.Random(seed)
        others = ["processed"] * 4 + ["draft"] * 3 + ["ok"]
        statuses = ["pending_accounting"] * count + others
        rng.shuffle(statuses)
        ids = list(range(_FIRST_ID, _FIRST_ID + len(statuses)))
        pending = [i for i, s in zip(ids, statuses, strict=True) if s == "pending_accounting"]
        special = rng.sample(pending, len(kinds) + credits)
        broken_ids = dict(zip(kinds, special[: len(kinds)], strict=True))
        credit_ids = sorted(special[len(kinds) :])
        builder = _DemoBuilder(rng)
        with self._data_lock:
            self._store.invoices.clear()
            self._store.comments.clear()
            for day, (invoice_id, status) in enumerate(zip(ids, statuses, strict=True)):
                invoice = builder.invoice(invoice_id, status, day // 3, credit=invoice_id in credit_ids)
                self._store.invoices[invoice_id] = invoice
            for kind, invoice_id in broken_ids.items():
                _break(self._store.invoices[invoice_id], kind)
            self.demo = DemoData(
                pending_ids=tuple(pending),
                credit_ids=tuple(credit_ids),
                other_statuses={
                    i: s for i, s in zip(ids, statuses, strict=True) if s != "pending_accounting"
                },
                broken=broken_ids,
            )
        return self.demo

    # -- HTTP API -----------------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        app = self.app
        app.before_request(self._require_session)
        app.add_url_rule("/api/auth", view_func=self._login, methods=["POST"])
        app.add_url_rule("/api/auth", view_func=self._logout, methods=["DELETE"])
        app.add_url_rule("/api/auth", view_func=self._whoami, methods=["GET"])
        app.add_url_rule("/api/invoice", view_func=self._list_invoices, methods=["GET"])
        app.add_url_rule("/api/invoice/<int:invoice_id>", view_func=self._get_invoice, methods=["GET"])
        app.add_url_rule("/api/invoice/<int:invoice_id>", view_func=self._update_invoice, methods=["PUT"])
        app.add_url_rule("/api/comment", view_func=self._create_comment, methods=["POST"])
        app.add_url_rule("/api/comment", view_func=self._list_comments, methods=["GET"])
        app.add_url_rule("/_sandbox/expire-sessions", view_func=self._expire_sessions, methods=["POST"])

    def _require_session(self) -> Response | None:
        if not request.path.startswith("/api/") or (request.path == "/api/auth" and request.method == "POST"):
            return None
        token = request.cookies.get(SESSION_COOKIE)
        with self._data_lock:
            self._drop_idle_sessions()
            session = self._store.sessions.get(token or "")
            if session is None:
                return self.error(401, "Authentication required")
            session.last_seen = time.monotonic()
        g.session_token = token
        g.username = session.username
        return None

    def _login(self) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not body.get("username") or not body.get("password"):
            return self.error(400, "username and password are required")
        if not (
            secrets.compare_digest(str(body["username"]), self.username)
            and secrets.compare_digest(str(body["password"]), self.password)
        ):
            return self.error(403, "Invalid username or password")
        token = secrets.token_hex(16)
        now = time.monotonic()
        with self._data_lock:
            self._store.sessions[token] = _Session(self.username, created=now, last_seen=now)
            mine = sorted(
                (s.created, t) for t, s in self._store.sessions.items() if s.username == self.username
            )
            for _, old in mine[: max(0, len(mine) - self.max_sessions_per_user)]:
                del self._store.sessions[old]
        response = jsonify({"data": {"authenticated": True, "user": self._user()}})
        response.set_cookie(SESSION_COOKIE, token, path="/", httponly=True)
        return response

    def _logout(self) -> Response:
        with self._data_lock:
            self._store.sessions.pop(g.session_token, None)
        response = Response(status=204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def _whoami(self) -> Response:
        return jsonify({"data": {"authenticated": True, "user": self._user()}})

    def _list_invoices(self) -> Response:
        try:
            page = _int_param("page", 1, minimum=1)
            limit = _int_param("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
            statuses = _statuses_param()
        except ValueError as exc:
            return self.error(400, str(exc))
        with self._data_lock:
            matching = [
                inv
                for _, inv in sorted(self._store.invoices.items())
                if statuses is None or inv.get("status") in statuses
            ]
            window = [self._render(inv) for inv in matching[(page - 1) * limit : page * limit]]
        total_pages = math.ceil(len(matching) / limit)
        return jsonify({"data": {"totalPages": total_pages, "page": page, "invoices": window}})

    def _get_invoice(self, invoice_id: int) -> Response:
        with self._data_lock:
            invoice = self._store.invoices.get(invoice_id)
            if invoice is None:
                return self.error(404, f"Invoice {invoice_id} not found")
            return jsonify({"data": self._render(invoice)})

    def _update_invoice(self, invoice_id: int) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.error(400, "expected a JSON object")
        problems = _invoice_update_problems(body)
        if problems:
            return self._errors(400, problems)
        with self._data_lock:
            invoice = self._store.invoices.get(invoice_id)
            if invoice is None:
                return self.error(404, f"Invoice {invoice_id} not found")
            if body:
                invoice.update(body)
                invoice["updated"] = _now()
            return jsonify({"data": self._render(invoice)})

    def _create_comment(self) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.error(400, "expected a JSON object")
        problems = _comment_problems(body)
        if problems:
            return self._errors(400, problems)
        entity_type, entity_id = body["entityType"], body["entityId"]
        with self._data_lock:
            if entity_type != INVOICE_ENTITY_TYPE or entity_id not in self._store.invoices:
                return self.error(404, f"{ENTITY_TYPES[entity_type].capitalize()} {entity_id} not found")
            comment = {
                "id": self._store.next_comment_id,
                "entityType": entity_type,
                "entityId": entity_id,
                "content": body["content"],
                "visibility": list(body["visibility"]),
                "created": _now(),
                "author": self._user(),
            }
            self._store.next_comment_id += 1
            self._store.comments.append(comment)
        return jsonify({"data": copy.deepcopy(comment)})

    def _list_comments(self) -> Response:
        try:
            entity_type = _int_param("entityType", None)
            entity_id = _int_param("entityId", None)
        except ValueError as exc:
            return self.error(400, str(exc))
        with self._data_lock:
            comments = [
                copy.deepcopy(c)
                for c in self._store.comments
                if entity_type in (None, c["entityType"]) and entity_id in (None, c["entityId"])
            ]
        return jsonify({"data": {"totalPages": 1 if comments else 0, "page": 1, "comments": comments}})

    def _expire_sessions(self) -> Response:
        return jsonify({"expired": self.expire_sessions()})

    # -- helpers ------------------------------------------------------------------------------------------

    def _errors(self, status: int, messages: list[str]) -> Response:
        response = jsonify({"messages": {"error": messages}})
        response.status_code = status
        return response

    def _user(self) -> dict[str, Any]:
        return {"id": 7, "username": self.username, "name": "Relay Integration", "email": self.username}

    def _drop_idle_sessions(self) -> None:
        now = time.monotonic()
        idle = [t for t, s in self._store.sessions.items() if now - s.last_seen > self.session_ttl_seconds]
        for token in idle:
            del self._store.sessions[token]

    def _render(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """The invoice as served: a copy with `uri` fields pointing at this server."""
        rendered = copy.deepcopy(invoice)
        base = self.base_url if self.running else "http://servicetrade-sandbox.invalid"
        if rendered.get("uri") is None:
            rendered["uri"] = f"{base}/api/invoice/{rendered['id']}"
        customer = rendered.get("customer")
        if isinstance(customer, dict) and customer.get("uri") is None and "id" in customer:
            customer["uri"] = f"{base}/api/company/{customer['id']}"
        return rendered


# -- request validation -----------------------------------------------------------------------------------


def _int_param(
    name: str, default: int | None, *, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}")
    return value


def _statuses_param() -> set[str] | None:
    raw = request.args.get("status")
    if not raw:
        return None
    statuses = {s.strip() for s in raw.split(",") if s.strip()}
    unknown = statuses - set(INVOICE_STATUSES)
    if unknown:
        raise ValueError(
            f"unknown invoice status {', '.join(sorted(unknown))}; expected {', '.join(INVOICE_STATUSES)}"
        )
    return statuses


def _invoice_update_problems(body: dict[str, Any]) -> list[str]:
    problems = [f"{key} cannot be updated" for key in body if key not in ("status", "invoiceNumber")]
    if "status" in body and body["status"] not in INVOICE_STATUSES:
        problems.append(f"status must be one of {', '.join(INVOICE_STATUSES)}")
    if "invoiceNumber" in body:
        number = body["invoiceNumber"]
        if not isinstance(number, str) or not 1 <= len(number) <= MAX_INVOICE_NUMBER_LENGTH:
            problems.append(f"invoiceNumber must be a string of 1 to {MAX_INVOICE_NUMBER_LENGTH} characters")
    return problems


def _comment_problems(body: dict[str, Any]) -> list[str]:
    problems = [
        f"unknown field {key}"
        for key in body
        if key not in ("entityType", "entityId", "content", "visibility")
    ]
    entity_type, entity_id = body.get("entityType"), body.get("entityId")
    if not _is_int(entity_type) or entity_type not in ENTITY_TYPES:
        problems.append(f"entityType must be one of {', '.join(map(str, ENTITY_TYPES))}")
    if not _is_int(entity_id):
        problems.append("entityId must be an integer")
    content = body.get("content")
    if not isinstance(content, str) or not content.strip():
        problems.append("content is required")
    elif len(content) > MAX_COMMENT_LENGTH:
        problems.append(f"content must be at most {MAX_COMMENT_LENGTH} characters")
    visibility = body.get("visibility")
    if not isinstance(visibility, list) or not all(isinstance(v, str) for v in visibility):
        problems.append("visibility is required: a list of tech, customer, vendor ([] = private)")
    elif set(visibility) - COMMENT_VISIBILITY:
        problems.append(f"visibility must be drawn from {', '.join(sorted(COMMENT_VISIBILITY))}")
    return problems


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _now() -> int:
    return int(time.time())


# -- demo data --------------------------------------------------------------------------------------------

_CUSTOMERS = [
    # id, name, account number, AP e-mail, phone, [(location id, name, street, city, state, zip, tax rate)]
    (55, "Acme Facilities", "C-0055", "ap@acme-facilities.example", "919-555-0142", [
        (77, "Acme HQ", "400 Fayetteville St", "Raleigh", "NC", "27601", "7.25"),
        (78, "Acme Distribution Center", "2100 Garner Rd", "Raleigh", "NC", "27610", "7.25"),
    ]),
    (61, "Triangle Property Group", "C-0061", "invoices@triangleprop.example", "919-555-0178", [
        (81, "Park Place Tower", "301 W Main St", "Durham", "NC", "27701", "7.5"),
        (82, "Brightleaf Lofts", "905 W Main St", "Durham", "NC", "27701", "7.5"),
    ]),
    (64, "Blue Ridge Medical Center", "C-0064", "payables@brmc.example", "828-555-0110", [
        (85, "Main Hospital", "1 Hospital Dr", "Asheville", "NC", "28801", "7.0"),
    ]),
    (70, "Harbor Point Apartments", "C-0070", "office@harborpoint.example", "910-555-0133", [
        (88, "Harbor Point Building A", "12 Water St", "Wilmington", "NC", "28401", "7.0"),
    ]),
    (73, "Queen City Hospitality LLC", "C-0073", "ap@qchospitality.example", "704-555-0190", [
        (91, "Uptown Grill", "210 N Tryon St", "Charlotte", "NC", "28202", "7.25"),
        (92, "South End Kitchen", "1500 South Blvd", "Charlotte", "NC", "28203", "7.25"),
    ]),
    (76, "Pine State Schools", "C-0076", "accounts@pinestate.k12.example", "336-555-0121", [
        (95, "Pine State Middle School", "800 Elm St", "Greensboro", "NC", "27401", "0"),  # tax exempt
    ]),
    (82, "Summit Logistics", "C-0082", "billing@summitlogistics.example", "919-555-0166", [
        (97, "Cary Cross-Dock", "5000 Weston Pkwy", "Cary", "NC", "27513", "7.25"),
    ]),
]  # fmt: skip

_SERVICE_LINES = [
    # (id, name, abbr), [(lib item id, code, description, price, taxable, quantities)]
    ((3, "Fire Extinguisher", "FE"), [
        (12, "FE-INSP", "Annual fire extinguisher inspection", "12.50", False, (4, 6, 9, 12, 25)),
        (13, "FE-6YR", "6-year maintenance, ABC extinguisher", "45.00", False, (1, 2, 3)),
        (14, "FE-NEW10", "New 10 lb ABC extinguisher", "89.95", True, (1, 2, 4)),
    ]),
    ((4, "Sprinkler", "SPR"), [
        (20, "SPR-INSP", "Quarterly sprinkler inspection", "275.00", False, (1,)),
        (21, "SPR-HEAD", "Replace pendant sprinkler head", "42.35", True, (1, 3, 6)),
    ]),
    ((5, "Fire Alarm", "FA"), [
        (25, "FA-INSP", "Annual fire alarm inspection", "350.00", False, (1,)),
        (26, "FA-SMOKE", "Replace photoelectric smoke detector", "64.15", True, (1, 2, 5)),
    ]),
    ((6, "Kitchen Hood", "KH"), [
        (30, "KH-CLEAN", "Kitchen exhaust hood cleaning", "425.00", False, (1,)),
        (31, "KH-LINK", "Replace fusible link", "18.65", True, (2, 4, 6)),
    ]),
    ((7, "Backflow", "BF"), [
        (35, "BF-TEST", "Annual backflow preventer test", "95.00", False, (1, 2)),
    ]),
    ((8, "Emergency Lighting", "EL"), [
        (38, "EL-INSP", "Emergency light inspection (per fixture)", "8.25", False, (10, 18, 36)),
        (39, "EL-BATT", "Replace emergency light battery", "23.45", True, (1, 3, 7)),
    ]),
]  # fmt: skip

_LABOUR = (40, "LAB-HR", "Technician labor (hours)", "92.50", False, ("0.5", "1", "1.5", "2.25", "3.25"))
_TERMS = [
    {"name": "Net 30", "days": 30},
    {"name": "Net 15", "days": 15},
    {"name": "Due on receipt", "days": 0},
]


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _number(value: Decimal) -> int | float:
    """A quantity as a JSON number: an integer when it is whole (2), else a float (1.5)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _amount(value: Decimal) -> float:
    """A money amount or rate as the JSON number ServiceTrade sends (125.0, 18.13)."""
    return float(value)


class _DemoBuilder:
    """Builds realistic invoices from one random generator (so a seed reproduces the whole account)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.next_item_id = 1

    def invoice(self, invoice_id: int, status: str, day: int, *, credit: bool) -> dict[str, Any]:
        rng = self.rng
        cust_id, cust_name, account, email, phone, locations = rng.choice(_CUSTOMERS)
        loc_id, loc_name, street, city, state, postal, rate = rng.choice(locations)
        transaction = _FIRST_DAY + dt.timedelta(days=day)
        created = transaction + dt.timedelta(hours=rng.randint(8, 17), minutes=rng.randint(0, 59))
        updated = created + dt.timedelta(minutes=rng.randint(1, 600))
        terms = rng.choice([*_TERMS, None])
        due = None
        if terms is not None and rng.random() < 0.4:
            due = int((transaction + dt.timedelta(days=terms["days"])).timestamp())
        items = self._credit_items() if credit else self._items()
        tax_rate = Decimal(rate)
        subtotal = sum((Decimal(str(i["totalPrice"])) for i in items), Decimal(0))
        taxable = sum((Decimal(str(i["totalPrice"])) for i in items if i["taxable"]), Decimal(0))
        total_tax = _money(taxable * tax_rate / 100)
        job = None if rng.random() < 0.15 else {"id": invoice_id - 100, "number": f"J-{invoice_id - 100}"}
        return {
            "id": invoice_id,
            "uri": None,
            "invoiceNumber": str(invoice_id),
            "type": "credit" if credit else "invoice",
            "status": status,
            "transactionDate": int(transaction.timestamp()),
            "dueDate": due,
            "paymentTerms": terms,
            "currency": "USD",
            "customer": {
                "id": cust_id,
                "name": cust_name,
                "uri": None,
                "email": email,
                "phone": phone,
                "accountNumber": account,
            },
            "vendor": {"id": 1, "name": "Relay Fire & Safety"},
            "location": {
                "id": loc_id,
                "name": loc_name,
                "address": {"street": street, "city": city, "state": state, "postalCode": postal},
            },
            "job": job,
            "poNumber": f"PO-{rng.randint(1000, 9999)}" if rng.random() < 0.5 else None,
            "items": items,
            "taxRate": _amount(tax_rate),
            "subtotal": _amount(subtotal),
            "totalTax": _amount(total_tax),
            "totalPrice": _amount(subtotal + total_tax),
            "created": int(created.timestamp()),
            "updated": int(updated.timestamp()),
        }

    def _items(self) -> list[dict[str, Any]]:
        rng = self.rng
        service_line, catalogue = rng.choice(_SERVICE_LINES)
        picks = rng.sample(catalogue, k=rng.randint(1, len(catalogue)))
        if rng.random() < 0.6:
            picks.append(_LABOUR)
        if len(picks) < 5 and rng.random() < 0.25:  # a second service line on the same visit
            other_line, other_catalogue = rng.choice(_SERVICE_LINES)
            return [
                *self._lines(service_line, picks[:4]),
                *self._lines(other_line, [rng.choice(other_catalogue)]),
            ]
        return self._lines(service_line, picks[:5])

    def _credit_items(self) -> list[dict[str, Any]]:
        service_line, catalogue = self.rng.choice(_SERVICE_LINES)
        lib_id, code, description, price, taxable, _ = self.rng.choice(catalogue)
        return [self._item(service_line, (lib_id, code, f"Credit: {description}", f"-{price}", taxable), "1")]

    def _lines(self, service_line: tuple[int, str, str], picks: list[tuple]) -> list[dict[str, Any]]:
        return [self._item(service_line, pick[:5], str(self.rng.choice(pick[5]))) for pick in picks]

    def _item(self, service_line: tuple[int, str, str], lib: tuple, quantity: str) -> dict[str, Any]:
        lib_id, code, description, price, taxable = lib
        qty, unit_price = Decimal(quantity), Decimal(price)
        item = {
            "id": self.next_item_id,
            "description": description,
            "quantity": _number(qty),
            "price": _amount(unit_price),
            "totalPrice": _amount(_money(qty * unit_price)),
            "taxable": taxable,
            "serviceLine": {"id": service_line[0], "name": service_line[1], "abbr": service_line[2]},
            "libItem": {"id": lib_id, "code": code},
        }
        self.next_item_id += 1
        return item


def _break(invoice: dict[str, Any], kind: str) -> None:
    """Damage a demo invoice in exactly one way."""
    if kind == "no_customer":
        invoice["customer"] = None
    elif kind == "bad_transaction_date":
        invoice["transactionDate"] = BAD_TRANSACTION_DATE
    elif kind == "unmapped_service_line":
        # Totals stay consistent: only the service line is unknown to every flat-file template.
        invoice["items"][0]["serviceLine"] = dict(UNMAPPED_SERVICE_LINE)
        invoice["items"][0]["libItem"] = {"id": 990, "code": "ZZ-MISC"}
    else:  # pragma: no cover - guarded by seed_demo_data
        raise ValueError(kind)
