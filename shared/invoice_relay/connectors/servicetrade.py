"""ServiceTrade adapter: the API client, invoice → `Document` mapping, and the `Source` of the poll flow.

Flow 1 of the design: list the invoices in `pending_accounting`, map each to a canonical `Document`, and
after delivery write the outcome back (`processed` with the accounting number, or `failed` with a
private comment giving the reason).

Assumptions about the ServiceTrade API (the sandbox in `local/sandboxes/servicetrade.py` implements the
same ones; check them against https://api.servicetrade.com/api/docs before go-live):

- Base URL `https://api.servicetrade.com`, resources under `/api`. Every response body is
  `{"data": ...}`; errors are `{"messages": {"error": ["..."]}}`.
- Auth is a session: `POST /api/auth` `{"username", "password"}` sets a `PHPSESSID` cookie, which the
  requests session keeps and sends back; `DELETE /api/auth` ends it. Wrong credentials → 403. A call
  with an expired or evicted session → 401, after which we sign in once more and repeat the call
  (ServiceTrade keeps a limited number of sessions per user and drops the oldest, so a long run can lose
  its session; ending ours at the end of each run keeps us from evicting our own).
- `GET /api/invoice?status=pending_accounting&page=p&limit=n` → `{"data": {"totalPages", "page",
  "invoices": [...]}}`, pages from 1, limit at most 500. No results may report totalPages 0.
- `GET /api/invoice/{id}` → `{"data": <invoice>}`. `PUT /api/invoice/{id}` accepts `status`
  (draft, ok, pending_accounting, processed, failed, void) and `invoiceNumber` (1..30 characters).
- `POST /api/comment` `{"entityType", "entityId", "content", "visibility"}`; invoices are entity type
  `INVOICE_ENTITY_TYPE` = 6 (from a third-party list of ServiceTrade entity types, unverified); an empty
  `visibility` list makes the comment private (internal only) — we always send it explicitly.
  `GET /api/comment?entityType=&entityId=` → `{"data": {"comments": [...]}}`.
- Invoice fields: `id`, `uri`, `invoiceNumber`, `type` ("invoice" | "credit"; absent → invoice),
  `status`, `transactionDate` and `dueDate` (Unix seconds; the invoice date is the UTC date of the
  timestamp, which assumes ServiceTrade stamps midnight of the account's local day or later in a US
  time zone), `paymentTerms` {`name`, `days`}, `currency` (absent → USD), `customer` {`id`, `name`,
  `uri`, `email`, `phone`, `accountNumber`}, `vendor` {`id`, `name`}, `location` {`id`, `name`,
  `address` {`street`, `city`, `state`, `postalCode`, `country`?}}, `job` {`id`, `number`}, `poNumber`,
  `items` [{`id`, `description`, `quantity`, `price`, `totalPrice`, `taxable`, `serviceLine` {`id`,
  `name`, `abbr`}, `libItem` {`id`, `code`}}], `taxRate` (one percent rate for the invoice, applied to
  the taxable items), `subtotal`, `totalTax`, `totalPrice`, `created`, `updated` (Unix seconds).
  Money arrives as JSON numbers and is read through `to_decimal`.
- Credits carry negative prices and totals; canonical credit notes carry positive amounts (the kind
  says which way the money goes), so a credit whose `totalPrice` is negative has its money negated.
- `updated` changes whenever the invoice changes, so it serves as the record's version.

Mapping rules: `Line.sku` = libItem.code, `Line.item_code` = serviceLine.abbr (what flat-file templates
map to revenue accounts), `Line.account_code` stays empty; the buyer's address is the service
location's; the memo names the job and the location.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from ..errors import ConfigurationError, MappingError, PermanentError, TransientError
from ..http import PartnerClient, raise_for_partner_status, transport_error
from ..models import (
    Address,
    Document,
    DocumentKind,
    DocumentStatus,
    ExternalRef,
    Line,
    Party,
    PaymentTerms,
    Tax,
    Totals,
    round_money,
)
from .base import Outcome, SourcePage, SourceRef
from .payload import (
    PLAUSIBLE_YEARS,
    PayloadProblem,
    currency_code,
    decimal_value,
    money_field,
    text_value,
    validation_reason,
)

if TYPE_CHECKING:
    from ..connector import ServiceTradeSourceConfig

log = logging.getLogger(__name__)

PARTNER = "servicetrade"
DEFAULT_BASE_URL = "https://api.servicetrade.com"
INVOICE_ENTITY_TYPE = 6  # assumption: see the module docstring
MAX_PAGE_SIZE = 500
MAX_COMMENT_LENGTH = 5000
LOGOUT_TIMEOUT = (3.05, 5)  # seconds; a slow logout must not eat the end of a Lambda's time
FAILED_COMMENT_PREFIX = "Invoice Relay could not transfer this invoice to accounting: "

# Invoice dates outside this range are data errors (unset dates, milliseconds sent as seconds).
_STATUSES = {"draft": DocumentStatus.DRAFT, "void": DocumentStatus.VOID}


class ServiceTradeCredentials(BaseModel):
    """What a connector needs to reach one ServiceTrade account (stored in Secrets Manager)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    base_url: str = DEFAULT_BASE_URL
    username: str = Field(min_length=1)
    password: SecretStr

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("base_url must be an http(s) URL")
        return value.rstrip("/")


# -- client ---------------------------------------------------------------------------------------------


class ServiceTradeClient(PartnerClient):
    """A signed-in conversation with one ServiceTrade account.

    Signs in on first use, signs in again once when the session has expired (401), and signs out on
    `logout()` / leaving the `with` block. Every failure is a domain error from `invoice_relay.errors`.
    Neither the password nor the session cookie is ever logged or put into an error.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str | SecretStr,
        *,
        session: requests.Session | None = None,
        page_size: int = 100,
    ):
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigurationError(f"servicetrade page size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password if isinstance(password, SecretStr) else SecretStr(password)
        super().__init__(partner=PARTNER, session=session)
        self.page_size = page_size
        self._signed_in = False

    def __repr__(self) -> str:
        return f"ServiceTradeClient({self.base_url!r}, username={self.username!r})"

    # -- session --------------------------------------------------------------------------------------------

    def login(self) -> None:
        """Start a session (POST /api/auth). AuthenticationError if the credentials are refused."""
        credentials = {"username": self.username, "password": self._password.get_secret_value()}
        response = self._send("POST", "/api/auth", json=credentials)
        raise_for_partner_status(response, PARTNER)
        self._signed_in = True
        log.info("servicetrade: signed in as %s", self.username)

    def logout(self) -> None:
        """End the session (DELETE /api/auth) if there is one. Never raises: a failed logout only
        leaves a session that ServiceTrade expires on its own."""
        if not self._signed_in:
            return
        self._signed_in = False
        try:
            response = self.session.delete(self._url("/api/auth"), timeout=LOGOUT_TIMEOUT)
        except requests.RequestException as exc:
            log.warning("servicetrade: logout failed: %s", transport_error(exc, PARTNER).reason)
            return
        if response.status_code not in (200, 204, 401):
            log.warning("servicetrade: logout answered HTTP %s", response.status_code)
        else:
            log.info("servicetrade: signed out")

    def close(self) -> None:
        """Log out and release the HTTP session if this client created it."""
        self.logout()
        super().close()

    # -- invoices -------------------------------------------------------------------------------------------

    def pending_accounting_invoices(
        self, start_page: int = 1
    ) -> Iterator[tuple[int, int, list[dict[str, Any]]]]:
        """(page, totalPages, invoices) for each page of invoices in `pending_accounting`, from
        `start_page` to the last page. A start page past the end yields one empty page.

        Pages address a moving list: an invoice written back meanwhile leaves the filter and the ones
        after it move up, so a walk (or a resume at a saved page) can pass over some until the next
        poll from page 1; an older invoice put back into pending_accounting moves the others down, so
        one can also be listed twice. Both are harmless when documents are keyed by (id, version).
        """
        page = start_page
        while True:
            data = self._call(
                "GET",
                "/api/invoice",
                params={"status": "pending_accounting", "page": page, "limit": self.page_size},
            )
            total_pages, invoices = data.get("totalPages"), data.get("invoices")
            if not isinstance(total_pages, int) or not isinstance(invoices, list):
                raise PermanentError(
                    f"servicetrade sent an unexpected invoice list (page {page}): "
                    "expected data.totalPages and data.invoices",
                    partner=PARTNER,
                )
            yield page, total_pages, invoices
            if page >= total_pages:
                return
            page += 1

    def invoice(self, invoice_id: int) -> dict[str, Any]:
        """One invoice (GET /api/invoice/{id}). PermanentError if it does not exist."""
        return self._call("GET", f"/api/invoice/{invoice_id}")

    def mark_processed(self, invoice_id: int, accounting_number: str | None = None) -> dict[str, Any]:
        """Set the invoice to `processed`, and its number to the accounting system's when given."""
        changes = {"status": "processed"}
        if accounting_number:
            changes["invoiceNumber"] = accounting_number
        return self._call("PUT", f"/api/invoice/{invoice_id}", json=changes)

    def mark_failed(self, invoice_id: int, reason: str) -> dict[str, Any]:
        """Set the invoice to `failed` and explain why in a private comment. Returns the comment.

        Write-backs can be repeated (at-least-once delivery): when the invoice's latest comment already
        says exactly this, no second one is added.
        """
        self._call("PUT", f"/api/invoice/{invoice_id}", json={"status": "failed"})
        content = (FAILED_COMMENT_PREFIX + reason)[:MAX_COMMENT_LENGTH]
        latest = max(self.invoice_comments(invoice_id), key=lambda c: c.get("id") or 0, default=None)
        if latest is not None and latest.get("content") == content:
            log.info("servicetrade: invoice %s already carries this failure comment", invoice_id)
            return latest
        comment = {
            "entityType": INVOICE_ENTITY_TYPE,
            "entityId": invoice_id,
            "content": content,
            "visibility": [],  # private: internal only
        }
        return self._call("POST", "/api/comment", json=comment)

    def invoice_comments(self, invoice_id: int) -> list[dict[str, Any]]:
        """The comments on an invoice (first page of GET /api/comment)."""
        data = self._call(
            "GET", "/api/comment", params={"entityType": INVOICE_ENTITY_TYPE, "entityId": invoice_id}
        )
        comments = data.get("comments")
        return comments if isinstance(comments, list) else []

    # -- plumbing -------------------------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> dict[str, Any]:
        """Send one API call in a live session and return its `data` object."""
        if not self._signed_in:
            self.login()
        response = self._send(method, path, params=params, json=json)
        if response.status_code == 401:
            log.info("servicetrade: session expired, signing in again")
            self._signed_in = False
            self.login()
            response = self._send(method, path, params=params, json=json)
        raise_for_partner_status(response, PARTNER)
        try:
            body = response.json()
        except ValueError:
            raise TransientError(
                f"servicetrade answered {method} {path} with HTTP {response.status_code} but no JSON",
                partner=PARTNER,
                status=response.status_code,
            ) from None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise PermanentError(
                f"servicetrade answered {method} {path} without a data object", partner=PARTNER
            )
        return data

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(method, self._url(path), **kwargs)
        except requests.RequestException as exc:
            raise transport_error(exc, PARTNER) from exc

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"


# -- mapping --------------------------------------------------------------------------------------------


def invoice_to_document(payload: dict[str, Any]) -> Document:
    """Map a ServiceTrade invoice to a canonical `Document`.

    Raises MappingError with a reason a bookkeeper can act on, naming the invoice and the field
    ("invoice 1042 has no customer", "invoice 1043: transactionDate '31/02/2026' is not a date").
    """
    if not isinstance(payload, dict) or payload.get("id") is None:
        raise MappingError("servicetrade invoice has no id", partner=PARTNER)
    label = f"invoice {payload['id']}"
    try:
        return _document(payload, label)
    except ValidationError as exc:
        raise MappingError(f"{label}: {validation_reason(exc)}", partner=PARTNER) from exc
    except PayloadProblem as problem:
        raise MappingError(problem.reason(label), partner=PARTNER) from None


def _document(payload: dict[str, Any], label: str) -> Document:
    kind = _kind(payload.get("type"))
    # Canonical credit notes carry positive amounts: turn a negative credit around.
    sign = -1 if kind is DocumentKind.CREDIT_NOTE and money_field(payload, "totalPrice") < 0 else 1
    number = text_value(payload.get("invoiceNumber"))
    if number is None:
        raise PayloadProblem("invoiceNumber", missing=True)
    issue_date = _date(payload.get("transactionDate"), "transactionDate")
    if issue_date is None:
        raise PayloadProblem("transactionDate", missing=True)
    currency = currency_code(payload.get("currency"), "currency", default="USD")
    raw_rate = payload.get("taxRate")
    tax_rate = Decimal(0) if raw_rate is None else decimal_value(raw_rate, "taxRate")
    lines = _lines(payload.get("items"), tax_rate, sign)
    totals = Totals(
        subtotal=round_money(sign * money_field(payload, "subtotal"), currency),
        tax_total=round_money(sign * money_field(payload, "totalTax"), currency),
        total=round_money(sign * money_field(payload, "totalPrice"), currency),
    )
    location = payload.get("location") if isinstance(payload.get("location"), dict) else {}
    return Document(
        kind=kind,
        number=number,
        issue_date=issue_date,
        due_date=_date(payload.get("dueDate"), "dueDate"),
        currency=currency,
        seller=_seller(payload.get("vendor")),
        buyer=_buyer(payload.get("customer"), location),
        lines=lines,
        taxes=_taxes(lines, tax_rate, totals.tax_total, currency),
        totals=totals,
        payment_terms=_payment_terms(payload.get("paymentTerms")),
        status=_STATUSES.get(str(payload.get("status")), DocumentStatus.ISSUED),
        purchase_order=text_value(payload.get("poNumber")),
        memo=_memo(payload.get("job"), location),
        external_refs=[
            ExternalRef(
                system=PARTNER, id=str(payload["id"]), number=number, url=text_value(payload.get("uri"))
            )
        ],
    )


def _kind(value: object) -> DocumentKind:
    if value is None or value == "invoice":
        return DocumentKind.INVOICE
    if value == "credit":
        return DocumentKind.CREDIT_NOTE
    raise PayloadProblem(f"type {value!r} is neither 'invoice' nor 'credit'")


def _buyer(customer: object, location: dict[str, Any]) -> Party:
    if not customer:
        raise PayloadProblem("customer", missing=True)
    if not isinstance(customer, dict):
        raise PayloadProblem(f"customer {customer!r} is not a customer record")
    if customer.get("id") is None:
        raise PayloadProblem("customer id", missing=True)
    name = text_value(customer.get("name"))
    if name is None:
        raise PayloadProblem(f"customer {customer['id']} has no name")
    return Party(
        name=name,
        account_number=text_value(customer.get("accountNumber")),
        email=text_value(customer.get("email")),
        phone=text_value(customer.get("phone")),
        address=_address(location.get("address")),
        external_refs=[
            ExternalRef(system=PARTNER, id=str(customer["id"]), url=text_value(customer.get("uri")))
        ],
    )


def _seller(vendor: object) -> Party | None:
    if not isinstance(vendor, dict) or text_value(vendor.get("name")) is None:
        return None
    refs = [ExternalRef(system=PARTNER, id=str(vendor["id"]))] if vendor.get("id") is not None else []
    return Party(name=text_value(vendor["name"]), external_refs=refs)


def _address(address: object) -> Address | None:
    if not isinstance(address, dict):
        return None
    country = text_value(address.get("country"))
    result = Address(
        line1=text_value(address.get("street")),
        city=text_value(address.get("city")),
        region=text_value(address.get("state")),
        postal_code=text_value(address.get("postalCode")),
        country=country.upper() if country and len(country) == 2 else None,
    )
    return result if any(result.model_dump().values()) else None


def _lines(items: object, tax_rate: Decimal, sign: int) -> list[Line]:
    if not isinstance(items, list) or not items:
        raise PayloadProblem("items", missing=True)
    lines = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise PayloadProblem(f"item {position} is not an item record")
        what = f"item {position}" + (f" (id {item['id']})" if item.get("id") is not None else "")
        if item.get("price") is None:
            raise PayloadProblem(f"{what} has no price")
        service_line = item.get("serviceLine") if isinstance(item.get("serviceLine"), dict) else {}
        lib_item = item.get("libItem") if isinstance(item.get("libItem"), dict) else {}
        net = item.get("totalPrice")
        lines.append(
            Line(
                position=position,
                description=text_value(item.get("description")) or "",
                sku=text_value(lib_item.get("code")),
                item_code=text_value(service_line.get("abbr")),
                quantity=decimal_value(item.get("quantity", 1), f"{what} quantity"),
                unit_price=sign * decimal_value(item["price"], f"{what} price"),
                net_amount=None if net is None else sign * decimal_value(net, f"{what} totalPrice"),
                tax_rate=tax_rate if item.get("taxable") is True and tax_rate else None,
            )
        )
    return lines


def _taxes(lines: list[Line], rate: Decimal, tax_total: Decimal, currency: str) -> list[Tax]:
    """The invoice's one tax, as ServiceTrade computed it (the model checks it against the lines)."""
    if not rate:
        if tax_total:
            raise PayloadProblem(f"totalTax {tax_total} is charged without a taxRate")
        return []
    taxable = [ln for ln in lines if ln.tax_rate]
    nets = (ln.quantity * ln.unit_price if ln.net_amount is None else ln.net_amount for ln in taxable)
    base = round_money(sum(nets, Decimal(0)), currency)
    return [Tax(name="Sales tax", rate=rate, taxable_amount=base, amount=tax_total)]


def _payment_terms(terms: object) -> PaymentTerms | None:
    if not isinstance(terms, dict):
        return None
    days = terms.get("days")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 0):
        raise PayloadProblem(f"paymentTerms days {days!r} is not a number of days")
    return PaymentTerms(description=text_value(terms.get("name")), due_offset_days=days)


def _memo(job: object, location: dict[str, Any]) -> str | None:
    parts = []
    if isinstance(job, dict) and text_value(job.get("number")):
        parts.append(f"Job {text_value(job['number'])}")
    if text_value(location.get("name")):
        parts.append(f"Location {text_value(location['name'])}")
    return "; ".join(parts) or None


def _date(value: object, field: str) -> dt.date | None:
    """The UTC date of a Unix timestamp (seconds, as a number or a string of digits)."""
    if value is None:
        return None
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        seconds = int(value)
    try:
        if seconds is None:
            raise ValueError
        date = dt.datetime.fromtimestamp(seconds, tz=dt.UTC).date()
    except (ValueError, OverflowError, OSError):
        raise PayloadProblem(f"{field} {value!r} is not a date") from None
    if date.year not in PLAUSIBLE_YEARS:
        raise PayloadProblem(f"{field} {value!r} is not a plausible date ({date.isoformat()})")
    return date


# -- source ---------------------------------------------------------------------------------------------


class ServiceTradeSource:
    """ServiceTrade as the source of the poll-and-write-back flow (`connectors.base.Source`)."""

    system = PARTNER

    def __init__(
        self,
        credentials: ServiceTradeCredentials,
        *,
        session: requests.Session | None = None,
        page_size: int = 100,
    ):
        self.client = ServiceTradeClient(
            credentials.base_url,
            credentials.username,
            credentials.password,
            session=session,
            page_size=page_size,
        )

    @classmethod
    def from_config(cls, config: ServiceTradeSourceConfig, credentials: dict[str, Any]) -> ServiceTradeSource:
        """A source for a connector's `SourceConfig` (base_url, page_size) and its credentials secret
        (`{"username", "password"}`). ConfigurationError names missing fields, never their values."""
        try:
            creds = ServiceTradeCredentials(
                base_url=config.base_url,
                username=credentials.get("username"),
                password=credentials.get("password"),
            )
        except ValidationError as exc:
            fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]}))
            raise ConfigurationError(
                f"servicetrade credentials are incomplete or invalid: {fields}"
            ) from None
        return cls(creds, page_size=config.page_size)

    def poll(self, start_page: int = 1) -> Iterator[SourcePage]:
        """Pages of invoices in pending_accounting; a ref's version is the invoice's `updated`."""
        for page, total_pages, invoices in self.client.pending_accounting_invoices(start_page):
            refs = []
            for invoice in invoices:
                if not isinstance(invoice, dict) or invoice.get("id") is None:
                    log.error("servicetrade: skipping an invoice without an id on page %s", page)
                    continue
                refs.append(_ref(invoice))
            yield SourcePage(page=page, total_pages=total_pages, refs=refs, raw=invoices)

    def fetch(self, ref: SourceRef) -> tuple[Document, dict[str, Any]]:
        """The invoice, fresh from ServiceTrade, and its Document. MappingError carries `.raw`."""
        payload = self.client.invoice(_invoice_id(ref))
        try:
            return invoice_to_document(payload), payload
        except MappingError as exc:
            exc.raw = payload
            raise

    def current_ref(self, raw: dict[str, Any]) -> SourceRef | None:
        """The ref of a fetched invoice as it is now; None once it has left pending_accounting."""
        if raw.get("status") != "pending_accounting" or raw.get("id") is None:
            return None
        return _ref(raw)

    def acknowledge(self, ref: SourceRef, outcome: Outcome) -> None:
        """Success → processed (+ the accounting number); failure → failed + a private comment."""
        if outcome.delivered:
            self.client.mark_processed(_invoice_id(ref), outcome.target_number)
        else:
            self.client.mark_failed(_invoice_id(ref), outcome.reason or "no reason was given")

    def close(self) -> None:
        self.client.close()


def _invoice_id(ref: SourceRef) -> int:
    try:
        return int(ref.id)
    except ValueError:
        raise PermanentError(f"{ref.id!r} is not a ServiceTrade invoice id", partner=PARTNER) from None


def _ref(invoice: dict[str, Any]) -> SourceRef:
    """An invoice's ref: its `updated` timestamp is the version (it changes with every edit)."""
    return SourceRef(
        id=str(invoice["id"]),
        version=str(invoice.get("updated", "")),
        number=text_value(invoice.get("invoiceNumber")),
    )
