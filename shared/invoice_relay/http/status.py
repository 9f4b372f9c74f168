"""Partner answers → domain errors: the one place a status code decides who must act.

401/403 → `AuthenticationError` (the connector's credentials: nobody's document is to blame); 408, 429,
5xx and transport failures → `TransientError`; any other 4xx → `PermanentError` (the request, i.e. the
document, was refused). The reasons name the partner, the status, the method and the path, and the
partner's own message — never our query string, headers or body, so no credential can leak.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import MaxRetryError, ReadTimeoutError

from ..errors import AuthenticationError, ConfigurationError, PermanentError, RelayError, TransientError

# Keys under which partners put human-readable error text (ServiceTrade `messages.error`, OAuth
# `error_description`, FreshBooks `errors[].message`, RFC 7807 `detail`/`title`, ...).
_MESSAGE_KEYS = frozenset({"error", "errors", "message", "messages", "error_description", "detail", "title"})
_MAX_MESSAGE = 300
# Request exceptions that retrying cannot fix: the URL or a header we built is wrong.
_CONFIGURATION_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
)


def raise_for_partner_status(response: requests.Response, partner: str) -> requests.Response:
    """Return `response` if it succeeded; otherwise raise the domain error for its status.

    401/403 → AuthenticationError; 408, 429 and 5xx → TransientError; any other 4xx → PermanentError.
    The reason names the partner, status, method and path (never the query string, headers or body of
    our request, so no credential can leak) and the partner's own error message when it sent one.
    """
    status = response.status_code
    if status < 400:
        return response
    where = f"HTTP {status} on {_request_line(response.request)}"
    message = partner_error_message(response)
    detail = f": {message}" if message else ""
    error: type[RelayError]
    if status in (401, 403):
        error, what = AuthenticationError, "refused our credentials"
    elif status == 429:
        error, what = TransientError, "rate limit reached"
        retry_after = response.headers.get("Retry-After", "").strip()
        where += f", retry after {retry_after} s" if retry_after.isdigit() else ""
    elif status == 408 or status >= 500:
        error, what = TransientError, "is unavailable"
    else:
        error, what = PermanentError, "rejected the request"
    raise error(f"{partner} {what} ({where}){detail}", partner=partner, status=status)


def token_endpoint_status(response: requests.Response, partner: str) -> requests.Response:
    """`raise_for_partner_status` for a token endpoint: a refused token request is never a document's
    problem — 4xx other than 401/403/408/429 means our request (the connector's configuration) is wrong."""
    try:
        return raise_for_partner_status(response, partner)
    except PermanentError as exc:
        raise ConfigurationError(exc.reason, partner=partner, status=exc.status) from None


def transport_error(exc: requests.RequestException, partner: str) -> RelayError:
    """The domain error for a request that got no HTTP response (timeout, connection failure, ...).

    Timeouts and connection/TLS failures are transient; a malformed URL or header is a configuration
    error. Use as `except requests.RequestException as exc: raise transport_error(exc, partner) from exc`.
    """
    where = _request_line(exc.request)
    if isinstance(exc, _CONFIGURATION_ERRORS):
        return ConfigurationError(
            f"{partner}: invalid request {where}: {type(exc).__name__}", partner=partner
        )
    if _is_timeout(exc):
        return TransientError(f"{partner} did not answer in time ({where})", partner=partner)
    return TransientError(f"{partner} could not be reached ({where}): {type(exc).__name__}", partner=partner)


def partner_error_message(response: requests.Response) -> str | None:
    """The partner's human-readable error text from a response body, shortened; None if there is none."""
    try:
        body = response.json()
    except ValueError:
        content_type = response.headers.get("Content-Type", "")
        text = response.text.strip() if content_type.startswith("text/plain") else ""
        return text[:_MAX_MESSAGE] or None
    messages = list(dict.fromkeys(_messages(body)))
    joined = "; ".join(messages)
    if len(joined) > _MAX_MESSAGE:
        joined = joined[: _MAX_MESSAGE - 1] + "…"
    return joined or None


def _messages(node: object, under_message_key: bool = False) -> Iterator[str]:
    """String leaves found under a message-like key, in document order."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _messages(value, under_message_key=str(key).lower() in _MESSAGE_KEYS)
    elif isinstance(node, list):
        for item in node:
            yield from _messages(item, under_message_key)
    elif isinstance(node, str) and under_message_key and node.strip():
        yield node.strip()


def _request_line(request: requests.PreparedRequest | requests.Request | None) -> str:
    if request is None or not getattr(request, "url", None):
        return "request"
    path = urlsplit(request.url).path or "/"
    return f"{request.method} {path}"


def _is_timeout(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.Timeout):
        return True
    # An idempotent request whose retries all timed out surfaces as ConnectionError(MaxRetryError(...)).
    reason = exc.args[0] if exc.args else None
    return isinstance(reason, MaxRetryError) and isinstance(reason.reason, ReadTimeoutError)
