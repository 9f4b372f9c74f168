"""Sandbox FreshBooks: OAuth 2.0 with rotating single-use refresh tokens, clients, items, invoices,
payments and webhook callbacks, in FreshBooks' envelopes and error shapes.

It behaves like our reading of FreshBooks' public API reference and its Python SDK (see the package
docstring of `invoice_relay.connectors.freshbooks`), so the adapter can be tested and demonstrated
without an account. Assumptions, to check against the real API before go-live:

- OAuth. `GET /oauth/authorize?client_id&response_type=code&redirect_uri&state` (the auth host; here the
  same server) behaves like a user who clicked "Allow": 302 to `redirect_uri?code=...&state=...`.
  Authorization codes live 5 minutes and are single-use. `POST /auth/oauth/token` (JSON or form body)
  with `grant_type` `authorization_code` (+ `code`, `redirect_uri`) or `refresh_token` (+
  `refresh_token`), always with `client_id` and `client_secret`, answers `{access_token, token_type:
  "Bearer", expires_in, refresh_token, scope, created_at}`. Access tokens expire after
  `access_token_ttl_seconds` (default 12 h). Refresh tokens never expire but are single-use: each
  refresh returns a new pair and a used (or unknown, or revoked) refresh token gets 400
  `{"error": "invalid_grant", ...}`. Wrong app credentials → 401 `invalid_client`. Access tokens
  issued before a refresh stay valid until they expire.
- Every `/accounting/...` and `/events/...` call needs `Authorization: Bearer <valid token>`, else 401
  `{"errno": 401, "message": "invalid_token: ..."}` (the shape of the SDK's fixture). An account id
  other than the sandbox's → 404.
- Accounting answers `{"response": {"result": {...}}}`; lists add `page`, `pages`, `per_page` (default
  15, capped at 100; page 0 → 1; a non-number → 400) and `total` and show active records (`vis_state`
  0) unless `search[vis_state]` says otherwise. Errors are `{"response": {"errors": [{"errno", "field",
  "message", "object", "value"}]}}` with 404 (errno 1012, as in the SDK's fixture) or 422 (validation;
  our errno values there are placeholders). Unknown fields in a request are refused (422): stricter
  than FreshBooks, to catch mapping typos. So are JSON floats where FreshBooks documents decimal strings
  (money amounts).
- Clients (`users/clients`): email unique among active clients, case-insensitively (422 errno 1003,
  field `email`) — an assumption that lets tests lose a duplicate-email race; `search[email]` (equals,
  case-insensitive), `search[organization_like]`.
- Items (`items/items`): `name` required; `search[sku]` (equals), `search[updated_min]` (YYYY-MM-DD, day
  granularity: items updated on or after that day).
- Invoices (`invoices/invoices`): `customerid` (an existing client) and `create_date` required; lines
  `{type 0, name, description, qty, unit_cost {amount, code = the invoice's currency}, taxName1,
  taxAmount1 (a percentage 0..100)}`; FreshBooks computes each line's `amount`, the taxes per (name,
  percentage) on the sum of those lines (half-up to cents), `amount`, `outstanding`, `due_date`
  (create_date + due_offset_days) and numbers invoices 0000001, 0000002, ... Created as draft (status 1).
  Filters: `search[customerid]`, `search[invoice_number]`, `search[date_min]`/`search[date_max]`
  (inclusive, on create_date). Newest first. `include[]=lines` adds the lines on a GET by id.
- Payments (`payments/payments`): `invoiceid`, `amount` {amount > 0, code = the invoice's}, `date`,
  `type` (one of `PAYMENT_TYPES`), `note`; paying updates the invoice's `paid`, `outstanding` and status
  (8 partial, 4 paid). Filter `search[invoiceid]`.
- Callbacks (`/events/account/<id>/events/callbacks`): create `{"callback": {"event", "uri"}}` → the
  sandbox at once POSTs a verification form (`name=callback.verify`, `object_id`, `verifier`,
  `account_id`, `business_id`, `identity_id`, `user_id`) to the URI, before answering; `PUT {"callback":
  {"verifier"}}` verifies, `{"callback": {"resend": true}}` sends the verification again. Event names
  are checked for shape only (`noun` or `noun.verb`; a bare noun receives all its events). Errors here
  are `{"errno", "message", "details": [...]}` (the SDK's fixture). `send_event()` POSTs
  `name, object_id, account_id, business_id, identity_id, user_id` as a form to every verified matching
  callback, signed `X-FreshBooks-Hmac-SHA256: base64(HMAC-SHA256(verifier, json.dumps(form)))` (the
  formula FreshBooks documents, Python `json.dumps` with its default separators, fields in that order).

Python control API for tests: `app_credentials()`, `authorize()`, `expire_access_tokens()`,
`revoke_refresh_tokens()`, `refresh_grants_used`, `add_client()`, `add_item()`, `seed_demo_catalog()`,
`clients()`, `items()`, `invoices()`, `payments()`, `callbacks()`, `send_event()`, `deliveries`, plus
the fault injection, request log and rate limit of `SandboxServer`.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
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
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Response, has_request_context, jsonify, redirect, request

from .base import SandboxServer

ACCOUNT_ID = "zRlQ7M"
BUSINESS_ID = 77001
IDENTITY_ID = 9001
USER_ID = 1
SANDBOX_CLIENT_ID = "invoice-relay-sandbox-app"
ACCESS_TOKEN_TTL_SECONDS = 12 * 3600
AUTHORIZATION_CODE_TTL_SECONDS = 300
SCOPE = "user:profile:read user:clients:read user:clients:write user:billable_items:read "
SCOPE += (
    "user:billable_items:write user:invoices:read user:invoices:write user:payments:read user:payments:write"
)
DEFAULT_PER_PAGE, MAX_PER_PAGE = 15, 100
SIGNATURE_HEADER = "X-FreshBooks-Hmac-SHA256"
INVALID_TOKEN_MESSAGE = "invalid_token: The request token failed to authenticate or validate."
SEMANTIC_ERROR_MESSAGE = "The request was well-formed but was unable to be followed due to semantic errors."

ERRNO_NOT_FOUND = 1012
ERRNO_INVALID = 1001
ERRNO_DUPLICATE_EMAIL = 1003

PAYMENT_TYPES = (
    "2Checkout", "ACH", "AMEX", "Bank Transfer", "Cash", "Check", "Credit", "Credit Card", "Debit",
    "DINERS", "DISCOVER", "EUROCARD", "JCB", "MASTERCARD", "NOVA", "Other", "PayPal", "VISA",
)  # fmt: skip

CLIENT_FIELDS = {
    "fname", "lname", "email", "organization", "bus_phone", "mob_phone", "home_phone", "fax",
    "p_street", "p_street2", "p_city", "p_province", "p_code", "p_country",
    "s_street", "s_street2", "s_city", "s_province", "s_code", "s_country",
    "currency_code", "language", "note", "vat_name", "vat_number", "vis_state",
}  # fmt: skip
ITEM_FIELDS = {"name", "description", "sku", "unit_cost", "qty", "inventory", "tax1", "tax2", "vis_state"}
INVOICE_FIELDS = {
    "customerid", "create_date", "due_offset_days", "currency_code", "po_number", "notes", "terms",
    "lines", "invoice_number", "discount_value", "language", "fname", "lname", "organization",
}  # fmt: skip
LINE_FIELDS = {
    "type", "name", "description", "qty", "unit_cost", "taxName1", "taxAmount1", "taxName2", "taxAmount2",
    "expenseid",
}  # fmt: skip
PAYMENT_FIELDS = {"invoiceid", "amount", "date", "type", "note", "send_client_notification"}

DEMO_ITEMS = (
    ("TEE-BLK-M", "Organic tee, black, M", "24.00"),
    ("TEE-WHT-L", "Organic tee, white, L", "24.00"),
    ("MUG-12OZ", "Ceramic mug 12 oz", "14.50"),
    ("CAP-NAVY", "Baseball cap, navy", "19.99"),
    ("STICKER-PACK", "Sticker pack (10)", "6.00"),
)

_CENT = Decimal("0.01")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EVENT = re.compile(r"^[a-z_]+(\.[A-Za-z_]+)?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    expires_at: float
    scope: str


class _Invalid(Exception):
    """Validation problems, answered 422 in FreshBooks' error format."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__("; ".join(e["message"] for e in errors))
        self.errors = errors


def _problem(message: str, field: str | None = None, obj: str | None = None, value: Any = None) -> dict:
    return {"errno": ERRNO_INVALID, "field": field, "message": message, "object": obj, "value": value}


class FreshBooksSandbox(SandboxServer):
    """The sandbox FreshBooks API (see the module docstring), controllable from Python."""

    name = "freshbooks"

    def __init__(
        self,
        *,
        account_id: str = ACCOUNT_ID,
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str | None = None,
        redirect_uri: str | None = None,
        access_token_ttl_seconds: float = ACCESS_TOKEN_TTL_SECONDS,
        callback_timeout_seconds: float = 5.0,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_per_second: int | None = None,
    ):
        super().__init__(host=host, port=port, rate_limit_per_second=rate_limit_per_second)
        self.account_id = account_id
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.redirect_uri = redirect_uri  # None: any redirect URI is accepted
        self.access_token_ttl_seconds = access_token_ttl_seconds
        self.callback_timeout_seconds = callback_timeout_seconds
        self._data_lock = threading.RLock()
        self._clear_data()
        self._register_routes()

    # -- Python control API: OAuth ------------------------------------------------------------------------

    def app_credentials(
        self, redirect_uri: str = "https://relay.example/freshbooks/callback"
    ) -> dict[str, str]:
        """What the connector's `oauth_app_secret` holds for this sandbox app."""
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uri": self.redirect_uri or redirect_uri,
        }

    def authorize(self, redirect_uri: str, scope: str = SCOPE) -> str:
        """An authorization code, as if a user had clicked "Allow" for `redirect_uri`."""
        code = secrets.token_urlsafe(24)
        with self._data_lock:
            self._codes[code] = _Code(
                self.client_id, redirect_uri, time.time() + AUTHORIZATION_CODE_TTL_SECONDS, scope
            )
        return code

    def expire_access_tokens(self) -> int:
        """Make every access token issued so far expired. Returns how many were valid."""
        now = time.time()
        with self._data_lock:
            valid = sum(1 for expires_at in self._access_tokens.values() if expires_at > now)
            self._access_tokens = dict.fromkeys(self._access_tokens, now - 1)
        return valid

    def revoke_refresh_tokens(self) -> int:
        """Kill every unused refresh token (as if the user disconnected the app). Returns how many."""
        with self._data_lock:
            live = [t for t, used in self._refresh_tokens.items() if not used]
            self._refresh_tokens = dict.fromkeys(self._refresh_tokens, True)
        return len(live)

    @property
    def refresh_grants_used(self) -> int:
        """Successful `refresh_token` grants so far (each one burned a refresh token)."""
        with self._data_lock:
            return sum(1 for g in self._grants if g["grant_type"] == "refresh_token" and g["status"] == 200)

    @property
    def token_grants(self) -> list[dict[str, Any]]:
        """Every token request: grant type, HTTP status and error (no tokens)."""
        with self._data_lock:
            return copy.deepcopy(self._grants)

    def is_valid_access_token(self, token: str) -> bool:
        with self._data_lock:
            return self._access_tokens.get(token, 0) > time.time()

    # -- Python control API: data -------------------------------------------------------------------------

    def add_client(self, **fields: Any) -> dict[str, Any]:
        """Store a client as given (no uniqueness check). Returns it as the API serves it."""
        with self._data_lock:
            client = self._new_client(fields)
            return copy.deepcopy(client)

    def add_item(
        self, sku: str | None, name: str, unit_cost: str = "0.00", code: str = "USD", **fields: Any
    ) -> dict[str, Any]:
        """Store an item. Returns it as the API serves it."""
        with self._data_lock:
            item = self._new_item(
                {"name": name, "sku": sku, "unit_cost": {"amount": unit_cost, "code": code}, **fields}
            )
            return copy.deepcopy(item)

    def seed_demo_catalog(self) -> list[dict[str, Any]]:
        """The demo shop's catalog (`DEMO_ITEMS`) as FreshBooks items."""
        return [self.add_item(sku, name, price) for sku, name, price in DEMO_ITEMS]

    def clients(self) -> list[dict[str, Any]]:
        with self._data_lock:
            return [copy.deepcopy(c) for _, c in sorted(self._clients.items())]

    def items(self) -> list[dict[str, Any]]:
        with self._data_lock:
            return [copy.deepcopy(i) for _, i in sorted(self._items.items())]

    def invoices(self) -> list[dict[str, Any]]:
        """Every invoice with its lines, oldest first."""
        with self._data_lock:
            return [copy.deepcopy(i) for _, i in sorted(self._invoices.items())]

    def invoice(self, invoice_id: int) -> dict[str, Any]:
        with self._data_lock:
            return copy.deepcopy(self._invoices[int(invoice_id)])

    def payments(self, invoice_id: int | None = None) -> list[dict[str, Any]]:
        with self._data_lock:
            return [
                copy.deepcopy(p)
                for _, p in sorted(self._payments.items())
                if invoice_id is None or p["invoiceid"] == int(invoice_id)
            ]

    def callbacks(self) -> list[dict[str, Any]]:
        """Registered callbacks including their verifiers (copies)."""
        with self._data_lock:
            return [copy.deepcopy(c) for _, c in sorted(self._callbacks.items())]

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        """Requests the sandbox sent to callback URIs: verification and events, with the answer status."""
        with self._data_lock:
            return copy.deepcopy(self._deliveries)

    def send_event(self, event: str, object_id: int | str, *, user_id: int = USER_ID) -> list[dict[str, Any]]:
        """POST a signed event to every verified callback subscribed to it. Returns the deliveries."""
        with self._data_lock:
            targets = [
                copy.deepcopy(c)
                for _, c in sorted(self._callbacks.items())
                if c["verified"] and c["event"] in (event, event.split(".", 1)[0])
            ]
        form = {
            "name": event,
            "object_id": str(object_id),
            "account_id": self.account_id,
            "business_id": str(BUSINESS_ID),
            "identity_id": str(IDENTITY_ID),
            "user_id": str(user_id),
        }
        return [self._deliver(c, form, signed=True) for c in targets]

    @staticmethod
    def signature(verifier: str, form: dict[str, str]) -> str:
        """FreshBooks' webhook signature: base64(HMAC-SHA256(verifier, json.dumps(form fields)))."""
        message = json.dumps({k: str(v) for k, v in form.items()})
        digest = hmac.new(verifier.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def reset(self) -> None:
        super().reset()
        self._clear_data()

    def error_body(self, status: int, message: str) -> Any:
        path = request.path if has_request_context() else ""
        if status == 401 or path.startswith("/events/"):
            return {"errno": status, "message": message, "details": []}
        if path.startswith("/auth/") or path.startswith("/oauth/"):
            return {"error": "invalid_request", "error_description": message}
        return {
            "response": {
                "errors": [
                    {"errno": status, "field": None, "message": message, "object": None, "value": None}
                ]
            }
        }

    # -- state --------------------------------------------------------------------------------------------

    def _clear_data(self) -> None:
        with self._data_lock:
            self._codes: dict[str, _Code] = {}
            self._access_tokens: dict[str, float] = {}
            self._refresh_tokens: dict[str, bool] = {}  # token → used
            self._grants: list[dict[str, Any]] = []
            self._clients: dict[int, dict[str, Any]] = {}
            self._items: dict[int, dict[str, Any]] = {}
            self._invoices: dict[int, dict[str, Any]] = {}
            self._payments: dict[int, dict[str, Any]] = {}
            self._callbacks: dict[int, dict[str, Any]] = {}
            self._deliveries: list[dict[str, Any]] = []
            self._next_id = {
                "client": 101,
                "item": 5001,
                "invoice": 300001,
                "payment": 700001,
                "callback": 2001,
            }
            self._next_line_id = 1
            self._next_invoice_number = 1

    def _take_id(self, kind: str) -> int:
        value = self._next_id[kind]
        self._next_id[kind] += 1
        return value

    # -- routes -------------------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        app = self.app
        app.before_request(self._require_token)
        app.add_url_rule("/oauth/authorize", view_func=self._authorize_page, methods=["GET"])
        app.add_url_rule("/auth/oauth/token", view_func=self._token, methods=["POST"])
        accounting = "/accounting/account/<account_id>"
        rules = [
            ("users/clients", self._list_clients, self._create_client, self._get_client, self._update_client),
            ("items/items", self._list_items, self._create_item, self._get_item, self._update_item),
            ("invoices/invoices", self._list_invoices, self._create_invoice, self._get_invoice, None),
            ("payments/payments", self._list_payments, self._create_payment, self._get_payment, None),
        ]
        for path, list_view, create_view, get_view, update_view in rules:
            base = f"{accounting}/{path}"
            app.add_url_rule(base, endpoint=f"list {path}", view_func=list_view, methods=["GET"])
            app.add_url_rule(base, endpoint=f"create {path}", view_func=create_view, methods=["POST"])
            app.add_url_rule(
                f"{base}/<int:record_id>", endpoint=f"get {path}", view_func=get_view, methods=["GET"]
            )
            if update_view is not None:
                app.add_url_rule(
                    f"{base}/<int:record_id>",
                    endpoint=f"update {path}",
                    view_func=update_view,
                    methods=["PUT"],
                )
        callbacks = "/events/account/<account_id>/events/callbacks"
        app.add_url_rule(callbacks, view_func=self._list_callbacks, methods=["GET"])
        app.add_url_rule(callbacks, view_func=self._create_callback, methods=["POST"])
        app.add_url_rule(f"{callbacks}/<int:record_id>", view_func=self._get_callback, methods=["GET"])
        app.add_url_rule(f"{callbacks}/<int:record_id>", view_func=self._update_callback, methods=["PUT"])
        app.add_url_rule(f"{callbacks}/<int:record_id>", view_func=self._delete_callback, methods=["DELETE"])
        app.add_url_rule("/_sandbox/expire-tokens", view_func=self._expire_tokens_http, methods=["POST"])

    def _require_token(self) -> Response | None:
        if not (request.path.startswith("/accounting/") or request.path.startswith("/events/")):
            return None
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if not token or not self.is_valid_access_token(token):
            return self.error(
                401, INVALID_TOKEN_MESSAGE, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        account_id = (request.view_args or {}).get("account_id")
        if account_id is not None and account_id != self.account_id:
            return self.error(404, f"Account {account_id} not found")
        return None

    def _expire_tokens_http(self) -> Response:
        return jsonify({"expired": self.expire_access_tokens()})

    # -- OAuth ------------------------------------------------------------------------------------------

    def _authorize_page(self) -> Response:
        args = request.args
        if args.get("client_id") != self.client_id:
            return self._oauth_error(400, "invalid_client", "Unknown client_id")
        if args.get("response_type") != "code":
            return self._oauth_error(400, "unsupported_response_type", "response_type must be code")
        redirect_uri = args.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")):
            return self._oauth_error(400, "invalid_request", "redirect_uri is required")
        if self.redirect_uri is not None and redirect_uri != self.redirect_uri:
            return self._oauth_error(400, "invalid_request", "redirect_uri does not match the app's")
        code = self.authorize(redirect_uri, args.get("scope") or SCOPE)
        query = {"code": code}
        if args.get("state") is not None:
            query["state"] = args["state"]
        separator = "&" if "?" in redirect_uri else "?"
        return redirect(f"{redirect_uri}{separator}{urlencode(query)}", code=302)

    def _token(self) -> Response:
        body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        body = body if isinstance(body, dict) else {}
        grant_type = str(body.get("grant_type", ""))
        response = self._grant(grant_type, body)
        with self._data_lock:
            error = response.get_json(silent=True) or {}
            self._grants.append(
                {"grant_type": grant_type, "status": response.status_code, "error": error.get("error")}
            )
        return response

    def _grant(self, grant_type: str, body: dict[str, Any]) -> Response:
        if not (
            secrets.compare_digest(str(body.get("client_id", "")), self.client_id)
            and secrets.compare_digest(str(body.get("client_secret", "")), self.client_secret)
        ):
            return self._oauth_error(401, "invalid_client", "Client authentication failed")
        with self._data_lock:
            if grant_type == "authorization_code":
                code = self._codes.pop(str(body.get("code", "")), None)
                if code is None or code.expires_at < time.time():
                    return self._oauth_error(
                        400, "invalid_grant", "The authorization code is invalid or expired"
                    )
                if code.redirect_uri != body.get("redirect_uri"):
                    return self._oauth_error(
                        400, "invalid_grant", "redirect_uri does not match the authorization"
                    )
                return jsonify(self._issue_tokens(code.scope))
            if grant_type == "refresh_token":
                token = str(body.get("refresh_token", ""))
                if self._refresh_tokens.get(token, True):  # unknown or already used
                    return self._oauth_error(
                        400,
                        "invalid_grant",
                        "The provided authorization grant is invalid, expired, revoked, or was issued to "
                        "another client",
                    )
                self._refresh_tokens[token] = True
                return jsonify(self._issue_tokens(SCOPE))
        return self._oauth_error(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    def _issue_tokens(self, scope: str) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = time.time()
        self._access_tokens[access] = now + self.access_token_ttl_seconds
        self._refresh_tokens[refresh] = False
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(self.access_token_ttl_seconds),
            "refresh_token": refresh,
            "scope": scope,
            "created_at": int(now),
        }

    def _oauth_error(self, status: int, error: str, description: str) -> Response:
        response = jsonify({"error": error, "error_description": description})
        response.status_code = status
        return response

    # -- clients ----------------------------------------------------------------------------------------

    def _list_clients(self, account_id: str) -> Response:
        email = request.args.get("search[email]")
        like = (request.args.get("search[organization_like]") or "").casefold()
        with self._data_lock:
            records = [
                c
                for c in self._visible(self._clients.values())
                if (email is None or c["email"].casefold() == email.strip().casefold())
                and (not like or like in c["organization"].casefold())
            ]
            return self._page(records, "clients")

    def _create_client(self, account_id: str) -> Response:
        try:
            fields = self._fields("client", CLIENT_FIELDS)
            self._check_client(fields, None)
            if not any(str(fields.get(k) or "").strip() for k in ("fname", "lname", "organization", "email")):
                raise _Invalid(
                    [_problem("A client needs a name, an organization or an email", "organization", "client")]
                )
            with self._data_lock:
                self._check_unique_email(fields.get("email"), None)
                client = self._new_client(fields)
                return self._result({"client": client})
        except _Invalid as invalid:
            return self._invalid(invalid)

    def _get_client(self, account_id: str, record_id: int) -> Response:
        with self._data_lock:
            client = self._clients.get(record_id)
            if client is None:
                return self._not_found("client", "userid", record_id, "Client not found.")
            return self._result({"client": client})

    def _update_client(self, account_id: str, record_id: int) -> Response:
        try:
            fields = self._fields("client", CLIENT_FIELDS)
            self._check_client(fields, record_id)
            with self._data_lock:
                client = self._clients.get(record_id)
                if client is None:
                    return self._not_found("client", "userid", record_id, "Client not found.")
                self._check_unique_email(fields.get("email"), record_id)
                client.update({k: ("" if v is None and k != "vis_state" else v) for k, v in fields.items()})
                client["updated"] = _now_text()
                return self._result({"client": client})
        except _Invalid as invalid:
            return self._invalid(invalid)

    def _check_client(self, fields: dict[str, Any], record_id: int | None) -> None:
        problems = []
        for key, value in fields.items():
            if key == "vis_state":
                if value not in (0, 1, 2):
                    problems.append(_problem("vis_state must be 0, 1 or 2", key, "client", value))
            elif value is not None and not isinstance(value, str):
                problems.append(_problem(f"{key} must be a string", key, "client", value))
        email = fields.get("email")
        if isinstance(email, str) and email and not _EMAIL.match(email):
            problems.append(_problem("Invalid email address", "email", "client", email))
        code = fields.get("currency_code")
        if isinstance(code, str) and code and not _CURRENCY.match(code):
            problems.append(
                _problem("currency_code must be a 3-letter code", "currency_code", "client", code)
            )
        if problems:
            raise _Invalid(problems)

    def _check_unique_email(self, email: Any, record_id: int | None) -> None:
        if not isinstance(email, str) or not email.strip():
            return
        for client in self._visible(self._clients.values()):
            if client["id"] != record_id and client["email"].casefold() == email.strip().casefold():
                raise _Invalid(
                    [
                        {
                            "errno": ERRNO_DUPLICATE_EMAIL,
                            "field": "email",
                            "message": "A client with this email address already exists.",
                            "object": "client",
                            "value": email,
                        }
                    ]
                )

    def _new_client(self, fields: dict[str, Any]) -> dict[str, Any]:
        client_id = self._take_id("client")
        client = {key: "" for key in CLIENT_FIELDS if key != "vis_state"}
        client.update({k: ("" if v is None else v) for k, v in fields.items() if k in CLIENT_FIELDS})
        client.update(
            {
                "id": client_id,
                "userid": client_id,
                "accounting_systemid": self.account_id,
                "currency_code": fields.get("currency_code") or "USD",
                "language": fields.get("language") or "en",
                "role": "client",
                "vis_state": fields.get("vis_state", 0),
                "signup_date": _now_text(),
                "updated": _now_text(),
            }
        )
        self._clients[client_id] = client
        return client

    # -- items --------------------------------------------------------------------------------------------

    def _list_items(self, account_id: str) -> Response:
        sku = request.args.get("search[sku]")
        updated_min = request.args.get("search[updated_min]")
        try:
            since = dt.date.fromisoformat(updated_min) if updated_min else None
        except ValueError:
            return self.error(400, "updated_min must be YYYY-MM-DD")
        with self._data_lock:
            records = [
                i
                for i in self._visible(self._items.values())
                if (sku is None or i["sku"] == sku)
                and (since is None or dt.date.fromisoformat(i["updated"][:10]) >= since)
            ]
            return self._page(records, "items")

    def _create_item(self, account_id: str) -> Response:
        try:
            fields = self._fields("item", ITEM_FIELDS)
            self._check_item(fields, creating=True)
            with self._data_lock:
                return self._result({"item": self._new_item(fields)})
        except _Invalid as invalid:
            return self._invalid(invalid)

    def _get_item(self, account_id: str, record_id: int) -> Response:
        with self._data_lock:
            item = self._items.get(record_id)
            if item is None:
                return self._not_found("item", "itemid", record_id, "Item not found.")
            return self._result({"item": item})

    def _update_item(self, account_id: str, record_id: int) -> Response:
        try:
            fields = self._fields("item", ITEM_FIELDS)
            self._check_item(fields, creating=False)
            with self._data_lock:
                item = self._items.get(record_id)
                if item is None:
                    return self._not_found("item", "itemid", record_id, "Item not found.")
                item.update(_item_values(fields))
                item["updated"] = _now_text()
                return self._result({"item": item})
        except _Invalid as invalid:
            return self._invalid(invalid)

    def _check_item(self, fields: dict[str, Any], *, creating: bool) -> None:
        problems = []
        name = fields.get("name")
        if (creating or "name" in fields) and (not isinstance(name, str) or not name.strip()):
            problems.append(_problem("name is required", "name", "item", name))
        for key in ("description", "sku"):
            if fields.get(key) is not None and not isinstance(fields[key], str):
                problems.append(_problem(f"{key} must be a string", key, "item", fields[key]))
        if "unit_cost" in fields:
            problems += _money_problems(fields["unit_cost"], "unit_cost", "item")
        if "vis_state" in fields and fields["vis_state"] not in (0, 1, 2):
            problems.append(_problem("vis_state must be 0, 1 or 2", "vis_state", "item", fields["vis_state"]))
        if problems:
            raise _Invalid(problems)

    def _new_item(self, fields: dict[str, Any]) -> dict[str, Any]:
        item_id = self._take_id("item")
        item = {
            "id": item_id,
            "itemid": item_id,
            "accounting_systemid": self.account_id,
            "name": "",
            "description": "",
            "sku": None,
            "unit_cost": {"amount": "0.00", "code": "USD"},
            "qty": "0",
            "inventory": None,
            "tax1": 0,
            "tax2": 0,
            "vis_state": 0,
            "updated": _now_text(),
        }
        item.update(_item_values(fields))
        self._items[item_id] = item
        return item

    # -- invoices -------------------------------------------------------------------------------------

    def _list_invoices(self, account_id: str) -> Response:
        args = request.args
        try:
            customer_id = int(args["search[customerid]"]) if "search[customerid]" in args else None
            date_min = dt.date.fromisoformat(args["search[date_min]"]) if "search[date_min]" in args else None
            date_max = dt.date.fromisoformat(args["search[date_max]"]) if "search[date_max]" in args else None
        except ValueError as exc:
            return self.error(400, f"invalid search parameter: {exc}")
        number = args.get("search[invoice_number]")
        with self._data_lock:
            records = [
                _without_lines(i)
                for _, i in sorted(self._invoices.items(), reverse=True)
                if _visible_state(i)
                and (customer_id is None or i["customerid"] == customer_id)
                and (number is None or i["invoice_number"] == number)
                and (date_min is None or dt.date.fromisoformat(i["create_date"]) >= date_min)
                and (date_max is None or dt.date.fromisoformat(i["create_date"]) <= date_max)
            ]
            return self._page(records, "invoices")

    def _create_invoice(self, account_id: str) -> Response:
        try:
            fields = self._fields("invoice", INVOICE_FIELDS)
            with self._data_lock:
                invoice = self._new_invoice(fields)
                return self._result({"invoice": invoice})
        except _Invalid as invalid:
            return self._invalid(invalid)

    def _get_invoice(self, account_id: str, record_id: int) -> Response:
        with self._data_lock:
            invoice = self._invoices.get(record_id)
            if invoice is None:
                return self._not_found("invoice", "invoiceid", record_id, "Invoice not found.")
            with_lines = "lines" in request.args.getlist("include[]")
            return self._result({"invoice": invoice if with_lines else _without_lines(invoice)})

    def _new_invoice(self, fields: dict[str, Any]) -> dict[str, Any]:
        problems: list[dict[str, Any]] = []
        client = _by_id(self._clients, fields.get("customerid"))
        if client is None:
            problems.append(_problem("Client not found.", "customerid", "invoice", fields.get("customerid")))
        create_date = _date_field(fields, "create_date", "invoice", problems, required=True)
        offset = fields.get("due_offset_days", 0)
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            problems.append(
                _problem("due_offset_days must be a whole number ≥ 0", "due_offset_days", "invoice", offset)
            )
            offset = 0
        currency = fields.get("currency_code") or (client or {}).get("currency_code") or "USD"
        if not isinstance(currency, str) or not _CURRENCY.match(currency):
            problems.append(
                _problem("currency_code must be a 3-letter code", "currency_code", "invoice", currency)
            )
        for key in ("po_number", "notes", "terms", "invoice_number"):
            if fields.get(key) is not None and not isinstance(fields[key], str):
                problems.append(_problem(f"{key} must be a string", key, "invoice", fields[key]))
        number = fields.get("invoice_number")
        if number and any(i["invoice_number"] == number for i in self._invoices.values()):
            problems.append(_problem("Invoice number already exists", "invoice_number", "invoice", number))
        raw_lines = fields.get("lines", [])
        if not isinstance(raw_lines, list):
            problems.append(_problem("lines must be a list", "lines", "invoice", None))
            raw_lines = []
        lines = [self._line(line, n, currency, problems) for n, line in enumerate(raw_lines, start=1)]
        if problems:
            raise _Invalid(problems)
        assert client is not None and create_date is not None
        invoice_id = self._take_id("invoice")
        if not number:
            number = f"{self._next_invoice_number:07d}"
            self._next_invoice_number += 1
        subtotal = sum((Decimal(line["amount"]["amount"]) for line in lines), Decimal(0))
        total = subtotal + _taxes(lines)
        invoice = {
            "id": invoice_id,
            "invoiceid": invoice_id,
            "accountid": self.account_id,
            "accounting_systemid": self.account_id,
            "invoice_number": number,
            "customerid": client["id"],
            "fname": client["fname"],
            "lname": client["lname"],
            "organization": client["organization"],
            "email": client["email"],
            "create_date": create_date.isoformat(),
            "due_offset_days": offset,
            "due_date": (create_date + dt.timedelta(days=offset)).isoformat(),
            "currency_code": currency,
            "amount": {"amount": _money_text(total), "code": currency},
            "outstanding": {"amount": _money_text(total), "code": currency},
            "paid": {"amount": "0.00", "code": currency},
            "discount_value": "0",
            "status": 1,
            "v3_status": "draft",
            "payment_status": "unpaid",
            "display_status": "draft",
            "po_number": fields.get("po_number"),
            "notes": fields.get("notes") or "",
            "terms": fields.get("terms") or "",
            "lines": lines,
            "vis_state": 0,
            "created_at": _now_text(),
            "updated": _now_text(),
        }
        self._invoices[invoice_id] = invoice
        return invoice

    def _line(self, line: Any, n: int, currency: str, problems: list[dict[str, Any]]) -> dict[str, Any]:
        where = f"lines[{n}]"
        if not isinstance(line, dict):
            problems.append(_problem(f"{where} must be an object", where, "line", None))
            return {"amount": {"amount": "0", "code": currency}}
        unknown = sorted(set(line) - LINE_FIELDS)
        problems += [_problem(f"Unknown field {where}.{k}", f"{where}.{k}", "line", None) for k in unknown]
        if line.get("type", 0) not in (0, 1):
            problems.append(
                _problem(f"{where}.type must be 0 or 1", f"{where}.type", "line", line.get("type"))
            )
        qty = _decimal(line.get("qty", 1))
        if qty is None:
            problems.append(
                _problem(f"{where}.qty must be a number", f"{where}.qty", "line", line.get("qty"))
            )
            qty = Decimal(0)
        unit = line.get("unit_cost")
        money_problems = _money_problems(unit, f"{where}.unit_cost", "line")
        problems += money_problems
        unit_amount = Decimal(0)
        if not money_problems:
            unit_amount = Decimal(str(unit["amount"]))
            if unit.get("code", currency) != currency:
                problems.append(
                    _problem(
                        f"{where}.unit_cost code must be the invoice currency {currency}",
                        f"{where}.unit_cost",
                        "line",
                        unit.get("code"),
                    )
                )
        for tax in ("1", "2"):
            percent, tax_name = line.get(f"taxAmount{tax}"), line.get(f"taxName{tax}")
            if percent is None:
                continue
            value = _decimal(percent)
            if value is None or not Decimal(0) <= value <= Decimal(100):
                problems.append(
                    _problem(
                        f"{where}.taxAmount{tax} is a percentage (0..100)",
                        f"{where}.taxAmount{tax}",
                        "line",
                        percent,
                    )
                )
            elif value and not (isinstance(tax_name, str) and tax_name.strip()):
                problems.append(
                    _problem(
                        f"{where}.taxName{tax} is required with a tax", f"{where}.taxName{tax}", "line", None
                    )
                )
        self._next_line_id += 1
        return {
            "lineid": self._next_line_id,
            "type": line.get("type", 0),
            "name": line.get("name") or "",
            "description": line.get("description") or "",
            "qty": str(line.get("qty", 1)),
            "unit_cost": {"amount": str(unit_amount if money_problems else unit["amount"]), "code": currency},
            "amount": {"amount": _money_text(qty * unit_amount), "code": currency},
            "taxName1": line.get("taxName1") or "",
            "taxAmount1": str(line.get("taxAmount1") or "0"),
            "taxName2": line.get("taxName2") or "",
            "taxAmount2": str(line.get("taxAmount2") or "0"),
        }

    # -- payments -----------------------------------------------------------------------------------------

    def _list_payments(self, account_id: str) -> Response:
        invoice_id = request.args.get("search[invoiceid]")
        with self._data_lock:
            records = [
                p
                for _, p in sorted(self._payments.items())
                if _visible_state(p) and (invoice_id is None or str(p["invoiceid"]) == invoice_id)
            ]
            return self._page(records, "payments")

    def _create_payment(self, account_id: str) -> Response:
        try:
            fields = self._fields("payment", PAYMENT_FIELDS)
            with self._data_lock:
                return self._result({"payment": self._new_payment(fields)})
        except _Invalid as invalid:
            return self._invalid(invalid)

    def _get_payment(self, account_id: str, record_id: int) -> Response:
        with self._data_lock:
            payment = self._payments.get(record_id)
            if payment is None:
                return self._not_found("payment", "paymentid", record_id, "Payment not found.")
            return self._result({"payment": payment})

    def _new_payment(self, fields: dict[str, Any]) -> dict[str, Any]:
        problems: list[dict[str, Any]] = []
        invoice = _by_id(self._invoices, fields.get("invoiceid"))
        if invoice is None:
            problems.append(_problem("Invoice not found.", "invoiceid", "payment", fields.get("invoiceid")))
        money_problems = _money_problems(fields.get("amount"), "amount", "payment")
        problems += money_problems
        if not money_problems and Decimal(str(fields["amount"]["amount"])) <= 0:
            problems.append(
                _problem("amount must be greater than 0", "amount", "payment", fields["amount"]["amount"])
            )
        if (
            invoice is not None
            and not money_problems
            and fields["amount"].get("code") != invoice["currency_code"]
        ):
            problems.append(
                _problem(
                    "amount code must be the invoice currency",
                    "amount",
                    "payment",
                    fields["amount"].get("code"),
                )
            )
        date = _date_field(fields, "date", "payment", problems, required=True)
        payment_type = fields.get("type", "Other")
        if payment_type not in PAYMENT_TYPES:
            problems.append(
                _problem(f"type must be one of {', '.join(PAYMENT_TYPES)}", "type", "payment", payment_type)
            )
        if fields.get("note") is not None and not isinstance(fields["note"], str):
            problems.append(_problem("note must be a string", "note", "payment", fields["note"]))
        if problems:
            raise _Invalid(problems)
        assert invoice is not None and date is not None
        amount = Decimal(str(fields["amount"]["amount"]))
        payment_id = self._take_id("payment")
        payment = {
            "id": payment_id,
            "logid": payment_id,
            "invoiceid": invoice["id"],
            "clientid": invoice["customerid"],
            "accounting_systemid": self.account_id,
            "amount": {"amount": _money_text(amount), "code": invoice["currency_code"]},
            "date": date.isoformat(),
            "type": payment_type,
            "note": fields.get("note") or "",
            "vis_state": 0,
            "updated": _now_text(),
        }
        self._payments[payment_id] = payment
        paid = Decimal(invoice["paid"]["amount"]) + amount
        outstanding = max(Decimal(0), Decimal(invoice["amount"]["amount"]) - paid)
        invoice["paid"]["amount"] = _money_text(paid)
        invoice["outstanding"]["amount"] = _money_text(outstanding)
        status = ("paid", 4) if outstanding == 0 else ("partial", 8)
        invoice["v3_status"] = invoice["payment_status"] = invoice["display_status"] = status[0]
        invoice["status"] = status[1]
        invoice["updated"] = _now_text()
        return payment

    # -- callbacks ------------------------------------------------------------------------------------------

    def _list_callbacks(self, account_id: str) -> Response:
        with self._data_lock:
            return self._page([_public_callback(c) for _, c in sorted(self._callbacks.items())], "callbacks")

    def _create_callback(self, account_id: str) -> Response:
        body = request.get_json(silent=True)
        spec = body.get("callback") if isinstance(body, dict) else None
        if not isinstance(spec, dict):
            return self._events_error(400, ['callback: expected {"callback": {"event", "uri"}}'])
        details = []
        event, uri = spec.get("event"), spec.get("uri")
        if not isinstance(event, str) or not _EVENT.match(event):
            details.append("event: Value error, Unrecognized event.")
        if not isinstance(uri, str) or not re.match(r"^https?://[^/\s]+", uri):
            details.append("uri: Input should be a valid URL")
        if details:
            return self._events_error(422, details)
        with self._data_lock:
            callback_id = self._take_id("callback")
            callback = {
                "callbackid": callback_id,
                "id": callback_id,
                "event": event,
                "uri": uri,
                "verified": False,
                "verifier": secrets.token_hex(16),
                "updated_at": _now_iso(),
            }
            self._callbacks[callback_id] = callback
            public = _public_callback(callback)
        self._send_verification(callback)  # outside the lock: the receiver may call us back right away
        return self._result({"callback": public})

    def _get_callback(self, account_id: str, record_id: int) -> Response:
        with self._data_lock:
            callback = self._callbacks.get(record_id)
            if callback is None:
                return self._events_error(404, ["callback: not found"])
            return self._result({"callback": _public_callback(callback)})

    def _update_callback(self, account_id: str, record_id: int) -> Response:
        body = request.get_json(silent=True)
        spec = body.get("callback") if isinstance(body, dict) else None
        if not isinstance(spec, dict):
            return self._events_error(
                400, ['callback: expected {"callback": {"verifier"} | {"resend": true}}']
            )
        with self._data_lock:
            callback = self._callbacks.get(record_id)
            if callback is None:
                return self._events_error(404, ["callback: not found"])
            resend = spec.get("resend") is True
            if not resend:
                verifier = spec.get("verifier")
                if not isinstance(verifier, str) or not secrets.compare_digest(
                    verifier, callback["verifier"]
                ):
                    return self._events_error(422, ["verifier: Value error, verifier does not match"])
                callback["verified"] = True
                callback["updated_at"] = _now_iso()
            snapshot = copy.deepcopy(callback)
        if resend:
            self._send_verification(snapshot)
        return self._result({"callback": _public_callback(snapshot)})

    def _delete_callback(self, account_id: str, record_id: int) -> Response | tuple[str, int]:
        with self._data_lock:
            if self._callbacks.pop(record_id, None) is None:
                return self._events_error(404, ["callback: not found"])
        return "", 204

    def _send_verification(self, callback: dict[str, Any]) -> dict[str, Any]:
        form = {
            "name": "callback.verify",
            "object_id": str(callback["callbackid"]),
            "verifier": callback["verifier"],
            "account_id": self.account_id,
            "business_id": str(BUSINESS_ID),
            "identity_id": str(IDENTITY_ID),
            "user_id": str(USER_ID),
        }
        return self._deliver(callback, form, signed=False)

    def _deliver(self, callback: dict[str, Any], form: dict[str, str], *, signed: bool) -> dict[str, Any]:
        headers = {SIGNATURE_HEADER: self.signature(callback["verifier"], form)} if signed else {}
        delivery: dict[str, Any] = {
            "callback_id": callback["callbackid"],
            "uri": callback["uri"],
            "form": {k: ("[redacted]" if k == "verifier" else v) for k, v in form.items()},
            "signed": signed,
        }
        try:
            answer = requests.post(
                callback["uri"], data=form, headers=headers, timeout=self.callback_timeout_seconds
            )
            delivery["status"] = answer.status_code
        except requests.RequestException as exc:
            delivery["error"] = type(exc).__name__
        with self._data_lock:
            self._deliveries.append(delivery)
        return copy.deepcopy(delivery)

    def _events_error(self, status: int, details: list[str]) -> Response:
        message = SEMANTIC_ERROR_MESSAGE if status == 422 else "The request could not be processed."
        response = jsonify({"errno": status, "message": message, "details": details})
        response.status_code = status
        return response

    # -- helpers ---------------------------------------------------------------------------------------

    def _fields(self, name: str, allowed: set[str]) -> dict[str, Any]:
        """The `{"<name>": {...}}` body's record, unknown fields refused."""
        body = request.get_json(silent=True)
        record = body.get(name) if isinstance(body, dict) else None
        if not isinstance(record, dict):
            raise _Invalid([_problem(f'expected a JSON body {{"{name}": {{...}}}}', name, name, None)])
        unknown = sorted(set(record) - allowed)
        if unknown:
            raise _Invalid([_problem(f"Unknown field {k}", k, name, None) for k in unknown])
        return record

    def _visible(self, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        wanted = request.args.get("search[vis_state]")
        return sorted(
            (
                r
                for r in records
                if (str(r.get("vis_state", 0)) == wanted if wanted is not None else _visible_state(r))
            ),
            key=lambda r: r["id"],
        )

    def _page(self, records: list[dict[str, Any]], key: str) -> Response:
        try:
            page = int(request.args.get("page", 1))
            per_page = int(request.args.get("per_page", DEFAULT_PER_PAGE))
        except ValueError:
            return self.error(400, "page and per_page must be numbers")
        if page < 0 or per_page < 1:
            return self.error(400, "page and per_page must be positive numbers")
        page, per_page = max(page, 1), min(per_page, MAX_PER_PAGE)
        window = records[(page - 1) * per_page : page * per_page]
        return self._result(
            {
                key: copy.deepcopy(window),
                "page": page,
                "pages": math.ceil(len(records) / per_page),
                "per_page": per_page,
                "total": len(records),
            }
        )

    def _result(self, result: dict[str, Any]) -> Response:
        return jsonify({"response": {"result": copy.deepcopy(result)}})

    def _invalid(self, invalid: _Invalid) -> Response:
        response = jsonify({"response": {"errors": invalid.errors}})
        response.status_code = 422
        return response

    def _not_found(self, obj: str, field: str, value: Any, message: str) -> Response:
        error = {
            "errno": ERRNO_NOT_FOUND,
            "field": field,
            "message": message,
            "object": obj,
            "value": str(value),
        }
        response = jsonify({"response": {"errors": [error]}})
        response.status_code = 404
        return response


# -- module helpers -----------------------------------------------------------------------------------------


def _by_id(records: dict[int, dict[str, Any]], value: Any) -> dict[str, Any] | None:
    """The record whose id is `value` (an int or a string of digits), or None."""
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    return records.get(int(text)) if text.isdigit() else None


def _item_values(fields: dict[str, Any]) -> dict[str, Any]:
    values = dict(fields)
    if "unit_cost" in values:
        cost = values["unit_cost"]
        values["unit_cost"] = {
            "amount": _money_text(Decimal(str(cost["amount"]))),
            "code": cost.get("code", "USD"),
        }
    for key in ("description",):
        if key in values and values[key] is None:
            values[key] = ""
    return values


def _money_problems(value: Any, field: str, obj: str) -> list[dict[str, Any]]:
    if not isinstance(value, dict) or "amount" not in value:
        return [_problem(f"{field} must be {{amount, code}}", field, obj, None)]
    amount, code = value["amount"], value.get("code")
    problems = []
    if isinstance(amount, float):
        problems.append(_problem(f"{field}.amount must be a decimal string, not a float", field, obj, amount))
    elif _decimal(amount) is None:
        problems.append(_problem(f"{field}.amount must be a decimal string", field, obj, amount))
    if code is not None and (not isinstance(code, str) or not _CURRENCY.match(code)):
        problems.append(_problem(f"{field}.code must be a 3-letter currency code", field, obj, code))
    return problems


def _date_field(
    fields: dict[str, Any], key: str, obj: str, problems: list[dict[str, Any]], *, required: bool
) -> dt.date | None:
    value = fields.get(key)
    if value is None:
        if required:
            problems.append(_problem(f"{key} is required", key, obj, None))
        return None
    try:
        if not isinstance(value, str) or len(value) != len("YYYY-MM-DD"):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.append(_problem(f"{key} must be a date YYYY-MM-DD", key, obj, value))
        return None


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _money_text(amount: Decimal) -> str:
    return f"{amount.quantize(_CENT, rounding=ROUND_HALF_UP):f}"


def _taxes(lines: list[dict[str, Any]]) -> Decimal:
    """Tax per (name, percentage) on the sum of the lines carrying it, half-up to cents."""
    bases: dict[tuple[str, Decimal], Decimal] = {}
    for line in lines:
        for n in ("1", "2"):
            percent = _decimal(line.get(f"taxAmount{n}"))
            if percent:
                key = (line.get(f"taxName{n}") or "", percent)
                bases[key] = bases.get(key, Decimal(0)) + Decimal(line["amount"]["amount"])
    return sum(
        (
            (base * percent / 100).quantize(_CENT, rounding=ROUND_HALF_UP)
            for (_, percent), base in bases.items()
        ),
        Decimal(0),
    )


def _without_lines(invoice: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in invoice.items() if k != "lines"}


def _visible_state(record: dict[str, Any]) -> bool:
    return record.get("vis_state", 0) == 0


def _public_callback(callback: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in callback.items() if k != "verifier"}


def _now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
