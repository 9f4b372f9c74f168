"""The ServiceTrade API client (see the package docstring for the API and our assumptions about it)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from ...errors import ConfigurationError
from ...http import (
    ClientCredentialsAuth,
    Page,
    PageNumberPaginator,
    PartnerAuth,
    PartnerClient,
    SessionLoginAuth,
)
from ...http.paging import DEFAULT_MAX_PAGES
from ...logs import logger
from ..payload import secret_credentials
from .config import MAX_PAGE_SIZE
from .mapping import INVOICE_TYPE

PARTNER = "servicetrade"
API = "/api"
TOKEN_PATH = "/api/oauth2/token"  # noqa: S105 (a URL path, not a password)
SESSION_PATH = "/api/auth"
INVOICE_ENTITY_TYPE = 6  # assumption: see the package docstring
MAX_COMMENT_LENGTH = 5000
FAILED_COMMENT_PREFIX = "Invoice Relay could not transfer this invoice to accounting: "


class ClientCredentials(BaseModel):
    """OAuth 2.0 client credentials (the preferred way; Secrets Manager `{"client_id", "client_secret"}`)."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    client_id: str = Field(min_length=1)
    client_secret: SecretStr = Field(min_length=1)


class SessionCredentials(BaseModel):
    """A user's name and password for a legacy session (Secrets Manager `{"username", "password"}`)."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    username: str = Field(min_length=1)
    password: SecretStr = Field(min_length=1)


def authenticator(base_url: str, secret: Mapping[str, Any]) -> PartnerAuth:
    """The authenticator the stored secret asks for: client credentials when it has a `client_id` (or a
    `client_secret`), a username/password session otherwise. ConfigurationError names missing fields,
    never their values."""
    expected = "client_id and client_secret, or username and password"
    if "client_id" in secret or "client_secret" in secret:
        credentials = secret_credentials(ClientCredentials, secret, partner=PARTNER, expected=expected)
        return ClientCredentialsAuth(
            f"{base_url.rstrip('/')}{TOKEN_PATH}",
            credentials.client_id,
            credentials.client_secret,
            partner=PARTNER,
        )
    session = secret_credentials(SessionCredentials, secret, partner=PARTNER, expected=expected)
    return SessionLoginAuth(
        SESSION_PATH,
        {"username": session.username, "password": session.password},
        logout_path=SESSION_PATH,
        who=session.username,
    )


class ServiceTradeClient(PartnerClient):
    """One ServiceTrade account (signs in on first use; `close()` signs out a session).

    `page_size` is the listing's `limit` (1..2000); a listing of more than `max_pages` pages, or one
    that answers another page than the one asked for, is a fault (PermanentError), not data. Every
    failure is a domain error from `invoice_relay.errors`. No credential, token or session cookie is
    ever logged or put into an error.
    """

    partner = PARTNER

    def __init__(
        self,
        base_url: str,
        *,
        auth: PartnerAuth,
        session: requests.Session | None = None,
        page_size: int = 100,
        max_pages: int = DEFAULT_MAX_PAGES,
    ):
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigurationError(
                f"servicetrade page size must be 1..{MAX_PAGE_SIZE}, got {page_size}", partner=PARTNER
            )
        super().__init__(base_url, auth=auth, session=session)
        self.page_size = page_size
        self._pages = PageNumberPaginator(partner=PARTNER, what="invoices", max_pages=max_pages)

    @classmethod
    def from_credentials(
        cls,
        base_url: str,
        secret: Mapping[str, Any],
        *,
        session: requests.Session | None = None,
        page_size: int = 100,
    ) -> ServiceTradeClient:
        """A client authenticated the way the stored secret asks for (see `authenticator`)."""
        return cls(base_url, auth=authenticator(base_url, secret), session=session, page_size=page_size)

    def unwrap(self, body: Any, method: str, path: str) -> dict[str, Any]:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise self.unexpected("without a data object", method, path)
        return data

    # -- invoices -------------------------------------------------------------------------------------------

    def pending_accounting_invoices(self, start_page: int = 1) -> Iterator[Page]:
        """Each page of invoices in `pending_accounting` (type `invoice`), from `start_page` to the last
        page. A start page past the end yields one empty page.

        Pages address a moving list: an invoice written back meanwhile leaves the filter and the ones
        after it move up, so a walk (or a resume at a saved page) can pass over some until the next
        poll from page 1; an older invoice put back into pending_accounting moves the others down, so
        one can also be listed twice. Both are harmless when documents are keyed by (id, version).
        """
        return self._pages.pages(self._invoice_page, start_page)

    def _invoice_page(self, number: int) -> Page:
        params = {
            "status": "pending_accounting",
            "type": INVOICE_TYPE,
            "page": number,
            "limit": self.page_size,
        }
        data = self.call("GET", f"{API}/invoice", params=params)
        total_pages, invoices = data.get("totalPages"), data.get("invoices")
        if not _is_int(total_pages) or not isinstance(invoices, list):
            raise self.unexpected(
                f"page {number} without data.totalPages and data.invoices", "GET", "/api/invoice"
            )
        # The page the answer says it is (the paginator's loop guard compares it with the one asked for).
        answered = data.get("page", number)
        if not _is_int(answered):
            raise self.unexpected(f"page {number} with data.page {answered!r}", "GET", "/api/invoice")
        return Page(records=invoices, number=answered, total_pages=total_pages)

    def invoice(self, invoice_id: int) -> dict[str, Any]:
        """One invoice (GET /api/invoice/{id}). PermanentError if it does not exist."""
        return self.call("GET", f"{API}/invoice/{invoice_id}")

    def mark_processed(
        self,
        invoice_id: int,
        accounting_number: str | None = None,
        external_ids: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Set the invoice to `processed`, its number to the accounting system's when given, and record the
        accounting system's id as an external id (`{"<system>": "<id>"}`)."""
        changes: dict[str, Any] = {"status": "processed"}
        if accounting_number:
            changes["invoiceNumber"] = accounting_number
        if external_ids:
            changes["externalIds"] = dict(external_ids)
        return self.call("PUT", f"{API}/invoice/{invoice_id}", json=changes)

    def mark_failed(self, invoice_id: int, reason: str, *, status_shown: bool = False) -> dict[str, Any]:
        """Set the invoice to `failed` and explain why in a private comment. Returns the comment.

        The comment is the one write-back that is not idempotent, so it is never posted twice: write-backs
        can be repeated (at-least-once delivery, a lost answer), and when any comment on the invoice already
        says exactly this, no second one is added. A POST is never retried by the HTTP layer after a 500 or
        a timeout (only after 429/503, which mean it was refused before it ran). `status_shown`: the invoice
        already shows `failed` (the status PUT is skipped).
        """
        if not status_shown:
            self.call("PUT", f"{API}/invoice/{invoice_id}", json={"status": "failed"})
        content = (FAILED_COMMENT_PREFIX + reason)[:MAX_COMMENT_LENGTH]
        existing = next((c for c in self.invoice_comments(invoice_id) if c.get("content") == content), None)
        if existing is not None:
            logger.info(f"servicetrade: invoice {invoice_id} already carries this failure comment")
            return existing
        comment = {
            "entityType": INVOICE_ENTITY_TYPE,
            "entityId": invoice_id,
            "content": content,
            "visibility": [],  # private: our company only
        }
        return self.call("POST", f"{API}/comment", json=comment)

    def invoice_comments(self, invoice_id: int) -> list[dict[str, Any]]:
        """The comments on an invoice (first page of GET /api/comment)."""
        data = self.call(
            "GET", f"{API}/comment", params={"entityType": INVOICE_ENTITY_TYPE, "entityId": invoice_id}
        )
        comments = data.get("comments")
        return comments if isinstance(comments, list) else []


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
