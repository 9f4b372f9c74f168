"""Sandbox ClearBooks (Clear Books, clearbooks.co.uk): the REST API's OAuth 2.0 with single-use rotating
refresh tokens and scopes, businesses, customers, suppliers, sales invoices and credit notes (with PDFs),
purchase bills and credit notes (with raw attachments), account codes and VAT, on loopback.

It behaves like our reading of the public sources (collected in the issue-11 notes), so the ClearBooks
connectors can be tested and demonstrated without an account. Records and their rules are in `store.py`,
demo data in `seed.py`. Source labels: [OFFICIAL] Clear Books' own pages; [3P-SPEC] third parties who
read the OpenAPI file https://api.clearbooks.co.uk/spec/v1.yaml — maeterlinckle/invogrid (IG,
docs/PROJECT-STATE.md §19–§33) and maeterlinckle/production-tracker (PT, src/Services/ClearBooksClient.php);
[3P-USE] client code (YashPurohit30/Clearbooks-Data-Extraction, YP); ASSUMPTION: ours, to check against
the real API before go-live.

OAuth 2.0 (https://api-docs.clearbooks.co.uk, "Clear Books API (1.0.0)"):
- Confidential clients, authorization-code grant only; PKCE supported, not mandatory [OFFICIAL]. The
  consent page is `GET /oauth/authorize` (also served at the documented path `/account/action/oauth/` of
  https://secure.clearbooks.co.uk) with `response_type=code&client_id&redirect_uri&scope&state`
  (+ `code_challenge`, `code_challenge_method` S256|plain) [3P-USE: PT, IG]; it behaves like a user who
  clicked "Allow": 302 to `redirect_uri?code=…&state=…`; `authorize()` does the same from Python.
  ASSUMPTIONS: a redirect URI must be one registered with `client_credentials()` (any http(s) URI when
  none is); an unknown client or redirect URI is a 400 JSON error, any other problem (response_type,
  unknown scope) is a redirect with `error` and `state` (RFC 6749 §4.1.2.1); no `scope` grants the app's
  scopes (`app_scopes`, default every documented scope); codes live 10 minutes and work once.
- `POST /oauth/token` (token URL https://api.clearbooks.co.uk/oauth/token, outside `/v1` [OFFICIAL])
  takes `application/x-www-form-urlencoded` only [3P-USE: PT, IG, YP], client authentication by
  `client_id` + `client_secret` in the body (what the clients send) or HTTP Basic (RFC 6749 §2.3.1; not
  both: 400 `invalid_request`); wrong credentials → 401 `invalid_client`. `grant_type=authorization_code`
  needs `code` and the same `redirect_uri` (+ `code_verifier` when the consent had a challenge);
  `grant_type=refresh_token` needs `refresh_token`. The answer is `{"token_type": "Bearer",
  "expires_in": 3600, "access_token", "refresh_token", "scope"}` (fields read by every client; 3600 is
  their fallback; ASSUMPTION: `access_token_ttl_seconds`, default 3600). Errors are RFC 6749's
  `{"error", "error_description"}` [3P-USE: PT describeError].
- Refresh tokens are single use and do not expire until used [OFFICIAL: "Single use refresh to[kens]";
  IG §19: "Two processes refreshing at once therefore revoke each other"]: each refresh returns a new
  pair; the spent token (or an unknown or revoked one) is 400 `{"error": "invalid_grant",
  "error_description": "The refresh token is invalid."}` (the text ASSUMED, League-style). The check and
  the spending happen under one lock: of two concurrent refreshes with one token exactly one wins.
  "Every successful refresh returns a new pair and invalidates the old one" [3P-SPEC: PT]: the old pair's
  access token dies too (`revoke_access_token_on_refresh`, default True).
- "Applications can only hold a single access token for a user at any given time. If a user completes
  the OAuth authorisation flow a second time, the previous access token and refresh token will be
  revoked" [api-docs wording, as copied by api-evangelist/clearbooks rate-limits/clearbooks-rate-limits.yml]:
  exchanging a new code revokes every earlier token (ASSUMPTION: at the exchange, when the flow
  completes, not at the consent). There is no revocation endpoint [3P-SPEC: IG]; `revoke_tokens()` plays
  a user disconnecting the app.
- Scopes: the documented list (`store.SCOPES`). Each route needs one: `accounting.sales:read|write`,
  `accounting.purchases:read|write` (attachments included: the spec secures sales attachments with
  `accounting.sales:write` [3P-SPEC: PT]), `accounting.customers:read`, `accounting.suppliers:read|write`,
  `accounting.account_codes:read`, `businesses:read`; ASSUMPTION: VAT treatments and rates need
  `accounting.vat:read` ("Read VAT information"). A token without it → 403 `[{"errorCode":
  "insufficient_scope", …}]`. A token keeps its scopes across refreshes.

REST, base `/v1` [3P-SPEC: IG §19; PT API_BASE]:
- `Authorization: Bearer <access token>`: missing, unknown, expired or revoked → 401 `[{"errorCode":
  "invalid_token", …}]` with `WWW-Authenticate: Bearer error="invalid_token"` (ASSUMPTION: the body).
- `X-Business-ID: <id>` selects the business, "required only for multi-business authorisations"
  [3P-SPEC: IG §19, PT businessId()]: without it a user with two businesses gets 400; one that is not
  the user's → 403 (ASSUMPTION). The seeded user has one business (`add_business()` adds another).
  `GET /v1/businesses` → `[{id, name}]`, no header needed [3P-USE: YP, PT].
- Paging `?page=N&limit=N` (default 50 ASSUMED; over 200 → 400, "capped at 200" [3P-SPEC: IG §19]);
  the body is a bare JSON array [3P-USE: YP, Pipedream] with `X-Pagination-Current-Page` and
  `X-Pagination-Total-Pages` (stop when equal, not on a short page [3P-SPEC]) and, ASSUMED,
  `X-Pagination-Total-Items`. With no records: page 1 of 1 (ASSUMPTION). VAT lists, attachment lists and
  businesses are not paged.
- Errors are a JSON array of `{errorCode, errorMessage}` [3P-SPEC: IG §19]; ASSUMPTIONS: the `field`
  member, the errorCode values (`required`, `unknown_field`, `invalid_type`, `invalid_value`,
  `invalid_date`, `not_found`, `duplicate`, …) and that every validation problem, references to
  unknown records included, is a 400 (the real API may answer a business rule with 422 [3P-USE: PT];
  treat both alike). All problems of a request are reported at once.
- Money: JSON numbers, exact to the cent (`unitPrice` is numeric [3P-SPEC]); the store keeps `Decimal`s
  and serves them as written (24.50). Requests must send numbers, not strings. Line `net` = unitPrice ×
  quantity rounded half-up to cents, `vatAmount` = net × rate rounded half-up (or the given amount with
  `vatRateKey: "Manual"`, which requires `vatAmount` [3P-SPEC: IG §19]), `gross` = net + vat; document
  `net`, `vat`, `gross` are the sums, read-only ("gross: read-only and calculated by Clear Books"
  [3P-SPEC: PT]). ASSUMPTIONS: `unitPrice`/`quantity` at most 4 decimal places, quantity not 0,
  `vatAmount` refused without "Manual".
- Sales documents `GET /v1/accounting/sales/{invoices|creditNotes}` (+ `/{id}`), `POST` the same
  ("salesType is one of invoices, creditNotes or quotes" [3P-SPEC: PT]; quotes are not served). Create
  requires `date`, `customerId`, `vatTreatment`, `lineItems` (each with the five required fields
  `description, unitPrice, quantity, accountCode (integer), vatRateKey`) and takes `reference`,
  `description`, `dateDue` [3P-SPEC: PT, IG §19]. Served: `id` (int), `documentPrefix`,
  `documentNumber` (int), `formattedDocumentNumber` (prefix + 6 digits, "INV001001", after the SOAP
  format INV000201; PT: "the human reference Clear Books shows"), `customerId`, `date`, `dateDue`
  (invoices), `reference`, `description`, `status` (draft|approved|voided), `vatTreatment`, `currency`,
  `exchangeRate`, `externalId`, `lineItems[{description, unitPrice, quantity, accountCode, vatRateKey,
  vatAmount, net, gross}]`, `net`, `vat`, `gross`, `createdAt`, `modifiedAt`. ASSUMPTIONS: prefixes
  INV/CN/PUR/PCN, documentNumber an int, `status` (SOAP vocabulary; create takes draft|approved, default
  approved), `createdAt`/`modifiedAt` (ISO 8601 UTC to the second), `currency` always served (GBP, the
  home currency, when not sent [3P-SPEC: IG "omitted for sterling"]), `externalId`; the customer's PO
  number travels in `reference`; a credit note has no `dateDue` (as on the purchase side) and may carry
  `linkedInvoiceId` (an invoice of the same customer; ClearBooks' own link is probably an allocation
  [issue-11 notes §3.4]). Credit notes take positive amounts [3P-SPEC: IG §24 for purchases; ASSUMED
  for sales]: a negative total is refused.
- `modifiedSince=<ISO 8601 date or date-time>` on sales lists: NOT DOCUMENTED (no source shows a REST
  modified-date filter; the SOAP `modifiedSince` is "DEPRECATED, does not work as described"). ASSUMED:
  documents whose `modifiedAt` is at or after it (no offset: UTC), sorted by `modifiedAt` then `id`;
  without it lists are sorted by `id`. `honour_list_filters=False` makes the sandbox ignore every
  undocumented filter (this one, `reference`, `externalId`, `name`), as the real API may, so a connector's
  fall-back of walking the whole list can be tested.
- `GET /v1/accounting/sales/{type}/{id}/pdf` → `application/pdf`: NOT DOCUMENTED (only attachments and
  the SOAP `statementPage` link are). ASSUMED; a document without a PDF (`set_pdf()`, the seed gives
  some) → 404.
- Purchases `POST /v1/accounting/purchases/{bills|creditNotes}` [3P-SPEC: IG §19; Pipedream]: `date`,
  `supplierId`, `vatTreatment`, `lineItems` required; `dateDue` (bills only: "a purchase credit note has
  no dateDue field and sending one is a 400" [3P-SPEC: IG §23, §24]), `reference`, `description`,
  `currency`; ASSUMED: `externalId`, `status`. The due date is `dateDue` on both ledgers, as documented
  (not `dueDate`, which is refused as an unknown field). → 201 with the document (as sales, `supplierId`
  instead of `customerId`). A bill is positive; a supplier refund is a bill with negative amounts; a
  credit note takes positive amounts [3P-SPEC: IG]. Ids are unique across bills and credit notes
  [3P-SPEC: IG §31].
  There is no idempotency key [3P-SPEC: IG]. Unknown fields are refused (400), which is how `dateDue` on
  a credit note fails. `GET` lists (paged; ASSUMED filters `reference=`, `externalId=`: IG §31 says
  there is no search, "walk the list") and `GET /{id}`.
- Attachments `POST /v1/accounting/{sales|purchases}/{type}/{id}/attachments/{fileName}`: the body is the
  raw file (`application/octet-stream`), not multipart → 201 `{id, name, size, dateUploaded}`
  [3P-SPEC: PT, IG §33]; `GET …/attachments` (a bare array) and `GET …/attachments/{attachmentId}` (the
  bytes) [IG §33]. ASSUMED: a multipart or empty body is 400.
- Contacts: customers `GET /v1/accounting/customers` (+ `/{id}`), suppliers `GET`/`POST
  /v1/accounting/suppliers` (+ `/{id}`) [3P-USE: PT, IG, Pipedream]: `{id, name, email, phone,
  vatNumber, companyNumber, externalId, archived, address{building, line1, line2, town, county, postcode,
  countryCode}}` [3P-SPEC: IG §19] plus, ASSUMED, `customFields{}` (where a TNID can live), `createdAt`,
  `modifiedAt`. Create needs `name`. ASSUMED: list filters `externalId=` and `name=` (exact,
  case-sensitive); `externalId` unique among a business's suppliers (a duplicate is 400).
- `GET /v1/accounting/accountCodes` (paged) → `{id, name, heading, sales, purchases, defaultVatRate,
  archived}` (`sales`/`purchases` booleans [3P-SPEC: IG §19]; ASSUMED: 4-digit ids, the other names after
  SOAP). `GET /v1/accounting/vatTreatments/{sales|purchases}` → `[{key, name}]`; `GET
  /v1/accounting/vatRates/{sales|purchases}[?vatTreatment=UK]` → `[{key, name, rate}]` (not paged; VAT is
  defined by Clear Books [3P-SPEC: IG §22]; keys ASSUMED, see `store.VAT_RATES`). A line's
  `accountCode` must exist and not be archived; its `vatRateKey` must be a rate of the document's
  treatment.
- Rate limit: "more than 5 requests per second for a sustained period may be subject to throttling…
  HTTP 429" [api-docs via api-evangelist; IG §19]: `rate_limit_per_second=DOCUMENTED_RATE_LIMIT` (off by
  default) answers 429 with `Retry-After`; 5xx and lost answers come from the base's fault injection.

Python control API: `client_credentials()` (alias `app_credentials()`), `authorize()`, `set_app_scopes()`,
`expire_access_tokens()`, `revoke_tokens()`, `token_grants`, `issued_tokens()`, `is_valid_access_token()`,
`token_scopes()`, `add_business()`, `businesses()`, `add_customer()`, `add_supplier()`,
`add_account_code()`, `add_sales_invoice()`, `add_sales_credit_note()`, `add_purchase()`, `add_bill()`,
`add_purchase_credit_note()`, `touch()`, `set_pdf()`, `pdf()`, `sales_invoices()`, `sales_credit_notes()`,
`sales_document()`, `bills()`, `purchase_credit_notes()`, `purchase_document()`, `customers()`,
`suppliers()`, `account_codes()`, `attachments()`, `set_list_filters()`, `seed_demo_data()`, `reset()`;
HTTP `POST /_sandbox/expire-tokens`; plus the fault injection, request log and rate limit of
`SandboxServer`.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_plus, urlencode

from flask import Response, g, has_request_context, redirect, request

from ..base import SandboxServer
from ..oauth import GrantRefused, grant_entry
from . import seed
from .store import (
    LEDGER_TYPES,
    MANUAL_VAT,
    PURCHASES,
    SALES,
    SCOPES,
    VAT_RATES,
    VAT_TREATMENTS,
    Books,
    ClearBooksStore,
    Invalid,
    account_code,
    allowed_rate_keys,
    iso,
    matches,
    parse_instant,
    problem,
    public,
    render_json,
    simple_pdf,
)

SANDBOX_CLIENT_ID = "invoice-relay-clearbooks-sandbox"
DEFAULT_REDIRECT_URI = "https://relay.example/clearbooks/callback"
DEFAULT_BUSINESS_NAME = "Relay Marine Supplies Ltd"  # the sandbox ShipServ's demo supplier tenant
ACCESS_TOKEN_TTL_SECONDS = 3600
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
DOCUMENTED_RATE_LIMIT = 5
BUSINESS_HEADER = "X-Business-ID"
PAGE_HEADERS = ("X-Pagination-Current-Page", "X-Pagination-Total-Pages", "X-Pagination-Total-Items")
INVALID_TOKEN_MESSAGE = "The access token is missing, invalid, expired or revoked"
_OAUTH_PATHS = ("/oauth/", "/account/action/oauth")
_ERROR_CODES = {
    400: "bad_request", 401: "invalid_token", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
    422: "unprocessable_entity", 429: "too_many_requests", 500: "internal_error", 502: "bad_gateway",
    503: "service_unavailable", 504: "gateway_timeout",
}  # fmt: skip
_LEDGER_NAMES = {
    (SALES, "invoices"): "Sales invoice",
    (SALES, "creditNotes"): "Sales credit note",
    (PURCHASES, "bills"): "Bill",
    (PURCHASES, "creditNotes"): "Purchase credit note",
}

Lines = Sequence[Mapping[str, Any]]
When = dt.datetime | dt.date | str | float | int | None


class ClearBooksSandbox(SandboxServer):
    """The sandbox ClearBooks REST API (see the module docstring), controllable from Python."""

    name = "clearbooks"

    def __init__(
        self,
        *,
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str | None = None,
        redirect_uris: Iterable[str] = (),
        app_scopes: Iterable[str] | str = SCOPES,
        access_token_ttl_seconds: float = ACCESS_TOKEN_TTL_SECONDS,
        revoke_access_token_on_refresh: bool = True,
        honour_list_filters: bool = True,
        business_name: str = DEFAULT_BUSINESS_NAME,
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_per_second: int | None = None,
    ):
        super().__init__(host=host, port=port, rate_limit_per_second=rate_limit_per_second)
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.redirect_uris = set(redirect_uris)
        self.app_scopes = _scope_text(app_scopes)
        self.access_token_ttl_seconds = access_token_ttl_seconds
        self.revoke_access_token_on_refresh = revoke_access_token_on_refresh
        self.honour_list_filters = honour_list_filters
        self.business_name = business_name
        self.clock = clock
        self._data_lock = threading.RLock()
        self._route_scopes: dict[str, str] = {}  # endpoint → the scope it needs
        self._no_business: set[str] = set()  # endpoints that take no X-Business-ID
        self._clear_data()
        self._register_routes()

    # -- Python control API: OAuth ------------------------------------------------------------------------

    def client_credentials(self, redirect_uri: str = DEFAULT_REDIRECT_URI) -> dict[str, str]:
        """What a connector's OAuth app secret holds for this sandbox app; `redirect_uri` is registered."""
        with self._data_lock:
            self.redirect_uris.add(redirect_uri)
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uri": redirect_uri,
        }

    app_credentials = client_credentials

    def authorize(
        self,
        redirect_uri: str,
        scope: Iterable[str] | str | None = None,
        *,
        state: str | None = None,
        code_challenge: str | None = None,
        code_challenge_method: str | None = None,
    ) -> str:
        """The consent page's answer when the user clicks "Allow": `redirect_uri?code=…&state=…`. The code's
        tokens carry `scope` (default: the app's scopes). ValueError for an unregistered redirect URI or a
        scope the app does not have."""
        requested = self._requested_scope(scope)
        with self._data_lock:
            if self.redirect_uris and redirect_uri not in self.redirect_uris:
                raise ValueError(f"redirect_uri {redirect_uri!r} is not registered for the app")
            code = self._store.new_code(
                redirect_uri, requested, self.clock(), code_challenge, code_challenge_method
            )
        query = {"code": code} | ({"state": state} if state is not None else {})
        return _with_query(redirect_uri, query)

    def set_app_scopes(self, scopes: Iterable[str] | str) -> None:
        """The scopes the app is registered for (what the consent page can grant from now on)."""
        with self._data_lock:
            self.app_scopes = _scope_text(scopes)

    def expire_access_tokens(self) -> int:
        """Make every access token expired (refresh tokens stay usable). Returns how many were live."""
        with self._data_lock:
            now, count = self.clock(), 0
            for access in self._store.access_tokens.values():
                if not access.revoked and access.expires_at > now:
                    count += 1
                access.expires_at = min(access.expires_at, now)
            return count

    def revoke_tokens(self) -> int:
        """The user disconnects the app: every access and refresh token dies. Returns how many were live."""
        with self._data_lock:
            store, now = self._store, self.clock()
            live = sum(1 for t in store.access_tokens if store.valid_access_token(t, now))
            live += sum(1 for r in store.refresh_tokens.values() if not (r.used or r.revoked))
            for token in [*store.access_tokens.values(), *store.refresh_tokens.values()]:
                token.revoked = True
            return live

    @property
    def token_grants(self) -> list[dict[str, Any]]:
        """Every token request: grant type, HTTP status, error, client authentication method, content
        type and the names (never the values) of its fields."""
        with self._data_lock:
            return copy.deepcopy(self._store.grants)

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token issued so far, valid or not (to search for where they must not
        appear)."""
        with self._data_lock:
            return [*self._store.access_tokens, *self._store.refresh_tokens]

    def is_valid_access_token(self, token: str) -> bool:
        with self._data_lock:
            return self._store.valid_access_token(token, self.clock()) is not None

    def is_live_refresh_token(self, token: str) -> bool:
        with self._data_lock:
            refresh = self._store.refresh_tokens.get(token)
            return refresh is not None and not refresh.used and not refresh.revoked

    def token_scopes(self, token: str) -> list[str]:
        """The scopes of a valid access token ([] when it is not valid)."""
        with self._data_lock:
            access = self._store.valid_access_token(token, self.clock())
            return access.scope.split() if access else []

    # -- Python control API: data -------------------------------------------------------------------------

    @property
    def business_id(self) -> int:
        """The seeded user's first business (the default of every `business_id=None`)."""
        with self._data_lock:
            return next(iter(self._store.businesses))

    def add_business(self, name: str) -> int:
        """A second (third…) business of the user: from now on API calls must send `X-Business-ID`."""
        with self._data_lock:
            return self._store.add_business(name).id

    def businesses(self) -> list[dict[str, Any]]:
        with self._data_lock:
            return [{"id": b.id, "name": b.name} for b in self._store.businesses.values()]

    def add_customer(
        self,
        name: str,
        *,
        email: str | None = None,
        external_id: str | None = None,
        custom_fields: Mapping[str, str] | None = None,
        created_at: When = None,
        business_id: int | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Store a customer (`fields`: phone, vatNumber, companyNumber, address, archived; `created_at`
        default now). Returns it."""
        values = {"name": name, "email": email, "externalId": external_id, "customFields": custom_fields}
        return self._add_contact(SALES, values | fields, created_at, business_id)

    def add_supplier(
        self,
        name: str,
        *,
        external_id: str | None = None,
        email: str | None = None,
        archived: bool = False,
        created_at: When = None,
        business_id: int | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Store a supplier, as `POST /v1/accounting/suppliers` would (plus `archived`). Returns it."""
        values = {"name": name, "email": email, "externalId": external_id, "archived": archived}
        return self._add_contact(PURCHASES, values | fields, created_at, business_id)

    def add_account_code(
        self,
        code: int,
        name: str,
        *,
        heading: str = "Overheads",
        sales: bool = False,
        purchases: bool = True,
        default_vat_rate: str = "20",
        archived: bool = False,
        business_id: int | None = None,
    ) -> dict[str, Any]:
        with self._data_lock:
            record = account_code(code, name, heading, sales, purchases, default_vat_rate, archived)
            self._books(business_id).account_codes[code] = record
            return copy.deepcopy(record)

    def add_sales_invoice(
        self,
        customer_id: int,
        lines: Lines,
        *,
        date: str | dt.date,
        date_due: str | dt.date | None = None,
        reference: str = "",
        pdf: bool | bytes = False,
        created_at: When = None,
        modified_at: When = None,
        business_id: int | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Store a sales invoice as `POST /v1/accounting/sales/invoices` would (numbers may be given as
        strings; `fields`: description, vatTreatment (default UK), currency, exchangeRate, status,
        externalId). `pdf`: True renders one, bytes are served as given. `created_at`/`modified_at`
        (default now). ValueError (`store.Invalid`) when ClearBooks would refuse it. Returns it."""
        payload = {"date": str(date), "dateDue": _text_or_none(date_due), "reference": reference}
        return self._add_document(
            SALES, "invoices", customer_id, lines, payload | fields, pdf, created_at, modified_at, business_id
        )

    def add_sales_credit_note(
        self,
        customer_id: int,
        lines: Lines,
        *,
        date: str | dt.date,
        linked_invoice_id: int | None = None,
        reference: str = "",
        pdf: bool | bytes = False,
        created_at: When = None,
        modified_at: When = None,
        business_id: int | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Store a sales credit note (positive amounts), optionally linked to an invoice of the same
        customer (see `add_sales_invoice`). Returns it."""
        payload = {"date": str(date), "linkedInvoiceId": linked_invoice_id, "reference": reference}
        return self._add_document(
            SALES,
            "creditNotes",
            customer_id,
            lines,
            payload | fields,
            pdf,
            created_at,
            modified_at,
            business_id,
        )

    def add_purchase(
        self,
        doc_type: str,
        supplier_id: int,
        lines: Lines,
        *,
        date: str | dt.date,
        business_id: int | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Store a purchase document (`doc_type` "bills" or "creditNotes") as `POST
        /v1/accounting/purchases/<doc_type>` would. Returns it."""
        payload = {"date": str(date)} | fields
        return self._add_document(
            PURCHASES, doc_type, supplier_id, lines, payload, False, None, None, business_id
        )

    def add_bill(self, supplier_id: int, lines: Lines, **options: Any) -> dict[str, Any]:
        """Store a purchase bill (see `add_purchase`: `date`, `business_id`, fields). Returns it."""
        return self.add_purchase("bills", supplier_id, lines, **options)

    def add_purchase_credit_note(self, supplier_id: int, lines: Lines, **options: Any) -> dict[str, Any]:
        return self.add_purchase("creditNotes", supplier_id, lines, **options)

    def touch(
        self, document_id: int, *, at: When = None, business_id: int | None = None, **changes: Any
    ) -> dict[str, Any]:
        """Modify a sales or purchase document: apply `changes` (date, dateDue, reference, description,
        status, lineItems) and set `modifiedAt` to now (or `at`). KeyError if there is no such document.
        Returns it."""
        with self._data_lock:
            books = self._books(business_id)
            doc = books.sales.get(document_id) or books.purchases.get(document_id)
            if doc is None:
                raise KeyError(f"no document {document_id}")
            when = self.clock() if at is None else _epoch(at)
            return _out(self._store.update_document(books, doc, changes, when))

    def set_pdf(
        self, document_id: int, content: bytes | bool | None = True, business_id: int | None = None
    ) -> None:
        """Give a sales document a PDF (True: render one; bytes: these) or take it away (None/False)."""
        with self._data_lock:
            books = self._books(business_id)
            doc = books.sales[document_id]
            if content is None or content is False:
                books.pdfs.pop(document_id, None)
            else:
                books.pdfs[document_id] = _pdf_for(doc) if content is True else bytes(content)

    def pdf(self, document_id: int, business_id: int | None = None) -> bytes | None:
        with self._data_lock:
            return self._books(business_id).pdfs.get(document_id)

    def sales_invoices(self, business_id: int | None = None) -> list[dict[str, Any]]:
        return self._documents(SALES, "invoices", business_id)

    def sales_credit_notes(self, business_id: int | None = None) -> list[dict[str, Any]]:
        return self._documents(SALES, "creditNotes", business_id)

    def bills(self, business_id: int | None = None) -> list[dict[str, Any]]:
        """Every purchase bill, oldest first (amounts as `Decimal`)."""
        return self._documents(PURCHASES, "bills", business_id)

    def purchase_credit_notes(self, business_id: int | None = None) -> list[dict[str, Any]]:
        return self._documents(PURCHASES, "creditNotes", business_id)

    def sales_document(self, document_id: int, business_id: int | None = None) -> dict[str, Any]:
        with self._data_lock:
            return _out(self._books(business_id).sales[document_id])

    def purchase_document(self, document_id: int, business_id: int | None = None) -> dict[str, Any]:
        with self._data_lock:
            return _out(self._books(business_id).purchases[document_id])

    def customers(self, business_id: int | None = None) -> list[dict[str, Any]]:
        with self._data_lock:
            return [_out(c) for _, c in sorted(self._books(business_id).customers.items())]

    def suppliers(self, business_id: int | None = None) -> list[dict[str, Any]]:
        with self._data_lock:
            return [_out(c) for _, c in sorted(self._books(business_id).suppliers.items())]

    def account_codes(self, business_id: int | None = None) -> list[dict[str, Any]]:
        with self._data_lock:
            return [_out(c) for _, c in sorted(self._books(business_id).account_codes.items())]

    def attachments(
        self, document_id: int | None = None, business_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Uploaded attachments (of one document, or all), oldest first: `{id, name, size, dateUploaded,
        ledger, type, documentId, contentType, content}`."""
        with self._data_lock:
            found = [
                a
                for _, a in sorted(self._books(business_id).attachments.items())
                if document_id is None or a["_documentId"] == document_id
            ]
            return [{k.lstrip("_"): copy.deepcopy(v) for k, v in a.items()} for a in found]

    def set_list_filters(self, enabled: bool) -> None:
        """False: ignore the undocumented list filters, as the real API may (see the module docstring)."""
        with self._data_lock:
            self.honour_list_filters = enabled

    def seed_demo_data(
        self,
        buyer_tnids: Sequence[int | str] = seed.DEMO_BUYER_TNIDS,
        suppliers: Mapping[int | str, str] = seed.DEMO_SUPPLIERS,
        *,
        start: dt.datetime = seed.DEMO_START,
    ) -> seed.DemoData:
        """The supplier business's demo books (see `seed.seed_demo_data`)."""
        return seed.seed_demo_data(self, buyer_tnids, suppliers, start=start)

    def reset(self) -> None:
        """Forget every record and token (the default business comes back, with its account codes)."""
        super().reset()
        self._clear_data()

    def error_body(self, status: int, message: str) -> Any:
        path = request.path if has_request_context() else ""
        if path.startswith(_OAUTH_PATHS):
            return {
                "error": "invalid_request" if status < 500 else "server_error",
                "error_description": message,
            }
        return [problem(_ERROR_CODES.get(status, "error"), message)]

    # -- state --------------------------------------------------------------------------------------------

    def _clear_data(self) -> None:
        with self._data_lock:
            self._store = ClearBooksStore()
            self._store.add_business(self.business_name)

    def _books(self, business_id: int | None) -> Books:
        businesses = self._store.businesses
        return businesses[business_id] if business_id is not None else next(iter(businesses.values()))

    def _add_contact(
        self, ledger: str, fields: Mapping[str, Any], created_at: When, business_id: int | None
    ) -> dict[str, Any]:
        values = {k: v for k, v in fields.items() if v is not None}
        with self._data_lock:
            created = self.clock() if created_at is None else _epoch(created_at)
            return _out(self._store.add_contact(self._books(business_id), ledger, values, created))

    def _add_document(
        self,
        ledger: str,
        doc_type: str,
        party_id: int,
        lines: Lines,
        fields: Mapping[str, Any],
        pdf: bool | bytes,
        created_at: When,
        modified_at: When,
        business_id: int | None,
    ) -> dict[str, Any]:
        payload = {k: v for k, v in fields.items() if v is not None}
        payload.setdefault("vatTreatment", "UK")
        payload["lineItems"] = [dict(line) for line in lines]
        payload["customerId" if ledger == SALES else "supplierId"] = party_id
        with self._data_lock:
            books = self._books(business_id)
            created = self.clock() if created_at is None else _epoch(created_at)
            doc = self._store.create_document(books, ledger, doc_type, payload, created, strict=False)
            if modified_at is not None:
                doc["modifiedAt"] = iso(_epoch(modified_at))
            if pdf is not False:
                books.pdfs[doc["id"]] = _pdf_for(doc) if pdf is True else bytes(pdf)
            return _out(doc)

    def _documents(self, ledger: str, doc_type: str, business_id: int | None) -> list[dict[str, Any]]:
        with self._data_lock:
            return [_out(d) for d in self._books(business_id).documents(ledger, doc_type)]

    def _requested_scope(self, scope: Iterable[str] | str | None) -> str:
        if scope is None:
            return self.app_scopes
        requested = _scope_text(scope)
        unknown = [s for s in requested.split() if s not in self.app_scopes.split()]
        if unknown:
            raise ValueError(f"scope not granted to the app: {' '.join(unknown)}")
        return requested

    # -- routes -------------------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        app = self.app
        app.before_request(self._require_token)
        for path in ("/oauth/authorize", "/account/action/oauth/"):
            app.add_url_rule(path, endpoint=f"consent {path}", view_func=self._consent, methods=["GET"])
        app.add_url_rule("/oauth/token", view_func=self._token, methods=["POST"])
        app.add_url_rule("/_sandbox/expire-tokens", view_func=self._expire_tokens_http, methods=["POST"])
        self._route("/v1/businesses", "GET", self._list_businesses, "businesses:read", business=False)
        base = "/v1/accounting"
        for plural, ledger in (("customers", SALES), ("suppliers", PURCHASES)):
            scope = f"accounting.{plural}"
            self._route(f"{base}/{plural}", "GET", self._list_contacts, f"{scope}:read", ledger=ledger)
            self._route(
                f"{base}/{plural}/<int:record_id>", "GET", self._get_contact, f"{scope}:read", ledger=ledger
            )
        self._route(f"{base}/suppliers", "POST", self._create_supplier, "accounting.suppliers:write")
        for ledger, types in LEDGER_TYPES.items():
            docs = f"{base}/{ledger}/<any({', '.join(types)}):doc_type>"
            read, write = f"accounting.{ledger}:read", f"accounting.{ledger}:write"
            one = f"{docs}/<int:record_id>"
            self._route(docs, "GET", self._list_documents, read, ledger=ledger)
            self._route(docs, "POST", self._create_document, write, ledger=ledger)
            self._route(one, "GET", self._get_document, read, ledger=ledger)
            self._route(f"{one}/attachments", "GET", self._list_attachments, read, ledger=ledger)
            self._route(
                f"{one}/attachments/<int:attachment_id>", "GET", self._get_attachment, read, ledger=ledger
            )
            self._route(
                f"{one}/attachments/<file_name>", "POST", self._upload_attachment, write, ledger=ledger
            )
        self._route(f"{base}/sales/<any(invoices, creditNotes):doc_type>/<int:record_id>/pdf", "GET",
                    self._get_pdf, "accounting.sales:read")  # fmt: skip
        self._route(f"{base}/accountCodes", "GET", self._list_account_codes, "accounting.account_codes:read")
        self._route(f"{base}/vatTreatments/<any(sales, purchases):ledger>", "GET", self._vat_treatments,
                    "accounting.vat:read")  # fmt: skip
        self._route(f"{base}/vatRates/<any(sales, purchases):ledger>", "GET", self._vat_rates,
                    "accounting.vat:read")  # fmt: skip

    def _route(
        self,
        rule: str,
        method: str,
        view: Callable[..., Response],
        scope: str,
        *,
        business: bool = True,
        **defaults: str,
    ) -> None:
        endpoint = f"{method} {rule}"
        self._route_scopes[endpoint] = scope
        if not business:
            self._no_business.add(endpoint)
        self.app.add_url_rule(
            rule, endpoint=endpoint, view_func=view, methods=[method], defaults=defaults or None
        )

    def _require_token(self) -> Response | None:
        """Bearer token, then the route's scope, then the business (see the module docstring)."""
        if not request.path.startswith("/v1/"):
            return None
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        with self._data_lock:
            access = self._store.valid_access_token(token, self.clock()) if token else None
            scope = access.scope.split() if access else []
        if access is None:
            return self._errors(
                401,
                [problem("invalid_token", INVALID_TOKEN_MESSAGE)],
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        endpoint = request.url_rule.endpoint if request.url_rule is not None else None
        if endpoint is None:
            return None  # no such route: 404 or 405 follows
        required = self._route_scopes[endpoint]
        if required not in scope:
            message = f"The access token lacks the scope {required} (it has: {' '.join(scope) or 'none'})"
            return self._errors(403, [problem("insufficient_scope", message)])
        if endpoint in self._no_business:
            return None
        return self._select_business()

    def _select_business(self) -> Response | None:
        wanted = request.headers.get(BUSINESS_HEADER, "").strip()
        with self._data_lock:
            businesses = self._store.businesses
            if not wanted:
                if len(businesses) > 1:
                    message = f"{BUSINESS_HEADER} is required: this authorisation has several businesses"
                    return self._errors(400, [problem("business_required", message)])
                g.business_id = next(iter(businesses))
                return None
            if not wanted.isdigit() or int(wanted) not in businesses:
                message = f"Business {wanted} is not available to this authorisation"
                return self._errors(403, [problem("forbidden", message)])
            g.business_id = int(wanted)
        return None

    def _expire_tokens_http(self) -> Response:
        return _json({"expired": self.expire_access_tokens()})

    # -- OAuth ----------------------------------------------------------------------------------------

    def _consent(self) -> Response:
        args = request.args
        redirect_uri = args.get("redirect_uri", "")
        if args.get("client_id") != self.client_id:
            return self._oauth_error(400, "invalid_client", "Client authentication failed: unknown client_id")
        if not redirect_uri.startswith(("http://", "https://")):
            return self._oauth_error(400, "invalid_request", "redirect_uri is required")
        with self._data_lock:
            if self.redirect_uris and redirect_uri not in self.redirect_uris:
                return self._oauth_error(400, "invalid_request", "redirect_uri is not registered for the app")
        state = {"state": args["state"]} if "state" in args else {}
        refused = None
        if args.get("response_type") != "code":
            refused = ("unsupported_response_type", "response_type must be code")
        elif args.get("code_challenge_method", "plain") not in ("S256", "plain"):
            refused = ("invalid_request", "code_challenge_method must be S256 or plain")
        try:
            scope = self._requested_scope(args.get("scope") or None) if refused is None else ""
        except ValueError as exc:
            refused = ("invalid_scope", str(exc))
        if refused is not None:
            error = {"error": refused[0], "error_description": refused[1]}
            return redirect(_with_query(redirect_uri, error | state), code=302)
        challenge = args.get("code_challenge") or None
        method = args.get("code_challenge_method", "plain") if challenge else None  # RFC 7636 §4.3
        url = self.authorize(
            redirect_uri,
            scope,
            state=args.get("state"),
            code_challenge=challenge,
            code_challenge_method=method,
        )
        return redirect(url, code=302)

    def _token(self) -> Response:
        form = request.form.to_dict() if request.mimetype == "application/x-www-form-urlencoded" else {}
        grant_type = form.get("grant_type", "")
        method = "client_secret_basic" if _basic_auth() else "client_secret_post"
        try:
            if request.mimetype != "application/x-www-form-urlencoded":
                raise GrantRefused(400, "invalid_request", "The token request must be form-encoded")
            self._authenticate_client(form)
            response = _json(self._grant(grant_type, form))
            response.headers["Cache-Control"] = "no-store"
        except GrantRefused as refused:
            response = self._oauth_error(refused.status, refused.error, refused.description)
        with self._data_lock:
            self._store.grants.append(grant_entry(grant_type, response, form, client_auth=method))
        return response

    def _authenticate_client(self, form: Mapping[str, str]) -> None:
        basic = _basic_auth()
        if basic is not None and "client_secret" in form:
            raise GrantRefused(400, "invalid_request", "Use one client authentication method, not two")
        client_id, client_secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if not (
            secrets.compare_digest(client_id, self.client_id)
            and secrets.compare_digest(client_secret, self.client_secret)
        ):
            raise GrantRefused(401, "invalid_client", "Client authentication failed")

    def _grant(self, grant_type: str, form: Mapping[str, str]) -> dict[str, Any]:
        if grant_type not in ("authorization_code", "refresh_token"):
            raise GrantRefused(
                400, "unsupported_grant_type", f"The authorization grant type {grant_type!r} is not supported"
            )
        needed = ("code", "redirect_uri") if grant_type == "authorization_code" else ("refresh_token",)
        missing = [name for name in needed if not form.get(name)]
        if missing:
            raise GrantRefused(400, "invalid_request", f"Missing required parameter: {', '.join(missing)}")
        now, ttl = self.clock(), self.access_token_ttl_seconds
        with self._data_lock:
            if grant_type == "authorization_code":
                return self._store.exchange_code(
                    form["code"], form["redirect_uri"], form.get("code_verifier"), ttl, now
                )
            return self._store.refresh(
                form["refresh_token"], ttl, now, revoke_access=self.revoke_access_token_on_refresh
            )

    def _oauth_error(self, status: int, error: str, description: str) -> Response:
        response = _json({"error": error, "error_description": description}, status)
        if status == 401 and _basic_auth() is not None:
            response.headers["WWW-Authenticate"] = 'Basic realm="clearbooks"'
        return response

    # -- businesses, contacts ----------------------------------------------------------------------------

    def _list_businesses(self) -> Response:
        return _json(self.businesses())

    def _list_contacts(self, ledger: str) -> Response:
        filters = self._filters("externalId", "name")
        with self._data_lock:
            records = [c for _, c in sorted(self._current().contacts(ledger).items()) if matches(c, filters)]
            return self._page(records)

    def _get_contact(self, ledger: str, record_id: int) -> Response:
        with self._data_lock:
            contact = self._current().contacts(ledger).get(record_id)
            if contact is None:
                kind = "Customer" if ledger == SALES else "Supplier"
                return self._not_found(f"{kind} {record_id} not found")
            return _json(public(contact))

    def _create_supplier(self) -> Response:
        try:
            body = _json_body()
            if not isinstance(body, dict):
                raise Invalid([problem("invalid_body", "The request body must be a JSON object")])
            if "archived" in body:
                raise Invalid([problem("unknown_field", "Unknown field archived", "archived")])
            with self._data_lock:
                supplier = self._store.add_contact(self._current(), PURCHASES, body, self.clock())
                return _json(public(supplier), 201)
        except Invalid as invalid:
            return self._errors(400, invalid.errors)

    # -- documents ------------------------------------------------------------------------------------

    def _list_documents(self, ledger: str, doc_type: str) -> Response:
        filters = self._filters("reference", "externalId")
        since_text = request.args.get("modifiedSince") if self.honour_list_filters else None
        try:
            since = parse_instant(since_text) if since_text else None
        except ValueError:
            return self._errors(
                400, [problem("invalid_date", "modifiedSince must be an ISO 8601 date-time", "modifiedSince")]
            )
        with self._data_lock:
            records = [d for d in self._current().documents(ledger, doc_type) if matches(d, filters)]
            if since is not None:
                records = [d for d in records if parse_instant(d["modifiedAt"]) >= since]
                records.sort(key=lambda d: (d["modifiedAt"], d["id"]))
            return self._page(records)

    def _get_document(self, ledger: str, doc_type: str, record_id: int) -> Response:
        with self._data_lock:
            doc = self._current().document(ledger, doc_type, record_id)
            if doc is None:
                return self._not_found(f"{_LEDGER_NAMES[(ledger, doc_type)]} {record_id} not found")
            return _json(public(doc))

    def _create_document(self, ledger: str, doc_type: str) -> Response:
        try:
            body = _json_body()
            with self._data_lock:
                doc = self._store.create_document(self._current(), ledger, doc_type, body, self.clock())
                location = f"{request.base_url.rstrip('/')}/{doc['id']}"
                return _json(public(doc), 201, {"Location": location})
        except Invalid as invalid:
            return self._errors(400, invalid.errors)

    def _get_pdf(self, doc_type: str, record_id: int) -> Response:
        with self._data_lock:
            books = self._current()
            doc = books.document(SALES, doc_type, record_id)
            if doc is None:
                return self._not_found(f"{_LEDGER_NAMES[(SALES, doc_type)]} {record_id} not found")
            content = books.pdfs.get(record_id)
            if content is None:
                return self._not_found(f"{doc['formattedDocumentNumber']} has no PDF")
            name = f"{doc['formattedDocumentNumber']}.pdf"
        return Response(
            content, mimetype="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'}
        )

    # -- attachments ----------------------------------------------------------------------------------

    def _upload_attachment(self, ledger: str, doc_type: str, record_id: int, file_name: str) -> Response:
        content = request.get_data(cache=True)
        if request.mimetype.startswith("multipart/"):
            message = "The attachment is the raw request body (application/octet-stream), not multipart"
            return self._errors(400, [problem("invalid_body", message)])
        if not content:
            return self._errors(400, [problem("invalid_body", "The attachment body is empty")])
        with self._data_lock:
            books = self._current()
            doc = books.document(ledger, doc_type, record_id)
            if doc is None:
                return self._not_found(f"{_LEDGER_NAMES[(ledger, doc_type)]} {record_id} not found")
            kind = request.mimetype or "application/octet-stream"
            attachment = self._store.add_attachment(books, doc, file_name, content, kind, self.clock())
            return _json(public(attachment), 201)

    def _list_attachments(self, ledger: str, doc_type: str, record_id: int) -> Response:
        with self._data_lock:
            books = self._current()
            if books.document(ledger, doc_type, record_id) is None:
                return self._not_found(f"{_LEDGER_NAMES[(ledger, doc_type)]} {record_id} not found")
            found = [public(a) for _, a in sorted(books.attachments.items()) if a["_documentId"] == record_id]
            return _json(found)

    def _get_attachment(self, ledger: str, doc_type: str, record_id: int, attachment_id: int) -> Response:
        with self._data_lock:
            attachment = self._current().attachments.get(attachment_id)
            if (
                attachment is None
                or attachment["_documentId"] != record_id
                or attachment["_type"] != doc_type
            ):
                return self._not_found(f"Attachment {attachment_id} not found")
            content, kind, name = attachment["_content"], attachment["_contentType"], attachment["name"]
        return Response(
            content, mimetype=kind, headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    # -- account codes, VAT ---------------------------------------------------------------------------

    def _list_account_codes(self) -> Response:
        with self._data_lock:
            return self._page([c for _, c in sorted(self._current().account_codes.items())])

    def _vat_treatments(self, ledger: str) -> Response:
        return _json([{"key": key, "name": name} for key, name in VAT_TREATMENTS[ledger]])

    def _vat_rates(self, ledger: str) -> Response:
        treatment = request.args.get("vatTreatment")
        if treatment is not None and treatment not in [k for k, _ in VAT_TREATMENTS[ledger]]:
            message = f"vatTreatment {treatment!r} is not a {ledger} VAT treatment"
            return self._errors(400, [problem("invalid_value", message, "vatTreatment")])
        keys = allowed_rate_keys(treatment)
        return _json(
            [
                {
                    "key": key,
                    "name": VAT_RATES[key][0],
                    "rate": VAT_RATES[key][1] if key != MANUAL_VAT else None,
                }
                for key in keys
            ]
        )

    # -- helpers ----------------------------------------------------------------------------------------

    def _current(self) -> Books:
        """The business the request is for (chosen in `_select_business`)."""
        return self._store.businesses[g.business_id]

    def _filters(self, *names: str) -> list[tuple[str, str | None]]:
        if not self.honour_list_filters:
            return []
        return [(name, request.args.get(name)) for name in names]

    def _page(self, records: list[dict[str, Any]]) -> Response:
        """One page of `records` (under the data lock: copies out) with ClearBooks' paging headers."""
        try:
            page = int(request.args.get("page", 1))
            limit = int(request.args.get("limit", DEFAULT_LIMIT))
        except ValueError:
            return self._errors(400, [problem("invalid_value", "page and limit must be integers")])
        if page < 1 or not 1 <= limit <= MAX_LIMIT:
            message = f"page must be at least 1 and limit between 1 and {MAX_LIMIT}"
            return self._errors(400, [problem("invalid_value", message)])
        pages = max(1, math.ceil(len(records) / limit))
        window = [public(r) for r in records[(page - 1) * limit : page * limit]]
        headers = dict(zip(PAGE_HEADERS, (str(page), str(pages), str(len(records))), strict=True))
        return _json(window, 200, headers)

    def _errors(
        self, status: int, errors: list[dict[str, Any]], headers: dict[str, str] | None = None
    ) -> Response:
        return _json(errors, status, headers)

    def _not_found(self, message: str) -> Response:
        return self._errors(404, [problem("not_found", message)])


# -- module helpers -----------------------------------------------------------------------------------------


def _json(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer; `Decimal` amounts written exactly (see `store.render_json`)."""
    return Response(
        render_json(value), status=status, mimetype="application/json", headers=dict(headers or {})
    )


def _json_body() -> Any:
    """The request's JSON, numbers with a fraction parsed as `Decimal` (exact money)."""
    try:
        return json.loads(request.get_data(cache=True) or b"null", parse_float=Decimal)
    except ValueError:
        raise Invalid([problem("invalid_json", "The request body is not valid JSON")]) from None


def _basic_auth() -> tuple[str, str] | None:
    """HTTP Basic client credentials (each form-urlencoded first, RFC 6749 §2.3.1), or None."""
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return None
    return unquote_plus(auth.username or ""), unquote_plus(auth.password or "")


def _out(record: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(public(record))


def _pdf_for(doc: Mapping[str, Any]) -> bytes:
    lines = [
        f"Sales document {doc['formattedDocumentNumber']}",
        f"Date {doc['date']}  Reference {doc['reference'] or '-'}",
        *(f"{line['quantity']} x {line['description']} @ {line['unitPrice']}" for line in doc["lineItems"]),
        f"Net {doc['net']}  VAT {doc['vat']}  Gross {doc['gross']} {doc['currency']}",
    ]
    return simple_pdf(lines)


def _epoch(value: When) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return parse_instant(value).timestamp()
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), dt.UTC).timestamp()
    raise TypeError(f"not a moment: {value!r}")


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _with_query(uri: str, query: Mapping[str, str]) -> str:
    return f"{uri}{'&' if '?' in uri else '?'}{urlencode(query)}"


def _scope_text(scopes: Iterable[str] | str) -> str:
    """Scopes as OAuth writes them: one space-separated string."""
    return " ".join(scopes.split() if isinstance(scopes, str) else scopes)
