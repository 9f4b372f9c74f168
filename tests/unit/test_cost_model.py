"""bench/cost_model.py: known usage → known dollars, template-derived memory sizes, logged bytes."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from aws_usage import UsageSnapshot  # noqa: E402
from cost_model import (  # noqa: E402
    LogBytes,
    estimate,
    function_architecture,
    function_memory_mb,
    functions_without_platform_lines,
    gb_seconds,
    load_prices,
)

GB = 1024**3


def test_every_price_names_its_page_and_date() -> None:
    book = load_prices()
    assert book["region"] == "us-east-1"
    for name, price in book["prices"].items():
        assert price["page"].startswith("https://aws.amazon.com/"), name
        assert price["read_on"] and price["figure_from"], name
        assert price["usd"] > 0 and price["per"] >= 1, name


def test_memory_and_architecture_come_from_the_template() -> None:
    memory = function_memory_mb()
    assert memory["WebhookFunction"] == 256  # its own MemorySize
    assert memory["PollFunction"] == 512  # Globals
    assert function_architecture() == "arm64"


def test_gb_seconds_round_each_invocation_up_to_a_millisecond() -> None:
    durations = {"WebhookFunction": [0.0101, 0.02], "PollFunction": [1.0]}
    memory = {"WebhookFunction": 256, "PollFunction": 512}
    # (11 ms + 20 ms) x 0.25 GB + 1 s x 0.5 GB
    assert gb_seconds(durations, memory) == pytest.approx(0.031 * 0.25 + 0.5)


def test_known_usage_gives_known_dollars() -> None:
    usage = UsageSnapshot(
        calls=Counter({("dynamodb", "BatchWriteItem"): 10, ("secretsmanager", "GetSecretValue"): 4}),
        write_units_by_table_index=Counter({"state": 300.0, "state/GSI1": 100.0}),
        read_units_by_table_index=Counter({"state": 50.0}),
        s3_put_class_requests=100,
        s3_get_class_requests=200,
        sqs_requests=250,
    )
    cost = estimate(
        usage,
        documents=100,
        lambda_invocations={"PollFunction": 2, "ExportFunction": 8},
        lambda_gb_seconds=40.0,
        log_bytes=GB // 1000,
        api_gateway_requests=100,
        api_gateway_type="rest",
        stored_bytes_month={"s3": GB},
        architecture="arm64",
    )

    services = cost.by_service()
    assert services["Lambda"] == pytest.approx(10 * 0.2e-6 + 40 * 0.0000133334)
    assert services["DynamoDB"] == pytest.approx(400 * 0.625e-6 + 50 * 0.125e-6)
    assert services["SQS"] == pytest.approx(250 * 0.4e-6)
    assert services["S3"] == pytest.approx(100 * 0.005e-3 + 200 * 0.0004e-3 + 0.023)
    assert services["CloudWatch Logs"] == pytest.approx((GB // 1000 + 10 * 300) / GB * 0.5)
    assert services["API Gateway"] == pytest.approx(100 * 3.5e-6)
    assert services["Secrets Manager"] == pytest.approx(4 * 0.05e-4)
    assert cost.per_million().total == pytest.approx(cost.total * 10_000)

    table = cost.table()
    assert "$ per million documents" in table
    assert "2026-12-02" in table
    assert "DynamoDB" in table and "write request units" in table
    # 4 write units per document, in the per-document column
    assert any(line.startswith("DynamoDB") and " 4 " in line for line in table.splitlines())


def test_api_gateway_requests_are_priced_by_the_kind_of_api() -> None:
    def api_gateway(**kwargs: object) -> dict[str, float]:
        cost = estimate(
            UsageSnapshot(), documents=1, lambda_invocations=0, lambda_gb_seconds=0.0, log_bytes=0, **kwargs
        )
        return {line.item: line.usd for line in cost.lines if line.service == "API Gateway"}

    book = load_prices()["prices"]
    http = api_gateway(api_gateway_requests=1_000_000, api_gateway_type="http")
    rest = api_gateway(api_gateway_requests=1_000_000, api_gateway_type="rest")

    # HTTP API: $1.00 per million (first 300 million, 512 KB increments); REST API: $3.50 per million
    assert http == {"HTTP API requests": pytest.approx(1.0)}
    assert rest == {"REST API requests": pytest.approx(3.5)}
    assert "512 KB" in book["api_gateway_http_request"]["unit"]
    assert api_gateway() == {}  # no API in the workload: no line
    with pytest.raises(ValueError, match="which kind of API"):
        api_gateway(api_gateway_requests=10)
    with pytest.raises(ValueError, match="api_gateway_type must be one of"):
        api_gateway(api_gateway_requests=10, api_gateway_type="websocket")


def test_x86_prices_apply_when_asked(tmp_path: Path) -> None:
    book = load_prices()
    cost = estimate(
        UsageSnapshot(),
        documents=1,
        lambda_invocations=0,
        lambda_gb_seconds=1.0,
        log_bytes=0,
        architecture="x86_64",
        prices=book,
    )
    assert cost.by_service()["Lambda"] == pytest.approx(0.0000166667)


def test_log_bytes_counts_what_was_written_during_the_block(tmp_path: Path) -> None:
    old = tmp_path / "old-PollFunction.jsonl"
    old.write_text("x" * 100)
    with LogBytes(tmp_path) as logged:
        (tmp_path / "new-PollFunction.jsonl").write_text(json.dumps({"message": "hi"}) + "\n")
        with old.open("a") as more:
            more.write("y" * 50)
        (tmp_path / "ignored.txt").write_text("not a log")
    assert logged.bytes == len(json.dumps({"message": "hi"}) + "\n") + 50


def test_functions_whose_system_log_level_is_warn_add_no_platform_lines() -> None:
    assert functions_without_platform_lines() == {"WebhookFunction"}
    platform = load_prices()["assumptions"]["lambda_platform_log_bytes_per_invocation"]["value"]

    def logged_gb(function: str) -> float:
        cost = estimate(
            UsageSnapshot(),
            documents=1,
            lambda_invocations={function: 10},
            lambda_gb_seconds=0.0,
            log_bytes=0,
        )
        return next(line.quantity for line in cost.lines if line.service == "CloudWatch Logs")

    assert logged_gb("WebhookFunction") == 0
    assert logged_gb("DeliverFunction") == pytest.approx(10 * platform / GB)
