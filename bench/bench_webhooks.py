"""Webhook benchmark (issue 9, flow 3): the intake's AWS calls against the three it cannot avoid, the AWS and
FreshBooks calls of each order through delivery, and what a million orders cost.

Method. On the local stack (`LocalStack(seed_demo=False)`: the embedded AWS, moto in server mode, with the
table, bucket and queues of `template.yaml`; the sandbox shop and FreshBooks on loopback; one shop →
FreshBooks connector registered and connected through the sandbox's consent page, as the demo does):

1. the shop is seeded with `--orders` generated orders (`ShopSandbox.seed_orders`: one customer per three
   orders, some sharing an e-mail, 1-4 lines over the 10-product catalogue, a captured payment for most
   valid orders, one order in 25 invalid — unknown SKU, bad data — which must fail);
2. intake: the shop POSTs every order's signed `order.created`, then every payment's `payment.captured`,
   over HTTP to the local API (`POST /webhooks/{connector_id}` → WebhookFunction, in this process); every
   answer must be 202 `accepted`;
3. delivery: the delivery queue is fed to DeliverFunction in batches of 10, as the SQS event source does
   (`LocalStack.drain_delivery_queue`), until it is empty;
4. the counts: AWS calls (`aws_usage.AwsUsage`: every botocore request of this process; calls made inside a
   function invocation are told apart from the event source's own ReceiveMessage/DeleteMessage, which
   Lambda's poller makes and SQS bills), DynamoDB write and read units (computed by `aws_usage` from the
   items written, indexes included), FreshBooks requests by endpoint (the sandbox's own request log),
   Lambda invocations and their wall-clock durations (timed around each invocation: moto's loopback HTTP
   stands in for AWS's latency), and the bytes of structured log lines the functions wrote;
5. cost (`cost_model.estimate`, list prices in `bench/prices.json`): everything counted in 2 and 3 plus
   API Gateway requests and CloudWatch Logs ingestion, divided by the orders sent.

The intake's unavoidable calls are taken as three per request (issue 9's yardstick): the raw body to S3,
the conditional de-duplication write, the queue send. The intake now makes one: the send. The raw body
travels with its work and DeliverFunction archives the bodies of a batch in one S3 object (`s3.PutObject`
under the delivery's calls), and the de-duplication is the delivery's idempotency key (record and
version), which a ledger of delivery ids only duplicated. Both phases start on a
cold container (the local runner starts every function with fresh per-container caches), so the first
request and the first batch pay for reading the connector's configuration, its secrets and the FreshBooks
catalog, amortised over the run as on Lambda.

    python bench/bench_webhooks.py              # 200 orders
    python bench/bench_webhooks.py --quick      # 40 orders, a smoke run
    python bench/bench_webhooks.py --orders 1000

Exit status 1 when a goal is missed: intake > 1.5x its unavoidable calls; more than one FreshBooks client
search per order; an item search per line once the SKU map is warm (more item searches in all than distinct
known SKUs ordered); a secret read more than once per container and cache period (300 s); flow 3 above $10 per
million orders.
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT / "shared") not in sys.path:  # run as a script (make bench): the layer and local/
    sys.path[:0] = [str(REPO_ROOT / "shared"), str(REPO_ROOT)]
if str(REPO_ROOT / "bench") not in sys.path:  # the instruments, imported as `aws_usage` and `cost_model`
    sys.path.append(str(REPO_ROOT / "bench"))

DEFAULT_ORDERS = 200
QUICK_ORDERS = 40
SEED = 9
CID = "bench-shop"
UNAVOIDABLE_INTAKE_CALLS = 3  # raw body → S3, conditional de-duplication write, queue send
MAX_INTAKE_RATIO = 1.5
MAX_CLIENT_SEARCHES_PER_ORDER = 1.0
# One read per secret and container per cache period: the webhook secret (intake), the token secret
# (deliveries); the app secret only when tokens are refreshed (not in this run).
SECRETS_READ = 2
SECRET_CACHE_SECONDS = 300  # settings.secret_cache_seconds' default
MAX_USD_PER_MILLION_ORDERS = 10.0

# FreshBooks requests by what they are (method, path regex, a query parameter they carry or None).
ENDPOINTS: tuple[tuple[str, str, str, str | None], ...] = (
    ("client searches", "GET", r".*/users/clients", "search[email]"),
    ("client creates", "POST", r".*/users/clients", None),
    ("item searches", "GET", r".*/items/items", "search[sku]"),  # "item searches, unknown SKU": see below
    ("item creates", "POST", r".*/items/items", None),
    ("invoice look-ups (marker)", "GET", r".*/invoices/invoices", None),
    ("invoice creates", "POST", r".*/invoices/invoices", None),
    ("payment look-ups", "GET", r".*/payments/payments", None),
    ("payment creates", "POST", r".*/payments/payments", None),
    ("token grants", "POST", r".*/oauth/token", None),
)


@dataclass
class Invocations:
    """Lambda invocations of the run, timed: function → durations in seconds."""

    durations: dict[str, list[float]] = field(default_factory=dict)

    def wrap(self, invoke: Callable[..., Any]) -> Callable[..., Any]:
        def timed(logical_id: str, event: dict[str, Any], **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return invoke(logical_id, event, **kwargs)
            finally:
                self.durations.setdefault(logical_id, []).append(time.perf_counter() - started)

        return timed

    def count(self, function: str | None = None) -> int:
        return sum(len(d) for f, d in self.durations.items() if function in (None, f))


@dataclass
class Figures:
    orders: int
    payments: int
    valid_orders: int
    invoices_created: int
    distinct_skus: int
    lines: int
    webhook_requests: int
    intake_calls: Counter[tuple[str, str]]
    delivery_calls: Counter[tuple[str, str]]
    poller_calls: Counter[tuple[str, str]]
    intake_write_units: Counter[str]
    delivery_write_units: Counter[str]
    delivery_read_units: float
    partner: Counter[str]
    invocations: Invocations
    log_bytes: int
    cost: Any
    seconds: float

    @property
    def intake_calls_per_request(self) -> float:
        return sum(self.intake_calls.values()) / self.webhook_requests

    @property
    def intake_ratio(self) -> float:
        return self.intake_calls_per_request / UNAVOIDABLE_INTAKE_CALLS

    def per_order(self, value: float) -> float:
        return value / self.orders

    @property
    def secrets_calls(self) -> int:
        return sum(
            n
            for (service, _op), n in (self.intake_calls + self.delivery_calls).items()
            if service == "secretsmanager"
        )


def run_benchmark(orders: int = DEFAULT_ORDERS, *, out: Callable[[str], None] = print) -> Figures:
    """Seed, send, deliver, count (see the module docstring); prints the table and returns the figures."""
    from local.runtime import runner
    from local.scenarios.stack import LocalStack

    started = time.perf_counter()
    # The functions' log files go to a directory of this run's own: `.local/logs` is shared with whatever
    # else runs on this machine, whose logs must not count.
    log_dir = Path(tempfile.mkdtemp(prefix="bench-webhooks-logs-"))
    runner.LOG_DIR, shared_log_dir = log_dir, runner.LOG_DIR
    try:
        with LocalStack(seed_demo=False) as stack:
            figures = _measure(stack, orders, log_dir, started)
    finally:
        runner.LOG_DIR = shared_log_dir
        shutil.rmtree(log_dir, ignore_errors=True)
    out(format_table(figures))
    return figures


def _measure(stack: Any, orders: int, log_dir: Path, started: float) -> Figures:
    from aws_usage import AwsUsage
    from cost_model import LogBytes, estimate, function_memory_mb, gb_seconds

    from local.runtime.api_gateway import LocalApi
    from local.runtime.runner import current_function

    stack.add_shop_connector(CID)
    api = LocalApi(stack, log_requests=False).start(port=0)
    try:
        shop, freshbooks = stack.shop, stack.freshbooks
        shop.subscribe(f"{api.url}/webhooks/{CID}")
        seeded = shop.seed_orders(orders, SEED)
        order_ids = list(seeded.all_order_ids)
        payment_ids = list(seeded.payment_by_order.values())
        freshbooks.clear_requests()
        invocations = Invocations()
        stack.invoke = invocations.wrap(stack.invoke)

        everything = AwsUsage()
        inside = AwsUsage(where=lambda: current_function() is not None)
        with everything, inside, LogBytes(log_dir) as logs:
            statuses: Counter[str] = Counter()
            for order_id in order_ids:
                statuses.update(_status(r) for r in shop.emit("order.created", shop.order(order_id)))
            for payment_id in payment_ids:
                statuses.update(_status(r) for r in shop.emit("payment.captured", shop.payment(payment_id)))
            intake_inside, intake_all = inside.snapshot(), everything.snapshot()
            stack.drain_delivery_queue(wait_for_delayed=2)
            total_inside, total_all = inside.snapshot(), everything.snapshot()
        if set(statuses) != {"202 accepted"}:
            raise RuntimeError(f"the intake did not accept every webhook: {dict(statuses)}")
        partner = _partner_calls(freshbooks.requests, {item["sku"] for item in freshbooks.items()})
        invoices = [i for i in freshbooks.invoices() if (i.get("po_number") or "").startswith("shop order")]
        placed = [shop.order(o) for o in order_ids]
        catalog = {item["sku"] for item in freshbooks.items()}
    finally:
        api.stop()

    delivery_inside = total_inside - intake_inside
    delivery_all = total_all - intake_all
    requests_sent = len(order_ids) + len(payment_ids)
    cost = estimate(
        total_all,
        documents=len(order_ids),
        lambda_invocations={f: len(d) for f, d in invocations.durations.items()},
        lambda_gb_seconds=gb_seconds(invocations.durations, function_memory_mb(REPO_ROOT / "template.yaml")),
        log_bytes=logs.bytes,
        api_gateway_requests=requests_sent,  # each body is far below the 512 KB an HTTP API bills as one
        api_gateway_type="http",  # the template's WebhookHttpApi
    )
    return Figures(
        orders=len(order_ids),
        payments=len(payment_ids),
        valid_orders=len(seeded.order_ids),
        invoices_created=len(invoices),
        distinct_skus=len(
            {line["sku"] for order in placed for line in order["lineItems"] if line.get("sku") in catalog}
        ),
        lines=sum(len(order["lineItems"]) for order in placed),
        webhook_requests=requests_sent,
        intake_calls=intake_inside.calls,
        delivery_calls=delivery_inside.calls,
        poller_calls=delivery_all.calls - delivery_inside.calls,
        intake_write_units=intake_inside.write_units_by_table_index,
        delivery_write_units=delivery_inside.write_units_by_table_index,
        delivery_read_units=delivery_inside.read_units,
        partner=partner,
        invocations=invocations,
        log_bytes=logs.bytes,
        cost=cost,
        seconds=time.perf_counter() - started,
    )


def _status(response: Any) -> str:
    try:
        status = response.json().get("status")
    except ValueError:
        status = None
    return f"{response.status_code} {status}"


def _partner_calls(requests: Sequence[dict[str, Any]], catalog: set[str]) -> Counter[str]:
    """FreshBooks requests by endpoint. A search for a SKU FreshBooks has no item for (an invalid order's)
    is counted apart: only found items are remembered, so such an order searches it every time."""
    counts: Counter[str] = Counter()
    for request in requests:
        if request.get("query", {}).get("search[sku]") not in (None, *catalog):
            counts["item searches, unknown SKU"] += 1
            continue
        name = next(
            (
                name
                for name, method, path, parameter in ENDPOINTS
                if request["method"] == method
                and re.fullmatch(path, request["path"])
                and (parameter is None or parameter in request.get("query", {}))
            ),
            f"other {request['method']} {re.sub(r'/\d+', '/{id}', request['path'])}",
        )
        counts[name] += 1
    return counts


def goals(f: Figures) -> list[tuple[str, str, bool]]:
    """(goal, measured, met) for every goal of issue 9's flow 3."""
    client_searches = f.per_order(f.partner["client searches"])
    item_searches = f.partner["item searches"]
    secrets_allowed = SECRETS_READ * math.ceil(f.seconds / SECRET_CACHE_SECONDS)
    usd = f.cost.per_million().total
    return [
        (
            f"intake <= {MAX_INTAKE_RATIO}x its {UNAVOIDABLE_INTAKE_CALLS} unavoidable calls",
            f"{f.intake_calls_per_request:.2f} calls = {f.intake_ratio:.2f}x",
            f.intake_ratio <= MAX_INTAKE_RATIO,
        ),
        (
            "at most one FreshBooks client search per order",
            f"{client_searches:.2f} per order",
            client_searches <= MAX_CLIENT_SEARCHES_PER_ORDER,
        ),
        (
            "no item search per line once the SKU map is warm",
            f"{item_searches} searches for {f.lines} lines over {f.distinct_skus} known SKUs",
            item_searches <= f.distinct_skus,
        ),
        (
            f"secrets read once per container and {SECRET_CACHE_SECONDS} s (<= {secrets_allowed})",
            f"{f.secrets_calls} Secrets Manager calls ({f.per_order(f.secrets_calls):.3f} per order)",
            f.secrets_calls <= secrets_allowed,
        ),
        (
            f"flow 3 <= ${MAX_USD_PER_MILLION_ORDERS:g} per million orders",
            f"${usd:.2f}",
            usd <= MAX_USD_PER_MILLION_ORDERS,
        ),
    ]


def _calls_lines(title: str, calls: Counter[tuple[str, str]], per: int, unit: str) -> list[str]:
    lines = [f"{title}: {sum(calls.values()) / per:.2f} AWS calls per {unit}"]
    lines += [
        f"    {count / per:8.3f}  {service}.{operation}"
        for (service, operation), count in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0]))
        if count
    ]
    return lines


def _units_lines(units: Counter[str], per: int, unit: str) -> list[str]:
    lines = [f"    DynamoDB write units per {unit}: {sum(units.values()) / per:.2f}"]
    lines += [
        f"    {value / per:8.3f}  {name}"
        for name, value in sorted(units.items(), key=lambda kv: -kv[1])
        if value
    ]
    return lines


def format_table(f: Figures) -> str:
    lines = [
        "",
        "Webhook benchmark (flow 3): local stack (embedded AWS = moto server, sandbox shop and FreshBooks on"
        " loopback);",
        f"{f.orders} orders ({f.valid_orders} valid, {f.orders - f.valid_orders} invalid on purpose) with "
        f"{f.lines} lines over {f.distinct_skus} known SKUs, {f.payments} payments: "
        f"{f.webhook_requests} webhook requests, {f.invocations.count('DeliverFunction')} DeliverFunction "
        f"batches; {f.seconds:.0f} s",
        "",
        *_calls_lines("intake (WebhookFunction)", f.intake_calls, f.webhook_requests, "webhook request"),
        f"    unavoidable: {UNAVOIDABLE_INTAKE_CALLS} (S3 put, conditional de-dup write, queue send) → ratio "
        f"{f.intake_ratio:.2f}x; the raw bodies are archived by DeliverFunction "
        f"({f.delivery_calls[('s3', 'PutObject')]} objects for {f.webhook_requests} bodies), the "
        "de-duplication is the delivery's idempotency key",
        *_units_lines(f.intake_write_units, f.webhook_requests, "request"),
        "",
        *_calls_lines(
            "delivery (DeliverFunction)", f.delivery_calls, f.orders, "order (its payment included)"
        ),
        *_units_lines(f.delivery_write_units, f.orders, "order"),
        f"    DynamoDB read units per order: {f.per_order(f.delivery_read_units):.2f}",
        *_calls_lines("  + SQS event source polling", f.poller_calls, f.orders, "order"),
        "",
        f"FreshBooks calls per order ({f.invoices_created} invoices for {f.valid_orders} valid orders):",
        *(
            f"    {count / f.orders:8.3f}  {name}  ({count})"
            for name, count in sorted(f.partner.items(), key=lambda kv: (-kv[1], kv[0]))
        ),
        f"Secrets Manager calls: {f.secrets_calls} in all ({f.per_order(f.secrets_calls):.3f} per order)",
        "",
        f"cost per million orders (list prices, bench/prices.json; {f.invocations.count()} invocations, "
        f"{f.log_bytes / f.orders:.0f} log bytes per order):",
        f.cost.table(),
        "",
        "goals:",
    ]
    for goal, measured, met in goals(f):
        lines.append(f"  {'OK  ' if met else 'MISS'}  {goal}: {measured}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--orders", type=int, help=f"orders to send (default {DEFAULT_ORDERS})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ORDERS} orders: a smoke run")
    args = parser.parse_args(argv)
    figures = run_benchmark(args.orders or (QUICK_ORDERS if args.quick else DEFAULT_ORDERS))
    return 0 if all(met for _goal, _measured, met in goals(figures)) else 1


if __name__ == "__main__":
    sys.exit(main())
