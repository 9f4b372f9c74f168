"""What a measured workload would cost on AWS, from the calls and bytes a benchmark counted and prices.json.

    from aws_usage import AwsUsage
    from cost_model import LogBytes, estimate, function_memory_mb

    memory = function_memory_mb()                            # from template.yaml, Globals applied
    with AwsUsage() as usage, LogBytes() as logs:
        durations = run_the_flow()                           # e.g. {"PollFunction": [0.8, ...], ...} seconds
    cost = estimate(
        usage.snapshot(),
        documents=1000,
        lambda_invocations={name: len(d) for name, d in durations.items()},
        lambda_gb_seconds=gb_seconds(durations, memory),
        log_bytes=logs.bytes,
        api_gateway_requests=requests_sent,                  # the requests that came through an API,
        api_gateway_type="http",                             # an HTTP API ("rest": a REST API)
    )
    print(cost.table())                                      # per document and $ per million documents
    assert cost.per_million().total <= 5.0

Counted: Lambda (requests + GB-seconds at the architecture template.yaml declares), DynamoDB (write and read
request units, on-demand), SQS (billed requests: 64 KB chunks), S3 (PUT-class and GET-class requests),
CloudWatch Logs (ingested bytes: what the handlers wrote plus Lambda's own START/END/REPORT lines), API
Gateway requests (HTTP API or REST API prices) and Secrets Manager API calls; storage only when
`stored_bytes_month` is given.
Not counted: data transfer (in-region, free), KMS (AWS managed keys), X-Ray traces (Tracing: Active; the
free tier and sampling make them negligible per document), EventBridge Scheduler invocations (per run, not
per document), CloudWatch metrics and alarms (fixed per month), free tiers.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

REPO_ROOT = Path(__file__).resolve().parent.parent
PRICES_PATH = Path(__file__).resolve().parent / "prices.json"
GB = 1024**3  # AWS bills logs and storage per GB of 2^30 bytes
MILLION = 1_000_000
# API Gateway's kinds of API → (cost line item, price name in prices.json)
API_GATEWAY_PRICES = {
    "http": ("HTTP API requests", "api_gateway_http_request"),
    "rest": ("REST API requests", "api_gateway_rest_request"),
}


def load_prices(path: Path = PRICES_PATH) -> dict[str, Any]:
    """prices.json as a dict (`prices`: name → {usd, per, unit, page, ...})."""
    return json.loads(Path(path).read_text())


def _template_functions(template_path: Path | None) -> dict[str, Any]:
    if str(REPO_ROOT) not in sys.path:  # run as `python bench/x.py`: make local/ importable
        sys.path.insert(0, str(REPO_ROOT))
    from local.runtime.template import DEFAULT_TEMPLATE, functions, load_template

    path = Path(template_path or DEFAULT_TEMPLATE)
    return functions(load_template(path), base_dir=path.parent)


def function_memory_mb(template_path: Path | None = None) -> dict[str, int]:
    """MemorySize of every function in template.yaml (Globals applied, SAM's default otherwise)."""
    return {name: spec.memory_size for name, spec in _template_functions(template_path).items()}


def functions_without_platform_lines(template_path: Path | None = None) -> set[str]:
    """Functions whose `LoggingConfig.SystemLogLevel` is WARN: Lambda sends no START/END/REPORT lines for
    them (they are INFO-level system logs), so their invocations add no platform bytes."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from local.runtime.template import DEFAULT_TEMPLATE, load_template, resources_of_type

    template = load_template(Path(template_path or DEFAULT_TEMPLATE))
    quiet = set()
    for name, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        logging = {
            **template.get("Globals", {}).get("Function", {}).get("LoggingConfig", {}),
            **resource.get("Properties", {}).get("LoggingConfig", {}),
        }
        if logging.get("SystemLogLevel") == "WARN":
            quiet.add(name)
    return quiet


def function_architecture(template_path: Path | None = None) -> str:
    """The functions' architecture (`arm64` or `x86_64`) from the template's Globals (SAM default x86_64)."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from local.runtime.template import DEFAULT_TEMPLATE, load_template

    template = load_template(Path(template_path or DEFAULT_TEMPLATE))
    architectures = template.get("Globals", {}).get("Function", {}).get("Architectures", ["x86_64"])
    return str(architectures[0])


def gb_seconds(durations_s: Mapping[str, Iterable[float]], memory_mb: Mapping[str, int]) -> float:
    """GB-seconds of invocations: each duration rounded up to 1 ms (Lambda's billing) x the function's GB."""
    total = 0.0
    for function, durations in durations_s.items():
        billed_ms = sum(math.ceil(seconds * 1000) for seconds in durations)
        total += billed_ms / 1000 * memory_mb[function] / 1024
    return total


class LogBytes:
    """Bytes the local runner logged (`.local/logs/*.jsonl`, one file per invocation) during the block.

    The runner writes each invocation's structured logs and Powertools' EMF metric lines there, which is
    what Lambda would send to CloudWatch Logs; Lambda's own START/END/REPORT lines are added by `estimate`
    (see `lambda_platform_log_bytes_per_invocation` in prices.json). Counts the growth of every file.
    """

    def __init__(self, log_dir: Path | None = None) -> None:
        self.log_dir = Path(log_dir) if log_dir else REPO_ROOT / ".local" / "logs"
        self._before: dict[Path, int] = {}
        self.bytes = 0

    def _sizes(self) -> dict[Path, int]:
        if not self.log_dir.is_dir():
            return {}
        return {path: path.stat().st_size for path in self.log_dir.glob("*.jsonl")}

    def __enter__(self) -> Self:
        self._before = self._sizes()
        self.bytes = 0
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.bytes = self.measure()

    def measure(self) -> int:
        """Bytes logged since the block began (also usable inside it)."""
        return sum(max(0, size - self._before.get(path, 0)) for path, size in self._sizes().items())


@dataclass(frozen=True)
class CostLine:
    service: str
    item: str
    quantity: float  # for the workload measured
    unit: str
    usd: float  # for the workload measured


@dataclass(frozen=True)
class CostEstimate:
    """Dollars by service for `documents` documents; `per_million()` scales to 1,000,000 documents."""

    documents: int
    lines: tuple[CostLine, ...]
    prices_read_on: str
    notes: tuple[str, ...] = field(default=())

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    def by_service(self) -> dict[str, float]:
        services: dict[str, float] = {}
        for line in self.lines:
            services[line.service] = services.get(line.service, 0.0) + line.usd
        return services

    def per_million(self) -> CostEstimate:
        """The same workload scaled to one million documents."""
        factor = MILLION / self.documents
        lines = tuple(
            CostLine(line.service, line.item, line.quantity * factor, line.unit, line.usd * factor)
            for line in self.lines
        )
        return CostEstimate(MILLION, lines, self.prices_read_on, self.notes)

    def table(self) -> str:
        """Service, item, quantity per document, $ per million documents; with the prices' date."""
        million = self.per_million()
        header = f"{'service':<16}{'item':<34}{'per document':>16}  {'$ per million documents':>24}"
        rows = [header, "-" * len(header)]
        for line, scaled in zip(self.lines, million.lines, strict=True):
            per_document = line.quantity / self.documents
            rows.append(
                f"{line.service:<16}{line.item:<34}{per_document:>16.4g}  {scaled.usd:>24.4f}"
                + f"   ({line.unit})"
            )
        rows.append("-" * len(header))
        for service, usd in million.by_service().items():
            rows.append(f"{service:<50}{'':>16}  {usd:>24.4f}")
        rows.append(f"{'total':<50}{'':>16}  {million.total:>24.4f}")
        rows.append(
            f"{self.documents} documents measured; us-east-1 list prices read {self.prices_read_on} "
            "(bench/prices.json cites the pages); no free tier"
        )
        rows.extend(self.notes)
        return "\n".join(rows)


def estimate(
    usage_snapshot: Any,
    *,
    documents: int,
    lambda_invocations: Mapping[str, int] | int,
    lambda_gb_seconds: float,
    log_bytes: int,
    api_gateway_requests: int = 0,
    api_gateway_type: str | None = None,
    stored_bytes_month: Mapping[str, int] | None = None,
    architecture: str | None = None,
    prices: Mapping[str, Any] | None = None,
) -> CostEstimate:
    """Dollars for the measured workload.

    `usage_snapshot`: an `aws_usage.UsageSnapshot` (or `AwsUsage`) of the run. `lambda_invocations`: per
    function or a total. `lambda_gb_seconds`: see `gb_seconds`. `log_bytes`: what the handlers logged
    (see `LogBytes`); Lambda's own lines are added per invocation. `api_gateway_requests`: the billed
    requests to API Gateway, and `api_gateway_type` the kind of API they went to — `"http"` (an HTTP API,
    like the template's webhook API; a request over 512 KB counts once per started 512 KB) or `"rest"` (a
    REST API); it must be given when there are requests. `stored_bytes_month`: optional storage
    the workload leaves behind for a month, by `"s3"`, `"dynamodb"`, `"logs"`. `architecture`: `arm64` /
    `x86_64`, by default what template.yaml declares.
    """
    if documents <= 0:
        raise ValueError("documents must be positive")
    if api_gateway_type is not None and api_gateway_type not in API_GATEWAY_PRICES:
        raise ValueError(
            f"api_gateway_type must be one of {sorted(API_GATEWAY_PRICES)}, not {api_gateway_type!r}"
        )
    if api_gateway_requests and api_gateway_type is None:
        raise ValueError("say which kind of API the requests went to: api_gateway_type='http' or 'rest'")
    book = prices or load_prices()
    price = book["prices"]

    def cost(name: str, quantity: float) -> float:
        return quantity * price[name]["usd"] / price[name]["per"]

    invocations = (
        sum(lambda_invocations.values()) if isinstance(lambda_invocations, Mapping) else lambda_invocations
    )
    arch = architecture or function_architecture()
    gb_second_price = f"lambda_gb_second_{arch}"
    platform_bytes = book["assumptions"]["lambda_platform_log_bytes_per_invocation"]["value"]
    with_platform_lines = invocations
    if isinstance(lambda_invocations, Mapping):
        quiet = functions_without_platform_lines()
        with_platform_lines = sum(n for f, n in lambda_invocations.items() if f not in quiet)
    ingested = log_bytes + with_platform_lines * platform_bytes
    snapshot = usage_snapshot.snapshot() if hasattr(usage_snapshot, "snapshot") else usage_snapshot

    api_gateway: list[tuple[str, str, float, str, str]] = []
    if api_gateway_type is not None:
        item, price_name = API_GATEWAY_PRICES[api_gateway_type]
        api_gateway.append(("API Gateway", item, api_gateway_requests, "requests", price_name))
    quantities: list[tuple[str, str, float, str, str]] = [  # service, item, quantity, unit, price name
        ("Lambda", "requests", invocations, "invocations", "lambda_request"),
        ("Lambda", f"duration ({arch})", lambda_gb_seconds, "GB-seconds", gb_second_price),
        ("DynamoDB", "write request units", snapshot.write_units, "WRU", "dynamodb_write_request_unit"),
        ("DynamoDB", "read request units", snapshot.read_units, "RRU", "dynamodb_read_request_unit"),
        ("SQS", "requests (64 KB chunks)", snapshot.sqs_requests, "billed requests", "sqs_request"),
        (
            "S3",
            "PUT/COPY/POST/LIST requests",
            snapshot.s3_put_class_requests,
            "requests",
            "s3_put_class_request",
        ),
        ("S3", "GET and other requests", snapshot.s3_get_class_requests, "requests", "s3_get_class_request"),
        ("CloudWatch Logs", "ingestion", ingested / GB, "GB", "cloudwatch_logs_ingestion"),
        *api_gateway,
        ("Secrets Manager", "API calls", snapshot.secrets_api_calls, "API calls", "secrets_manager_api_call"),
    ]
    storage_prices = {"s3": ("S3", "s3_storage"), "dynamodb": ("DynamoDB", "dynamodb_storage")}
    storage_prices["logs"] = ("CloudWatch Logs", "cloudwatch_logs_storage")
    for kind, stored in (stored_bytes_month or {}).items():
        service, name = storage_prices[kind]
        quantities.append((service, "storage, one month", stored / GB, "GB-month", name))

    lines = tuple(
        CostLine(service, item, float(quantity), unit, cost(name, quantity))
        for service, item, quantity, unit, name in quantities
    )
    notes = (
        f"AWS calls per document {snapshot.total_calls / documents:.3g}, DynamoDB write units per document "
        f"{snapshot.write_units / documents:.3g} (a batch call counts once)",
        f"CloudWatch Logs: {log_bytes} bytes logged + {platform_bytes} bytes of Lambda platform lines "
        f"per invocation x {with_platform_lines} (of {invocations}: functions with SystemLogLevel WARN "
        "send none)",
    )
    return CostEstimate(documents, lines, book.get("read_on", ""), notes)
