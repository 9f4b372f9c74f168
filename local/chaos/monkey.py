"""Crashes inside the functions, at their external calls: the Lambda dies and is invoked again later.

`ChaosMonkey` wraps every partner HTTP exchange (`requests.Session.send`) and every AWS call (botocore's
`BaseClient._make_api_call`) made *inside a function invocation* (`local.runtime.runner.current_function`:
never the sandboxes' own calls, never the checks). With probability `rate`, an invocation is doomed: it dies
at one external call — before the call is sent, or after its answer arrived (the partner or AWS acted, the
function never knew) — or, with probability `critical_share` of the doomed ones, right after one of the calls
exactly-once depends on (`CRITICAL_*`: a create at a partner, a status write-back, a comment, a conditional
state write, a queue send, a token grant, an import file or bundle stored). Which call is drawn
log-uniformly up to the most calls an invocation of that function has made so far, so crashes land early
and late in runs of any length.

A crash is `Crash`, a BaseException: no `except Exception` in the layer can swallow it, as none could
swallow a Lambda's death. (What it cannot imitate: `finally` blocks still run — a lease is still released
when its own release call is not the one that crashed; see `expire_leases` for the one that is.)
"""

from __future__ import annotations

import math
import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from botocore.client import BaseClient

from local.runtime.runner import current_function, current_invocation


class Crash(BaseException):
    """The function's process died here."""


# (method, path regex) of partner calls whose effect exactly-once depends on.
CRITICAL_HTTP = (
    ("POST", re.compile(r".*/(invoices/invoices|payments/payments|users/clients|items/items)$")),
    ("PUT", re.compile(r".*/api/invoice/\d+$")),
    ("POST", re.compile(r".*/api/comment$")),
    ("POST", re.compile(r".*/(oauth/token|auth/oauth/token|api/oauth2/token)$")),
    ("POST", re.compile(r".*/document-bundles$")),
    ("POST", re.compile(r".*/mark-paid$")),
    # flow 5: a document sent on the trade network, marked exported there, booked in ClearBooks (with its
    # files), a supplier created; the ShipServ and ClearBooks token grants (the latter single-use)
    ("POST", re.compile(r".*/invoicing/documents(/[^/]+/mark-as-exported)?$")),
    ("POST", re.compile(r".*/v1/accounting/purchases/(bills|creditNotes)(/\d+/attachments/.+)?$")),
    ("POST", re.compile(r".*/v1/accounting/suppliers$")),
    ("POST", re.compile(r".*/authentication/oauth2/token$")),
)
_PLANS_KEPT = 256  # plans of recent invocations (a few may run at once)
# AWS operations whose effect exactly-once depends on.
CRITICAL_AWS = frozenset(
    {
        "PutItem",
        "BatchWriteItem",
        "UpdateItem",
        "DeleteItem",
        "SendMessage",
        "PutObject",
        "CompleteMultipartUpload",
        "PutSecretValue",
    }
)


@dataclass
class ChaosMonkey:
    rate: float
    critical_share: float = 0.5
    seed: int = 0
    crashes: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._enabled = False
        self._plans: dict[int, _Plan] = {}  # invocation number → its plan
        self._most_calls: Counter[str] = Counter()  # function → most external calls one invocation made

    @contextmanager
    def active(self) -> Iterator[ChaosMonkey]:
        """Install the hooks for the duration of the block (crashes only while `enabled`)."""
        real_send, real_call = requests.Session.send, BaseClient._make_api_call
        monkey = self

        def send(session: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
            path = _path(request.url)
            critical = any(m == request.method and p.match(path) for m, p in CRITICAL_HTTP)
            return monkey._around("http", critical, lambda: real_send(session, request, **kwargs))

        def call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            critical = operation in CRITICAL_AWS
            return monkey._around("aws", critical, lambda: real_call(client, operation, params))

        requests.Session.send = send  # type: ignore[method-assign]
        BaseClient._make_api_call = call  # type: ignore[method-assign]
        try:
            yield self
        finally:
            requests.Session.send = real_send  # type: ignore[method-assign]
            BaseClient._make_api_call = real_call  # type: ignore[method-assign]

    @contextmanager
    def enabled(self, on: bool = True) -> Iterator[None]:
        previous, self._enabled = self._enabled, on
        try:
            yield
        finally:
            self._enabled = previous

    @property
    def total(self) -> int:
        return sum(self.crashes.values())

    def _plan(self) -> _Plan:
        """This invocation's plan (shared by the threads it started), drawn at its first external call."""
        number, function = current_invocation(), current_function() or ""
        with self._lock:
            plan = self._plans.get(number)
            if plan is None:
                plan = _Plan(number, function)
                if self._rng.random() < self.rate:
                    horizon = max(8, self._most_calls[function])
                    plan.critical = self._rng.random() < self.critical_share
                    plan.at = int(math.exp(self._rng.uniform(0, math.log(horizon))))
                    plan.after = plan.critical or self._rng.random() < 0.5
                self._plans[number] = plan
                if len(self._plans) > _PLANS_KEPT:  # invocations long finished
                    for old in sorted(self._plans)[: len(self._plans) - _PLANS_KEPT]:
                        del self._plans[old]
            plan.calls += 1
            self._most_calls[function] = max(self._most_calls[function], plan.calls)
            return plan

    def _around(self, kind: str, critical: bool, call: Callable[[], Any]) -> Any:
        if not self._enabled or current_function() is None:
            return call()
        plan = self._plan()
        if plan.at is None or (plan.critical and not critical):
            return call()
        plan.seen += 1
        if plan.seen != plan.at:
            return call()
        where = f"{'after' if plan.after else 'before'} {'critical ' if plan.critical else ''}{kind}"
        if not plan.after:
            self._count(where)
            raise Crash(f"crashed {where} call")
        answer = call()
        self._count(where)
        raise Crash(f"crashed {where} call (it answered {type(answer).__name__})")

    def _count(self, where: str) -> None:
        with self._lock:
            self.crashes[where] += 1


@dataclass
class _Plan:
    invocation: int
    function: str
    calls: int = 0  # external calls made so far
    at: int | None = None  # the call (1-based, among those counted) to die at; None: this one lives
    after: bool = False
    critical: bool = False  # count only the critical calls
    seen: int = 0


def _path(url: str | None) -> str:
    return re.sub(r"^https?://[^/]+", "", (url or "").split("?", 1)[0])


def expire_leases(table_name: str, connector_id: str) -> int:
    """Let the leases of a connector run out, as the passing of their 15 minutes would after a crash (a
    dead function cannot release its lease; the next scheduled run finds it expired)."""
    import boto3
    from boto3.dynamodb.conditions import Key

    from invoice_relay.storage import keys

    table = boto3.resource("dynamodb").Table(table_name)
    items = table.query(
        KeyConditionExpression=Key("PK").eq(keys.connector_pk(connector_id)) & Key("SK").begins_with("LEASE#")
    )["Items"]
    for item in items:
        table.update_item(
            Key={"PK": item["PK"], "SK": item["SK"]},
            UpdateExpression="SET lease_until = :past",
            ExpressionAttributeValues={":past": 0},
        )
    return len(items)
