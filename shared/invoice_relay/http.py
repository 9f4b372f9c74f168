"""HTTP sessions for partner APIs: the one place timeouts, retries and error mapping are decided.

Every adapter gets its session from `partner_session()` and turns every non-2xx response into a domain
error with `raise_for_partner_status()` and every transport failure with `transport_error()`, so all
partners retry, time out and fail the same way.

Retry policy (urllib3 `Retry`, applied inside the connection pool, invisible to callers):
- idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) are retried on 429, 500, 502, 503, 504,
  on connection errors and on read errors (timeouts, dropped connections);
- non-idempotent methods (POST, PATCH) are retried only when the partner certainly did not act on the
  request: 429 and 503 (refused before processing) and connection errors (never sent). A 500 or a read
  timeout after a POST may mean the invoice was created, so it is not repeated here; the caller decides
  (idempotency keys, look-up before create);
- waits: the partner's `Retry-After` when it sends one, else exponential backoff with jitter:
  backoff_factor × 2^(n-1) + random(0, backoff_jitter) before retry n, capped at backoff_max (urllib3
  alone would repeat the first retry at once, without jitter). A `Retry-After` longer than backoff_max
  is not waited for: the 429/503 is returned at once and becomes a `TransientError`, so a Lambda never
  sleeps through its own timeout;
- when the retries are used up the last response is returned (not an exception), so the caller maps
  the partner's real status and message.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from typing import Any, Self
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader, MaxRetryError, ReadTimeoutError, ResponseError
from urllib3.util.retry import Retry

from .errors import AuthenticationError, ConfigurationError, PermanentError, RelayError, TransientError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})

Timeout = float | tuple[float, float]

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


class PartnerRetry(Retry):
    """urllib3 `Retry` that never repeats a non-idempotent request the partner may have acted on.

    `allowed_methods` (the idempotent ones) governs read errors and the full status list, as in urllib3;
    POST and PATCH are additionally retried on `NON_IDEMPOTENT_RETRY_STATUSES`, answers that mean the
    request was refused before it ran. Connection errors are retried for every method (urllib3 default:
    the request was never sent).
    """

    NON_IDEMPOTENT_RETRY_STATUSES = frozenset({429, 503})

    def get_backoff_time(self) -> float:
        backoff = super().get_backoff_time()
        if backoff == 0 and self.history and self.backoff_factor:
            # urllib3 retries the first failure at once; a partner that just failed deserves a pause too,
            # with jitter so that many functions retrying after one outage do not arrive together.
            backoff = min(self.backoff_max, self.backoff_factor + random.random() * self.backoff_jitter)
        return backoff

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if self._is_method_retryable(method):
            return super().is_retry(method, status_code, has_retry_after)
        return status_code in self.NON_IDEMPOTENT_RETRY_STATUSES

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        # A partner asking us to wait longer than we are prepared to: give up now and hand back its
        # response (raise_on_status=False turns this MaxRetryError into "return the response").
        if response is not None and self.respect_retry_after_header:
            try:
                wait = self.get_retry_after(response)
            except InvalidHeader:
                wait = None
            if wait is not None and wait > self.backoff_max:
                raise MaxRetryError(_pool, url, ResponseError(f"Retry-After {wait:.0f}s exceeds backoff_max"))
        return super().increment(method, url, response, error, _pool, _stacktrace)


class TimeoutHTTPAdapter(HTTPAdapter):
    """An adapter that applies a default timeout to every request that does not set its own."""

    def __init__(self, *args: Any, timeout: Timeout, **kwargs: Any):
        self.timeout = timeout
        super().__init__(*args, **kwargs)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        return super().send(
            request,
            stream=stream,
            timeout=self.timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


def partner_session(
    *,
    partner: str,
    user_agent: str = "invoice-relay/0.1",
    retries: int = 4,
    backoff_factor: float = 0.5,
    backoff_jitter: float = 0.5,
    backoff_max: float = 30,
    timeout: Timeout = (3.05, 30),
) -> requests.Session:
    """A `requests.Session` for one partner API with default timeout, retries and backoff.

    `timeout` is (connect, read) seconds and applies to every request unless the call passes its own.
    See the module docstring for the retry policy. `partner` names the session in logs.
    """
    retry = PartnerRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        allowed_methods=IDEMPOTENT_METHODS,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        backoff_jitter=backoff_jitter,
        backoff_max=backoff_max,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    adapter = TimeoutHTTPAdapter(max_retries=retry, timeout=timeout)
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})
    log.debug("partner session for %s: retries=%s timeout=%s", partner, retries, timeout)
    return session


class PartnerClient:
    """Base of the partner clients: uses the given session, or builds (and then owns) a partner session;
    usable as a context manager, `close()` releases a session it owns."""

    def __init__(self, *, partner: str, session: requests.Session | None = None):
        self._owns_session = session is None
        self.session = session if session is not None else partner_session(partner=partner)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the HTTP session if this client created it."""
        if self._owns_session:
            self.session.close()


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
