"""The ClearBooks partner (both sides of flow 5) against the sandbox ClearBooks over real HTTP, with the
embedded AWS for the token secret (Secrets Manager), the refresh lease (DynamoDB) and kept PDFs (S3),
resources from template.yaml."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from aws_lambda_powertools.utilities import parameters

from invoice_relay.errors import AuthenticationError, MappingError, PermanentError
from invoice_relay.http import partner_session
from invoice_relay.models import TNID, Customer, Document, ExternalRef, Payment
from invoice_relay.partners.attachments import keep_attachment
from invoice_relay.partners.capabilities import (
    DOCUMENT_TARGET,
    OAUTH_CONNECT,
    POLLED_SOURCE,
    DocumentTarget,
    OAuthConnect,
    PolledSource,
    SourceRef,
)
from invoice_relay.partners.clearbooks import SPEC
from invoice_relay.partners.clearbooks.config import ClearBooksSourceConfig, ClearBooksTargetConfig
from invoice_relay.partners.clearbooks.oauth import SOURCE_SCOPES, TARGET_SCOPES, connector_oauth
from invoice_relay.partners.clearbooks.source import ClearBooksSource
from invoice_relay.partners.clearbooks.target import ClearBooksTarget
from invoice_relay.partners.context import PartnerContext
from invoice_relay.storage.objects import DocumentBucket
from invoice_relay.storage.state import Leases
from local.runtime.embedded_aws import EmbeddedAWS
from local.runtime.template import load_template
from local.sandboxes.clearbooks import DEMO_NAMED_SUPPLIER, DEMO_START, ClearBooksSandbox

LATER = DEMO_START + dt.timedelta(days=60)  # after every seeded modifiedAt
LINE = {"description": "Hose", "unitPrice": "10.00", "quantity": 2, "accountCode": 4000, "vatRateKey": "20"}


def fast_session() -> requests.Session:
    return partner_session(partner="clearbooks", backoff_factor=0.01, backoff_jitter=0, backoff_max=2)


# -- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aws():
    with EmbeddedAWS() as embedded, pytest.MonkeyPatch.context() as env:
        embedded.create_resources(load_template())
        for name, value in embedded.env().items():
            env.setenv(name, value)
        parameters.clear_caches()
        yield embedded
        parameters.clear_caches()


@pytest.fixture(scope="module")
def server():
    with ClearBooksSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server):
    server.reset()
    server.set_rate_limit(None)
    server.set_list_filters(True)
    return server


@pytest.fixture
def demo(sandbox):
    return sandbox.seed_demo_data()


@pytest.fixture(scope="module")
def leases(aws):
    dynamodb = boto3.session.Session().resource(
        "dynamodb", endpoint_url=aws.endpoint_url, region_name=aws.region
    )
    return Leases(dynamodb.Table(aws.physical["StateTable"]))


@dataclass
class Connector:
    context: PartnerContext
    source_config: ClearBooksSourceConfig
    target_config: ClearBooksTargetConfig


@pytest.fixture
def connector(sandbox, aws, leases) -> Connector:
    connector_id = f"cb-{uuid.uuid4().hex[:8]}"
    app_secret = f"invoice-relay/dev/{connector_id}/clearbooks-app"
    aws.create_secret(app_secret, sandbox.client_credentials())
    common = {
        "system": "clearbooks",
        "api_url": sandbox.base_url,
        "auth_url": sandbox.base_url,
        "oauth_app_secret": app_secret,
        "token_secret": f"invoice-relay/dev/{connector_id}/clearbooks-tokens",
        "requests_per_second": 100,
    }
    context = PartnerContext(
        connector_id=connector_id,
        leases=leases,
        bucket=DocumentBucket(aws.physical["DocumentBucket"], client=aws.client("s3")),
        secrets_client=aws.client("secretsmanager"),
    )
    return Connector(
        context,
        ClearBooksSourceConfig(**common, page_size=7),
        ClearBooksTargetConfig(**common, account_codes={"HOSE-1": 5200}, default_account_code=5000),
    )


def connect(config, aws):
    """The authorization-code flow: the consent page redirects like a user who clicked Allow."""
    oauth = connector_oauth(config)
    answer = requests.get(oauth.connect_url("st-1"), allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    return oauth.connect(
        query["code"][0], secrets_client=aws.client("secretsmanager"), session=fast_session()
    )


def open_source(connector: Connector, aws, **changes) -> ClearBooksSource:
    config = connector.source_config.model_copy(update=changes)
    connect(config, aws)
    return make_source(connector, config)


def make_source(connector: Connector, config: ClearBooksSourceConfig) -> ClearBooksSource:
    return ClearBooksSource.from_config(
        config, connector.context, session=fast_session(), lease_wait_seconds=5, lease_poll_seconds=0.05
    )


def open_target(connector: Connector, aws, **changes) -> ClearBooksTarget:
    config = connector.target_config.model_copy(update=changes)
    connect(config, aws)
    return make_target(connector, config)


def make_target(connector: Connector, config: ClearBooksTargetConfig) -> ClearBooksTarget:
    return ClearBooksTarget.from_config(
        config, connector.context, session=fast_session(), lease_wait_seconds=5, lease_poll_seconds=0.05
    )


def run(source: ClearBooksSource, position=None):
    """One complete poll: every page, and the position it ends with."""
    pages = list(source.poll(1, position=position))
    return pages, pages[-1].position


def listed(pages) -> set[tuple[str, str]]:
    return {(ref.id, ref.version) for page in pages for ref in page.refs}


def invoice_ref(document_id: int) -> str:
    return f"invoice:{document_id}"


# -- source: listing ----------------------------------------------------------------------------------


def test_incremental_listing_pages_round_trip_the_position(sandbox, demo, connector, aws):
    source = open_source(connector, aws)
    pages, position = run(source)
    documents = {d["id"]: d for d in sandbox.sales_invoices() + sandbox.sales_credit_notes()}
    expected = {
        (f"{'invoice' if d['documentPrefix'] == 'INV' else 'creditNote'}:{i}", d["modifiedAt"])
        for i, d in documents.items()
    }
    assert listed(pages) == expected
    assert [p.page for p in pages] == list(range(1, len(pages) + 1))
    assert all(p.total_pages == p.page + 1 for p in pages[:-1]) and pages[-1].total_pages == pages[-1].page
    assert len(pages) >= 6  # 30 invoices and 5 credit notes, 7 a page
    assert position["listing"] == "done"
    assert position["invoices"]["since"] == max(d["modifiedAt"] for d in sandbox.sales_invoices())
    json.dumps([p.position for p in pages])  # saved in a checkpoint: plain JSON

    again, position = run(source, position)
    assert listed(again) <= expected  # only re-listed (same versions) within the lookback: nothing new

    sandbox.touch(demo.invoice_ids[3], at=LATER, reference="PO-CHANGED")
    third, _ = run(source, position)
    [touched] = [(i, v) for i, v in listed(third) if (i, v) not in expected]
    assert touched == (invoice_ref(demo.invoice_ids[3]), "2026-11-30T09:00:00Z")


def test_a_run_without_lookback_lists_only_the_last_second_again(sandbox, demo, connector, aws):
    source = open_source(connector, aws, lookback_seconds=0)
    _, position = run(source)
    again, _ = run(source, position)
    newest = max(d["modifiedAt"] for d in sandbox.sales_invoices())
    assert {v for i, v in listed(again) if i.startswith("invoice:")} <= {newest}


def test_first_run_starts_from_changed_since(sandbox, demo, connector, aws):
    source = open_source(connector, aws, changed_since=dt.date(2026, 10, 25))
    pages, _ = run(source)
    assert listed(pages)
    assert all(version >= "2026-10-25" for _, version in listed(pages))


def test_a_crash_mid_listing_resumes_from_the_saved_position_and_skips_nothing(sandbox, demo, connector, aws):
    source = open_source(connector, aws)
    seen: set[tuple[str, str]] = set()
    listing = source.poll(1)
    for _ in range(3):
        page = next(listing)
        seen |= {(r.id, r.version) for r in page.refs}
    saved = page.position
    listing.close()  # the Lambda died here
    early = next(iter(seen))[0]
    sandbox.touch(int(early.split(":")[1]), at=LATER)  # edited meanwhile: listed before, changed since
    resumed = make_source(connector, connector.source_config)
    rest, _ = run(resumed, saved)
    everything = {d["id"]: d for d in sandbox.sales_invoices() + sandbox.sales_credit_notes()}
    ids = {i for i, _ in seen | listed(rest)}
    assert {int(i.split(":")[1]) for i in ids} == set(everything)
    assert (early, everything[int(early.split(":")[1])]["modifiedAt"]) in listed(rest)


def test_a_block_of_one_second_larger_than_a_page_survives_an_edit_mid_listing(sandbox, connector, aws):
    customer = sandbox.add_customer("Buyer", custom_fields={"TNID": "100101"})["id"]
    block = DEMO_START
    ids = [
        sandbox.add_sales_invoice(customer, [LINE], date="2026-10-01", created_at=block, modified_at=block)[
            "id"
        ]
        for _ in range(12)
    ]
    source = open_source(connector, aws, page_size=5)
    seen: set[tuple[str, str]] = set()
    listing = source.poll(1)
    edited = False
    for page in listing:
        seen |= {(r.id, r.version) for r in page.refs}
        if not edited and len({i for i, _ in seen}) >= 10:
            sandbox.touch(ids[2], at=LATER)  # leaves the block: the records after it shift one place left
            edited = True
    assert edited
    assert {int(i.split(":")[1]) for i, _ in seen} == set(ids)
    assert (invoice_ref(ids[2]), "2026-11-30T09:00:00Z") in seen


def test_a_listing_that_ignores_modified_since_is_walked_and_filtered(sandbox, demo, connector, aws, caplog):
    source = open_source(connector, aws)
    _, position = run(source)
    sandbox.set_list_filters(False)  # the real API may not know modifiedSince
    sandbox.touch(demo.invoice_ids[0], at=LATER)
    sandbox.touch(demo.credit_note_ids[0], at=LATER)
    with caplog.at_level(logging.WARNING):
        pages, after = run(source, position)
    assert (invoice_ref(demo.invoice_ids[0]), "2026-11-30T09:00:00Z") in listed(pages)
    assert (f"creditNote:{demo.credit_note_ids[0]}", "2026-11-30T09:00:00Z") in listed(pages)
    lookback = dt.timedelta(seconds=connector.source_config.lookback_seconds)
    since = (
        min(dt.datetime.fromisoformat(position[t]["since"]) for t in ("invoices", "creditNotes")) - lookback
    )
    assert all(dt.datetime.fromisoformat(v) >= since for _, v in listed(pages))
    assert len(listed(pages)) < 10  # filtered here: not the whole listing
    warnings = [r.getMessage() for r in caplog.records if "ignored modifiedSince" in r.getMessage()]
    assert len(warnings) == 2  # once per ledger
    assert after["listing"] == "done"


def test_drafts_and_voided_documents_are_not_ready(sandbox, demo, connector, aws):
    customer = demo.customer_by_tnid["100101"]
    draft = sandbox.add_sales_invoice(customer, [LINE], date="2026-10-02", status="draft", modified_at=LATER)
    voided = sandbox.touch(demo.invoice_ids[0], at=LATER, status="voided")
    source = open_source(connector, aws)
    ids = {i for i, _ in listed(run(source)[0])}
    assert invoice_ref(draft["id"]) not in ids and invoice_ref(voided["id"]) not in ids
    assert source.current_ref(voided) is None and source.current_ref(draft) is None
    approved = sandbox.sales_document(demo.invoice_ids[1])
    assert source.current_ref(approved) == SourceRef(
        invoice_ref(approved["id"]), approved["modifiedAt"], approved["formattedDocumentNumber"]
    )


# -- source: documents --------------------------------------------------------------------------------


def test_every_clean_demo_document_maps_with_clearbooks_totals(sandbox, demo, connector, aws):
    source = open_source(connector, aws)
    for document_id in demo.clean_ids:
        kind = "invoice" if document_id in demo.invoice_ids else "creditNote"
        stored = sandbox.sales_document(document_id)
        document, raw = source.fetch(SourceRef(f"{kind}:{document_id}", stored["modifiedAt"]))
        assert document.totals.total == stored["gross"] and document.totals.tax_total == stored["vat"]
        assert document.number == stored["formattedDocumentNumber"]
        assert document.buyer.external_refs[-1].system == TNID
        json.dumps(raw)  # archived as it is
    missing_po = sandbox.sales_document(demo.broken["missing_po"])
    document, _ = source.fetch(SourceRef(invoice_ref(missing_po["id"]), missing_po["modifiedAt"]))
    assert document.purchase_order is None  # the trade network refuses it, not the source


def test_invoice_mapping_keeps_exact_money_vat_accounts_and_po(sandbox, demo, connector, aws):
    source = open_source(connector, aws)
    invoice = sandbox.sales_document(demo.invoice_ids[0])
    document, _ = source.fetch(SourceRef(invoice_ref(invoice["id"]), invoice["modifiedAt"]))
    assert document.kind == "invoice" and document.purchase_order == invoice["reference"]
    assert document.due_date.isoformat() == invoice["dateDue"] and document.currency == "GBP"
    first, line = document.lines[0], invoice["lineItems"][0]
    assert (first.unit_price, first.net_amount) == (line["unitPrice"], line["net"])
    assert isinstance(first.unit_price, Decimal)
    assert (first.tax_rate, first.tax_code, first.account_code) == (Decimal(20), "20", "4000")
    manual = sandbox.sales_document(demo.invoice_ids[12])
    document, _ = source.fetch(SourceRef(invoice_ref(manual["id"]), manual["modifiedAt"]))
    assert document.totals.tax_total == manual["vat"]
    assert document.lines[0].tax_code == "Manual"


def test_credit_note_keeps_positive_amounts_and_names_the_credited_invoice(sandbox, demo, connector, aws):
    source = open_source(connector, aws)
    note_id = demo.credit_note_ids[0]
    note = sandbox.sales_document(note_id)
    document, _ = source.fetch(SourceRef(f"creditNote:{note_id}", note["modifiedAt"]))
    invoice = sandbox.sales_document(demo.linked_invoice[note_id])
    assert document.kind == "credit_note" and document.due_date is None
    assert document.totals.total == note["gross"] > 0
    assert all(line.net_amount > 0 for line in document.lines)
    assert document.credited_invoice == invoice["formattedDocumentNumber"]


@pytest.mark.parametrize(
    ("place", "expected"), [("custom_field", "200202"), ("external_id", "200201"), ("table", "200203")]
)
def test_buyer_tnid_from_each_configurable_place(sandbox, connector, aws, place, expected):
    customer = sandbox.add_customer(
        "Oceanic Shipping", external_id="200201", custom_fields={"Trade ID": "200202"}
    )
    invoice = sandbox.add_sales_invoice(customer["id"], [LINE], date="2026-10-02", reference="PO-9")
    source = open_source(
        connector,
        aws,
        buyer_tnid_from=place,
        tnid_custom_field="Trade ID",
        tnid_table={str(customer["id"]): 200203},
    )
    document, _ = source.fetch(SourceRef(invoice_ref(invoice["id"]), invoice["modifiedAt"]))
    assert document.buyer.name == "Oceanic Shipping"
    assert ExternalRef(system=TNID, id=expected) in document.buyer.external_refs


def test_a_customer_without_a_tnid_fails_the_document_naming_where_it_was_looked_for(
    sandbox, demo, connector, aws
):
    source = open_source(connector, aws)
    broken = sandbox.sales_document(demo.broken["customer_without_tnid"])
    with pytest.raises(MappingError) as caught:
        source.fetch(SourceRef(invoice_ref(broken["id"]), broken["modifiedAt"]))
    assert "Harbour Chandlery Ltd" in caught.value.reason and "custom field 'TNID'" in caught.value.reason
    json.dumps(caught.value.raw)  # archived with the failure


def test_the_pdf_is_kept_in_the_bucket(sandbox, demo, connector, aws):
    source = open_source(connector, aws)
    with_pdf = next(i for i in demo.invoice_ids if i in demo.pdf_ids and i not in demo.broken_ids)
    without = next(i for i in demo.invoice_ids if i not in demo.pdf_ids and i not in demo.broken_ids)
    invoice = sandbox.sales_document(with_pdf)
    document, _ = source.fetch(SourceRef(invoice_ref(with_pdf), invoice["modifiedAt"]))
    [attachment] = document.attachments
    content = sandbox.pdf(with_pdf)
    assert attachment.filename == f"{invoice['formattedDocumentNumber']}.pdf"
    assert attachment.uri.startswith(f"s3://{connector.context.bucket.bucket}/raw/")
    assert attachment.sha256 == hashlib.sha256(content).hexdigest() and attachment.size == len(content)
    assert connector.context.bucket.get(attachment.uri.split("/", 3)[3]) == content
    document, _ = source.fetch(SourceRef(invoice_ref(without), "x"))
    assert document.attachments == []


def test_acknowledge_writes_nothing_to_clearbooks(sandbox, demo, connector, aws):
    from invoice_relay.partners.capabilities import Outcome

    source = open_source(connector, aws)
    sandbox.clear_requests()
    source.acknowledge(SourceRef("invoice:1", "v"), Outcome.success("9", "SS-1", "shipserv"))
    source.acknowledge(SourceRef("invoice:1", "v"), Outcome.failure("no buyer TNID"))
    assert sandbox.find_requests(path=r"/v1/.*") == []


# -- target ---------------------------------------------------------------------------------------------


def received(kind="invoice", number="SI-7781", *, seller="Marine Spares International Ltd", tnid="300501",
             lines=None, **fields) -> Document:  # fmt: skip
    lines = lines or [
        {"position": 1, "description": "Hose assembly", "sku": "HOSE-1", "quantity": 2,
         "unit_price": "126.40", "tax_rate": "20"},
        {"position": 2, "description": "Delivery", "quantity": 1, "unit_price": "180.00", "tax_rate": "20"},
    ]  # fmt: skip
    refs = [{"system": TNID, "id": tnid}] if tnid else []
    return Document.model_validate(
        {
            "kind": kind,
            "number": number,
            "issue_date": dt.date(2026, 10, 5),
            "currency": "GBP",
            "seller": {"name": seller, "external_refs": refs},
            "buyer": {"name": "Relay Marine Supplies Ltd"},
            "lines": lines,
            "purchase_order": "PO-14100",
            **fields,
        }
    )


BUYER = Customer(name="Relay Marine Supplies Ltd")


def deliver(target: ClearBooksTarget, document: Document, marker: str = "shipserv-77-1"):
    return target.deliver_document(document, customer=BUYER, marker=marker)


def test_an_invoice_becomes_a_bill_with_mapped_accounts_and_vat(sandbox, demo, connector, aws):
    target = open_target(connector, aws)
    delivered = deliver(target, received())
    [bill] = sandbox.bills()
    assert delivered.target_id == str(bill["id"]) and delivered.number == bill["formattedDocumentNumber"]
    assert bill["supplierId"] == demo.supplier_by_tnid["300501"]
    assert (bill["reference"], bill["externalId"], bill["currency"]) == ("SI-7781", "shipserv-77-1", "GBP")
    assert bill["dateDue"] == "2026-11-04" and "PO PO-14100" in bill["description"]
    assert [(line["accountCode"], line["vatRateKey"]) for line in bill["lineItems"]] == [
        (5200, "20"),
        (5000, "20"),
    ]
    assert bill["gross"] == Decimal("519.36") and delivered.notes == ()


def test_a_credit_note_becomes_a_purchase_credit_note_without_due_date(sandbox, demo, connector, aws):
    target = open_target(connector, aws)
    delivered = deliver(target, received("credit_note", "SC-12", credited_invoice="SI-7781"), "shipserv-78-1")
    [note] = sandbox.purchase_credit_notes()
    assert sandbox.bills() == [] and "dateDue" not in note
    assert delivered.number == note["formattedDocumentNumber"] and note["gross"] > 0
    assert "credits invoice SI-7781" in note["description"]


def test_supplier_found_by_name_or_created_with_its_tnid(sandbox, demo, connector, aws):
    target = open_target(connector, aws)
    deliver(target, received(seller=DEMO_NAMED_SUPPLIER, tnid=None), "m-1")
    assert sandbox.bills()[-1]["supplierId"] == demo.supplier_by_name_only
    deliver(target, received(seller="Nordic Ship Chandlers AB", tnid="300777"), "m-2")
    created = sandbox.suppliers()[-1]
    assert (created["name"], created["externalId"]) == ("Nordic Ship Chandlers AB", "300777")
    assert sandbox.bills()[-1]["supplierId"] == created["id"]
    deliver(target, received(seller="Renamed Chandlers", tnid="300777"), "m-3")  # found by TNID
    assert sandbox.bills()[-1]["supplierId"] == created["id"] and len(sandbox.suppliers()) == len(
        {s["id"] for s in sandbox.suppliers()}
    )


def test_a_supplier_is_looked_up_once_per_target_and_again_when_the_remembered_one_is_refused(
    sandbox, demo, connector, aws
):
    target = open_target(connector, aws)
    sandbox.clear_requests()
    for index in range(3):
        deliver(target, received(number=f"SI-80{index}"), f"m-{index}")
    assert len(sandbox.find_requests("GET", r".*/suppliers")) == 1  # the sender's next documents: none
    assert {b["supplierId"] for b in sandbox.bills()} == {demo.supplier_by_tnid["300501"]}

    target._known_suppliers = dict.fromkeys(target._known_suppliers, 999_999)  # gone in ClearBooks
    deliver(target, received(number="SI-900"), "m-9")
    assert sandbox.bills()[-1]["supplierId"] == demo.supplier_by_tnid["300501"]


def test_an_unknown_supplier_fails_when_the_connector_creates_none(sandbox, demo, connector, aws):
    target = open_target(connector, aws, create_suppliers=False)
    with pytest.raises(
        PermanentError, match=r"no ClearBooks supplier found for supplier 'Unknown Ltd' \(TNID 399"
    ):
        deliver(target, received(seller="Unknown Ltd", tnid="399999"))
    assert sandbox.bills() == []


def test_unmapped_lines_fail_or_take_the_default(sandbox, demo, connector, aws):
    failing = open_target(connector, aws, unmapped_lines="fail")
    with pytest.raises(PermanentError, match=r"no account code for line 2"):
        deliver(failing, received())
    no_default = make_target(
        connector, connector.target_config.model_copy(update={"default_account_code": None})
    )
    with pytest.raises(PermanentError, match=r"no default account code"):
        deliver(no_default, received())
    assert sandbox.bills() == [] and len(sandbox.suppliers()) == 2  # failed before creating anything


def test_vat_rates_are_mapped_by_percent_and_an_unknown_rate_fails(sandbox, demo, connector, aws):
    target = open_target(connector, aws, vat_rate_keys={"0": "exempt"})
    lines = [
        {"position": 1, "description": "Provisions", "quantity": 1, "unit_price": "50", "tax_rate": "5"},
        {"position": 2, "description": "Charts", "quantity": 1, "unit_price": "20", "tax_rate": "0"},
    ]
    deliver(target, received(lines=lines))
    assert [line["vatRateKey"] for line in sandbox.bills()[0]["lineItems"]] == ["5", "exempt"]
    odd = [{"position": 1, "description": "X", "quantity": 1, "unit_price": "10", "tax_rate": "7"}]
    with pytest.raises(PermanentError, match=r"no ClearBooks VAT rate of 7% under treatment UK"):
        deliver(target, received(lines=odd), "m-odd")


@pytest.mark.parametrize("filters", [True, False])
def test_a_repeat_with_the_same_marker_returns_the_first_bill(sandbox, demo, connector, aws, filters):
    target = open_target(connector, aws)
    first = deliver(target, received())
    sandbox.set_list_filters(filters)  # False: the externalId filter is ignored, the list is walked
    sandbox.add_bill(demo.supplier_by_tnid["300501"], [{**LINE, "accountCode": 5000}], date="2026-10-06")
    again = make_target(connector, connector.target_config)  # another worker, after a crash
    assert deliver(again, received()) == first
    assert len(sandbox.bills()) == 2


def test_attachments_are_uploaded_once(sandbox, demo, connector, aws):
    target = open_target(connector, aws)
    kept = keep_attachment(
        connector.context, system="shipserv", source_id="77", version="1", filename="SI-7781.pdf",
        content=b"%PDF-1.4 supporting document",
    )  # fmt: skip
    document = received(attachments=[kept.model_dump()])
    first = deliver(target, document)
    deliver(target, document)
    [attachment] = sandbox.attachments(int(first.target_id))
    assert (attachment["name"], attachment["content"]) == ("SI-7781.pdf", b"%PDF-1.4 supporting document")


def test_a_refused_document_is_permanent_with_clearbooks_message(sandbox, demo, connector, aws):
    target = open_target(connector, aws, account_codes={"HOSE-1": 9999})
    with pytest.raises(PermanentError) as caught:
        deliver(target, received())
    assert "HTTP 400" in caught.value.reason
    assert "lineItems[0].accountCode 9999 does not exist" in caught.value.reason


def test_customers_and_payments_are_not_part_of_the_flow(connector, aws, sandbox):
    target = open_target(connector, aws)
    with pytest.raises(PermanentError, match="not supported"):
        target.update_customer(BUYER, None)
    with pytest.raises(PermanentError, match="not supported"):
        target.record_payment("1", Payment(amount="1", currency="GBP", date=dt.date(2026, 1, 1)))


# -- OAuth -------------------------------------------------------------------------------------------------


def test_each_side_asks_for_its_own_scopes_on_the_documented_consent_page(sandbox, connector):
    for config, scopes in (
        (connector.source_config, SOURCE_SCOPES),
        (connector.target_config, TARGET_SCOPES),
    ):
        url = connector_oauth(config).connect_url("st")
        assert url.startswith(f"{sandbox.base_url}/account/action/oauth/?")
        assert parse_qs(urlsplit(url).query)["scope"] == [" ".join(scopes)]


def test_spec_opens_each_capability(sandbox, connector, aws):
    connect(connector.target_config, aws)
    source = SPEC.source.provides[POLLED_SOURCE](connector.source_config, connector.context)
    target = SPEC.target.provides[DOCUMENT_TARGET](connector.target_config, connector.context)
    connection = SPEC.target.provides[OAUTH_CONNECT](connector.target_config, connector.context)
    assert isinstance(source, PolledSource) and isinstance(target, DocumentTarget)
    assert isinstance(connection, OAuthConnect) and connection.title == "ClearBooks"
    source.close()
    target.close()


def test_an_access_token_expiring_mid_run_is_refreshed_once(sandbox, demo, connector, aws):
    target = open_target(connector, aws)
    deliver(target, received(), "m-1")
    sandbox.expire_access_tokens()
    deliver(target, received(number="SI-7782"), "m-2")
    assert [g["grant_type"] for g in sandbox.token_grants] == ["authorization_code", "refresh_token"]
    assert len(sandbox.bills()) == 2


def test_two_workers_refreshing_at_once_share_the_single_use_refresh_token(sandbox, demo, connector, aws):
    connect(connector.target_config, aws)
    workers = [make_target(connector, connector.target_config) for _ in range(3)]
    for worker in workers:
        worker.client.vat_rates("purchases")
    sandbox.expire_access_tokens()
    sandbox.inject_fault(method="POST", path="/oauth/token", delay=0.3)
    start = threading.Barrier(len(workers))

    def work(target: ClearBooksTarget) -> int:
        start.wait()
        return len(target.client.vat_rates("purchases"))

    with ThreadPoolExecutor(len(workers)) as pool:
        assert len(set(pool.map(work, workers))) == 1
    grants = sandbox.token_grants
    assert [g["grant_type"] for g in grants] == ["authorization_code", "refresh_token"]
    assert all(g["error"] is None for g in grants)


def test_revoked_tokens_are_a_connector_error_asking_to_reconnect(sandbox, demo, connector, aws):
    target = open_target(connector, aws)
    sandbox.revoke_tokens()  # the user disconnected the app in ClearBooks
    with pytest.raises(AuthenticationError, match="reconnect ClearBooks") as caught:
        deliver(target, received())
    assert not isinstance(caught.value, PermanentError)
    assert sandbox.bills() == []
