"""Connecting a connector to its OAuth 2.0 target (FreshBooks): the connect link and the callback.

The connect route answers with a redirect to the partner's consent page carrying a one-time `state`;
the callback checks that state (single use, 10 minutes) before exchanging the code, and the tokens go
straight to Secrets Manager — they never appear in a response, a log line or DynamoDB.
"""

from __future__ import annotations

from ..connector import FreshBooksTargetConfig
from ..connectors.freshbooks.oauth import complete_connection, connect_url
from ..errors import ConfigurationError, PermanentError
from ..storage.state import OAuthStates
from .services import Services


class InvalidOAuthState(PermanentError):
    """The callback's state is unknown, used already, expired, or for another connector."""


def _freshbooks_target(services: Services, connector_id: str) -> FreshBooksTargetConfig:
    config = services.connectors.get(connector_id)
    if not isinstance(config.target, FreshBooksTargetConfig):
        raise ConfigurationError(
            f"connector '{connector_id}' has no OAuth target (target: {config.target.system})"
        )
    return config.target


def start_connection(services: Services, connector_id: str) -> str:
    """The URL of the partner's consent page for this connector."""
    target = _freshbooks_target(services, connector_id)
    state = OAuthStates(services.table).issue(connector_id)
    return connect_url(target, state)


def finish_connection(services: Services, connector_id: str, *, code: str, state: str) -> None:
    """Exchange the authorization code and store the tokens (Secrets Manager)."""
    target = _freshbooks_target(services, connector_id)
    if not OAuthStates(services.table).redeem(connector_id, state):
        raise InvalidOAuthState("the connect link has expired or was already used; start again from /connect")
    complete_connection(target, code)
