"""Chaos, flows 1 + 2: ServiceTrade invoices → import files, with faults, crashes and a poison invoice.

The run: a ServiceTrade → import-file connector over `invoices` pending invoices (some broken, one whose
amount does not fit the money model, plus vendor bills that are not ours), ServiceTrade answering with random
faults, the functions dying at random external calls and right after the calls exactly-once depends on.
Poll and export run in cycles — a crashed run is simply run again, as the scheduler would — until nothing is
pending; then faults and crashes stop and the cycles go on until quiet.

The invariants, read from ServiceTrade's own records, the import files in S3 and the state table: every
invoice ends `processed` or `failed`; a processed one is in exactly one import file, once, and has no
comment; a failed one is in no file and has exactly one private comment; the broken and the poison ones
failed, the good ones were processed; vendor bills were never written back; every document's state is
final and agrees; no run of a scheduled kind is left `running`.
"""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from typing import Any

from local.chaos.monkey import ChaosMonkey, Crash, expire_leases
from local.chaos.report import ScenarioResult, check_secrets

CID = "chaos-servicetrade"
POISON_SUBTOTAL = 1e30  # a JSON number the money model must refuse (issue 8: it blocked a whole connector)


def run_invoices(
    *,
    invoices: int,
    seed: int,
    fault_rate: float,
    crash_rate: float,
    critical_rate: float,
    min_cycles: int = 12,
    max_cycles: int = 60,
) -> ScenarioResult:
    from local.scenarios.stack import LocalStack

    result = ScenarioResult("flows 1+2: invoices → import file")
    started = time.time()
    with LocalStack(seed_demo=False) as stack:
        # Small import files: the export takes many runs, each a chance to crash in the middle of it.
        stack.add_servicetrade_connector(
            CID, template="generic_csv", page_size=100, max_documents_per_file=max(10, invoices // 12)
        )
        st = stack.servicetrade
        # Broken for every template (an unmapped service line is broken only for templates that map it).
        demo = st.seed_demo_data(
            count=invoices,
            broken=["no_customer", "bad_transaction_date"],
            seed=seed,
            vendor_bills=3,
            external_invoices=1,
        )
        poison_id = _add_poison(st, demo)
        ours = [*demo.pending_ids, poison_id]
        result.documents = len(ours)
        faults = st.set_random_faults(fault_rate, seed)
        monkey = ChaosMonkey(crash_rate, critical_rate, seed)
        with monkey.active():
            cycles = _cycles(stack, monkey, ours, max_cycles, chaos=True, at_least=min_cycles)
        st.set_random_faults(None)
        quiet = _cycles(stack, monkey, ours, 8, chaos=False)
        result.faults = sum(faults.injected.values()) if faults else 0
        result.crashes = monkey.total
        result.details = {
            "cycles with chaos": cycles,
            "quiet cycles": quiet,
            "faults": dict(faults.injected) if faults else {},
            "crashes": dict(monkey.crashes),
        }
        _check(stack, demo, poison_id, ours, result)
        check_secrets(stack, result, since=started)
    return result


def _add_poison(st: Any, demo: Any) -> int:
    """One more pending invoice whose subtotal does not fit the money model."""
    from local.sandboxes.servicetrade import sample_invoice

    poison_id = max(i["id"] for i in st.invoices()) + 1
    invoice = sample_invoice(poison_id)
    invoice.update(status="pending_accounting", subtotal=POISON_SUBTOTAL, invoiceNumber=f"P{poison_id}")
    st.add_invoice(invoice)
    return poison_id


def _pending(stack: Any, ours: list[int]) -> int:
    return sum(stack.servicetrade.invoice(i)["status"] == "pending_accounting" for i in ours)


def _cycles(
    stack: Any, monkey: ChaosMonkey, ours: list[int], limit: int, *, chaos: bool, at_least: int = 1
) -> int:
    """Poll + export until nothing is pending (and, without chaos, until a cycle changes nothing); with
    chaos, at least `at_least` cycles (runs with nothing to do can crash too)."""
    for cycle in range(1, limit + 1):
        with monkey.enabled(chaos):
            for function in ("PollFunction", "ExportFunction"):
                try:
                    stack.invoke(function, {"connector_id": CID})
                except Crash:  # the function died: its lease runs out, the scheduler runs it again
                    expire_leases(stack.table_name, CID)
                except Exception:  # noqa: S110 - a failed run: the scheduler runs it again
                    pass
        if cycle >= at_least and _pending(stack, ours) == 0 and (chaos or _settled(stack)):
            return cycle
    return limit


def _settled(stack: Any) -> bool:
    from invoice_relay.storage.state import DocumentStates
    from invoice_relay.storage.table import state_table

    return not DocumentStates(state_table(stack.table_name)).unsettled(CID)


def _exported_numbers(stack: Any) -> Counter[str]:
    """Invoice number → how many import files hold it."""
    from invoice_relay.storage.objects import DocumentBucket

    bucket = DocumentBucket(stack.bucket_name)
    numbers: Counter[str] = Counter()
    for key in bucket.keys(f"exports/{CID}/"):
        rows = csv.DictReader(io.StringIO(bucket.get(key).decode("utf-8-sig")))
        numbers.update({row["invoice_number"] for row in rows})
    return numbers


def _check(stack: Any, demo: Any, poison_id: int, ours: list[int], result: ScenarioResult) -> None:
    from invoice_relay.storage.state import DocumentState, DocumentStates
    from invoice_relay.storage.table import state_table

    st = stack.servicetrade
    in_files = _exported_numbers(stack)
    documents = DocumentStates(state_table(stack.table_name))
    must_fail = {*demo.broken_ids, poison_id}
    for invoice_id in ours:
        invoice = st.invoice(invoice_id)
        number, status = invoice.get("invoiceNumber"), invoice["status"]
        comments = [c for c in st.comments_for(invoice_id) if "Invoice Relay" in c.get("content", "")]
        files = in_files.get(str(number), 0)
        record = documents.get(CID, str(invoice_id))
        if status == "pending_accounting":
            result.lost += 1
            result.violate(f"invoice {invoice_id} is still pending")
        elif status == "processed":
            result.duplicates += max(0, files - 1)
            result.check(files == 1, f"processed invoice {invoice_id} is in {files} import files")
            result.check(not comments, f"processed invoice {invoice_id} has {len(comments)} comments")
            result.check(invoice_id not in must_fail, f"broken invoice {invoice_id} was processed")
            result.check(record is not None and record.state is DocumentState.DONE, f"state of {invoice_id}")
        elif status == "failed":
            result.duplicates += max(0, len(comments) - 1) + files
            result.check(len(comments) == 1, f"failed invoice {invoice_id} has {len(comments)} comments")
            result.check(
                all(c.get("visibility") == [] for c in comments), f"comment on {invoice_id} not private"
            )
            result.check(files == 0, f"failed invoice {invoice_id} is in {files} import files")
            result.check(invoice_id in must_fail, f"good invoice {invoice_id} failed: {comments[:1]}")
            result.check(
                record is not None and record.state is DocumentState.FAILED, f"state of {invoice_id}"
            )
        else:
            result.violate(f"invoice {invoice_id} ended {status}")
        if record is not None and record.state not in (DocumentState.DONE, DocumentState.FAILED):
            result.stuck += 1
    for other in demo.other_types:
        result.check(
            st.invoice(other)["status"] == "pending_accounting", f"vendor bill {other} was written back"
        )
    _check_runs_closed(stack, result)


def _check_runs_closed(stack: Any, result: ScenarioResult) -> None:
    """A scheduled run killed by a crash is closed by the next run of its kind; none may stay `running`."""
    from invoice_relay.storage.runs import RunHistory
    from invoice_relay.storage.table import state_table

    runs = RunHistory(state_table(stack.table_name)).recent_runs(CID, 1000)
    left = [r for r in runs if r["status"] == "running" and r["kind"] in ("poll", "export")]
    result.stuck += len(left)
    result.check(not left, f"{len(left)} scheduled runs left running")
