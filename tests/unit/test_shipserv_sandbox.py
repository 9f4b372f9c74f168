"""local.sandboxes.shipserv: the sandbox ShipServ Invoicing API over real HTTP on loopback — token grant and
expiry, the buyer's paged list / detail / mark-as-exported / attachments, the supplier's send with
idempotency, duplicates and validation, the READ acknowledgement, and the base's faults and rate limit."""

from __future__ import annotations

import base64
import re
import threading
from decimal import Decimal

import pytest
import requests

from local.sandboxes.shipserv import (
    DEMO_BUYER_TNID,
    DEMO_SUPPLIER_TNID,
    IDEMPOTENCY_HEADER,
    TOKEN_PATH,
    DemoData,
    ShipServSandbox,
    demo_pdf,
)

DOCUMENTS = "/invoicing/documents"
OBJECT_ID = re.compile(r"[0-9a-f]{24}")


@pytest.fixture(scope="module")
def server():
    with ShipServSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server):
    server.reset()
    server.set_rate_limit(None)
    return server


@pytest.fixture
def demo(sandbox) -> DemoData:
    return sandbox.seed_demo_data()


def grant(sandbox: ShipServSandbox, kit: dict, **changes) -> requests.Response:
    body = {
        "grant_type": "password",
        "client_id": kit["client_id"],
        "client_secret": kit["client_secret"],
        "username": kit["username"],
        "password": kit["password"],
        **changes,
    }
    return requests.post(f"{sandbox.base_url}{TOKEN_PATH}", json=body, timeout=5)


class Api:
    """A signed-in user of the sandbox."""

    def __init__(self, sandbox: ShipServSandbox, kit: dict):
        self.sandbox = sandbox
        answer = grant(sandbox, kit)
        assert answer.status_code == 200, answer.text
        self.token = answer.json()["access_token"]

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return requests.request(
            method, f"{self.sandbox.base_url}{path}", headers=headers, timeout=5, **kwargs
        )

    def get(self, path: str, **params) -> requests.Response:
        return self.call("GET", path, params=params)

    def send(self, body: dict, key: str | None = None) -> requests.Response:
        headers = {IDEMPOTENCY_HEADER: key} if key else {}
        return self.call("POST", DOCUMENTS, json=body, headers=headers)


@pytest.fixture
def buyer(sandbox, demo) -> Api:
    return Api(sandbox, demo.buyer_credentials)


@pytest.fixture
def supplier(sandbox, demo) -> Api:
    return Api(sandbox, demo.supplier_credentials)


def invoice_body(buyer_tnid: int, reference: str = "INV-1001", **changes) -> dict:
    """A valid invoice: 2 × 500.00 at 20 % + 3 × 12.345 at 0 %; sub 1037.04, tax 200.00, cost 1237.04."""
    body = {
        "type": "Invoice",
        "buyerTnId": buyer_tnid,
        "referenceNumber": reference,
        "purchaseOrderNumber": "PO-77",
        "invoiceDate": "2026-03-02",
        "dueDate": "2026-04-01",
        "currency": "GBP",
        "vesselImoNumber": "9489986",
        "vesselName": "Bulker Bee 30",
        "lineItems": [
            {"description": "Pressure roller", "partCode": "5005292-01", "quantity": "2",
             "unitPrice": "500.00", "taxRate": "20", "totalCost": "1000.00", "taxCost": "200.00"},
            {"description": "Gasket", "quantity": 3, "unitPrice": "12.345", "taxRate": "0"},
        ],
        "subCost": "1037.04",
        "taxCost": "200.00",
        "cost": "1237.04",
        "attachments": [
            {"name": f"{reference}.pdf", "contentBase64": base64.b64encode(demo_pdf(reference)).decode(),
             "classification": "Invoice"}
        ],
    }  # fmt: skip
    body.update(changes)
    return body


def credit_body(buyer_tnid: int, invoice_reference: str, reference: str = "CN-1001", **changes) -> dict:
    body = {
        "type": "CreditNote",
        "buyerTnId": buyer_tnid,
        "referenceNumber": reference,
        "purchaseOrderNumber": "PO-77",
        "invoiceDate": "2026-03-05",
        "currency": "GBP",
        "linkedInvoiceReferenceNumber": invoice_reference,
        "lineItems": [{"description": "Pressure roller (damaged)", "quantity": "1", "unitPrice": "500.00",
                       "taxRate": "20"}],
        "subCost": "500.00",
        "taxCost": "100.00",
        "cost": "600.00",
    }  # fmt: skip
    body.update(changes)
    return body


def codes(answer: requests.Response) -> set[tuple[str, str | None]]:
    return {(e["code"], e.get("field")) for e in answer.json()["errors"]}


# -- token ------------------------------------------------------------------------------------------------


def test_token_grant_gives_a_32_character_opaque_bearer_token(sandbox, demo):
    answer = grant(sandbox, demo.buyer_credentials)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert re.fullmatch(r"[A-Za-z0-9]{32}", body["access_token"])
    assert sandbox.tokens_issued == 1
    logged = sandbox.find_requests("POST", TOKEN_PATH)[0]["json"]
    assert logged["password"] == logged["client_secret"] == "[redacted]"


def test_token_grant_accepts_a_form_body_too(sandbox, demo):
    kit = demo.supplier_credentials
    form = {
        "grant_type": "password",
        **{k: kit[k] for k in ("client_id", "client_secret", "username", "password")},
    }
    answer = requests.post(f"{sandbox.base_url}{TOKEN_PATH}", data=form, timeout=5)
    assert answer.status_code == 200 and len(answer.json()["access_token"]) == 32


def test_token_grant_refuses_a_bad_client(sandbox, demo):
    answer = grant(sandbox, demo.buyer_credentials, client_secret="wrong")
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client" and answer.json()["error_description"]


@pytest.mark.parametrize(
    "changes",
    [
        {"password": "wrong"},
        {"username": "nobody@example.com"},
        # the supplier tenant's user with the buyer tenant's client
        {"username": "integration@relay-marine-supplies.example", "password": "sandbox-supplier-password"},
    ],
)
def test_token_grant_refuses_a_bad_user(sandbox, demo, changes):
    answer = grant(sandbox, demo.buyer_credentials, **changes)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert sandbox.tokens_issued == 0


def test_token_grant_refuses_another_grant_type(sandbox, demo):
    answer = grant(sandbox, demo.buyer_credentials, grant_type="client_credentials")
    assert answer.status_code == 400 and answer.json()["error"] == "unsupported_grant_type"


def test_expired_unknown_or_missing_token_is_401_invalid_token(sandbox, buyer):
    assert buyer.get(DOCUMENTS).status_code == 200
    assert sandbox.expire_tokens() == 1
    answer = buyer.get(DOCUMENTS)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_token" and answer.json()["error_description"]
    assert "invalid_token" in answer.headers["WWW-Authenticate"]
    unknown = requests.get(
        f"{sandbox.base_url}{DOCUMENTS}", headers={"Authorization": "Bearer " + "x" * 32}, timeout=5
    )
    assert unknown.status_code == 401
    assert requests.get(f"{sandbox.base_url}{DOCUMENTS}", timeout=5).status_code == 401


def test_tokens_expire_after_their_lifetime(demo):
    with ShipServSandbox(token_ttl_seconds=0) as short:
        short.seed_demo_data()
        api = Api(short, demo.buyer_credentials)
        assert api.get(DOCUMENTS).status_code == 401


def test_expire_tokens_over_http(sandbox, buyer):
    answer = requests.post(f"{sandbox.base_url}/_sandbox/expire-tokens", timeout=5)
    assert answer.json() == {"expired": 1}
    assert buyer.get(DOCUMENTS).status_code == 401


# -- buyer: list, detail, mark exported, attachments ---------------------------------------------------


def test_paging_over_the_25_received_documents(buyer, demo):
    pages = [buyer.get(DOCUMENTS, pageNumber=n, pageSize=10).json() for n in (1, 2, 3, 4)]
    assert [len(p["content"]) for p in pages] == [10, 10, 5, 0]
    for number, page in enumerate(pages, start=1):
        assert page["pageNumber"] == number and page["pageSize"] == 10
        assert page["totalElements"] == 25 and page["totalPages"] == 3
    ids = [d["id"] for p in pages for d in p["content"]]
    assert ids == list(demo.received_ids) and len(set(ids)) == 25
    dates = [(d["submittedDate"], d["id"]) for p in pages for d in p["content"]]
    assert dates == sorted(dates)
    summary = pages[0]["content"][0]
    assert OBJECT_ID.fullmatch(summary["id"])
    assert set(summary) >= {
        "id", "type", "buyerTnId", "buyerName", "supplierTnId", "supplierName", "referenceNumber",
        "purchaseOrderNumber", "vesselImoNumber", "vesselName", "currency", "totalCost", "status", "exported",
        "submittedDate", "createdDate",
    }  # fmt: skip
    assert "lineItems" not in summary
    assert summary["buyerTnId"] == DEMO_BUYER_TNID and summary["status"] == "Sent"
    assert buyer.get(DOCUMENTS).json()["pageSize"] == 20  # the default


def test_paging_parameters_are_checked(buyer):
    for params in ({"pageSize": 101}, {"pageSize": 0}, {"pageNumber": 0}, {"pageNumber": "x"}):
        answer = buyer.get(DOCUMENTS, **params)
        assert answer.status_code == 400, params
        assert answer.json()["errors"][0]["code"] == "INVALID_PARAMETER"
    assert buyer.get(DOCUMENTS, pageSize=100).json()["totalPages"] == 1


def test_filters(buyer, sandbox, demo):
    def total(**params):
        answer = buyer.get(DOCUMENTS, pageSize=100, **params)
        assert answer.status_code == 200, answer.text
        return answer.json()["totalElements"]

    assert total(type="Invoice") == 20 and total(type="CreditNote") == 5
    assert total(exported="false") == 25 and total(exported="true") == 0
    documents = sandbox.documents(buyer_tnid=DEMO_BUYER_TNID)
    first = documents[0]
    assert total(referenceNumber=first["referenceNumber"]) == 1
    same_po = sum(d["purchaseOrderNumber"] == first["purchaseOrderNumber"] for d in documents)
    assert total(purchaseOrderNumber=first["purchaseOrderNumber"]) == same_po
    for tnid in demo.sender_tnids:
        assert total(supplierTnId=tnid) == sum(d["supplierTnId"] == tnid for d in documents)
    by_vessel = [total(vesselImoNumber=imo) for imo in demo.vessels]
    assert sum(by_vessel) == 25 and all(by_vessel)
    assert total(type="CreditNote", supplierTnId=demo.sender_tnids[0]) == sum(
        d["type"] == "CreditNote" and d["supplierTnId"] == demo.sender_tnids[0] for d in documents
    )
    assert total(buyerTnId=999) == 0  # another buyer's documents are never listed
    assert buyer.get(DOCUMENTS, type="Bill").status_code == 400
    assert buyer.get(DOCUMENTS, exported="maybe").status_code == 400
    assert buyer.get(DOCUMENTS, supplierTnId="abc").status_code == 400


def test_seed_contents(sandbox, demo):
    documents = sandbox.documents(buyer_tnid=DEMO_BUYER_TNID)
    assert len(demo.invoice_ids) == 20 and len(demo.credit_note_ids) == 5
    by_id = {d["id"]: d for d in documents}
    for credit_id, invoice_id in demo.credit_note_links.items():
        credit, invoice = by_id[credit_id], by_id[invoice_id]
        assert credit["type"] == "CreditNote" and invoice["type"] == "Invoice"
        assert credit["linkedInvoiceReferenceNumber"] == invoice["referenceNumber"]
        assert (credit["supplierTnId"], credit["buyerTnId"]) == (
            invoice["supplierTnId"],
            invoice["buyerTnId"],
        )
        assert credit["submittedDate"] > invoice["submittedDate"]
    rates = {line["taxRate"] for d in documents for line in d["lineItems"]}
    assert rates == {"0", "20"}
    assert 3 <= len(demo.attachment_ids) <= 8
    for document in documents:
        lines = document["lineItems"]
        assert Decimal(document["subCost"]) == sum(Decimal(x["totalCost"]) for x in lines)
        assert Decimal(document["cost"]) == Decimal(document["subCost"]) + Decimal(document["taxCost"])
        assert document["totalCost"] == document["cost"]
    # deterministic: the same seed gives the same network
    again = sandbox.seed_demo_data(demo.seed)
    assert again.received_ids == demo.received_ids
    assert [d["lineItems"] for d in sandbox.documents()] == [d["lineItems"] for d in documents]
    assert sandbox.seed_demo_data(demo.seed + 1).received_ids != demo.received_ids


def test_detail_sets_read_for_the_buyer(buyer, sandbox, demo):
    document_id = demo.credit_note_ids[0]
    answer = buyer.get(f"{DOCUMENTS}/{document_id}")
    assert answer.status_code == 200
    document = answer.json()
    assert document["status"] == "Read" and document["readDate"].endswith("Z")
    assert document["buyer"] == {"tnId": DEMO_BUYER_TNID, "name": document["buyerName"]}
    assert document["supplier"]["tnId"] == document["supplierTnId"]
    assert document["vessel"]["imoNumber"] == document["vesselImoNumber"]
    assert document["linkedInvoiceId"] == demo.credit_note_links[document_id]
    line = document["lineItems"][0]
    assert set(line) == {
        "number", "description", "partCode", "quantity", "unitOfMeasure", "unitPrice", "discountCost",
        "totalCost", "taxRate", "taxCost",
    }  # fmt: skip
    again = buyer.get(f"{DOCUMENTS}/{document_id}").json()
    assert again["readDate"] == document["readDate"]  # read once
    assert buyer.get(DOCUMENTS, status="Read").json()["totalElements"] == 1


def test_unknown_document_is_404(buyer):
    answer = buyer.get(f"{DOCUMENTS}/{'0' * 24}")
    assert answer.status_code == 404
    assert answer.json() == {
        "errors": [{"code": "NOT_FOUND", "message": answer.json()["errors"][0]["message"]}]
    }
    assert buyer.call("POST", f"{DOCUMENTS}/{'0' * 24}/mark-as-exported").status_code == 404
    assert buyer.get(f"/attachments/{'0' * 24}/bytes").status_code == 404


def test_mark_as_exported_is_idempotent_and_leaves_the_new_list(buyer, sandbox, demo):
    document_id = demo.received_ids[3]
    first = buyer.call("POST", f"{DOCUMENTS}/{document_id}/mark-as-exported")
    assert first.status_code == 200
    assert first.json()["exported"] is True and first.json()["exportedDate"]
    assert first.json()["status"] == "Read"  # exporting is the acknowledgement too
    second = buyer.call("POST", f"{DOCUMENTS}/{document_id}/mark-as-exported")
    assert second.status_code == 200 and second.json() == first.json()
    new = buyer.get(DOCUMENTS, exported="false", pageSize=100).json()
    assert new["totalElements"] == 24 and document_id not in [d["id"] for d in new["content"]]
    assert buyer.get(DOCUMENTS, exported="true").json()["content"][0]["id"] == document_id
    assert sandbox.document(document_id)["exported"] is True


def test_attachment_bytes(buyer, sandbox, demo):
    document_id, attachment_ids = next(iter(demo.attachment_ids.items()))
    document = buyer.get(f"{DOCUMENTS}/{document_id}").json()
    meta = document["attachments"][0]
    assert meta["id"] == attachment_ids[0] and meta["type"] == "application/pdf"
    assert meta["classification"] in ("Invoice", "Supporting") and meta["name"].endswith(".pdf")
    answer = buyer.get(f"/attachments/{meta['id']}/bytes")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF-") and answer.content.rstrip().endswith(b"%%EOF")
    assert len(answer.content) == meta["size"] == len(sandbox.attachment_bytes(meta["id"]))


def test_another_tenants_document_is_403(buyer, supplier, sandbox, demo):
    document_id = demo.received_ids[0]
    attachment_id = next(iter(demo.attachment_ids.values()))[0]
    for answer in (
        supplier.get(f"{DOCUMENTS}/{document_id}"),
        supplier.call("POST", f"{DOCUMENTS}/{document_id}/mark-as-exported"),
        supplier.get(f"/attachments/{attachment_id}/bytes"),
    ):
        assert answer.status_code == 403
        assert answer.json()["errors"][0]["code"] == "FORBIDDEN"
    assert sandbox.document(document_id)["status"] == "Sent"
    other = sandbox.add_received_document(
        buyer_tnid=100555, supplier_tnid=300999, reference_number="X-1", lines=[("Rope", "1", "10.00")]
    )
    assert buyer.get(f"{DOCUMENTS}/{other['id']}").status_code == 403
    assert buyer.get(DOCUMENTS, role="supplier").status_code == 403  # the buyer is not a supplier


# -- supplier: send, idempotency, duplicates, validation, READ -------------------------------------------


def test_send_creates_a_document(supplier, sandbox, demo):
    buyer_tnid = demo.supplier_buyer_tnids[0]
    answer = supplier.send(invoice_body(buyer_tnid), key="k-1")
    assert answer.status_code == 201, answer.text
    document = answer.json()
    assert OBJECT_ID.fullmatch(document["id"]) and document["status"] == "Sent"
    assert answer.headers["Location"] == f"{DOCUMENTS}/{document['id']}"
    assert document["supplierTnId"] == DEMO_SUPPLIER_TNID and document["buyerTnId"] == buyer_tnid
    assert document["buyerName"] == "Northsea Bulk Carriers AS"
    assert (document["subCost"], document["taxCost"], document["cost"]) == ("1037.04", "200.00", "1237.04")
    assert document["lineItems"][1]["totalCost"] == "37.04"  # 3 × 12.345 = 37.035, half-up
    assert document["lineItems"][1]["unitPrice"] == "12.345" and document["lineItems"][1]["number"] == 2
    assert document["attachments"][0]["type"] == "application/pdf"
    pdf = supplier.get(f"/attachments/{document['attachments'][0]['id']}/bytes").content
    assert pdf == demo_pdf("INV-1001")
    assert len(sandbox.documents(supplier_tnid=DEMO_SUPPLIER_TNID)) == 1


def test_same_idempotency_key_gives_the_same_document_and_no_duplicate(supplier, sandbox, demo):
    body = invoice_body(demo.supplier_buyer_tnids[1])
    first = supplier.send(body, key="relay:cb-42:v1")
    second = supplier.send(body, key="relay:cb-42:v1")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(sandbox.documents(supplier_tnid=DEMO_SUPPLIER_TNID)) == 1
    reused = supplier.send({**body, "cost": "1.00"}, key="relay:cb-42:v1")
    assert reused.status_code == 422 and codes(reused) == {("IDEMPOTENCY_KEY_REUSED", IDEMPOTENCY_HEADER)}


def test_concurrent_sends_with_one_key_create_one_document(supplier, sandbox, demo):
    body = invoice_body(demo.supplier_buyer_tnids[0], "INV-RACE")
    answers: list[requests.Response] = []
    threads = [
        threading.Thread(target=lambda: answers.append(supplier.send(body, key="race"))) for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(sandbox.documents(supplier_tnid=DEMO_SUPPLIER_TNID)) == 1


def test_same_reference_with_another_key_is_409_with_the_existing_id(supplier, demo):
    body = invoice_body(demo.supplier_buyer_tnids[0])
    created = supplier.send(body, key="a").json()
    for key in ("b", None):
        answer = supplier.send(body, key=key)
        assert answer.status_code == 409
        assert codes(answer) == {("DUPLICATE_DOCUMENT", "referenceNumber")}
        assert answer.json()["existingId"] == created["id"]
    # the same reference as a credit note is another document
    credit = supplier.send(credit_body(demo.supplier_buyer_tnids[0], "INV-1001", reference="INV-1001"))
    assert credit.status_code == 201, credit.text


@pytest.mark.parametrize(
    ("buyer_tnid_of", "expected"),
    [
        (lambda demo: demo.unknown_buyer_tnid, "is not a ShipServ buyer"),
        (lambda demo: demo.not_set_up_buyer_tnid, "is not set up to receive invoices"),
        (lambda demo: DEMO_SUPPLIER_TNID, "is not set up to receive invoices"),  # a supplier only
    ],
)
def test_unknown_buyer_is_422(supplier, demo, buyer_tnid_of, expected):
    answer = supplier.send(invoice_body(buyer_tnid_of(demo)))
    assert answer.status_code == 422
    assert codes(answer) == {("UNKNOWN_BUYER", "buyerTnId")}
    assert expected in answer.json()["errors"][0]["message"]


def test_missing_purchase_order_is_422(supplier, demo):
    for value in (None, "", "  "):
        body = invoice_body(demo.supplier_buyer_tnids[0], purchaseOrderNumber=value)
        if value is None:
            del body["purchaseOrderNumber"]
        answer = supplier.send(body)
        assert answer.status_code == 422 and codes(answer) == {("PO_REQUIRED", "purchaseOrderNumber")}


def test_credit_note_needs_its_invoice(supplier, sandbox, demo):
    buyer_a, buyer_b = demo.supplier_buyer_tnids
    missing = supplier.send(credit_body(buyer_a, "INV-404"))
    assert missing.status_code == 422
    assert codes(missing) == {("LINKED_INVOICE_NOT_FOUND", "linkedInvoiceReferenceNumber")}
    unlinked = credit_body(buyer_a, "x")
    del unlinked["linkedInvoiceReferenceNumber"]
    assert codes(supplier.send(unlinked)) == {("LINKED_INVOICE_NOT_FOUND", "linkedInvoiceReferenceNumber")}
    invoice = supplier.send(invoice_body(buyer_a, "INV-7")).json()
    other_buyer = supplier.send(credit_body(buyer_b, "INV-7"))  # the invoice went to another buyer
    assert codes(other_buyer) == {("LINKED_INVOICE_NOT_FOUND", "linkedInvoiceReferenceNumber")}
    received = demo.invoice_ids[0]  # another supplier's invoice, by id
    by_id = credit_body(DEMO_BUYER_TNID, "x", linkedInvoiceId=received)
    del by_id["linkedInvoiceReferenceNumber"]
    assert ("LINKED_INVOICE_NOT_FOUND", "linkedInvoiceId") in codes(supplier.send(by_id))
    good = supplier.send(credit_body(buyer_a, "INV-7"))
    assert good.status_code == 201, good.text
    assert good.json()["linkedInvoiceId"] == invoice["id"]
    assert good.json()["linkedInvoiceReferenceNumber"] == "INV-7"
    by_invoice_id = credit_body(buyer_a, "x", reference="CN-2", linkedInvoiceId=invoice["id"])
    del by_invoice_id["linkedInvoiceReferenceNumber"]
    assert supplier.send(by_invoice_id).status_code == 201


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cost": "1237.05"}, "cost"),
        ({"subCost": "1000.00", "cost": "1200.00"}, "subCost"),
        ({"taxCost": "201.00", "cost": "1238.04"}, "taxCost"),
    ],
)
def test_totals_that_do_not_add_up_are_422(supplier, demo, changes, field):
    answer = supplier.send(invoice_body(demo.supplier_buyer_tnids[0], **changes))
    assert answer.status_code == 422
    assert ("TOTALS_MISMATCH", field) in codes(answer)


def test_line_totals_are_checked(supplier, demo):
    body = invoice_body(demo.supplier_buyer_tnids[0])
    body["lineItems"][0]["totalCost"] = "999.00"
    body["lineItems"][1]["taxCost"] = "5.00"
    answer = supplier.send(body)
    assert answer.status_code == 422
    assert codes(answer) >= {
        ("TOTALS_MISMATCH", "lineItems[0].totalCost"),
        ("TOTALS_MISMATCH", "lineItems[1].taxCost"),
    }


def test_tax_rounded_per_rate_is_accepted(supplier, demo):
    """Three lines of 0.05 at 10 %: per line 0.01 each (0.03), per rate 0.015 → 0.02; both are accepted."""
    lines = [
        {"description": f"Washer {n}", "quantity": "1", "unitPrice": "0.05", "taxRate": "10"}
        for n in range(3)
    ]
    for reference, tax in (("R-1", "0.03"), ("R-2", "0.02")):
        body = invoice_body(
            demo.supplier_buyer_tnids[0], reference, lineItems=lines, subCost="0.15", taxCost=tax,
            cost=str(Decimal("0.15") + Decimal(tax)), attachments=[],
        )  # fmt: skip
        assert supplier.send(body).status_code == 201, reference
    body = invoice_body(demo.supplier_buyer_tnids[0], "R-3", lineItems=lines, subCost="0.15", taxCost="0.04")
    assert ("TOTALS_MISMATCH", "taxCost") in codes(supplier.send({**body, "cost": "0.19"}))


def test_missing_and_malformed_fields_are_422(supplier, demo):
    body = invoice_body(demo.supplier_buyer_tnids[0], cost=1237.04, currency="pounds", colour="blue")
    del body["invoiceDate"], body["referenceNumber"]
    body["lineItems"][0]["quantity"] = "-1"
    body["attachments"][0]["contentBase64"] = "not base64!"
    answer = supplier.send(body)
    assert answer.status_code == 422
    assert codes(answer) >= {
        ("REQUIRED", "invoiceDate"),
        ("REQUIRED", "referenceNumber"),
        ("INVALID_VALUE", "cost"),  # money is a decimal string, not a JSON number
        ("INVALID_VALUE", "currency"),
        ("UNKNOWN_FIELD", "colour"),
        ("INVALID_VALUE", "lineItems[0].quantity"),
        ("INVALID_ATTACHMENT", "attachments[0].contentBase64"),
    }
    assert codes(supplier.send(invoice_body(demo.supplier_buyer_tnids[0], lineItems=[]))) >= {
        ("INVALID_VALUE", "lineItems")
    }
    not_json = supplier.call("POST", DOCUMENTS, data="nope", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400


def test_refused_sends_are_not_remembered_under_their_key(supplier, demo):
    body = invoice_body(demo.supplier_buyer_tnids[0])
    assert supplier.send({**body, "cost": "1.00"}, key="fix-me").status_code == 422
    assert supplier.send(body, key="fix-me").status_code == 201


def test_only_suppliers_send(buyer, demo):
    answer = buyer.send(invoice_body(demo.supplier_buyer_tnids[0]))
    assert answer.status_code == 403 and answer.json()["errors"][0]["code"] == "FORBIDDEN"


def test_search_by_reference_shows_the_read_acknowledgement(supplier, sandbox, demo):
    buyer_tnid = demo.supplier_buyer_tnids[0]
    sandbox.add_tenant("Northsea")
    kit = sandbox.add_user(
        "ap@northsea.example",
        "northsea-password",
        buyer_tnid,
        "Northsea Bulk Carriers AS",
        "buyer",
        tenant="Northsea",
    )
    receiver = Api(sandbox, kit)
    sent = supplier.send(invoice_body(buyer_tnid, "INV-1"), key="k").json()
    supplier.send(invoice_body(buyer_tnid, "INV-2"), key="k2")

    def search():
        answer = supplier.get(DOCUMENTS, role="supplier", referenceNumber="INV-1", type="Invoice")
        assert answer.status_code == 200
        return answer.json()

    before = search()
    assert before["totalElements"] == 1
    assert before["content"][0]["id"] == sent["id"]
    assert (before["content"][0]["status"], before["content"][0]["readDate"]) == ("Sent", None)
    assert supplier.get(f"{DOCUMENTS}/{sent['id']}").json()["status"] == "Sent"  # the supplier's own read
    assert supplier.get(DOCUMENTS).json()["totalElements"] == 2  # a supplier's default role
    assert receiver.get(DOCUMENTS, exported="false").json()["totalElements"] == 2
    assert receiver.get(f"{DOCUMENTS}/{sent['id']}").status_code == 200
    after = search()["content"][0]
    assert after["status"] == "Read" and after["readDate"].endswith("Z")
    assert supplier.get(DOCUMENTS, role="supplier", referenceNumber="INV-404").json()["totalElements"] == 0
    assert supplier.get(DOCUMENTS, role="buyer").status_code == 403


def test_mark_read_control(sandbox, demo):
    document = sandbox.mark_read(demo.received_ids[0])
    assert document["status"] == "Read" and document["readDate"]
    with pytest.raises(KeyError):
        sandbox.document("f" * 24)


# -- base features ----------------------------------------------------------------------------------------


def test_injected_503_uses_the_error_body(buyer, sandbox):
    sandbox.inject_fault(method="GET", path=DOCUMENTS, status=503, times=1)
    answer = buyer.get(DOCUMENTS)
    assert answer.status_code == 503
    assert answer.json()["errors"][0]["code"] == "SERVICE_UNAVAILABLE"
    assert buyer.get(DOCUMENTS).status_code == 200


def test_injected_fault_on_the_token_path_uses_the_oauth_shape(sandbox, demo):
    sandbox.inject_fault(method="POST", path=TOKEN_PATH, status=503)
    answer = grant(sandbox, demo.buyer_credentials)
    assert answer.status_code == 503 and answer.json()["error"] == "temporarily_unavailable"


def test_rate_limit_answers_429_with_retry_after(buyer, sandbox):
    sandbox.set_rate_limit(2)
    statuses = [buyer.get(DOCUMENTS) for _ in range(4)]
    limited = [a for a in statuses if a.status_code == 429]
    assert limited and int(limited[0].headers["Retry-After"]) >= 1
    assert limited[0].json()["errors"][0]["code"] == "TOO_MANY_REQUESTS"


def test_lost_answer_after_the_send_is_found_by_search(supplier, sandbox, demo):
    """An answer lost after the partner acted: the retry with the same key gets the same document."""
    sandbox.inject_fault(method="POST", path=DOCUMENTS, status=502, after=True)
    body = invoice_body(demo.supplier_buyer_tnids[0])
    assert supplier.send(body, key="lost").status_code == 502
    retry = supplier.send(body, key="lost")
    assert retry.status_code == 200
    assert len(sandbox.documents(supplier_tnid=DEMO_SUPPLIER_TNID)) == 1


def test_known_secrets_include_passwords_and_tokens(sandbox, buyer, demo):
    found = set(sandbox.known_secrets())
    assert {demo.buyer_credentials["password"], demo.buyer_credentials["client_secret"], buyer.token} <= found
    assert buyer.token in sandbox.issued_tokens()
