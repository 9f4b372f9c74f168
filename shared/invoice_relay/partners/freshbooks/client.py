"""The FreshBooks API client, on the HTTP kit: bearer auth with one refresh on 401, envelopes, paging.

Every call sends `Authorization: Bearer <token>` (`oauth.connector_oauth`: rotating refresh tokens shared by
all workers under a lease) and `Api-Version: alpha`. A 401 gets exactly one token refresh and one retry.
429 and 5xx are retried with backoff by the session (idempotent methods on 429/5xx, POST only on
429/503); every other failure becomes a domain error (`http.status`).

Accounting resources live under `{api_url}/accounting/account/{account_id}/...`, webhook callbacks under
`{api_url}/events/account/{account_id}/events/callbacks`. Answers are `{"response": {"result": {...}}}`;
lists carry `page`, `pages`, `per_page` and `total`, and are followed to the last page.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import requests

from ...errors import AuthenticationError, PermanentError
from ...http import Page, PageNumberPaginator, PartnerAuth, PartnerClient
from ...http.client import request_line
from ...logs import logger
from . import mapping

if TYPE_CHECKING:
    from .config import FreshBooksTargetConfig

PARTNER = "freshbooks"
API_VERSION = "alpha"
MAX_PER_PAGE = 100  # FreshBooks silently caps per_page at 100
MAX_PAGES = 1000  # a listing longer than this is a bug (ours or theirs), not data
INVOICE_NUMBER_COLLISION_ATTEMPTS = 3  # FreshBooks answers 409 when two invoices get the same number
COLLISION_PAUSE_SECONDS = 0.2
INSUFFICIENT_SCOPE = "insufficient_scope"  # FreshBooks' 403 when the token lacks the call's scope
_REQUIRED_SCOPES = re.compile(r"Required: \[([^\]]*)\]")
RECONNECT = "reconnect FreshBooks for this connector via its connect URL"


class FreshBooksClient(PartnerClient):
    """One FreshBooks account, authenticated by a `RotatingRefreshTokenAuth` (`oauth.connector_oauth`)."""

    partner = PARTNER

    def __init__(
        self,
        config: FreshBooksTargetConfig,
        auth: PartnerAuth,
        *,
        session: requests.Session | None = None,
        per_page: int = MAX_PER_PAGE,
    ):
        self.config = config
        super().__init__(config.api_url, auth=auth, session=session)
        self.per_page = max(1, min(per_page, MAX_PER_PAGE))
        self._accounting_url = f"/accounting/account/{config.account_id}"
        self._events_url = f"/events/account/{config.account_id}/events"
        self._paginator = PageNumberPaginator(partner=PARTNER, what="records", max_pages=MAX_PAGES)

    def __repr__(self) -> str:
        return f"FreshBooksClient({self.config.api_url!r}, account={self.config.account_id!r})"

    # -- clients --------------------------------------------------------------------------------------------

    def find_client_by_email(self, email: str) -> dict[str, Any] | None:
        """The client with this email (`users/clients?search[email]=`), an active one first; None if none."""
        matches = [
            c
            for c in self._pages(self._accounting("users/clients"), "clients", {"search[email]": email})
            if mapping.same_email(c.get("email"), email)
        ]
        return _active_first(matches)

    def create_client(self, customer_fields: dict[str, Any]) -> dict[str, Any]:
        return self._record("POST", self._accounting("users/clients"), "client", {"client": customer_fields})

    def update_client(self, client_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        return self._record(
            "PUT", self._accounting(f"users/clients/{client_id}"), "client", {"client": fields}
        )

    def get_client(self, client_id: str) -> dict[str, Any]:
        return self._record("GET", self._accounting(f"users/clients/{client_id}"), "client")

    # -- items ------------------------------------------------------------------------------------------

    def find_item_by_sku(self, sku: str) -> dict[str, Any] | None:
        """The item whose `sku` is exactly `sku` (`items/items?search[sku]=`), an active one first."""
        matches = [
            i
            for i in self._pages(self._accounting("items/items"), "items", {"search[sku]": sku})
            if i.get("sku") == sku
        ]
        return _active_first(matches)

    def create_item(self, fields: dict[str, Any]) -> dict[str, Any]:
        return self._record("POST", self._accounting("items/items"), "item", {"item": fields})

    def update_item(self, item_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        return self._record("PUT", self._accounting(f"items/items/{item_id}"), "item", {"item": fields})

    def list_items(self, updated_since: dt.date | dt.datetime | None = None) -> list[dict[str, Any]]:
        """Every item, or those updated on or after the day of `updated_since` (FreshBooks' `updated_min`
        has day granularity, so an incremental sync re-reads that whole day)."""
        params = {}
        if updated_since is not None:
            day = updated_since.date() if isinstance(updated_since, dt.datetime) else updated_since
            params["search[updated_min]"] = day.isoformat()
        return list(self._pages(self._accounting("items/items"), "items", params))

    # -- invoices ----------------------------------------------------------------------------------------

    def create_invoice(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Create an invoice. A 409 (two invoices were given the same number at once; nothing was
        created) is retried a few times, as FreshBooks recommends."""
        for attempt in range(1, INVOICE_NUMBER_COLLISION_ATTEMPTS + 1):
            try:
                return self._record(
                    "POST", self._accounting("invoices/invoices"), "invoice", {"invoice": payload}
                )
            except PermanentError as exc:
                if exc.status != 409 or attempt == INVOICE_NUMBER_COLLISION_ATTEMPTS:
                    raise
                logger.warning(
                    f"freshbooks: invoice number collision (409), creating again (attempt {attempt + 1})"
                )
                time.sleep(COLLISION_PAUSE_SECONDS * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def get_invoice(self, invoice_id: str) -> dict[str, Any]:
        """One invoice with its lines (`include[]=lines`)."""
        return self._record(
            "GET",
            self._accounting(f"invoices/invoices/{invoice_id}"),
            "invoice",
            params={"include[]": "lines"},
        )

    def find_invoice_by_marker(
        self, marker: str, *, customer_id: str | None = None, create_date: dt.date | None = None
    ) -> dict[str, Any] | None:
        """The invoice created with idempotency marker `marker` (in its `po_number`), or None.

        FreshBooks cannot search `po_number`, so this lists and filters: narrowed to the client
        (`search[customerid]`) and to the day before..after `create_date` (`search[date_min]`,
        `search[date_max]`) when given, which keeps the listing to a page or two.
        """
        params: dict[str, Any] = {}
        if customer_id is not None:
            params["search[customerid]"] = customer_id
        if create_date is not None:
            params["search[date_min]"] = (create_date - dt.timedelta(days=1)).isoformat()
            params["search[date_max]"] = (create_date + dt.timedelta(days=1)).isoformat()
        for invoice in self._pages(self._accounting("invoices/invoices"), "invoices", params):
            if mapping.invoice_marker_of(invoice) == marker:
                return invoice
        return None

    # -- payments ----------------------------------------------------------------------------------------

    def create_payment(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._record("POST", self._accounting("payments/payments"), "payment", {"payment": payload})

    def get_payment(self, payment_id: str) -> dict[str, Any]:
        """One payment (`payments/payments/{id}`): its `invoiceid`, `amount`, `date`, `type`, `note`."""
        return self._record("GET", self._accounting(f"payments/payments/{payment_id}"), "payment")

    def find_payment(self, invoice_id: str, transaction_id: str) -> dict[str, Any] | None:
        """The active payment on the invoice recorded with this transaction id (in its note), or None."""
        payments = self._pages(
            self._accounting("payments/payments"), "payments", {"search[invoiceid]": invoice_id}
        )
        return next(
            (
                p
                for p in payments
                if mapping.is_active(p)
                and str(p.get("invoiceid", invoice_id)) == str(invoice_id)
                and mapping.transaction_id_of(p) == transaction_id
            ),
            None,
        )

    # -- webhook callbacks ---------------------------------------------------------------------------------

    def create_callback(self, event: str, uri: str) -> dict[str, Any]:
        """Register a callback; FreshBooks then sends a verification request with a `verifier` to `uri`."""
        return self._record(
            "POST", self._events("callbacks"), "callback", {"callback": {"event": event, "uri": uri}}
        )

    def verify_callback(self, callback_id: str, verifier: str) -> dict[str, Any]:
        """Confirm a callback with the verifier FreshBooks sent to its URI."""
        return self._record(
            "PUT", self._events(f"callbacks/{callback_id}"), "callback", {"callback": {"verifier": verifier}}
        )

    def list_callbacks(self) -> list[dict[str, Any]]:
        return list(self._pages(self._events("callbacks"), "callbacks"))

    # -- plumbing ---------------------------------------------------------------------------------------

    def _accounting(self, path: str) -> str:
        return f"{self._accounting_url}/{path}"

    def _events(self, path: str) -> str:
        return f"{self._events_url}/{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Every call sends `Api-Version: alpha`; a 401 that survives a token refresh names the fix."""
        headers = {"Api-Version": API_VERSION, **kwargs.pop("headers", {})}
        try:
            return super().request(method, path, headers=headers, **kwargs)
        except AuthenticationError as exc:
            if exc.status != 401 or "reconnect" in exc.reason:
                raise
            raise AuthenticationError(f"{exc.reason}; {RECONNECT}", partner=PARTNER, status=401) from None

    def raise_for_status(self, response: requests.Response) -> None:
        """A 403 `insufficient_scope` names the missing scope: FreshBooks' message lists every scope
        provided first, which would push it out of a shortened reason. A token never gains a scope, so
        only reconnecting after the app was given it helps."""
        missing = _missing_scopes(response) if response.status_code == 403 else None
        if missing:
            raise AuthenticationError(
                f"freshbooks refused {request_line(response)} (HTTP 403, {INSUFFICIENT_SCOPE}): the "
                f"connection lacks the scope {missing}; add it to the FreshBooks app, then {RECONNECT}",
                partner=PARTNER,
                status=403,
            )
        super().raise_for_status(response)

    def unwrap(self, body: Any, method: str, path: str) -> dict[str, Any]:
        """`{"response": {"result": {...}}}` → the result."""
        envelope = body.get("response") if isinstance(body, dict) else None
        result = envelope.get("result") if isinstance(envelope, dict) else None
        if not isinstance(result, dict):
            raise self.unexpected("without response.result", method, path)
        return result

    def error_details(self, response: requests.Response) -> str:
        """The `details` list the events API puts its reasons in."""
        try:
            body = response.json()
        except ValueError:
            return ""
        details = body.get("details") if isinstance(body, dict) else None
        if not isinstance(details, list):
            return ""
        return "; ".join(str(d) for d in details if isinstance(d, str | int | float))[:300]

    def _record(
        self,
        method: str,
        path: str,
        key: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Call and return `result[key]` (the one record of a single-record answer)."""
        result = self.call(method, path, params=params, json=body)
        record = result.get(key)
        if not isinstance(record, dict):
            raise self.unexpected(f"without a {key}", method, path)
        return record

    def _pages(self, path: str, key: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every record of a listing, page by page to the last one."""

        def fetch(number: int) -> Page:
            result = self.call(
                "GET", path, params={**(params or {}), "page": number, "per_page": self.per_page}
            )
            records = result.get(key)
            if not isinstance(records, list):
                raise self.unexpected(f"an unexpected {key} list (page {number})", "GET", path)
            pages, answered = result.get("pages"), result.get("page")
            return Page(
                records=records,
                number=answered if isinstance(answered, int) else number,  # what it says it answered
                total_pages=pages if isinstance(pages, int) else None,
            )

        for page in self._paginator.pages(fetch):
            yield from (r for r in page.records if isinstance(r, dict))


def _missing_scopes(response: requests.Response) -> str | None:
    """The `Required: [...]` scopes of a 403 `{"message": "insufficient_scope: ... Provided: [...].
    Required: ['user:payments:write']."}`; None for any other answer."""
    try:
        body = response.json()
    except ValueError:
        return None
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.startswith(INSUFFICIENT_SCOPE):
        return None
    required = _REQUIRED_SCOPES.search(message)
    scopes = re.findall(r"[\w:]+", required.group(1)) if required else []
    return " ".join(scopes) or "(not named by FreshBooks)"


def _active_first(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    active = [r for r in records if mapping.is_active(r)]
    return (active or records or [None])[0]
