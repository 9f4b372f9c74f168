"""The ShipServ Invoicing API client (see the package docstring for the API and our assumptions about it)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from ...errors import ConfigurationError, PermanentError, RelayError
from ...http import Page, PageNumberPaginator, PartnerClient, partner_error_message
from ...http.auth import PasswordGrantAuth
from ...http.client import request_line
from ...http.paging import DEFAULT_MAX_PAGES
from ..payload import secret_credentials
from .config import MAX_PAGE_SIZE, ShipServConfig

PARTNER = "shipserv"
TOKEN_PATH = "/authentication/oauth2/token"  # noqa: S105 (a URL path, not a password)
DOCUMENTS = "/invoicing/documents"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DUPLICATE_DOCUMENT = "DUPLICATE_DOCUMENT"
ROLE_BUYER, ROLE_SUPPLIER = "buyer", "supplier"


class ShipServCredentials(BaseModel):
    """The connector's secret: the tenant authorization (client id + secret) and the integration user."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    client_id: str = Field(min_length=1)
    client_secret: SecretStr = Field(min_length=1)
    username: str = Field(min_length=1)
    password: SecretStr = Field(min_length=1)


def authenticator(api_url: str, secret: Mapping[str, Any]) -> PasswordGrantAuth:
    """The password-grant authenticator for the stored secret. ConfigurationError names missing fields,
    never their values."""
    credentials = secret_credentials(
        ShipServCredentials,
        secret,
        partner=PARTNER,
        expected="client_id, client_secret, username and password",
    )
    return PasswordGrantAuth(
        f"{api_url.rstrip('/')}{TOKEN_PATH}",
        credentials.client_id,
        credentials.client_secret,
        username=credentials.username,
        password=credentials.password,
        partner=PARTNER,
    )


class NetworkRefusal(PermanentError):
    """The network refused a request for good (a 4xx other than 401/403). `errors` are its
    `{"code", "message", "field"}` problems, `existing_id` the document a DUPLICATE_DOCUMENT names."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None,
        errors: list[dict[str, Any]],
        existing_id: str | None = None,
    ):
        super().__init__(reason, partner=PARTNER, status=status)
        self.errors = errors
        self.existing_id = existing_id

    @property
    def codes(self) -> list[str]:
        return [str(e.get("code")) for e in self.errors if e.get("code")]

    def network_reason(self) -> str:
        """The network's own words: "UNKNOWN_BUYER (buyerTnId): Buyer TNID 999001 is not ...; ..."."""
        return "; ".join(describe_problem(e) for e in self.errors) or self.reason


def describe_problem(problem: Mapping[str, Any]) -> str:
    """One `{"code", "message", "field"}` problem as a reader sees it."""
    code, field, message = problem.get("code"), problem.get("field"), problem.get("message")
    head = " ".join(str(part) for part in (code, f"({field})" if field else None) if part)
    return f"{head}: {message}" if head and message else str(message or head)


def network_problems(response: requests.Response) -> tuple[list[dict[str, Any]], str | None]:
    """The `errors` of an error body (only well-formed ones) and its `existingId`, if any."""
    try:
        body = response.json()
    except ValueError:
        return [], None
    if not isinstance(body, dict):
        return [], None
    errors = body.get("errors")
    problems = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
    existing = body.get("existingId")
    return problems, existing if isinstance(existing, str) and existing else None


class ShipServClient(PartnerClient):
    """One integration user of the network, acting for the TNID `tnid` (signs in on first use).

    Every POST is safe to repeat (`replay_safe_methods`): a send carries an `Idempotency-Key`, and
    mark-as-exported is idempotent — so a 5xx or a lost answer after a POST is retried like a GET. A
    403 (the user lacks the role, or the record is another party's) is a `ConfigurationError`: the
    connector's user and TNID do not fit. Other refusals are `NetworkRefusal`s carrying the network's
    problems. No credential or token is ever logged or put into an error.
    """

    partner: ClassVar[str] = PARTNER
    replay_safe_methods: ClassVar[frozenset[str]] = frozenset({"POST"})

    def __init__(
        self,
        api_url: str,
        *,
        auth: PasswordGrantAuth,
        tnid: int,
        session: requests.Session | None = None,
        page_size: int = 50,
        max_pages: int = DEFAULT_MAX_PAGES,
    ):
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigurationError(
                f"shipserv page size must be 1..{MAX_PAGE_SIZE}, got {page_size}", partner=PARTNER
            )
        super().__init__(api_url, auth=auth, session=session)
        self.tnid = tnid
        self.username = auth.username
        self.page_size = page_size
        self._pages = PageNumberPaginator(partner=PARTNER, what="documents", max_pages=max_pages)

    @classmethod
    def for_connector(
        cls, config: ShipServConfig, secret: Mapping[str, Any], *, session: requests.Session | None = None
    ) -> ShipServClient:
        """The client of a connector side, signed in with its credentials secret (client id + secret,
        username + password; see `authenticator`). ConfigurationError names missing fields, never their
        values."""
        return cls(
            config.api_url,
            auth=authenticator(config.api_url, secret),
            tnid=config.tnid,
            session=session,
            page_size=config.page_size,
        )

    # -- errors -----------------------------------------------------------------------------------------

    def error_details(self, response: requests.Response) -> str:
        """The codes and fields of the network's problems (their messages are in the reason already)."""
        problems, _ = network_problems(response)
        return "; ".join(
            f"{p['code']} at {p['field']}" if p.get("field") else str(p["code"])
            for p in problems
            if p.get("code")
        )

    def raise_for_status(self, response: requests.Response) -> None:
        """The kit's status mapping, with a 403 as a ConfigurationError and refusals as NetworkRefusal."""
        try:
            super().raise_for_status(response)
        except RelayError as exc:
            if response.status_code == 403:
                # The token's user lacks the role, or the record is another party's: the connector's user
                # and TNID do not fit together (the network's message says which).
                message = partner_error_message(response) or "forbidden"
                raise ConfigurationError(
                    f"shipserv refused {request_line(response)} to user {self.username} (connector TNID "
                    f"{self.tnid}): {message} — the user's role or TNID does not fit the connector",
                    partner=PARTNER,
                    status=403,
                ) from None
            if type(exc) is PermanentError:
                problems, existing = network_problems(response)
                raise NetworkRefusal(
                    exc.reason, status=exc.status, errors=problems, existing_id=existing
                ) from None
            raise

    def acting_party(self, document: Mapping[str, Any], field: str, role: str) -> None:
        """Check that `document[field]` (its buyer or supplier TNID) is the connector's TNID: the token's
        user acts for one TNID only, so another one means the connector's user belongs to another company
        (ConfigurationError naming both TNIDs)."""
        tnid = document.get(field)
        if tnid != self.tnid:
            raise ConfigurationError(
                f"shipserv user {self.username} acts for {role} TNID {tnid}, but this connector is set up "
                f"for TNID {self.tnid}: give the connector that company's integration user, or its TNID",
                partner=PARTNER,
            )

    # -- listings ---------------------------------------------------------------------------------------

    def documents_page(self, number: int, **filters: Any) -> Page:
        """One page of `GET /invoicing/documents` with these filters (`content` → records)."""
        params = {**filters, "pageNumber": number, "pageSize": self.page_size}
        body = self.call("GET", DOCUMENTS, params=params)
        if not isinstance(body, dict):
            raise self.unexpected(f"page {number} with no JSON object", "GET", DOCUMENTS)
        content, total_pages = body.get("content"), body.get("totalPages")
        answered = body.get("pageNumber", number)  # the paginator's loop guard compares it with `number`
        if not isinstance(content, list) or not _is_int(total_pages) or not _is_int(answered):
            raise self.unexpected(
                f"page {number} without content, pageNumber and totalPages", "GET", DOCUMENTS
            )
        return Page(records=content, number=answered, total_pages=total_pages)

    def documents(self, start_page: int = 1, **filters: Any) -> Iterator[Page]:
        """Each page of the listing with these filters, from `start_page` (with the paginator's loop
        guard and page limit)."""
        return self._pages.pages(lambda number: self.documents_page(number, **filters), start_page)

    def received_documents(self, start_page: int = 1) -> Iterator[Page]:
        """The buyer's invoices and credit notes not yet exported, oldest sent first. Pages address a
        moving list: a document exported meanwhile leaves it and the ones after it move up, so a walk can
        pass over some until the next poll from page 1 (harmless: documents are keyed by id + version)."""
        return self.documents(start_page, role=ROLE_BUYER, exported="false")

    def sent_documents(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """The supplier's sent documents matching `filters` (e.g. referenceNumber and type, or status)."""
        for page in self.documents(1, role=ROLE_SUPPLIER, **filters):
            yield from (d for d in page.records if isinstance(d, dict))

    # -- one document -----------------------------------------------------------------------------------

    def document(self, document_id: str) -> dict[str, Any]:
        """The full document. The buyer reading it turns "Sent" into "Read" (the supplier's READ)."""
        return self._object(self.call("GET", f"{DOCUMENTS}/{document_id}"), "GET", f"{DOCUMENTS}/{{id}}")

    def attachment(self, attachment_id: str) -> tuple[bytes, str]:
        """An attachment's bytes and content type (`GET /attachments/{id}/bytes`)."""
        response = self.request("GET", f"/attachments/{attachment_id}/bytes")
        content_type = response.headers.get("Content-Type", "application/pdf").split(";")[0].strip()
        return response.content, content_type or "application/pdf"

    def mark_exported(self, document_id: str) -> dict[str, Any]:
        """`POST .../mark-as-exported` (no body; idempotent): the buyer's acknowledgement to the supplier."""
        path = f"{DOCUMENTS}/{document_id}/mark-as-exported"
        return self._object(self.call("POST", path), "POST", f"{DOCUMENTS}/{{id}}/mark-as-exported")

    def send_document(self, body: dict[str, Any], idempotency_key: str) -> tuple[dict[str, Any], bool]:
        """Send an invoice or credit note once: (the document, whether this was a replay of an earlier
        send with the same key). NetworkRefusal for a refusal (409 duplicate with `existing_id`, 422)."""
        response = self.request("POST", DOCUMENTS, json=body, headers={IDEMPOTENCY_HEADER: idempotency_key})
        replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
        return self._object(self.json(response), "POST", DOCUMENTS), replayed

    def _object(self, body: Any, method: str, path: str) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
            raise self.unexpected("without a document id", method, path)
        return body


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
