"""HTTP sessions for partner APIs: the one place timeouts and retries are decided.

Every partner client (`http.client.PartnerClient`) sends through a `partner_session()`, so all partners
retry and time out the same way.

Retry policy (urllib3 `Retry`, applied inside the connection pool, invisible to callers):
- idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) are retried on 429, 500, 502, 503, 504,
  on connection errors and on read errors (timeouts, dropped connections);
- non-idempotent methods (POST, PATCH) are retried only when the partner certainly did not act on the
  request: 429 (rate limit: refused before processing) and connection errors (never sent). A 5xx or a
  read timeout after a POST may mean the invoice was created — a 503 too: a proxy or gateway answers 503
  when the service behind it timed out after acting (`make chaos` found FreshBooks invoices created twice
  this way) — so it is not repeated here; the caller decides (idempotency keys, look-up before create);
- waits: the partner's `Retry-After` when it sends one, else exponential backoff with jitter:
  backoff_factor × 2^(n-1) + random(0, backoff_jitter) before retry n, capped at backoff_max (urllib3
  alone would repeat the first retry at once, without jitter). A `Retry-After` longer than backoff_max
  is not waited for: the 429/503 is returned at once and becomes a `TransientError`, so a Lambda never
  sleeps through its own timeout;
- when the retries are used up the last response is returned (not an exception), so the caller maps
  the partner's real status and message.
"""

from __future__ import annotations

import random
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
from urllib3.util.retry import Retry

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})

Timeout = float | tuple[float, float]


class PartnerRetry(Retry):
    """urllib3 `Retry` that never repeats a non-idempotent request the partner may have acted on.

    `allowed_methods` (the idempotent ones) governs read errors and the full status list, as in urllib3;
    POST and PATCH are additionally retried on `NON_IDEMPOTENT_RETRY_STATUSES`, answers that certainly
    mean the request was refused before it ran (a 503 does not: a gateway sends it after a timeout too).
    Connection errors are retried for every method (urllib3 default: the request was never sent).
    """

    NON_IDEMPOTENT_RETRY_STATUSES = frozenset({429})

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
    replay_safe_methods: frozenset[str] = frozenset(),
) -> requests.Session:
    """A `requests.Session` for one partner API with default timeout, retries and backoff.

    `timeout` is (connect, read) seconds and applies to every request unless the call passes its own.
    See the module docstring for the retry policy. `replay_safe_methods` are methods this partner makes
    idempotent (e.g. every POST carries an idempotency key): they are retried like GET. `partner` is kept
    for the callers' readability.
    """
    retry = PartnerRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        allowed_methods=IDEMPOTENT_METHODS | replay_safe_methods,
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
    return session
