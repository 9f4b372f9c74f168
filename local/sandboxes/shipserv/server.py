"""Sandbox ShipServ Invoicing API: the password-grant token, the buyer's document list / detail /
mark-as-exported / attachment bytes, and the supplier's send with idempotency and search-before-create.

It behaves like our reading of ShipServ's public material, so the trade-network partner adapter can be
tested and demonstrated without an account. Facts come from (all read through stored copies, see
/tmp/issue11/shipserv.md):

- KB "Invoicing API", https://corporate.shipserv.com/knowledgebase/5478972-invoicing-api: buyers "Get the
  list of new invoices and credit-notes", import them with supporting documents, "Mark a document as
  exported which will serve as an acknowledgment to your suppliers", "retrieve paged list, filter by header
  information such as reference number, PO number, Supplier, vessel IMO"; suppliers send invoices,
  credit-notes and related documents and "Receive a "READ" status". The example: `GET
  https://test.shipserv.com/invoicing/documents?type=Invoice` with `Authorization: Bearer <32-character
  opaque token>`, answered `{"content": [{"id": "60114dc7628dca000822a5d9", "buyerTnId": 100004,
  "buyerName": ...` (24-hex ids, integer TNIDs, a `content` envelope).
- KB "Invoicing – How it works", https://corporate.shipserv.com/knowledgebase/invoicing-how-it-works:
  invoices are PDFs "linked directly to the order"; "Suppliers can only send invoices and credit notes to
  buyers who are set up to receive them"; "Can I invoice non-ShipServ buyers? Not yet."; credit notes link
  to invoices (or to the order).
- KB "How to set up API subscriptions",
  https://corporate.shipserv.com/knowledgebase/6343537-internal-how-to-set-up-api-subscriptions: a tenant
  generates a client id + secret ("Tenant authorizations"); a dedicated integration user (username =
  e-mail, password); one set of credentials covers every subscription.
- KB "Control Tower API", https://corporate.shipserv.com/knowledgebase/5478984-control-tower-api: paging
  by `pageSize` + `pageNumber`, from 1.
- Public clients: naeemulhaq007/ShipChandlingLaravel12 (`app/Http/Controllers/ShipServController.php`)
  posts JSON `grant_type, username, password, client_id, client_secret` to
  `https://api.shipserv.com/authentication/oauth2/token` and reads `access_token`; chrsch27/pyOfficemate
  (`portals/shipserv/client.py`, `function_app.py`) posts to the same path, calls
  `POST .../order-management/documents/{id}/mark-as-exported` without a body and downloads
  `GET .../attachments/{id}/bytes`; its documents carry `attachments[]{id,name,type,size,classification}`.
  The list item names (`buyerTnId, buyerName, supplierTnId, supplierName, referenceNumber, totalCost,
  status, exported, submittedDate, createdDate, vesselImoNumber, vesselName`) are the Monitoring API's, as
  ShipChandlingLaravel12 reads them.

ASSUMPTIONS (nothing public; check against the developer portal before go-live):

- Token: `POST /authentication/oauth2/token`, JSON (or form) `{"grant_type": "password", "client_id",
  "client_secret", "username", "password"}` → `{"access_token": <32 letters/digits>, "token_type":
  "Bearer", "expires_in": 3600}`; no refresh token (get a new one). Wrong client → 401 `invalid_client`;
  another grant type → 400 `unsupported_grant_type` (`client_credentials`, seen in pyOfficemate, names no
  user, hence no TNID); wrong user or password, or a user of another tenant → 400 `invalid_grant`. An
  unknown or expired token → 401 `{"error": "invalid_token", "error_description"}` with
  `WWW-Authenticate`. Each user has one TNID and a role (supplier, buyer or both).
- `GET /invoicing/documents?type=Invoice|CreditNote&exported=true|false&status=Sent|Read&
  referenceNumber=&purchaseOrderNumber=&supplierTnId=&buyerTnId=&vesselImoNumber=&role=buyer|supplier&
  pageNumber=1&pageSize=20` → `{"content": [summary...], "pageNumber", "pageSize", "totalElements",
  "totalPages"}`, ordered by `submittedDate` then id; `pageSize` 1..100 (default 20), `pageNumber` from
  1 (a page past the end is empty); filters match exactly; a bad value → 400 `INVALID_PARAMETER`.
  `role=buyer` (the default for buyers): documents addressed to the user's TNID; `role=supplier` (the
  default for suppliers): the documents the user's TNID sent — the search-before-create, and the only way
  a supplier sees the READ acknowledgement (`status` "Read" + `readDate`): there is no separate endpoint
  and no webhook here. A role the user does not have → 403.
- `GET /invoicing/documents/{id}` → the full document (summary fields + `buyer{tnId,name}`,
  `supplier{tnId,name}`, `invoiceDate`, `dueDate`, `paymentTerms`, `vessel{name,imoNumber}`, `lineItems`,
  `subCost`, `taxCost`, `cost`, `linkedInvoiceId`, `linkedInvoiceReferenceNumber`, `attachments`). The
  buyer reading it turns "Sent" into "Read" (+ `readDate`); the supplier reading it changes nothing.
  `POST /invoicing/documents/{id}/mark-as-exported` (buyer only, no body) → 200 the document with
  `exported: true` and `exportedDate` (and Read, since the KB calls exporting the acknowledgement);
  idempotent: again → 200, the same `exportedDate`. `GET /attachments/{id}/bytes` → the file
  (`application/pdf`) for either party of its document. Another party's document or attachment → 403;
  an unknown id → 404 `{"errors": [{"code": "NOT_FOUND", "message"}]}`.
- `POST /invoicing/documents` (supplier only) with JSON `{"type", "buyerTnId", "referenceNumber",
  "purchaseOrderNumber", "invoiceDate", "dueDate"?, "paymentTerms"?, "currency", "vesselImoNumber"?,
  "vesselName"?, "lineItems": [{"number"?, "description", "partCode"?, "quantity", "unitOfMeasure"?,
  "unitPrice", "discountCost"?, "totalCost"?, "taxRate"?, "taxCost"?}], "subCost", "taxCost", "cost",
  "linkedInvoiceReferenceNumber" | "linkedInvoiceId" (credit notes), "attachments": [{"name",
  "contentBase64", "classification": "Invoice" | "Supporting"}]}` → 201 the document (status "Sent",
  `Location` header). Money: non-negative decimal strings (2 places; unit prices up to 4), credit notes
  positive too (the `type` carries the sign); quantity and taxRate (a percentage) strings or numbers.
  Unknown fields are refused (stricter than a Spring API, to catch mapping typos). The `Idempotency-Key`
  header (scoped to the sender's TNID; semantics of draft-ietf-httpapi-idempotency-key-header): the same
  key and body again → 200, the same document, `Idempotent-Replayed: true`, no second document; the same
  key with another body → 422 `IDEMPOTENCY_KEY_REUSED`; refused requests are not remembered. Another
  key (or none) for the same (supplier TNID, type, referenceNumber) → 409 `{"errors": [{"code":
  "DUPLICATE_DOCUMENT", "message", "field": "referenceNumber"}], "existingId"}` (checked before the
  validation). Validation → 422 `{"errors": [{"code", "message", "field"}]}` listing every problem:
  `REQUIRED`/`INVALID_VALUE`/`UNKNOWN_FIELD`, `UNKNOWN_BUYER` (not on the network or not set up to receive
  invoices), `PO_REQUIRED`, `LINKED_INVOICE_NOT_FOUND` (a credit note must name an invoice of the same
  supplier and buyer — stricter than the KB, which also allows crediting the order), `TOTALS_MISMATCH`
  (line total = quantity × unitPrice − discountCost half-up; line tax = total × rate %, ±0.01; subCost =
  Σ line totals; taxCost = Σ line taxes or Σ per rate; cost = subCost + taxCost), `INVALID_ATTACHMENT`.
  A body that is not a JSON object → 400.
- Other errors: `{"errors": [{"code", "message"}]}` (`error_body()`; on the token path the OAuth shape).
  `Api-Version` and `x-correlation-id` headers are accepted and ignored.

Python control API: `add_tenant()`, `client_credentials()`, `add_user()`, `user_credentials()`,
`add_buyer()`, `add_supplier()`, `add_received_document()`, `documents()`, `document()`,
`attachment_bytes()`, `mark_read()`, `mark_exported()`, `expire_tokens()`, `tokens_issued`,
`issued_tokens()`, `known_secrets()`, `seed_demo_data()`, `reset()`, plus faults, the request log and rate
limits from the base. HTTP: `POST /_sandbox/expire-tokens`.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import math
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Response, g, has_request_context, jsonify, request
from werkzeug.datastructures import MultiDict

from ..base import SandboxServer
from ..oauth import GrantRefused
from .seed import DEMO_SEED, DemoData, seed_demo
from .store import (
    DEFAULT_TENANT,
    DOCUMENT_TYPES,
    ROLE_BUYER,
    ROLE_SUPPLIER,
    STATUSES,
    LineSpec,
    Refused,
    ShipServStore,
    User,
    forbidden,
    iso_time,
    line_from_spec,
    line_totals,
    new_document,
    problem,
    summary,
)

TOKEN_PATH = "/authentication/oauth2/token"
TOKEN_TTL_SECONDS = 3600
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
SANDBOX_CLIENT_ID = "invoice-relay-shipserv-sandbox"
SANDBOX_CLIENT_SECRET = "shipserv-sandbox-client-secret"  # a sandbox on loopback; not a secret
IDEMPOTENCY_HEADER = "Idempotency-Key"
INVALID_PARAMETER = "INVALID_PARAMETER"
STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_FAILED",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}
OAUTH_ERRORS = {
    400: "invalid_request",
    401: "invalid_client",
    429: "slow_down",
    503: "temporarily_unavailable",
}
_API_PREFIXES = ("/invoicing/", "/attachments/")


class ShipServSandbox(SandboxServer):
    """The sandbox ShipServ Invoicing API (see the module docstring), controllable from Python."""

    name = "shipserv"

    def __init__(
        self,
        *,
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str = SANDBOX_CLIENT_SECRET,
        token_ttl_seconds: float = TOKEN_TTL_SECONDS,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_per_second: int | None = None,
    ):
        super().__init__(host=host, port=port, rate_limit_per_second=rate_limit_per_second)
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl_seconds = token_ttl_seconds
        self.demo: DemoData | None = None
        self._store = ShipServStore(client_id, client_secret)
        self._register_routes()

    # -- Python control API: tenants, users, parties --------------------------------------------------

    def add_tenant(
        self, name: str, client_id: str | None = None, client_secret: str | None = None
    ) -> dict[str, str]:
        """A tenant with its client id + secret (random unless given). Returns `client_credentials(name)`."""
        self._store.add_tenant(name, client_id, client_secret)
        return self.client_credentials(name)

    def client_credentials(self, tenant: str = DEFAULT_TENANT) -> dict[str, str]:
        """The tenant authorization: `{"client_id", "client_secret"}` (KeyError for an unknown tenant)."""
        found = self._store.tenant(tenant)
        return {"client_id": found.client_id, "client_secret": found.client_secret}

    def add_user(
        self, username: str, password: str, tnid: int, name: str, role: str, *, tenant: str = DEFAULT_TENANT
    ) -> dict[str, Any]:
        """An integration user of `tenant` acting for the company `name` with TNID `tnid` as `role`
        (supplier, buyer or both). A buyer's TNID is then set up to receive invoices. Returns
        `user_credentials(username)`."""
        self._store.add_user(User(username, password, tnid, name, role, tenant))
        return self.user_credentials(username)

    def user_credentials(self, username: str) -> dict[str, Any]:
        """The connector's kit for this user: `{"client_id", "client_secret", "username", "password",
        "tnid"}` (the KB's list: client id, client secret, user name, password)."""
        user = self._store.user(username)
        return {**self.client_credentials(user.tenant), "username": user.username, "password": user.password,
                "tnid": user.tnid}  # fmt: skip

    def add_buyer(self, tnid: int, name: str, receives_invoices: bool = True) -> dict[str, Any]:
        """A buyer on the network; only one set up to receive invoices (`receives_invoices`) can be
        invoiced. Adding it again changes its name and setting."""
        party = self._store.add_party(tnid, name, receives_invoices)
        return {"tnId": party.tnid, "name": party.name, "receivesInvoices": party.receives_invoices}

    def add_supplier(self, tnid: int, name: str) -> dict[str, Any]:
        """A supplier company on the network (a sender of received documents); keeps its buyer setting."""
        known = self._store.party(tnid)
        party = self._store.add_party(tnid, name, known.receives_invoices if known else False)
        return {"tnId": party.tnid, "name": party.name, "receivesInvoices": party.receives_invoices}

    # -- Python control API: documents ----------------------------------------------------------------

    def add_received_document(
        self,
        *,
        buyer_tnid: int,
        supplier_tnid: int,
        reference_number: str,
        lines: Iterable[LineSpec | tuple[str, ...]],
        doc_type: str = "Invoice",
        purchase_order_number: str = "PO-1",
        currency: str = "GBP",
        invoice_date: str | None = None,
        due_date: str | None = None,
        payment_terms: str | None = None,
        vessel_imo_number: str | None = None,
        vessel_name: str | None = None,
        linked_invoice_id: str | None = None,
        attachments: Iterable[tuple[str, bytes, str]] = (),
        submitted: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """A document some supplier sent to a buyer, stored as given (no send rules; unknown parties are
        added: the buyer set up to receive invoices). `lines` are `LineSpec`s or tuples (description,
        quantity, unit price[, tax rate %[, part code[, unit]]]) whose totals are computed; `attachments`
        (name, bytes, classification). Returns the stored document (a copy). KeyError for an unknown
        `linked_invoice_id`."""
        if doc_type not in DOCUMENT_TYPES:
            raise ValueError(f"doc_type must be one of {', '.join(DOCUMENT_TYPES)}")
        if self._store.party(buyer_tnid) is None:
            self.add_buyer(buyer_tnid, f"Buyer {buyer_tnid}")
        if self._store.party(supplier_tnid) is None:
            self.add_supplier(supplier_tnid, f"Supplier {supplier_tnid}")
        linked = self.document(linked_invoice_id) if linked_invoice_id else None
        if linked is not None and linked["type"] != "Invoice":
            raise ValueError(f"{linked_invoice_id} is a {linked['type']}, not an invoice")
        served = [
            line_from_spec(spec if isinstance(spec, LineSpec) else LineSpec(*spec), n)
            for n, spec in enumerate(lines, start=1)
        ]
        moment = submitted or dt.datetime.now(dt.UTC)
        header = {
            "referenceNumber": reference_number,
            "purchaseOrderNumber": purchase_order_number,
            "invoiceDate": invoice_date or moment.date().isoformat(),
            "dueDate": due_date,
            "paymentTerms": payment_terms,
            "currency": currency,
            "vesselImoNumber": vessel_imo_number,
            "vesselName": vessel_name,
        }
        document = new_document(
            self._store,
            doc_type=doc_type,
            supplier_tnid=supplier_tnid,
            buyer_tnid=buyer_tnid,
            header=header,
            lines=served,
            totals=line_totals(served),
            submitted=moment,
            linked=linked,
        )
        return self._store.store_document(document, attachments)

    def documents(
        self,
        *,
        buyer_tnid: int | None = None,
        supplier_tnid: int | None = None,
        doc_type: str | None = None,
        exported: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Full documents (copies) ordered by `submittedDate` then id, optionally filtered."""
        wanted = {
            "buyerTnId": buyer_tnid,
            "supplierTnId": supplier_tnid,
            "type": doc_type,
            "exported": exported,
        }
        return self._store.documents(lambda d: all(v is None or d[k] == v for k, v in wanted.items()))

    def document(self, document_id: str) -> dict[str, Any]:
        """One full document (a copy); KeyError if unknown."""
        with _unknown_as_key_error(document_id):
            return self._store.document(document_id)

    def attachment_bytes(self, attachment_id: str) -> bytes:
        """The content of an attachment; KeyError if unknown."""
        with _unknown_as_key_error(attachment_id):
            return self._store.attachment(attachment_id).content

    def mark_read(self, document_id: str) -> dict[str, Any]:
        """As if the buyer had opened the document: "Read" + `readDate` (once)."""
        with _unknown_as_key_error(document_id):
            return self._store.open_as_buyer(document_id, _now_text())

    def mark_exported(self, document_id: str) -> dict[str, Any]:
        """As if the buyer had marked it exported (and so Read)."""
        with _unknown_as_key_error(document_id):
            return self._store.mark_exported(document_id, _now_text())

    # -- Python control API: tokens, demo data, reset -------------------------------------------------

    def expire_tokens(self) -> int:
        """Make every access token issued so far expired. Returns how many were still valid."""
        return self._store.expire_tokens(time.time())

    @property
    def tokens_issued(self) -> int:
        """Access tokens handed out so far."""
        return self._store.tokens_issued

    def issued_tokens(self) -> list[str]:
        return self._store.issued_tokens()

    def known_secrets(self) -> list[str]:
        """Every client secret, password and token of the sandbox (for searches for leaked secrets)."""
        return self._store.known_secrets()

    def seed_demo_data(self, seed: int = DEMO_SEED) -> DemoData:
        """Replace every tenant, user, party and document with the demo network (`seed.py`): a supplier
        tenant with two buyers set up to receive invoices, and a buyer tenant with 25 received documents
        (20 invoices, 5 credit notes). The same seed gives the same documents and ids."""
        self._store = ShipServStore(self.client_id, self.client_secret)
        self.demo = seed_demo(self, seed)
        return self.demo

    def reset(self) -> None:
        """Forget every tenant (but the default), user, token, document, fault and logged request."""
        super().reset()
        self._store = ShipServStore(self.client_id, self.client_secret)
        self.demo = None

    def error_body(self, status: int, message: str) -> Any:
        path = request.path if has_request_context() else ""
        if path == TOKEN_PATH:
            error = OAUTH_ERRORS.get(status, "server_error" if status >= 500 else "invalid_request")
            return {"error": error, "error_description": message}
        if status == 401:
            return {"error": "invalid_token", "error_description": message}
        return {"errors": [{"code": STATUS_CODES.get(status, f"HTTP_{status}"), "message": message}]}

    # -- HTTP API -----------------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        app = self.app
        app.before_request(self._require_token)
        app.register_error_handler(Refused, _refused)
        app.add_url_rule(TOKEN_PATH, view_func=self._token, methods=["POST"])
        documents = "/invoicing/documents"
        app.add_url_rule(documents, view_func=self._list_documents, methods=["GET"])
        app.add_url_rule(documents, view_func=self._send_document, methods=["POST"])
        app.add_url_rule(f"{documents}/<document_id>", view_func=self._get_document, methods=["GET"])
        app.add_url_rule(
            f"{documents}/<document_id>/mark-as-exported", view_func=self._mark_exported, methods=["POST"]
        )
        app.add_url_rule("/attachments/<attachment_id>/bytes", view_func=self._attachment, methods=["GET"])
        app.add_url_rule("/_sandbox/expire-tokens", view_func=self._expire_tokens, methods=["POST"])

    def _require_token(self) -> Response | None:
        if not request.path.startswith(_API_PREFIXES):
            return None
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        user = self._store.token_user(token, time.time()) if token else None
        if user is None:
            message = "Access token expired or invalid" if token else "Missing bearer token"
            return self.error(401, message, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        g.shipserv_user = user
        return None

    def _token(self) -> Response:
        body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        try:
            return jsonify(
                self._store.issue_token(
                    body if isinstance(body, dict) else {}, self.token_ttl_seconds, time.time()
                )
            )
        except GrantRefused as refused:
            response = jsonify(refused.body())
            response.status_code = refused.status
            return response

    def _list_documents(self) -> Response:
        keep, page, size = listing_query(request.args, g.shipserv_user)
        matching = self._store.documents(keep)
        window = matching[(page - 1) * size : page * size]
        return jsonify(
            {
                "content": [summary(d) for d in window],
                "pageNumber": page,
                "pageSize": size,
                "totalElements": len(matching),
                "totalPages": math.ceil(len(matching) / size),
            }
        )

    def _get_document(self, document_id: str) -> Response:
        user: User = g.shipserv_user
        document = self._store.document(document_id)
        if _is_buyer_of(user, document):
            return jsonify(self._store.open_as_buyer(document_id, _now_text()))
        if _is_supplier_of(user, document):
            return jsonify(document)
        raise forbidden(f"Document {document_id} belongs to another party")

    def _mark_exported(self, document_id: str) -> Response:
        if not _is_buyer_of(g.shipserv_user, self._store.document(document_id)):
            raise forbidden(f"Only the buyer of document {document_id} can mark it exported")
        return jsonify(self._store.mark_exported(document_id, _now_text()))

    def _attachment(self, attachment_id: str) -> Response:
        user: User = g.shipserv_user
        attachment = self._store.attachment(attachment_id)
        document = self._store.document(attachment.document_id)
        if not (_is_buyer_of(user, document) or _is_supplier_of(user, document)):
            raise forbidden(f"Attachment {attachment_id} belongs to another party")
        return Response(
            attachment.content,
            mimetype=attachment.type,
            headers={"Content-Disposition": f'attachment; filename="{attachment.name}"'},
        )

    def _send_document(self) -> Response:
        user: User = g.shipserv_user
        if not user.acts_as(ROLE_SUPPLIER):
            raise forbidden("Only a supplier can send invoices and credit notes")
        body = request.get_json(silent=True)
        key = (request.headers.get(IDEMPOTENCY_HEADER) or "").strip() or None
        if key is not None and len(key) > 255:
            raise _bad_parameter(IDEMPOTENCY_HEADER, "Idempotency-Key is too long")
        status, document = self._store.send(user, body, key, dt.datetime.now(dt.UTC))
        response = jsonify(document)
        response.status_code = status
        response.headers["Location"] = f"/invoicing/documents/{document['id']}"
        if status == 200:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    def _expire_tokens(self) -> Response:
        return jsonify({"expired": self.expire_tokens()})


# -- request rules ----------------------------------------------------------------------------------------


def listing_query(args: MultiDict[str, str], user: User) -> tuple[Callable[[dict[str, Any]], bool], int, int]:
    """(which documents, page number, page size) of a `GET /invoicing/documents`; `Refused` 400/403."""
    role = args.get("role") or user.default_role
    if role not in (ROLE_BUYER, ROLE_SUPPLIER):
        raise _bad_parameter("role", "role must be buyer or supplier")
    if not user.acts_as(role):
        raise forbidden(f"This user is not a {role} on the network")
    page = _int_arg(args, "pageNumber", 1, 1, None)
    size = _int_arg(args, "pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    wanted: dict[str, Any] = {"buyerTnId" if role == ROLE_BUYER else "supplierTnId": user.tnid}
    for name, value in _filters(args).items():
        if wanted.setdefault(name, value) != value:  # a TNID filter naming another party: nothing matches
            return (lambda d: False), page, size
    return (lambda d: all(d[k] == v for k, v in wanted.items())), page, size


def _filters(args: MultiDict[str, str]) -> dict[str, Any]:
    """The document fields a listing's filters ask for (exact matches)."""
    wanted: dict[str, Any] = {}
    for name, allowed in (("type", DOCUMENT_TYPES), ("status", STATUSES)):
        if name in args:
            if args[name] not in allowed:
                raise _bad_parameter(name, f"{name} must be one of {', '.join(allowed)}")
            wanted[name] = args[name]
    if "exported" in args:
        if args["exported"].lower() not in ("true", "false"):
            raise _bad_parameter("exported", "exported must be true or false")
        wanted["exported"] = args["exported"].lower() == "true"
    for name in ("referenceNumber", "purchaseOrderNumber", "vesselImoNumber"):
        if args.get(name):
            wanted[name] = args[name]
    for name in ("supplierTnId", "buyerTnId"):
        if args.get(name):
            wanted[name] = _int_arg(args, name, 0, 1, None)
    return wanted


def _int_arg(args: MultiDict[str, str], name: str, default: int, minimum: int, maximum: int | None) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad_parameter(name, f"{name} must be an integer") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"{minimum}..{maximum}" if maximum is not None else f"at least {minimum}"
        raise _bad_parameter(name, f"{name} must be {bounds}")
    return value


def _bad_parameter(name: str, message: str) -> Refused:
    return Refused(400, [problem(INVALID_PARAMETER, message, name)])


def _is_buyer_of(user: User, document: dict[str, Any]) -> bool:
    return user.acts_as(ROLE_BUYER) and document["buyerTnId"] == user.tnid


def _is_supplier_of(user: User, document: dict[str, Any]) -> bool:
    return user.acts_as(ROLE_SUPPLIER) and document["supplierTnId"] == user.tnid


@contextlib.contextmanager
def _unknown_as_key_error(record_id: str) -> Iterator[None]:
    """The Python control API's answer to an unknown record: `KeyError(record_id)`, not `Refused`."""
    try:
        yield
    except Refused:
        raise KeyError(record_id) from None


def _refused(refused: Refused) -> Response:
    response = jsonify(copy.deepcopy(refused.body()))
    response.status_code = refused.status
    return response


def _now_text() -> str:
    return iso_time(dt.datetime.now(dt.UTC))
