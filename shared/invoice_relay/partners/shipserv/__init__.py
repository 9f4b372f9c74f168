"""ShipServ (maritime trade network): flow 5 — a buyer's received invoices and credit notes downloaded into
its accounting system (source), and a supplier's invoices and credit notes sent to its buyers (target).

Companies on the network are identified by their TradeNet ID (TNID). A connector acts for one TNID as one
integration user: the source for a buyer, the target for a supplier.

What the public sources say, and what we assume where they are silent (the sandbox in
`local/sandboxes/shipserv/` implements the same; its `server.py` docstring has the full API description.
Check the assumptions against ShipServ's developer portal before go-live):

- KB "Invoicing API" (https://corporate.shipserv.com/knowledgebase/5478972-invoicing-api): buyers "Get the
  list of new invoices and credit-notes", import them with their supporting documents and "Mark a document
  as exported which will serve as an acknowledgment to your suppliers"; the list can be filtered by header
  fields (reference number, PO number, supplier, vessel IMO); suppliers send invoices, credit notes and
  related documents and "Receive a "READ" status". Its example: `GET .../invoicing/documents?type=Invoice`
  with `Authorization: Bearer <32-character token>`, answered `{"content": [{"id": "60114dc7628dca000822a5d9",
  "buyerTnId": 100004, ...}]}` — 24-hex ids, integer TNIDs, a `content` envelope.
- KB "Invoicing – How it works" (https://corporate.shipserv.com/knowledgebase/invoicing-how-it-works):
  invoices are PDFs linked to the order; "Suppliers can only send invoices and credit notes to buyers who
  are set up to receive them"; credit notes link to invoices.
- KB "How to set up API subscriptions"
  (https://corporate.shipserv.com/knowledgebase/6343537-internal-how-to-set-up-api-subscriptions): a tenant
  authorization (client id + secret) and a dedicated integration user (username = e-mail, password); one
  set of credentials covers every subscription. Hence the connector's secret `{"client_id",
  "client_secret", "username", "password"}`.
- KB "Control Tower API" (https://corporate.shipserv.com/knowledgebase/5478984-control-tower-api): paging by
  `pageSize` + `pageNumber`, from 1.
- Public client code: naeemulhaq007/ShipChandlingLaravel12 (`app/Http/Controllers/ShipServController.php`)
  posts `grant_type=password, username, password, client_id, client_secret` to
  `https://api.shipserv.com/authentication/oauth2/token` and reads `access_token`, and reads list items
  `buyerTnId, buyerName, supplierTnId, supplierName, referenceNumber, totalCost, status, exported,
  submittedDate, createdDate, vesselImoNumber, vesselName`; chrsch27/pyOfficemate (`portals/shipserv/
  client.py`, `function_app.py`) calls `POST .../documents/{id}/mark-as-exported` without a body and
  downloads `GET .../attachments/{id}/bytes`; its documents carry `attachments[]{id, name, type, size,
  classification}`.

ASSUMPTIONS (nothing public; the sandbox implements them):

- Token: OAuth 2.0 password grant (RFC 6749 §4.3, `http.auth.PasswordGrantAuth`) at
  `{api_url}/authentication/oauth2/token`, form-encoded → `{"access_token", "token_type": "Bearer",
  "expires_in"}`, no refresh token (a new grant instead; the kit reuses the token until shortly before it
  expires and fetches a new one once after a 401). A wrong client → 401 `invalid_client`; a wrong user or
  password → 400 `invalid_grant`: both an AuthenticationError naming the user, never a secret.
- Each user acts for one TNID with a role (supplier, buyer or both). The token does not say which TNID,
  and there is no "who am I" call, so the connector's `tnid` is checked against what the network shows:
  every listed or fetched received document's `buyerTnId` (source), the first sent document's and every
  sent or found document's `supplierTnId` (target). Another TNID there is a ConfigurationError naming both.
  A 403 (a role the user does not have: listing as a buyer with a supplier-only user, sending as a
  buyer-only user; or another party's record) is a ConfigurationError too. A target whose user has sent
  nothing yet can only be checked on the answer to its first send.
- `GET /invoicing/documents?role=buyer&exported=false&pageNumber=&pageSize=` (1..100) lists the buyer's
  documents not yet exported, both types (no `type` filter), oldest `submittedDate` first: `{"content":
  [summary...], "pageNumber", "pageSize", "totalElements", "totalPages"}`; a page past the end is empty.
  The summaries have no lines, so each document is fetched: `GET /invoicing/documents/{id}` (the buyer
  reading it turns "Sent" into "Read" on the network — expected: that is the supplier's READ receipt).
- A document's version is its `submittedDate`: a sent document cannot be changed (a second send of the same
  type and reference number is refused with 409 DUPLICATE_DOCUMENT), so only a re-submission could carry
  new content, and it would carry a new `submittedDate`. The status is NOT part of the version (our own
  fetch turns Sent into Read), nor are the party names (a renamed company is no new document).
- Full document fields: the summary's plus `buyer{tnId,name}`, `supplier{tnId,name}`, `invoiceDate`,
  `dueDate`, `paymentTerms` (text), `vessel{name,imoNumber}`, `lineItems[]{number, description, partCode,
  quantity, unitOfMeasure, unitPrice, discountCost, totalCost, taxRate (percent), taxCost}`, `subCost`,
  `taxCost`, `cost`, `linkedInvoiceId`, `linkedInvoiceReferenceNumber`, `attachments`. Money is a decimal
  string (read with `models.money.to_decimal`), 2 places, unit prices up to 4; credit notes are positive
  too — the `type` (`Invoice` | `CreditNote`) says which way the money goes, as in the canonical model.
- `POST /invoicing/documents/{id}/mark-as-exported` (buyer only, no body) is idempotent (again → 200, the
  same `exportedDate`); it is the buyer's acknowledgement to the supplier, so it is written only after the
  accounting system accepted the document. There is no "failed" status: a failure is not written back.
- `POST /invoicing/documents` (supplier only) with `{"type", "buyerTnId", "referenceNumber",
  "purchaseOrderNumber", "invoiceDate", "dueDate"?, "paymentTerms"?, "currency", "lineItems": [...],
  "subCost", "taxCost", "cost", "linkedInvoiceReferenceNumber" (credit notes), "attachments": [{"name",
  "contentBase64", "classification": "Invoice" | "Supporting"}]}` → 201 (unknown fields refused). The
  `Idempotency-Key` header (draft-ietf-httpapi-idempotency-key-header, scoped to the sender's TNID): the
  same key and body → 200 with the first document and `Idempotent-Replayed: true`; the same key with
  another body → 422 IDEMPOTENCY_KEY_REUSED. A second document with the same (supplier, type, reference
  number) → 409 `{"errors": [{"code": "DUPLICATE_DOCUMENT", ...}], "existingId"}`. Validation → 422
  `{"errors": [{"code", "message", "field"}]}` listing every problem: UNKNOWN_BUYER (not on the network
  or not set up to receive invoices), PO_REQUIRED, LINKED_INVOICE_NOT_FOUND (a credit note must name an
  invoice of the same supplier and buyer), TOTALS_MISMATCH, INVALID_VALUE, ... — each becomes a
  PermanentError of the document in the network's words.
- `GET /invoicing/documents?role=supplier&status=Read` is the only way a supplier sees the READ receipt
  (`status` "Read" + `readDate`): no webhook, no event list (`ShipServTarget.read_receipts`).
- Errors: `{"errors": [{"code", "message", "field"?}]}`; 401 → a new token once; 429 and 5xx are
  retried by the HTTP kit, POSTs included (`replay_safe_methods`: every send carries an idempotency key
  and mark-as-exported is idempotent).

Mapping rules (received documents): seller = the supplier, buyer = the buyer, each with its TNID as an
`ExternalRef(system=TNID)`; `Line.sku` = partCode, `Line.unit` = unitOfMeasure; one tax per rate, its
amount the sum of the line taxes or the per-rate rounding, whichever adds up to `taxCost`; memo names the
vessel ("Vessel Bulker Bee 30 (IMO 9489986)"); `credited_invoice` = `linkedInvoiceReferenceNumber`; the
PDF and supporting documents are kept in the document bucket (`attachments.keep_attachment`). Sent
documents: the buyer is addressed by its `tnid` ref (none → the document fails: "no buyer TNID"), the
first PDF attachment is classified Invoice, the others Supporting; the canonical model has no vessel, so
none is sent.
"""

from __future__ import annotations

from typing import Any

from ..capabilities import DELIVERY_RECEIPTS, DOCUMENT_TARGET, POLLED_SOURCE
from ..spec import PartnerSpec, SideSpec
from .config import ShipServSourceConfig, ShipServTargetConfig


def _open_source(config: ShipServSourceConfig, context: Any) -> Any:
    from .source import ShipServSource

    return ShipServSource.from_config(config, context.credentials(config.credentials_secret), context)


def _open_target(config: ShipServTargetConfig, context: Any) -> Any:
    from .target import ShipServTarget

    return ShipServTarget.from_config(config, context.credentials(config.credentials_secret), context)


SPEC = PartnerSpec(
    system="shipserv",
    title="ShipServ",
    category="trade network",
    connection="OAuth 2.0 password grant (tenant client + integration user)",
    documents=("invoice", "credit_note"),
    source=SideSpec(config=ShipServSourceConfig, provides={POLLED_SOURCE: _open_source}),
    target=SideSpec(
        config=ShipServTargetConfig,
        provides={DOCUMENT_TARGET: _open_target, DELIVERY_RECEIPTS: _open_target},
    ),
    docs="https://corporate.shipserv.com/knowledgebase/5478972-invoicing-api",
)
