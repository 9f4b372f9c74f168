"""`make chaos` at its quick size, inside `make test`: flows 1+2, 4 and 5 under partner faults and crashes,
and the webhook fuzz, each hold every invariant (flow 3's scenario: `test_chaos_orders.py`). Each run is
seeded (`make chaos CHAOS_ARGS="--quick --seed N"` replays a failure) and checks from the partners' own
records."""

from __future__ import annotations

import io

from local.commands.chaos import CRASH_RATE, CRITICAL_RATE, FAULT_RATE, QUICK, SCENARIOS, ChaosReport, run

SEED = 20261202
RATES = {"fault_rate": FAULT_RATE, "crash_rate": CRASH_RATE, "critical_rate": CRITICAL_RATE}


def assert_held(result) -> None:
    assert result.violations == []
    assert (result.duplicates, result.lost, result.stuck) == (0, 0, 0)
    assert (result.server_errors, result.secrets_found) == (0, 0)


def test_servicetrade_invoices_to_import_files_and_back_under_faults_and_crashes():
    from local.chaos.invoices import run_invoices

    result = run_invoices(invoices=QUICK.invoices, seed=SEED, **RATES)

    assert_held(result)
    assert result.documents == QUICK.invoices + 1  # and one poison invoice (money outside the model)
    assert result.faults > 0 and result.crashes > 0  # a chaos run, not a quiet one


def test_pdf_bundles_to_clearnox_under_faults_and_crashes():
    from local.chaos.bundles import run_bundles

    result = run_bundles(entries=QUICK.entries, seed=SEED, **RATES)

    assert_held(result)
    assert result.documents == QUICK.entries
    assert result.faults + result.crashes > 0  # a short run: which of the two it draws depends on the seed


def test_trade_network_upload_and_download_under_faults_crashes_token_expiries_and_edits():
    from local.chaos.trade_network import run_trade_network

    result = run_trade_network(documents=QUICK.trade_documents, seed=SEED, **RATES)

    assert_held(result)
    assert result.documents == 2 * QUICK.trade_documents  # sales documents sent, received documents booked
    assert result.faults > 0 and result.crashes > 0  # a chaos run, not a quiet one


def test_hostile_webhooks_get_a_4xx_and_lose_nothing():
    from local.chaos.fuzz import run_fuzz_scenario

    result = run_fuzz_scenario(requests=QUICK.fuzz_requests, seed=SEED)

    assert_held(result)
    assert result.documents >= QUICK.fuzz_requests


def test_the_report_prints_one_row_per_scenario_and_fails_on_a_violation():
    report = run(quick=True, seed=SEED, only=("fuzz",))
    out = io.StringIO()
    report.print(out)
    assert report.ok
    [fuzz] = report.results
    assert fuzz.scenario in out.getvalue() and f"seed {SEED}" in out.getvalue()
    assert set(SCENARIOS) == {"invoices", "orders", "bundles", "trade_network", "fuzz"}

    broken = ChaosReport(seed=1, mode="test", results=[*report.results])
    broken.results[0].violations.append("an invoice was delivered twice")
    assert not broken.ok and broken.violations == [f"{fuzz.scenario}: an invoice was delivered twice"]
