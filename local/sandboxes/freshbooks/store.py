"""The sandbox FreshBooks' records and their rules: OAuth codes and tokens (with their scopes), clients,
items, invoices (numbering, totals, what is paid and outstanding), payments, and webhook callbacks (the
event names FreshBooks knows, who is subscribed to what).

The store is plain data: `FreshBooksSandbox` serialises access with its data lock and turns the
exceptions raised here (`Invalid`, `GrantRefused`) into FreshBooks' HTTP answers.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..numbers import decimal_or_none, money_text
from ..oauth import GrantRefused

ERRNO_NOT_FOUND = 1012
ERRNO_INVALID = 1001
ERRNO_DUPLICATE_EMAIL = 1003

# What our app is granted unless a test says otherwise: the layer's `oauth.SCOPES`.
SCOPE = "user:profile:read user:clients:read user:clients:write user:billable_items:read "
SCOPE += (
    "user:billable_items:write user:invoices:read user:invoices:write user:payments:read user:payments:write"
)
INSUFFICIENT_SCOPE = (
    "insufficient_scope: The request requires higher privileges than provided by the access token."
)

# The accounting resource (`/accounting/account/<id>/<resource>`) → the scope object that guards it
# (https://www.freshbooks.com/api/scopes; items are "billable_items" per the items page).
RESOURCE_SCOPES = {
    "users/clients": "clients",
    "items/items": "billable_items",
    "invoices/invoices": "invoices",
    "payments/payments": "payments",
}
_RESOURCE = re.compile(r"^/accounting/account/[^/]+/([^/]+/[^/]+)")

# FreshBooks' webhook event names: `<noun>.create|update|delete`, plus two `sendByEmail` events; a bare
# noun subscribes to all of its events (https://www.freshbooks.com/api/webhooks, "event: Matches event
# and parent event"; the names as listed by pipedream's FreshBooks component, built from that page).
EVENT_NOUNS = (
    "bill", "bill_vendor", "category", "client", "credit_note", "estimate", "expense", "invoice", "item",
    "payment", "project", "recurring", "service", "tax", "time_entry",
)  # fmt: skip
EVENT_VERBS = ("create", "update", "delete")
EVENT_NAMES = frozenset(
    {f"{noun}.{verb}" for noun in EVENT_NOUNS for verb in EVENT_VERBS}
    | {"invoice.sendByEmail", "estimate.sendByEmail"}
    | set(EVENT_NOUNS)
)
# "The scope required is based on the webhook being registered" (webhooks page). ASSUMPTION: the read
# scope of the event's object; nouns whose scope object is not documented are not checked.
EVENT_SCOPES = {
    "bill": "bills", "bill_vendor": "bill_vendors", "client": "clients", "credit_note": "credit_notes",
    "estimate": "estimates", "expense": "expenses", "invoice": "invoices", "item": "billable_items",
    "payment": "payments", "project": "projects", "tax": "taxes", "time_entry": "time_entries",
}  # fmt: skip

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

_CENT = Decimal("0.01")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_URI = re.compile(r"^https?://[^/\s]+")


class Invalid(Exception):
    """Validation problems, answered 422 in FreshBooks' error format."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__("; ".join(e["message"] for e in errors))
        self.errors = errors


class CallbackRefused(Exception):
    """A callback request refused by the events API: HTTP `status`, `errno` and `details` strings."""

    def __init__(self, status: int, errno: int, details: list[str]):
        super().__init__("; ".join(details))
        self.status = status
        self.errno = errno
        self.details = details


def problem(message: str, field: str | None = None, obj: str | None = None, value: Any = None) -> dict:
    return {"errno": ERRNO_INVALID, "field": field, "message": message, "object": obj, "value": value}


# -- OAuth ------------------------------------------------------------------------------------------------


@dataclass
class AuthorizationCode:
    client_id: str
    redirect_uri: str
    expires_at: float
    scope: str


@dataclass
class AccessToken:
    expires_at: float
    scope: str

    @property
    def scopes(self) -> list[str]:
        return self.scope.split()


@dataclass
class RefreshToken:
    scope: str
    redirect_uri: str
    used: bool = False


def required_scope(method: str, path: str) -> str | None:
    """The scope a call needs: `user:<object>:read` for GET, `:write` otherwise; None if unguarded."""
    match = _RESOURCE.match(path)
    scope_object = RESOURCE_SCOPES.get(match.group(1)) if match else None
    if scope_object is None:
        return None
    return f"user:{scope_object}:{'read' if method in ('GET', 'HEAD') else 'write'}"


def event_scope(event: str) -> str | None:
    """The scope a callback for `event` needs (see EVENT_SCOPES); None if not checked."""
    scope_object = EVENT_SCOPES.get(event.split(".", 1)[0])
    return f"user:{scope_object}:read" if scope_object else None


def insufficient_scope_message(provided: str, required: str) -> str:
    """FreshBooks' 403 message (its format as quoted in pipedream issue 9744)."""
    return f"{INSUFFICIENT_SCOPE} Provided: [{provided!r}]. Required: [{required!r}]."


# -- callbacks --------------------------------------------------------------------------------------------


def is_known_event(name: object) -> bool:
    return isinstance(name, str) and name in EVENT_NAMES


def subscribed(callback_event: str, event: str) -> bool:
    """Whether a callback registered for `callback_event` receives `event` (a bare noun: all of its)."""
    return callback_event in (event, event.split(".", 1)[0])


def callback_problems(event: object, uri: object) -> list[str]:
    """The events API's validation details for a new callback (the SDK fixture's wording)."""
    details = []
    if not is_known_event(event):
        details.append("event: Value error, Unrecognized event.")
    if not isinstance(uri, str) or not _URI.match(uri):
        details.append("uri: Input should be a valid URL, relative URL without a base")
    return details


def public_callback(callback: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in callback.items() if k != "verifier"}


# -- the store --------------------------------------------------------------------------------------------


@dataclass
class FreshBooksStore:
    """Every record of the sandbox account, keyed by id; tokens keyed by their value."""

    account_id: str
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    grants: list[dict[str, Any]] = field(default_factory=list)
    clients: dict[int, dict[str, Any]] = field(default_factory=dict)
    items: dict[int, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[int, dict[str, Any]] = field(default_factory=dict)
    payments: dict[int, dict[str, Any]] = field(default_factory=dict)
    callbacks: dict[int, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    next_id: dict[str, int] = field(
        default_factory=lambda: {
            "client": 101,
            "item": 5001,
            "invoice": 300001,
            "payment": 700001,
            "callback": 2001,
        }
    )
    next_line_id: int = 1
    next_invoice_number: int = 1

    def take_id(self, kind: str) -> int:
        value = self.next_id[kind]
        self.next_id[kind] += 1
        return value

    # -- OAuth ----------------------------------------------------------------------------------------

    def new_code(self, client_id: str, redirect_uri: str, scope: str, expires_at: float) -> str:
        code = secrets.token_urlsafe(24)
        self.codes[code] = AuthorizationCode(client_id, redirect_uri, expires_at, scope)
        return code

    def exchange_code(self, code: str, redirect_uri: object, ttl: float, now: float) -> dict[str, Any]:
        """`authorization_code` grant: the code works once, for the redirect URI it was issued to."""
        issued = self.codes.pop(code, None)
        if issued is None or issued.expires_at < now:
            raise GrantRefused(400, "invalid_grant", "The authorization code is invalid or expired")
        if issued.redirect_uri != redirect_uri:
            raise GrantRefused(400, "invalid_grant", "redirect_uri does not match the authorization")
        return self.issue_tokens(issued.scope, issued.redirect_uri, ttl, now)

    def refresh(self, token: str, redirect_uri: object, ttl: float, now: float) -> dict[str, Any]:
        """`refresh_token` grant: single use; the new pair keeps the scopes of the authorization ("It's
        not possible to remove scopes from an existing access token")."""
        current = self.refresh_tokens.get(token)
        if current is None or current.used:
            raise GrantRefused(
                400,
                "invalid_grant",
                "The provided authorization grant is invalid, expired, revoked, or was issued to another "
                "client",
            )
        if current.redirect_uri != redirect_uri:
            raise GrantRefused(400, "invalid_grant", "redirect_uri does not match the authorization")
        current.used = True
        return self.issue_tokens(current.scope, current.redirect_uri, ttl, now)

    def issue_tokens(self, scope: str, redirect_uri: str, ttl: float, now: float) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.access_tokens[access] = AccessToken(now + ttl, scope)
        self.refresh_tokens[refresh] = RefreshToken(scope, redirect_uri)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(ttl),
            "refresh_token": refresh,
            "scope": scope,
            "created_at": int(now),
        }

    def valid_access_token(self, token: str, now: float) -> AccessToken | None:
        access = self.access_tokens.get(token)
        return access if access is not None and access.expires_at > now else None

    # -- clients --------------------------------------------------------------------------------------

    def clients_matching(
        self, email: str | None, organization_like: str, vis_state: str | None
    ) -> list[dict[str, Any]]:
        like = organization_like.casefold()
        return [
            c
            for c in visible(self.clients.values(), vis_state)
            if (email is None or c["email"].casefold() == email.strip().casefold())
            and (not like or like in c["organization"].casefold())
        ]

    def create_client(self, fields: dict[str, Any]) -> dict[str, Any]:
        self.check_client(fields)
        if not any(str(fields.get(k) or "").strip() for k in ("fname", "lname", "organization", "email")):
            raise Invalid(
                [problem("A client needs a name, an organization or an email", "organization", "client")]
            )
        self.check_unique_email(fields.get("email"), None)
        return self.new_client(fields)

    def update_client(self, client: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        self.check_client(fields)
        self.check_unique_email(fields.get("email"), client["id"])
        client.update({k: ("" if v is None and k != "vis_state" else v) for k, v in fields.items()})
        client["updated"] = now_text()
        return client

    def check_client(self, fields: dict[str, Any]) -> None:
        problems = []
        for key, value in fields.items():
            if key == "vis_state":
                if value not in (0, 1, 2):
                    problems.append(problem("vis_state must be 0, 1 or 2", key, "client", value))
            elif value is not None and not isinstance(value, str):
                problems.append(problem(f"{key} must be a string", key, "client", value))
        email = fields.get("email")
        if isinstance(email, str) and email and not _EMAIL.match(email):
            problems.append(problem("Invalid email address", "email", "client", email))
        code = fields.get("currency_code")
        if isinstance(code, str) and code and not _CURRENCY.match(code):
            problems.append(problem("currency_code must be a 3-letter code", "currency_code", "client", code))
        if problems:
            raise Invalid(problems)

    def check_unique_email(self, email: Any, record_id: int | None) -> None:
        """Email unique among active clients, case-insensitively (an assumption: see the server)."""
        if not isinstance(email, str) or not email.strip():
            return
        for client in visible(self.clients.values()):
            if client["id"] != record_id and client["email"].casefold() == email.strip().casefold():
                raise Invalid(
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

    def new_client(self, fields: dict[str, Any]) -> dict[str, Any]:
        client_id = self.take_id("client")
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
                "signup_date": now_text(),
                "updated": now_text(),
            }
        )
        self.clients[client_id] = client
        return client

    # -- items ----------------------------------------------------------------------------------------

    def items_matching(
        self, sku: str | None, since: dt.date | None, vis_state: str | None
    ) -> list[dict[str, Any]]:
        return [
            i
            for i in visible(self.items.values(), vis_state)
            if (sku is None or i["sku"] == sku)
            and (since is None or dt.date.fromisoformat(i["updated"][:10]) >= since)
        ]

    def update_item(self, item: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        check_item(fields, creating=False)
        item.update(item_values(fields))
        item["updated"] = now_text()
        return item

    def create_item(self, fields: dict[str, Any]) -> dict[str, Any]:
        check_item(fields, creating=True)
        return self.new_item(fields)

    def new_item(self, fields: dict[str, Any]) -> dict[str, Any]:
        item_id = self.take_id("item")
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
            "updated": now_text(),
        }
        item.update(item_values(fields))
        self.items[item_id] = item
        return item

    # -- invoices -------------------------------------------------------------------------------------

    def invoices_matching(
        self,
        customer_id: int | None,
        number: str | None,
        date_min: dt.date | None,
        date_max: dt.date | None,
    ) -> list[dict[str, Any]]:
        """Active invoices (without lines), newest first."""
        return [
            without_lines(i)
            for _, i in sorted(self.invoices.items(), reverse=True)
            if is_visible(i)
            and (customer_id is None or i["customerid"] == customer_id)
            and (number is None or i["invoice_number"] == number)
            and (date_min is None or dt.date.fromisoformat(i["create_date"]) >= date_min)
            and (date_max is None or dt.date.fromisoformat(i["create_date"]) <= date_max)
        ]

    def new_invoice(self, fields: dict[str, Any]) -> dict[str, Any]:
        problems: list[dict[str, Any]] = []
        client = by_id(self.clients, fields.get("customerid"))
        if client is None:
            problems.append(problem("Client not found.", "customerid", "invoice", fields.get("customerid")))
        create_date = date_field(fields, "create_date", "invoice", problems, required=True)
        offset = fields.get("due_offset_days", 0)
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            problems.append(
                problem("due_offset_days must be a whole number ≥ 0", "due_offset_days", "invoice", offset)
            )
            offset = 0
        currency = fields.get("currency_code") or (client or {}).get("currency_code") or "USD"
        if not isinstance(currency, str) or not _CURRENCY.match(currency):
            problems.append(
                problem("currency_code must be a 3-letter code", "currency_code", "invoice", currency)
            )
        for key in ("po_number", "notes", "terms", "invoice_number"):
            if fields.get(key) is not None and not isinstance(fields[key], str):
                problems.append(problem(f"{key} must be a string", key, "invoice", fields[key]))
        number = fields.get("invoice_number")
        if number and any(i["invoice_number"] == number for i in self.invoices.values()):
            problems.append(problem("Invoice number already exists", "invoice_number", "invoice", number))
        raw_lines = fields.get("lines", [])
        if not isinstance(raw_lines, list):
            problems.append(problem("lines must be a list", "lines", "invoice", None))
            raw_lines = []
        lines = [self._line(line, n, currency, problems) for n, line in enumerate(raw_lines, start=1)]
        if problems:
            raise Invalid(problems)
        assert client is not None and create_date is not None
        invoice_id = self.take_id("invoice")
        if not number:
            number = f"{self.next_invoice_number:07d}"
            self.next_invoice_number += 1
        subtotal = sum((Decimal(line["amount"]["amount"]) for line in lines), Decimal(0))
        total = subtotal + taxes(lines)
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
            "amount": {"amount": money_text(total), "code": currency},
            "outstanding": {"amount": money_text(total), "code": currency},
            "paid": {"amount": "0.00", "code": currency},
            "date_paid": None,
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
            "created_at": now_text(),
            "updated": now_text(),
        }
        self.invoices[invoice_id] = invoice
        return invoice

    def _line(self, line: Any, n: int, currency: str, problems: list[dict[str, Any]]) -> dict[str, Any]:
        where = f"lines[{n}]"
        if not isinstance(line, dict):
            problems.append(problem(f"{where} must be an object", where, "line", None))
            return {"amount": {"amount": "0", "code": currency}}
        unknown = sorted(set(line) - LINE_FIELDS)
        problems += [problem(f"Unknown field {where}.{k}", f"{where}.{k}", "line", None) for k in unknown]
        if line.get("type", 0) not in (0, 1):
            problems.append(
                problem(f"{where}.type must be 0 or 1", f"{where}.type", "line", line.get("type"))
            )
        qty = decimal_or_none(line.get("qty", 1))
        if qty is None:
            problems.append(problem(f"{where}.qty must be a number", f"{where}.qty", "line", line.get("qty")))
            qty = Decimal(0)
        unit = line.get("unit_cost")
        money_issues = money_problems(unit, f"{where}.unit_cost", "line")
        problems += money_issues
        unit_amount = Decimal(0)
        if not money_issues:
            unit_amount = Decimal(str(unit["amount"]))
            if unit.get("code", currency) != currency:
                problems.append(
                    problem(
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
            value = decimal_or_none(percent)
            if value is None or not Decimal(0) <= value <= Decimal(100):
                problems.append(
                    problem(
                        f"{where}.taxAmount{tax} is a percentage (0..100)",
                        f"{where}.taxAmount{tax}",
                        "line",
                        percent,
                    )
                )
            elif value and not (isinstance(tax_name, str) and tax_name.strip()):
                problems.append(
                    problem(
                        f"{where}.taxName{tax} is required with a tax", f"{where}.taxName{tax}", "line", None
                    )
                )
        self.next_line_id += 1
        return {
            "lineid": self.next_line_id,
            "type": line.get("type", 0),
            "name": line.get("name") or "",
            "description": line.get("description") or "",
            "qty": str(line.get("qty", 1)),
            "unit_cost": {"amount": str(unit_amount if money_issues else unit["amount"]), "code": currency},
            "amount": {"amount": money_text(qty * unit_amount), "code": currency},
            "taxName1": line.get("taxName1") or "",
            "taxAmount1": str(line.get("taxAmount1") or "0"),
            "taxName2": line.get("taxName2") or "",
            "taxAmount2": str(line.get("taxAmount2") or "0"),
        }

    # -- payments -------------------------------------------------------------------------------------

    def payments_matching(self, invoice_id: str | None) -> list[dict[str, Any]]:
        return [
            p
            for _, p in sorted(self.payments.items())
            if is_visible(p) and (invoice_id is None or str(p["invoiceid"]) == invoice_id)
        ]

    def new_payment(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Record a payment and apply it to its invoice: `paid`, `outstanding`, `payment_status`
        (`partial`/`paid`), `v3_status`, `status` (8 partial, 4 paid) and `date_paid` once nothing is
        outstanding (the Java SDK's invoice fixture)."""
        problems: list[dict[str, Any]] = []
        invoice = by_id(self.invoices, fields.get("invoiceid"))
        if invoice is None:
            problems.append(problem("Invoice not found.", "invoiceid", "payment", fields.get("invoiceid")))
        money_issues = money_problems(fields.get("amount"), "amount", "payment")
        problems += money_issues
        if not money_issues and Decimal(str(fields["amount"]["amount"])) <= 0:
            problems.append(
                problem("amount must be greater than 0", "amount", "payment", fields["amount"]["amount"])
            )
        if (
            invoice is not None
            and not money_issues
            and fields["amount"].get("code") != invoice["currency_code"]
        ):
            problems.append(
                problem(
                    "amount code must be the invoice currency",
                    "amount",
                    "payment",
                    fields["amount"].get("code"),
                )
            )
        date = date_field(fields, "date", "payment", problems, required=True)
        payment_type = fields.get("type", "Other")
        if payment_type not in PAYMENT_TYPES:
            problems.append(
                problem(f"type must be one of {', '.join(PAYMENT_TYPES)}", "type", "payment", payment_type)
            )
        if fields.get("note") is not None and not isinstance(fields["note"], str):
            problems.append(problem("note must be a string", "note", "payment", fields["note"]))
        if problems:
            raise Invalid(problems)
        assert invoice is not None and date is not None
        amount = Decimal(str(fields["amount"]["amount"]))
        payment_id = self.take_id("payment")
        payment = {
            "id": payment_id,
            "logid": payment_id,
            "invoiceid": invoice["id"],
            "clientid": invoice["customerid"],
            "accounting_systemid": self.account_id,
            "amount": {"amount": money_text(amount), "code": invoice["currency_code"]},
            "date": date.isoformat(),
            "type": payment_type,
            "note": fields.get("note") or "",
            "vis_state": 0,
            "updated": now_text(),
        }
        self.payments[payment_id] = payment
        paid = Decimal(invoice["paid"]["amount"]) + amount
        outstanding = max(Decimal(0), Decimal(invoice["amount"]["amount"]) - paid)
        invoice["paid"]["amount"] = money_text(paid)
        invoice["outstanding"]["amount"] = money_text(outstanding)
        status, code = ("paid", 4) if outstanding == 0 else ("partial", 8)
        invoice["v3_status"] = invoice["payment_status"] = status
        invoice["status"] = code
        if outstanding == 0:
            invoice["date_paid"] = date.isoformat()
        invoice["updated"] = now_text()
        return payment

    # -- callbacks ------------------------------------------------------------------------------------

    def add_callback(
        self,
        event: str,
        uri: str,
        *,
        verifier: str | None = None,
        callback_id: int | None = None,
        verified: bool = False,
    ) -> dict[str, Any]:
        """Store a callback (its verifier random unless given); an existing `callback_id` is replaced."""
        if callback_id is None:
            callback_id = self.take_id("callback")
        else:
            self.next_id["callback"] = max(self.next_id["callback"], callback_id + 1)
        callback = {
            "callbackid": callback_id,
            "id": callback_id,
            "event": event,
            "uri": uri,
            "verified": verified,
            "verifier": verifier or secrets.token_hex(16),
            "updated_at": now_iso(),
        }
        self.callbacks[callback_id] = callback
        return callback

    def verify_callback(self, callback: dict[str, Any], verifier: object) -> dict[str, Any]:
        """Confirm a callback with the verifier sent to its URI (again: still 200)."""
        if not isinstance(verifier, str) or not secrets.compare_digest(verifier, callback["verifier"]):
            raise CallbackRefused(400, 422, ["verifier: Value error, verifier does not match"])
        callback["verified"] = True
        callback["updated_at"] = now_iso()
        return callback

    def subscribers(self, event: str) -> list[dict[str, Any]]:
        """The verified callbacks that receive `event`."""
        return [
            c for _, c in sorted(self.callbacks.items()) if c["verified"] and subscribed(c["event"], event)
        ]


# -- record helpers ---------------------------------------------------------------------------------------


def visible(records: Iterable[dict[str, Any]], vis_state: str | None = None) -> list[dict[str, Any]]:
    """Active records (`vis_state` 0), or those in `vis_state` when asked (`search[vis_state]`), by id."""
    return sorted(
        (
            r
            for r in records
            if (str(r.get("vis_state", 0)) == vis_state if vis_state is not None else is_visible(r))
        ),
        key=lambda r: r["id"],
    )


def is_visible(record: dict[str, Any]) -> bool:
    return record.get("vis_state", 0) == 0


def by_id(records: dict[int, dict[str, Any]], value: Any) -> dict[str, Any] | None:
    """The record whose id is `value` (an int or a string of digits), or None."""
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    return records.get(int(text)) if text.isdigit() else None


def check_item(fields: dict[str, Any], *, creating: bool) -> None:
    problems = []
    name = fields.get("name")
    if (creating or "name" in fields) and (not isinstance(name, str) or not name.strip()):
        problems.append(problem("name is required", "name", "item", name))
    for key in ("description", "sku"):
        if fields.get(key) is not None and not isinstance(fields[key], str):
            problems.append(problem(f"{key} must be a string", key, "item", fields[key]))
    if "unit_cost" in fields:
        problems += money_problems(fields["unit_cost"], "unit_cost", "item")
    if "vis_state" in fields and fields["vis_state"] not in (0, 1, 2):
        problems.append(problem("vis_state must be 0, 1 or 2", "vis_state", "item", fields["vis_state"]))
    if problems:
        raise Invalid(problems)


def item_values(fields: dict[str, Any]) -> dict[str, Any]:
    values = dict(fields)
    if "unit_cost" in values:
        cost = values["unit_cost"]
        values["unit_cost"] = {
            "amount": money_text(Decimal(str(cost["amount"]))),
            "code": cost.get("code", "USD"),
        }
    for key in ("description",):
        if key in values and values[key] is None:
            values[key] = ""
    return values


def money_problems(value: Any, field: str, obj: str) -> list[dict[str, Any]]:
    if not isinstance(value, dict) or "amount" not in value:
        return [problem(f"{field} must be {{amount, code}}", field, obj, None)]
    amount, code = value["amount"], value.get("code")
    problems = []
    if isinstance(amount, float):
        problems.append(problem(f"{field}.amount must be a decimal string, not a float", field, obj, amount))
    elif decimal_or_none(amount) is None:
        problems.append(problem(f"{field}.amount must be a decimal string", field, obj, amount))
    if code is not None and (not isinstance(code, str) or not _CURRENCY.match(code)):
        problems.append(problem(f"{field}.code must be a 3-letter currency code", field, obj, code))
    return problems


def date_field(
    fields: dict[str, Any], key: str, obj: str, problems: list[dict[str, Any]], *, required: bool
) -> dt.date | None:
    value = fields.get(key)
    if value is None:
        if required:
            problems.append(problem(f"{key} is required", key, obj, None))
        return None
    try:
        if not isinstance(value, str) or len(value) != len("YYYY-MM-DD"):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.append(problem(f"{key} must be a date YYYY-MM-DD", key, obj, value))
        return None


def taxes(lines: list[dict[str, Any]]) -> Decimal:
    """Tax per (name, percentage) on the sum of the lines carrying it, half-up to cents."""
    bases: dict[tuple[str, Decimal], Decimal] = {}
    for line in lines:
        for n in ("1", "2"):
            percent = decimal_or_none(line.get(f"taxAmount{n}"))
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


def without_lines(invoice: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in invoice.items() if k != "lines"}


def now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
