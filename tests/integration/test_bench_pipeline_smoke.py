"""The pipeline benchmark at a few hundred invoices, so that it keeps working (the real run is `make bench`).

What it counts is deterministic — AWS calls, DynamoDB write units, partner calls, each invoice exported and
written back once — so those goals are checked here; the throughput ratio and memory are timings and
machine-dependent, left to the benchmark's own run.
"""

from __future__ import annotations

from bench.bench_pipeline import (
    MAX_CALLS_PER_INVOICE,
    MAX_USD_PER_MILLION,
    MAX_WRITE_UNITS_PER_INVOICE,
    PAGE_SIZE,
    _aws_in_its_own_process,
    _goals_missed,
    _measure,
)
from local.scenarios.stack import LocalStack

SIZE = 250


def test_counted_figures_of_a_small_run_meet_the_goals() -> None:
    stack = LocalStack(seed_demo=False)
    stack.aws = _aws_in_its_own_process()
    with stack:
        result = _measure(stack, SIZE, counted=True)

    assert _goals_missed(result) == []
    project, partner = result["project"], result["partner"]
    assert project["exported"] == SIZE and result["puts"] == SIZE and result["pending_after"] == 0
    assert partner["list"] == -(-SIZE // PAGE_SIZE) and partner["write-back"] == SIZE
    assert "get one" not in partner and "comment" not in partner
    assert project["total_calls"] / SIZE <= MAX_CALLS_PER_INVOICE
    assert project["write_units"] / SIZE <= MAX_WRITE_UNITS_PER_INVOICE
    # no GSI write on the happy path: the index holds only documents waiting for a write-back
    assert not any(v for k, v in project["write_units_by_index"].items() if k.endswith("/GSI1") and v > 10)
    assert result["cost"].per_million().total <= MAX_USD_PER_MILLION
    assert result["bare"]["invoices"] == SIZE
