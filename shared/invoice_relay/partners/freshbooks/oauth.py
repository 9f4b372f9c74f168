"""Connecting FreshBooks: its OAuth 2.0 endpoints, scopes and app, on the kit's rotating-refresh OAuth.

From FreshBooks' authentication docs and their Python SDK (`freshbooks/client.py`, PyPI `freshbooks-sdk`):
- authorize page `https://auth.freshbooks.com/oauth/authorize` (`client_id`, `response_type=code`,
  `redirect_uri`, `state`, `scope`); token endpoint `POST https://api.freshbooks.com/auth/oauth/token`,
  **form-encoded** (`requests.post(self.token_url, payload)`; the SDK's tests assert the body
  `client_id=…&client_secret=…&grant_type=authorization_code&redirect_uri=…&code=…`), `redirect_uri`
  and `client_secret` on both grants; answer `{access_token, refresh_token, token_type: "Bearer",
  expires_in, scope, created_at}`. Access tokens last 12 hours; refresh tokens are single-use and rotate.
- Scopes (https://www.freshbooks.com/api/scopes; "user:profile:read is added to all new apps by
  default"): the app must be granted `SCOPES` below — clients, invoices and payments read/write, and
  items (`billable_items`) read/write. A call without its scope is answered 403 `insufficient_scope: …
  Provided: [...]. Required: [...]` (https://www.freshbooks.com/api/how-to-find-the-right-scopes-for-your-app):
  an `AuthenticationError`, i.e. the connector fails with that reason and holds its work until the app is
  given the scope and reconnected ("It's not possible to remove scopes from an existing access token" —
  nor to add them: reconnect). Webhook callbacks need the scope of their events (`payment.*`: payments).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import requests

from ...http.auth import Clock
from ...http.oauth import (
    LeaseHolder,
    OAuthApp,
    OAuthProvider,
    OAuthTokens,
    RotatingRefreshTokenAuth,
    TokenSecret,
    complete_connection,
)
from ...secrets import partner_credentials
from .config import FreshBooksTargetConfig

if TYPE_CHECKING:
    from ..context import PartnerContext

PARTNER = "freshbooks"
TITLE = "FreshBooks"
AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/auth/oauth/token"  # noqa: S105 (a URL path, not a password)
ACCESS_TOKEN_LIFETIME_SECONDS = 12 * 3600
SCOPES = (
    "user:profile:read",
    "user:clients:read",
    "user:clients:write",
    "user:invoices:read",
    "user:invoices:write",
    "user:payments:read",
    "user:payments:write",
    "user:billable_items:read",
    "user:billable_items:write",
)


def provider(config: FreshBooksTargetConfig) -> OAuthProvider:
    """FreshBooks' OAuth endpoints for this connector (its configured hosts, so sandboxes work too)."""
    return OAuthProvider(
        partner=PARTNER,
        title=TITLE,
        authorize_url=f"{config.auth_url.rstrip('/')}{AUTHORIZE_PATH}",
        token_url=f"{config.api_url.rstrip('/')}{TOKEN_PATH}",
        scopes=SCOPES,
        request_encoding="form",
        send_redirect_uri_on_refresh=True,
        default_lifetime=ACCESS_TOKEN_LIFETIME_SECONDS,
    )


def app_credentials(config: FreshBooksTargetConfig, max_age: int = 300, *, fresh: bool = False) -> OAuthApp:
    """The FreshBooks app of a connector, from its `oauth_app_secret` (cached `max_age` seconds; `fresh`:
    read again now)."""
    value = partner_credentials(config.oauth_app_secret, max_age, fresh=fresh)
    return OAuthApp.from_secret(value, f"secret '{config.oauth_app_secret}'")


def token_secret(config: FreshBooksTargetConfig, client: Any = None) -> TokenSecret:
    return TokenSecret(config.token_secret, client, reconnect_hint=provider(config).reconnect_hint)


def connect_url(config: FreshBooksTargetConfig, state: str, *, app: OAuthApp | None = None) -> str:
    """Where to send the user to connect FreshBooks for this connector (the authorize page)."""
    return provider(config).authorization_url(app or app_credentials(config), state)


def connect(
    config: FreshBooksTargetConfig,
    code: str,
    *,
    app: OAuthApp | None = None,
    secrets_client: Any = None,
    session: requests.Session | None = None,
    clock: Clock = time.time,
) -> OAuthTokens:
    """Finish the connection after FreshBooks redirected back with `code`: exchange it and store the
    tokens in the connector's token secret."""
    return complete_connection(
        provider(config),
        app or app_credentials(config),
        code,
        token_secret(config, secrets_client),
        session=session,
        clock=clock,
    )


def token_auth(
    connector_id: str,
    config: FreshBooksTargetConfig,
    leases: LeaseHolder,
    *,
    secrets_client: Any = None,
    app: OAuthApp | None = None,
    session: requests.Session | None = None,
    clock: Clock = time.time,
    **options: Any,
) -> RotatingRefreshTokenAuth:
    """The authenticator of a connector's FreshBooks calls (tokens from its `token_secret`; the app,
    needed to refresh, from its `oauth_app_secret` unless `app` is given)."""
    return RotatingRefreshTokenAuth(
        connector_id,
        provider(config),
        token_secret(config, secrets_client),
        leases,
        (lambda: app) if app is not None else (lambda: app_credentials(config)),
        fresh_app=None if app is not None else (lambda: app_credentials(config, fresh=True)),
        session=session,
        clock=clock,
        **options,
    )


class FreshBooksConnection:
    """The `OAUTH_CONNECT` capability of a FreshBooks target: its connect link and callback."""

    system = PARTNER
    title = TITLE

    def __init__(self, config: FreshBooksTargetConfig, context: PartnerContext):
        self.config = config
        self.context = context

    def connect_url(self, state: str) -> str:
        return connect_url(self.config, state)

    def complete(self, code: str) -> None:
        connect(self.config, code, secrets_client=self.context.secrets_client)
