"""Chaos scenario of flow 3: shop orders and payments → FreshBooks, under faults and crashes.

    result = run_orders(orders=300, seed=7, fault_rate=0.2, crash_rate=0.5, critical_rate=0.5)

`make chaos` runs it with the other scenarios (`python -m local.commands.chaos --only orders [--quick]`).

On a fresh `LocalStack(seed_demo=False)` with one shop → FreshBooks connector (`CID`) and the local API:

1. The shop is seeded with `orders` generated orders (`ShopSandbox.seed_orders`: customers of whom some
   share an e-mail, a captured payment for most valid orders, a few invalid orders — unknown SKU, bad
   data — each with the reason its delivery must fail with).
2. FreshBooks answers `fault_rate` of its requests with a fault (5xx, 429, answers lost after it acted)
   and `crash_rate` of the function invocations die at one of their external calls, `critical_rate` of
   those right after a call exactly-once depends on — a FreshBooks create or token grant, a state write,
   a queue send (`ChaosMonkey`): in the intake, in the deliveries and in the OAuth callback.
3. The shop sends every order's `order.created` and every payment's `payment.captured`, a third of the
   payments before their order, over HTTP to the webhook route; some are delivered twice at once (same
   webhook id and signature), some redelivered later re-signed (same id, new timestamp), some sent again
   under a new webhook id. The sender (`WebhookSender`) retries an answer ≥ 500, a 409 and a 429 on a
   compressed Standard Webhooks schedule; an intake crash answers 500 and is retried like any other.
4. Every `DRAIN_EVERY` webhooks the delivery queue is fed to DeliverFunction; now and then FreshBooks
   expires every access token (a refresh follows — and a crash right after it loses the single-use pair);
   when work is held because FreshBooks is not connected any more, the connector is reconnected through
   the OAuth routes, as an operator would after the alarm.
5. Faults and crashes off; the dead-letter queue is redriven (once the idempotency locks that crashed
   deliveries left behind have expired: SQS would have redelivered only after its 720 s visibility
   timeout, the local event source does so at once) and the queue drained until nothing moves.

Then the invariants are checked from the partners' own records and the stack's state (`check_orders`):
exactly one FreshBooks invoice per valid order (by its marker, `po_number` "shop order <number>"), for the
order's client, whose total is the order's total; exactly one FreshBooks payment per captured payment (by
transaction id) with its amount, on its order's invoice; exactly one client per e-mail (case-insensitive)
and none for an e-mail without a valid order; no invoice for an invalid order, whose reason is in the
connector's run log; every webhook finally accepted; no answer ≥ 500 without an injected crash; no queue
message, dead letter, held or waiting work left; no secret in a log line, stored item or object or answer.

Seeded: the orders, the sending plan, the token expiries, the faults and the crashes all come from `seed`
(threads aside, the same seed replays the same run).
"""

from __future__ import annotations

import heapq
import itertools
import random
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import requests
from boto3.dynamodb.conditions import Attr

from invoice_relay.partners.freshbooks.mapping import ROUNDING_ADJUSTMENT, transaction_id_of
from invoice_relay.storage.held import HeldWork
from invoice_relay.storage.runs import RunHistory
from invoice_relay.storage.table import state_table
from local.chaos.monkey import ChaosMonkey
from local.chaos.report import ScenarioResult
from local.chaos.secrets import find_secrets
from local.runtime.api_gateway import LocalApi
from local.sandboxes.shop import SANDBOX_API_KEY, SeededOrders, ShopSandbox
from local.scenarios import fixtures
from local.scenarios.stack import LocalStack

SCENARIO = "orders (flow 3)"
CID = "chaos-shop"
DRAIN_EVERY = 15  # webhooks sent between two feeds of the delivery queue
EARLY_PAYMENT_SHARE = 1 / 3  # payments sent before their order
DUPLICATE_SHARE = 0.1  # webhooks delivered twice at once (same id, same signature)
RESIGNED_SHARE = 0.1  # webhooks redelivered later, re-signed (same id, new timestamp)
NEW_ID_SHARE = 0.1  # webhooks sent again later under a new webhook id (the same event)
TOKEN_EXPIRY_CHANCE = 0.3  # per feed of the queue: FreshBooks expires every access token
# Seconds a sender waits before each retry, the last one repeated until the webhook is accepted (Standard
# Webhooks: 5 s, 5 min, 30 min, 2 h, ... — here compressed); from the third on they outlast the intake's
# claim lease (60 s), which a crash may leave behind (answered 409 until it runs out).
RETRY_DELAYS = (1.0, 5.0, 65.0)
RETRIED_STATUSES = frozenset({409, 429})  # besides every answer ≥ 500
RECONNECT_REASON = re.compile(r"not connected|refused the refresh token|reconnect", re.IGNORECASE)
RECONNECT_TRIES = 5
SETTLE_SECONDS = 600.0  # the settling phase gives up after this long (what is left is reported stuck)
EXAMPLES = 5  # ids named per violation


@dataclass(frozen=True)
class Webhook:
    """One event the shop sends: its type, data and webhook id; `label` names the record."""

    event_type: str
    data: dict[str, Any]
    delivery_id: str
    label: str


@dataclass(frozen=True)
class Planned:
    """A webhook to send at (virtual) time `at`: `first` (or `duplicate`: twice at once), `re-signed`
    (the same webhook id again) or `new id` (the same event under another webhook id)."""

    at: float
    webhook: Webhook
    how: str


def plan_webhooks(shop: ShopSandbox, seeded: SeededOrders, rng: random.Random, *, tag: str) -> list[Planned]:
    """The sending plan: orders in random order, each payment shortly after its order or — for
    `EARLY_PAYMENT_SHARE` of them — before it, with duplicates, re-signed redeliveries and resends."""
    order_ids = list(seeded.all_order_ids)
    rng.shuffle(order_ids)
    paid = sorted(seeded.payment_by_order)
    early = set(rng.sample(paid, round(len(paid) * EARLY_PAYMENT_SHARE)))
    numbers = itertools.count(1)

    def webhook(event_type: str, data: dict[str, Any], label: str) -> Webhook:
        return Webhook(event_type, data, f"msg_{tag}_{next(numbers):05d}", label)

    planned: list[Planned] = []
    for position, order_id in enumerate(order_ids):
        at = position * 10.0
        events = [(at, webhook("order.created", shop.order(order_id), order_id))]
        if order_id in seeded.payment_by_order:
            payment_id = seeded.payment_by_order[order_id]
            offset = rng.uniform(1.0, 250.0)
            when = at - offset if order_id in early else at + offset
            events.append((when, webhook("payment.captured", shop.payment(payment_id), payment_id)))
        for when, hook in events:
            planned.append(Planned(when, hook, "duplicate" if rng.random() < DUPLICATE_SHARE else "first"))
            if rng.random() < RESIGNED_SHARE:
                planned.append(Planned(when + rng.uniform(5.0, 80.0), hook, "re-signed"))
            if rng.random() < NEW_ID_SHARE:
                resent = replace(hook, delivery_id=f"msg_{tag}_{next(numbers):05d}")
                planned.append(Planned(when + rng.uniform(5.0, 80.0), resent, "new id"))
    planned.sort(key=lambda p: p.at)
    return planned


@dataclass
class WebhookSender:
    """The shop's sender: signs every attempt afresh (same webhook id), retries an answer ≥ 500, a 409 or
    a 429 after `RETRY_DELAYS` until the webhook is accepted, and counts the answers. An answer ≥ 500 of an
    invocation in which the monkey crashed the function is `crashed`; any other is a server error."""

    shop: ShopSandbox
    url: str
    monkey: ChaosMonkey
    answers: Counter[int] = field(default_factory=Counter)
    crashed: int = 0
    retried: int = 0
    server_errors: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # answers that are neither 202 nor retried
    swallowed_crashes: list[str] = field(default_factory=list)  # crashed, yet the answer was not ≥ 500
    responses: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._session = requests.Session()
        self._pending: list[tuple[float, int, Webhook, int]] = []
        self._sequence = itertools.count()

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def next_retry(self) -> float | None:
        """When the next retry is due (time.monotonic), or None."""
        return self._pending[0][0] if self._pending else None

    def send(self, webhook: Webhook, *, copies: int = 1, timestamp: int | None = None) -> None:
        headers, body = self.shop.webhook_event(
            webhook.event_type, webhook.data, delivery_id=webhook.delivery_id, timestamp=timestamp
        )
        for _ in range(copies):
            self._post(webhook, headers, body, attempt=0)

    def retry_due(self) -> int:
        """Send the retries that are due; returns how many."""
        sent = 0
        while self._pending and self._pending[0][0] <= time.monotonic():
            _, _, webhook, attempt = heapq.heappop(self._pending)
            headers, body = self.shop.webhook_event(
                webhook.event_type, webhook.data, delivery_id=webhook.delivery_id
            )
            self.retried += 1
            self._post(webhook, headers, body, attempt=attempt)
            sent += 1
        return sent

    def _post(self, webhook: Webhook, headers: dict[str, str], body: bytes, *, attempt: int) -> None:
        crashes = self.monkey.total
        try:
            response = self._session.post(self.url, data=body, headers=headers, timeout=(3.05, 60))
            status, text = response.status_code, response.text
            self.responses.append({"status": status, "headers": dict(response.headers), "body": text})
        except requests.RequestException as exc:
            status, text = 599, f"{type(exc).__name__}: {exc}"
        self.answers[status] += 1
        crashed = self.monkey.total > crashes
        if status >= 500 and crashed:
            self.crashed += 1
        elif status >= 500:
            self.server_errors.append(f"{webhook.event_type} {webhook.label}: {status} {text[:200]}")
        elif crashed:
            self.swallowed_crashes.append(f"{webhook.event_type} {webhook.label}: answered {status}")
        if status >= 500 or status in RETRIED_STATUSES:
            self._retry_later(webhook, attempt + 1)
        elif status != 202:
            self.unexpected.append(f"{webhook.event_type} {webhook.label}: {status} {text[:200]}")

    def _retry_later(self, webhook: Webhook, attempt: int) -> None:
        if any(p[2].delivery_id == webhook.delivery_id for p in self._pending):
            return  # a retry of this delivery is already scheduled (a duplicate's answer)
        due = time.monotonic() + RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1]
        heapq.heappush(self._pending, (due, next(self._sequence), webhook, attempt))


class OrdersRun:
    """One run of the scenario on a started stack (see the module docstring); `run()` returns the result."""

    def __init__(
        self,
        stack: LocalStack,
        api_url: str,
        *,
        orders: int,
        seed: int,
        fault_rate: float,
        crash_rate: float,
        critical_rate: float,
    ):
        self.stack = stack
        self.api_url = api_url
        self.orders = orders
        self.seed = seed
        self.fault_rate = fault_rate
        self.rng = random.Random(seed)
        self.monkey = ChaosMonkey(crash_rate, critical_rate, seed)
        self.shop, self.freshbooks = stack.shop, stack.freshbooks
        assert self.shop is not None and self.freshbooks is not None
        self.sender = WebhookSender(self.shop, f"{api_url}/webhooks/{CID}", self.monkey)
        self.held = HeldWork(state_table(stack.table_name))
        self.oauth_answers: Counter[int] = Counter()
        self.oauth_responses: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()

    def run(self) -> ScenarioResult:
        started, clock = time.time(), time.monotonic()
        seeded = self.shop.seed_orders(self.orders, self.seed)
        plan = plan_webhooks(self.shop, seeded, self.rng, tag=f"chaos{self.seed}")
        faults = self.freshbooks.set_random_faults(self.fault_rate, self.seed)
        with self.monkey.active():
            with self.monkey.enabled():
                self.send(plan)
            sent = time.monotonic()
            self.freshbooks.set_random_faults(None)
            self.settle()
        settled = time.monotonic()
        result = ScenarioResult(SCENARIO, documents=len(seeded.all_order_ids))
        result.faults = sum(faults.injected.values()) if faults else 0
        result.crashes = self.monkey.total
        check_orders(result, self.stack, seeded)
        self.check_settled(result)
        secrets = self.used_secrets()
        found = find_secrets(
            self.stack, secrets, responses=[*self.sender.responses, *self.oauth_responses], since=started
        )
        result.secrets_found = len(found)
        result.check(not found, f"{len(found)} secret(s) found: {_examples(found)}")
        result.details.update(
            {
                "valid orders": len(seeded.order_ids),
                "invalid orders": len(seeded.invalid),
                "payments": len(seeded.payment_by_order),
                "webhooks planned": len(plan),
                "answers": _counter_text(self.sender.answers),
                "intake crashes (500, retried)": self.sender.crashed,
                "retries sent": self.sender.retried,
                "token expiries": self.counts["token expiries"],
                "reconnects": self.counts["reconnects"],
                "reconnect attempts": self.counts["reconnect attempts"],
                "dead letters redriven": self.counts["redriven"],
                "secrets searched": len(secrets),
                "faults": dict(faults.injected) if faults else {},
                "crashes": dict(self.monkey.crashes),
                "seconds sending": round(sent - clock, 1),
                "seconds settling": round(settled - sent, 1),
                "seconds": round(time.monotonic() - clock, 1),
            }
        )
        return result

    # -- phases ----------------------------------------------------------------------------------------------

    def send(self, plan: list[Planned]) -> None:
        """Send the plan (crashes and faults on), feeding the queue every `DRAIN_EVERY` webhooks."""
        for number, planned in enumerate(plan, start=1):
            if planned.how == "re-signed":  # a later attempt: a new timestamp, so a new signature
                self.sender.send(planned.webhook, timestamp=int(time.time()) + 1)
            else:
                self.sender.send(planned.webhook, copies=2 if planned.how == "duplicate" else 1)
            if number % DRAIN_EVERY == 0:
                self.pump()
        self.pump()

    def pump(self) -> None:
        """Due retries, sometimes expired tokens, one feed of the queue, a reconnect if work is held."""
        self.sender.retry_due()
        if self.rng.random() < TOKEN_EXPIRY_CHANCE:
            self.freshbooks.expire_access_tokens()
            self.counts["token expiries"] += 1
        self.stack.drain_delivery_queue()
        self.reconnect_if_held()

    def settle(self) -> None:
        """Faults and crashes are off: retry, redrive and drain until nothing is left — or nothing moves
        any more although no retry is due and no idempotency lock is left to expire."""
        deadline = time.monotonic() + SETTLE_SECONDS
        dead_letters = self.stack.physical["DeliveryDeadLetterQueue"]
        previous, idle = None, 0
        while True:
            self.sender.retry_due()
            locked_until = self.idempotency_locked_until()
            if time.time() >= locked_until:
                self.counts["redriven"] += self.stack.redrive_dead_letters()
            self.stack.drain_delivery_queue()
            self.reconnect_if_held()
            if self.settled() or time.monotonic() >= deadline:
                return
            snapshot = self.snapshot()
            waiting_for_time = self.sender.pending or time.time() < locked_until
            idle = 0 if waiting_for_time or snapshot != previous else idle + 1
            if idle >= 3:
                return
            previous = snapshot
            wake = [time.monotonic() + 5.0]
            if self.sender.next_retry is not None:
                wake.append(self.sender.next_retry)
            if depth(dead_letters):
                wake.append(time.monotonic() + locked_until - time.time() + 0.5)
            time.sleep(min(max(0.2, min(wake) - time.monotonic()), max(0.0, deadline - time.monotonic())))

    def snapshot(self) -> tuple[int, ...]:
        """What moves while work gets done: queue depths, held and waiting work, FreshBooks records."""
        assert self.freshbooks is not None
        return (
            depth(self.stack.delivery_queue_url),
            depth(self.stack.physical["DeliveryDeadLetterQueue"]),
            self.held.count(CID),
            self.held.count_waiting(CID),
            len(self.freshbooks.invoices()),
            len(self.freshbooks.payments()),
        )

    def settled(self) -> bool:
        return (
            not self.sender.pending
            and not depth(self.stack.delivery_queue_url)
            and not depth(self.stack.physical["DeliveryDeadLetterQueue"])
            and not self.held.count(CID)
            and not self.held.count_waiting(CID)
        )

    # -- the operator ----------------------------------------------------------------------------------------

    def reconnect_if_held(self) -> None:
        """Work held because FreshBooks is not connected any more: reconnect (the alarm's runbook)."""
        reasons = {item.reason for item in self.held.items(CID)}
        if not reasons:
            return
        if not any(RECONNECT_REASON.search(reason) for reason in reasons):
            return  # not the connection's: reported if still held at the end
        for _ in range(RECONNECT_TRIES):
            self.counts["reconnect attempts"] += 1
            if self.reconnect():
                self.counts["reconnects"] += 1
                return

    def reconnect(self) -> bool:
        """/oauth/<id>/connect → the consent page ("Allow") → /oauth/<id>/callback; True when connected."""
        connect = self._oauth_get(f"{self.api_url}/oauth/{CID}/connect")
        location = connect.headers.get("Location", "") if connect is not None else ""
        if connect is None or connect.status_code != 302 or "state=" not in location:
            return False
        state = parse_qs(urlsplit(location).query)["state"][0]
        code = self.freshbooks.authorize(self.stack.oauth_redirect_uri(CID))
        callback = self._oauth_get(f"{self.api_url}/oauth/{CID}/callback", {"code": code, "state": state})
        return callback is not None and callback.status_code == 200

    def _oauth_get(self, url: str, params: dict[str, str] | None = None) -> requests.Response | None:
        try:
            response = requests.get(url, params=params, allow_redirects=False, timeout=(3.05, 60))
        except requests.RequestException:
            self.oauth_answers[599] += 1
            return None
        self.oauth_answers[response.status_code] += 1
        self.oauth_responses.append(
            {"status": response.status_code, "headers": dict(response.headers), "body": response.text}
        )
        return response

    # -- state -----------------------------------------------------------------------------------------------

    def idempotency_locked_until(self) -> float:
        """When the last idempotency record a crashed delivery left IN_PROGRESS expires (Unix time; 0 when
        none): until then, a redelivery of that work is refused and would only go back to the DLQ."""
        table = boto3.resource("dynamodb").Table(self.stack.physical["IdempotencyTable"])
        scan: dict[str, Any] = {"FilterExpression": Attr("status").eq("INPROGRESS")}
        latest = 0.0
        while True:
            page = table.scan(**scan)
            for item in page.get("Items", []):
                latest = max(latest, float(item.get("in_progress_expiration", 0)) / 1000)
            if "LastEvaluatedKey" not in page:
                return latest
            scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def check_settled(self, result: ScenarioResult) -> None:
        left = {
            "queued": depth(self.stack.delivery_queue_url),
            "dead letters": depth(self.stack.physical["DeliveryDeadLetterQueue"]),
            "held": self.held.count(CID),
            "waiting": self.held.count_waiting(CID),
            "webhooks never accepted": self.sender.pending,
        }
        result.stuck += sum(left.values())
        for what, count in left.items():
            result.check(count == 0, f"{count} {what} left after settling")
        if left["held"]:
            reasons = sorted({item.reason for item in self.held.items(CID)})
            result.violate(f"held for: {_examples(reasons)}")
        result.server_errors += len(self.sender.server_errors)
        result.check(
            not self.sender.server_errors,
            f"{len(self.sender.server_errors)} answer(s) ≥ 500 without an injected crash: "
            f"{_examples(self.sender.server_errors)}",
        )
        result.check(
            not self.sender.unexpected,
            f"{len(self.sender.unexpected)} webhook answer(s) neither 202 nor retried: "
            f"{_examples(self.sender.unexpected)}",
        )
        result.check(
            not self.sender.swallowed_crashes,
            f"{len(self.sender.swallowed_crashes)} crash(es) in the intake did not fail the invocation: "
            f"{_examples(self.sender.swallowed_crashes)}",
        )

    def used_secrets(self) -> list[str]:
        """Every secret this run used: the shop API key, the webhook secret, the FreshBooks app's client
        secret, the callback verifier and every token FreshBooks issued."""
        assert self.freshbooks is not None
        app = self.freshbooks.app_credentials(self.stack.oauth_redirect_uri(CID))
        return [
            SANDBOX_API_KEY,
            fixtures.WEBHOOK_SECRET,
            app["client_secret"],
            fixtures.FRESHBOOKS_VERIFIER,
            *self.freshbooks.issued_tokens(),
        ]


def check_orders(result: ScenarioResult, stack: LocalStack, seeded: SeededOrders) -> None:
    """The invariants of flow 3, from FreshBooks' records, the shop's and the connector's run log (see the
    module docstring); fills `duplicates`, `lost` and `violations` of `result`."""
    assert stack.shop is not None and stack.freshbooks is not None
    shop, freshbooks = stack.shop, stack.freshbooks
    orders = {order_id: shop.order(order_id) for order_id in seeded.all_order_ids}
    invoices: dict[str, list[dict[str, Any]]] = {}
    for invoice in freshbooks.invoices():
        invoices.setdefault(str(invoice.get("po_number") or ""), []).append(invoice)
    clients_by_id = {client["id"]: client for client in freshbooks.clients()}

    # invoices: one per valid order, for its client, with its total
    missing, extra, wrong_total, wrong_client = [], [], [], []
    invoices_of: dict[str, list[dict[str, Any]]] = {}
    for order_id in seeded.order_ids:
        order = orders[order_id]
        found = invoices_of[order_id] = invoices.pop(_marker(order), [])
        if not found:
            missing.append(order_id)
            continue
        extra += [order_id] * (len(found) - 1)
        invoice = found[0]
        if Decimal(invoice["amount"]["amount"]) != Decimal(order["total"]):
            wrong_total.append(f"{order_id} ({invoice['amount']['amount']} ≠ {order['total']})")
        client = clients_by_id.get(invoice["customerid"], {})
        if str(client.get("email", "")).casefold() != order["customer"]["email"].casefold():
            wrong_client.append(f"{order_id} (billed to {client.get('email')})")
    for order_id in seeded.invalid:
        extra += [order_id] * len(invoices.pop(_marker(orders[order_id]), []))
    strays = [f"{marker or 'no marker'} ×{len(found)}" for marker, found in invoices.items()]
    result.lost += len(missing)
    result.duplicates += len(extra) + sum(len(found) for found in invoices.values())
    result.check(not missing, f"{len(missing)} valid order(s) without an invoice: {_examples(missing)}")
    result.check(not extra, f"{len(extra)} invoice(s) too many (or for an invalid order): {_examples(extra)}")
    result.check(not strays, f"invoices of no order: {_examples(strays)}")
    result.check(not wrong_total, f"{len(wrong_total)} invoice total(s) differ: {_examples(wrong_total)}")
    result.check(
        not wrong_client, f"{len(wrong_client)} invoice(s) for another client: {_examples(wrong_client)}"
    )

    # payments: one per captured payment, by transaction id, with its amount, on its order's invoice
    recorded: dict[str, list[dict[str, Any]]] = {}
    for payment in freshbooks.payments():
        recorded.setdefault(transaction_id_of(payment) or "", []).append(payment)
    missing, extra, wrong = [], [], []
    for order_id, payment_id in seeded.payment_by_order.items():
        payment = shop.payment(payment_id)
        found = recorded.pop(payment["transactionId"], [])
        if not found:
            missing.append(payment_id)
            continue
        extra += [payment_id] * (len(found) - 1)
        amount, on = Decimal(found[0]["amount"]["amount"]), found[0]["invoiceid"]
        if amount != Decimal(payment["amount"]) or on not in {i["id"] for i in invoices_of[order_id]}:
            wrong.append(f"{payment_id} ({amount} on invoice {on})")
    strays = [f"{txn or 'no transaction id'} ×{len(found)}" for txn, found in recorded.items()]
    result.lost += len(missing)
    result.duplicates += len(extra) + sum(len(found) for found in recorded.values())
    result.check(not missing, f"{len(missing)} captured payment(s) not recorded: {_examples(missing)}")
    result.check(not extra, f"{len(extra)} payment(s) recorded more than once: {_examples(extra)}")
    result.check(not strays, f"payments of no captured payment: {_examples(strays)}")
    result.check(not wrong, f"{len(wrong)} payment(s) with a wrong amount or invoice: {_examples(wrong)}")

    # clients: one per e-mail of a valid order, none for any other
    per_email = Counter(str(client["email"]).casefold() for client in clients_by_id.values())
    wanted = {orders[order_id]["customer"]["email"].casefold() for order_id in seeded.order_ids}
    missing = sorted(wanted - set(per_email))
    extra = sorted(f"{email} ×{n}" for email, n in per_email.items() if n > 1)
    unwanted = sorted(set(per_email) - wanted)
    result.lost += len(missing)
    result.duplicates += sum(n - 1 for n in per_email.values()) + len(unwanted)
    result.check(not missing, f"{len(missing)} e-mail(s) without a client: {_examples(missing)}")
    result.check(not extra, f"{len(extra)} e-mail(s) with several clients: {_examples(extra)}")
    result.check(not unwanted, f"{len(unwanted)} client(s) of no valid order: {_examples(unwanted)}")

    # invalid orders: their reason in the connector's run log
    history = RunHistory(state_table(stack.table_name))
    unexplained = [
        order_id
        for order_id, reason in seeded.invalid.items()
        if not any(reason in event.message for event in history.document_events(CID, order_id))
    ]
    result.lost += len(unexplained)
    result.check(
        not unexplained,
        f"{len(unexplained)} invalid order(s) without their reason in the run log: {_examples(unexplained)}",
    )
    adjusted = sum(
        1
        for found in invoices_of.values()
        for invoice in found[:1]
        if any(line.get("name") == ROUNDING_ADJUSTMENT for line in invoice.get("lines", []))
    )
    result.details["rounding adjustments"] = adjusted


def depth(queue_url: str) -> int:
    """Messages on a queue: visible, in flight and delayed."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    names.append("ApproximateNumberOfMessagesDelayed")
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)
    return sum(int(attributes["Attributes"].get(name, 0)) for name in names)


def run_orders(
    *, orders: int, seed: int, fault_rate: float, crash_rate: float, critical_rate: float
) -> ScenarioResult:
    """Run the scenario on a fresh local stack (see the module docstring) and return its result."""
    with LocalStack(seed_demo=False) as stack:
        stack.add_shop_connector(CID)
        api = LocalApi(stack, log_requests=False).start(port=0)
        try:
            assert stack.shop is not None
            stack.shop.subscribe(f"{api.url}/webhooks/{CID}")
            return OrdersRun(
                stack,
                api.url,
                orders=orders,
                seed=seed,
                fault_rate=fault_rate,
                crash_rate=crash_rate,
                critical_rate=critical_rate,
            ).run()
        finally:
            api.stop()


def _marker(order: dict[str, Any]) -> str:
    """The idempotency marker the FreshBooks invoice of a shop order carries (its `po_number`)."""
    return f"shop order {order['number']}"


def _examples(values: Iterable[str]) -> str:
    values = list(values)
    shown = ", ".join(values[:EXAMPLES])
    return shown + (f", … ({len(values) - EXAMPLES} more)" if len(values) > EXAMPLES else "")


def _counter_text(counter: Counter[int]) -> str:
    return " ".join(f"{n}×{status}" for status, n in sorted(counter.items()))
