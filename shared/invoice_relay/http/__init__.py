"""The HTTP kit every partner client is built on (one way to send, authenticate, page and fail).

- `session`: timeouts and retries (urllib3 `Retry` honouring `Retry-After`, jitter, no repeated POST
  after a 500);
- `client.PartnerClient`: send → authenticate → renew once on 401 → status → JSON → envelope;
- `auth`: authenticators (API key, session login, OAuth 2.0 client credentials);
- `oauth`: OAuth 2.0 authorization code with single-use rotating refresh tokens under a lease;
- `paging`: page-number and cursor paginators with a page limit and a loop guard;
- `status`: partner answers and transport failures → the error taxonomy of `invoice_relay.errors`.
"""

from .auth import ApiKeyAuth, BearerTokenAuth, ClientCredentialsAuth, PartnerAuth, SessionLoginAuth
from .client import PartnerClient
from .paging import CursorPaginator, Page, PageNumberPaginator
from .session import PartnerRetry, partner_session
from .status import partner_error_message, raise_for_partner_status, transport_error

__all__ = [
    "ApiKeyAuth",
    "BearerTokenAuth",
    "ClientCredentialsAuth",
    "CursorPaginator",
    "Page",
    "PageNumberPaginator",
    "PartnerAuth",
    "PartnerClient",
    "PartnerRetry",
    "SessionLoginAuth",
    "partner_error_message",
    "partner_session",
    "raise_for_partner_status",
    "transport_error",
]
