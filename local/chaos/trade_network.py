"""Chaos, flow 5: ClearBooks ↔ ShipServ (upload and download connectors) under faults, crashes and edits.

    result = run_trade_network(documents=300, seed=7, fault_rate=0.2, crash_rate=0.5, critical_rate=0.5)

On a fresh `LocalStack(seed_demo=False)` with one upload connector (the supplier's ClearBooks sales invoices
and credit notes → ShipServ) and one download connector (the buyer's received ShipServ documents →
ClearBooks purchases), both listing in small pages:

1. The supplier's books hold the demo books (35 sales documents, two broken on purpose: a customer without
   a TNID, an invoice without a PO) plus sales invoices — and credit notes linked to them — for the demo
   buyers up to `documents`; the network's buyer holds its 25 demo documents plus received invoices and
   linked credit notes up to `documents`.
2. Rounds: poll both connectors, feed the delivery queue to DeliverFunction, replay dead letters (the
   operator's replay: the SQS dead-letter queue swept, then every filed dead letter back on the queue) —
   with all three sandboxes answering `fault_rate` of their requests with a fault and `crash_rate` of the
   invocations dying at one external call (`ChaosMonkey`). Between rounds: tokens expire now and then
   (ShipServ's, both ClearBooks'), the bookkeeper edits a few invoices already sent and, once the network
   has refused the invoice without a PO, gives it one; a connector whose ClearBooks connection a crash
   lost (a spent single-use refresh token) is reconnected through the connect link and resumed, as an
   operator would after the alarm.
3. When the pipeline is idle (nothing queued, held, waiting or dead, no document unsettled, both polls
   finding nothing new) or after `max_rounds`, faults and crashes stop and quiet rounds run until idle.

A crashed invocation leaves what a dead Lambda leaves: its leases (run out: `expire_leases`) and the
in-progress idempotency records of the deliveries it was making. SQS redelivers a crashed batch only after
the queue's visibility timeout (720 s), long after those records' in-progress expiry (the function's
remaining time, ≤ 120 s); the local event source redelivers at once, so their expiry is brought forward
(`expire_idempotency_locks`) instead of waited for.

The invariants, from the partners' own records and the stack's state:
- upload: every good sales document is on the network exactly once (by `referenceNumber`), its state
  `done`; a credit note names its invoice; the one without a TNID never reached the network and `failed`;
  the one without a PO `failed` before it was fixed, then is on the network once, with its PO, `done`;
  nothing of the supplier's on the network that is not one of its documents;
- download: every received document is booked exactly once in the buyer's books (a bill or a purchase
  credit note by `reference`; no `externalId` twice), marked exported on the network and `done`; no
  supplier created twice; no attachment uploaded twice to a purchase;
- nothing stuck: every document state `done` or `failed`; nothing queued, dead, held or waiting; no poll
  run left `running`;
- no internal error (the scheduled functions' "answer ≥ 500"): no run failed or record delivered with an
  exception nobody expected;
- no secret (ClearBooks' client secret and every token it issued, ShipServ's client secrets, passwords and
  tokens, the stack's others) in a log line, a stored item or object, or a function's answer.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from boto3.dynamodb.conditions import Attr

from invoice_relay.errors import RelayError
from local.chaos.monkey import ChaosMonkey, Crash, expire_leases
from local.chaos.orders import RECONNECT_REASON, depth
from local.chaos.orders import _examples as examples
from local.chaos.report import ScenarioResult

SCENARIO = "flow 5: ClearBooks ↔ ShipServ"
UP, DOWN = "chaos-trade-upload", "chaos-trade-download"
TOKEN_EXPIRY_CHANCE = 0.3  # per round, for each of ShipServ and the two ClearBooks
EDIT_CHANCE = 0.3  # per round: the bookkeeper edits an invoice already on the network
CREDIT_NOTE_EVERY = 6  # of the extra documents, every sixth is a credit note of an earlier extra invoice
QUIET_ROUNDS = 10


def run_trade_network(
    *,
    documents: int,
    seed: int,
    fault_rate: float,
    crash_rate: float,
    critical_rate: float,
    min_rounds: int = 6,
    max_rounds: int = 40,
) -> ScenarioResult:
    """Run the scenario on a fresh local stack (see the module docstring) and return its result."""
    from local.scenarios.stack import LocalStack

    with LocalStack(seed_demo=False) as stack:
        page_size = max(5, documents // 8)  # several pages a side, at every size
        stack.add_upload_connector(UP, source={"page_size": page_size})
        stack.add_download_connector(DOWN, source={"page_size": page_size})
        chaos = TradeNetworkRun(
            stack, documents=documents, seed=seed, crash_rate=crash_rate, critical=critical_rate
        )
        return chaos.run(fault_rate, min_rounds=min_rounds, max_rounds=max_rounds)


class TradeNetworkRun:
    """One run on a stack with both connectors registered (see the module docstring)."""

    def __init__(self, stack: Any, *, documents: int, seed: int, crash_rate: float, critical: float):
        from invoice_relay.storage.held import HeldWork
        from invoice_relay.storage.table import state_table

        self.stack = stack
        self.documents = documents
        self.seed = seed
        self.rng = random.Random(seed)
        self.monkey = ChaosMonkey(crash_rate, critical, seed)
        self.network, self.supplier_books, self.buyer_books = stack.start_trade_network_sandboxes()
        self.sandboxes = (self.network, self.supplier_books, self.buyer_books)
        self.demo = stack.clearbooks_supplier_demo
        self.table = state_table(stack.table_name)
        self.held = HeldWork(self.table)
        self.counts: Counter[str] = Counter()
        self.answers: list[Any] = []  # what the functions returned (searched for secrets)
        self.internal_errors: list[str] = []
        self.polled: dict[str, dict[str, Any]] = {}  # connector → its last poll's answer
        self.fixed_po: str | None = None  # the PO given to the invoice that had none
        self.failed_before_fix = False

    # -- the run -------------------------------------------------------------------------------------------

    def run(self, fault_rate: float, *, min_rounds: int, max_rounds: int) -> ScenarioResult:
        started, clock = time.time(), time.monotonic()
        extra_sales = add_sales_documents(self.supplier_books, self.demo, self.documents, self.rng)
        extra_received = add_received_documents(self.network, self.documents, self.rng)
        faults = [s.set_random_faults(fault_rate, self.seed + n) for n, s in enumerate(self.sandboxes)]
        with self.monkey.active():
            rounds = self.rounds(max_rounds, chaos=True, at_least=min_rounds)
            for sandbox in self.sandboxes:
                sandbox.set_random_faults(None)
            quiet = self.rounds(QUIET_ROUNDS, chaos=False)
        result = ScenarioResult(SCENARIO)
        result.documents = len(self.sales_documents()) + len(self.received())
        injected = Counter[str]()
        for fault in faults:
            injected.update(fault.injected if fault else {})
        result.faults = sum(injected.values())
        result.crashes = self.monkey.total
        self.check(result)
        self.check_secrets(result, since=started)
        result.details.update(
            {
                "sales documents added": extra_sales,
                "received documents added": extra_received,
                "rounds with chaos": rounds,
                "quiet rounds": quiet,
                **{name: count for name, count in sorted(self.counts.items())},
                "faults": dict(injected),
                "crashes": dict(self.monkey.crashes),
                "seconds": round(time.monotonic() - clock, 1),
            }
        )
        return result

    def rounds(self, limit: int, *, chaos: bool, at_least: int = 1) -> int:
        """Rounds until the pipeline is idle (at least `at_least` with chaos: idle rounds can crash too)."""
        for number in range(1, limit + 1):
            with self.monkey.enabled(chaos):
                for connector_id in (UP, DOWN):
                    self.poll(connector_id)
                self.drain()
            self.counts["dead letters replayed"] += self.replay_dead_letters()
            self.reconnect_if_needed()
            self.fix_missing_po()
            if chaos:
                self.between_rounds()
            if number >= at_least and self.idle():
                return number
        return limit

    def poll(self, connector_id: str) -> None:
        from invoice_relay.errors import TransientError

        try:
            answer = self.stack.invoke("PollFunction", {"connector_id": connector_id})
        except Crash:
            self.after_crash()
            self.polled.pop(connector_id, None)
            return
        except TransientError:  # a partner or AWS failed: the schedule runs it again
            self.polled.pop(connector_id, None)
            return
        except Exception as exc:
            self.internal_errors.append(f"poll of {connector_id}: {type(exc).__name__}: {exc}")
            self.polled.pop(connector_id, None)
            return
        self.answers.append(answer)
        self.polled[connector_id] = answer
        self.counts["documents queued by polls"] += answer.get("counts", {}).get("queued", 0)

    def drain(self) -> None:
        """Feed the delivery queue to DeliverFunction (as `LocalStack.drain_delivery_queue`), a crashed
        batch leaving its leases and idempotency records to run out before SQS would redeliver it."""
        from local.runtime import event_source
        from local.runtime.platform import sqs_batch_size

        def deliver(event: dict[str, Any]) -> dict[str, Any]:
            try:
                answer = self.stack.invoke("DeliverFunction", event)
            except Crash:
                self.after_crash()
                raise
            self.answers.append(answer)
            return answer

        event_source.drain(
            self.stack.delivery_queue_url,
            deliver,
            batch_size=sqs_batch_size(self.stack.template, "DeliverFunction"),
        )

    def after_crash(self) -> None:
        """The function died: what it held runs out (no other invocation is alive: they run one at a time)."""
        for connector_id in (UP, DOWN):
            expire_leases(self.stack.table_name, connector_id)
        expire_idempotency_locks(self.stack.physical["IdempotencyTable"])

    # -- the operator and the bookkeeper ------------------------------------------------------------------

    def replay_dead_letters(self) -> int:
        """The operator's replay of every dead letter (after sweeping the SQS dead-letter queue)."""
        return sum(self.history().replay(connector_id, None) for connector_id in (UP, DOWN))

    def history(self) -> Any:
        from invoice_relay.control.history import ConnectorHistory
        from invoice_relay.storage.objects import DocumentBucket

        return ConnectorHistory(
            self.table,
            DocumentBucket(self.stack.bucket_name),
            dead_letter_queue_url=self.stack.physical["DeliveryDeadLetterQueue"],
            delivery_queue_url=self.stack.delivery_queue_url,
        )

    def reconnect_if_needed(self) -> None:
        """A connector whose ClearBooks connection was lost (a crash right after a refresh spent the
        single-use refresh token) says so in its held work or its poll: reconnect it, resume it if paused."""
        for connector_id, books in ((UP, self.supplier_books), (DOWN, self.buyer_books)):
            reasons = [item.reason for item in self.held.items(connector_id)]
            reasons.append(str(self.polled.get(connector_id, {}).get("reason") or ""))
            paused = not self.config(connector_id).active
            if paused or any(RECONNECT_REASON.search(reason) for reason in reasons):
                try:
                    self.reconnect(connector_id, books, resume=paused)
                except RelayError:  # ClearBooks faulted the code exchange: the operator tries again later
                    self.counts["reconnects failed"] += 1

    def config(self, connector_id: str) -> Any:
        from invoice_relay.pipeline.services import services

        return services().connectors.get(connector_id)

    def reconnect(self, connector_id: str, books: Any, *, resume: bool) -> None:
        """The connect link → ClearBooks' consent ("Allow") → the callback (which releases held work)."""
        from invoice_relay.connector import ConnectorStatus
        from invoice_relay.pipeline.oauth_connect import finish_connection, start_connection
        from invoice_relay.pipeline.services import services
        from local.scenarios.trade_network import clearbooks_redirect_uri

        if resume:
            config = self.config(connector_id)
            self.counts["connectors resumed"] += 1
            services().connectors.put(config.model_copy(update={"status": ConnectorStatus.ACTIVE}))
        [state] = parse_qs(urlsplit(start_connection(services(), connector_id)).query)["state"]
        [code] = parse_qs(urlsplit(books.authorize(clearbooks_redirect_uri(connector_id))).query)["code"]
        finish_connection(services(), connector_id, code=code, state=state)
        self.counts["reconnects"] += 1

    def fix_missing_po(self) -> None:
        """Once the network refused the invoice without a PO (its state says so), the bookkeeper adds one."""
        from invoice_relay.storage.state import DocumentState

        if self.fixed_po is not None:
            return
        invoice_id = self.demo.broken["missing_po"]
        record = self.record(UP, self.sales_number(invoice_id))
        if record is not None and record.state is DocumentState.FAILED:
            self.failed_before_fix = True
            self.fixed_po = f"PO-FIXED-{self.seed}"
            self.supplier_books.touch(invoice_id, reference=self.fixed_po)

    def between_rounds(self) -> None:
        if self.rng.random() < TOKEN_EXPIRY_CHANCE:
            self.network.expire_tokens()
            self.counts["ShipServ token expiries"] += 1
        for books in (self.supplier_books, self.buyer_books):
            if self.rng.random() < TOKEN_EXPIRY_CHANCE:
                books.expire_access_tokens()
                self.counts["ClearBooks token expiries"] += 1
        if self.rng.random() < EDIT_CHANCE:
            sent = {d["referenceNumber"] for d in self.sent()}
            candidates = [d for d in self.sales_documents() if d["formattedDocumentNumber"] in sent]
            if candidates:
                document = self.rng.choice(candidates)
                self.supplier_books.touch(
                    document["id"], description=f"edited after it was sent ({self.seed})"
                )
                self.counts["sent documents edited"] += 1

    # -- settling ------------------------------------------------------------------------------------------

    def idle(self) -> bool:
        """Nothing left to do: no work anywhere, every document settled, both polls found nothing new, and
        the invoice without a PO was fixed."""
        return (
            self.fixed_po is not None
            and all(self.polled.get(c, {}).get("status") == "succeeded" for c in (UP, DOWN))
            and not any(self.polled[c].get("counts", {}).get("queued", 0) for c in (UP, DOWN))
            and not any(self.left().values())
        )

    def left(self) -> dict[str, int]:
        """What is still to be done, by kind."""
        from invoice_relay.storage.dead_letters import DeadLetters
        from invoice_relay.storage.state import DocumentStates

        states, letters = DocumentStates(self.table), DeadLetters(self.table)
        connectors = (UP, DOWN)
        return {
            "unsettled documents": sum(len(states.unsettled(c)) for c in connectors),
            "queued messages": depth(self.stack.delivery_queue_url),
            "dead-letter queue messages": depth(self.stack.physical["DeliveryDeadLetterQueue"]),
            "dead letters": sum(len(letters.items(c)) for c in connectors),
            "held work items": sum(self.held.count(c) for c in connectors),
            "waiting work items": sum(self.held.count_waiting(c) for c in connectors),
        }

    # -- records -------------------------------------------------------------------------------------------

    def sales_documents(self) -> list[dict[str, Any]]:
        return self.supplier_books.sales_invoices() + self.supplier_books.sales_credit_notes()

    def sales_number(self, document_id: int) -> str:
        return self.supplier_books.sales_document(document_id)["formattedDocumentNumber"]

    def sent(self) -> list[dict[str, Any]]:
        """What the demo supplier sent on the network."""
        return self.network.documents(supplier_tnid=self.network.demo.supplier_tnid)

    def received(self) -> list[dict[str, Any]]:
        return self.network.documents(buyer_tnid=self.network.demo.buyer_tnid)

    def records(self, connector_id: str) -> dict[str, Any]:
        """Every document state of a connector by number (upload) and by source id (both)."""
        from boto3.dynamodb.conditions import Key

        from invoice_relay.storage import keys
        from invoice_relay.storage.state import DocumentRecord
        from invoice_relay.storage.table import query_all

        items = query_all(self.table, KeyConditionExpression=Key("PK").eq(keys.document_pk(connector_id)))
        found: dict[str, Any] = {}
        for item in items:
            if "state" in item:
                record = DocumentRecord.from_item(item)
                found[record.source_id] = record
                if record.number:
                    found.setdefault(record.number, record)
        return found

    def record(self, connector_id: str, key: str) -> Any:
        return self.records(connector_id).get(key)

    # -- the invariants ------------------------------------------------------------------------------------

    def check(self, result: ScenarioResult) -> None:
        self.check_upload(result)
        self.check_download(result)
        self.check_settled(result)
        result.server_errors += len(self.internal_errors)
        result.check(
            not self.internal_errors,
            f"{len(self.internal_errors)} internal error(s): {examples(self.internal_errors)}",
        )

    def check_upload(self, result: ScenarioResult) -> None:
        from invoice_relay.storage.state import DocumentState

        documents = {d["formattedDocumentNumber"]: d for d in self.sales_documents()}
        by_id = {d["id"]: d for d in documents.values()}
        network = Counter(d["referenceNumber"] for d in self.sent())
        on_network = {d["referenceNumber"]: d for d in self.sent()}
        states = self.records(UP)
        no_tnid = by_id[self.demo.broken["customer_without_tnid"]]["formattedDocumentNumber"]
        no_po = by_id[self.demo.broken["missing_po"]]["formattedDocumentNumber"]
        missing, twice, wrong_state, unlinked = [], [], [], []
        for number, document in documents.items():
            if number == no_tnid or (number == no_po and self.fixed_po is None):
                continue
            count, record = network.get(number, 0), states.get(number)
            if count == 0:
                missing.append(number)
            twice += [number] * max(0, count - 1)
            if record is None or record.state is not DocumentState.DONE:
                wrong_state.append(f"{number} ({record.state if record else 'no state'})")
            linked = document.get("linkedInvoiceId")
            if (
                linked
                and count
                and on_network[number].get("linkedInvoiceReferenceNumber")
                != (by_id[linked]["formattedDocumentNumber"])
            ):
                unlinked.append(number)
        strays = sorted(set(network) - set(documents))
        result.lost += len(missing)
        result.duplicates += len(twice) + sum(network[s] for s in strays)
        result.check(not missing, f"{len(missing)} sales document(s) not on the network: {examples(missing)}")
        result.check(not twice, f"{len(twice)} sales document(s) sent more than once: {examples(twice)}")
        result.check(not strays, f"on the network but no sales document of ours: {examples(strays)}")
        result.check(not wrong_state, f"sent documents not done: {examples(wrong_state)}")
        result.check(not unlinked, f"credit notes not linked to their invoice: {examples(unlinked)}")
        record = states.get(no_tnid)
        result.check(network.get(no_tnid, 0) == 0, f"{no_tnid} (customer without a TNID) reached the network")
        result.check(
            record is not None and record.state is DocumentState.FAILED, f"{no_tnid} (no TNID) did not fail"
        )
        result.check(self.failed_before_fix, f"{no_po} (no PO) never failed, so it was never fixed")
        if self.fixed_po is not None:
            sent_with = on_network.get(no_po, {}).get("purchaseOrderNumber")
            result.check(sent_with == self.fixed_po, f"{no_po} (fixed) went with PO {sent_with!r}")

    def check_download(self, result: ScenarioResult) -> None:
        from invoice_relay.storage.state import DocumentState

        bills, notes = self.buyer_books.bills(), self.buyer_books.purchase_credit_notes()
        booked = {
            "Invoice": Counter(b["reference"] for b in bills),
            "CreditNote": Counter(n["reference"] for n in notes),
        }
        states = self.records(DOWN)
        missing, twice, unexported, wrong_state = [], [], [], []
        received = self.received()
        for document in received:
            number, count = (
                document["referenceNumber"],
                booked[document["type"]].pop(document["referenceNumber"], 0),
            )
            if count == 0:
                missing.append(number)
            twice += [number] * max(0, count - 1)
            if not document["exported"]:
                unexported.append(number)
            record = states.get(document["id"])
            if record is None or record.state is not DocumentState.DONE:
                wrong_state.append(f"{number} ({record.state if record else 'no state'})")
        strays = [f"{reference} ×{n}" for ledger in booked.values() for reference, n in ledger.items()]
        markers = Counter(p.get("externalId") for p in bills + notes)
        suppliers = Counter(s["name"] for s in self.buyer_books.suppliers())
        attachments = Counter((a["documentId"], a["name"]) for a in self.buyer_books.attachments())
        repeats = {
            "externalId": [m for m, n in markers.items() if n > 1],
            "supplier": [name for name, n in suppliers.items() if n > 1],
            "attachment": [f"{doc} {name}" for (doc, name), n in attachments.items() if n > 1],
        }
        result.lost += len(missing)
        result.duplicates += len(twice) + len(strays) + sum(len(r) for r in repeats.values())
        result.check(not missing, f"{len(missing)} received document(s) not booked: {examples(missing)}")
        result.check(not twice, f"{len(twice)} received document(s) booked twice: {examples(twice)}")
        result.check(not strays, f"purchases of no received document: {examples(strays)}")
        result.check(
            not unexported, f"{len(unexported)} booked but not marked exported: {examples(unexported)}"
        )
        result.check(not wrong_state, f"received documents not done: {examples(wrong_state)}")
        for what, found in repeats.items():
            result.check(not found, f"{len(found)} {what}(s) created more than once: {examples(found)}")

    def check_settled(self, result: ScenarioResult) -> None:
        left = self.left()
        left["poll runs left running"] = 0
        for connector_id in (UP, DOWN):
            runs = self.runs(connector_id)
            left["poll runs left running"] += sum(
                1 for r in runs if r["status"] == "running" and r["kind"] == "poll"
            )
            self.internal_errors += [
                f"{connector_id} {record.get('event')} {record.get('id')}: {record.get('detail')}"
                for r in runs
                if r["kind"] == "deliver"
                for record in r["details"].get("records", [])
                if record.get("status") in ("error", "malformed")
            ]
        result.stuck += sum(left.values())
        for what, count in left.items():
            result.check(count == 0, f"{count} {what} left after settling")
        held = sorted({item.reason for c in (UP, DOWN) for item in self.held.items(c)})
        result.check(not held, f"held for: {examples(held)}")

    def runs(self, connector_id: str) -> list[dict[str, Any]]:
        """Every run of the connector, its details read."""
        from boto3.dynamodb.conditions import Key

        from invoice_relay.storage import keys
        from invoice_relay.storage.table import query_all

        items = query_all(
            self.table,
            KeyConditionExpression=Key("PK").eq(keys.connector_pk(connector_id))
            & Key("SK").begins_with("RUN#"),
        )
        return [{**i, "details": json.loads(i.get("details", "{}"))} for i in items]

    def check_secrets(self, result: ScenarioResult, *, since: float) -> None:
        from local.chaos.secrets import find_secrets
        from local.chaos.stack_secrets import stack_secrets

        secrets = stack_secrets(self.stack)  # the flow-5 sandboxes' included
        found = find_secrets(self.stack, secrets, responses=self.answers, since=since)
        result.secrets_found += len(found)
        result.violations.extend(f"secret found: {where}" for where in found)
        result.details["secrets searched"] = len(set(secrets))


# -- the documents added to the demo ------------------------------------------------------------------------


def add_sales_documents(books: Any, demo: Any, documents: int, rng: random.Random) -> int:
    """Sales invoices for the demo buyers, every `CREDIT_NOTE_EVERY`th a credit note linked to an earlier
    one, until the supplier's books hold `documents` sales documents. Each copies the currency and VAT of a
    good demo invoice of its customer. Returns how many were added."""
    existing = len(books.sales_invoices()) + len(books.sales_credit_notes())
    patterns = []
    for customer in demo.customer_by_tnid.values():
        invoice = next(
            d
            for d in books.sales_invoices()
            if d["customerId"] == customer
            and d["id"] not in demo.broken_ids
            and all(line["vatRateKey"] != "Manual" for line in d["lineItems"])
        )
        patterns.append(invoice)
    today = dt.date.today()
    invoices: list[dict[str, Any]] = []
    for n in range(max(0, documents - existing)):
        if n % CREDIT_NOTE_EVERY == CREDIT_NOTE_EVERY - 1 and invoices:
            invoice = invoices.pop(rng.randrange(len(invoices)))  # one credit note per invoice at most
            first = invoice["lineItems"][0]
            books.add_sales_credit_note(
                invoice["customerId"],
                [_sales_line(first, f"Returned: {first['description']}", 1)],
                date=today.isoformat(),
                linked_invoice_id=invoice["id"],
                reference=invoice["reference"],
                description=f"Credit for {invoice['formattedDocumentNumber']}",
                pdf=n % 2 == 0,
                **_money_context(invoice),
            )
            continue
        pattern = patterns[n % len(patterns)]
        picks = rng.sample(pattern["lineItems"], rng.randint(1, len(pattern["lineItems"])))
        invoice = books.add_sales_invoice(
            pattern["customerId"],
            [_sales_line(line, line["description"], rng.randint(1, 9)) for line in picks],
            date=today.isoformat(),
            date_due=(today + dt.timedelta(days=30)).isoformat(),
            reference=f"PO-X{n + 1:05d}",
            description=f"Ship supplies, extra order {n + 1}",
            pdf=n % 3 != 2,
            **_money_context(pattern),
        )
        invoices.append(invoice)
    return max(0, documents - existing)


def _sales_line(line: dict[str, Any], description: str, quantity: int) -> dict[str, Any]:
    return {
        "description": description,
        "unitPrice": str(line["unitPrice"]),
        "quantity": quantity,
        "accountCode": line["accountCode"],
        "vatRateKey": line["vatRateKey"],
    }


def _money_context(document: dict[str, Any]) -> dict[str, Any]:
    keys = ("vatTreatment", "currency", "exchangeRate")
    return {k: str(document[k]) if k == "exchangeRate" else document[k] for k in keys if document.get(k)}


def add_received_documents(network: Any, documents: int, rng: random.Random) -> int:
    """Invoices from the demo senders to the demo buyer, every `CREDIT_NOTE_EVERY`th a credit note of an
    earlier one (same sender, PO, vessel, currency), some with a PDF, until the buyer has received
    `documents`. Returns how many were added."""
    from local.sandboxes.shipserv import DEMO_SENDERS, DEMO_VESSELS, LineSpec, demo_pdf

    buyer = network.demo.buyer_tnid
    existing = len(network.documents(buyer_tnid=buyer))
    invoices: list[dict[str, Any]] = []
    for n in range(max(0, documents - existing)):
        files = []
        if n % CREDIT_NOTE_EVERY == CREDIT_NOTE_EVERY - 1 and invoices:
            invoice = invoices.pop(rng.randrange(len(invoices)))
            line = invoice["lineItems"][0]
            reference = f"CN-{invoice['referenceNumber']}"
            if n % 2 == 0:
                files.append((f"{reference}.pdf", demo_pdf(f"Credit note {reference}"), "Invoice"))
            network.add_received_document(
                buyer_tnid=buyer,
                supplier_tnid=invoice["supplierTnId"],
                reference_number=reference,
                doc_type="CreditNote",
                lines=[
                    LineSpec(
                        f"Credit: {line['description']}",
                        "1",
                        line["unitPrice"],
                        line["taxRate"],
                        line["partCode"],
                        line["unitOfMeasure"],
                    )
                ],
                purchase_order_number=invoice["purchaseOrderNumber"],
                currency=invoice["currency"],
                vessel_imo_number=invoice["vesselImoNumber"],
                vessel_name=invoice["vesselName"],
                linked_invoice_id=invoice["id"],
                attachments=files,
            )
            continue
        tnid, name, prefix, currency, catalogue = DEMO_SENDERS[n % len(DEMO_SENDERS)]
        imo, vessel = rng.choice(DEMO_VESSELS)
        picks = rng.sample(catalogue, rng.randint(1, min(3, len(catalogue))))
        reference = f"{prefix}-X{n + 1:05d}"
        if n % 3 == 0:
            files.append((f"{reference}.pdf", demo_pdf(f"{name} - Invoice {reference}"), "Invoice"))
        invoices.append(
            network.add_received_document(
                buyer_tnid=buyer,
                supplier_tnid=tnid,
                reference_number=reference,
                lines=[
                    LineSpec(text, str(rng.randint(1, 6)), price, rate, code, unit)
                    for code, text, price, unit, rate in picks
                ],
                purchase_order_number=f"PO-BB-X{n + 1:05d}",
                currency=currency,
                due_date=(dt.date.today() + dt.timedelta(days=30)).isoformat(),
                payment_terms="30 days net",
                vessel_imo_number=imo,
                vessel_name=vessel,
                attachments=files,
            )
        )
    return max(0, documents - existing)


# -- what a crash leaves, secrets ---------------------------------------------------------------------------


def expire_idempotency_locks(table_name: str) -> int:
    """Let the in-progress idempotency records run out, as the passing of their in-progress expiry (the
    function's remaining time) would before SQS redelivers a crashed batch (see the module docstring)."""
    table = boto3.resource("dynamodb").Table(table_name)
    scan: dict[str, Any] = {"FilterExpression": Attr("status").eq("INPROGRESS")}
    expired = 0
    while True:
        page = table.scan(**scan)
        for item in page.get("Items", []):
            table.update_item(
                Key={"id": item["id"]},
                UpdateExpression="SET in_progress_expiration = :past",
                ExpressionAttributeValues={":past": 0},
            )
            expired += 1
        if "LastEvaluatedKey" not in page:
            return expired
        scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
