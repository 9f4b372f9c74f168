"""The ClearBooks API client, on the HTTP kit: bearer auth with one refresh on 401, bare-array pages, errors.

Every call sends `Authorization: Bearer <token>` (`for_connector`: single-use refresh tokens shared by
all workers under a lease) and `X-Business-ID` when the connector names a business. A 401 gets
exactly one token refresh and one retry; 429 and 5xx are retried with backoff by the session. Lists are
bare JSON arrays paged by `?page=&limit=` with `X-Pagination-Current-Page`/`-Total-Pages` headers,
followed until the current page is the last (not until a short page). Errors are an array of
`{errorCode, errorMessage, field}`: their messages go into the error's reason.

Money is read exactly: JSON numbers are parsed as `Decimal` (`json`), and request bodies write
`Decimal`s as the numbers they hold (`json_text`), never through a float.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from ...errors import AuthenticationError, PermanentError, TransientError
from ...http import Page, PageNumberPaginator, PartnerAuth, PartnerClient
from ...http.client import request_line
from .oauth import connector_oauth

if TYPE_CHECKING:
    from ...http.auth import Clock
    from ...http.oauth import OAuthApp
    from ..context import PartnerContext
    from .config import ClearBooksConfig

PARTNER = "clearbooks"
BUSINESS_HEADER = "X-Business-ID"
CURRENT_PAGE_HEADER = "X-Pagination-Current-Page"
TOTAL_PAGES_HEADER = "X-Pagination-Total-Pages"
MAX_PAGES = 10_000  # a listing longer than this is a bug (ours or theirs), not data
RECONNECT = "reconnect ClearBooks for this connector via its connect URL"
SALES, PURCHASES = "sales", "purchases"


class RequestPacer:
    """At most `per_second` requests a second from this container, in short bursts of up to that many
    (ClearBooks throttles "more than 5 requests per second for a sustained period"). Thread-safe."""

    def __init__(self, per_second: float, *, clock: Any = time.monotonic, sleep: Any = time.sleep):
        self.per_second = per_second
        self._burst = max(1.0, per_second)
        self._tokens = self._burst
        self._clock, self._sleep = clock, sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._updated) * self.per_second)
            self._updated = now
            self._tokens -= 1
            pause = -self._tokens / self.per_second if self._tokens < 0 else 0.0
        if pause:
            self._sleep(pause)


class ClearBooksClient(PartnerClient):
    """One ClearBooks business, authenticated by a `RotatingRefreshTokenAuth` (`for_connector`)."""

    partner = PARTNER

    def __init__(
        self, config: ClearBooksConfig, auth: PartnerAuth, *, session: requests.Session | None = None
    ):
        self.config = config
        super().__init__(config.api_url, auth=auth, session=session)
        self.page_size = config.page_size
        self._pacer = RequestPacer(config.requests_per_second)
        self._paginator = PageNumberPaginator(partner=PARTNER, what="records", max_pages=MAX_PAGES)

    @classmethod
    def for_connector(
        cls,
        config: ClearBooksConfig,
        context: PartnerContext,
        *,
        session: requests.Session | None = None,
        app: OAuthApp | None = None,
        clock: Clock = time.time,
        **token_options: Any,
    ) -> ClearBooksClient:
        """The client of a connector side: tokens from its `token_secret`, refreshed under its lease; the
        app from its `oauth_app_secret` unless `app` is given. `token_options` go to the authenticator."""
        auth = connector_oauth(config).token_auth(
            context.connector_id,
            context.leases,
            secrets_client=context.secrets_client,
            app=app,
            session=session,
            clock=clock,
            **token_options,
        )
        return cls(config, auth, session=session)

    def __repr__(self) -> str:
        return f"ClearBooksClient({self.config.api_url!r}, business={self.config.business_id!r})"

    # -- sales documents, customers ---------------------------------------------------------------------

    def sales_documents_page(
        self, doc_type: str, page: int, *, modified_since: str | None = None, limit: int | None = None
    ) -> Page:
        """One page of sales `invoices` or `creditNotes`; with `modified_since` (an assumed filter) those
        changed at or after it, sorted by `modifiedAt` then `id`."""
        params: dict[str, Any] = {"modifiedSince": modified_since} if modified_since else {}
        return self.list_page(f"/v1/accounting/sales/{doc_type}", page, params, limit=limit)

    def sales_document(self, doc_type: str, document_id: int) -> dict[str, Any]:
        return self._record("GET", f"/v1/accounting/sales/{doc_type}/{document_id}")

    def sales_pdf(self, doc_type: str, document_id: int) -> bytes | None:
        """The rendered PDF of a sales document, or None when it has none (404)."""
        path = f"/v1/accounting/sales/{doc_type}/{document_id}/pdf"
        self._pacer.wait()
        self.auth.prepare()
        response = self.send("GET", path, headers=self._headers())
        if response.status_code == 401 and self.auth.renew(response.request):
            response = self.send("GET", path, headers=self._headers())
        if response.status_code == 404:
            return None
        self.raise_for_status(response)
        return response.content

    def customer(self, customer_id: int) -> dict[str, Any]:
        return self._record("GET", f"/v1/accounting/customers/{customer_id}")

    def vat_rates(self, ledger: str, treatment: str | None = None) -> list[dict[str, Any]]:
        """`[{key, name, rate}]` of the `sales` or `purchases` ledger (of one VAT treatment when given)."""
        params = {"vatTreatment": treatment} if treatment else None
        rates = self.call("GET", f"/v1/accounting/vatRates/{ledger}", params=params)
        if not isinstance(rates, list):
            raise self.unexpected("VAT rates that are not a list", "GET", f"/v1/accounting/vatRates/{ledger}")
        return [r for r in rates if isinstance(r, dict)]

    # -- suppliers, purchases ---------------------------------------------------------------------------

    def suppliers(self, *, external_id: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
        """Suppliers whose `externalId` / `name` is exactly the one given. The list filters are assumed,
        so the answer is filtered here too: an API that ignores them costs a longer walk, never a wrong
        supplier."""
        params = {k: v for k, v in (("externalId", external_id), ("name", name)) if v is not None}
        return [
            s
            for s in self.walk("/v1/accounting/suppliers", params)
            if (external_id is None or s.get("externalId") == external_id)
            and (name is None or s.get("name") == name)
        ]

    def create_supplier(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        return self._record("POST", "/v1/accounting/suppliers", body=fields)

    def purchases_with_external_id(self, doc_type: str, external_id: str) -> list[dict[str, Any]]:
        """Purchase `bills` or `creditNotes` created with this `externalId` (assumed filter; checked here
        too, so an API that ignores it is walked to the end instead)."""
        return [
            d
            for d in self.walk(f"/v1/accounting/purchases/{doc_type}", {"externalId": external_id})
            if d.get("externalId") == external_id
        ]

    def create_purchase(self, doc_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        return self._record("POST", f"/v1/accounting/purchases/{doc_type}", body=payload)

    def attachments(self, ledger: str, doc_type: str, document_id: int) -> list[dict[str, Any]]:
        path = f"/v1/accounting/{ledger}/{doc_type}/{document_id}/attachments"
        found = self.call("GET", path)
        if not isinstance(found, list):
            raise self.unexpected("attachments that are not a list", "GET", path)
        return [a for a in found if isinstance(a, dict)]

    def upload_attachment(
        self, ledger: str, doc_type: str, document_id: int, file_name: str, content: bytes
    ) -> dict[str, Any]:
        """Attach a file: the raw bytes as the body (not multipart), its name in the path."""
        path = f"/v1/accounting/{ledger}/{doc_type}/{document_id}/attachments/{quote(file_name, safe='')}"
        return self._record("POST", path, data=content, headers={"Content-Type": "application/octet-stream"})

    # -- listings -----------------------------------------------------------------------------------------

    def list_page(
        self, path: str, page: int, params: Mapping[str, Any] | None = None, *, limit: int | None = None
    ) -> Page:
        """One page of a listing: its records and where the listing stands (from the paging headers)."""
        query = {**(params or {}), "page": page, "limit": limit or self.page_size}
        response = self.request("GET", path, params=query)
        records = self.json(response)
        if not isinstance(records, list):
            raise self.unexpected(f"a page that is not a list (page {page})", "GET", path)
        answered = _header_int(response, CURRENT_PAGE_HEADER)
        total = _header_int(response, TOTAL_PAGES_HEADER)
        return Page(
            records=[r for r in records if isinstance(r, dict)],
            number=answered if answered is not None else page,
            # Without the headers a page is taken as the last: never guess that more follow.
            total_pages=total if total is not None else (answered or page),
        )

    def walk(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every record of a listing, page by page to the last one."""
        for page in self._paginator.pages(lambda number: self.list_page(path, number, params)):
            yield from page.records

    # -- the pipeline -------------------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Paced; `X-Business-ID` when configured; a 401 that survives a token refresh names the fix."""
        self._pacer.wait()
        kwargs["headers"] = self._headers(kwargs.pop("headers", None))
        try:
            return super().request(method, path, **kwargs)
        except AuthenticationError as exc:
            if exc.status not in (401, 403) or "reconnect" in exc.reason:
                raise
            raise AuthenticationError(
                f"{exc.reason}; {RECONNECT}", partner=PARTNER, status=exc.status
            ) from None

    def json(self, response: requests.Response) -> Any:
        """The JSON body with every number that has a fraction parsed as an exact `Decimal`."""
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise TransientError(
                f"{PARTNER} answered {request_line(response)} with HTTP {response.status_code} but no JSON",
                partner=PARTNER,
                status=response.status_code,
            ) from None

    def error_details(self, response: requests.Response) -> str:
        """ClearBooks' error array `[{errorCode, errorMessage, field}]` as "message (field); ..."."""
        try:
            body = response.json()
        except ValueError:
            return ""
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list):
            return ""
        messages = []
        for error in body:
            if not isinstance(error, dict) or not isinstance(error.get("errorMessage"), str):
                continue
            field = error.get("field")
            messages.append(
                error["errorMessage"] + (f" ({field})" if isinstance(field, str) and field else "")
            )
        return "; ".join(messages)[:600]

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", **(extra or {})}
        if self.config.business_id is not None:
            headers[BUSINESS_HEADER] = str(self.config.business_id)
        return headers

    def _record(
        self, method: str, path: str, *, body: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Call and return the one record the answer is."""
        if body is not None:
            kwargs["data"] = json_text(body).encode()
            kwargs["headers"] = {"Content-Type": "application/json", **kwargs.get("headers", {})}
        record = self.call(method, path, **kwargs)
        if not isinstance(record, dict):
            raise self.unexpected("without a JSON object", method, path)
        return record


def json_text(value: Any) -> str:
    """JSON with `Decimal`s written as the exact numbers they hold (ClearBooks wants numbers, not strings;
    the standard encoder cannot write a Decimal, and a float could round it)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise PermanentError(f"{value} is not an amount ClearBooks can take", partner=PARTNER)
        return f"{value:f}"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(json_text(v) for v in value) + "]"
    return json.dumps(value)


def _header_int(response: requests.Response, name: str) -> int | None:
    value = response.headers.get(name, "").strip()
    return int(value) if value.isdigit() else None
