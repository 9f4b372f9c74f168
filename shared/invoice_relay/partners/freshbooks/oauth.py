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

from typing import Any

from ...http.oauth import ConnectorOAuth, OAuthProvider, OAuthTokens
from .config import FreshBooksTargetConfig

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


def connector_oauth(config: FreshBooksTargetConfig) -> ConnectorOAuth:
    """A connector's FreshBooks OAuth: the app from its `oauth_app_secret`, the tokens in its `token_secret`
    (`.token_auth(...)` authenticates its calls)."""
    return ConnectorOAuth(provider(config), config.oauth_app_secret, config.token_secret)


def connect_url(config: FreshBooksTargetConfig, state: str) -> str:
    """Where to send the user to connect FreshBooks for this connector (the authorize page)."""
    return connector_oauth(config).connect_url(state)


def connect(config: FreshBooksTargetConfig, code: str, **options: Any) -> OAuthTokens:
    """Finish the connection after FreshBooks redirected back with `code` (`ConnectorOAuth.connect`)."""
    return connector_oauth(config).connect(code, **options)
