"""The sandbox ClearBooks' records and their rules: OAuth codes and tokens (single-use rotating refresh
tokens, one live pair per user and app), businesses, customers and suppliers, sales and purchase
documents (numbering, line and document totals in exact decimals, validation in ClearBooks' error-array
shape), PDFs, attachments, account codes and VAT.

The store is plain data: `ClearBooksSandbox` serialises every access with its one data lock, copies
records out, and turns the exceptions raised here (`Invalid`, `GrantRefused`) into HTTP answers. What is
documented and what is assumed is written down in `server.py`'s module docstring.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ..documents import pdf_text, text_page_pdf
from ..oauth import GrantRefused

# Every scope the api-docs list (https://api-docs.clearbooks.co.uk, "Scopes"). The sandbox app is
# granted all of them unless a test narrows it.
SCOPES = (
    "businesses:read", "businesses:write",
    "accounting.account_codes:read", "accounting.account_codes:write",
    "accounting.bank_accounts:read", "accounting.bank_accounts:write",
    "accounting.customers:read", "accounting.customers:write",
    "accounting.suppliers:read", "accounting.suppliers:write",
    "accounting.sales:read", "accounting.sales:write",
    "accounting.purchases:read", "accounting.purchases:write",
    "accounting.payments:read", "accounting.payments:write",
    "accounting.allocations:read", "accounting.allocations:write",
    "accounting.stock_items:read", "accounting.stock_items:write",
    "accounting.vat:read",
    "accounting.bank_feeds:write", "accounting.bank_statements:write",
    "accounting.transactions:read", "accounting.journals:write",
)  # fmt: skip

SALES, PURCHASES = "sales", "purchases"
LEDGER_TYPES = {SALES: ("invoices", "creditNotes"), PURCHASES: ("bills", "creditNotes")}
# ASSUMPTION: prefixes and first numbers. `formattedDocumentNumber` = prefix + 6-digit number, the way the
# SOAP demo builds it (INV000201) and IG §33 quotes a purchase number (PUR0080421).
PREFIXES = {
    (SALES, "invoices"): "INV",
    (SALES, "creditNotes"): "CN",
    (PURCHASES, "bills"): "PUR",
    (PURCHASES, "creditNotes"): "PCN",
}
FIRST_NUMBERS = {
    (SALES, "invoices"): 1001,
    (SALES, "creditNotes"): 1,
    (PURCHASES, "bills"): 1,
    (PURCHASES, "creditNotes"): 1,
}
STATUSES = ("draft", "approved", "voided")
HOME_CURRENCY = "GBP"

# VAT treatments: the SOAP `vatTreatment` codes (createInvoice page), per ledger; names are ASSUMPTIONS.
VAT_TREATMENTS = {
    SALES: (
        ("UK", "Goods or services in the UK"),
        ("OUT", "Outside the scope of UK VAT"),
        ("GE", "Export of goods outside the UK"),
        ("SE", "Export of services outside the UK"),
        ("GNIEU", "Goods from Northern Ireland to the EU"),
        ("DSEU", "Digital services to EU consumers"),
    ),
    PURCHASES: (
        ("UK", "Goods or services in the UK"),
        ("OUT", "Outside the scope of UK VAT"),
        ("GI", "Import of goods"),
        ("GIPVA", "Import of goods, postponed VAT accounting"),
        ("SIRC", "Import of services, reverse charge"),
    ),
}
# VAT rates `{key, name, rate}` (IG §19). ASSUMPTION: keys "20", "5", "0", "exempt" and "Manual" (only
# "Manual" is known to exist); rate a fraction; UK treatment: all of them, any other treatment: "0" and
# "Manual".
VAT_RATES: dict[str, tuple[str, Decimal | None]] = {
    "20": ("Standard 20%", Decimal("0.20")),
    "5": ("Reduced 5%", Decimal("0.05")),
    "0": ("Zero rated 0%", Decimal("0.00")),
    "exempt": ("Exempt", Decimal("0.00")),
    "Manual": ("Manual VAT amount", None),
}
MANUAL_VAT = "Manual"
NON_UK_RATES = ("0", MANUAL_VAT)

# The chart every new business starts with (ASSUMPTION: 4-digit codes; `sales`/`purchases` booleans as
# documented on AccountCode, IG §19; `heading` and `defaultVatRate` after SOAP `group_name` and
# `default_vat_rate`). 7999 is archived: lines may not use it.
DEFAULT_ACCOUNT_CODES = (
    (4000, "Sales", "Income", True, False, "20", False),
    (4100, "Freight and carriage charged", "Income", True, False, "20", False),
    (4900, "Other income", "Income", True, False, "0", False),
    (5000, "Purchases", "Cost of sales", False, True, "20", False),
    (5100, "Freight and carriage", "Cost of sales", False, True, "20", False),
    (5200, "Ship spares and stores", "Cost of sales", False, True, "20", False),
    (7500, "Office costs", "Overheads", False, True, "20", False),
    (7800, "Repairs and maintenance", "Overheads", False, True, "20", False),
    (7999, "Old purchases (archived)", "Overheads", False, True, "20", True),
)

ADDRESS_FIELDS = ("building", "line1", "line2", "town", "county", "postcode", "countryCode")
CONTACT_FIELDS = frozenset(
    {"name", "email", "phone", "vatNumber", "companyNumber", "externalId", "address", "customFields"}
)
LINE_FIELDS = frozenset({"description", "unitPrice", "quantity", "accountCode", "vatRateKey", "vatAmount"})
LINE_REQUIRED = ("description", "unitPrice", "quantity", "accountCode", "vatRateKey")
_COMMON_FIELDS = {"date", "reference", "description", "vatTreatment", "currency", "exchangeRate",
                  "lineItems", "externalId", "status"}  # fmt: skip
DOCUMENT_FIELDS = {
    (SALES, "invoices"): frozenset(_COMMON_FIELDS | {"customerId", "dateDue"}),
    (SALES, "creditNotes"): frozenset(_COMMON_FIELDS | {"customerId", "linkedInvoiceId"}),
    (PURCHASES, "bills"): frozenset(_COMMON_FIELDS | {"supplierId", "dateDue"}),
    (PURCHASES, "creditNotes"): frozenset(_COMMON_FIELDS | {"supplierId"}),
}
PARTY_FIELD = {SALES: "customerId", PURCHASES: "supplierId"}
UPDATABLE_FIELDS = frozenset({"date", "dateDue", "reference", "description", "status", "lineItems"})

CODE_TTL_SECONDS = 600
_CENT = Decimal("0.01")
_MAX_PLACES = 4  # ASSUMPTION: unitPrice and quantity carry at most 4 decimal places
_MAX_NUMBER = Decimal("1e12")  # larger numbers are refused (a sandbox limit: exact sums stay cheap)


# -- errors -----------------------------------------------------------------------------------------------


def problem(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """One entry of ClearBooks' error array `{errorCode, errorMessage}` (+ `field`, an ASSUMPTION)."""
    entry: dict[str, Any] = {"errorCode": code, "errorMessage": message}
    if field is not None:
        entry["field"] = field
    return entry


class Invalid(ValueError):
    """Validation problems, answered 400 with the error array."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__("; ".join(e["errorMessage"] for e in errors))
        self.errors = errors


# -- OAuth ------------------------------------------------------------------------------------------------


@dataclass
class AuthorizationCode:
    redirect_uri: str
    scope: str
    expires_at: float
    code_challenge: str | None = None
    code_challenge_method: str | None = None


@dataclass
class AccessToken:
    grant: int
    scope: str
    expires_at: float
    revoked: bool = False


@dataclass
class RefreshToken:
    grant: int
    scope: str
    used: bool = False
    revoked: bool = False


INVALID_REFRESH = "The refresh token is invalid."
INVALID_CODE = "The authorization code is invalid, expired or already used."


def pkce_matches(verifier: str, challenge: str, method: str | None) -> bool:
    if (method or "plain") == "plain":
        return secrets.compare_digest(verifier, challenge)
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return secrets.compare_digest(expected, challenge)


# -- the books of one business ----------------------------------------------------------------------------


@dataclass
class Books:
    """One business's records, keyed by id. Documents keep exact `Decimal` amounts; keys starting with
    `_` are internal and never served."""

    id: int
    name: str
    customers: dict[int, dict[str, Any]] = field(default_factory=dict)
    suppliers: dict[int, dict[str, Any]] = field(default_factory=dict)
    sales: dict[int, dict[str, Any]] = field(default_factory=dict)
    purchases: dict[int, dict[str, Any]] = field(default_factory=dict)
    pdfs: dict[int, bytes] = field(default_factory=dict)
    attachments: dict[int, dict[str, Any]] = field(default_factory=dict)
    account_codes: dict[int, dict[str, Any]] = field(default_factory=dict)
    numbers: dict[tuple[str, str], int] = field(default_factory=lambda: dict(FIRST_NUMBERS))

    def ledger(self, ledger: str) -> dict[int, dict[str, Any]]:
        return self.sales if ledger == SALES else self.purchases

    def contacts(self, ledger: str) -> dict[int, dict[str, Any]]:
        return self.customers if ledger == SALES else self.suppliers

    def document(self, ledger: str, doc_type: str, doc_id: int) -> dict[str, Any] | None:
        doc = self.ledger(ledger).get(doc_id)
        return doc if doc is not None and doc["_type"] == doc_type else None

    def documents(self, ledger: str, doc_type: str) -> list[dict[str, Any]]:
        return [d for _, d in sorted(self.ledger(ledger).items()) if d["_type"] == doc_type]

    def take_number(self, ledger: str, doc_type: str) -> int:
        number = self.numbers[(ledger, doc_type)]
        self.numbers[(ledger, doc_type)] = number + 1
        return number


# -- the store --------------------------------------------------------------------------------------------


@dataclass
class ClearBooksStore:
    """Tokens keyed by their value, businesses by id; ids are unique across businesses."""

    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    grants: list[dict[str, Any]] = field(default_factory=list)
    businesses: dict[int, Books] = field(default_factory=dict)
    next_grant: int = 1
    next_id: dict[str, int] = field(
        default_factory=lambda: {
            "business": 12345,
            "contact": 101,
            "sales": 5001,
            "purchases": 900001,
            "attachment": 70001,
        }
    )

    def take_id(self, kind: str) -> int:
        value = self.next_id[kind]
        self.next_id[kind] = value + 1
        return value

    # -- OAuth ----------------------------------------------------------------------------------------

    def new_code(
        self,
        redirect_uri: str,
        scope: str,
        now: float,
        code_challenge: str | None = None,
        code_challenge_method: str | None = None,
    ) -> str:
        code = secrets.token_urlsafe(24)
        self.codes[code] = AuthorizationCode(
            redirect_uri, scope, now + CODE_TTL_SECONDS, code_challenge, code_challenge_method
        )
        return code

    def exchange_code(
        self, code: str, redirect_uri: str, verifier: str | None, ttl: float, now: float
    ) -> dict[str, Any]:
        """`authorization_code` grant: the code works once, for its redirect URI (and PKCE verifier).
        Completing the flow revokes every earlier pair (one token per user and app, api-docs)."""
        issued = self.codes.pop(code, None)
        if issued is None or issued.expires_at < now:
            raise GrantRefused(400, "invalid_grant", INVALID_CODE)
        if issued.redirect_uri != redirect_uri:
            raise GrantRefused(400, "invalid_grant", "redirect_uri does not match the authorization request")
        if issued.code_challenge is not None and not (
            verifier and pkce_matches(verifier, issued.code_challenge, issued.code_challenge_method)
        ):
            raise GrantRefused(400, "invalid_grant", "Failed to verify code_verifier")
        for access in self.access_tokens.values():
            access.revoked = True
        for refresh in self.refresh_tokens.values():
            refresh.revoked = True
        grant = self.next_grant
        self.next_grant += 1
        return self.issue_tokens(grant, issued.scope, ttl, now)

    def refresh(self, token: str, ttl: float, now: float, *, revoke_access: bool) -> dict[str, Any]:
        """`refresh_token` grant: single use (checked and spent in one step under the caller's lock); the
        new pair keeps the scopes; the pair's access token dies with it when `revoke_access`."""
        current = self.refresh_tokens.get(token)
        if current is None or current.used or current.revoked:
            raise GrantRefused(400, "invalid_grant", INVALID_REFRESH)
        current.used = True
        if revoke_access:
            for access in self.access_tokens.values():
                if access.grant == current.grant:
                    access.revoked = True
        return self.issue_tokens(current.grant, current.scope, ttl, now)

    def issue_tokens(self, grant: int, scope: str, ttl: float, now: float) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(32), "def50200" + secrets.token_hex(32)
        self.access_tokens[access] = AccessToken(grant, scope, now + ttl)
        self.refresh_tokens[refresh] = RefreshToken(grant, scope)
        return {
            "token_type": "Bearer",
            "expires_in": int(ttl),
            "access_token": access,
            "refresh_token": refresh,
            "scope": scope,
        }

    def valid_access_token(self, token: str, now: float) -> AccessToken | None:
        access = self.access_tokens.get(token)
        if access is None or access.revoked or access.expires_at <= now:
            return None
        return access

    # -- businesses -----------------------------------------------------------------------------------

    def add_business(self, name: str, business_id: int | None = None) -> Books:
        if business_id is None:
            business_id = self.take_id("business")
        else:
            self.next_id["business"] = max(self.next_id["business"], business_id + 1)
        books = Books(business_id, name)
        for code, code_name, heading, sales, purchases, vat, archived in DEFAULT_ACCOUNT_CODES:
            books.account_codes[code] = account_code(
                code, code_name, heading, sales, purchases, vat, archived
            )
        self.businesses[business_id] = books
        return books

    # -- contacts -------------------------------------------------------------------------------------

    def add_contact(self, books: Books, ledger: str, fields: Mapping[str, Any], now: float) -> dict[str, Any]:
        """A customer (`sales`) or supplier (`purchases`), validated like `POST /v1/accounting/suppliers`
        (externalId unique among that ledger's contacts: an ASSUMPTION)."""
        check_contact(fields)
        external_id = fields.get("externalId")
        if external_id not in (None, "") and any(
            c["externalId"] == external_id for c in books.contacts(ledger).values()
        ):
            raise Invalid([problem("duplicate", f"externalId {external_id!r} is already used", "externalId")])
        contact_id = self.take_id("contact")
        address = fields.get("address") or {}
        contact = {
            "id": contact_id,
            "name": fields["name"].strip(),
            "email": fields.get("email"),
            "phone": fields.get("phone"),
            "vatNumber": fields.get("vatNumber"),
            "companyNumber": fields.get("companyNumber"),
            "externalId": external_id if external_id != "" else None,
            "archived": bool(fields.get("archived", False)),
            "address": {k: address.get(k) for k in ADDRESS_FIELDS},
            "customFields": dict(fields.get("customFields") or {}),
            "createdAt": iso(now),
            "modifiedAt": iso(now),
        }
        books.contacts(ledger)[contact_id] = contact
        return contact

    # -- documents ------------------------------------------------------------------------------------

    def create_document(
        self,
        books: Books,
        ledger: str,
        doc_type: str,
        payload: object,
        now: float,
        *,
        strict: bool = True,
    ) -> dict[str, Any]:
        """Validate `payload` (all problems at once → `Invalid`) and store the document. `strict` (the
        HTTP API): numbers must be JSON numbers; from Python, strings and floats are converted."""
        values = DocumentCheck(books, ledger, doc_type, strict).run(payload)
        doc_id = self.take_id(ledger)
        number = books.take_number(ledger, doc_type)
        prefix = PREFIXES[(ledger, doc_type)]
        party = PARTY_FIELD[ledger]
        doc: dict[str, Any] = {
            "id": doc_id,
            "documentPrefix": prefix,
            "documentNumber": number,
            "formattedDocumentNumber": f"{prefix}{number:06d}",
            party: values[party],
            "date": values["date"],
        }
        if "dateDue" in DOCUMENT_FIELDS[(ledger, doc_type)]:
            doc["dateDue"] = values.get("dateDue")
        doc.update(
            {
                "reference": values.get("reference") or "",
                "description": values.get("description") or "",
                "status": values.get("status") or "approved",
                "vatTreatment": values["vatTreatment"],
                "currency": values.get("currency") or HOME_CURRENCY,
                "exchangeRate": values.get("exchangeRate") or Decimal("1"),
                "externalId": values.get("externalId"),
            }
        )
        if (ledger, doc_type) == (SALES, "creditNotes"):
            doc["linkedInvoiceId"] = values.get("linkedInvoiceId")
        set_lines(doc, values["lineItems"])
        doc.update({"createdAt": iso(now), "modifiedAt": iso(now), "_type": doc_type, "_ledger": ledger})
        books.ledger(ledger)[doc_id] = doc
        return doc

    def update_document(
        self, books: Books, doc: dict[str, Any], changes: Mapping[str, Any], now: float
    ) -> dict[str, Any]:
        """Change some fields (`UPDATABLE_FIELDS`) and set `modifiedAt` to now."""
        unknown = sorted(set(changes) - UPDATABLE_FIELDS)
        if unknown:
            raise Invalid([problem("unknown_field", f"{k} cannot be changed", k) for k in unknown])
        if "dateDue" in changes and "dateDue" not in doc:
            raise Invalid([problem("unknown_field", "a credit note has no dateDue", "dateDue")])
        if "status" in changes and changes["status"] not in STATUSES:
            raise Invalid([problem("invalid_value", f"status must be one of {STATUSES}", "status")])
        check = DocumentCheck(books, doc["_ledger"], doc["_type"], strict=False)
        check.treatment = doc["vatTreatment"]
        lines = check.lines(changes["lineItems"]) if "lineItems" in changes else None
        for key in ("date", "dateDue"):
            if changes.get(key) is not None:
                check.date(changes, key, required=False)
        if check.problems:
            raise Invalid(check.problems)
        doc.update({k: v for k, v in changes.items() if k != "lineItems"})
        if lines is not None:
            set_lines(doc, lines)
        doc["modifiedAt"] = iso(now)
        return doc

    def add_attachment(
        self, books: Books, doc: dict[str, Any], name: str, content: bytes, content_type: str, now: float
    ) -> dict[str, Any]:
        attachment_id = self.take_id("attachment")
        attachment = {
            "id": attachment_id,
            "name": name,
            "size": len(content),
            "dateUploaded": iso(now),
            "_ledger": doc["_ledger"],
            "_type": doc["_type"],
            "_documentId": doc["id"],
            "_contentType": content_type,
            "_content": content,
        }
        books.attachments[attachment_id] = attachment
        return attachment


# -- validation -------------------------------------------------------------------------------------------


class DocumentCheck:
    """The rules of a sales or purchase document payload; collects every problem before refusing."""

    def __init__(self, books: Books, ledger: str, doc_type: str, strict: bool):
        self.books, self.ledger, self.doc_type, self.strict = books, ledger, doc_type, strict
        self.problems: list[dict[str, Any]] = []
        self.treatment: str | None = None

    def run(self, payload: object) -> dict[str, Any]:
        if not isinstance(payload, Mapping):
            raise Invalid([problem("invalid_body", "The request body must be a JSON object")])
        allowed = DOCUMENT_FIELDS[(self.ledger, self.doc_type)]
        for key in sorted(set(payload) - allowed):
            message = (
                "dateDue is not allowed on a credit note"
                if key == "dateDue"
                else f"Unknown field {key} on {self.ledger} {self.doc_type}"
            )
            self.problems.append(problem("unknown_field", message, key))
        party = PARTY_FIELD[self.ledger]
        for key in ("date", party, "vatTreatment", "lineItems"):
            if payload.get(key) is None:
                self.problems.append(problem("required", f"{key} is required", key))
        values: dict[str, Any] = {
            "date": self.date(payload, "date", required=True),
            party: self.party(payload.get(party), party),
            "vatTreatment": self.vat_treatment(payload.get("vatTreatment")),
        }
        if "dateDue" in allowed:
            values["dateDue"] = self.date(payload, "dateDue", required=False)
        values.update(self.texts(payload))
        values.update(self.money_context(payload))
        if (self.ledger, self.doc_type) == (SALES, "creditNotes"):
            values["linkedInvoiceId"] = self.linked_invoice(payload.get("linkedInvoiceId"), values[party])
        lines = payload.get("lineItems")
        values["lineItems"] = self.lines(lines) if lines is not None else []
        lines_total = sum((line["gross"] for line in values["lineItems"]), Decimal(0))
        if self.doc_type == "creditNotes" and not self.problems and lines_total < 0:
            self.problems.append(
                problem("invalid_value", "A credit note takes positive amounts", "lineItems")
            )
        if self.problems:
            raise Invalid(self.problems)
        return values

    def date(self, payload: Mapping[str, Any], key: str, *, required: bool) -> str | None:
        value = payload.get(key)
        if value is None:
            return None
        try:
            if not isinstance(value, str) or len(value) != 10:
                raise ValueError(value)
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            self.problems.append(problem("invalid_date", f"{key} must be a date YYYY-MM-DD", key))
            return None

    def party(self, value: object, key: str) -> int | None:
        if value is None:
            return None
        if not is_int(value, self.strict):
            self.problems.append(problem("invalid_type", f"{key} must be an integer", key))
            return None
        contact = self.books.contacts(self.ledger).get(int(value))  # type: ignore[arg-type]
        if contact is None:
            kind = "customer" if self.ledger == SALES else "supplier"
            self.problems.append(problem("not_found", f"{key} does not exist: no {kind} {value}", key))
            return None
        return contact["id"]

    def vat_treatment(self, value: object) -> str | None:
        if value is None:
            return None
        keys = [k for k, _ in VAT_TREATMENTS[self.ledger]]
        if value not in keys:
            self.problems.append(
                problem("invalid_value", f"vatTreatment must be one of {', '.join(keys)}", "vatTreatment")
            )
            return None
        self.treatment = str(value)
        return self.treatment

    def texts(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key in ("reference", "description", "externalId"):
            value = payload.get(key)
            if value is not None and not isinstance(value, str):
                self.problems.append(problem("invalid_type", f"{key} must be a string", key))
            else:
                values[key] = value
        status = payload.get("status")
        if status is not None and status not in ("draft", "approved"):
            self.problems.append(problem("invalid_value", "status must be draft or approved", "status"))
        values["status"] = status if status in ("draft", "approved") else None
        return values

    def money_context(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        currency = payload.get("currency")
        if currency is not None:
            if not (
                isinstance(currency, str) and len(currency) == 3 and currency.isalpha() and currency.isupper()
            ):
                self.problems.append(
                    problem("invalid_value", "currency must be an ISO 4217 code", "currency")
                )
            else:
                values["currency"] = currency
        rate = payload.get("exchangeRate")
        if rate is not None:
            number = to_decimal(rate, self.strict)
            if number is None or number <= 0:
                self.problems.append(
                    problem("invalid_value", "exchangeRate must be a positive number", "exchangeRate")
                )
            else:
                values["exchangeRate"] = number
        return values

    def linked_invoice(self, value: object, customer_id: int | None) -> int | None:
        """ASSUMPTION: a sales credit note may name the invoice it credits, of the same customer."""
        if value is None:
            return None
        invoice = self.books.document(SALES, "invoices", int(value)) if is_int(value, self.strict) else None
        if invoice is None:
            self.problems.append(
                problem("not_found", f"linkedInvoiceId does not exist: no invoice {value}", "linkedInvoiceId")
            )
            return None
        if customer_id is not None and invoice["customerId"] != customer_id:
            self.problems.append(
                problem("invalid_value", "linkedInvoiceId is another customer's invoice", "linkedInvoiceId")
            )
        return invoice["id"]

    def lines(self, lines: object) -> list[dict[str, Any]]:
        if not isinstance(lines, list) or not lines:
            self.problems.append(problem("invalid_value", "lineItems must be a non-empty array", "lineItems"))
            return []
        return [line for n, item in enumerate(lines) if (line := self.line(item, f"lineItems[{n}]"))]

    def line(self, item: object, where: str) -> dict[str, Any] | None:
        if not isinstance(item, Mapping):
            self.problems.append(problem("invalid_type", f"{where} must be an object", where))
            return None
        before = len(self.problems)
        for key in sorted(set(item) - LINE_FIELDS):
            self.problems.append(problem("unknown_field", f"Unknown field {where}.{key}", f"{where}.{key}"))
        for key in LINE_REQUIRED:
            if item.get(key) is None:
                self.problems.append(problem("required", f"{where}.{key} is required", f"{where}.{key}"))
        description = item.get("description")
        if description is not None and not isinstance(description, str):
            self.problems.append(
                problem("invalid_type", f"{where}.description must be a string", f"{where}.description")
            )
        unit_price = self.number(item, "unitPrice", where, _MAX_PLACES)
        quantity = self.number(item, "quantity", where, _MAX_PLACES)
        if quantity is not None and quantity == 0:
            self.problems.append(
                problem("invalid_value", f"{where}.quantity must not be 0", f"{where}.quantity")
            )
        account = self.account_code(item.get("accountCode"), where)
        rate_key = self.vat_rate_key(item, where)
        vat_amount = self.manual_vat(item, rate_key, where)
        if len(self.problems) > before or unit_price is None or quantity is None:
            return None
        net = (unit_price * quantity).quantize(_CENT, ROUND_HALF_UP)
        rate = VAT_RATES[rate_key][1] if rate_key != MANUAL_VAT else None
        vat = vat_amount if rate is None else (net * rate).quantize(_CENT, ROUND_HALF_UP)
        assert vat is not None
        return {
            "description": description,
            "unitPrice": money_places(unit_price),
            "quantity": plain_number(quantity),
            "accountCode": account,
            "vatRateKey": rate_key,
            "vatAmount": vat,
            "net": net,
            "gross": net + vat,
        }

    def number(self, item: Mapping[str, Any], key: str, where: str, places: int) -> Decimal | None:
        value = item.get(key)
        if value is None:
            return None
        number = to_decimal(value, self.strict)
        if number is None:
            self.problems.append(problem("invalid_type", f"{where}.{key} must be a number", f"{where}.{key}"))
            return None
        if -number.as_tuple().exponent > places:  # type: ignore[operator]
            self.problems.append(
                problem(
                    "invalid_value", f"{where}.{key} has more than {places} decimal places", f"{where}.{key}"
                )
            )
            return None
        return number

    def account_code(self, value: object, where: str) -> int | None:
        if value is None:
            return None
        if not is_int(value, self.strict):
            self.problems.append(
                problem("invalid_type", f"{where}.accountCode must be an integer", f"{where}.accountCode")
            )
            return None
        code = self.books.account_codes.get(int(value))  # type: ignore[arg-type]
        if code is None or code["archived"]:
            self.problems.append(
                problem("not_found", f"{where}.accountCode {value} does not exist", f"{where}.accountCode")
            )
            return None
        return code["id"]

    def vat_rate_key(self, item: Mapping[str, Any], where: str) -> str:
        key = item.get("vatRateKey")
        if key is None:
            return ""
        allowed = allowed_rate_keys(self.treatment) if self.treatment else tuple(VAT_RATES)
        if key not in allowed:
            self.problems.append(
                problem(
                    "invalid_value",
                    f"{where}.vatRateKey {key!r} is not a VAT rate for treatment {self.treatment}: "
                    f"use one of {', '.join(allowed)}",
                    f"{where}.vatRateKey",
                )
            )
            return ""
        return str(key)

    def manual_vat(self, item: Mapping[str, Any], rate_key: str, where: str) -> Decimal | None:
        """`vatRateKey: "Manual"` requires `vatAmount` (IG §19); ASSUMPTION: refused with any other key."""
        value = item.get("vatAmount")
        field_name = f"{where}.vatAmount"
        if rate_key == MANUAL_VAT and value is None:
            self.problems.append(
                problem("required", f"{field_name} is required with vatRateKey Manual", field_name)
            )
            return None
        if value is None:
            return None
        if rate_key != MANUAL_VAT:
            self.problems.append(
                problem("invalid_value", f"{field_name} is only accepted with vatRateKey Manual", field_name)
            )
            return None
        amount = to_decimal(value, self.strict)
        if amount is None or -amount.as_tuple().exponent > 2:  # type: ignore[operator]
            self.problems.append(
                problem("invalid_value", f"{field_name} must be an amount with 2 decimals", field_name)
            )
            return None
        return money_places(amount)


def check_contact(fields: Mapping[str, Any]) -> None:
    problems = [
        problem("unknown_field", f"Unknown field {k}", k)
        for k in sorted(set(fields) - CONTACT_FIELDS - {"archived"})
    ]
    name = fields.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(problem("required", "name is required", "name"))
    for key in ("email", "phone", "vatNumber", "companyNumber", "externalId"):
        if fields.get(key) is not None and not isinstance(fields[key], str):
            problems.append(problem("invalid_type", f"{key} must be a string", key))
    address = fields.get("address")
    if address is not None and (
        not isinstance(address, Mapping)
        or set(address) - set(ADDRESS_FIELDS)
        or any(v is not None and not isinstance(v, str) for v in address.values())
    ):
        problems.append(
            problem("invalid_value", f"address takes strings {', '.join(ADDRESS_FIELDS)}", "address")
        )
    custom = fields.get("customFields")
    if custom is not None and (
        not isinstance(custom, Mapping) or any(not isinstance(v, str | None) for v in custom.values())
    ):
        problems.append(problem("invalid_value", "customFields maps names to strings", "customFields"))
    if problems:
        raise Invalid(problems)


def allowed_rate_keys(treatment: str | None) -> tuple[str, ...]:
    return tuple(VAT_RATES) if treatment in (None, "UK") else NON_UK_RATES


def set_lines(doc: dict[str, Any], lines: list[dict[str, Any]]) -> None:
    """The lines and the document's read-only totals `net`, `vat`, `gross` (sums of the lines)."""
    doc["lineItems"] = lines
    doc["net"] = sum((line["net"] for line in lines), Decimal("0.00"))
    doc["vat"] = sum((line["vatAmount"] for line in lines), Decimal("0.00"))
    doc["gross"] = doc["net"] + doc["vat"]


def account_code(
    code: int, name: str, heading: str, sales: bool, purchases: bool, vat: str, archived: bool = False
) -> dict[str, Any]:
    return {
        "id": code,
        "name": name,
        "heading": heading,
        "sales": sales,
        "purchases": purchases,
        "defaultVatRate": vat,
        "archived": archived,
    }


# -- values -----------------------------------------------------------------------------------------------


def is_int(value: object, strict: bool) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return not strict and isinstance(value, str) and value.strip().isdigit()


def to_decimal(value: object, strict: bool) -> Decimal | None:
    """A finite number below 10¹² in size: JSON numbers (parsed as Decimal) and ints; from Python also str
    and float."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif not strict and isinstance(value, str | float):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
    else:
        return None
    return number if number.is_finite() and abs(number) < _MAX_NUMBER else None


def money_places(value: Decimal) -> Decimal:
    """At least two decimal places (24.5 → 24.50), more when the value has them (2.125)."""
    return value.quantize(_CENT) if -value.as_tuple().exponent < 2 else value  # type: ignore[operator]


def plain_number(value: Decimal) -> Decimal:
    """Without trailing zeros and never in exponent form: 2.500 → 2.5, 10 → 10."""
    normalized = value.normalize()
    return normalized.quantize(Decimal(1)) if normalized == normalized.to_integral() else normalized


def iso(epoch: float) -> str:
    """ISO 8601 UTC to the second: ASSUMPTION for `createdAt`/`modifiedAt`."""
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(text: str) -> dt.datetime:
    """`modifiedSince`: a date (midnight UTC) or an ISO 8601 date-time (no offset: UTC). ValueError."""
    text = text.strip()
    if len(text) == 10:
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
    if "T" not in text:
        raise ValueError(f"not an ISO 8601 date-time: {text!r}")
    # An unencoded "+01:00" in a query string arrives as " 01:00".
    moment = dt.datetime.fromisoformat(text.replace(" ", "+", 1))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def public(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record without its internal `_` keys (a shallow copy: copy it before handing it out)."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def render_json(value: Any) -> str:
    """JSON text with `Decimal` written as the exact number it holds (24.50, not "24.50" or 24.5)."""
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{render_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(render_json(v) for v in value) + "]"
    return json.dumps(value)


def matches(record: Mapping[str, Any], filters: Iterable[tuple[str, str | None]]) -> bool:
    """Exact match of every given filter (str values compared as strings; None: not filtered)."""
    return all(wanted is None or str(record.get(key)) == wanted for key, wanted in filters)


# -- PDFs -------------------------------------------------------------------------------------------------


def simple_pdf(lines: Iterable[str]) -> bytes:
    """A small valid one-page PDF (Helvetica text lines): what the sandbox serves as a rendered invoice."""
    text = "".join(f"({pdf_text(line)}) Tj T* " for line in lines)
    return text_page_pdf(f"BT /F1 11 Tf 14 TL 56 780 Td {text}ET".encode("latin-1", "replace"))
