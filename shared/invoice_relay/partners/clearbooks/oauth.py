"""Connecting ClearBooks: its OAuth 2.0 endpoints and scopes, on the kit's rotating-refresh OAuth.

Consent page `{auth_url}/account/action/oauth/` (https://secure.clearbooks.co.uk), token endpoint `POST
{api_url}/oauth/token` (https://api.clearbooks.co.uk/oauth/token, outside `/v1`), form-encoded with the
client id and secret in the body; refresh tokens are single use and rotate with every refresh (see the
package docstring for the sources). Each side asks for the scopes it uses and no more (`SOURCE_SCOPES`,
`TARGET_SCOPES`); a call without its scope is a 403 `insufficient_scope`: an `AuthenticationError` that
only reconnecting after the app was given the scope cures.
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
from .config import ClearBooksConfig, ClearBooksSourceConfig

if TYPE_CHECKING:
    from ..context import PartnerContext

PARTNER = "clearbooks"
TITLE = "ClearBooks"
AUTHORIZE_PATH = "/account/action/oauth/"
TOKEN_PATH = "/oauth/token"  # noqa: S105 (a URL path, not a password)
ACCESS_TOKEN_LIFETIME_SECONDS = 3600
# Upload: read sales documents (their PDFs too), the customers they are for and the VAT rates of lines.
SOURCE_SCOPES = ("accounting.sales:read", "accounting.customers:read", "accounting.vat:read")
# Download: find or create bills and purchase credit notes (attachments included) and suppliers; VAT rates.
TARGET_SCOPES = (
    "accounting.purchases:read",
    "accounting.purchases:write",
    "accounting.suppliers:read",
    "accounting.suppliers:write",
    "accounting.vat:read",
)


def scopes_for(config: ClearBooksConfig) -> tuple[str, ...]:
    """The scopes a connector side needs: the source's or the target's."""
    return SOURCE_SCOPES if isinstance(config, ClearBooksSourceConfig) else TARGET_SCOPES


def provider(config: ClearBooksConfig) -> OAuthProvider:
    """ClearBooks' OAuth endpoints for this connector side (its configured hosts, so sandboxes work too)."""
    return OAuthProvider(
        partner=PARTNER,
        title=TITLE,
        authorize_url=f"{config.auth_url.rstrip('/')}{AUTHORIZE_PATH}",
        token_url=f"{config.api_url.rstrip('/')}{TOKEN_PATH}",
        scopes=scopes_for(config),
        request_encoding="form",
        default_lifetime=ACCESS_TOKEN_LIFETIME_SECONDS,
    )


def app_credentials(config: ClearBooksConfig, max_age: int = 300, *, fresh: bool = False) -> OAuthApp:
    """The ClearBooks app of a connector, from its `oauth_app_secret` (cached `max_age` seconds; `fresh`:
    read again now)."""
    value = partner_credentials(config.oauth_app_secret, max_age, fresh=fresh)
    return OAuthApp.from_secret(value, f"secret '{config.oauth_app_secret}'")


def token_secret(config: ClearBooksConfig, client: Any = None) -> TokenSecret:
    return TokenSecret(config.token_secret, client, reconnect_hint=provider(config).reconnect_hint)


def connect_url(config: ClearBooksConfig, state: str, *, app: OAuthApp | None = None) -> str:
    """Where to send the user to connect ClearBooks for this connector side (the consent page)."""
    return provider(config).authorization_url(app or app_credentials(config), state)


def connect(
    config: ClearBooksConfig,
    code: str,
    *,
    app: OAuthApp | None = None,
    secrets_client: Any = None,
    session: requests.Session | None = None,
    clock: Clock = time.time,
) -> OAuthTokens:
    """Finish the connection after ClearBooks redirected back with `code`: exchange it and store the
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
    config: ClearBooksConfig,
    leases: LeaseHolder,
    *,
    secrets_client: Any = None,
    app: OAuthApp | None = None,
    session: requests.Session | None = None,
    clock: Clock = time.time,
    **options: Any,
) -> RotatingRefreshTokenAuth:
    """The authenticator of a connector's ClearBooks calls (tokens from its `token_secret`, refreshed under
    the connector's lease; the app, needed to refresh, from its `oauth_app_secret` unless `app` is given).
    `options` go to `RotatingRefreshTokenAuth` (lease wait, poll interval, refresh margin)."""
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


class ClearBooksConnection:
    """The `OAUTH_CONNECT` capability of a ClearBooks connector side: its connect link and callback."""

    system = PARTNER
    title = TITLE

    def __init__(self, config: ClearBooksConfig, context: PartnerContext):
        self.config = config
        self.context = context

    def connect_url(self, state: str) -> str:
        return connect_url(self.config, state)

    def complete(self, code: str) -> None:
        connect(self.config, code, secrets_client=self.context.secrets_client)
