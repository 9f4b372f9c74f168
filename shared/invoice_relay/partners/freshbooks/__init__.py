"""FreshBooks (cloud accounting; flow 3's target): clients, invoices, items, payments, events back.

One partner, one package:
- `config.py`    — `FreshBooksTargetConfig`;
- `oauth.py`     — its OAuth 2.0 endpoints and scopes on the kit's rotating-refresh authenticator (single-use
                   refresh tokens, refreshed under a DynamoDB lease so concurrent Lambdas never burn one);
                   `connector_oauth(config)` (a `ConnectorOAuth`: connect link + callback);
- `client.py`    — `FreshBooksClient` on the HTTP kit: envelopes, paging, errors;
- `mapping.py`   — canonical models ⇄ FreshBooks JSON (the only place FreshBooks payloads are built/read);
- `target.py`    — `FreshBooksTarget`: the document and catalog target, every call safe to repeat;
- `callbacks.py` — webhook callbacks back from FreshBooks: signature, handshake, verifiers, and
                   `payment.create` → "this invoice is settled".

Assumptions about the FreshBooks API (from FreshBooks' public API reference pages for authentication,
search/paging, items and invoices, and from their Python SDK and its test fixtures; the sandbox in
`local/sandboxes/freshbooks/` implements the same ones — check them against the live API before
go-live):

- Hosts: API `https://api.freshbooks.com`, authorize page `https://auth.freshbooks.com/oauth/authorize`
  (`client_id`, `response_type=code`, `redirect_uri`, `state`, `scope`), token endpoint `POST
  {api}/auth/oauth/token`, form-encoded as the official Python SDK sends it. Access tokens last 12 h;
  refresh tokens never expire but are single-use and rotate with every refresh. The app needs the scopes
  in `oauth.SCOPES`; a call without its scope is a 403 `insufficient_scope` (a connector error). See
  `oauth.py` for the grant and answer shapes.
- Every call sends `Authorization: Bearer <token>` and `Api-Version: alpha`. An invalid or expired token
  → 401 (`{"errno": 401, "message": "invalid_token: ..."}`).
- Accounting resources under `/accounting/account/{account_id}/`: `users/clients`, `items/items`,
  `invoices/invoices`, `payments/payments`. Requests wrap the record (`{"client": {...}}`); answers are
  `{"response": {"result": {"client": {...}}}}`; lists are `{"response": {"result": {"clients": [...],
  "page", "pages", "per_page", "total"}}}` with `page`/`per_page` parameters (per_page capped at 100).
  Errors: `{"response": {"errors": [{"errno", "field", "message", "object", "value"}]}}` with 4xx
  (404 not found, 422 validation); the events API answers `{"errno", "message", "details"}`.
- Search parameters used: clients `search[email]` (equals), items `search[sku]` (equals) and
  `search[updated_min]` (YYYY-MM-DD, day granularity), invoices `search[customerid]`,
  `search[date_min]` and `search[date_max]` (on `create_date`), payments `search[invoiceid]`. Lists
  return active records (`vis_state` 0) unless asked otherwise.
- Clients: `fname`, `lname`, `email`, `organization`, `bus_phone`, primary address `p_street`,
  `p_street2`, `p_city`, `p_province`, `p_code`, `p_country`; id in `id` (= `userid`).
- Items: `name`, `description`, `sku` (a real item field, searchable by equals, though not shown in the
  FreshBooks UI), `unit_cost` `{"amount", "code"}`, `vis_state`, `updated`; id in `id` (= `itemid`).
  The SKU of a product/line is the item's `sku` field. Item taxes (`tax1`/`tax2` are ids of taxes set up
  in FreshBooks) are not managed.
- Invoices: `customerid`, `create_date`, `due_offset_days`, `currency_code`, `po_number`, `notes`,
  `terms`, `lines` [{`type` 0, `name`, `description`, `qty`, `unit_cost` {`amount`, `code`},
  `taxName1`, `taxAmount1` (the tax *percentage*)}]; FreshBooks assigns `invoice_number` and computes
  `amount`. Creating invoices concurrently may answer 409 (number collision, nothing created): retried.
  `GET invoices/invoices/{id}?include[]=lines` returns the lines.
- Payments: `invoiceid`, `amount` {`amount`, `code`}, `date`, `type` (one of FreshBooks' payment types:
  "Credit Card", "Debit", "PayPal", "Check", "Cash", "Bank Transfer", "ACH", "Other", ...), `note`.
- Callbacks (webhooks back) under `/events/account/{account_id}/events/callbacks`: create
  `{"callback": {"event", "uri"}}` → `{"callback": {"callbackid", "event", "uri", "verified"}}`;
  FreshBooks then POSTs a verification (form fields incl. `verifier`) to the URI; `PUT
  .../callbacks/{id}` `{"callback": {"verifier"}}` verifies it. Deliveries are form posts (`name`,
  `object_id`, `account_id`, `business_id`, `identity_id`, `user_id`) signed with
  `X-FreshBooks-Hmac-SHA256` = base64(HMAC-SHA256(verifier, JSON of the form fields)) (FreshBooks' webhook
  docs and the Python SDK's user guide).
- Event names are `<noun>.create|update|delete` for bill, client, credit_note, estimate, expense,
  invoice, item, payment, project, recurring, service, tax, time_entry... (plus `invoice.sendByEmail`,
  `estimate.sendByEmail`; a bare noun matches all of its events). There is **no `invoice.paid`**: a
  payment recorded in FreshBooks is `payment.create`, and we mark the source's order paid when the
  payment's invoice has nothing `outstanding` (`{"amount": "0.00"}`; `payment_status` "paid"). Registering
  an unknown name is refused: HTTP 400 `{"errno": 422, "details": ["event: Value error, Unrecognized
  event."]}` (the Python SDK's test fixture `create_callback_response__validation_error.json`).
- Payments: `GET payments/payments/{id}` → `{"payment": {"id", "invoiceid", "amount": {"amount", "code"},
  "date", "type", "note", ...}}`; invoices carry `outstanding` and `paid` as `{"amount", "code"}` decimal
  strings and `payment_status` (`unpaid`, `partial`, `paid`, `auto-paid`) (the Java SDK's invoice fixture).

Design choices:
- Idempotency marker of an invoice: the caller's marker goes into `po_number` (shown on the invoice as
  its reference, so callers pass a readable one such as the shop order's). FreshBooks cannot search
  `po_number`, so `find_invoice_by_marker` lists the client's invoices dated the day before to the day
  after the document's date and filters — a page or two. A source purchase-order number goes to
  `notes`. An invoice deleted in FreshBooks is not found (deleted records are not listed) and would
  be created again.
- Payments are idempotent per invoice by the shop's transaction id, written as "Transaction <id>" in
  the payment's `note`. Two workers recording the same payment at the same instant are not guarded here
  (the pipeline's idempotency layer serialises one work item).
- Clients are matched by email (case-insensitively); a customer without an email is a MappingError. If
  creating a client is refused (400/409/422) and a client with that email now exists, it is used: the
  concurrent creator won the race.
- Money: strings from Decimal with the currency's minor-unit places; invoices only in the connector's
  currency (a document in another currency is a MappingError); credit notes are not delivered.
"""

from __future__ import annotations

from typing import Any

from ..capabilities import CATALOG_TARGET, DOCUMENT_TARGET, OAUTH_CONNECT, WEBHOOK_SOURCE
from ..spec import PartnerSpec, SideSpec
from .config import FreshBooksTargetConfig


def _open_target(config: FreshBooksTargetConfig, context: Any) -> Any:
    from .target import FreshBooksTarget

    return FreshBooksTarget.from_config(
        context.connector_id, config, context.leases, secrets_client=context.secrets_client
    )


def _open_callbacks(config: FreshBooksTargetConfig, context: Any) -> Any:
    if not config.callback_verifier_secret:
        return None  # callbacks are not set up for this connector
    from .callbacks import FreshBooksCallbacks

    return FreshBooksCallbacks(config, context)


def _open_connection(config: FreshBooksTargetConfig, context: Any) -> Any:
    from ...http.oauth import OAuthConnection
    from .oauth import connector_oauth

    return OAuthConnection(connector_oauth(config), context.secrets_client)


SPEC = PartnerSpec(
    system="freshbooks",
    title="FreshBooks",
    category="cloud accounting",
    connection="OAuth 2.0 (authorization code, rotating refresh tokens)",
    documents=("invoice", "payment", "customer", "product"),
    target=SideSpec(
        config=FreshBooksTargetConfig,
        provides={
            DOCUMENT_TARGET: _open_target,
            CATALOG_TARGET: _open_target,
            WEBHOOK_SOURCE: _open_callbacks,
            OAUTH_CONNECT: _open_connection,
        },
        triggers=("webhook", "scheduled"),
    ),
    docs="https://www.freshbooks.com/api/start",
)
