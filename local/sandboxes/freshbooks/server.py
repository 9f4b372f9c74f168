"""Sandbox FreshBooks: OAuth 2.0 with rotating single-use refresh tokens and scopes, clients, items,
invoices, payments and webhook callbacks, in FreshBooks' envelopes and error shapes.

It behaves like our reading of FreshBooks' public API reference and its SDKs (see the package docstring
of `invoice_relay.partners.freshbooks`), so the adapter can be tested and demonstrated without an
account. Records and their rules are in `store.py`, demo data in `seed.py`. Assumptions, to check against
the real API before go-live:

- OAuth. `GET /oauth/authorize?client_id&response_type=code&redirect_uri&state[&scope]` (the auth host;
  here the same server) behaves like a user who clicked "Allow": 302 to `redirect_uri?code=...&state=...`.
  Authorization codes live 5 minutes and are single-use. `POST /auth/oauth/token` takes
  `application/x-www-form-urlencoded` (what FreshBooks' Python SDK sends: `requests.post(url, payload)`)
  or JSON (what its Node SDK sends), `grant_type` `authorization_code` (+ `code`) or `refresh_token` (+
  `refresh_token`), always with `client_id`, `client_secret` and `redirect_uri` (the SDK sends and
  requires all three on both grants; missing → 400 `invalid_request`, not the authorization's → 400
  `invalid_grant`). The answer is `{access_token, token_type: "Bearer", expires_in, refresh_token, scope,
  created_at}` (the SDK's `auth_token_response.json`). Access tokens expire after
  `access_token_ttl_seconds` (default 12 h). Refresh tokens never expire but are single-use: each refresh
  returns a new pair with the same scopes, and a used (or unknown, or revoked) refresh token gets 400
  `{"error": "invalid_grant", ...}`. Wrong app credentials → 401 `invalid_client`. Access tokens issued
  before a refresh stay valid until they expire. `token_grants` records every token request: grant type,
  status, error, content type and the names (never the values) of its fields.
- Scopes (https://www.freshbooks.com/api/scopes). The consent page grants the app's scopes (`app_scopes`,
  default `SCOPE` = the layer's `oauth.SCOPES`), narrowed to the `scope` parameter when one is sent
  (ASSUMPTION). A token keeps its scopes across refreshes. A call whose scope the token lacks — clients
  `user:clients:*`, items `user:billable_items:*`, invoices `user:invoices:*`, payments
  `user:payments:*`; `read` for GET, `write` otherwise; a callback `user:<its event's object>:read` — is
  403 `{"message": "insufficient_scope: The request requires higher privileges than provided by the
  access token. Provided: ['...']. Required: ['...']."}` (https://www.freshbooks.com/api/how-to-find-the-
  right-scopes-for-your-app; the body as quoted in PipedreamHQ/pipedream issue 9744).
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
  percentage) on the sum of those lines (half-up to cents), `amount`, `outstanding` and `paid`
  (`{"amount": "<decimal string>", "code"}`), `payment_status` (`unpaid`, `partial`, `paid`), `due_date`
  (create_date + due_offset_days) and numbers invoices 0000001, 0000002, ... Created as draft (status 1)
  (fields as in the Java SDK's `get_invoice_response.json`). Filters: `search[customerid]`,
  `search[invoice_number]`, `search[date_min]`/`search[date_max]` (inclusive, on create_date). Newest
  first. `include[]=lines` adds the lines on a GET by id.
- Payments (`payments/payments`, `GET .../payments/<id>`): `invoiceid`, `amount` {amount > 0, code = the
  invoice's}, `date`, `type` (one of `PAYMENT_TYPES`), `note`; paying updates the invoice's `paid`,
  `outstanding`, `payment_status`/`v3_status` and `status` (8 partial, 4 paid), and `date_paid` once paid.
  Filter `search[invoiceid]`. A created payment sends `payment.create` (object_id = the payment id) to
  the verified callbacks subscribed to it (or to `payment`): by default before the payment is answered,
  so a test sees the event as soon as the call returns; with `events_in_background` (FreshBooks' own
  way) after it, in a thread (`wait_for_events()` waits for those).
- Callbacks (`/events/account/<id>/events/callbacks`): create `{"callback": {"event", "uri"}}` → the
  sandbox at once POSTs a verification form (`name=callback.verify`, `object_id`, `verifier`,
  `account_id`, `business_id`, `identity_id`, `user_id`) to the URI, before answering; `PUT {"callback":
  {"verifier"}}` verifies, `{"callback": {"resend": true}}` sends the verification again. Event names are
  FreshBooks' own (`store.EVENT_NAMES`: `<noun>.create|update|delete`, `invoice.sendByEmail`,
  `estimate.sendByEmail`, or a bare noun for all its events; there is no `invoice.paid`); anything else is
  HTTP 400 `{"errno": 422, "message": "The request was well-formed but was unable to be followed due to
  semantic errors.", "details": ["event: Value error, Unrecognized event."]}` (the Python SDK's fixture
  `create_callback_response__validation_error.json`, which its test mocks with status 400); an unknown
  callback is 404 `{"errno": 404, "message": "Requested resource could not be found."}`. `send_event()`
  POSTs `name, object_id, account_id, business_id, identity_id, user_id` as a form to every verified
  matching callback, signed `X-FreshBooks-Hmac-SHA256: base64(HMAC-SHA256(verifier, json.dumps(form)))`
  (the formula FreshBooks documents, Python `json.dumps` with its default separators, fields in that
  order).

Python control API for tests: `app_credentials()`, `authorize()`, `set_app_scopes()`,
`expire_access_tokens()`, `revoke_refresh_tokens()`, `refresh_grants_used`, `token_grants`, `issued_tokens()`,
`is_valid_access_token()`, `add_client()`, `add_item()`, `add_callback()`, `seed_demo_catalog()`,
`seed_demo_callback()`, `clients()`, `items()`, `invoices()`, `invoice()`, `payments()`, `callbacks()`,
`send_event()`, `wait_for_events()`, `deliveries`, plus the fault injection, request log and rate limit
of `SandboxServer`.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import hashlib
import hmac
import json
import math
import secrets
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Response, g, has_request_context, jsonify, redirect, request

from ..base import SandboxServer
from ..oauth import GrantRefused, grant_entry
from . import seed
from .store import (
    CLIENT_FIELDS,
    ERRNO_NOT_FOUND,
    INVOICE_FIELDS,
    ITEM_FIELDS,
    PAYMENT_FIELDS,
    SCOPE,
    CallbackRefused,
    FreshBooksStore,
    Invalid,
    callback_problems,
    event_scope,
    insufficient_scope_message,
    is_known_event,
    problem,
    public_callback,
    required_scope,
    without_lines,
)

ACCOUNT_ID = "zRlQ7M"
BUSINESS_ID = 77001
IDENTITY_ID = 9001
USER_ID = 1
SANDBOX_CLIENT_ID = "invoice-relay-sandbox-app"
ACCESS_TOKEN_TTL_SECONDS = 12 * 3600
AUTHORIZATION_CODE_TTL_SECONDS = 300
DEFAULT_PER_PAGE, MAX_PER_PAGE = 15, 100
SIGNATURE_HEADER = "X-FreshBooks-Hmac-SHA256"
INVALID_TOKEN_MESSAGE = "invalid_token: The request token failed to authenticate or validate."
SEMANTIC_ERROR_MESSAGE = "The request was well-formed but was unable to be followed due to semantic errors."
NOT_FOUND_MESSAGE = "Requested resource could not be found."
PAYMENT_CREATED = "payment.create"
DEMO_ITEMS = seed.DEMO_ITEMS


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
        app_scopes: Iterable[str] | str = SCOPE,
        events_in_background: bool = False,
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
        self.app_scopes = _scope_text(app_scopes)
        self.events_in_background = events_in_background
        self._data_lock = threading.RLock()
        self._event_threads: list[threading.Thread] = []
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

    def authorize(self, redirect_uri: str, scope: Iterable[str] | str | None = None) -> str:
        """An authorization code, as if a user had clicked "Allow" for `redirect_uri`; its tokens carry
        `scope` (default: the app's scopes, `app_scopes`)."""
        granted = self.app_scopes if scope is None else _scope_text(scope)
        with self._data_lock:
            return self._store.new_code(
                self.client_id, redirect_uri, granted, time.time() + AUTHORIZATION_CODE_TTL_SECONDS
            )

    def set_app_scopes(self, scopes: Iterable[str] | str) -> None:
        """The scopes the app is set up with in FreshBooks' developer portal: what the consent page grants
        from now on (tokens already issued keep theirs: reconnect to change them)."""
        self.app_scopes = _scope_text(scopes)

    def expire_access_tokens(self) -> int:
        """Make every access token issued so far expired. Returns how many were valid."""
        now = time.time()
        with self._data_lock:
            tokens = self._store.access_tokens.values()
            valid = sum(1 for token in tokens if token.expires_at > now)
            for token in tokens:
                token.expires_at = min(token.expires_at, now - 1)
        return valid

    def revoke_refresh_tokens(self) -> int:
        """Kill every unused refresh token (as if the user disconnected the app). Returns how many."""
        with self._data_lock:
            live = [t for t in self._store.refresh_tokens.values() if not t.used]
            for token in live:
                token.used = True
        return len(live)

    @property
    def refresh_grants_used(self) -> int:
        """Successful `refresh_token` grants so far (each one burned a refresh token)."""
        with self._data_lock:
            return sum(
                1 for g in self._store.grants if g["grant_type"] == "refresh_token" and g["status"] == 200
            )

    @property
    def token_grants(self) -> list[dict[str, Any]]:
        """Every token request: grant type, HTTP status, error, content type and field names (no values)."""
        with self._data_lock:
            return copy.deepcopy(self._store.grants)

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token issued so far, valid or not (chaos runs search for them where
        they must never appear)."""
        with self._data_lock:
            return [*self._store.access_tokens, *self._store.refresh_tokens]

    def is_valid_access_token(self, token: str) -> bool:
        with self._data_lock:
            return self._store.valid_access_token(token, time.time()) is not None

    def token_scopes(self, token: str) -> list[str]:
        """The scopes of a valid access token ([] when it is not valid)."""
        with self._data_lock:
            access = self._store.valid_access_token(token, time.time())
            return access.scopes if access else []

    # -- Python control API: data -------------------------------------------------------------------------

    def add_client(self, **fields: Any) -> dict[str, Any]:
        """Store a client as given (no uniqueness check). Returns it as the API serves it."""
        with self._data_lock:
            return copy.deepcopy(self._store.new_client(fields))

    def add_item(
        self, sku: str | None, name: str, unit_cost: str = "0.00", code: str = "USD", **fields: Any
    ) -> dict[str, Any]:
        """Store an item. Returns it as the API serves it."""
        with self._data_lock:
            item = self._store.new_item(
                {"name": name, "sku": sku, "unit_cost": {"amount": unit_cost, "code": code}, **fields}
            )
            return copy.deepcopy(item)

    def add_callback(
        self,
        event: str,
        uri: str,
        *,
        verifier: str | None = None,
        callback_id: int | None = None,
        verified: bool = False,
    ) -> dict[str, Any]:
        """Store a callback without sending the verification request (an existing `callback_id` is
        replaced). ValueError for an event name FreshBooks does not know. Returns it as the API serves it."""
        if not is_known_event(event):
            raise ValueError(f"FreshBooks has no event {event!r}")
        with self._data_lock:
            callback = self._store.add_callback(
                event, uri, verifier=verifier, callback_id=callback_id, verified=verified
            )
            return public_callback(copy.deepcopy(callback))

    def seed_demo_catalog(self) -> list[dict[str, Any]]:
        """The demo shop's catalog (`seed.DEMO_ITEMS`) as FreshBooks items."""
        return seed.seed_demo_catalog(self)

    def seed_demo_callback(
        self,
        callback_id: str | int = seed.DEMO_CALLBACK_ID,
        verifier: str = seed.DEMO_CALLBACK_VERIFIER,
        event: str = seed.DEMO_CALLBACK_EVENT,
        uri: str = seed.DEMO_CALLBACK_URI,
        verified: bool = False,
    ) -> dict[str, Any]:
        """The demo callback the sample handshake confirms (see `seed.seed_demo_callback`)."""
        return seed.seed_demo_callback(
            self, callback_id=callback_id, verifier=verifier, event=event, uri=uri, verified=verified
        )

    def clients(self) -> list[dict[str, Any]]:
        with self._data_lock:
            return [copy.deepcopy(c) for _, c in sorted(self._store.clients.items())]

    def items(self) -> list[dict[str, Any]]:
        with self._data_lock:
            return [copy.deepcopy(i) for _, i in sorted(self._store.items.items())]

    def invoices(self) -> list[dict[str, Any]]:
        """Every invoice with its lines, oldest first."""
        with self._data_lock:
            return [copy.deepcopy(i) for _, i in sorted(self._store.invoices.items())]

    def invoice(self, invoice_id: int) -> dict[str, Any]:
        with self._data_lock:
            return copy.deepcopy(self._store.invoices[int(invoice_id)])

    def payments(self, invoice_id: int | None = None) -> list[dict[str, Any]]:
        with self._data_lock:
            return [
                copy.deepcopy(p)
                for _, p in sorted(self._store.payments.items())
                if invoice_id is None or p["invoiceid"] == int(invoice_id)
            ]

    def callbacks(self) -> list[dict[str, Any]]:
        """Registered callbacks including their verifiers (copies)."""
        with self._data_lock:
            return [copy.deepcopy(c) for _, c in sorted(self._store.callbacks.items())]

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        """Requests the sandbox sent to callback URIs: verification and events, with the answer status."""
        with self._data_lock:
            return copy.deepcopy(self._store.deliveries)

    def send_event(self, event: str, object_id: int | str, *, user_id: int = USER_ID) -> list[dict[str, Any]]:
        """POST a signed event to every verified callback subscribed to it (now, in this thread). Returns
        the deliveries. ValueError for an event name FreshBooks does not know (such as `invoice.paid`)."""
        if not is_known_event(event) or "." not in event:
            raise ValueError(f"FreshBooks sends no event {event!r}")
        with self._data_lock:
            targets = copy.deepcopy(self._store.subscribers(event))
        form = {
            "name": event,
            "object_id": str(object_id),
            "account_id": self.account_id,
            "business_id": str(BUSINESS_ID),
            "identity_id": str(IDENTITY_ID),
            "user_id": str(user_id),
        }
        return [self._deliver(c, form, signed=True) for c in targets]

    def wait_for_events(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until the events sent in the background (`events_in_background`) are delivered; returns
        every delivery so far. TimeoutError if some are still under way after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._data_lock:
            threads = list(self._event_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._data_lock:
            self._event_threads = [t for t in self._event_threads if t.is_alive()]
            if self._event_threads:
                raise TimeoutError(f"{len(self._event_threads)} FreshBooks event(s) still being delivered")
        return self.deliveries

    @staticmethod
    def signature(verifier: str, form: dict[str, str]) -> str:
        """FreshBooks' webhook signature: base64(HMAC-SHA256(verifier, json.dumps(form fields)))."""
        message = json.dumps({k: str(v) for k, v in form.items()})
        digest = hmac.new(verifier.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def reset(self) -> None:
        """Forget every record, token and delivery (after the events under way are delivered)."""
        with contextlib.suppress(TimeoutError):  # a late delivery is recorded in the old store
            self.wait_for_events()
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
            self._store = FreshBooksStore(self.account_id)

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
        """Bearer token, then its scope, then the account (see the module docstring)."""
        if not (request.path.startswith("/accounting/") or request.path.startswith("/events/")):
            return None
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        with self._data_lock:
            access = self._store.valid_access_token(token, time.time()) if token else None
            scope = access.scope if access else ""
        if access is None:
            return self.error(
                401, INVALID_TOKEN_MESSAGE, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        g.freshbooks_scope = scope
        needed = required_scope(request.method, request.path)
        if needed is not None and needed not in scope.split():
            return self._insufficient_scope(scope, needed)
        account_id = (request.view_args or {}).get("account_id")
        if account_id is not None and account_id != self.account_id:
            return self.error(404, f"Account {account_id} not found")
        return None

    def _insufficient_scope(self, provided: str, required: str) -> Response:
        response = jsonify({"message": insufficient_scope_message(provided, required)})
        response.status_code = 403
        return response

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
        asked = args.get("scope", "").split()
        granted = [s for s in self.app_scopes.split() if s in asked] if asked else self.app_scopes.split()
        code = self.authorize(redirect_uri, granted)
        query = {"code": code}
        if args.get("state") is not None:
            query["state"] = args["state"]
        separator = "&" if "?" in redirect_uri else "?"
        return redirect(f"{redirect_uri}{separator}{urlencode(query)}", code=302)

    def _token(self) -> Response:
        body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        body = body if isinstance(body, dict) else {}
        grant_type = str(body.get("grant_type", ""))
        try:
            response = jsonify(self._grant(grant_type, body))
        except GrantRefused as refused:
            response = self._oauth_error(refused.status, refused.error, refused.description)
        with self._data_lock:
            self._store.grants.append(grant_entry(grant_type, response, body))
        return response

    def _grant(self, grant_type: str, body: dict[str, Any]) -> dict[str, Any]:
        if not (
            secrets.compare_digest(str(body.get("client_id", "")), self.client_id)
            and secrets.compare_digest(str(body.get("client_secret", "")), self.client_secret)
        ):
            raise GrantRefused(401, "invalid_client", "Client authentication failed")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise GrantRefused(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        if not str(body.get("redirect_uri") or "").strip():
            raise GrantRefused(400, "invalid_request", "Missing required parameter: redirect_uri")
        now, ttl = time.time(), self.access_token_ttl_seconds
        with self._data_lock:
            if grant_type == "authorization_code":
                return self._store.exchange_code(str(body.get("code", "")), body["redirect_uri"], ttl, now)
            return self._store.refresh(str(body.get("refresh_token", "")), body["redirect_uri"], ttl, now)

    def _oauth_error(self, status: int, error: str, description: str) -> Response:
        response = jsonify({"error": error, "error_description": description})
        response.status_code = status
        return response

    # -- clients ----------------------------------------------------------------------------------------

    def _list_clients(self, account_id: str) -> Response:
        args = request.args
        with self._data_lock:
            records = self._store.clients_matching(
                args.get("search[email]"), args.get("search[organization_like]") or "", _vis_state()
            )
            return self._page(records, "clients")

    def _create_client(self, account_id: str) -> Response:
        try:
            fields = self._fields("client", CLIENT_FIELDS)
            with self._data_lock:
                return self._result({"client": self._store.create_client(fields)})
        except Invalid as invalid:
            return self._invalid(invalid)

    def _get_client(self, account_id: str, record_id: int) -> Response:
        with self._data_lock:
            client = self._store.clients.get(record_id)
            if client is None:
                return self._not_found("client", "userid", record_id, "Client not found.")
            return self._result({"client": client})

    def _update_client(self, account_id: str, record_id: int) -> Response:
        try:
            fields = self._fields("client", CLIENT_FIELDS)
            with self._data_lock:
                client = self._store.clients.get(record_id)
                if client is None:
                    return self._not_found("client", "userid", record_id, "Client not found.")
                return self._result({"client": self._store.update_client(client, fields)})
        except Invalid as invalid:
            return self._invalid(invalid)

    # -- items --------------------------------------------------------------------------------------------

    def _list_items(self, account_id: str) -> Response:
        updated_min = request.args.get("search[updated_min]")
        try:
            since = dt.date.fromisoformat(updated_min) if updated_min else None
        except ValueError:
            return self.error(400, "updated_min must be YYYY-MM-DD")
        with self._data_lock:
            records = self._store.items_matching(request.args.get("search[sku]"), since, _vis_state())
            return self._page(records, "items")

    def _create_item(self, account_id: str) -> Response:
        try:
            fields = self._fields("item", ITEM_FIELDS)
            with self._data_lock:
                return self._result({"item": self._store.create_item(fields)})
        except Invalid as invalid:
            return self._invalid(invalid)

    def _get_item(self, account_id: str, record_id: int) -> Response:
        with self._data_lock:
            item = self._store.items.get(record_id)
            if item is None:
                return self._not_found("item", "itemid", record_id, "Item not found.")
            return self._result({"item": item})

    def _update_item(self, account_id: str, record_id: int) -> Response:
        try:
            fields = self._fields("item", ITEM_FIELDS)
            with self._data_lock:
                item = self._store.items.get(record_id)
                if item is None:
                    return self._not_found("item", "itemid", record_id, "Item not found.")
                return self._result({"item": self._store.update_item(item, fields)})
        except Invalid as invalid:
            return self._invalid(invalid)

    # -- invoices -------------------------------------------------------------------------------------

    def _list_invoices(self, account_id: str) -> Response:
        args = request.args
        try:
            customer_id = int(args["search[customerid]"]) if "search[customerid]" in args else None
            date_min = dt.date.fromisoformat(args["search[date_min]"]) if "search[date_min]" in args else None
            date_max = dt.date.fromisoformat(args["search[date_max]"]) if "search[date_max]" in args else None
        except ValueError as exc:
            return self.error(400, f"invalid search parameter: {exc}")
        with self._data_lock:
            records = self._store.invoices_matching(
                customer_id, args.get("search[invoice_number]"), date_min, date_max
            )
            return self._page(records, "invoices")

    def _create_invoice(self, account_id: str) -> Response:
        try:
            fields = self._fields("invoice", INVOICE_FIELDS)
            with self._data_lock:
                return self._result({"invoice": self._store.new_invoice(fields)})
        except Invalid as invalid:
            return self._invalid(invalid)

    def _get_invoice(self, account_id: str, record_id: int) -> Response:
        with self._data_lock:
            invoice = self._store.invoices.get(record_id)
            if invoice is None:
                return self._not_found("invoice", "invoiceid", record_id, "Invoice not found.")
            with_lines = "lines" in request.args.getlist("include[]")
            return self._result({"invoice": invoice if with_lines else without_lines(invoice)})

    # -- payments -----------------------------------------------------------------------------------------

    def _list_payments(self, account_id: str) -> Response:
        with self._data_lock:
            return self._page(
                self._store.payments_matching(request.args.get("search[invoiceid]")), "payments"
            )

    def _create_payment(self, account_id: str) -> Response:
        try:
            fields = self._fields("payment", PAYMENT_FIELDS)
            with self._data_lock:
                payment = self._store.new_payment(fields)
                answer = self._result({"payment": payment})
        except Invalid as invalid:
            return self._invalid(invalid)
        self._emit(PAYMENT_CREATED, payment["id"])
        return answer

    def _get_payment(self, account_id: str, record_id: int) -> Response:
        with self._data_lock:
            payment = self._store.payments.get(record_id)
            if payment is None:
                return self._not_found("payment", "paymentid", record_id, "Payment not found.")
            return self._result({"payment": payment})

    # -- callbacks ------------------------------------------------------------------------------------------

    def _list_callbacks(self, account_id: str) -> Response:
        with self._data_lock:
            callbacks = [public_callback(c) for _, c in sorted(self._store.callbacks.items())]
            return self._page(callbacks, "callbacks")

    def _create_callback(self, account_id: str) -> Response:
        body = request.get_json(silent=True)
        spec = body.get("callback") if isinstance(body, dict) else None
        if not isinstance(spec, dict):
            return self._events_error(400, 400, ['callback: expected {"callback": {"event", "uri"}}'])
        event, uri = spec.get("event"), spec.get("uri")
        details = callback_problems(event, uri)
        if details:
            return self._events_error(400, 422, details)
        needed = event_scope(event)
        if needed is not None and needed not in g.freshbooks_scope.split():
            return self._insufficient_scope(g.freshbooks_scope, needed)
        with self._data_lock:
            callback = copy.deepcopy(self._store.add_callback(event, uri))
        self._send_verification(callback)  # outside the lock: the receiver may call us back right away
        return self._result({"callback": public_callback(callback)})

    def _get_callback(self, account_id: str, record_id: int) -> Response:
        with self._data_lock:
            callback = self._store.callbacks.get(record_id)
            if callback is None:
                return self._events_error(404, 404, [], NOT_FOUND_MESSAGE)
            return self._result({"callback": public_callback(callback)})

    def _update_callback(self, account_id: str, record_id: int) -> Response:
        body = request.get_json(silent=True)
        spec = body.get("callback") if isinstance(body, dict) else None
        if not isinstance(spec, dict):
            return self._events_error(
                400, 400, ['callback: expected {"callback": {"verifier"} | {"resend": true}}']
            )
        with self._data_lock:
            callback = self._store.callbacks.get(record_id)
            if callback is None:
                return self._events_error(404, 404, [], NOT_FOUND_MESSAGE)
            resend = spec.get("resend") is True
            if not resend:
                try:
                    self._store.verify_callback(callback, spec.get("verifier"))
                except CallbackRefused as refused:
                    return self._events_error(refused.status, refused.errno, refused.details)
            snapshot = copy.deepcopy(callback)
        if resend:
            self._send_verification(snapshot)
        return self._result({"callback": public_callback(snapshot)})

    def _delete_callback(self, account_id: str, record_id: int) -> Response | tuple[str, int]:
        with self._data_lock:
            if self._store.callbacks.pop(record_id, None) is None:
                return self._events_error(404, 404, [], NOT_FOUND_MESSAGE)
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

    def _emit(self, event: str, object_id: int) -> None:
        """Send `event` to its subscribers: now, or in the background (`events_in_background`)."""
        if not self.events_in_background:
            self.send_event(event, object_id)
            return
        with self._data_lock:
            if not self._store.subscribers(event):
                return
            thread = threading.Thread(
                target=self.send_event, args=(event, object_id), name=f"freshbooks-{event}", daemon=True
            )
            self._event_threads.append(thread)
        thread.start()

    def _deliver(self, callback: dict[str, Any], form: dict[str, str], *, signed: bool) -> dict[str, Any]:
        store = self._store  # a delivery finishing after `reset()` is not recorded in the new store
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
            store.deliveries.append(delivery)
        return copy.deepcopy(delivery)

    def _events_error(
        self, status: int, errno: int, details: list[str], message: str | None = None
    ) -> Response:
        """The events API's error: `{"errno", "message", "details"}` (validation: HTTP 400, errno 422)."""
        if message is None:
            message = SEMANTIC_ERROR_MESSAGE if errno == 422 else "The request could not be processed."
        body: dict[str, Any] = {"errno": errno, "message": message}
        if details:
            body["details"] = details
        response = jsonify(body)
        response.status_code = status
        return response

    # -- helpers ---------------------------------------------------------------------------------------

    def _fields(self, name: str, allowed: set[str]) -> dict[str, Any]:
        """The `{"<name>": {...}}` body's record, unknown fields refused."""
        body = request.get_json(silent=True)
        record = body.get(name) if isinstance(body, dict) else None
        if not isinstance(record, dict):
            raise Invalid([problem(f'expected a JSON body {{"{name}": {{...}}}}', name, name, None)])
        unknown = sorted(set(record) - allowed)
        if unknown:
            raise Invalid([problem(f"Unknown field {k}", k, name, None) for k in unknown])
        return record

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

    def _invalid(self, invalid: Invalid) -> Response:
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


def _vis_state() -> str | None:
    return request.args.get("search[vis_state]")


def _scope_text(scopes: Iterable[str] | str) -> str:
    """Scopes as OAuth writes them: one space-separated string."""
    return " ".join(scopes.split() if isinstance(scopes, str) else scopes)
