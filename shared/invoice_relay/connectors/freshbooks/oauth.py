"""FreshBooks OAuth 2.0: the authorization-code flow, token storage and refresh without burning tokens.

- Connect: send the user to `connect_url()` (FreshBooks' authorize page, `response_type=code`); FreshBooks
  redirects back to the app's redirect URI with `code` and `state`; `complete_connection()` exchanges the
  code at `POST {api_url}/auth/oauth/token` (`grant_type=authorization_code`) and stores the tokens in
  the connector's token secret (created if missing).
- Use: `FreshBooksTokenManager.access_token()` returns a valid access token, refreshing it a few minutes
  before it expires (FreshBooks access tokens last 12 hours).
- Refresh tokens are single-use and rotate: every refresh returns a new pair and kills the old refresh
  token. Several Lambdas share one connector, so a refresh happens only under the DynamoDB lease
  `freshbooks-oauth-refresh` of the connector. Inside the lease the secret is read again (never from a
  cache): if another worker already rotated it, its token is used instead of refreshing again;
  otherwise the refresh grant is sent and the new pair is stored (generation + 1) *before* it is used.
  A worker that finds the lease held waits (bounded) and re-reads the secret. So two workers never send
  the same refresh token.
- A refused refresh (`invalid_grant`: the refresh token was revoked, used or the app was disconnected)
  is an `AuthenticationError` telling the operator to reconnect via the connect URL.

Token secret JSON: `{"access_token", "refresh_token", "expires_at" (epoch seconds), "generation" (int,
+1 per rotation), "scope"}`. Tokens are never logged and never put into an error or a repr.

Assumptions (FreshBooks' authentication docs and their Python SDK): token endpoint on the API host,
JSON body `{grant_type, client_id, client_secret, code | refresh_token, redirect_uri}`, answer
`{access_token, refresh_token, token_type, expires_in, scope, created_at}`; errors in OAuth form
`{"error": "invalid_grant", "error_description": ...}` with 400 or 401; authorize page on the auth host
at `/oauth/authorize`. Secrets Manager is assumed to give read-after-write consistency for a secret's
current version within a region (a worker that waited re-reads what the refresher stored).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import boto3
import requests
from botocore.exceptions import BotoCoreError, ClientError

from ...errors import AuthenticationError, ConfigurationError, PermanentError, TransientError
from ...http import partner_session, raise_for_partner_status, transport_error
from ...secrets import partner_credentials
from ...storage.state import LeaseHeld

if TYPE_CHECKING:
    from ...connector import FreshBooksTargetConfig
    from ...storage.state import Leases

log = logging.getLogger(__name__)

PARTNER = "freshbooks"
AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/auth/oauth/token"  # noqa: S105 (a URL path, not a password)
ACCESS_TOKEN_LIFETIME_SECONDS = 12 * 3600
REFRESH_MARGIN_SECONDS = 300  # refresh this long before the access token expires
REFRESH_LEASE = "freshbooks-oauth-refresh"
REFRESH_LEASE_SECONDS = 30
LEASE_WAIT_SECONDS = 10.0  # how long a worker waits for another worker's refresh
LEASE_POLL_SECONDS = 0.2
# Token calls must finish well inside the refresh lease, or a second worker could take the expired
# lease and send the same refresh token: short read timeout, few and short retries.
TOKEN_TIMEOUT = (3.05, 10)
RECONNECT_HINT = "reconnect FreshBooks for this connector via its FreshBooks connect URL"

Clock = Callable[[], float]


@dataclass(frozen=True)
class OAuthApp:
    """The FreshBooks app this integration is registered as (secret `oauth_app_secret`)."""

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
            raise ConfigurationError(
                f"FreshBooks app credentials ({source}) lack {', '.join(missing)}", partner=PARTNER
            )
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
    def from_secret(cls, value: object, secret_name: str) -> OAuthTokens:
        """Parse the token secret; ConfigurationError (naming fields, never values) if it is malformed."""
        if not isinstance(value, Mapping):
            raise ConfigurationError(f"FreshBooks token secret '{secret_name}' is not a JSON object")
        problems = [k for k in ("access_token", "refresh_token") if not isinstance(value.get(k), str)]
        expires_at, generation = value.get("expires_at"), value.get("generation", 0)
        if not isinstance(expires_at, int | float) or isinstance(expires_at, bool):
            problems.append("expires_at")
        if not isinstance(generation, int) or isinstance(generation, bool):
            problems.append("generation")
        if problems:
            raise ConfigurationError(
                f"FreshBooks token secret '{secret_name}' is malformed: {', '.join(problems)}; "
                f"{RECONNECT_HINT}"
            )
        scope = value.get("scope")
        return cls(
            access_token=value["access_token"],
            refresh_token=value["refresh_token"],
            expires_at=int(expires_at),
            generation=generation,
            scope=scope if isinstance(scope, str) else None,
        )


# -- the authorization-code flow ----------------------------------------------------------------------


def authorization_url(
    auth_url: str, client_id: str, redirect_uri: str, state: str, scopes: list[str] | None = None
) -> str:
    """FreshBooks' authorize page for this app (`response_type=code`); `state` comes back on the redirect."""
    params = {"client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri, "state": state}
    if scopes:
        params["scope"] = " ".join(scopes)
    return f"{auth_url.rstrip('/')}{AUTHORIZE_PATH}?{urlencode(params)}"


def exchange_code(
    api_url: str,
    app: OAuthApp | Mapping[str, Any],
    code: str,
    *,
    session: requests.Session | None = None,
    clock: Clock = time.time,
) -> OAuthTokens:
    """Exchange an authorization code for tokens (generation 0: the caller stores them).

    AuthenticationError if FreshBooks refuses the code (expired after 5 minutes, used, or issued for
    another redirect URI).
    """
    app = _app(app)
    grant = {
        "grant_type": "authorization_code",
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "code": code,
        "redirect_uri": app.redirect_uri,
    }
    refused = "FreshBooks refused the authorization code (expired, already used or for another redirect URI)"
    return _token_grant(
        api_url, grant, session, clock, refused=f"{refused}; start again from the connect URL"
    )


def refresh_tokens(
    api_url: str,
    app: OAuthApp | Mapping[str, Any],
    refresh_token: str,
    *,
    session: requests.Session | None = None,
    clock: Clock = time.time,
) -> OAuthTokens:
    """Spend `refresh_token` for a new pair (generation 0: the caller sets it). The old refresh token is
    dead afterwards, whatever happens next: store the new pair before using it."""
    app = _app(app)
    grant = {
        "grant_type": "refresh_token",
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "refresh_token": refresh_token,
        "redirect_uri": app.redirect_uri,
    }
    refused = "FreshBooks refused the refresh token (invalid_grant: revoked, already used or disconnected)"
    return _token_grant(api_url, grant, session, clock, refused=f"{refused}; {RECONNECT_HINT}")


def oauth_session() -> requests.Session:
    """The session for token calls: few, short retries so a refresh stays inside its lease."""
    return partner_session(partner=PARTNER, retries=2, backoff_max=2, timeout=TOKEN_TIMEOUT)


def _token_grant(
    api_url: str, grant: dict[str, str], session: requests.Session | None, clock: Clock, *, refused: str
) -> OAuthTokens:
    session = session or oauth_session()
    url = f"{api_url.rstrip('/')}{TOKEN_PATH}"
    try:
        response = session.post(url, json=grant, timeout=TOKEN_TIMEOUT)
    except requests.RequestException as exc:
        raise transport_error(exc, PARTNER) from exc
    if response.status_code in (400, 401):
        error = _oauth_error(response)
        if error == "invalid_grant":
            raise AuthenticationError(refused, partner=PARTNER, status=response.status_code)
        if error == "invalid_client":
            raise AuthenticationError(
                "FreshBooks refused the app credentials (invalid_client): check client_id and client_secret "
                "in the connector's FreshBooks app secret",
                partner=PARTNER,
                status=response.status_code,
            )
    raise_for_partner_status(response, PARTNER)
    try:
        body = response.json()
    except ValueError:
        raise TransientError("FreshBooks answered the token request without JSON", partner=PARTNER) from None
    return _tokens_from(body, clock())


def _tokens_from(body: object, now: float) -> OAuthTokens:
    if not isinstance(body, Mapping):
        raise PermanentError("FreshBooks answered the token request with no token object", partner=PARTNER)
    access, refresh = body.get("access_token"), body.get("refresh_token")
    if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
        raise PermanentError(
            "FreshBooks answered the token request without access_token and refresh_token", partner=PARTNER
        )
    expires_in = body.get("expires_in")
    if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
        expires_in = ACCESS_TOKEN_LIFETIME_SECONDS
    created_at = body.get("created_at")
    # Count the lifetime from the earlier of FreshBooks' issue time and ours: a server clock ahead of
    # ours must not make us keep a token past its real expiry.
    issued = min(now, float(created_at)) if isinstance(created_at, int | float) and created_at > 0 else now
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


def _app(app: OAuthApp | Mapping[str, Any]) -> OAuthApp:
    return app if isinstance(app, OAuthApp) else OAuthApp.from_secret(app)


# -- token storage ----------------------------------------------------------------------------------------


class TokenSecret:
    """The connector's token secret in Secrets Manager, always read fresh (no cache: tokens rotate)."""

    def __init__(self, name: str, client: Any = None):
        self.name = name
        self._client = client

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
            raise ConfigurationError(f"FreshBooks token secret '{self.name}' has no string value")
        try:
            value = json.loads(text)
        except ValueError:
            raise ConfigurationError(f"FreshBooks token secret '{self.name}' is not valid JSON") from None
        return OAuthTokens.from_secret(value, self.name)

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
        reason = f"cannot {action} FreshBooks token secret '{self.name}' ({code})"
        if code in {
            "AccessDeniedException",
            "DecryptionFailure",
            "InvalidRequestException",
            "KMSAccessDenied",
        }:
            return ConfigurationError(reason, partner=PARTNER)
        return TransientError(reason, partner=PARTNER)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# -- connecting -------------------------------------------------------------------------------------------


def app_credentials(config: FreshBooksTargetConfig, max_age: int = 300) -> OAuthApp:
    """The FreshBooks app of a connector, from its `oauth_app_secret` (cached `max_age` seconds)."""
    value = partner_credentials(config.oauth_app_secret, max_age)
    return OAuthApp.from_secret(value, f"secret '{config.oauth_app_secret}'")


def connect_url(config: FreshBooksTargetConfig, state: str, *, app: OAuthApp | None = None) -> str:
    """Where to send the user to connect FreshBooks for this connector (the authorize page)."""
    app = app or app_credentials(config)
    return authorization_url(config.auth_url, app.client_id, app.redirect_uri, state)


def complete_connection(
    config: FreshBooksTargetConfig,
    code: str,
    *,
    app: OAuthApp | None = None,
    secrets_client: Any = None,
    session: requests.Session | None = None,
    clock: Clock = time.time,
) -> OAuthTokens:
    """Finish the connection after FreshBooks redirected back with `code`: exchange it and store the
    tokens in the connector's token secret (generation = previous + 1, or 1 for a first connection)."""
    app = app or app_credentials(config)
    tokens = exchange_code(config.api_url, app, code, session=session, clock=clock)
    secret = TokenSecret(config.token_secret, secrets_client)
    try:
        previous = secret.read()
    except ConfigurationError:
        previous = None  # a broken secret is exactly what reconnecting repairs
    tokens = replace(tokens, generation=previous.generation + 1 if previous else 1)
    secret.write(tokens)
    log.info("freshbooks: connected; tokens stored in '%s' (generation %s)", secret.name, tokens.generation)
    return tokens


# -- using and refreshing -------------------------------------------------------------------------------


class FreshBooksTokenManager:
    """Valid access tokens for one connector, refreshed at most once per rotation across all workers.

    One instance per container (it caches the current tokens); see the module docstring for the
    protocol. Thread-safe within the instance.
    """

    def __init__(
        self,
        connector_id: str,
        config: FreshBooksTargetConfig,
        leases: Leases,
        secrets_client: Any = None,
        clock: Clock = time.time,
        *,
        app: OAuthApp | Mapping[str, Any] | None = None,
        session: requests.Session | None = None,
        refresh_margin_seconds: float = REFRESH_MARGIN_SECONDS,
        lease_wait_seconds: float = LEASE_WAIT_SECONDS,
        lease_poll_seconds: float = LEASE_POLL_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.connector_id = connector_id
        self.config = config
        self._leases = leases
        self._secret = TokenSecret(config.token_secret, secrets_client)
        self._clock = clock
        self._app = _app(app) if app is not None else None
        self._session = session
        self._margin = refresh_margin_seconds
        self._wait = lease_wait_seconds
        self._poll = lease_poll_seconds
        self._sleep = sleep
        self._tokens: OAuthTokens | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FreshBooksTokenManager({self.connector_id!r}, secret={self._secret.name!r})"

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

    def refresh_after_unauthorized(self, rejected_token: str) -> str:
        """FreshBooks answered 401 to `rejected_token`: return a replacement (another worker's, or one
        refreshed now). Never refreshes twice for the same rejected token across workers."""
        with self._lock:
            return self._refresh(rejected=rejected_token).access_token

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
                f"FreshBooks is not connected for connector '{self.connector_id}' (no tokens in secret "
                f"'{self._secret.name}'); connect it via its FreshBooks connect URL",
                partner=PARTNER,
            )
        return tokens

    def _refresh(self, rejected: str) -> OAuthTokens:
        deadline = time.monotonic() + self._wait
        while True:
            try:
                with self._leases.hold(self.connector_id, REFRESH_LEASE, REFRESH_LEASE_SECONDS):
                    return self._refresh_holding_lease(rejected)
            except LeaseHeld:
                log.info(
                    "freshbooks: another worker is refreshing the tokens of '%s'; waiting", self.connector_id
                )
            self._sleep(self._poll)
            current = self._secret.read()
            if current is not None and self._replaces(current, rejected):
                log.info(
                    "freshbooks: using the tokens another worker refreshed (generation %s)",
                    current.generation,
                )
                return self._adopt(current)
            if time.monotonic() >= deadline:
                raise TransientError(
                    f"FreshBooks tokens of connector '{self.connector_id}' are being refreshed by another "
                    f"worker (lease '{REFRESH_LEASE}' held for more than {self._wait:g} s); try again later",
                    partner=PARTNER,
                )

    def _refresh_holding_lease(self, rejected: str) -> OAuthTokens:
        current = self._read_required()
        if self._replaces(current, rejected):
            log.info(
                "freshbooks: tokens already rotated by another worker (generation %s)", current.generation
            )
            return self._adopt(current)
        app = self._app or app_credentials(self.config)
        try:
            fresh = refresh_tokens(
                self.config.api_url, app, current.refresh_token, session=self._session, clock=self._clock
            )
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
            log.error(
                "freshbooks: refreshed the tokens of '%s' but could not store them (%s); if FreshBooks calls "
                "keep failing, %s",
                self.connector_id,
                exc.reason,
                RECONNECT_HINT,
            )
            raise
        log.info(
            "freshbooks: refreshed the access token of '%s' (generation %s)",
            self.connector_id,
            fresh.generation,
        )
        return self._adopt(fresh)
