"""The webhook benchmark with a few orders, so that it keeps working (the real run is `make bench`)."""

from __future__ import annotations

from bench.bench_webhooks import UNAVOIDABLE_INTAKE_CALLS, goals, run_benchmark


def test_benchmark_sends_delivers_counts_and_prints_the_table() -> None:
    lines: list[str] = []

    figures = run_benchmark(12, out=lines.append)

    assert figures.orders == 12 and figures.webhook_requests == figures.orders + figures.payments
    assert figures.invoices_created == figures.valid_orders
    # the send for every request, and at most the cold container's reads on top; no ledger of delivery ids
    # (the delivery's idempotency key is the de-duplication); the raw bodies are archived by DeliverFunction,
    # one object per batch
    assert figures.intake_calls[("s3", "PutObject")] == 0
    assert figures.intake_calls[("sqs", "SendMessage")] == figures.webhook_requests
    assert figures.intake_calls[("dynamodb", "PutItem")] == 0
    batches = figures.invocations.count("DeliverFunction")
    assert 0 < figures.delivery_calls[("s3", "PutObject")] <= batches
    assert 1 <= figures.intake_calls_per_request <= 1.5 * UNAVOIDABLE_INTAKE_CALLS
    assert figures.partner["invoice creates"] == figures.valid_orders
    assert figures.partner["item searches"] <= figures.distinct_skus
    assert figures.cost.per_million().total > 0
    met = {goal: ok for goal, _measured, ok in goals(figures)}
    assert [ok for goal, ok in met.items() if not goal.startswith("flow 3 <=")] == [True] * 4
    table = lines[-1]
    assert "intake (WebhookFunction)" in table and "client searches" in table and "goals:" in table
