"""Sandbox ServiceTrade API: OAuth 2.0 client credentials or a legacy session, the paged invoice listing,
invoice updates (status, number, external ids) and comments.

It behaves like our reading of the real API (https://api.servicetrade.com/api/docs), so the source in
`invoice_relay.partners.servicetrade` can be tested and demonstrated without an account. Where a public
source gives a name or a rule it is cited; the rest are assumptions to check before go-live (the same as
the package docstring of `invoice_relay.partners.servicetrade`).

- OAuth 2.0 client credentials: `POST /api/oauth2/token` with `grant_type=client_credentials`,
  `client_id`, `client_secret`, form-encoded (as servicetrade/servicetrade-python-sdk `client.py` sends
  them) or JSON (as servicetrade/servicetrade-nodejs-sdk does: "The SDK exchanges these for a bearer
  token via `POST /api/oauth2/token` with `grant_type=client_credentials`") → `{"access_token",
  "token_type": "Bearer", "expires_in"}` (assumption: the SDKs read only `access_token`; the token is a
  JWT whose `exp` claim they read, so `expires_in` can be left out with `send_expires_in=False`). Wrong
  or missing client credentials → 401 `{"error": "invalid_client"}`; another grant type → 400
  `{"error": "unsupported_grant_type"}`. Every `/api` call accepts `Authorization: Bearer <token>` (both
  SDKs send it); an unknown or expired token → 401. Tokens live `token_ttl_seconds`.
- Legacy session ("a legacy authentication mode that will be removed in a future release. Use Client
  Credentials instead", servicetrade-nodejs-sdk README): `POST /api/auth` `{"username", "password"}` →
  200 `{"data": {"authenticated": true, "user": {...}}}` plus `Set-Cookie: PHPSESSID=<token>` (the API
  docs sample: `Cookie: PHPSESSID=some_access_token_from_the_auth_endpoint`); wrong credentials → 403.
  `DELETE /api/auth` ends the session (204). Every other `/api` call without a live session or a valid
  bearer token → 401, including `DELETE /api/auth` itself. Sessions expire after an idle TTL; like the
  real one (its FAQ), a user keeps a limited number of sessions and the oldest are dropped first.
- Errors are `{"messages": {"error": ["<reason>", ...]}}` with a 4xx/5xx status (OAuth token errors use
  the RFC 6749 shape `{"error", "error_description"}`).
- `GET /api/invoice?status=a,b&type=t&page=p&limit=n` → `{"data": {"totalPages": N, "page": p,
  "invoices": [...]}}`, ordered by id, limit 1..2000 (default 100; "Results per page (default and maximum
  2000)" in third-party tool schemas of the API; above → 400), page from 1 (paging by `page` with
  `totalPages` in the answer, as the SDKs' paginators read it); a page past the end is an empty list with
  the real totalPages; no match at all → totalPages 0. `status` and `type` take comma-separated values;
  unknown values → 400; other query parameters are ignored. (Assumption: the public docs show no `type`
  filter, which is why the client also passes over other types itself; `filters_by_type=False` makes
  the sandbox ignore `type` like an unknown parameter, to test that.)
- Statuses: `draft, ok, internal_review, pending_accounting, processed, failed, sent, paid, void` (support
  articles "Invoice Status Definitions" and "Technical Guide to Invoicing Integrations"; only
  pending_accounting, processed and failed are spelled out as API values there).
- Types: `invoice`, `vendorbill`, `external` (assumption). A credit is an `invoice` with negative prices
  and totals. A record without a type counts as an invoice in the filter.
- `PUT /api/invoice/{id}` accepts only `status` (one of the statuses), `invoiceNumber` (string, 1..30
  characters) and `externalIds` (an object of external system name → id, merged into the invoice's;
  system names are lower-case and start with a letter, "External IDs must be unique" — support articles
  on External Systems and External IDs; the request shape is an assumption); anything else → 400. A
  change sets `updated` to now.
- `POST /api/comment` `{"entityType", "entityId", "content", "visibility"}`: invoice comments use entity
  type `INVOICE_ENTITY_TYPE` (6, from a third-party listing of ServiceTrade entity types: Asset 2, Job 3,
  Invoice 6, Quote 9, Deficiency 10, Location 11 — unverified). `visibility` is a list drawn from
  {"public", "tech", "schedule", "billing"} (third-party tool schema; the support article "ServiceTrade
  Comment Types": private or "Everyone", plus Tech, Scheduling and Billing flags); an empty list is a
  private comment. The sandbox *requires* `visibility` (the real default is unknown and may be public): a
  client that forgets it must fail here rather than show a failure reason to a customer. `content`
  1..5000 characters; the entity must exist. `GET /api/comment?entityType=&entityId=` →
  `{"data": {"totalPages", "page", "comments": [...]}}`.
- Invoice resource: see `seed.sample_invoice()`. Timestamps are Unix seconds (UTC); `transactionDate` is
  midnight of the transaction day in the account's time zone (US Eastern here), so its UTC date is the
  transaction day. Money is sent as JSON numbers; line `totalPrice` = quantity × price rounded half-up to
  cents; `totalTax` = taxRate % of the sum of the taxable lines' totals, rounded half-up (one invoice-level
  rate).

Python control API: `client_credentials()`, `expire_tokens()`, `tokens_issued`, `expire_sessions()`,
`active_sessions`, `add_invoice()`, `invoice()`, `invoices()`, `comments_for()`, `seed_demo_data()`, plus
faults, the request log and rate limits from the base. HTTP: `POST /_sandbox/expire-sessions`,
`POST /_sandbox/expire-tokens`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from flask import Response, g, jsonify, request

from ..base import SandboxServer
from .seed import FIRST_ID, DemoData, demo_account
from .store import (
    DEFAULT_LIMIT,
    ENTITY_TYPES,
    INVOICE_ENTITY_TYPE,
    INVOICE_STATUSES,
    INVOICE_TYPES,
    MAX_LIMIT,
    ServiceTradeStore,
    choices,
    comment_problems,
)

SESSION_COOKIE = "PHPSESSID"
SANDBOX_USERNAME = "relay-integration@example.com"
SANDBOX_PASSWORD = "sandbox-password"  # a sandbox on loopback; not a secret
SANDBOX_CLIENT_ID = "invoice-relay-sandbox"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"  # a sandbox on loopback; not a secret
TOKEN_PATH = "/api/oauth2/token"
TOKEN_TTL_SECONDS = 3600
_OPEN_ROUTES = {("POST", "/api/auth"), ("POST", TOKEN_PATH)}


class ServiceTradeSandbox(SandboxServer):
    """The sandbox ServiceTrade API (see the module docstring), controllable from Python.

    Invoices, comments, sessions and tokens live in memory (`store.ServiceTradeStore`);
    `seed_demo_data()` fills a realistic account.
    """

    name = "servicetrade"

    def __init__(
        self,
        *,
        username: str = SANDBOX_USERNAME,
        password: str = SANDBOX_PASSWORD,
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str = SANDBOX_CLIENT_SECRET,
        session_ttl_seconds: float = 30 * 60,
        max_sessions_per_user: int = 20,
        token_ttl_seconds: float = TOKEN_TTL_SECONDS,
        send_expires_in: bool = True,
        filters_by_type: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_per_second: int | None = None,
    ):
        super().__init__(host=host, port=port, rate_limit_per_second=rate_limit_per_second)
        self.username = username
        self.password = password
        self.client_id = client_id
        self.client_secret = client_secret
        self.session_ttl_seconds = session_ttl_seconds
        self.max_sessions_per_user = max_sessions_per_user
        self.token_ttl_seconds = token_ttl_seconds
        self.send_expires_in = send_expires_in
        self.filters_by_type = filters_by_type
        self.demo: DemoData | None = None
        self._store = ServiceTradeStore()
        self._register_routes()

    # -- Python control API -------------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        return {"messages": {"error": [message]}}

    def client_credentials(self) -> dict[str, str]:
        """The secret of a connector that uses OAuth 2.0 client credentials (as stored in Secrets Manager)."""
        return {"client_id": self.client_id, "client_secret": self.client_secret}

    def add_invoice(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """Store an invoice as given (it may be malformed on purpose), filling only a missing id, uri,
        created and updated. Returns the stored invoice as the API would serve it."""
        return self.invoice(self._store.add_invoice(invoice, FIRST_ID))

    def invoice(self, invoice_id: int) -> dict[str, Any]:
        """The invoice as the API serves it (a copy). KeyError if unknown."""
        invoice = self._store.invoice(invoice_id)
        if invoice is None:
            raise KeyError(invoice_id)
        return self._render(invoice)

    def invoices(self) -> list[dict[str, Any]]:
        """Every invoice as the API serves it, by id (copies)."""
        return [self._render(inv) for inv in self._store.invoices()]

    def comments_for(self, invoice_id: int) -> list[dict[str, Any]]:
        """Comments on an invoice, oldest first (copies)."""
        return self._store.comments(INVOICE_ENTITY_TYPE, invoice_id)

    def expire_sessions(self) -> int:
        """End every session now (as if they had timed out). Returns how many there were."""
        return self._store.expire_sessions()

    @property
    def active_sessions(self) -> int:
        return self._store.active_sessions(self.session_ttl_seconds)

    def expire_tokens(self) -> int:
        """Make every access token issued so far expired. Returns how many were still valid."""
        return self._store.expire_tokens()

    @property
    def tokens_issued(self) -> int:
        """Access tokens handed out so far."""
        return self._store.tokens_issued

    @property
    def broken_invoice_ids(self) -> frozenset[int]:
        """Ids of the invoices `seed_demo_data()` broke on purpose."""
        return self.demo.broken_ids if self.demo else frozenset()

    def reset(self) -> None:
        """Forget invoices, comments, sessions, tokens, faults and logged requests."""
        super().reset()
        self._store = ServiceTradeStore()
        self.demo = None

    def seed_demo_data(
        self,
        count: int = 50,
        broken: bool | int | Iterable[str] = True,
        *,
        seed: int = 1042,
        credits: int = 2,
        vendor_bills: int = 0,
        external_invoices: int = 0,
    ) -> DemoData:
        """Replace all invoices with a deterministic demo account (same `seed` → same data).

        `count` pending_accounting invoices, `credits` of them credits (negative prices and totals), plus
        eight in other statuses (processed, draft, ok) interleaved by id. `broken=True` breaks three
        pending invoices, one way each (BROKEN_KINDS); a number breaks that many (the first kinds), a list
        of kinds those, and False or 0 none. `vendor_bills` and `external_invoices` add that many records
        of type `vendorbill` / `external` in pending_accounting after the invoices (`DemoData.other_types`;
        not in `pending_ids`); the invoices are the same with or without them.
        """
        invoices, demo = demo_account(
            count,
            broken,
            seed=seed,
            credits=credits,
            vendor_bills=vendor_bills,
            external_invoices=external_invoices,
        )
        self._store.replace_invoices(invoices)
        self.demo = demo
        return demo

    # -- HTTP API -----------------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        app = self.app
        app.before_request(self._require_credentials)
        app.add_url_rule(TOKEN_PATH, view_func=self._token, methods=["POST"])
        app.add_url_rule("/api/auth", view_func=self._login, methods=["POST"])
        app.add_url_rule("/api/auth", view_func=self._logout, methods=["DELETE"])
        app.add_url_rule("/api/auth", view_func=self._whoami, methods=["GET"])
        app.add_url_rule("/api/invoice", view_func=self._list_invoices, methods=["GET"])
        app.add_url_rule("/api/invoice/<int:invoice_id>", view_func=self._get_invoice, methods=["GET"])
        app.add_url_rule("/api/invoice/<int:invoice_id>", view_func=self._update_invoice, methods=["PUT"])
        app.add_url_rule("/api/comment", view_func=self._create_comment, methods=["POST"])
        app.add_url_rule("/api/comment", view_func=self._list_comments, methods=["GET"])
        app.add_url_rule("/_sandbox/expire-sessions", view_func=self._expire_sessions, methods=["POST"])
        app.add_url_rule("/_sandbox/expire-tokens", view_func=self._expire_tokens, methods=["POST"])

    def _require_credentials(self) -> Response | None:
        """A bearer token (when the request carries one) or else a live session cookie."""
        if not request.path.startswith("/api/") or (request.method, request.path) in _OPEN_ROUTES:
            return None
        g.session_token = None
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            if not self._store.token_valid(header[7:].strip()):
                return self.error(
                    401,
                    "Invalid or expired access token",
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            return None
        token = request.cookies.get(SESSION_COOKIE) or ""
        if self._store.use_session(token, self.session_ttl_seconds) is None:
            return self.error(401, "Authentication required")
        g.session_token = token
        return None

    def _token(self) -> Response:
        body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        body = body if isinstance(body, dict) else {}
        client_id, client_secret = body.get("client_id"), body.get("client_secret")
        if not (
            secrets.compare_digest(str(client_id or "").encode(), self.client_id.encode())
            and secrets.compare_digest(str(client_secret or "").encode(), self.client_secret.encode())
        ):
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        if body.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported here")
        answer: dict[str, Any] = {
            "access_token": self._store.issue_token(self.client_id, self.token_ttl_seconds),
            "token_type": "Bearer",
        }
        if self.send_expires_in:
            answer["expires_in"] = int(self.token_ttl_seconds)
        return jsonify(answer)

    def _login(self) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not body.get("username") or not body.get("password"):
            return self.error(400, "username and password are required")
        if not (
            secrets.compare_digest(str(body["username"]), self.username)
            and secrets.compare_digest(str(body["password"]), self.password)
        ):
            return self.error(403, "Invalid username or password")
        token = self._store.open_session(self.username, self.max_sessions_per_user)
        response = jsonify({"data": {"authenticated": True, "user": self._user()}})
        response.set_cookie(SESSION_COOKIE, token, path="/", httponly=True)
        return response

    def _logout(self) -> Response:
        self._store.end_session(g.session_token)
        response = Response(status=204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def _whoami(self) -> Response:
        return jsonify({"data": {"authenticated": True, "user": self._user()}})

    def _list_invoices(self) -> Response:
        try:
            page = _int_param("page", 1, minimum=1) or 1
            limit = _int_param("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT) or DEFAULT_LIMIT
            statuses = choices(request.args.get("status"), INVOICE_STATUSES, "status")
            types = choices(request.args.get("type"), INVOICE_TYPES, "type") if self.filters_by_type else None
        except ValueError as exc:
            return self.error(400, str(exc))
        total_pages, window = self._store.invoice_page(statuses, types, page, limit)
        invoices = [self._render(inv) for inv in window]
        return jsonify({"data": {"totalPages": total_pages, "page": page, "invoices": invoices}})

    def _get_invoice(self, invoice_id: int) -> Response:
        invoice = self._store.invoice(invoice_id)
        if invoice is None:
            return self.error(404, f"Invoice {invoice_id} not found")
        return jsonify({"data": self._render(invoice)})

    def _update_invoice(self, invoice_id: int) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.error(400, "expected a JSON object")
        problems = self._store.update_problems(invoice_id, body)
        if problems:
            return self._errors(400, problems)
        invoice = self._store.update_invoice(invoice_id, body)
        if invoice is None:
            return self.error(404, f"Invoice {invoice_id} not found")
        return jsonify({"data": self._render(invoice)})

    def _create_comment(self) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.error(400, "expected a JSON object")
        problems = comment_problems(body)
        if problems:
            return self._errors(400, problems)
        comment = self._store.add_comment(body, self._user())
        if comment is None:
            entity = ENTITY_TYPES[body["entityType"]].capitalize()
            return self.error(404, f"{entity} {body['entityId']} not found")
        return jsonify({"data": comment})

    def _list_comments(self) -> Response:
        try:
            entity_type = _int_param("entityType", None)
            entity_id = _int_param("entityId", None)
        except ValueError as exc:
            return self.error(400, str(exc))
        comments = self._store.comments(entity_type, entity_id)
        return jsonify({"data": {"totalPages": 1 if comments else 0, "page": 1, "comments": comments}})

    def _expire_sessions(self) -> Response:
        return jsonify({"expired": self.expire_sessions()})

    def _expire_tokens(self) -> Response:
        return jsonify({"expired": self.expire_tokens()})

    # -- helpers ------------------------------------------------------------------------------------------

    def _errors(self, status: int, messages: list[str]) -> Response:
        response = jsonify({"messages": {"error": messages}})
        response.status_code = status
        return response

    def _user(self) -> dict[str, Any]:
        return {"id": 7, "username": self.username, "name": "Relay Integration", "email": self.username}

    def _render(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """The invoice as served (the store hands out copies): `uri` fields point at this server."""
        base = self.base_url if self.running else "http://servicetrade-sandbox.invalid"
        if invoice.get("uri") is None:
            invoice["uri"] = f"{base}/api/invoice/{invoice['id']}"
        customer = invoice.get("customer")
        if isinstance(customer, dict) and customer.get("uri") is None and "id" in customer:
            customer["uri"] = f"{base}/api/company/{customer['id']}"
        return invoice


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


def _oauth_error(status: int, code: str, description: str) -> Response:
    """An RFC 6749 §5.2 error answer of the token endpoint."""
    response = jsonify({"error": code, "error_description": description})
    response.status_code = status
    return response
