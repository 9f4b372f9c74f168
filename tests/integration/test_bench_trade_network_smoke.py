"""The trade-network benchmark (flow 5) with a few documents and one round, so that it keeps working (the real
run is `python bench/bench_trade_network.py`).

What it counts is deterministic — each document delivered once by both sides, the bare loop's partner calls,
the pipeline's calls that do the work — so those are checked here; the rates are timings, left to the
benchmark's own run.
"""

from __future__ import annotations

from bench.bench_trade_network import run_benchmark

DOCUMENTS = 12


def test_benchmark_runs_both_actions_delivers_each_document_once_and_reports_sane_figures() -> None:
    lines: list[str] = []

    upload, download = run_benchmark(DOCUMENTS, rounds=1, out=lines.append)

    for result in (upload, download):
        assert result.problems == [], result.problems  # every pass delivered every document once
        assert len(result.baseline) == len(result.pipeline) == 1
        assert result.baseline_rate > 0 and result.pipeline_rate > 0
        assert 1 <= result.aws_calls_per_document <= 40
        assert 1 <= result.write_units_per_document <= 20
        assert 0 < result.cost.per_million().total < 100
        # the pipeline makes at least the loop's calls, and its extra ones are bounded
        pipeline, baseline = result.partner_per_document("pipeline"), result.partner_per_document("baseline")
        assert baseline <= pipeline <= 4 * baseline

    n = DOCUMENTS
    bare = upload.baseline[0].partner
    pdfs = sum(1 for i in range(n) if i % 3 != 1)
    assert bare == {
        "shipserv token": 1,
        "clearbooks VAT rates": 1,
        "clearbooks list sales invoices": 1,
        "clearbooks get customer": 2,  # each customer once
        "clearbooks get sales document PDF": n,
        "shipserv search sent by reference": n,
        "shipserv send document": n,
    }
    assert upload.baseline[0].partner_errors == {"404 clearbooks get sales document PDF": n - pdfs}
    piped = upload.pipeline[0].partner
    assert piped["shipserv send document"] == piped["shipserv search sent by reference"] == n
    assert piped["clearbooks get sales document PDF"] == n

    bare = download.baseline[0].partner
    for name in ("shipserv get document", "clearbooks create purchase", "shipserv mark exported"):
        assert bare[name] == download.pipeline[0].partner[name] == n, name
    assert bare["shipserv token"] == bare["shipserv list received"] == bare["clearbooks VAT rates"] == 1
    assert bare["clearbooks create supplier"] == 1  # the demo books know two of the three senders
    assert bare["clearbooks upload attachment"] == bare["shipserv get attachment bytes"] > 0
    assert (
        download.pipeline[0].partner["clearbooks upload attachment"] == bare["clearbooks upload attachment"]
    )

    report = "\n".join(lines)
    assert "| upload | 12 |" in report and "| download | 12 |" in report
    assert "exactly once: every document of every pass" in report and "NOT EXACTLY ONCE" not in report
    assert "$ per million documents" in report
