"""The FreshBooks API client: bearer auth with one refresh on 401, envelopes, paging, error mapping.

Every call sends `Authorization: Bearer <token>` and `Api-Version: alpha`. A 401 gets exactly one token
refresh (through the token manager, so concurrent workers share one refresh) and one retry. 429 and
5xx are retried with backoff by the session (`partner_session`: idempotent methods on 429/5xx, POST only
on 429/503); every other failure becomes a domain error via `raise_for_partner_status`.

Accounting resources live under `{api_url}/accounting/account/{account_id}/...`, webhook callbacks under
`{api_url}/events/account/{account_id}/events/callbacks`. Answers are `{"response": {"result": {...}}}`;
lists carry `page`, `pages`, `per_page` and `total`, and are followed to the last page.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from ...errors import AuthenticationError, PermanentError, RelayError, TransientError
from ...http import PartnerClient, raise_for_partner_status, transport_error
from . import mapping
from .oauth import RECONNECT_HINT

if TYPE_CHECKING:
    from ...connector import FreshBooksTargetConfig
    from .oauth import FreshBooksTokenManager

log = logging.getLogger(__name__)

PARTNER = "freshbooks"
API_VERSION = "alpha"
MAX_PER_PAGE = 100  # FreshBooks silently caps per_page at 100
MAX_PAGES = 1000  # a listing longer than this is a bug (ours or theirs), not data
INVOICE_NUMBER_COLLISION_ATTEMPTS = 3  # FreshBooks answers 409 when two invoices get the same number
COLLISION_PAUSE_SECONDS = 0.2


class FreshBooksClient(PartnerClient):
    """One FreshBooks account, authenticated through a `FreshBooksTokenManager`."""

    def __init__(
        self,
        config: FreshBooksTargetConfig,
        token_manager: FreshBooksTokenManager,
        *,
        session: requests.Session | None = None,
        per_page: int = MAX_PER_PAGE,
    ):
        self.config = config
        self.tokens = token_manager
        super().__init__(partner=PARTNER, session=session)
        self.per_page = max(1, min(per_page, MAX_PER_PAGE))
        api_url = config.api_url.rstrip("/")
        self._accounting_url = f"{api_url}/accounting/account/{config.account_id}"
        self._events_url = f"{api_url}/events/account/{config.account_id}/events"

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
                log.warning(
                    "freshbooks: invoice number collision (409), creating again (attempt %s)", attempt + 1
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

    def _record(
        self,
        method: str,
        url: str,
        key: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Call and return `result[key]` (the one record of a single-record answer)."""
        result = self._call(method, url, params=params, json=body)
        record = result.get(key)
        if not isinstance(record, dict):
            raise PermanentError(
                f"freshbooks answered {method} {_path(url)} without a {key}", partner=PARTNER
            )
        return record

    def _pages(self, url: str, key: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every record of a listing, page by page to the last one."""
        page = 1
        while True:
            result = self._call(
                "GET", url, params={**(params or {}), "page": page, "per_page": self.per_page}
            )
            records = result.get(key)
            if not isinstance(records, list):
                raise PermanentError(
                    f"freshbooks sent an unexpected {key} list on GET {_path(url)} (page {page})",
                    partner=PARTNER,
                )
            yield from (r for r in records if isinstance(r, dict))
            pages = result.get("pages")
            if not records or not isinstance(pages, int) or page >= pages:
                return
            page += 1
            if page > MAX_PAGES:
                raise PermanentError(
                    f"freshbooks listing GET {_path(url)} has over {MAX_PAGES} pages", partner=PARTNER
                )

    def _call(
        self, method: str, url: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> dict[str, Any]:
        """One API call with a valid token (one refresh + retry on 401); returns `response.result`."""
        token = self.tokens.access_token()
        response = self._send(method, url, token, params, json)
        if response.status_code == 401:
            log.info("freshbooks: access token refused on %s %s; refreshing once", method, _path(url))
            token = self.tokens.refresh_after_unauthorized(token)
            response = self._send(method, url, token, params, json)
            if response.status_code == 401:
                try:
                    raise_for_partner_status(response, PARTNER)
                except AuthenticationError as exc:
                    raise AuthenticationError(
                        f"{exc.reason}; {RECONNECT_HINT}", partner=PARTNER, status=401
                    ) from None
        _raise_for_status(response)
        try:
            body = response.json()
        except ValueError:
            raise TransientError(
                f"freshbooks answered {method} {_path(url)} with HTTP {response.status_code} but no JSON",
                partner=PARTNER,
                status=response.status_code,
            ) from None
        envelope = body.get("response") if isinstance(body, dict) else None
        result = envelope.get("result") if isinstance(envelope, dict) else None
        if not isinstance(result, dict):
            raise PermanentError(
                f"freshbooks answered {method} {_path(url)} without response.result", partner=PARTNER
            )
        return result

    def _send(
        self, method: str, url: str, token: str, params: dict[str, Any] | None, json: Any
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", "Api-Version": API_VERSION}
        try:
            return self.session.request(method, url, params=params, json=json, headers=headers)
        except requests.RequestException as exc:
            raise transport_error(exc, PARTNER) from exc


def _raise_for_status(response: requests.Response) -> None:
    """`raise_for_partner_status`, plus the `details` list the events API puts its reasons in."""
    try:
        raise_for_partner_status(response, PARTNER)
    except RelayError as exc:
        details = _error_details(response)
        if not details:
            raise
        raise type(exc)(f"{exc.reason} ({details})", partner=PARTNER, status=exc.status) from None


def _error_details(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    details = body.get("details") if isinstance(body, dict) else None
    if not isinstance(details, list):
        return ""
    return "; ".join(str(d) for d in details if isinstance(d, str | int | float))[:300]


def _active_first(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    active = [r for r in records if mapping.is_active(r)]
    return (active or records or [None])[0]


def _path(url: str) -> str:
    return urlsplit(url).path
