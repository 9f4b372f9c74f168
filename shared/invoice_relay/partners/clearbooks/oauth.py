"""Connecting ClearBooks: its OAuth 2.0 endpoints and scopes, on the kit's rotating-refresh OAuth.

Consent page `{auth_url}/account/action/oauth/` (https://secure.clearbooks.co.uk), token endpoint `POST
{api_url}/oauth/token` (https://api.clearbooks.co.uk/oauth/token, outside `/v1`), form-encoded with the
client id and secret in the body; refresh tokens are single use and rotate with every refresh (see the
package docstring for the sources). Each side asks for the scopes it uses and no more (`SOURCE_SCOPES`,
`TARGET_SCOPES`); a call without its scope is a 403 `insufficient_scope`: an `AuthenticationError` that
only reconnecting after the app was given the scope cures.
"""

from __future__ import annotations

from ...http.oauth import ConnectorOAuth, OAuthProvider
from .config import ClearBooksConfig, ClearBooksSourceConfig

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


def connector_oauth(config: ClearBooksConfig) -> ConnectorOAuth:
    """A connector side's ClearBooks OAuth: the app from its `oauth_app_secret`, the tokens in its
    `token_secret` (`.connect_url(state)`, `.connect(code)`; `.token_auth(...)` authenticates its calls)."""
    return ConnectorOAuth(provider(config), config.oauth_app_secret, config.token_secret)
