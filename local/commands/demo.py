"""`make demo`: invoices travel from a (sandbox) ServiceTrade into an accounting import file, and every
invoice's outcome is written back; shop orders become FreshBooks invoices; PDFs go to Clearnox in bundles;
a supplier's ClearBooks invoices go out on the ShipServ trade network and a buyer's received documents come
into its ClearBooks — through the real handlers, on the embedded AWS.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

from local.runtime.runner import LOG_DIR
from local.scenarios import fixtures
from local.scenarios.stack import LocalStack

REPO = Path(__file__).resolve().parents[2]
OUT = Path(os.environ.get("INVOICE_RELAY_DEMO_OUT", REPO / "out"))
SIMILAR_EVENTS_SHOWN = 3


def _event(name: str) -> dict:
    return json.loads((REPO / "events" / name).read_text())


def _print_run_log(stack: LocalStack, run_id: str) -> None:
    from invoice_relay.storage.runs import RunHistory
    from invoice_relay.storage.table import state_table

    # Runs over many invoices repeat the same line: show a few of each kind, then how many more.
    events = RunHistory(state_table(stack.table_name)).run_events(run_id)
    seen: Counter[str] = Counter()
    for event in events:
        kind = re.sub(r"\d+", "#", event.message.split(":")[0])
        seen[kind] += 1
        if event.level != "info" or seen[kind] <= SIMILAR_EVENTS_SHOWN:
            print(f"  {event.at[11:23]} {event.level.upper():<5} {event.message}")
    for kind, count in seen.items():
        if count > SIMILAR_EVENTS_SHOWN:
            print(f"  … and {count - SIMILAR_EVENTS_SHOWN} more like '{kind}'")


def main() -> int:
    print(
        "Invoice Relay demo — flows 1 + 2 (ServiceTrade → import file), 3 (shop webhooks → FreshBooks),"
        " 4 (PDF bundles → Clearnox), 5 (ClearBooks ↔ ShipServ)\n"
    )
    with LocalStack() as stack:
        st = stack.servicetrade
        waiting = [i for i in st.invoices() if i["status"] == "pending_accounting"]
        pending = [i for i in waiting if i.get("type", "invoice") == "invoice"]
        others = [i for i in waiting if i.get("type", "invoice") != "invoice"]
        print(
            f"embedded AWS      {stack.aws.endpoint_url}"
            f"  (table {stack.table_name}, bucket {stack.bucket_name})"
        )
        print(
            f"ServiceTrade      {st.base_url}  ({len(pending)} invoices pending accounting,"
            f" {len(st.broken_invoice_ids)} of them broken on purpose; {len(others)} vendor bills and"
            " external invoices pending too, not ours to transfer)"
        )
        print(
            f"connector         {fixtures.SERVICETRADE_CONNECTOR_ID}: ServiceTrade → {stack.demo_template}\n"
        )

        poll = stack.invoke("PollFunction", _event("poll_schedule.json"))
        print(
            f"PollFunction      {poll['status']}: {poll['message']} ({poll['counts'].get('pages', 0)} pages)"
        )
        export = stack.invoke("ExportFunction", _event("export_schedule.json"))
        print(f"ExportFunction    {export['status']}: {export['message']}")

        statuses = Counter(st.invoice(i["id"])["status"] for i in pending)
        untouched = sum(st.invoice(i["id"])["status"] == "pending_accounting" for i in others)
        print(
            f"\nServiceTrade now  processed: {statuses['processed']}   failed: {statuses['failed']}"
            f"   still pending: {statuses['pending_accounting']}"
            f"   (vendor bills / external left alone: {untouched} of {len(others)})"
        )
        for invoice in pending:
            current = st.invoice(invoice["id"])
            if current["status"] == "failed":
                comments = st.comments_for(invoice["id"])
                reason = comments[-1]["content"] if comments else "(no comment!)"
                print(f"  failed  invoice {current.get('invoiceNumber') or current['id']}: {reason}")

        if export.get("export_file"):
            from invoice_relay.storage.objects import DocumentBucket

            shutil.rmtree(OUT, ignore_errors=True)  # ./out/ holds the latest demo's file only
            OUT.mkdir(parents=True)
            local_copy = OUT / Path(export["export_file"]).name
            local_copy.write_bytes(DocumentBucket(stack.bucket_name).get(export["export_file"]))
            print(f"\nimport file       s3://{stack.bucket_name}/{export['export_file']}")
            print(f"local copy        {local_copy}")
            print(f"download link     {export['download_link'][:110]}…")

        print("\nrun log (poll):")
        _print_run_log(stack, poll["run_id"])
        print("\nrun log (export):")
        _print_run_log(stack, export["run_id"])

        again = [
            stack.invoke(fn, _event(f"{kind}_schedule.json"))
            for fn, kind in (("PollFunction", "poll"), ("ExportFunction", "export"))
        ]
        print(
            f"\nsecond cycle      poll: {again[0]['message']}; export: {again[1]['message']}"
            " — nothing is delivered or written back twice"
        )
        order_to_invoice(stack)
        document_bundles(stack)
        trade_network(stack)
        managed_connector(stack)
    print(f"\nstructured logs   {LOG_DIR.relative_to(REPO)}/ (`make logs`)")
    return 0


def order_to_invoice(stack: LocalStack) -> None:
    """Flow 3: the sandbox shop POSTs signed webhooks over HTTP to the local API; the delivery queue is
    fed to DeliverFunction as the SQS event source would; FreshBooks (sandbox) gets the result."""
    from local.runtime.api_gateway import LocalApi

    shop, freshbooks = stack.start_commerce_sandboxes()
    api = LocalApi(stack, log_requests=False).start(port=0)
    try:
        shop.subscribe(f"{api.url}/webhooks/{fixtures.SHOP_CONNECTOR_ID}")
        print("\n— flow 3 —")
        print(f"local API         {api.url}/webhooks/{fixtures.SHOP_CONNECTOR_ID}   (like `make api`)")
        print(f"shop / FreshBooks {shop.base_url}  /  {freshbooks.base_url}  (OAuth connected)")

        payments = {p["orderId"]: p for p in shop.payments()}
        early = payments.pop("ord_2001")
        answers = shop.emit("payment.captured", early)  # a payment before its order: it must wait
        for order in shop.orders():
            answers += shop.emit("order.created", order, duplicate=1 if order["id"] == "ord_2002" else 0)
        for payment in payments.values():
            answers += shop.emit("payment.captured", payment)
        customer = shop.orders()[0]["customer"]["id"]
        shop.update_customer(customer, phone="+44 131 496 0000")
        answers += shop.emit("customer.updated", shop.customer(customer))
        answers += shop.emit("order.created", shop.orders()[0], tamper=True)
        print(
            f"webhooks sent     {len(answers)}: "
            + ", ".join(f"{n}× {code}" for code, n in sorted(Counter(a.status_code for a in answers).items()))
        )

        drained = stack.drain_delivery_queue(wait_for_delayed=4)
        print(f"DeliverFunction   {drained['records']} queue records in {drained['batches']} batches")
        invoices, paid = freshbooks.invoices(), freshbooks.payments()
        print(
            f"FreshBooks now    {len(invoices)} invoices for {len(shop.orders())} orders,"
            f" {len(paid)} payments, {len(freshbooks.clients())} clients"
        )
        _print_failures(stack)

        shop.update_product("MUG-12OZ", price="15.50")
        synced = stack.invoke("CatalogSyncFunction", _event("catalog_sync_schedule.json"))
        print(f"CatalogSync       {synced['status']}: {synced['message']}")
    finally:
        api.stop()


def document_bundles(stack: LocalStack) -> None:
    """Flow 4: what Clearnox lacks → PDFs from the drop zone → streamed zip + metadata.json → upload."""
    clearnox = stack.clearnox
    print("\n— flow 4 —")
    missing = len(clearnox.missing())
    print(f"Clearnox          {clearnox.base_url}  ({missing} booking entries without a document)")
    print(f"drop zone         s3://{stack.bucket_name}/documents/{fixtures.CLEARNOX_CONNECTOR_ID}/")
    result = stack.invoke("BundleFunction", _event("bundle_schedule.json"))
    print(f"BundleFunction    {result['status']}: {result['message']}")
    for failure in result["failures"]:
        print(f"  skipped entry {failure['source_id']}: {failure['reason']}")
    _print_run_log(stack, result["run_id"])
    for upload in clearnox.uploads:
        documents = len(upload.accepted)
        print(f"Clearnox import   bundle {upload.bundle_id}: HTTP {upload.status}, {documents} documents")
    again = stack.invoke("BundleFunction", _event("bundle_schedule.json"))
    print(f"second run        {again['message']} — nothing is sent twice")


def managed_connector(stack: LocalStack) -> None:
    """The control plane: sign in as the demo admin, create a connector through the management API (as the
    admin page and `relay` do), start it, run it now, read its runs and its log, find an invoice by number,
    download its import file, pause it — and see that a viewer may read but not change anything."""
    import time

    import requests

    from local.runtime.api_gateway import LocalApi
    from local.runtime.cognito import sign_in

    print("\n— the control plane (management API, as the admin page and `relay` use it) —")
    stack.servicetrade.seed_demo_data(count=8, broken=1, seed=2026, credits=0)
    api = LocalApi(stack, log_requests=False).start(port=0)
    stack.start_background(schedules=False, delivery_queue=False, log=False)
    try:
        (admin_name, admin_password), (viewer_name, viewer_password) = (
            stack.demo_users["admin"],
            stack.demo_users["viewer"],
        )

        def session(name: str, password: str) -> requests.Session:
            token = sign_in(stack.cognito_endpoint, stack.user_pool_client_id, name, password)["IdToken"]
            http = requests.Session()
            http.headers["Authorization"] = token
            return http

        admin, viewer = session(admin_name, admin_password), session(viewer_name, viewer_password)
        base = f"{api.url}/connectors"
        print(f"signed in         {admin_name} (admins), {viewer_name} (viewers) — Cognito ID tokens")
        body = {
            "connector_id": "demo-managed",
            "name": "Acme Field Services → accounting import",
            "source": {"system": "servicetrade", "base_url": stack.servicetrade.base_url, "page_size": 5},
            "target": {"system": "flatfile", "template": "generic_csv"},
            "schedules": {"poll": "rate(15 minutes)", "export": "cron(0 18 * * ? *)"},
            "timezone": "Europe/London",
            "credentials": {"source": {"credentials_secret": stack.servicetrade.client_credentials()}},
        }
        created = admin.post(base, json=body, timeout=30).json()
        print(
            f"POST /connectors  {created['connector_id']}: {created['status']} ({created['paused_reason']}); "
            + ", ".join(f"{s['run']} {s['expression']} {s['state']}" for s in created["schedules"])
        )
        print(f"  credentials     stored in Secrets Manager as {created['source']['credentials_secret']}")
        refused = viewer.post(f"{base}/demo-managed/start", timeout=30)
        print(f"viewer start      HTTP {refused.status_code}: {refused.json()['message']}")
        started = admin.post(f"{base}/demo-managed/start", timeout=30).json()
        states = ", ".join(s["state"] for s in started["schedules"])
        print(f"start             {started['status']}: schedules {states}")
        for kind in ("poll", "export"):
            asked = time.monotonic()
            answer = admin.post(f"{base}/demo-managed/runs", json={"kind": kind}, timeout=30)
            assert stack.lambda_service is not None
            stack.lambda_service.wait_idle(120)
            run = admin.get(f"{base}/demo-managed/runs", params={"limit": 1}, timeout=30).json()["runs"][0]
            counts, took = json.dumps(run["counts"], sort_keys=True), time.monotonic() - asked
            print(
                f"run now ({kind:<6}) HTTP {answer.status_code} → run {run['run_id']} {run['status']} "
                f"{counts}  (visible after {took:.1f} s)"
            )
        log = admin.get(f"{api.url}/runs/{run['run_id']}", timeout=30).json()
        print("run log (export, from GET /runs/{id}):")
        for event in log["events"][:6]:
            print(f"  {event['at'][11:23]} {event['level'].upper():<5} {event['message'][:110]}")
        files = admin.get(f"{base}/demo-managed/files", timeout=30).json()["files"]
        if files:
            file = files[0]
            print(
                f"import file       {file['name']} ({file['size']} bytes), link valid {file['expires_in']} s"
            )
        number = str(stack.servicetrade.invoices()[0]["invoiceNumber"])
        where = viewer.get(f"{api.url}/documents", params={"number": number}, timeout=30).json()["documents"]
        for document in where:
            print(
                f"where is {number}?  connector {document['connector_id']}: {document['state']}"
                f" in {document['export_file'] or '-'}"
            )
        paused = admin.post(f"{base}/demo-managed/pause", timeout=30).json()
        health, last = paused["health"], paused["health"]["last_run"]
        print(
            f"pause             {paused['status']} ({paused['paused_reason']}); last run "
            f"{last['kind']} {last['status']}, failing streak {health['failing_streak']}"
        )
    finally:
        stack.stop_background()
        api.stop()


def trade_network(stack: LocalStack) -> None:
    """Flow 5: upload (the supplier's ClearBooks sales invoices and credit notes → ShipServ, to the buyer
    TNID of each customer) and download (what the buyer received on ShipServ → purchase bills and credit
    notes in its ClearBooks, marked exported on the network only after ClearBooks accepted them)."""
    shipserv, supplier_books, buyer_books = stack.start_trade_network_sandboxes()
    demo = shipserv.demo
    assert demo is not None
    print("\n— flow 5 —")
    print(
        f"ShipServ          {shipserv.base_url}  (supplier TNID {demo.supplier_tnid}, buyer TNID"
        f" {demo.buyer_tnid} with {len(demo.received_ids)} received documents)"
    )
    sales = supplier_books.sales_invoices() + supplier_books.sales_credit_notes()
    print(
        f"ClearBooks        supplier's books {supplier_books.base_url} ({len(sales)} sales documents, two"
        f" broken on purpose); buyer's books {buyer_books.base_url}  (both OAuth connected)"
    )

    upload = stack.invoke("PollFunction", _event("poll_schedule_upload.json"))
    print(
        f"upload poll       {upload['status']}: {upload['message']}"
        f" ({upload['counts'].get('pages', 0)} pages)"
    )
    stack.drain_delivery_queue()
    on_network = shipserv.documents(supplier_tnid=demo.supplier_tnid)
    kinds = Counter(d["type"] for d in on_network)
    attached = sum(1 for d in on_network if d.get("attachments"))
    print(
        f"ShipServ now      {kinds['Invoice']} invoices and {kinds['CreditNote']} credit notes sent by TNID"
        f" {demo.supplier_tnid} ({attached} with their PDF)"
    )
    _print_failures(stack, fixtures.UPLOAD_CONNECTOR_ID)
    shipserv.mark_read(on_network[0]["id"])  # the buyer opens one: the READ acknowledgement

    download = stack.invoke("PollFunction", _event("poll_schedule_download.json"))
    print(f"download poll     {download['status']}: {download['message']}")
    stack.drain_delivery_queue()
    exported = sum(1 for d in shipserv.documents(buyer_tnid=demo.buyer_tnid) if d["exported"])
    booked = (
        f"{len(buyer_books.bills())} purchase bills, {len(buyer_books.purchase_credit_notes())} purchase"
        f" credit notes, {len(buyer_books.suppliers())} suppliers, {len(buyer_books.attachments())} PDFs"
    )
    print(f"buyer's books     {booked}; {exported} of {len(demo.received_ids)} marked exported on ShipServ")
    _print_failures(stack, fixtures.DOWNLOAD_CONNECTOR_ID)
    again = [
        stack.invoke("PollFunction", _event(f"poll_schedule_{side}.json")) for side in ("upload", "download")
    ]
    stack.drain_delivery_queue()
    print(
        f"second runs       upload: {again[0]['message']}; download: {again[1]['message']}"
        " — nothing is sent or booked twice"
    )


def _print_failures(stack: LocalStack, connector_id: str = fixtures.SHOP_CONNECTOR_ID) -> None:
    from invoice_relay.storage.runs import RunHistory
    from invoice_relay.storage.table import state_table

    history = RunHistory(state_table(stack.table_name))
    for run in history.recent_runs(connector_id, 100):
        for event in history.run_events(run["run_id"]):
            if event.message.startswith("deliver run "):
                continue  # the run's own start and end: the lines before say what happened
            if event.level in {"warn", "error"} or "waiting" in event.message:
                print(f"  {event.level:<5} {event.message}")


if __name__ == "__main__":
    sys.exit(main())
