"""`make chaos`: nothing lost, nothing twice — the flows under partner faults, crashes and hostile input.

    python -m local.commands.chaos [--quick] [--seed N] [--only invoices,orders,bundles,trade_network,fuzz]

The scenarios: flows 1+2 (`invoices`: ServiceTrade → import files and back), flow 3 (`orders`: shop
webhooks → FreshBooks), flow 4 (`bundles`: PDFs → zip bundles → Clearnox), flow 5 (`trade_network`:
ClearBooks sales documents → ShipServ and ShipServ received documents → ClearBooks purchases, with token
expiries and edits in ClearBooks between rounds) and the webhook fuzz (`fuzz`).

Drives the real handlers on the local stack (embedded AWS + sandboxes) with random partner faults (5xx,
429 with short and too-long Retry-After, answers lost after the partner acted), the functions dying at
random external calls (before a call is sent, after its answer arrived, and right after every call
exactly-once depends on), duplicate and re-signed webhooks, out-of-order events and ≥ 10,000 hostile
webhook requests, then checks the invariants from the partners' own records (`local/chaos/*.py`). Prints
one table and exits 1 on any violation. Seeded: `--seed` replays a run. `--quick` is the small run
`make test` includes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from local.chaos.report import ChaosReport, ScenarioResult


@dataclass(frozen=True)
class Sizes:
    invoices: int
    orders: int
    entries: int
    trade_documents: int  # flow 5: sales documents in the supplier's books, and documents the buyer received
    fuzz_requests: int


FULL = Sizes(invoices=1000, orders=300, entries=200, trade_documents=300, fuzz_requests=10_000)
QUICK = Sizes(invoices=60, orders=30, entries=20, trade_documents=40, fuzz_requests=300)
FAULT_RATE = 0.2  # share of partner requests answered with a fault
CRASH_RATE = 0.5  # share of function invocations that die at one of their external calls
CRITICAL_RATE = 0.5  # share of those that die right after a call exactly-once depends on
SCENARIOS = ("invoices", "orders", "bundles", "trade_network", "fuzz")


def scenarios(sizes: Sizes, seed: int) -> dict[str, Callable[[], ScenarioResult]]:
    rates = {"fault_rate": FAULT_RATE, "crash_rate": CRASH_RATE, "critical_rate": CRITICAL_RATE}

    def invoices() -> ScenarioResult:
        from local.chaos.invoices import run_invoices

        return run_invoices(invoices=sizes.invoices, seed=seed, **rates)

    def orders() -> ScenarioResult:
        from local.chaos.orders import run_orders

        return run_orders(orders=sizes.orders, seed=seed, **rates)

    def bundles() -> ScenarioResult:
        from local.chaos.bundles import run_bundles

        return run_bundles(entries=sizes.entries, seed=seed, **rates)

    def trade_network() -> ScenarioResult:
        from local.chaos.trade_network import run_trade_network

        return run_trade_network(documents=sizes.trade_documents, seed=seed, **rates)

    def fuzz() -> ScenarioResult:
        from local.chaos.fuzz import run_fuzz_scenario

        return run_fuzz_scenario(requests=sizes.fuzz_requests, seed=seed)

    return {
        "invoices": invoices,
        "orders": orders,
        "bundles": bundles,
        "trade_network": trade_network,
        "fuzz": fuzz,
    }


def run(*, quick: bool, seed: int, only: tuple[str, ...] = SCENARIOS) -> ChaosReport:
    sizes = QUICK if quick else FULL
    mode = (
        f"{'quick' if quick else 'full'}: {sizes.invoices} invoices, {sizes.orders} orders, "
        f"{sizes.entries} booking entries, {sizes.trade_documents} trade-network documents a side, "
        f"{sizes.fuzz_requests} fuzzed webhooks; "
        f"faults: {FAULT_RATE:.0%} of partner requests; "
        f"crashes: {CRASH_RATE:.0%} of invocations die at one external call, "
        f"{CRITICAL_RATE:.0%} of them right after a call exactly-once depends on"
    )
    report = ChaosReport(seed=seed, mode=mode)
    for name, scenario in scenarios(sizes, seed).items():
        if name not in only:
            continue
        started = time.monotonic()
        result = scenario()
        result.details["seconds"] = round(time.monotonic() - started, 1)
        report.results.append(result)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small run (what make test includes)")
    parser.add_argument("--seed", type=int, default=20261201, help="replay a run with its seed")
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"comma-separated scenarios ({', '.join(SCENARIOS)})"
    )
    args = parser.parse_args(argv)
    only = tuple(name.strip() for name in args.only.split(",") if name.strip())
    unknown = sorted(set(only) - set(SCENARIOS))
    if unknown:
        print(f"make chaos: unknown scenario(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    report = run(quick=args.quick, seed=args.seed, only=only)
    report.print(sys.stdout)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
