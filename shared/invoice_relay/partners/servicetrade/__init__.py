"""ServiceTrade (field service): invoices ready for accounting, polled, and their outcome written back.

Flow 1 of the design: list the invoices in `pending_accounting`, map each to a canonical `Document`, and
after delivery write the outcome back (`processed` with the accounting number and the accounting
system's id as an external id, or `failed` with a private comment giving the reason).

What the public sources say, and what we assume where they are silent (the sandbox in
`local/sandboxes/servicetrade/` implements the same; check the assumptions against
https://api.servicetrade.com/api/docs before go-live):

- Base URL `https://api.servicetrade.com`, resources under `/api`. Every response body is
  `{"data": ...}`; errors are `{"messages": {"error": ["..."]}}`.
- Authentication, chosen by the shape of the connector's secret:
  - `{"client_id", "client_secret"}` (preferred): OAuth 2.0 client credentials. "The SDK exchanges these
    for a bearer token via `POST /api/oauth2/token` with `grant_type=client_credentials`" (README of
    servicetrade/servicetrade-nodejs-sdk); the Python SDK (servicetrade/servicetrade-python-sdk,
    `client.py`) posts them form-encoded to `{base}/api/oauth2/token` and sends `Authorization: Bearer
    <token>`. The SDKs take the token's lifetime from its JWT `exp` claim; we read `expires_in` when
    present, else `exp` (assumption: `expires_in`/`token_type` may be absent). Refused client
    credentials → 401 `{"error": "invalid_client"}`; an expired token → 401, after which we fetch a new
    one once.
  - `{"username", "password"}` (legacy — "a legacy authentication mode that will be removed in a future
    release. Use Client Credentials instead", servicetrade-nodejs-sdk README): a session, `POST
    /api/auth` sets a `PHPSESSID` cookie, `DELETE /api/auth` ends it (servicetrade/servicetrade-nodejs
    `ServicetradeClientSession.ts`). Wrong credentials → 403. An expired or evicted session → 401, after
    which we sign in once more; ServiceTrade keeps a limited number of sessions per user, so each run ends
    its own.
- `GET /api/invoice?status=pending_accounting&type=invoice&page=p&limit=n` → `{"data": {"totalPages",
  "page", "invoices": [...]}}`, pages from 1; `limit` up to 2000 (third-party tool schemas of the API;
  not confirmed first-party). Assumption: each listed invoice is the whole invoice, as `GET
  /api/invoice/{id}` returns it (items, customer, location, totals) — the public docs show one invoice
  representation and no "summary" variant; the poll maps invoices from the listing and fetches one again
  only to re-check a changed invoice before it replaces a known version.
  No results may report totalPages 0. An answer for another page than the
  one asked for, or more pages than `max_pages`, is a partner fault that stops the listing (loop guard).
- Invoice `type` is `invoice`, `vendorbill` or `external`. Only `invoice` is ours: we list with
  `type=invoice` (assumption: the public docs show no `type` filter, so any other type that is listed
  anyway is passed over — never written back). Credits are invoices with negative prices and totals;
  they become canonical credit notes with positive amounts (the kind says which way the money goes).
- Statuses (support article "Invoice Status Definitions" and the "Technical Guide to Invoicing
  Integrations"): `draft`, `ok`, `internal_review` (Needs Review), `pending_accounting`, `processed`,
  `failed`, `sent`, `paid`, `void` (the API spellings other than pending_accounting/processed/failed are
  assumptions). `PUT /api/invoice/{id}` accepts `status`, `invoiceNumber` (1..30 characters) and
  `externalIds`.
- External IDs (the invoicing guide: "ServiceTrade's External IDs feature ... associate records in
  ServiceTrade ... with corresponding records in another system"; system names are lower-case): we write
  `{"externalIds": {"<target system>": "<target id>"}}` with the `processed` status (assumption: the request
  shape is not public).
- `POST /api/comment` `{"entityType", "entityId", "content", "visibility"}`; invoices are entity type 6
  (a third-party list of entity types); an empty `visibility` list makes the comment private (visible
  to our company only) — we always send it explicitly. `GET /api/comment?entityType=&entityId=` →
  `{"data": {"comments": [...]}}`.
- Invoice fields: `id`, `uri`, `invoiceNumber`, `type`, `status`, `transactionDate` and `dueDate` (Unix
  seconds; the invoice date is the UTC date of the timestamp, which assumes ServiceTrade stamps midnight
  of the account's local day or later in a US time zone), `paymentTerms` {`name`, `days`}, `currency`
  (absent → USD), `customer` {`id`, `name`, `uri`, `email`, `phone`, `accountNumber`}, `vendor` {`id`,
  `name`}, `location` {`id`, `name`, `address` {`street`, `city`, `state`, `postalCode`, `country`?}},
  `job` {`id`, `number`}, `poNumber`, `items` [{`id`, `description`, `quantity`, `price`, `totalPrice`,
  `taxable`, `serviceLine` {`id`, `name`, `abbr`}, `libItem` {`id`, `code`}}], `taxRate` (one percent
  rate for the invoice, applied to the taxable items), `subtotal`, `totalTax`, `totalPrice`, `externalIds`,
  `created`, `updated` (Unix seconds). Money arrives as JSON numbers and is read through `to_decimal`.
- `updated` changes whenever the invoice changes, so it serves as the record's version.

Mapping rules: `Line.sku` = libItem.code, `Line.item_code` = serviceLine.abbr (what flat-file templates
map to revenue accounts), `Line.account_code` stays empty; the buyer's address is the service
location's; the memo names the job and the location.
"""

from __future__ import annotations

from typing import Any

from ..capabilities import POLLED_SOURCE
from ..spec import PartnerSpec, SideSpec
from .config import ServiceTradeSourceConfig


def _open_source(config: ServiceTradeSourceConfig, context: Any) -> Any:
    from .source import ServiceTradeSource

    return ServiceTradeSource.from_config(config, context.credentials(config.credentials_secret))


SPEC = PartnerSpec(
    system="servicetrade",
    title="ServiceTrade",
    category="field service",
    connection="OAuth 2.0 client credentials (or a legacy username/password session)",
    documents=("invoice", "credit_note"),
    source=SideSpec(config=ServiceTradeSourceConfig, provides={POLLED_SOURCE: _open_source}),
    docs="https://api.servicetrade.com/api/docs",
)
