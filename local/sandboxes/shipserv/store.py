"""The sandbox ShipServ's records and their rules: tenants (client id/secret), integration users (one TNID
and role each), trading parties (which buyers are set up to receive invoices), access tokens, invoicing
documents (invoices and credit notes, their lines and totals), attachments and idempotency keys.

Plain Python, no Flask: `server.py` reads the request, asks the store and answers. The store is thread-safe
(one lock; every method hands out copies). Refusals are exceptions the server turns into HTTP answers:
`GrantRefused` (token endpoint, RFC 6749 shape) and `Refused` (the API's `{"errors": [...]}` shape). Where
each rule comes from (public source or ASSUMPTION) is written in `server.py`'s docstring and next to the
rule.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import json
import re
import secrets
import string
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..numbers import decimal_or_none, money_text
from ..oauth import GrantRefused

DOCUMENT_TYPES = ("Invoice", "CreditNote")
STATUS_SENT, STATUS_READ = "Sent", "Read"
STATUSES = (STATUS_SENT, STATUS_READ)
ROLE_SUPPLIER, ROLE_BUYER, ROLE_BOTH = "supplier", "buyer", "both"
ROLES = (ROLE_SUPPLIER, ROLE_BUYER, ROLE_BOTH)
CLASSIFICATIONS = ("Invoice", "Supporting")
PDF_TYPE = "application/pdf"
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # ASSUMPTION: no published limit
DEFAULT_TENANT = "default"
TOKEN_LENGTH = 32  # the KB example token "Bosrrp9irkAEt8AnWquHIbPX3M2StcMA" is 32 letters and digits
_TOKEN_ALPHABET = string.ascii_letters + string.digits
_MACHINE = "5e1f0a9c3b"  # the middle of our ObjectId-like ids (fixed: ids depend on time and order only)

# Error codes of the API's `{"errors": [{"code", "message", "field"}]}` body (all ASSUMPTIONS).
REQUIRED = "REQUIRED"
INVALID_VALUE = "INVALID_VALUE"
UNKNOWN_FIELD = "UNKNOWN_FIELD"
UNKNOWN_BUYER = "UNKNOWN_BUYER"
PO_REQUIRED = "PO_REQUIRED"
LINKED_INVOICE_NOT_FOUND = "LINKED_INVOICE_NOT_FOUND"
TOTALS_MISMATCH = "TOTALS_MISMATCH"
INVALID_ATTACHMENT = "INVALID_ATTACHMENT"
DUPLICATE_DOCUMENT = "DUPLICATE_DOCUMENT"
IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
NOT_FOUND = "NOT_FOUND"
FORBIDDEN = "FORBIDDEN"

# What a supplier may send (`POST /invoicing/documents`); anything else is refused, to catch mapping typos.
SEND_FIELDS = frozenset(
    {
        "type", "buyerTnId", "referenceNumber", "purchaseOrderNumber", "invoiceDate", "dueDate",
        "paymentTerms", "currency", "vesselImoNumber", "vesselName", "lineItems", "subCost", "taxCost",
        "cost", "linkedInvoiceReferenceNumber", "linkedInvoiceId", "attachments",
    }
)  # fmt: skip
LINE_FIELDS = frozenset(
    {
        "number", "description", "partCode", "quantity", "unitOfMeasure", "unitPrice", "discountCost",
        "totalCost", "taxRate", "taxCost",
    }
)  # fmt: skip
ATTACHMENT_FIELDS = frozenset({"name", "contentBase64", "classification"})
SUMMARY_FIELDS = (
    "id", "type", "buyerTnId", "buyerName", "supplierTnId", "supplierName", "referenceNumber",
    "purchaseOrderNumber", "vesselImoNumber", "vesselName", "currency", "totalCost", "status", "exported",
    "exportedDate", "readDate", "submittedDate", "createdDate",
)  # fmt: skip

_CENT = Decimal("0.01")
_HUNDRED = Decimal(100)
_MONEY = re.compile(r"\d{1,13}(\.\d{1,2})?")
_UNIT_PRICE = re.compile(r"\d{1,13}(\.\d{1,4})?")  # ASSUMPTION: unit prices may carry 4 decimals
_CURRENCY = re.compile(r"[A-Z]{3}")
_IMO = re.compile(r"\d{7}")  # IMO ship identification numbers are 7 digits


class Refused(Exception):
    """An API request refused: HTTP `status` with `{"errors": [...], **extra}`."""

    def __init__(self, status: int, errors: list[dict[str, Any]], extra: dict[str, Any] | None = None):
        super().__init__("; ".join(e["message"] for e in errors))
        self.status = status
        self.errors = errors
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"errors": self.errors, **self.extra}


def problem(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return error


def not_found(what: str, record_id: str) -> Refused:
    return Refused(404, [problem(NOT_FOUND, f"{what} {record_id} not found")])


def forbidden(message: str) -> Refused:
    return Refused(403, [problem(FORBIDDEN, message)])


@dataclass
class Tenant:
    name: str
    client_id: str
    client_secret: str


@dataclass
class User:
    username: str
    password: str
    tnid: int
    name: str
    role: str
    tenant: str

    def acts_as(self, role: str) -> bool:
        return self.role in (role, ROLE_BOTH)

    @property
    def default_role(self) -> str:
        return ROLE_SUPPLIER if self.role == ROLE_SUPPLIER else ROLE_BUYER


@dataclass
class Party:
    """A company on the trade network, by TNID; only buyers set up to receive invoices can be invoiced."""

    tnid: int
    name: str
    receives_invoices: bool


@dataclass
class Token:
    username: str
    expires_at: float


@dataclass
class Attachment:
    id: str
    document_id: str
    name: str
    type: str
    classification: str
    content: bytes

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "size": len(self.content),
            "classification": self.classification,
        }


@dataclass(frozen=True)
class LineSpec:
    """One line as a test or the seed describes it (money and rates as decimal strings)."""

    description: str
    quantity: str
    unit_price: str
    tax_rate: str = "0"
    part_code: str | None = None
    unit_of_measure: str = "PCE"
    discount_cost: str = "0.00"


class ShipServStore:
    """The whole sandbox network: tenants, users, parties, tokens, documents, attachments, idempotency keys.

    Thread-safe: one lock around every read and change; records are handed out as copies.
    """

    def __init__(self, default_client_id: str, default_client_secret: str) -> None:
        self.lock = threading.RLock()
        self._tenants: dict[str, Tenant] = {}
        self._users: dict[str, User] = {}
        self._parties: dict[int, Party] = {}
        self._tokens: dict[str, Token] = {}
        self._tokens_issued = 0
        self._documents: dict[str, dict[str, Any]] = {}
        self._attachments: dict[str, Attachment] = {}
        self._idempotency: dict[tuple[int, str], tuple[str, str]] = {}  # (tnid, key) → (fingerprint, id)
        self._next_serial = 0x100001
        self.add_tenant(DEFAULT_TENANT, default_client_id, default_client_secret)

    # -- tenants, users, parties ------------------------------------------------------------------------

    def add_tenant(self, name: str, client_id: str | None = None, client_secret: str | None = None) -> Tenant:
        """A tenant and its "tenant authorization" (client id + secret); an existing name is replaced."""
        tenant = Tenant(
            name,
            client_id or f"{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}-{secrets.token_hex(4)}",
            client_secret or secrets.token_urlsafe(24),
        )
        with self.lock:
            if any(t.client_id == tenant.client_id for t in self._tenants.values() if t.name != name):
                raise ValueError(f"client id {tenant.client_id!r} is already another tenant's")
            self._tenants[name] = tenant
            return copy.copy(tenant)

    def tenant(self, name: str) -> Tenant:
        with self.lock:
            if name not in self._tenants:
                raise KeyError(f"no tenant {name!r}")
            return copy.copy(self._tenants[name])

    def add_user(self, user: User) -> User:
        if user.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not is_int(user.tnid) or user.tnid <= 0:
            raise ValueError("tnid must be a positive integer")
        with self.lock:
            if user.tenant not in self._tenants:
                raise KeyError(f"no tenant {user.tenant!r}")
            self._users[user.username.casefold()] = copy.copy(user)
            party = self._parties.get(user.tnid)
            receives = user.acts_as(ROLE_BUYER) or (party is not None and party.receives_invoices)
            self._parties[user.tnid] = Party(user.tnid, user.name, receives)
            return copy.copy(user)

    def user(self, username: str) -> User:
        with self.lock:
            found = self._users.get(username.casefold())
            if found is None:
                raise KeyError(f"no user {username!r}")
            return copy.copy(found)

    def add_party(self, tnid: int, name: str, receives_invoices: bool) -> Party:
        if not is_int(tnid) or tnid <= 0:
            raise ValueError("tnid must be a positive integer")
        with self.lock:
            self._parties[tnid] = Party(tnid, name, receives_invoices)
            return copy.copy(self._parties[tnid])

    def party(self, tnid: int) -> Party | None:
        with self.lock:
            found = self._parties.get(tnid)
            return copy.copy(found) if found is not None else None

    def party_name(self, tnid: int) -> str:
        party = self.party(tnid)
        return party.name if party is not None else f"TNID {tnid}"

    # -- tokens -----------------------------------------------------------------------------------------

    def issue_token(self, body: dict[str, Any], ttl: float, now: float) -> dict[str, Any]:
        """The password grant: the tenant's client id + secret and one of its users (see `server.py`)."""
        with self.lock:
            tenant = self._client(str(body.get("client_id") or ""), str(body.get("client_secret") or ""))
            if tenant is None:
                raise GrantRefused(401, "invalid_client", "Client authentication failed")
            if body.get("grant_type") != "password":
                raise GrantRefused(
                    400, "unsupported_grant_type", "grant_type must be password (client + integration user)"
                )
            username, password = str(body.get("username") or ""), str(body.get("password") or "")
            user = self._users.get(username.casefold())
            if user is None or not secrets.compare_digest(password.encode(), user.password.encode()):
                raise GrantRefused(400, "invalid_grant", "Bad credentials")
            if user.tenant != tenant.name:
                raise GrantRefused(400, "invalid_grant", "The user does not belong to this client's tenant")
            token = "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))
            self._tokens[token] = Token(user.username, now + ttl)
            self._tokens_issued += 1
        return {"access_token": token, "token_type": "Bearer", "expires_in": int(ttl)}

    def _client(self, client_id: str, client_secret: str) -> Tenant | None:
        for tenant in self._tenants.values():
            if secrets.compare_digest(client_id.encode(), tenant.client_id.encode()) and (
                secrets.compare_digest(client_secret.encode(), tenant.client_secret.encode())
            ):
                return tenant
        return None

    def token_user(self, token: str, now: float) -> User | None:
        """The user a live access token was issued to, or None (unknown or expired)."""
        with self.lock:
            issued = self._tokens.get(token)
            if issued is None or issued.expires_at <= now:
                return None
            user = self._users.get(issued.username.casefold())
            return copy.copy(user) if user is not None else None

    def expire_tokens(self, now: float) -> int:
        """Make every access token issued so far expired. Returns how many were still valid."""
        with self.lock:
            valid = sum(1 for t in self._tokens.values() if t.expires_at > now)
            for issued in self._tokens.values():
                issued.expires_at = min(issued.expires_at, now - 1)
            return valid

    @property
    def tokens_issued(self) -> int:
        with self.lock:
            return self._tokens_issued

    def issued_tokens(self) -> list[str]:
        with self.lock:
            return list(self._tokens)

    def known_secrets(self) -> list[str]:
        """Every password, client secret and token the sandbox knows (for leak searches)."""
        with self.lock:
            return [
                *(t.client_secret for t in self._tenants.values()),
                *(u.password for u in self._users.values()),
                *self._tokens,
            ]

    # -- documents: reading -----------------------------------------------------------------------------

    def document(self, document_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._document(document_id))

    def documents(self, keep: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        """Documents (those `keep` accepts), ordered by `submittedDate` then id, as copies."""
        with self.lock:
            chosen = [d for d in self._documents.values() if keep is None or keep(d)]
            return [copy.deepcopy(d) for d in sorted(chosen, key=lambda d: (d["submittedDate"], d["id"]))]

    def _document(self, document_id: str) -> dict[str, Any]:
        """The stored document itself (the caller holds the lock); `Refused` 404 if unknown."""
        found = self._documents.get(document_id)
        if found is None:
            raise not_found("Document", document_id)
        return found

    def attachment(self, attachment_id: str) -> Attachment:
        with self.lock:
            found = self._attachments.get(attachment_id)
            if found is None:
                raise not_found("Attachment", attachment_id)
            return copy.copy(found)

    def open_as_buyer(self, document_id: str, now_text: str) -> dict[str, Any]:
        """The buyer reads the document: it becomes "Read" (the supplier's READ acknowledgement)."""
        with self.lock:
            document = self._document(document_id)
            mark_read(document, now_text)
            return copy.deepcopy(document)

    def mark_exported(self, document_id: str, now_text: str) -> dict[str, Any]:
        """Exported (and Read, if it was not yet). Again: the same answer, `exportedDate` unchanged."""
        with self.lock:
            document = self._document(document_id)
            mark_read(document, now_text)
            if not document["exported"]:
                document["exported"] = True
                document["exportedDate"] = now_text
            return copy.deepcopy(document)

    # -- documents: storing -----------------------------------------------------------------------------

    def new_id(self, moment: dt.datetime) -> str:
        """A 24-hex id shaped like a MongoDB ObjectId (seconds, a fixed machine part, a counter)."""
        with self.lock:
            serial = self._next_serial
            self._next_serial += 1
        return f"{int(moment.timestamp()) & 0xFFFFFFFF:08x}{_MACHINE}{serial & 0xFFFFFF:06x}"

    def store_document(self, document: dict[str, Any], files: Iterable[tuple[str, bytes, str]]) -> dict:
        """Store a complete document and its attachment files ((name, content, classification))."""
        with self.lock:
            moment = parse_time(document["createdDate"])
            document["attachments"] = []
            for name, content, classification in files:
                attachment = Attachment(
                    self.new_id(moment), document["id"], name, content_type(content), classification, content
                )
                self._attachments[attachment.id] = attachment
                document["attachments"].append(attachment.public())
            self._documents[document["id"]] = document
            return copy.deepcopy(document)

    def find_sent(self, supplier_tnid: int, doc_type: str, reference: str) -> dict[str, Any] | None:
        with self.lock:
            for document in self._documents.values():
                if (document["supplierTnId"], document["type"], document["referenceNumber"]) == (
                    supplier_tnid,
                    doc_type,
                    reference,
                ):
                    return document
            return None

    def linked_invoice(
        self, supplier_tnid: int, buyer_tnid: Any, invoice_id: Any, reference: Any
    ) -> dict[str, Any] | None:
        """The invoice a credit note points at (by id or by reference), of the same supplier and buyer."""
        with self.lock:
            for document in self._documents.values():
                if (
                    document["type"] == "Invoice"
                    and document["supplierTnId"] == supplier_tnid
                    and document["buyerTnId"] == buyer_tnid
                    and (
                        (invoice_id is not None and document["id"] == invoice_id)
                        or (invoice_id is None and document["referenceNumber"] == reference)
                    )
                ):
                    return document
            return None

    def send(
        self, supplier: User, body: Any, key: str | None, now: dt.datetime
    ) -> tuple[int, dict[str, Any]]:
        """`POST /invoicing/documents` by a supplier: (201, the new document), or (200, the document an
        earlier request with the same `Idempotency-Key` created). Raises `Refused` (409 duplicate
        reference, 422 validation or a reused key with another body)."""
        if not isinstance(body, dict):
            raise Refused(400, [problem(INVALID_VALUE, "expected a JSON object")])
        fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
        with self.lock:  # one lock: concurrent sends with the same key or reference are serialised
            if key:
                earlier = self._idempotency.get((supplier.tnid, key))
                if earlier is not None:
                    if earlier[0] != fingerprint:
                        raise Refused(
                            422,
                            [
                                problem(
                                    IDEMPOTENCY_KEY_REUSED,
                                    "This Idempotency-Key was used for a different request",
                                    "Idempotency-Key",
                                )
                            ],
                        )
                    return 200, copy.deepcopy(self._documents[earlier[1]])
            self._refuse_duplicate(supplier.tnid, body)
            document, files = build_sent_document(self, supplier, body, now)
            stored = self.store_document(document, files)
            if key:
                self._idempotency[(supplier.tnid, key)] = (fingerprint, stored["id"])
            return 201, stored

    def _refuse_duplicate(self, supplier_tnid: int, body: dict[str, Any]) -> None:
        doc_type, reference = body.get("type"), body.get("referenceNumber")
        if doc_type not in DOCUMENT_TYPES or not isinstance(reference, str) or not reference.strip():
            return
        existing = self.find_sent(supplier_tnid, doc_type, reference.strip())
        if existing is not None:
            raise Refused(
                409,
                [
                    problem(
                        DUPLICATE_DOCUMENT,
                        f"A {doc_type} with reference number {reference.strip()} was already sent "
                        f"({existing['id']})",
                        "referenceNumber",
                    )
                ],
                {"existingId": existing["id"]},
            )


# -- building documents ---------------------------------------------------------------------------------


def new_document(
    store: ShipServStore,
    *,
    doc_type: str,
    supplier_tnid: int,
    buyer_tnid: int,
    header: dict[str, Any],
    lines: list[dict[str, Any]],
    totals: tuple[Decimal, Decimal, Decimal],
    submitted: dt.datetime,
    linked: dict[str, Any] | None,
) -> dict[str, Any]:
    """A complete document in the order its fields are served (summary fields first)."""
    sub_cost, tax_cost, cost = totals
    stamp = iso_time(submitted)
    supplier_name, buyer_name = store.party_name(supplier_tnid), store.party_name(buyer_tnid)
    imo, vessel_name = header.get("vesselImoNumber"), header.get("vesselName")
    return {
        "id": store.new_id(submitted),
        "type": doc_type,
        "buyerTnId": buyer_tnid,
        "buyerName": buyer_name,
        "supplierTnId": supplier_tnid,
        "supplierName": supplier_name,
        "referenceNumber": header["referenceNumber"],
        "purchaseOrderNumber": header["purchaseOrderNumber"],
        "vesselImoNumber": imo,
        "vesselName": vessel_name,
        "currency": header["currency"],
        "totalCost": money_text(cost),
        "status": STATUS_SENT,
        "exported": False,
        "exportedDate": None,
        "readDate": None,
        "submittedDate": stamp,
        "createdDate": stamp,
        "buyer": {"tnId": buyer_tnid, "name": buyer_name},
        "supplier": {"tnId": supplier_tnid, "name": supplier_name},
        "invoiceDate": header["invoiceDate"],
        "dueDate": header.get("dueDate"),
        "paymentTerms": header.get("paymentTerms"),
        "vessel": {"name": vessel_name, "imoNumber": imo} if imo or vessel_name else None,
        "lineItems": lines,
        "subCost": money_text(sub_cost),
        "taxCost": money_text(tax_cost),
        "cost": money_text(cost),
        "linkedInvoiceId": linked["id"] if linked else None,
        "linkedInvoiceReferenceNumber": linked["referenceNumber"] if linked else None,
        "attachments": [],
    }


def line_from_spec(spec: LineSpec, number: int) -> dict[str, Any]:
    """A served line from a `LineSpec`, its totals computed the way the API checks them."""
    quantity, unit_price = Decimal(spec.quantity), Decimal(spec.unit_price)
    discount, rate = Decimal(spec.discount_cost), Decimal(spec.tax_rate)
    total = round_money(quantity * unit_price - discount)
    return {
        "number": number,
        "description": spec.description,
        "partCode": spec.part_code,
        "quantity": decimal_text(quantity),
        "unitOfMeasure": spec.unit_of_measure,
        "unitPrice": price_text(unit_price),
        "discountCost": money_text(discount),
        "totalCost": money_text(total),
        "taxRate": decimal_text(rate),
        "taxCost": money_text(round_money(total * rate / _HUNDRED)),
    }


def line_totals(lines: list[dict[str, Any]]) -> tuple[Decimal, Decimal, Decimal]:
    """(subCost, taxCost, cost) of served lines: the sums of the line totals and line taxes."""
    sub_cost = sum((Decimal(line["totalCost"]) for line in lines), Decimal(0))
    tax_cost = sum((Decimal(line["taxCost"]) for line in lines), Decimal(0))
    return sub_cost, tax_cost, sub_cost + tax_cost


def build_sent_document(
    store: ShipServStore, supplier: User, body: dict[str, Any], now: dt.datetime
) -> tuple[dict[str, Any], list[tuple[str, bytes, str]]]:
    """Validate a supplier's send and build the document; `Refused` (422) lists every problem found."""
    errors: list[dict[str, Any]] = [
        problem(UNKNOWN_FIELD, f"Unknown field {key}", key) for key in sorted(set(body) - SEND_FIELDS)
    ]
    header = check_header(body, errors)
    buyer_tnid = check_buyer(store, body.get("buyerTnId"), errors)
    linked = check_link(store, supplier.tnid, body, errors)
    lines = [check_line(raw, i, errors) for i, raw in enumerate(list_field(body, "lineItems", errors))]
    totals = check_totals(body, lines, errors)
    files = check_attachments(body.get("attachments"), errors)
    if errors or totals is None or buyer_tnid is None:
        raise Refused(422, errors or [problem(INVALID_VALUE, "The document is not valid")])
    document = new_document(
        store,
        doc_type=body["type"],
        supplier_tnid=supplier.tnid,
        buyer_tnid=buyer_tnid,
        header=header,
        lines=[line for line in lines if line],
        totals=totals,
        submitted=now,
        linked=linked,
    )
    return document, files


def check_header(body: dict[str, Any], errors: list[dict[str, Any]]) -> dict[str, Any]:
    header: dict[str, Any] = {}
    if body.get("type") not in DOCUMENT_TYPES:
        code = REQUIRED if body.get("type") is None else INVALID_VALUE
        errors.append(problem(code, f"type must be one of {', '.join(DOCUMENT_TYPES)}", "type"))
    header["referenceNumber"] = text_field(body, "referenceNumber", errors, required=True, limit=50)
    po_number = body.get("purchaseOrderNumber")
    if po_number is None or (isinstance(po_number, str) and not po_number.strip()):
        # "Invoicing allows suppliers to send invoices ... linked directly to the order" (KB).
        errors.append(problem(PO_REQUIRED, "A purchase order number is required", "purchaseOrderNumber"))
    else:
        header["purchaseOrderNumber"] = text_field(body, "purchaseOrderNumber", errors, limit=50)
    header["invoiceDate"] = date_field(body, "invoiceDate", errors, required=True)
    header["dueDate"] = date_field(body, "dueDate", errors, required=False)
    header["paymentTerms"] = text_field(body, "paymentTerms", errors, limit=200)
    currency = body.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        code = REQUIRED if currency is None else INVALID_VALUE
        errors.append(problem(code, "currency must be a 3-letter ISO 4217 code", "currency"))
    header["currency"] = currency
    imo = body.get("vesselImoNumber")
    if imo is not None and (not isinstance(imo, str) or not _IMO.fullmatch(imo)):
        errors.append(problem(INVALID_VALUE, "vesselImoNumber must be 7 digits", "vesselImoNumber"))
    header["vesselImoNumber"] = imo
    header["vesselName"] = text_field(body, "vesselName", errors, limit=100)
    return header


def check_buyer(store: ShipServStore, tnid: Any, errors: list[dict[str, Any]]) -> int | None:
    """Only buyers set up to receive invoices can be invoiced ("Suppliers can only send invoices and credit
    notes to buyers who are set up to receive them", KB "Invoicing – How it works")."""
    if tnid is None:
        errors.append(problem(REQUIRED, "buyerTnId is required", "buyerTnId"))
        return None
    if not is_int(tnid):
        errors.append(problem(INVALID_VALUE, "buyerTnId must be an integer TNID", "buyerTnId"))
        return None
    party = store.party(tnid)
    if party is None or not party.receives_invoices:
        reason = "is not a ShipServ buyer" if party is None else "is not set up to receive invoices"
        errors.append(problem(UNKNOWN_BUYER, f"Buyer TNID {tnid} {reason}", "buyerTnId"))
        return None
    return tnid


def check_link(
    store: ShipServStore, supplier_tnid: int, body: dict[str, Any], errors: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """A credit note must name an invoice of the same supplier and buyer (by `linkedInvoiceId` or
    `linkedInvoiceReferenceNumber`). STRICTER than the KB, which also allows a credit note "issued
    directly to the order" (ASSUMPTION, as the brief asks). An invoice must not name one."""
    invoice_id, reference = body.get("linkedInvoiceId"), body.get("linkedInvoiceReferenceNumber")
    if body.get("type") != "CreditNote":
        if invoice_id is not None or reference is not None:
            errors.append(
                problem(
                    INVALID_VALUE, "Only a credit note links to an invoice", "linkedInvoiceReferenceNumber"
                )
            )
        return None
    invoice_id = invoice_id if isinstance(invoice_id, str) else None
    reference = reference.strip() if isinstance(reference, str) and reference.strip() else None
    linked = None
    if invoice_id is not None or reference is not None:
        linked = store.linked_invoice(supplier_tnid, body.get("buyerTnId"), invoice_id, reference)
    if linked is None:
        named = invoice_id or reference
        message = (
            f"Linked invoice {named} not found for this supplier and buyer"
            if named
            else "A credit note needs the invoice it credits (linkedInvoiceReferenceNumber)"
        )
        field = (
            "linkedInvoiceId" if body.get("linkedInvoiceId") is not None else "linkedInvoiceReferenceNumber"
        )
        errors.append(problem(LINKED_INVOICE_NOT_FOUND, message, field))
    return linked


def check_line(raw: Any, index: int, errors: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One line: `totalCost` = quantity × unitPrice − discountCost (half-up to cents) and `taxCost` =
    totalCost × taxRate % (a sent line tax may differ by one cent: rounding). Given values must agree."""
    where = f"lineItems[{index}]"
    if not isinstance(raw, dict):
        errors.append(problem(INVALID_VALUE, f"{where} must be an object", where))
        return None
    before = len(errors)
    errors += [
        problem(UNKNOWN_FIELD, f"Unknown field {k}", f"{where}.{k}") for k in sorted(set(raw) - LINE_FIELDS)
    ]
    description = text_field(raw, "description", errors, required=True, limit=500, where=where)
    quantity = number_field(raw, "quantity", errors, where, positive=True)
    unit_price = money_field(raw, "unitPrice", errors, where, pattern=_UNIT_PRICE)
    discount = money_field(raw, "discountCost", errors, where, required=False) or Decimal(0)
    rate = number_field(raw, "taxRate", errors, where, required=False, maximum=_HUNDRED) or Decimal(0)
    number = raw.get("number", index + 1)
    if not is_int(number) or number < 1:
        errors.append(problem(INVALID_VALUE, "number must be a positive integer", f"{where}.number"))
    if len(errors) > before or quantity is None or unit_price is None:
        return None
    total = round_money(quantity * unit_price - discount)
    tax = round_money(total * rate / _HUNDRED)
    sent_total = money_field(raw, "totalCost", errors, where, required=False)
    if sent_total is not None and sent_total != total:
        errors.append(
            problem(TOTALS_MISMATCH, f"{where}.totalCost should be {money_text(total)}", f"{where}.totalCost")
        )
    sent_tax = money_field(raw, "taxCost", errors, where, required=False)
    if sent_tax is not None and abs(sent_tax - tax) > _CENT:
        errors.append(
            problem(TOTALS_MISMATCH, f"{where}.taxCost should be {money_text(tax)}", f"{where}.taxCost")
        )
    return {
        "number": number,
        "description": description,
        "partCode": text_field(raw, "partCode", errors, limit=100, where=where),
        "quantity": decimal_text(quantity),
        "unitOfMeasure": text_field(raw, "unitOfMeasure", errors, limit=10, where=where) or "PCE",
        "unitPrice": price_text(unit_price),
        "discountCost": money_text(discount),
        "totalCost": money_text(total),
        "taxRate": decimal_text(rate),
        "taxCost": money_text(sent_tax if sent_tax is not None else tax),
    }


def check_totals(
    body: dict[str, Any], lines: list[dict[str, Any] | None], errors: list[dict[str, Any]]
) -> tuple[Decimal, Decimal, Decimal] | None:
    """subCost = Σ line totals; taxCost = Σ line taxes, or the tax per rate on the sum of its lines (both
    roundings are accepted: ASSUMPTION); cost = subCost + taxCost. Exact to the cent."""
    sub_cost = money_field(body, "subCost", errors)
    tax_cost = money_field(body, "taxCost", errors)
    cost = money_field(body, "cost", errors)
    if sub_cost is None or tax_cost is None or cost is None:
        return None
    before = len(errors)
    if cost != sub_cost + tax_cost:
        errors.append(
            problem(
                TOTALS_MISMATCH,
                f"cost should be subCost + taxCost = {money_text(sub_cost + tax_cost)}",
                "cost",
            )
        )
    if not lines or not all(lines):  # the lines are refused already: their sums cannot be checked
        return None
    line_sub, line_tax, _ = line_totals(lines)
    by_rate: dict[Decimal, Decimal] = {}
    for line in lines:
        rate = Decimal(line["taxRate"])
        by_rate[rate] = by_rate.get(rate, Decimal(0)) + Decimal(line["totalCost"])
    rate_tax = sum((round_money(base * rate / _HUNDRED) for rate, base in by_rate.items()), Decimal(0))
    if sub_cost != line_sub:
        errors.append(problem(TOTALS_MISMATCH, f"subCost should be {money_text(line_sub)}", "subCost"))
    if tax_cost not in (line_tax, rate_tax):
        errors.append(problem(TOTALS_MISMATCH, f"taxCost should be {money_text(line_tax)}", "taxCost"))
    return (sub_cost, tax_cost, cost) if len(errors) == before else None


def check_attachments(raw: Any, errors: list[dict[str, Any]]) -> list[tuple[str, bytes, str]]:
    """Attachments sent inline: `{"name", "contentBase64", "classification": "Invoice" | "Supporting"}`
    (ASSUMPTION: the public order-management client uploads first, `POST /attachments?tnid=`)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.append(problem(INVALID_VALUE, "attachments must be a list", "attachments"))
        return []
    files = []
    for index, item in enumerate(raw):
        where = f"attachments[{index}]"
        if not isinstance(item, dict):
            errors.append(problem(INVALID_ATTACHMENT, f"{where} must be an object", where))
            continue
        errors += [
            problem(UNKNOWN_FIELD, f"Unknown field {k}", f"{where}.{k}")
            for k in sorted(set(item) - ATTACHMENT_FIELDS)
        ]
        name = text_field(item, "name", errors, required=True, limit=255, where=where)
        classification = item.get("classification", "Invoice")
        if classification not in CLASSIFICATIONS:
            errors.append(
                problem(
                    INVALID_VALUE,
                    f"classification must be one of {', '.join(CLASSIFICATIONS)}",
                    f"{where}.classification",
                )
            )
        content = decode_content(item.get("contentBase64"), f"{where}.contentBase64", errors)
        if name and content is not None and classification in CLASSIFICATIONS:
            files.append((name, content, classification))
    return files


def decode_content(value: Any, field: str, errors: list[dict[str, Any]]) -> bytes | None:
    if not isinstance(value, str) or not value:
        errors.append(problem(INVALID_ATTACHMENT, "contentBase64 is required", field))
        return None
    try:
        content = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        errors.append(problem(INVALID_ATTACHMENT, "contentBase64 is not valid base64", field))
        return None
    if not content or len(content) > MAX_ATTACHMENT_BYTES:
        errors.append(
            problem(INVALID_ATTACHMENT, f"An attachment must be 1..{MAX_ATTACHMENT_BYTES} bytes", field)
        )
        return None
    return content


# -- field helpers --------------------------------------------------------------------------------------


def list_field(body: dict[str, Any], key: str, errors: list[dict[str, Any]]) -> list[Any]:
    value = body.get(key)
    if not isinstance(value, list) or not value:
        code = REQUIRED if value is None else INVALID_VALUE
        errors.append(problem(code, f"{key} must be a non-empty list", key))
        return []
    return value


def text_field(
    body: dict[str, Any],
    key: str,
    errors: list[dict[str, Any]],
    *,
    required: bool = False,
    limit: int,
    where: str = "",
) -> str | None:
    field = f"{where}.{key}" if where else key
    value = _given(body, key, errors, field, required)
    if value is None:
        return None
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        errors.append(problem(INVALID_VALUE, f"{key} must be a string of up to {limit} characters", field))
        return None
    return value.strip()


def _given(body: dict[str, Any], key: str, errors: list[dict[str, Any]], field: str, required: bool) -> Any:
    """`body[key]`; None when it is missing (a REQUIRED problem if it is `required`)."""
    value = body.get(key)
    if value is None and required:
        errors.append(problem(REQUIRED, f"{key} is required", field))
    return value


def date_field(body: dict[str, Any], key: str, errors: list[dict[str, Any]], *, required: bool) -> str | None:
    value = _given(body, key, errors, key, required)
    if value is None:
        return None
    try:
        if not isinstance(value, str) or len(value) != len("YYYY-MM-DD"):
            raise ValueError(value)
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        errors.append(problem(INVALID_VALUE, f"{key} must be a date YYYY-MM-DD", key))
        return None


def money_field(
    body: dict[str, Any],
    key: str,
    errors: list[dict[str, Any]],
    where: str = "",
    *,
    required: bool = True,
    pattern: re.Pattern[str] = _MONEY,
) -> Decimal | None:
    """Money: a non-negative decimal string ("12.50"; JSON numbers are refused). Amounts are positive for
    invoices and credit notes alike, the `type` carries the sign (ASSUMPTION)."""
    field = f"{where}.{key}" if where else key
    value = _given(body, key, errors, field, required)
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value.strip()):
        errors.append(
            problem(INVALID_VALUE, f'{key} must be a non-negative decimal string such as "12.50"', field)
        )
        return None
    return Decimal(value.strip())


def number_field(
    body: dict[str, Any],
    key: str,
    errors: list[dict[str, Any]],
    where: str,
    *,
    required: bool = True,
    positive: bool = False,
    maximum: Decimal | None = None,
) -> Decimal | None:
    """A quantity or a percentage: a decimal string or a JSON number."""
    field = f"{where}.{key}"
    value = _given(body, key, errors, field, required)
    if value is None:
        return None
    number = decimal_or_none(value) if isinstance(value, int | float | str) else None
    if (
        number is None
        or number < 0
        or (positive and number == 0)
        or (maximum is not None and number > maximum)
    ):
        errors.append(
            problem(INVALID_VALUE, f"{key} must be a {'positive' if positive else 'valid'} number", field)
        )
        return None
    return number


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def round_money(amount: Decimal) -> Decimal:
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


def price_text(price: Decimal) -> str:
    """A unit price: at least 2 decimals, up to 4 ("212.30", "0.1235")."""
    return money_text(price) if price == round_money(price) else decimal_text(price)


def decimal_text(number: Decimal) -> str:
    """A quantity, unit price or rate without trailing zeros ("2", "1.5", "20", "12.3456")."""
    text = f"{number.normalize():f}"
    return text if text != "-0" else "0"


def content_type(content: bytes) -> str:
    return PDF_TYPE if content.startswith(b"%PDF-") else "application/octet-stream"


def mark_read(document: dict[str, Any], now_text: str) -> None:
    if document["status"] != STATUS_READ:
        document["status"] = STATUS_READ
        document["readDate"] = now_text


def summary(document: dict[str, Any]) -> dict[str, Any]:
    """A document as the list shows it (flat party fields, no lines)."""
    return {key: copy.deepcopy(document[key]) for key in SUMMARY_FIELDS}


def iso_time(moment: dt.datetime) -> str:
    """ISO-8601 UTC with milliseconds and `Z` ("2025-01-27T11:20:31.085Z", as in the public documents)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
