"""Chaos, flow 4: PDFs from the drop zone → zip bundles → Clearnox, with faults and crashes mid-stream.

The run: `entries` booking entries at Clearnox lacking a document, a PDF in the drop zone for most of them
(one not a PDF at all), Clearnox answering with random faults, the bundler dying at random S3 and Clearnox
calls — in the middle of streaming a zip into S3 (a part upload) and right after Clearnox answered an upload.
Bundle runs are repeated (as the scheduler would) until Clearnox lacks nothing it could get, then quietly.

The invariants, from Clearnox's own records: every entry with a PDF has exactly one document, imported
exactly once (no bundle id imported twice, no entry in two accepted bundles); entries without a PDF and the
non-PDF have none; no bundle run is left `running`.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from local.chaos.monkey import ChaosMonkey, Crash, expire_leases
from local.chaos.report import ScenarioResult, check_secrets

CID = "chaos-clearnox"
WITHOUT_PDF = 3


def run_bundles(
    *,
    entries: int,
    seed: int,
    fault_rate: float,
    crash_rate: float,
    critical_rate: float,
    min_runs: int = 8,
    max_runs: int = 40,
) -> ScenarioResult:
    from local.scenarios.stack import LocalStack

    result = ScenarioResult("flow 4: PDFs → bundles")
    started = time.time()
    with LocalStack(seed_demo=False) as stack:
        stack.add_clearnox_connector(CID, max_bundle_files=max(5, entries // 4), resend_grace_hours=0)
        clearnox = stack.clearnox
        clearnox.seed_demo_entries(entries, seed=seed)
        keys = stack.seed_drop_zone(CID, without_pdf=WITHOUT_PDF)
        listed = [e["id"] for e in clearnox.entries()]
        not_a_pdf = listed[2]  # seed_drop_zone puts an HTML page there
        deliverable = [e for e in keys if e != not_a_pdf]
        result.documents = len(listed)
        faults = clearnox.set_random_faults(fault_rate, seed)
        monkey = ChaosMonkey(crash_rate, critical_rate, seed)
        with monkey.active():
            runs = _runs(stack, monkey, deliverable, max_runs, chaos=True, at_least=min_runs)
        clearnox.set_random_faults(None)
        quiet = _runs(stack, monkey, deliverable, 5, chaos=False)
        result.faults = sum(faults.injected.values()) if faults else 0
        result.crashes = monkey.total
        result.details = {"runs with chaos": runs, "quiet runs": quiet, "crashes": dict(monkey.crashes)}
        _check(stack, listed, deliverable, result)
        check_secrets(stack, result, since=started)
    return result


def _runs(
    stack: Any, monkey: ChaosMonkey, deliverable: list[str], limit: int, *, chaos: bool, at_least: int = 1
) -> int:
    for run in range(1, limit + 1):
        with monkey.enabled(chaos):
            try:
                stack.invoke("BundleFunction", {"connector_id": CID})
            except Crash:  # the function died: its lease runs out, the scheduler runs it again
                expire_leases(stack.table_name, CID)
            except Exception:  # noqa: S110 - a failed run: the scheduler runs it again
                pass
        if run >= at_least and not set(deliverable) & set(stack.clearnox.missing()):
            return run
    return limit


def _check(stack: Any, listed: list[str], deliverable: list[str], result: ScenarioResult) -> None:
    from invoice_relay.storage.runs import RunHistory
    from invoice_relay.storage.table import state_table

    clearnox = stack.clearnox
    accepted = Counter(
        entry for upload in clearnox.uploads if upload.status == 201 for entry in upload.accepted
    )
    imported_ids = Counter(upload.bundle_id for upload in clearnox.uploads if upload.status == 201)
    result.duplicates = sum(n - 1 for n in accepted.values() if n > 1) + sum(
        n - 1 for n in imported_ids.values() if n > 1
    )
    result.check(result.duplicates == 0, f"{result.duplicates} entries or bundles imported twice")
    for entry in listed:
        document = clearnox.documents_for(entry)
        if entry in deliverable:
            if document is None:
                result.lost += 1
                result.violate(f"entry {entry} never got its PDF")
        else:
            result.check(document is None, f"entry {entry} got a document without a PDF")
    runs = RunHistory(state_table(stack.table_name)).recent_runs(CID, 1000)
    left = [r for r in runs if r["status"] == "running"]
    result.stuck += len(left)
    result.check(not left, f"{len(left)} bundle runs left running")
