"""Authenticators: how a partner client proves who it is, as `requests.auth.AuthBase` parts.

A client holds one authenticator and never handles credentials itself (see `client.PartnerClient`):
`prepare()` runs before each request (sign in, fetch a token), `__call__` adds the credentials to the
request, `renew(rejected)` runs once after a 401 (sign in again, fetch or rotate the token; False when a
new attempt cannot help) and `close()` ends a session. Credentials are never logged, put into an error,
or shown by `repr`.

- `ApiKeyAuth`: a fixed key in a header (the shop's `X-Api-Key`).
- `SessionLoginAuth`: a session cookie from a login call, signed in again on 401 (ServiceTrade's legacy
  username/password sessions).
- `ClientCredentialsAuth`: OAuth 2.0 client credentials (RFC 6749 §4.4), the token reused until shortly
  before it expires and fetched again after a 401 (Clearnox, ServiceTrade).
- `PasswordGrantAuth`: the same with the resource owner password grant (RFC 6749 §4.3): a client id +
  secret and a user's name + password (ShipServ's integration users).
- `oauth.RotatingRefreshTokenAuth`: OAuth 2.0 authorization code with single-use rotating refresh tokens
  shared by many workers (FreshBooks, ClearBooks), in `oauth.py`.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import requests
from pydantic import SecretStr

from ..errors import AuthenticationError, TransientError
from ..logs import logger
from .session import Timeout, partner_session
from .status import partner_error_message, raise_for_partner_status, token_endpoint_status, transport_error

if TYPE_CHECKING:
    from .client import PartnerClient

Clock = Callable[[], float]
# Token calls are short and retried little: a worker must not sit on a token call for minutes.
TOKEN_TIMEOUT: Timeout = (3.05, 10)


def token_session(partner: str) -> requests.Session:
    """The session for token calls: few, short retries."""
    return partner_session(partner=partner, retries=2, backoff_max=2, timeout=TOKEN_TIMEOUT)


class PartnerAuth(requests.auth.AuthBase):
    """Base authenticator: no credentials. Subclasses override what their scheme needs."""

    client: PartnerClient | None = None

    def bind(self, client: PartnerClient) -> None:
        """Called by the client that uses this authenticator (a login needs the client's session)."""
        self.client = client

    def prepare(self) -> None:
        """Before a request: make sure there are credentials (sign in, fetch a token)."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request

    def renew(self, rejected: requests.PreparedRequest) -> bool:
        """After a 401 to `rejected`: get new credentials. False when trying again cannot help."""
        return False

    def close(self) -> None:
        """End what `prepare` started (a session); never raises."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ApiKeyAuth(PartnerAuth):
    """A fixed API key sent in a header on every request (a refused key cannot be renewed)."""

    def __init__(self, header: str, key: str | SecretStr):
        self.header = header
        self._key = key if isinstance(key, SecretStr) else SecretStr(key)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self.header] = self._key.get_secret_value()
        return request

    def __repr__(self) -> str:
        return f"ApiKeyAuth({self.header!r})"


class SessionLoginAuth(PartnerAuth):
    """A session cookie from a login call: `POST login_path` with the credentials as JSON sets the cookie,
    which the client's session keeps and sends back; `DELETE logout_path` ends it. A 401 (the session
    expired or was evicted) signs in once more. Refused credentials (401/403 on the login) are an
    `AuthenticationError`."""

    def __init__(
        self,
        login_path: str,
        credentials: Mapping[str, str | SecretStr],
        *,
        logout_path: str | None = None,
        logout_timeout: Timeout = (3.05, 5),
        who: str | None = None,
    ):
        self.login_path = login_path
        self.logout_path = logout_path
        self.logout_timeout = logout_timeout
        self.who = who
        self._credentials = {
            name: value if isinstance(value, SecretStr) else SecretStr(value)
            for name, value in credentials.items()
        }
        self.signed_in = False
        # Threads of one client share the session: one signs in, the others wait and use its cookie.
        self._lock = threading.RLock()

    def prepare(self) -> None:
        if self.signed_in:
            return
        with self._lock:
            if self.signed_in:
                return
            client = self._client()
            body = {name: value.get_secret_value() for name, value in self._credentials.items()}
            response = client.send("POST", self.login_path, authenticated=False, json=body)
            raise_for_partner_status(response, client.partner)
            self.signed_in = True
            logger.info(f"{client.partner}: signed in" + (f" as {self.who}" if self.who else ""))

    def renew(self, rejected: requests.PreparedRequest) -> bool:
        """Sign in again — unless another thread already did since `rejected` was sent (its cookie is no
        longer the session's): then the request is simply sent again with the new one."""
        with self._lock:
            current = requests.cookies.get_cookie_header(self._client().session.cookies, rejected)
            if self.signed_in and current and current != rejected.headers.get("Cookie"):
                return True
            logger.info(f"{self._client().partner}: session expired, signing in again")
            self.signed_in = False
            self.prepare()
            return True

    def close(self) -> None:
        if not self.signed_in or self.logout_path is None:
            self.signed_in = False
            return
        self.signed_in = False
        client = self._client()
        try:
            response = client.session.delete(client.url(self.logout_path), timeout=self.logout_timeout)
        except requests.RequestException as exc:
            logger.warning(f"{client.partner}: logout failed: {transport_error(exc, client.partner).reason}")
            return
        if response.status_code in (200, 204, 401):
            logger.info(f"{client.partner}: signed out")
        else:
            logger.warning(f"{client.partner}: logout answered HTTP {response.status_code}")

    def _client(self) -> PartnerClient:
        if self.client is None:
            raise RuntimeError("SessionLoginAuth is not bound to a client")
        return self.client

    def __repr__(self) -> str:
        return f"SessionLoginAuth({self.login_path!r}, who={self.who!r})"


class BearerTokenAuth(PartnerAuth):
    """Base of the OAuth 2.0 authenticators: `Authorization: Bearer <access token>`."""

    def access_token(self) -> str:
        raise NotImplementedError

    def replace_token(self, rejected: str) -> None:
        """Make the next `access_token()` differ from `rejected` (which the partner refused)."""
        raise NotImplementedError

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.access_token()}"
        return request

    def renew(self, rejected: requests.PreparedRequest) -> bool:
        header = rejected.headers.get("Authorization", "")
        self.replace_token(header.removeprefix("Bearer "))
        return True


class ClientCredentialsAuth(BearerTokenAuth):
    """OAuth 2.0 client credentials (RFC 6749 §4.4): `POST token_url` with `grant_type=client_credentials`,
    `client_id` and `client_secret` form-encoded (client_secret_post) → `{"access_token", "token_type":
    "Bearer", "expires_in"}`. The token is shared by the threads of one client, reused until
    `refresh_margin` seconds (at most half its lifetime) before it expires, and fetched again after a
    401. These tokens are not single-use, so concurrent workers each fetch their own; no lease is needed.
    Refused credentials (400/401 `invalid_client`) are an `AuthenticationError`.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | SecretStr,
        *,
        partner: str,
        scope: str | None = None,
        session: requests.Session | None = None,
        refresh_margin: float = 60,
        default_lifetime: float = 300,
        clock: Clock = time.monotonic,
    ):
        self.token_url = token_url
        self.client_id = client_id
        self.partner = partner
        self.scope = scope
        self._secret = client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        self._session = session
        self._margin = refresh_margin
        self._default_lifetime = default_lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def access_token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                asked_at = self._clock()
                self._token, lifetime = self._fetch()
                self._renew_at = asked_at + lifetime - min(self._margin, lifetime / 2)
            return self._token

    def replace_token(self, rejected: str) -> None:
        with self._lock:
            if self._token == rejected:  # another thread may have replaced it already
                self._token = None
        logger.info(f"{self.partner}: access token refused, fetching a new one")

    def grant_form(self) -> dict[str, str]:
        """The token request's form: the grant and our client (client_secret_post). Holds secrets: never
        log it."""
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret.get_secret_value(),
        }
        if self.scope:
            form["scope"] = self.scope
        return form

    def refused_credentials(self) -> str:
        """What a refused token request says was refused (names no secret)."""
        return "our client credentials"

    def _fetch(self) -> tuple[str, float]:
        form = self.grant_form()
        session = self._session or (self.client.session if self.client else token_session(self.partner))
        try:
            response = session.post(self.token_url, data=form, timeout=TOKEN_TIMEOUT)
        except requests.RequestException as exc:
            raise transport_error(exc, self.partner) from exc
        if response.status_code in (400, 401):
            # RFC 6749 §5.2: invalid_client is a 401 (or 400); either way these credentials do not work.
            message = partner_error_message(response)
            raise AuthenticationError(
                f"{self.partner} refused {self.refused_credentials()} (HTTP {response.status_code} on the "
                "token request)" + (f": {message}" if message else ""),
                partner=self.partner,
                status=response.status_code,
            )
        token_endpoint_status(response, self.partner)
        body = _json_object(response, self.partner, "the token request")
        token = body.get("access_token")
        token_type = str(body.get("token_type", "bearer"))
        if not isinstance(token, str) or not token or token_type.lower() != "bearer":
            raise TransientError(
                f"{self.partner} answered the token request without a bearer access_token",
                partner=self.partner,
            )
        lifetime = _lifetime(body.get("expires_in"), token) or self._default_lifetime
        logger.info(
            f"{self.partner}: new access token for client {self.client_id} (expires in {lifetime:.0f} s)"
        )
        return token, lifetime

    def __repr__(self) -> str:
        return f"ClientCredentialsAuth({self.token_url!r}, client_id={self.client_id!r})"


class PasswordGrantAuth(ClientCredentialsAuth):
    """OAuth 2.0 resource owner password credentials (RFC 6749 §4.3): `grant_type=password` with the
    client's id + secret and a user's `username` + `password` (an integration user acting for one account).
    Everything else is `ClientCredentialsAuth`'s: the token reused, a new one after a 401, no refresh
    token (a new grant instead). Refused credentials (400 `invalid_grant`, 401 `invalid_client`) are an
    `AuthenticationError` naming the user, never the password or the secret.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | SecretStr,
        *,
        username: str,
        password: str | SecretStr,
        partner: str,
        **options: Any,
    ):
        super().__init__(token_url, client_id, client_secret, partner=partner, **options)
        self.username = username
        self._password = password if isinstance(password, SecretStr) else SecretStr(password)

    def grant_form(self) -> dict[str, str]:
        return {
            **super().grant_form(),
            "grant_type": "password",
            "username": self.username,
            "password": self._password.get_secret_value(),
        }

    def refused_credentials(self) -> str:
        return f"the user {self.username} (its password) or our client credentials"

    def __repr__(self) -> str:
        return (
            f"PasswordGrantAuth({self.token_url!r}, client_id={self.client_id!r}, username={self.username!r})"
        )


def _lifetime(expires_in: object, token: str) -> float | None:
    """Seconds the token lives: `expires_in`, else the `exp` claim of a JWT access token (which some
    partners' SDKs read instead, e.g. ServiceTrade's), else None."""
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        return float(expires_in)
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return None
    remaining = exp - time.time()
    return remaining if remaining > 0 else None


def _json_object(response: requests.Response, partner: str, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise TransientError(f"{partner} answered {what} without JSON", partner=partner) from None
    if not isinstance(body, dict):
        raise TransientError(f"{partner} answered {what} with no JSON object", partner=partner)
    return body
