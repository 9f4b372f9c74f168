"""Trade-network benchmark (flow 5): ClearBooks ↔ ShipServ through the real handlers, against a bare loop
making the same partner calls, side by side on the same sandboxes.

For each action, N documents (default 500, `--quick` 60, `--documents N`):

- **upload** (a supplier's sales invoices → the trade network): the supplier's ClearBooks books are the
  sandbox's demo books (their customers: the two network buyers, TNID in the custom field `TNID`) plus N
  generated approved sales invoices — two buyers (GBP under UK VAT, USD under GE), one to four lines, a PO
  number each, a PDF for two in three — modified one minute apart from 2 November 2026. The connector
  starts at that day (`changed_since`), so the demo's own October documents (two broken on purpose) are not
  listed by either side;
- **download** (a buyer's received documents → purchase bills and credit notes): the sandbox network's demo
  buyer receives N generated documents from the three demo senders (one in ten a credit note of an earlier
  invoice of the same sender, a PDF on one in four), after its 25 demo documents are marked exported; the
  buyer's books are the demo books (one sender known by TNID, one by name, one created on first use).

Each pass starts from freshly seeded sandboxes (the network's, and the books the action writes to) and,
for the pipeline, a connector of its own (its own state, OAuth connection and secrets):

- `pipeline`: one `PollFunction` invocation and the delivery queue drained into `DeliverFunction` as its
  SQS event source would (`LocalStack.drain_delivery_queue`, the template's batch size), through the local
  runner (real handlers, the template's environment and timeouts), timed from the poll's start to the
  queue's end;
- `baseline`: a plain Python loop with `requests`, no AWS, no state. Upload: the network token, the sales
  invoice listing page by page (100 a page, as the connector), the VAT rates once, each customer once
  (cached), each invoice's PDF, then the network search by reference number and the send (the body built
  by the partner package's own mapping: `clearbooks.mapping.sales_document_to_document` →
  `shipserv.mapping.send_body`, with the pipeline's idempotency key). Download: the network token, the
  received listing page by page (50 a page, as the connector), each document and its attachments, the
  supplier found by TNID then name or created (once per sender, cached), the VAT rates once, the bill or
  credit note (`clearbooks.mapping.purchase_payload`), its attachments, mark-as-exported.
  The one-time OAuth consent of the ClearBooks app is set-up on both sides (the connector's `connect`, the
  loop's code exchange), before the clock starts.

The sides alternate (`--rounds`, default 2: baseline then pipeline, then pipeline then baseline, ...) and
the median of each side's passes is reported. Partner calls are the sandboxes' request logs of a pass.
After the timed rounds an untimed, counted pass of the pipeline measures DynamoDB write units
(`aws_usage.AwsUsage` computes them by DynamoDB's sizing rules, which costs extra reads, hence a pass of
its own); AWS calls are those made inside the functions (a batch call once), plus the event source's
receive/delete, shown apart. `cost_model.estimate` turns the counted pass, the timed passes' mean
GB-seconds and the functions' log bytes into dollars per million documents (bench/prices.json).

ClearBooks pacing: the connector paces its ClearBooks calls (`requests_per_second`, default 5, ClearBooks'
documented sustained limit). Here both connectors run at the configuration's maximum, 100 a second, and
the sandbox has no rate limit, so the loop is not paced either: the figures measure the code, not the
throttle. At 5 a second both sides would be bound by it (see the printed ClearBooks calls per document).

Moto runs in a process of its own (as bench_pipeline.py: AWS is a service of its own); the sandboxes, the
functions and the loop share this process.

    python bench/bench_trade_network.py               # 500 documents per action
    python bench/bench_trade_network.py --quick       # 60: a smoke run
    python bench/bench_trade_network.py --documents 200 --rounds 3 --actions upload

No timing goal: the figures are printed. Exit status 1 when a pass (either side) did not deliver every
document exactly once — each generated invoice on the network once, each received document booked once
and marked exported — or a pipeline run did not succeed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
for _path in (str(BENCH_DIR), str(REPO_ROOT), str(REPO_ROOT / "shared")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

DEFAULT_DOCUMENTS = 500
QUICK_DOCUMENTS = 60
DEFAULT_ROUNDS = 2
ACTIONS = ("upload", "download")
CLEARBOOKS_REQUESTS_PER_SECOND = 100  # the connector configuration's maximum (see the module docstring)
UPLOAD_PAGE_SIZE = 100  # ClearBooksConfig.page_size's default
DOWNLOAD_PAGE_SIZE = 50  # ShipServConfig.page_size's default
UPLOAD_SINCE = dt.date(2026, 11, 2)  # after every document of the demo books (October 2026)
DOCUMENTS_START = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
SEED = 5
BARE_REDIRECT_URI = "http://127.0.0.1:3000/bench/bare-loop/callback"
TIMEOUT = 30
PDF = "application/pdf"

# Generated sales invoices: (buyer TNID, currency, VAT treatment, exchange rate, VAT rate key).
UPLOAD_BUYERS = (
    ("100101", "GBP", "UK", None, "20"),
    ("100102", "USD", "GE", "0.7850", "0"),
)
UPLOAD_PRODUCTS = (
    ("Fuel filter element, main engine", "48.75"),
    ("Hydraulic hose assembly 1/2in x 2m", "126.40"),
    ("Fresh water pump seal kit", "89.90"),
    ("Mooring rope 40mm x 220m", "1450.00"),
    ("Immersion suit, adult universal", "235.00"),
    ("Paint, antifouling 20l", "310.20"),
)


# -- figures ------------------------------------------------------------------------------------------------


@dataclass
class Pass:
    """One side's run over N documents."""

    side: str  # "pipeline" | "baseline"
    seconds: float
    partner: Counter[str]  # partner calls by endpoint (the sandboxes' request logs)
    partner_errors: Counter[str]  # answers >= 400 by status and endpoint ("404 clearbooks get ...")
    problems: list[str]  # exactly-once violations (empty: every document delivered once)
    durations: dict[str, list[float]] = field(default_factory=dict)  # pipeline: seconds per invocation
    aws_inside: Counter[tuple[str, str]] = field(default_factory=Counter)  # pipeline: calls in functions
    aws_poller: Counter[tuple[str, str]] = field(default_factory=Counter)  # the SQS event source's
    summaries: list[str] = field(default_factory=list)  # pipeline: the poll's status and message


@dataclass
class ActionResult:
    action: str
    documents: int
    baseline: list[Pass]
    pipeline: list[Pass]
    counted: Pass
    write_units: Counter[str]
    read_units: float
    cost: Any

    @staticmethod
    def _median_rate(passes: list[Pass], documents: int) -> float:
        return documents / statistics.median(p.seconds for p in passes)

    @property
    def baseline_rate(self) -> float:
        return self._median_rate(self.baseline, self.documents)

    @property
    def pipeline_rate(self) -> float:
        return self._median_rate(self.pipeline, self.documents)

    @property
    def ratio(self) -> float:
        return self.pipeline_rate / self.baseline_rate

    def partner_per_document(self, side: str) -> float:
        passes = self.pipeline if side == "pipeline" else self.baseline
        return statistics.median(sum(p.partner.values()) for p in passes) / self.documents

    @property
    def aws_calls_per_document(self) -> float:
        return sum(self.counted.aws_inside.values()) / self.documents

    @property
    def write_units_per_document(self) -> float:
        return sum(self.write_units.values()) / self.documents

    @property
    def problems(self) -> list[str]:
        return [
            f"{p.side}: {problem}"
            for p in [*self.baseline, *self.pipeline, self.counted]
            for problem in p.problems
        ]


# -- documents ----------------------------------------------------------------------------------------------


def seed_sales_invoices(books: Any, documents: int) -> set[str]:
    """The supplier's demo books plus `documents` approved sales invoices (see the module docstring); returns
    the generated invoices' numbers."""
    books.reset()
    demo = books.seed_demo_data()
    rng = random.Random(SEED)
    numbers = set()
    for index in range(documents):
        tnid, currency, treatment, rate, vat_key = UPLOAD_BUYERS[index % 3 == 2]
        moment = DOCUMENTS_START + dt.timedelta(minutes=index)
        lines = [
            {
                "description": d,
                "unitPrice": p,
                "quantity": rng.randint(1, 12),
                "accountCode": 4000,
                "vatRateKey": vat_key,
            }
            for d, p in rng.sample(UPLOAD_PRODUCTS, k=1 + index % 4)
        ]
        invoice = books.add_sales_invoice(
            demo.customer_by_tnid[tnid],
            lines,
            date=moment.date().isoformat(),
            date_due=(moment.date() + dt.timedelta(days=30)).isoformat(),
            reference=f"PO-{tnid[-1]}{70000 + index}",
            description=f"Ship supplies, bench order {index + 1}",
            vatTreatment=treatment,
            currency=currency,
            pdf=index % 3 != 1,
            created_at=moment,
            modified_at=moment,
            **({"exchangeRate": rate} if rate else {}),
        )
        numbers.add(invoice["formattedDocumentNumber"])
    return numbers


def seed_received_documents(network: Any, documents: int) -> list[dict[str, Any]]:
    """The network's demo (its 25 received documents marked exported: not part of the run) plus `documents`
    documents received by the demo buyer (see the module docstring); returns them."""
    from local.sandboxes.shipserv import DEMO_SENDERS, DEMO_VESSELS, LineSpec, demo_pdf

    demo = network.seed_demo_data()
    for document_id in demo.received_ids:
        network.mark_exported(document_id)
    rng = random.Random(SEED)
    invoices: dict[int, list[dict[str, Any]]] = {}
    received = []
    for index in range(documents):
        tnid, name, prefix, currency, catalogue = DEMO_SENDERS[index % len(DEMO_SENDERS)]
        moment = DOCUMENTS_START + dt.timedelta(minutes=index)
        earlier = invoices.get(tnid, [])
        imo, vessel = DEMO_VESSELS[index % 2]
        if index % 10 == 9 and earlier:  # a credit note for one line of an earlier invoice of this sender
            invoice = earlier.pop(rng.randrange(len(earlier)))
            line = invoice["lineItems"][0]
            spec = LineSpec(f"Credit: {line['description']}", "1", line["unitPrice"], line["taxRate"],
                            line["partCode"], line["unitOfMeasure"])  # fmt: skip
            document = network.add_received_document(
                buyer_tnid=demo.buyer_tnid,
                supplier_tnid=tnid,
                reference_number=f"CN-{invoice['referenceNumber']}",
                doc_type="CreditNote",
                lines=[spec],
                purchase_order_number=invoice["purchaseOrderNumber"],
                currency=currency,
                invoice_date=moment.date().isoformat(),
                vessel_imo_number=imo,
                vessel_name=vessel,
                linked_invoice_id=invoice["id"],
                submitted=moment,
            )
        else:
            reference = f"{prefix}-{30000 + index}"
            specs = [
                LineSpec(description, str(rng.randint(1, 12)), price, rate, code, unit)
                for code, description, price, unit, rate in rng.sample(
                    catalogue, rng.randint(1, min(3, len(catalogue)))
                )
            ]
            files = []
            if index % 4 == 0:
                files.append(
                    (f"{reference}.pdf", demo_pdf(f"{name} - Invoice {reference}", [vessel]), "Invoice")
                )
            document = network.add_received_document(
                buyer_tnid=demo.buyer_tnid,
                supplier_tnid=tnid,
                reference_number=reference,
                lines=specs,
                purchase_order_number=f"PO-BB-{rng.randint(1000, 9999)}",
                currency=currency,
                invoice_date=moment.date().isoformat(),
                due_date=(moment.date() + dt.timedelta(days=30)).isoformat(),
                payment_terms="30 days net",
                vessel_imo_number=imo,
                vessel_name=vessel,
                attachments=files,
                submitted=moment,
            )
            invoices.setdefault(tnid, []).append(document)
        received.append(document)
    return received


# -- exactly once -------------------------------------------------------------------------------------------


def _once(expected: set[str], found: Counter[str], what: str) -> list[str]:
    problems = []
    missing = expected - set(found)
    twice = {k: n for k, n in found.items() if n > 1}
    extra = set(found) - expected
    if missing:
        problems.append(f"{len(missing)} of {len(expected)} {what} missing (e.g. {sorted(missing)[:3]})")
    if twice:
        problems.append(f"{len(twice)} {what} delivered more than once (e.g. {sorted(twice.items())[:3]})")
    if extra:
        problems.append(f"{len(extra)} unexpected {what} (e.g. {sorted(extra)[:3]})")
    return problems


def upload_problems(stack: Any, numbers: set[str]) -> list[str]:
    """Each generated invoice on the network once, from the demo supplier, with its PDF when it has one."""
    network = stack.shipserv
    sent = network.documents(supplier_tnid=network.demo.supplier_tnid)
    problems = _once(numbers, Counter(d["referenceNumber"] for d in sent), "invoices")
    books = stack.clearbooks_supplier
    with_pdf = {i["formattedDocumentNumber"] for i in books.sales_invoices() if books.pdf(i["id"])} & numbers
    without = [
        d["referenceNumber"] for d in sent if d["referenceNumber"] in with_pdf and not d["attachments"]
    ]
    if without:
        problems.append(f"{len(without)} invoices sent without their PDF (e.g. {without[:3]})")
    return problems


def download_problems(stack: Any, received: list[dict[str, Any]]) -> list[str]:
    """Each received document booked once (by its number) and marked exported on the network; attachments
    carried over."""
    books, network = stack.clearbooks_buyer, stack.shipserv
    booked = books.bills() + books.purchase_credit_notes()
    problems = _once(
        {d["referenceNumber"] for d in received}, Counter(p["reference"] for p in booked), "documents"
    )
    not_exported = [d["referenceNumber"] for d in received if not network.document(d["id"])["exported"]]
    if not_exported:
        problems.append(f"{len(not_exported)} documents not marked exported (e.g. {not_exported[:3]})")
    files = sum(len(d["attachments"]) for d in received)
    if len(books.attachments()) != files:
        problems.append(f"{len(books.attachments())} attachments in the books for {files} received")
    return problems


# -- partner calls ------------------------------------------------------------------------------------------

_ENDPOINTS: tuple[tuple[str, str, str, str | None], ...] = (  # label, method, path regex, query parameter
    ("token", "POST", r"/oauth/token", None),
    ("list sales invoices", "GET", r"/v1/accounting/sales/invoices", None),
    ("list sales credit notes", "GET", r"/v1/accounting/sales/creditNotes", None),
    ("get sales document PDF", "GET", r"/v1/accounting/sales/\w+/\d+/pdf", None),
    ("get sales document", "GET", r"/v1/accounting/sales/\w+/\d+", None),
    ("get customer", "GET", r"/v1/accounting/customers/\d+", None),
    ("VAT rates", "GET", r"/v1/accounting/vatRates/\w+", None),
    ("find supplier", "GET", r"/v1/accounting/suppliers", None),
    ("create supplier", "POST", r"/v1/accounting/suppliers", None),
    ("list attachments", "GET", r"/v1/accounting/purchases/\w+/\d+/attachments", None),
    ("upload attachment", "POST", r"/v1/accounting/purchases/\w+/\d+/attachments/.+", None),
    ("find purchase by externalId", "GET", r"/v1/accounting/purchases/\w+", "externalId"),
    ("create purchase", "POST", r"/v1/accounting/purchases/\w+", None),
    ("token", "POST", r"/authentication/oauth2/token", None),
    ("search sent by reference", "GET", r"/invoicing/documents", "referenceNumber"),
    ("read receipts (sent, status Read)", "GET", r"/invoicing/documents", "status"),
    ("list received", "GET", r"/invoicing/documents", "exported"),
    ("sent list page 1 (identity check)", "GET", r"/invoicing/documents", "role"),
    ("send document", "POST", r"/invoicing/documents", None),
    ("mark exported", "POST", r"/invoicing/documents/\w+/mark-as-exported", None),
    ("get document", "GET", r"/invoicing/documents/\w+", None),
    ("get attachment bytes", "GET", r"/attachments/\w+/bytes", None),
)


def partner_calls(sandboxes: dict[str, Any]) -> tuple[Counter[str], Counter[str]]:
    """The sandboxes' logged requests by endpoint ("clearbooks get customer"), and those answered >= 400 by
    status and endpoint ("404 clearbooks get sales document PDF": an invoice without a PDF)."""
    calls: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for system, sandbox in sandboxes.items():
        for request in sandbox.requests:
            path, query = request["path"], request.get("query", {})
            label = next(
                (
                    name
                    for name, method, pattern, parameter in _ENDPOINTS
                    if request["method"] == method
                    and re.fullmatch(pattern, path)
                    and (parameter is None or parameter in query)
                ),
                f"{request['method']} {re.sub(r'/\d+', '/{id}', path)}",
            )
            calls[f"{system} {label}"] += 1
            if request.get("status", 200) >= 400:
                errors[f"{request['status']} {system} {label}"] += 1
    return calls, errors


def _clear_requests(sandboxes: dict[str, Any]) -> None:
    for sandbox in sandboxes.values():
        sandbox.clear_requests()


# -- the baseline: a bare loop ------------------------------------------------------------------------------


class BareApi:
    """A partner API for the bare loop: one `requests` session, its base URL, JSON answers (numbers with a
    fraction as exact `Decimal`s, as the partner clients read them), errors raised."""

    def __init__(self, base_url: str, headers: dict[str, str]):
        import requests

        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers.update(headers)

    def call(self, method: str, path: str, *, ok: tuple[int, ...] = (), **kwargs: Any) -> Any:
        """The answer of `method path` (`ok`: statuses besides 2xx answered as they are)."""
        answer = self.session.request(method, f"{self.base_url}{path}", timeout=TIMEOUT, **kwargs)
        if answer.status_code not in ok:
            answer.raise_for_status()
        return answer

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return json.loads(self.call(method, path, **kwargs).content, parse_float=Decimal)

    def post_json(self, path: str, body: Any) -> Any:
        """POST `body` written by the ClearBooks client's own encoder (exact `Decimal` numbers)."""
        from invoice_relay.partners.clearbooks.client import json_text

        headers = {"Content-Type": "application/json"}
        return self.json("POST", path, data=json_text(body).encode(), headers=headers)


def bare_clearbooks(books: Any) -> BareApi:
    """The books' API with an access token: the consent and the code exchange (set-up, as the connector's
    `connect`)."""
    import requests

    app = books.client_credentials(BARE_REDIRECT_URI)
    [code] = parse_qs(urlsplit(books.authorize(BARE_REDIRECT_URI)).query)["code"]
    grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": BARE_REDIRECT_URI, **app}
    answer = requests.post(f"{books.base_url}/oauth/token", data=grant, timeout=TIMEOUT)
    answer.raise_for_status()
    token = answer.json()["access_token"]
    return BareApi(books.base_url, {"Authorization": f"Bearer {token}", "Accept": "application/json"})


def bare_network(network: Any, role: str) -> BareApi:
    """The network's API signed in as the demo supplier's or buyer's integration user (a timed call)."""
    kit = network.demo.supplier_credentials if role == "supplier" else network.demo.buyer_credentials
    api = BareApi(network.base_url, {})
    grant = {
        "grant_type": "password",
        **{k: kit[k] for k in ("client_id", "client_secret", "username", "password")},
    }
    token = api.json("POST", "/authentication/oauth2/token", data=grant)["access_token"]
    api.session.headers["Authorization"] = f"Bearer {token}"
    return api


def bare_upload(books: BareApi, shipserv: Any, since: str) -> None:
    """Every sales invoice changed since `since` sent to the network once (see the module docstring)."""
    from invoice_relay.partners.clearbooks.mapping import (
        customer_tnid,
        ref_id,
        sales_document_to_document,
        vat_rate_table,
    )
    from invoice_relay.partners.shipserv.mapping import send_body

    network = bare_network(shipserv, "supplier")
    vat_rates = vat_rate_table(books.json("GET", "/v1/accounting/vatRates/sales"))
    customers: dict[int, dict[str, Any]] = {}
    page = 1
    while True:
        query = {"modifiedSince": since, "page": page, "limit": UPLOAD_PAGE_SIZE}
        answer = books.call("GET", "/v1/accounting/sales/invoices", params=query)
        for invoice in json.loads(answer.content, parse_float=Decimal):
            if invoice["customerId"] not in customers:
                customers[invoice["customerId"]] = books.json(
                    "GET", f"/v1/accounting/customers/{invoice['customerId']}"
                )
            customer, number = customers[invoice["customerId"]], invoice["formattedDocumentNumber"]
            pdf = books.call("GET", f"/v1/accounting/sales/invoices/{invoice['id']}/pdf", ok=(404,))
            files = [(f"{number}.pdf", pdf.content, PDF)] if pdf.status_code == 200 else []
            tnid = customer_tnid(
                customer, "custom_field", custom_field="TNID", table={}, document_label=number
            )
            document = sales_document_to_document(
                "invoices", invoice, customer=customer, buyer_tnid=tnid, vat_rates=vat_rates
            )
            search = {"role": "supplier", "referenceNumber": number, "type": "Invoice", "pageNumber": 1}
            if any(
                d["referenceNumber"] == number
                for d in network.json("GET", "/invoicing/documents", params=search)["content"]
            ):
                continue  # sent before
            marker = f"clearbooks-{ref_id('invoices', invoice['id'])}-{invoice['modifiedAt']}"
            network.call(
                "POST",
                "/invoicing/documents",
                json=send_body(document, int(tnid), files),
                headers={"Idempotency-Key": marker},
            )
        if int(answer.headers["X-Pagination-Current-Page"]) >= int(
            answer.headers["X-Pagination-Total-Pages"]
        ):
            return
        page += 1


def bare_download(books: BareApi, shipserv: Any) -> None:
    """Every received, not exported document booked in the buyer's books once (see the module docstring)."""
    from invoice_relay.partners.clearbooks.mapping import (
        account_code_for,
        purchase_ledger,
        purchase_line,
        purchase_payload,
        supplier_fields,
        vat_rate_key_for,
    )
    from invoice_relay.partners.shipserv.mapping import document_from_shipserv
    from local.scenarios.trade_network import DOWNLOAD_ACCOUNTING

    network = bare_network(shipserv, "buyer")
    listed, page = [], 1
    while True:
        query = {"role": "buyer", "exported": "false", "pageNumber": page, "pageSize": DOWNLOAD_PAGE_SIZE}
        body = network.json("GET", "/invoicing/documents", params=query)
        listed.extend(body["content"])
        if page >= body["totalPages"]:
            break
        page += 1
    rates = books.json("GET", "/v1/accounting/vatRates/purchases", params={"vatTreatment": "UK"})
    codes, default = DOWNLOAD_ACCOUNTING["account_codes"], DOWNLOAD_ACCOUNTING["default_account_code"]
    suppliers: dict[str, int] = {}  # TNID → ClearBooks supplier id
    for summary in listed:
        payload = network.json("GET", f"/invoicing/documents/{summary['id']}")
        files = [
            (a["name"], network.call("GET", f"/attachments/{a['id']}/bytes").content)
            for a in payload["attachments"]
        ]
        document = document_from_shipserv(payload)
        seller, tnid = document.seller, str(payload["supplierTnId"])
        if tnid not in suppliers:
            found = books.json("GET", "/v1/accounting/suppliers", params={"externalId": tnid}) or books.json(
                "GET", "/v1/accounting/suppliers", params={"name": seller.name}
            )
            supplier = (
                found[0]
                if found
                else books.post_json("/v1/accounting/suppliers", supplier_fields(seller, tnid))
            )
            suppliers[tnid] = supplier["id"]
        lines = [
            purchase_line(
                line,
                account_code_for(line, codes, default=default, unmapped="default"),
                vat_rate_key_for(line, rates, {}, "UK"),
            )
            for line in document.lines
        ]
        ledger = purchase_ledger(document)
        marker = f"shipserv-{payload['id']}-{payload['submittedDate']}"
        bill = purchase_payload(
            document,
            supplier_id=suppliers[tnid],
            lines=lines,
            vat_treatment="UK",
            marker=marker,
            default_due_days=30,
        )
        created = books.post_json(f"/v1/accounting/purchases/{ledger}", bill)
        for name, content in files:
            books.call(
                "POST",
                f"/v1/accounting/purchases/{ledger}/{created['id']}/attachments/{quote(name, safe='')}",
                data=content,
                headers={"Content-Type": "application/octet-stream"},
            )
        network.call("POST", f"/invoicing/documents/{payload['id']}/mark-as-exported")


# -- one pass of each side ----------------------------------------------------------------------------------


class Bench:
    """The stack and what the passes share: the invocation timer, the counters, the log directory."""

    def __init__(self, stack: Any, documents: int, log_dir: Path, out: Callable[[str], None]):
        self.stack = stack
        self.documents = documents
        self.log_dir = log_dir
        self.out = out
        self.durations: dict[str, list[float]] | None = None  # collecting while not None
        self.passes = 0
        invoke = stack.invoke

        def timed(logical_id: str, event: dict[str, Any], **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return invoke(logical_id, event, **kwargs)
            finally:
                if self.durations is not None:
                    self.durations.setdefault(logical_id, []).append(time.perf_counter() - started)

        stack.invoke = timed

    def sandboxes(self, action: str) -> dict[str, Any]:
        books = self.stack.clearbooks_supplier if action == "upload" else self.stack.clearbooks_buyer
        return {"clearbooks": books, "shipserv": self.stack.shipserv}

    def seed(self, action: str) -> Callable[[], list[str]]:
        """Seed the sandboxes for a pass of `action`; returns the check of its outcome."""
        stack = self.stack
        if action == "upload":
            numbers = seed_sales_invoices(stack.clearbooks_supplier, self.documents)
            stack.shipserv.seed_demo_data()
            return lambda: upload_problems(stack, numbers)
        received = seed_received_documents(stack.shipserv, self.documents)
        stack.clearbooks_buyer.reset()
        stack.clearbooks_buyer.seed_demo_data()
        return lambda: download_problems(stack, received)

    def baseline(self, action: str) -> Pass:
        check = self.seed(action)
        sandboxes = self.sandboxes(action)
        clearbooks = bare_clearbooks(sandboxes["clearbooks"])
        _clear_requests(sandboxes)
        started = time.perf_counter()
        if action == "upload":
            bare_upload(clearbooks, self.stack.shipserv, f"{UPLOAD_SINCE.isoformat()}T00:00:00Z")
        else:
            bare_download(clearbooks, self.stack.shipserv)
        seconds = time.perf_counter() - started
        partner, errors = partner_calls(sandboxes)
        return Pass("baseline", seconds, partner, errors, check())

    def pipeline(self, action: str, *, counted: bool = False) -> tuple[Pass, Any]:
        """A pass of the pipeline; `counted`: DynamoDB units computed (slower: not a timed pass). Returns the
        pass and (AWS usage inside the functions, everything, log bytes)."""
        from aws_usage import AwsUsage
        from cost_model import LogBytes

        from local.runtime.runner import current_function

        stack = self.stack
        check = self.seed(action)
        self.passes += 1
        cid = f"bench-{action}-{self.passes}"
        pace = {"requests_per_second": CLEARBOOKS_REQUESTS_PER_SECOND}
        if action == "upload":
            stack.add_upload_connector(cid, source={"changed_since": UPLOAD_SINCE.isoformat(), **pace})
        else:
            stack.add_download_connector(cid, target=pace)
        sandboxes = self.sandboxes(action)
        _clear_requests(sandboxes)
        inside = AwsUsage(where=lambda: current_function() is not None, units_from_service=not counted)
        everything = AwsUsage(units_from_service=True)
        self.durations = {}
        summaries = []
        with everything, inside, LogBytes(self.log_dir) as logs:
            started = time.perf_counter()
            while True:
                summary = stack.invoke("PollFunction", {"connector_id": cid})
                summaries.append(f"{summary.get('status')}: {summary.get('message')}")
                stack.drain_delivery_queue()
                if not summary.get("counts", {}).get("continues_at_page"):
                    break
            seconds = time.perf_counter() - started
        durations, self.durations = self.durations, None
        partner, errors = partner_calls(sandboxes)
        problems = check()
        problems += [f"poll {s}" for s in summaries if not s.startswith("succeeded")]
        usage_inside, usage_all = inside.snapshot(), everything.snapshot()
        found = Pass(
            "pipeline",
            seconds,
            partner,
            errors,
            problems,
            durations=durations,
            aws_inside=usage_inside.calls,
            aws_poller=Counter(usage_all.calls - usage_inside.calls),
            summaries=summaries,
        )
        return found, (usage_inside, usage_all, logs.bytes)


def measure(bench: Bench, action: str, rounds: int) -> ActionResult:
    """`rounds` alternated timed passes of each side, then the counted pass of the pipeline."""
    from cost_model import estimate, function_memory_mb, gb_seconds

    baseline: list[Pass] = []
    pipeline: list[Pass] = []
    for round_ in range(rounds):
        order = ("baseline", "pipeline") if round_ % 2 == 0 else ("pipeline", "baseline")
        for side in order:
            if side == "baseline":
                baseline.append(bench.baseline(action))
            else:
                pipeline.append(bench.pipeline(action)[0])
            done = (baseline if side == "baseline" else pipeline)[-1]
            bench.out(f"  {action} round {round_ + 1}: {side} {done.seconds:.1f} s")
    counted, (inside, everything, log_bytes) = bench.pipeline(action, counted=True)
    timed_durations: dict[str, list[float]] = {}
    for p in pipeline:
        for function, durations in p.durations.items():
            timed_durations.setdefault(function, []).extend(durations)
    usage = dataclasses.replace(
        everything,
        write_units_by_table_index=inside.write_units_by_table_index,
        read_units_by_table_index=inside.read_units_by_table_index,
    )
    cost = estimate(
        usage,
        documents=bench.documents,
        lambda_invocations={f: len(d) for f, d in counted.durations.items()},
        lambda_gb_seconds=gb_seconds(timed_durations, function_memory_mb()) / len(pipeline),
        log_bytes=log_bytes,
    )
    return ActionResult(
        action,
        bench.documents,
        baseline,
        pipeline,
        counted,
        inside.write_units_by_table_index,
        inside.read_units,
        cost,
    )


# -- report -------------------------------------------------------------------------------------------------


def format_report(results: Sequence[ActionResult]) -> str:
    lines = [
        "",
        "| action | documents | baseline docs/s | pipeline docs/s | ratio | partner calls /doc (pipeline /"
        " baseline) | AWS calls /doc | write units /doc | $ per million docs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.action} | {r.documents:,} | {r.baseline_rate:,.1f} | {r.pipeline_rate:,.1f} |"
            f" {r.ratio:.3f}× | {r.partner_per_document('pipeline'):.2f} /"
            f" {r.partner_per_document('baseline'):.2f} | {r.aws_calls_per_document:.2f} |"
            f" {r.write_units_per_document:.2f} | ${r.cost.per_million().total:.2f} |"
        )
    for r in results:
        n = r.documents
        lines += [
            "",
            f"{r.action}, {n} documents — passes (s): baseline {_seconds(r.baseline)}; pipeline"
            f" {_seconds(r.pipeline)} (the median of each side counts)",
            "  pipeline invocations: "
            + ", ".join(f"{f} {len(d)} ({sum(d):.1f} s)" for f, d in sorted(r.pipeline[0].durations.items()))
            + f"; poll: {r.pipeline[0].summaries[-1]}",
            "  partner calls per document (pipeline | baseline; counts of the first pass of each):",
        ]
        pipe, bare = r.pipeline[0].partner, r.baseline[0].partner
        for name in sorted(pipe.keys() | bare.keys(), key=lambda k: (-(pipe[k] + bare[k]), k)):
            lines.append(
                f"    {pipe[name] / n:7.3f} | {bare[name] / n:7.3f}  {name}  ({pipe[name]} | {bare[name]})"
            )
        for system in ("clearbooks", "shipserv"):
            p = sum(v for k, v in pipe.items() if k.startswith(system))
            b = sum(v for k, v in bare.items() if k.startswith(system))
            lines.append(f"    {p / n:7.3f} | {b / n:7.3f}  all {system}")
        pipe_errors, bare_errors = r.pipeline[0].partner_errors, r.baseline[0].partner_errors
        if pipe_errors or bare_errors:
            lines.append("  partner answers >= 400 (pipeline | baseline; a 404 PDF: an invoice without one):")
            lines += [
                f"    {pipe_errors[k]:7d} | {bare_errors[k]:7d}  {k}"
                for k in sorted(pipe_errors | bare_errors)
            ]
        inside, poller = r.counted.aws_inside, r.counted.aws_poller
        lines.append(f"  AWS calls per document inside the functions: {sum(inside.values()) / n:.2f}")
        lines += [
            f"    {count / n:7.3f}  {service}.{operation}"
            for (service, operation), count in sorted(inside.items(), key=lambda kv: (-kv[1], kv[0]))
            if count
        ]
        lines.append(
            f"  + SQS event source: {sum(poller.values()) / n:.3f} per document ("
            + ", ".join(f"{s}.{o} {c}" for (s, o), c in sorted(poller.items()) if c)
            + ")"
        )
        lines.append(
            f"  DynamoDB write units per document: {r.write_units_per_document:.2f}"
            f" (read units {r.read_units / n:.2f})"
        )
        lines += [
            f"    {v / n:7.3f}  {k}" for k, v in sorted(r.write_units.items(), key=lambda kv: -kv[1]) if v
        ]
        lines += ["  cost (counted pass; Lambda GB-seconds: the timed passes' mean):", r.cost.table()]
    lines.append("")
    problems = [f"{r.action}: {p}" for r in results for p in r.problems]
    if problems:
        lines += [f"NOT EXACTLY ONCE: {p}" for p in problems]
    else:
        lines.append(
            "exactly once: every document of every pass (both sides) delivered once "
            f"({sum(len(r.baseline) + len(r.pipeline) + 1 for r in results)} passes checked)"
        )
    return "\n".join(lines)


def _seconds(passes: list[Pass]) -> str:
    return ", ".join(f"{p.seconds:.1f}" for p in passes)


def run_benchmark(
    documents: int = DEFAULT_DOCUMENTS,
    *,
    rounds: int = DEFAULT_ROUNDS,
    actions: Sequence[str] = ACTIONS,
    out: Callable[[str], None] = print,
) -> list[ActionResult]:
    """Start the stack, measure each action, print the report; returns the figures."""
    from bench_pipeline import _aws_in_its_own_process

    from local.runtime import runner
    from local.scenarios.stack import LocalStack

    # The functions' log files go to a directory of this run's own (.local/logs is shared).
    log_dir = Path(tempfile.mkdtemp(prefix="bench-trade-network-logs-"))
    runner.LOG_DIR, shared_log_dir = log_dir, runner.LOG_DIR
    results = []
    try:
        stack = LocalStack(seed_demo=False)
        stack.aws = _aws_in_its_own_process()
        with stack:
            stack.start_trade_network_sandboxes()
            bench = Bench(stack, documents, log_dir, out)
            for action in actions:
                clock = time.perf_counter()
                results.append(measure(bench, action, rounds))
                out(f"  {action}: measured in {time.perf_counter() - clock:.0f} s")
    finally:
        runner.LOG_DIR = shared_log_dir
        shutil.rmtree(log_dir, ignore_errors=True)
    out(format_report(results))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_DOCUMENTS} documents per action")
    parser.add_argument("--documents", type=int, help=f"documents per action (default {DEFAULT_DOCUMENTS})")
    parser.add_argument(
        "--rounds", type=int, default=DEFAULT_ROUNDS, help="timed passes of each side, alternated"
    )
    parser.add_argument("--actions", default=",".join(ACTIONS), help="upload, download or both")
    args = parser.parse_args(argv)
    documents = args.documents or (QUICK_DOCUMENTS if args.quick else DEFAULT_DOCUMENTS)
    actions = [a.strip() for a in args.actions.split(",") if a.strip()]
    if not set(actions) <= set(ACTIONS) or args.rounds < 1 or documents < 1:
        parser.error(f"--actions from {ACTIONS}, --rounds and --documents at least 1")
    started = time.perf_counter()
    print(
        f"trade-network benchmark — flow 5, {documents} documents per action, {args.rounds} rounds,"
        f" ClearBooks paced at {CLEARBOOKS_REQUESTS_PER_SECOND}/s, Python {sys.version.split()[0]}",
        flush=True,
    )
    results = run_benchmark(
        documents, rounds=args.rounds, actions=actions, out=lambda s: print(s, flush=True)
    )
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
