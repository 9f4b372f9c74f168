"""ClearBooks (Clear Books, UK cloud accounting; both sides of flow 5 with the trade network ShipServ).

- upload (source): a supplier's approved sales invoices and sales credit notes, listed as they change,
  each with its buyer's TNID, its PO reference and its PDF;
- download (target): documents a buyer received on the trade network become purchase bills and purchase
  credit notes, exactly once, with their supporting PDF attached.

One partner, one package:
- `config.py`  — `ClearBooksSourceConfig`, `ClearBooksTargetConfig` (common part: `ClearBooksConfig`);
- `oauth.py`   — its OAuth 2.0 endpoints and per-side scopes on the kit's rotating-refresh authenticator
                 (single-use refresh tokens, refreshed under a DynamoDB lease so concurrent Lambdas never
                 spend one twice); `connector_oauth(config)` (a `ConnectorOAuth`: connect link + callback);
- `client.py`  — `ClearBooksClient` on the HTTP kit: bare-array pages with paging headers, error arrays,
                 exact money both ways, `X-Business-ID`, pacing under the documented rate limit;
- `mapping.py` — canonical models ⇄ ClearBooks JSON (the only place its payloads are read or built);
- `source.py`  — `ClearBooksSource` (`POLLED_SOURCE`): incremental keyset listing, fetch and mapping;
- `target.py`  — `ClearBooksTarget` (`DOCUMENT_TARGET`): purchases, suppliers, attachments.

What the public sources say, and what we assume where they are silent. Labels as in the sandbox
(`local/sandboxes/clearbooks/server.py`, which implements the same): [OFFICIAL] Clear Books' own pages
(https://api-docs.clearbooks.co.uk, "Clear Books API (1.0.0)"); [3P-SPEC] third parties who read the
OpenAPI file https://api.clearbooks.co.uk/spec/v1.yaml — maeterlinckle/invogrid (IG,
docs/PROJECT-STATE.md §19–§33) and maeterlinckle/production-tracker (PT, src/Services/ClearBooksClient.php);
[3P-USE] client code (YashPurohit30/Clearbooks-Data-Extraction, YP; Pipedream's ClearBooks actions);
ASSUMPTION: ours. Check every ASSUMPTION against the live API before go-live.

OAuth 2.0:
- Confidential client, authorization-code grant [OFFICIAL]; consent page
  `https://secure.clearbooks.co.uk/account/action/oauth/` with `response_type=code&client_id&
  redirect_uri&scope&state` [3P-USE: PT, IG]; token endpoint `POST https://api.clearbooks.co.uk/oauth/token`
  (outside `/v1`) [OFFICIAL], form-encoded with `client_id` + `client_secret` in the body [3P-USE: PT, IG,
  YP]; answer `{token_type, expires_in (3600), access_token, refresh_token, scope}`; errors RFC 6749's
  `{error, error_description}` [3P-USE: PT].
- "Single use refresh tokens" [OFFICIAL]: every refresh returns a new pair and invalidates the old one
  [3P-SPEC: PT]; "two processes refreshing at once therefore revoke each other" [IG §19] — hence the
  lease (`http/oauth.py`). A spent or revoked refresh token is 400 `invalid_grant`: an
  `AuthenticationError` asking the operator to reconnect.
- "Applications can only hold a single access token for a user at any given time. If a user completes
  the OAuth authorisation flow a second time, the previous access token and refresh token will be
  revoked" [api-docs wording, via api-evangelist/clearbooks rate-limits]. So two connectors (say this
  partner's source and target in one business) must not share one app *and* one ClearBooks user:
  connecting the second disconnects the first. Give each its own app registration or user.
- Scopes [OFFICIAL list]: each side asks only for what it calls (`oauth.SOURCE_SCOPES`: sales read,
  customers read, VAT read; `oauth.TARGET_SCOPES`: purchases read/write — attachments included [3P-SPEC:
  PT secures attachments with the ledger's write scope] — suppliers read/write, VAT read). ASSUMPTION:
  VAT treatments and rates need `accounting.vat:read`. A call without its scope is 403
  `insufficient_scope`: a connector error.

REST, base `https://api.clearbooks.co.uk/v1` [3P-SPEC: IG §19; PT API_BASE]:
- `Authorization: Bearer`; 401 for a missing, expired or revoked token (one refresh, one retry).
  `X-Business-ID` selects the business, "required only for multi-business authorisations" [3P-SPEC: IG
  §19, PT] (config `business_id`).
- Paging `?page=&limit=` (limit capped at 200 [3P-SPEC: IG §19]); the body is a bare JSON array
  [3P-USE: YP, Pipedream] with `X-Pagination-Current-Page` and `X-Pagination-Total-Pages`: stop when they
  are equal, not on a short page [3P-SPEC]. VAT and attachment lists are not paged.
- Errors: a JSON array of `{errorCode, errorMessage}` [3P-SPEC: IG §19] (ASSUMPTION: a `field` member);
  validation is 400 (a business rule may be 422 [3P-USE: PT]): both are a `PermanentError` of the
  document carrying ClearBooks' messages. 429/5xx are retried (the HTTP kit).
- Rate limit: "more than 5 requests per second for a sustained period may be subject to throttling"
  [api-docs via api-evangelist; IG §19]: the client paces itself (`requests_per_second`, default 5) and
  waits out a 429's `Retry-After`.
- Money: JSON numbers exact to the cent [3P-SPEC: `unitPrice` is numeric]; read as `Decimal` (never a
  float) and sent as numbers, not strings. Line `net` = unitPrice × quantity, `vatAmount` per line from
  its rate (or given with `vatRateKey: "Manual"` [3P-SPEC: IG §19]); document `net`/`vat`/`gross` are
  read-only sums ("gross: read-only and calculated by Clear Books" [3P-SPEC: PT]).
- Sales documents `GET /v1/accounting/sales/{invoices|creditNotes}` (+ `/{id}`) [3P-SPEC: PT, IG]:
  `id`, `formattedDocumentNumber` ("the human reference Clear Books shows" [PT]), `customerId`, `date`,
  `dateDue` (invoices only), `reference`, `description`, `status`, `vatTreatment`, `currency`,
  `lineItems[{description, unitPrice, quantity, accountCode, vatRateKey, vatAmount, net, gross}]`, `net`,
  `vat`, `gross`. ASSUMPTIONS: `status` draft|approved|voided (the SOAP vocabulary); `modifiedAt` (ISO
  8601 UTC to the second) changes with every edit, including approving a draft; `currency` always served
  (GBP when omitted "for sterling" [IG]); the customer's PO number travels in `reference`; a credit note
  has no `dateDue` (so a payload with `dateDue` is an invoice) and may carry `linkedInvoiceId`; credit
  notes carry positive amounts [3P-SPEC: IG §24 for purchases; ASSUMED for sales].
- `modifiedSince=<ISO 8601>` on sales lists: NOT DOCUMENTED (the SOAP `modifiedSince` "does not work as
  described"). ASSUMED: documents modified at or after it, sorted by `modifiedAt` then `id`; without it,
  by `id`. The source detects an API that ignores it and walks the whole listing instead (`source.py`).
- `GET /v1/accounting/sales/{type}/{id}/pdf` → `application/pdf`: NOT DOCUMENTED, ASSUMED; 404 = none.
- Customers `GET /v1/accounting/customers/{id}` and suppliers `GET`/`POST /v1/accounting/suppliers`
  [3P-USE: PT, IG, Pipedream]: `{id, name, email, phone, vatNumber, companyNumber, externalId, archived,
  address{building, line1, line2, town, county, postcode, countryCode}}` [3P-SPEC: IG §19]. ASSUMPTIONS:
  `customFields{}` on customers (one place a TNID can live); list filters `externalId=` and `name=`
  (exact) — results are checked here too, so an API that ignores them costs a longer walk, never a wrong
  match; a supplier's `externalId` is unique (a duplicate create is 400).
- Purchases `POST /v1/accounting/purchases/{bills|creditNotes}` [3P-SPEC: IG §19; Pipedream]: `date`,
  `supplierId`, `vatTreatment`, `lineItems` required; `dateDue` on bills only ("a purchase credit note
  has no dateDue field and sending one is a 400" [IG §23, §24]); `reference`, `description`, `currency`.
  Unknown fields are refused. There is no idempotency key [IG]; ASSUMED: `externalId` is kept and can be
  filtered on (`GET ...?externalId=`; IG §31 says "walk the list", which is the fallback).
- Attachments `POST /v1/accounting/purchases/{type}/{id}/attachments/{fileName}`, the raw file as the body
  (not multipart) → `{id, name, size, dateUploaded}`; `GET .../attachments` lists them [3P-SPEC: PT, IG §33].
- VAT: `GET /v1/accounting/vatRates/{sales|purchases}[?vatTreatment=]` → `[{key, name, rate}]`, rate a
  fraction, defined by Clear Books [3P-SPEC: IG §22]. ASSUMPTIONS: keys "20", "5", "0", "exempt",
  "Manual"; the purchases treatments UK, OUT, GI, GIPVA, SIRC (the SOAP `vatTreatment` codes).

Mapping rules:
- Upload: ref id `invoice:<id>` / `creditNote:<id>` (the ledgers' ids are not documented as shared),
  version `modifiedAt`, number `formattedDocumentNumber`. Only `approved` documents are ready. Buyer = the
  customer (cached per run), its TNID as `ExternalRef(system=TNID)` taken from the connector's
  `buyer_tnid_from` (custom field, external id or table); a customer without one fails the document with
  a reason naming the customer and the place looked in. `reference` → `purchase_order` (a missing PO is
  for the network to refuse), `description` → memo, `linkedInvoiceId` → `credited_invoice` (that
  invoice's number). Lines keep their account code, `vatRateKey` (as `tax_code`) and rate in percent
  (a manual VAT amount as the rate it amounts to); taxes are ClearBooks' own per-line amounts summed per
  rate. The PDF is kept in the document bucket (`attachments.keep_attachment`). ClearBooks keeps no
  status for "sent": `acknowledge` writes nothing (see `ClearBooksSource.acknowledge`).
- Download: supplier = `document.seller`, found by its TNID in `externalId`, else by exact name, else
  created with its TNID as `externalId` (`supplier_match`, `create_suppliers`). Line account code: the
  connector's `account_codes` map looked up by the line's SKU, then item code, then account code text,
  else `default_account_code` or failure (`unmapped_lines`). VAT: the line's percent → the first
  purchases rate of `vat_treatment` with that rate (`vat_rate_keys` decides ambiguous ones, e.g. 0 % zero
  rated or exempt). `reference` = the supplier's document number, `description` = PO (and credited
  invoice), `externalId` = the pipeline's marker, `currency` = the document's. A line with a discount is
  sent as one unit at its net amount (ClearBooks lines have no discount).
"""

from __future__ import annotations

from typing import Any

from ..capabilities import DOCUMENT_TARGET, OAUTH_CONNECT, POLLED_SOURCE
from ..spec import PartnerSpec, SideSpec
from .config import ClearBooksConfig, ClearBooksSourceConfig, ClearBooksTargetConfig


def _open_source(config: ClearBooksSourceConfig, context: Any) -> Any:
    from .source import ClearBooksSource

    return ClearBooksSource.from_config(config, context)


def _open_target(config: ClearBooksTargetConfig, context: Any) -> Any:
    from .target import ClearBooksTarget

    return ClearBooksTarget.from_config(config, context)


def _open_connection(config: ClearBooksConfig, context: Any) -> Any:
    from ...http.oauth import OAuthConnection
    from .oauth import connector_oauth

    return OAuthConnection(connector_oauth(config), context.secrets_client)


SPEC = PartnerSpec(
    system="clearbooks",
    title="ClearBooks",
    category="cloud accounting",
    connection="OAuth 2.0 (authorization code, single-use rotating refresh tokens)",
    documents=("invoice", "credit_note"),
    source=SideSpec(
        config=ClearBooksSourceConfig,
        provides={POLLED_SOURCE: _open_source, OAUTH_CONNECT: _open_connection},
    ),
    target=SideSpec(
        config=ClearBooksTargetConfig,
        provides={DOCUMENT_TARGET: _open_target, OAUTH_CONNECT: _open_connection},
    ),
    docs="https://api-docs.clearbooks.co.uk",
)
