"""The shop's REST client (see the package docstring for the API's shape)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import requests
from pydantic import SecretStr

from ...errors import ConfigurationError, PermanentError
from ...http import ApiKeyAuth, CursorPaginator, Page, PartnerClient
from ...logs import logger

PARTNER = "shop"
API_PREFIX = "/v1"
API_KEY_HEADER = "X-Api-Key"
MAX_PAGE_SIZE = 250
ALREADY_PAID = "order_already_paid"


class ShopClient(PartnerClient):
    """The shop's REST API for one store.

    Every failure is a domain error from `invoice_relay.errors`: 401/403 → AuthenticationError, 404 and
    other 4xx → PermanentError (with `.status`), 429/5xx/timeouts → TransientError. The API key is never
    logged or put into an error.
    """

    partner = PARTNER

    def __init__(
        self,
        base_url: str,
        api_key: str | SecretStr,
        *,
        session: requests.Session | None = None,
        page_size: int = 100,
    ):
        if not re.match(r"^https?://[^/\s]+", base_url or ""):
            raise ConfigurationError("shop base_url must be an http(s) URL")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigurationError(f"shop page size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        super().__init__(
            f"{base_url.rstrip('/')}{API_PREFIX}", auth=ApiKeyAuth(API_KEY_HEADER, api_key), session=session
        )
        self.page_size = page_size
        self._pages = CursorPaginator(partner=PARTNER, what="products")

    def unwrap(self, body: Any, method: str, path: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise self.unexpected("without a JSON object", method, f"{API_PREFIX}{path}")
        return body

    # -- records --------------------------------------------------------------------------------------------

    def order(self, order_id: str | int) -> dict[str, Any]:
        """One order (GET /v1/orders/{id}). PermanentError with status 404 if the shop has no such order."""
        return self.call("GET", f"/orders/{_segment(order_id)}")

    def customer(self, customer_id: str | int) -> dict[str, Any]:
        """One customer (GET /v1/customers/{id})."""
        return self.call("GET", f"/customers/{_segment(customer_id)}")

    def payment(self, payment_id: str | int) -> dict[str, Any]:
        """One captured payment (GET /v1/payments/{id})."""
        return self.call("GET", f"/payments/{_segment(payment_id)}")

    def products(self, updated_since: dt.datetime | None = None) -> Iterator[dict[str, Any]]:
        """Every product, or those with updatedAt ≥ `updated_since` (timezone-aware), oldest change first.

        Pages with the shop's keyset cursor; a product changed during the walk may be yielded twice
        (once more at its new place), never skipped.
        """
        params: dict[str, Any] = {"limit": self.page_size}
        if updated_since is not None:
            if updated_since.tzinfo is None:
                raise ValueError("updated_since must be timezone-aware")
            params["updatedSince"] = _iso_utc(updated_since)

        def fetch(cursor: str | None) -> Page:
            page = self.call("GET", "/products", params={**params, **({"cursor": cursor} if cursor else {})})
            records, next_cursor = page.get("data"), page.get("nextCursor")
            if not isinstance(records, list) or not (next_cursor is None or isinstance(next_cursor, str)):
                raise self.unexpected(
                    "with an unexpected product list (expected data and nextCursor)", "GET", "/v1/products"
                )
            return Page(records=records, next_cursor=next_cursor)

        for page in self._pages.pages(fetch):
            yield from page.records

    def mark_order_paid(
        self, order_id: str | int, *, paid_at: dt.datetime | str, reference: str | None
    ) -> dict[str, Any]:
        """Mark an order paid and return the order as it now is.

        Idempotent: an order that is already paid is left alone (no call that changes it), also when it
        became paid between our look and our request (the shop's 409 `order_already_paid`). A cancelled
        order is a PermanentError. `paid_at` is a timezone-aware datetime or an ISO 8601 string with a
        zone; `reference` (e.g. the accounting system's payment) is recorded on the order.
        """
        paid_at_iso = _paid_at(paid_at)
        order = self.order(order_id)
        if order.get("status") == "paid":
            logger.info(f"shop: order {order_id} is already paid")
            return order
        path = f"/orders/{_segment(order_id)}/mark-paid"
        self.auth.prepare()
        response = self.send("POST", path, json={"paidAt": paid_at_iso, "reference": reference})
        if response.status_code == 409 and _error_code(response) == ALREADY_PAID:
            logger.info(f"shop: order {order_id} was paid meanwhile")
            return self.order(order_id)
        self.raise_for_status(response)
        logger.info(f"shop: order {order_id} marked paid ({reference})")
        return self.unwrap(self.json(response), "POST", path)


def _segment(record_id: str | int) -> str:
    text = str(record_id).strip()
    if not text:
        raise PermanentError("a shop record id is empty", partner=PARTNER)
    return quote(text, safe="")


def _iso_utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _paid_at(value: dt.datetime | str) -> str:
    moment = value
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"paid_at {value!r} is not an ISO 8601 date-time") from None
    if not isinstance(moment, dt.datetime) or moment.tzinfo is None:
        raise ValueError(f"paid_at {value!r} must be a timezone-aware date-time")
    return _iso_utc(moment)


def _error_code(response: requests.Response) -> str | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("code") if isinstance(error, dict) else None
