"""OAuth 2.0 authorization code with single-use rotating refresh tokens, shared by many workers.

Used by every partner that connects this way (FreshBooks; ClearBooks): the partner package describes its
endpoints in an `OAuthProvider`, names a connector side's secrets in a `ConnectorOAuth` and this module
does the rest (`OAuthConnection` is the connect link and callback of the `OAUTH_CONNECT` capability).

- Connect: send the user to `OAuthProvider.authorization_url()` (`response_type=code`, a one-time
  `state`); the partner redirects back with `code` and `state`; `complete_connection()` exchanges the
  code (`grant_type=authorization_code`) and stores the tokens in the connector's token secret (Secrets
  Manager, created if missing). Tokens never appear in a response, a log line, a repr or DynamoDB.
- Use: `RotatingRefreshTokenAuth` returns a valid access token, refreshing it a few minutes before it
  expires, and once more after a 401.
- Refresh tokens are single-use and rotate: every refresh returns a new pair and kills the old refresh
  token. Several Lambdas share one connector, so a refresh happens only under a DynamoDB lease of the
  connector. Inside the lease the secret is read again (never from a cache): if another worker already
  rotated it, its token is used instead of refreshing again; otherwise the refresh grant is sent and the
  new pair is stored (generation + 1) *before* it is used. A worker that finds the lease held waits
  (bounded) and re-reads the secret. So two workers never send the same refresh token.
- A refused refresh (`invalid_grant`: revoked, already used, app disconnected) is an
  `AuthenticationError` telling the operator to reconnect: a connector problem, never a document's.
- App credentials refused (`invalid_client`: the app secret was rotated since it was cached) are read
  again once (`fresh_app`) and the refresh is sent once more: the refused grant spent no refresh token.

Token secret JSON: `{"access_token", "refresh_token", "expires_at" (epoch seconds), "generation" (int, +1
per rotation), "scope"}`. Token requests are form-encoded (RFC 6749 §4.1.3, §6) unless the provider
says JSON. Secrets Manager is assumed to give read-after-write consistency for a secret's current version
within a region (a worker that waited re-reads what the refresher stored).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol
from urllib.parse import urlencode

import boto3
import requests
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import AuthenticationError, ConfigurationError, TransientError
from ..logs import logger
from ..secrets import partner_credentials
from ..storage.state import LeaseHeld
from .auth import TOKEN_TIMEOUT, BearerTokenAuth, Clock, token_session
from .status import token_endpoint_status, transport_error

DEFAULT_ACCESS_TOKEN_LIFETIME = 3600
REFRESH_MARGIN_SECONDS = 300  # refresh this long before the access token expires
REFRESH_LEASE_SECONDS = 30  # token calls finish well inside it (TOKEN_TIMEOUT, few retries)
LEASE_WAIT_SECONDS = 10.0  # how long a worker waits for another worker's refresh
LEASE_POLL_SECONDS = 0.2


class LeaseHolder(Protocol):
    """What the refresh needs of the lease store (`storage.state.Leases`)."""

    def hold(self, connector_id: str, name: str, seconds: int) -> AbstractContextManager[str]: ...


class ClientRefused(AuthenticationError):
    """The token endpoint refused the app's credentials (`invalid_client`): no token was spent."""


@dataclass(frozen=True)
class OAuthApp:
    """The app this integration is registered as with the partner (its secret holds these three)."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str

    @classmethod
    def from_secret(cls, value: Mapping[str, Any], source: str = "the app secret") -> OAuthApp:
        """From `{"client_id", "client_secret", "redirect_uri"}`; ConfigurationError names what is missing."""
        missing = [
            key
            for key in ("client_id", "client_secret", "redirect_uri")
            if not isinstance(value.get(key), str) or not value[key].strip()
        ]
        if missing:
            raise ConfigurationError(f"OAuth app credentials ({source}) lack {', '.join(missing)}")
        return cls(value["client_id"].strip(), value["client_secret"].strip(), value["redirect_uri"].strip())


@dataclass(frozen=True)
class OAuthTokens:
    """One access/refresh token pair. `generation` counts rotations (stored with the tokens)."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: int
    generation: int = 0
    scope: str | None = None

    def expires_within(self, seconds: float, now: float) -> bool:
        return self.expires_at - seconds <= now

    def to_secret(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "generation": self.generation,
            "scope": self.scope,
        }

    @classmethod
    def from_secret(cls, value: object, secret_name: str, reconnect_hint: str) -> OAuthTokens:
        """Parse the token secret; ConfigurationError (naming fields, never values) if it is malformed."""
        if not isinstance(value, Mapping):
            raise ConfigurationError(f"token secret '{secret_name}' is not a JSON object")
        problems = [k for k in ("access_token", "refresh_token") if not isinstance(value.get(k), str)]
        expires_at, generation = value.get("expires_at"), value.get("generation", 0)
        if not isinstance(expires_at, int | float) or isinstance(expires_at, bool):
            problems.append("expires_at")
        if not isinstance(generation, int) or isinstance(generation, bool):
            problems.append("generation")
        if problems:
            raise ConfigurationError(
                f"token secret '{secret_name}' is malformed: {', '.join(problems)}; {reconnect_hint}"
            )
        scope = value.get("scope")
        return cls(
            access_token=value["access_token"],
            refresh_token=value["refresh_token"],
            expires_at=int(expires_at),
            generation=generation,
            scope=scope if isinstance(scope, str) else None,
        )


@dataclass(frozen=True)
class OAuthProvider:
    """A partner's OAuth 2.0 authorization-code endpoints and rules.

    `title` names the partner to people ("FreshBooks"); `scopes` are asked for on the authorize page;
    `request_encoding` is how token requests are sent (`form`, the RFC's and most SDKs'; or `json`);
    `send_redirect_uri_on_refresh`: some partners want it on refresh grants too.
    """

    partner: str
    title: str
    authorize_url: str
    token_url: str
    scopes: tuple[str, ...] = ()
    request_encoding: Literal["form", "json"] = "form"
    send_redirect_uri_on_refresh: bool = False
    default_lifetime: int = DEFAULT_ACCESS_TOKEN_LIFETIME

    @property
    def reconnect_hint(self) -> str:
        return f"reconnect {self.title} for this connector via its connect URL"

    def authorization_url(self, app: OAuthApp, state: str) -> str:
        """The partner's consent page for this app; `state` comes back on the redirect."""
        params = {
            "client_id": app.client_id,
            "response_type": "code",
            "redirect_uri": app.redirect_uri,
            "state": state,
        }
        if self.scopes:
            params["scope"] = " ".join(self.scopes)
        return f"{self.authorize_url}?{urlencode(params)}"

    def exchange_code(
        self, app: OAuthApp, code: str, *, session: requests.Session | None = None, clock: Clock = time.time
    ) -> OAuthTokens:
        """Exchange an authorization code for tokens (generation 0: the caller stores them)."""
        grant = {
            "grant_type": "authorization_code",
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "code": code,
            "redirect_uri": app.redirect_uri,
        }
        refused = (
            f"{self.title} refused the authorization code (expired, already used or for another redirect "
            "URI); start again from the connect URL"
        )
        return self._grant(grant, session, clock, refused=refused)

    def refresh(
        self,
        app: OAuthApp,
        refresh_token: str,
        *,
        session: requests.Session | None = None,
        clock: Clock = time.time,
    ) -> OAuthTokens:
        """Spend `refresh_token` for a new pair (generation 0: the caller sets it). The old refresh token
        is dead afterwards, whatever happens next: store the new pair before using it."""
        grant = {
            "grant_type": "refresh_token",
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "refresh_token": refresh_token,
        }
        if self.send_redirect_uri_on_refresh:
            grant["redirect_uri"] = app.redirect_uri
        refused = (
            f"{self.title} refused the refresh token (invalid_grant: revoked, already used or "
            f"disconnected); {self.reconnect_hint}"
        )
        return self._grant(grant, session, clock, refused=refused)

    def _grant(
        self, grant: dict[str, str], session: requests.Session | None, clock: Clock, *, refused: str
    ) -> OAuthTokens:
        session = session or token_session(self.partner)
        body_kwargs: dict[str, Any] = {"data": grant} if self.request_encoding == "form" else {"json": grant}
        try:
            response = session.post(self.token_url, timeout=TOKEN_TIMEOUT, **body_kwargs)
        except requests.RequestException as exc:
            raise transport_error(exc, self.partner) from exc
        if response.status_code in (400, 401):
            error = _oauth_error(response)
            if error == "invalid_grant":
                raise AuthenticationError(refused, partner=self.partner, status=response.status_code)
            if error == "invalid_client":
                raise ClientRefused(
                    f"{self.title} refused the app credentials (invalid_client): check client_id and "
                    "client_secret in the connector's app secret",
                    partner=self.partner,
                    status=response.status_code,
                )
        token_endpoint_status(response, self.partner)
        try:
            body = response.json()
        except ValueError:
            raise TransientError(
                f"{self.title} answered the token request without JSON", partner=self.partner
            ) from None
        return self._tokens_from(body, clock())

    def _tokens_from(self, body: object, now: float) -> OAuthTokens:
        # A token answer without tokens is the partner's passing fault: no document is to blame.
        if not isinstance(body, Mapping):
            raise TransientError(f"{self.title} answered the token request with no token object")
        access, refresh = body.get("access_token"), body.get("refresh_token")
        if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
            raise TransientError(
                f"{self.title} answered the token request without access_token and refresh_token",
                partner=self.partner,
            )
        expires_in = body.get("expires_in")
        if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
            expires_in = self.default_lifetime
        created_at = body.get("created_at")
        # Count the lifetime from the earlier of the partner's issue time and ours: a server clock ahead
        # of ours must not make us keep a token past its real expiry.
        issued = (
            min(now, float(created_at)) if isinstance(created_at, int | float) and created_at > 0 else now
        )
        scope = body.get("scope")
        return OAuthTokens(
            access_token=access,
            refresh_token=refresh,
            expires_at=int(issued + expires_in),
            scope=scope if isinstance(scope, str) else None,
        )


def _oauth_error(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else None


# -- token storage ----------------------------------------------------------------------------------------


class TokenSecret:
    """A connector's token secret in Secrets Manager, always read fresh (no cache: tokens rotate)."""

    def __init__(self, name: str, client: Any = None, *, reconnect_hint: str = "reconnect the connector"):
        self.name = name
        self._client = client
        self.reconnect_hint = reconnect_hint

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("secretsmanager")  # honours AWS_ENDPOINT_URL
        return self._client

    def read(self) -> OAuthTokens | None:
        """The stored tokens, or None if the secret does not exist (yet)."""
        try:
            response = self.client.get_secret_value(SecretId=self.name)
        except ClientError as exc:
            if _error_code(exc) == "ResourceNotFoundException":
                return None
            raise self._error(exc, "read") from exc
        except BotoCoreError as exc:
            raise self._error(exc, "read") from exc
        text = response.get("SecretString")
        if text is None:
            raise ConfigurationError(f"token secret '{self.name}' has no string value")
        try:
            value = json.loads(text)
        except ValueError:
            raise ConfigurationError(f"token secret '{self.name}' is not valid JSON") from None
        return OAuthTokens.from_secret(value, self.name, self.reconnect_hint)

    def write(self, tokens: OAuthTokens) -> None:
        """Store `tokens` as the secret's current value, creating the secret if it does not exist."""
        text = json.dumps(tokens.to_secret())
        try:
            try:
                self.client.put_secret_value(SecretId=self.name, SecretString=text)
            except ClientError as exc:
                if _error_code(exc) != "ResourceNotFoundException":
                    raise
                try:
                    self.client.create_secret(Name=self.name, SecretString=text)
                except ClientError as create_exc:
                    if _error_code(create_exc) != "ResourceExistsException":
                        raise
                    self.client.put_secret_value(SecretId=self.name, SecretString=text)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "write") from exc

    def _error(self, exc: Exception, action: str) -> Exception:
        code = _error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
        reason = f"cannot {action} token secret '{self.name}' ({code})"
        if code in {
            "AccessDeniedException",
            "DecryptionFailure",
            "InvalidRequestException",
            "KMSAccessDenied",
        }:
            return ConfigurationError(reason)
        return TransientError(reason)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# -- connecting -------------------------------------------------------------------------------------------


def complete_connection(
    provider: OAuthProvider,
    app: OAuthApp,
    code: str,
    secret: TokenSecret,
    *,
    session: requests.Session | None = None,
    clock: Clock = time.time,
) -> OAuthTokens:
    """Finish a connection after the partner redirected back with `code`: exchange it and store the tokens
    (generation = previous + 1, or 1 for a first connection). The previous generation is read *before* the
    exchange: once the partner has answered, the new tokens are stored before anything else happens."""
    try:
        previous = secret.read()
    except ConfigurationError:
        previous = None  # a broken secret is exactly what reconnecting repairs
    tokens = provider.exchange_code(app, code, session=session, clock=clock)
    tokens = replace(tokens, generation=previous.generation + 1 if previous else 1)
    secret.write(tokens)
    logger.info(
        f"{provider.partner}: connected; tokens stored in '{secret.name}' (generation {tokens.generation})"
    )
    return tokens


@dataclass(frozen=True)
class ConnectorOAuth:
    """One connector side's OAuth 2.0 authorization-code setup: the partner's `provider`, the Secrets
    Manager name of the app secret (`{"client_id", "client_secret", "redirect_uri"}`, read through the
    credentials cache) and that of the token secret (written here, always read fresh)."""

    provider: OAuthProvider
    app_secret: str
    token_secret: str

    def app(self, max_age: int = 300, *, fresh: bool = False) -> OAuthApp:
        """The app the connector is registered as (cached `max_age` seconds; `fresh`: read again now)."""
        value = partner_credentials(self.app_secret, max_age, fresh=fresh)
        return OAuthApp.from_secret(value, f"secret '{self.app_secret}'")

    def tokens(self, client: Any = None) -> TokenSecret:
        """The connector's token secret (`client`: a Secrets Manager client; None: the default one)."""
        return TokenSecret(self.token_secret, client, reconnect_hint=self.provider.reconnect_hint)

    def connect_url(self, state: str, *, app: OAuthApp | None = None) -> str:
        """Where to send the user to connect the partner for this connector (its consent page)."""
        return self.provider.authorization_url(app or self.app(), state)

    def connect(
        self,
        code: str,
        *,
        app: OAuthApp | None = None,
        secrets_client: Any = None,
        session: requests.Session | None = None,
        clock: Clock = time.time,
    ) -> OAuthTokens:
        """Finish the connection after the partner redirected back with `code`: exchange it and store the
        tokens in the connector's token secret (`complete_connection`)."""
        return complete_connection(
            self.provider,
            app or self.app(),
            code,
            self.tokens(secrets_client),
            session=session,
            clock=clock,
        )

    def token_auth(
        self,
        connector_id: str,
        leases: LeaseHolder,
        *,
        secrets_client: Any = None,
        app: OAuthApp | None = None,
        session: requests.Session | None = None,
        clock: Clock = time.time,
        **options: Any,
    ) -> RotatingRefreshTokenAuth:
        """The authenticator of a connector's calls (tokens from its token secret, refreshed under the
        connector's lease; the app, needed to refresh, from its app secret unless `app` is given).
        `options` go to `RotatingRefreshTokenAuth` (lease wait, poll interval, refresh margin)."""
        return RotatingRefreshTokenAuth(
            connector_id,
            self.provider,
            self.tokens(secrets_client),
            leases,
            (lambda: app) if app is not None else self.app,
            fresh_app=None if app is not None else (lambda: self.app(fresh=True)),
            session=session,
            clock=clock,
            **options,
        )


class OAuthConnection:
    """The `OAUTH_CONNECT` capability of a connector side: its connect link and callback."""

    def __init__(self, oauth: ConnectorOAuth, secrets_client: Any = None):
        self.oauth = oauth
        self.secrets_client = secrets_client
        self.system = oauth.provider.partner
        self.title = oauth.provider.title

    def connect_url(self, state: str) -> str:
        return self.oauth.connect_url(state)

    def complete(self, code: str) -> None:
        self.oauth.connect(code, secrets_client=self.secrets_client)


# -- using and refreshing -------------------------------------------------------------------------------


class RotatingRefreshTokenAuth(BearerTokenAuth):
    """Valid access tokens for one connector, refreshed at most once per rotation across all workers.

    One instance per container (it caches the current tokens); see the module docstring for the
    protocol. Thread-safe within the instance.
    """

    def __init__(
        self,
        connector_id: str,
        provider: OAuthProvider,
        secret: TokenSecret,
        leases: LeaseHolder,
        app: Callable[[], OAuthApp],
        *,
        fresh_app: Callable[[], OAuthApp] | None = None,
        session: requests.Session | None = None,
        clock: Clock = time.time,
        refresh_margin_seconds: float = REFRESH_MARGIN_SECONDS,
        lease_wait_seconds: float = LEASE_WAIT_SECONDS,
        lease_poll_seconds: float = LEASE_POLL_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.connector_id = connector_id
        self.provider = provider
        self._secret = secret
        self._leases = leases
        self._app = app
        self._fresh_app = fresh_app
        self._session = session
        self._clock = clock
        self._margin = refresh_margin_seconds
        self._wait = lease_wait_seconds
        self._poll = lease_poll_seconds
        self._sleep = sleep
        self._tokens: OAuthTokens | None = None
        self._lock = threading.Lock()

    @property
    def lease_name(self) -> str:
        return f"{self.provider.partner}-oauth-refresh"

    def __repr__(self) -> str:
        return f"RotatingRefreshTokenAuth({self.connector_id!r}, secret={self._secret.name!r})"

    @property
    def generation(self) -> int | None:
        """The generation of the tokens in use (None before the first call)."""
        return self._tokens.generation if self._tokens else None

    def access_token(self) -> str:
        """A valid access token: the cached one, a newer one from the secret, or a freshly refreshed one."""
        with self._lock:
            tokens = self._tokens
            if tokens is None or self._stale(tokens):
                tokens = self._adopt(self._read_required())
            if self._stale(tokens):
                tokens = self._refresh(rejected=tokens.access_token)
            return tokens.access_token

    def replace_token(self, rejected: str) -> None:
        """The partner answered 401 to `rejected`: adopt a replacement (another worker's, or one refreshed
        now). Never refreshes twice for the same rejected token across workers."""
        with self._lock:
            self._refresh(rejected=rejected)

    # -- internals -------------------------------------------------------------------------------------

    def _stale(self, tokens: OAuthTokens) -> bool:
        return tokens.expires_within(self._margin, self._clock())

    def _replaces(self, tokens: OAuthTokens, rejected: str) -> bool:
        """`tokens` (just read) were rotated since `rejected` was handed out and are still valid."""
        return tokens.access_token != rejected and tokens.expires_at > self._clock()

    def _adopt(self, tokens: OAuthTokens) -> OAuthTokens:
        self._tokens = tokens
        return tokens

    def _read_required(self) -> OAuthTokens:
        tokens = self._secret.read()
        if tokens is None:
            raise AuthenticationError(
                f"{self.provider.title} is not connected for connector '{self.connector_id}' (no tokens in "
                f"secret '{self._secret.name}'); connect it via its connect URL",
                partner=self.provider.partner,
            )
        return tokens

    def _refresh(self, rejected: str) -> OAuthTokens:
        deadline = time.monotonic() + self._wait
        while True:
            try:
                with self._leases.hold(self.connector_id, self.lease_name, REFRESH_LEASE_SECONDS):
                    return self._refresh_holding_lease(rejected)
            except LeaseHeld:
                logger.info(
                    f"{self.provider.partner}: another worker is refreshing the tokens of "
                    f"'{self.connector_id}'; waiting"
                )
            self._sleep(self._poll)
            current = self._secret.read()
            if current is not None and self._replaces(current, rejected):
                logger.info(
                    f"{self.provider.partner}: using the tokens another worker refreshed "
                    f"(generation {current.generation})"
                )
                return self._adopt(current)
            if time.monotonic() >= deadline:
                raise TransientError(
                    f"{self.provider.title} tokens of connector '{self.connector_id}' are being refreshed by "
                    f"another worker (lease '{self.lease_name}' held for more than {self._wait:g} s); try "
                    "again later",
                    partner=self.provider.partner,
                )

    def _refresh_grant(self, current: OAuthTokens) -> OAuthTokens:
        """The refresh grant with the app's credentials; refused as `invalid_client`, once more with the
        credentials read again (they may have been rotated since they were cached)."""
        app = self._app()
        try:
            return self.provider.refresh(app, current.refresh_token, session=self._session, clock=self._clock)
        except ClientRefused:
            newer = self._fresh_app() if self._fresh_app is not None else app
            if newer == app:
                raise
            logger.info(f"{self.provider.partner}: app credentials changed; refreshing with the new ones")
            return self.provider.refresh(
                newer, current.refresh_token, session=self._session, clock=self._clock
            )

    def _refresh_holding_lease(self, rejected: str) -> OAuthTokens:
        current = self._read_required()
        if self._replaces(current, rejected):
            logger.info(
                f"{self.provider.partner}: tokens already rotated by another worker "
                f"(generation {current.generation})"
            )
            return self._adopt(current)
        try:
            fresh = self._refresh_grant(current)
        except AuthenticationError:
            # A worker whose lease had run out may have rotated the pair under us: use its tokens.
            latest = self._secret.read()
            if (
                latest is not None
                and latest.refresh_token != current.refresh_token
                and self._replaces(latest, rejected)
            ):
                return self._adopt(latest)
            raise
        fresh = replace(fresh, generation=current.generation + 1)
        try:
            self._secret.write(fresh)  # before use: the old refresh token is already dead
        except (ConfigurationError, TransientError) as exc:
            logger.error(
                f"{self.provider.partner}: refreshed the tokens of '{self.connector_id}' but could not store "
                f"them ({exc.reason}); if calls keep failing, {self.provider.reconnect_hint}"
            )
            raise
        logger.info(
            f"{self.provider.partner}: refreshed the access token of '{self.connector_id}' "
            f"(generation {fresh.generation})"
        )
        return self._adopt(fresh)
