"""The base of every partner client: one request pipeline, so all partners behave the same.

    send (timeouts, retries: `session.partner_session`) → authenticate (`auth.PartnerAuth`) → on 401 renew
    the credentials once and send again → map the status to the error taxonomy (`status`) → parse the
    JSON → unwrap the partner's envelope

A partner client subclasses `PartnerClient`, names its `partner`, passes its base URL and authenticator,
and overrides `unwrap()` when its answers come in an envelope (ServiceTrade `{"data": ...}`, FreshBooks
`{"response": {"result": ...}}`) and `error_details()` when its errors carry more than a message.
Listings page through `paging.py`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import requests

from ..errors import PermanentError, RelayError, TransientError
from .auth import PartnerAuth
from .session import partner_session
from .status import raise_for_partner_status, transport_error


class PartnerClient:
    """A conversation with one partner account (see the module docstring for the pipeline).

    Uses the given `session` or builds (and then owns) a partner session; usable as a context manager;
    `close()` ends the authenticator's session and releases a session it owns.
    """

    partner: ClassVar[str] = "partner"
    # Methods this partner makes idempotent (an idempotency key on every such request): retried like GET.
    replay_safe_methods: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self, base_url: str, *, auth: PartnerAuth | None = None, session: requests.Session | None = None
    ):
        self.base_url = base_url.rstrip("/")
        self._owns_session = session is None
        self.session = (
            session
            if session is not None
            else partner_session(partner=self.partner, replay_safe_methods=self.replay_safe_methods)
        )
        self.auth = auth or PartnerAuth()
        self.auth.bind(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """End the authenticator's session (logout) and release the HTTP session if this client made it."""
        self.auth.close()
        if self._owns_session:
            self.session.close()

    # -- the pipeline ---------------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """An absolute URL as is; a path relative to the base URL."""
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def send(self, method: str, path: str, *, authenticated: bool = True, **kwargs: Any) -> requests.Response:
        """One HTTP exchange (the session retries what is safe to retry); transport failures become
        domain errors. No status mapping: `request()` does that."""
        try:
            return self.session.request(
                method, self.url(path), auth=self.auth if authenticated else None, **kwargs
            )
        except requests.RequestException as exc:
            raise transport_error(exc, self.partner) from exc

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send with credentials; renew them once after a 401; raise the domain error of a failure."""
        self.auth.prepare()
        response = self.send(method, path, **kwargs)
        if response.status_code == 401 and self.auth.renew(response.request):
            response = self.send(method, path, **kwargs)
        self.raise_for_status(response)
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """`request()`, then the answer's JSON without its envelope."""
        response = self.request(method, path, **kwargs)
        return self.unwrap(self.json(response), method, path)

    # -- what partners override -----------------------------------------------------------------------------

    def unwrap(self, body: Any, method: str, path: str) -> Any:
        """The payload inside the partner's envelope (default: the body as is)."""
        return body

    def error_details(self, response: requests.Response) -> str:
        """More about a failure than its message (e.g. a list of details); empty when there is none."""
        return ""

    def raise_for_status(self, response: requests.Response) -> None:
        """Raise the domain error of a failed answer (see `status.raise_for_partner_status`)."""
        try:
            raise_for_partner_status(response, self.partner)
        except RelayError as exc:
            details = self.error_details(response)
            if not details:
                raise
            raise type(exc)(f"{exc.reason} ({details})", partner=exc.partner, status=exc.status) from None

    # -- helpers --------------------------------------------------------------------------------------------

    def json(self, response: requests.Response) -> Any:
        """The JSON body; a 2xx without JSON is transient (a proxy's error page, a cut-off answer)."""
        try:
            return response.json()
        except ValueError:
            raise TransientError(
                f"{self.partner} answered {request_line(response)} with HTTP {response.status_code}"
                " but no JSON",
                partner=self.partner,
                status=response.status_code,
            ) from None

    def unexpected(self, what: str, method: str, path: str) -> PermanentError:
        """The error for an answer that does not have the documented shape."""
        return PermanentError(
            f"{self.partner} answered {method} {path_of(path)} {what}", partner=self.partner
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, auth={self.auth!r})"


def path_of(url: str) -> str:
    """The path of a URL or path, without the query string (which may carry credentials)."""
    return urlsplit(url).path or "/"


def request_line(response: requests.Response) -> str:
    request = response.request
    if request is None or not request.url:
        return "the request"
    return f"{request.method} {path_of(request.url)}"
