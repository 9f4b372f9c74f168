"""Connecting a connector to a partner over OAuth 2.0 (authorization code): the connect link and callback.

The connect route answers with a redirect to the partner's consent page carrying a one-time `state`;
the callback checks that state (single use, 10 minutes) before exchanging the code, and the tokens go
straight to Secrets Manager — they never appear in a response, a log line or DynamoDB. A connector that
was disconnected held its work meanwhile: once connected, that work is released.
"""

from __future__ import annotations

from ..errors import PermanentError
from ..logs import logger
from ..partners.capabilities import OAUTH_CONNECT
from .held import release_held
from .services import Services


class InvalidOAuthState(PermanentError):
    """The callback's state is unknown, used already, expired, or for another connector."""


def start_connection(services: Services, connector_id: str) -> str:
    """The URL of the partner's consent page for this connector."""
    connection = services.open(services.connectors.get(connector_id), OAUTH_CONNECT)
    return connection.connect_url(services.oauth_states.issue(connector_id))


def finish_connection(services: Services, connector_id: str, *, code: str, state: str) -> str:
    """Exchange the authorization code, store the tokens, release held work; returns the partner's title."""
    connection = services.open(services.connectors.get(connector_id), OAUTH_CONNECT)
    if not services.oauth_states.redeem(connector_id, state):
        raise InvalidOAuthState("the connect link has expired or was already used; start again from /connect")
    connection.complete(code)
    released = release_held(services, connector_id)
    logger.info(
        f"connector connected to {connection.title}",
        extra={"connector_id": connector_id, "released_held_work": released},
    )
    return connection.title
