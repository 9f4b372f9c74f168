"""local.sandboxes.clearbooks: the sandbox ClearBooks REST API over real HTTP on loopback (OAuth 2.0 with
single-use rotating refresh tokens, scopes, businesses, paging, sales documents and PDFs, purchases,
suppliers, attachments, validation errors, faults and the rate limit)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from local.sandboxes.clearbooks import (
    BUSINESS_HEADER,
    DEMO_BUYER_TNIDS,
    DEMO_NAMED_SUPPLIER,
    SCOPES,
    TNID_FIELD,
    ClearBooksSandbox,
    Invalid,
)

REDIRECT_URI = "https://relay.example/clearbooks/callback"
INVOICES = "/v1/accounting/sales/invoices"
CREDIT_NOTES = "/v1/accounting/sales/creditNotes"
BILLS = "/v1/accounting/purchases/bills"
PURCHASE_CREDIT_NOTES = "/v1/accounting/purchases/creditNotes"
SUPPLIERS = "/v1/accounting/suppliers"


@pytest.fixture
def sandbox():
    with ClearBooksSandbox() as server:
        yield server


@pytest.fixture
def demo(sandbox):
    return sandbox.seed_demo_data()


def consent(sandbox, scope=None, state="s-1", **extra):
    """The consent page over HTTP (the user clicks Allow): the redirect's query."""
    app = sandbox.client_credentials(REDIRECT_URI)
    params = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT_URI}
    params |= {"state": state} | ({"scope": scope} if scope else {}) | extra
    answer = requests.get(
        f"{sandbox.base_url}/oauth/authorize", params=params, allow_redirects=False, timeout=5
    )
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def token_request(sandbox, basic=False, **fields):
    app = sandbox.client_credentials(REDIRECT_URI)
    auth = None
    if basic:
        auth = (app["client_id"], app["client_secret"])
    else:
        fields = {"client_id": app["client_id"], "client_secret": app["client_secret"]} | fields
    return requests.post(f"{sandbox.base_url}/oauth/token", data=fields, auth=auth, timeout=5)


def exchange(sandbox, code, **extra):
    return token_request(
        sandbox, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI, **extra
    )


def refresh(sandbox, refresh_token):
    return token_request(sandbox, grant_type="refresh_token", refresh_token=refresh_token)


def connect(sandbox, scope=None):
    answer = exchange(sandbox, consent(sandbox, scope)["code"])
    assert answer.status_code == 200, answer.text
    return answer.json()


def api(sandbox, method, path, token, *, business=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    if business is not None:
        headers[BUSINESS_HEADER] = str(business)
    return requests.request(method, f"{sandbox.base_url}{path}", headers=headers, timeout=5, **kwargs)


def exact(answer):
    """The JSON body with numbers as Decimal (exact money)."""
    return json.loads(answer.text, parse_float=Decimal)


def bill_payload(supplier_id, **changes):
    payload = {
        "date": "2026-11-20",
        "dateDue": "2026-12-20",
        "supplierId": supplier_id,
        "reference": "SS-INV-9981",
        "vatTreatment": "UK",
        "lineItems": [
            {
                "description": "Widgets",
                "unitPrice": 2.5,
                "quantity": 10,
                "accountCode": 5000,
                "vatRateKey": "20",
            },
            {
                "description": "Carriage",
                "unitPrice": 5.00,
                "quantity": 1,
                "accountCode": 5100,
                "vatRateKey": "Manual",
                "vatAmount": 0.83,
            },
        ],
    }
    return payload | changes


# -- OAuth --------------------------------------------------------------------------------------------------


def test_consent_code_then_tokens(sandbox):
    query = consent(sandbox, "accounting.sales:read accounting.purchases:write", state="abc")
    assert query["state"] == "abc" and query["code"]
    answer = exchange(sandbox, query["code"])
    assert answer.status_code == 200
    tokens = answer.json()
    assert set(tokens) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert (tokens["token_type"], tokens["expires_in"]) == ("Bearer", 3600)
    assert tokens["scope"] == "accounting.sales:read accounting.purchases:write"
    assert answer.headers["Cache-Control"] == "no-store"
    assert sandbox.is_valid_access_token(tokens["access_token"])
    assert api(sandbox, "GET", INVOICES, tokens["access_token"]).status_code == 200
    grant = sandbox.token_grants[-1]
    assert grant["grant_type"] == "authorization_code" and grant["client_auth"] == "client_secret_post"
    assert "client_secret" in grant["fields"] and tokens["access_token"] not in json.dumps(
        sandbox.token_grants
    )


def test_consent_from_python_and_http_basic_client_auth(sandbox):
    url = sandbox.authorize(REDIRECT_URI, ["accounting.sales:read"], state="xyz")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(REDIRECT_URI + "?") and query["state"] == "xyz"
    answer = token_request(
        sandbox, basic=True, grant_type="authorization_code", code=query["code"], redirect_uri=REDIRECT_URI
    )
    assert answer.status_code == 200 and answer.json()["scope"] == "accounting.sales:read"
    assert sandbox.token_grants[-1]["client_auth"] == "client_secret_basic"
    with pytest.raises(ValueError, match="not registered"):
        sandbox.authorize("https://elsewhere.example/cb")
    with pytest.raises(ValueError, match="not granted"):
        sandbox.authorize(REDIRECT_URI, "accounting.everything:write")


def test_consent_refusals(sandbox):
    app = sandbox.client_credentials(REDIRECT_URI)
    base = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": REDIRECT_URI,
        "state": "s",
    }
    url = f"{sandbox.base_url}/oauth/authorize"
    unknown_client = requests.get(url, params=base | {"client_id": "nope"}, allow_redirects=False, timeout=5)
    assert unknown_client.status_code == 400 and unknown_client.json()["error"] == "invalid_client"
    other_uri = requests.get(url, params=base | {"redirect_uri": "https://evil.example/cb"}, timeout=5)
    assert other_uri.status_code == 400 and other_uri.json()["error"] == "invalid_request"
    bad_scope = requests.get(
        url, params=base | {"scope": "accounting.sales:read x:y"}, allow_redirects=False, timeout=5
    )
    query = parse_qs(urlsplit(bad_scope.headers["Location"]).query)
    assert query["error"] == ["invalid_scope"] and query["state"] == ["s"] and "code" not in query
    # The documented authorize path serves the same page.
    documented = requests.get(
        f"{sandbox.base_url}/account/action/oauth/", params=base, allow_redirects=False, timeout=5
    )
    assert documented.status_code == 302 and "code=" in documented.headers["Location"]


def test_code_is_single_use_and_bound_to_its_redirect_uri(sandbox):
    code = consent(sandbox)["code"]
    assert exchange(sandbox, code).status_code == 200
    again = exchange(sandbox, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    other = token_request(
        sandbox,
        grant_type="authorization_code",
        code=consent(sandbox)["code"],
        redirect_uri=REDIRECT_URI + "x",
    )
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"


def test_token_endpoint_refusals(sandbox):
    code = consent(sandbox)["code"]
    app = sandbox.client_credentials(REDIRECT_URI)
    wrong = requests.post(
        f"{sandbox.base_url}/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
        | {"client_id": app["client_id"], "client_secret": "wrong"},
        timeout=5,
    )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    as_json = requests.post(
        f"{sandbox.base_url}/oauth/token",
        json={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI} | app,
        timeout=5,
    )
    assert (as_json.status_code, as_json.json()["error"]) == (400, "invalid_request")
    unsupported = token_request(sandbox, grant_type="client_credentials")
    assert (unsupported.status_code, unsupported.json()["error"]) == (400, "unsupported_grant_type")
    assert exchange(sandbox, code).status_code == 200  # the refused requests spent nothing


def test_pkce_s256(sandbox):
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = consent(sandbox, code_challenge=challenge, code_challenge_method="S256")["code"]
    assert exchange(sandbox, code, code_verifier="w" * 50).json()["error"] == "invalid_grant"
    code = consent(sandbox, code_challenge=challenge, code_challenge_method="S256")["code"]
    assert exchange(sandbox, code, code_verifier=verifier).status_code == 200


def test_refresh_rotates_and_the_old_refresh_token_is_dead(sandbox):
    first = connect(sandbox)
    answer = refresh(sandbox, first["refresh_token"])
    assert answer.status_code == 200
    second = answer.json()
    assert (
        second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    )
    assert second["scope"] == first["scope"]
    dead = refresh(sandbox, first["refresh_token"])
    assert dead.status_code == 400
    assert dead.json() == {"error": "invalid_grant", "error_description": "The refresh token is invalid."}
    # The old pair's access token went with it; the new pair works and rotates again.
    assert api(sandbox, "GET", INVOICES, first["access_token"]).status_code == 401
    assert api(sandbox, "GET", INVOICES, second["access_token"]).status_code == 200
    assert refresh(sandbox, second["refresh_token"]).status_code == 200
    assert not sandbox.is_live_refresh_token(second["refresh_token"])


def test_concurrent_refreshes_with_one_token_exactly_one_wins(sandbox):
    for _ in range(5):
        tokens = connect(sandbox)
        barrier = threading.Barrier(4)
        answers = []

        def race(token=tokens["refresh_token"], barrier=barrier, answers=answers):
            barrier.wait()
            answers.append(refresh(sandbox, token))

        threads = [threading.Thread(target=race) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 400, 400, 400]
        assert all(a.json()["error"] == "invalid_grant" for a in answers if a.status_code == 400)


def test_a_new_consent_revokes_the_previous_pair(sandbox):
    old = connect(sandbox)
    pending = consent(sandbox)["code"]
    assert api(sandbox, "GET", INVOICES, old["access_token"]).status_code == 200  # until the flow completes
    new = exchange(sandbox, pending).json()
    assert api(sandbox, "GET", INVOICES, old["access_token"]).status_code == 401
    assert refresh(sandbox, old["refresh_token"]).json()["error"] == "invalid_grant"
    assert api(sandbox, "GET", INVOICES, new["access_token"]).status_code == 200
    assert refresh(sandbox, new["refresh_token"]).status_code == 200


def test_scopes_are_enforced_per_route(sandbox, demo):
    token = connect(sandbox, "accounting.sales:read accounting.purchases:read")["access_token"]
    assert api(sandbox, "GET", INVOICES, token).status_code == 200
    assert api(sandbox, "GET", f"{INVOICES}/{demo.invoice_ids[0]}/pdf", token).status_code == 200
    assert api(sandbox, "GET", BILLS, token).status_code == 200
    for method, path in [
        ("POST", BILLS),
        ("GET", "/v1/accounting/customers"),
        ("GET", SUPPLIERS),
        ("GET", "/v1/accounting/accountCodes"),
        ("GET", "/v1/accounting/vatRates/purchases"),
        ("POST", INVOICES),
    ]:
        answer = api(sandbox, method, path, token, json={})
        assert answer.status_code == 403, (method, path)
        assert answer.json()[0]["errorCode"] == "insufficient_scope"
    narrow = connect(sandbox, "accounting.sales:read")
    assert refresh(sandbox, narrow["refresh_token"]).json()["scope"] == "accounting.sales:read"  # kept


def test_expired_and_unknown_tokens_are_401(sandbox):
    tokens = connect(sandbox)
    assert sandbox.expire_access_tokens() == 1
    answer = api(sandbox, "GET", INVOICES, tokens["access_token"])
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert answer.json()[0]["errorCode"] == "invalid_token"
    assert api(sandbox, "GET", INVOICES, "made-up").status_code == 401
    assert requests.get(f"{sandbox.base_url}{INVOICES}", timeout=5).status_code == 401
    fresh = refresh(sandbox, tokens["refresh_token"]).json()  # the refresh token outlived its access token
    assert api(sandbox, "GET", INVOICES, fresh["access_token"]).status_code == 200
    assert requests.post(f"{sandbox.base_url}/_sandbox/expire-tokens", timeout=5).json() == {"expired": 1}
    assert api(sandbox, "GET", INVOICES, fresh["access_token"]).status_code == 401
    assert sandbox.revoke_tokens() == 1  # the refresh token still was live
    assert refresh(sandbox, fresh["refresh_token"]).status_code == 400


# -- businesses -------------------------------------------------------------------------------------------


def test_business_header_needed_only_with_two_businesses(sandbox, demo):
    token = connect(sandbox)["access_token"]
    assert api(sandbox, "GET", INVOICES, token).status_code == 200
    assert api(sandbox, "GET", INVOICES, token, business=demo.business_id).status_code == 200
    assert api(sandbox, "GET", INVOICES, token, business=999).status_code == 403
    second = sandbox.add_business("Second Ltd")
    assert api(sandbox, "GET", "/v1/businesses", token).json() == [
        {"id": demo.business_id, "name": "Relay Marine Supplies Ltd"},
        {"id": second, "name": "Second Ltd"},
    ]
    missing = api(sandbox, "GET", INVOICES, token)
    assert missing.status_code == 400 and BUSINESS_HEADER in missing.json()[0]["errorMessage"]
    assert len(api(sandbox, "GET", INVOICES, token, business=demo.business_id).json()) == 30
    assert api(sandbox, "GET", INVOICES, token, business=second).json() == []


# -- sales ------------------------------------------------------------------------------------------------


def test_paging_headers_over_35_sales_documents(sandbox, demo):
    token = connect(sandbox)["access_token"]
    seen, page = [], 1
    while True:
        answer = api(sandbox, "GET", INVOICES, token, params={"page": page, "limit": 7})
        assert answer.headers["X-Pagination-Current-Page"] == str(page)
        assert answer.headers["X-Pagination-Total-Pages"] == "5"
        assert answer.headers["X-Pagination-Total-Items"] == "30"
        assert isinstance(answer.json(), list)
        seen += [d["id"] for d in answer.json()]
        if answer.headers["X-Pagination-Current-Page"] == answer.headers["X-Pagination-Total-Pages"]:
            break
        page += 1
    notes = api(sandbox, "GET", CREDIT_NOTES, token, params={"limit": 2, "page": 3})
    assert (notes.headers["X-Pagination-Total-Pages"], len(notes.json())) == ("3", 1)
    assert seen == list(demo.invoice_ids) and len(seen) + 5 == 35
    default = api(sandbox, "GET", INVOICES, token)
    assert len(default.json()) == 30 and default.headers["X-Pagination-Total-Pages"] == "1"
    beyond = api(sandbox, "GET", INVOICES, token, params={"page": 9, "limit": 10})
    assert beyond.json() == [] and beyond.headers["X-Pagination-Total-Pages"] == "3"
    for bad in ({"limit": 201}, {"limit": 0}, {"page": 0}, {"page": "x"}):
        answer = api(sandbox, "GET", INVOICES, token, params=bad)
        assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "invalid_value"
    empty = api(sandbox, "GET", BILLS, token)
    assert empty.json() == [] and empty.headers["X-Pagination-Total-Pages"] == "1"


def test_a_sales_document_in_full_with_exact_money(sandbox, demo):
    token = connect(sandbox)["access_token"]
    invoice = exact(api(sandbox, "GET", f"{INVOICES}/{demo.invoice_ids[0]}", token))
    assert invoice["formattedDocumentNumber"] == "INV001001" and invoice["documentNumber"] == 1001
    assert invoice["customerId"] == demo.customer_by_tnid[str(DEMO_BUYER_TNIDS[0])]
    assert invoice["reference"].startswith("PO-") and invoice["status"] == "approved"
    for line in invoice["lineItems"]:
        assert line["net"] == (line["unitPrice"] * line["quantity"]).quantize(Decimal("0.01"))
        assert line["gross"] == line["net"] + line["vatAmount"]
    assert invoice["net"] == sum(line["net"] for line in invoice["lineItems"])
    assert invoice["gross"] == invoice["net"] + invoice["vat"]
    assert '"unitPrice":' in api(sandbox, "GET", f"{INVOICES}/{demo.invoice_ids[0]}", token).text
    raw = api(sandbox, "GET", f"{INVOICES}/{demo.invoice_ids[0]}", token).text
    assert f'"gross":{invoice["gross"]:.2f}' in raw  # a number with two decimals, not a string
    note_id = demo.credit_note_ids[0]
    note = api(sandbox, "GET", f"{CREDIT_NOTES}/{note_id}", token).json()
    assert note["linkedInvoiceId"] == demo.linked_invoice[note_id] and "dateDue" not in note
    assert note["gross"] > 0
    assert api(sandbox, "GET", f"{CREDIT_NOTES}/{demo.invoice_ids[0]}", token).status_code == 404
    assert api(sandbox, "GET", f"{INVOICES}/1", token).json()[0]["errorCode"] == "not_found"


def test_modified_since_filters_and_sorts_by_modified_at(sandbox, demo):
    token = connect(sandbox)["access_token"]
    everything = api(sandbox, "GET", INVOICES, token, params={"modifiedSince": "2000-01-01"}).json()
    stamps = [(d["modifiedAt"], d["id"]) for d in everything]
    assert len(everything) == 30 and stamps == sorted(stamps)
    assert [d["id"] for d in everything] != list(demo.invoice_ids)  # some were modified later
    cut = everything[20]["modifiedAt"]
    since = api(sandbox, "GET", INVOICES, token, params={"modifiedSince": cut}).json()
    assert [d["id"] for d in since] == [d["id"] for d in everything if d["modifiedAt"] >= cut]
    assert since[0]["modifiedAt"] == cut  # at or after
    touched = sandbox.touch(demo.invoice_ids[0], reference="PO-CHANGED")
    assert touched["modifiedAt"] > everything[-1]["modifiedAt"]
    after = api(sandbox, "GET", INVOICES, token, params={"modifiedSince": touched["modifiedAt"]}).json()
    assert [(d["id"], d["reference"]) for d in after] == [(demo.invoice_ids[0], "PO-CHANGED")]
    offset = api(sandbox, "GET", INVOICES, token, params={"modifiedSince": "2100-01-01T00:00:00+01:00"})
    assert offset.json() == []
    bad = api(sandbox, "GET", INVOICES, token, params={"modifiedSince": "yesterday"})
    assert bad.status_code == 400 and bad.json()[0]["field"] == "modifiedSince"
    sandbox.set_list_filters(False)  # as the real API may: the undocumented filter is ignored
    ignored = api(sandbox, "GET", INVOICES, token, params={"modifiedSince": "2100-01-01"})
    assert len(ignored.json()) == 30


def test_pdf_bytes(sandbox, demo):
    token = connect(sandbox)["access_token"]
    with_pdf = demo.pdf_ids[0]
    answer = api(sandbox, "GET", f"{INVOICES}/{with_pdf}/pdf", token)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF-1.4") and answer.content.rstrip().endswith(b"%%EOF")
    assert answer.content == sandbox.pdf(with_pdf)
    without = next(i for i in demo.invoice_ids if i not in demo.pdf_ids)
    missing = api(sandbox, "GET", f"{INVOICES}/{without}/pdf", token)
    assert missing.status_code == 404 and "no PDF" in missing.json()[0]["errorMessage"]
    sandbox.set_pdf(without, b"%PDF-1.7 given")
    assert api(sandbox, "GET", f"{INVOICES}/{without}/pdf", token).content == b"%PDF-1.7 given"
    note_pdf = api(sandbox, "GET", f"{CREDIT_NOTES}/{demo.credit_note_ids[0]}/pdf", token)
    assert note_pdf.status_code == 200 and note_pdf.content.startswith(b"%PDF")


# -- purchases ----------------------------------------------------------------------------------------------


def test_create_bill_and_purchase_credit_note(sandbox, demo):
    token = connect(sandbox)["access_token"]
    supplier = demo.supplier_by_tnid["300501"]
    answer = api(sandbox, "POST", BILLS, token, json=bill_payload(supplier))
    assert answer.status_code == 201, answer.text
    bill = exact(answer)
    assert answer.headers["Location"].endswith(f"{BILLS}/{bill['id']}")
    assert bill["formattedDocumentNumber"] == "PUR000001" and bill["dateDue"] == "2026-12-20"
    assert [line["net"] for line in bill["lineItems"]] == [Decimal("25.00"), Decimal("5.00")]
    assert [line["vatAmount"] for line in bill["lineItems"]] == [Decimal("5.00"), Decimal("0.83")]
    assert (bill["net"], bill["vat"], bill["gross"]) == (Decimal("30.00"), Decimal("5.83"), Decimal("35.83"))
    payload = bill_payload(supplier, reference="SS-CN-12")
    del payload["dateDue"]
    note = api(sandbox, "POST", PURCHASE_CREDIT_NOTES, token, json=payload)
    assert note.status_code == 201, note.text
    assert note.json()["formattedDocumentNumber"] == "PCN000001" and note.json()["id"] != bill["id"]
    assert [b["id"] for b in sandbox.bills()] == [bill["id"]]
    assert sandbox.bills()[0]["gross"] == Decimal("35.83")
    assert [n["reference"] for n in sandbox.purchase_credit_notes()] == ["SS-CN-12"]
    assert api(sandbox, "GET", f"{BILLS}/{bill['id']}", token).json()["reference"] == "SS-INV-9981"
    assert api(sandbox, "GET", f"{PURCHASE_CREDIT_NOTES}/{bill['id']}", token).status_code == 404
    found = api(sandbox, "GET", BILLS, token, params={"reference": "SS-INV-9981"}).json()
    assert [b["id"] for b in found] == [bill["id"]]
    assert api(sandbox, "GET", BILLS, token, params={"reference": "nope"}).json() == []
    refund = bill_payload(supplier, lineItems=[dict(bill_payload(supplier)["lineItems"][0], unitPrice=-2.5)])
    assert api(sandbox, "POST", BILLS, token, json=refund).status_code == 201  # a refund: negative bill


def test_validation_errors_are_a_400_array(sandbox, demo):
    token = connect(sandbox)["access_token"]
    supplier = demo.supplier_by_tnid["300501"]

    def refused(path, payload):
        answer = api(sandbox, "POST", path, token, json=payload)
        assert answer.status_code == 400, answer.text
        errors = answer.json()
        assert isinstance(errors, list) and all({"errorCode", "errorMessage"} <= set(e) for e in errors)
        return {e.get("field"): e["errorCode"] for e in errors}

    assert refused(BILLS, bill_payload(999999)) == {"supplierId": "not_found"}
    lines = bill_payload(supplier)["lineItems"]
    unknown_code = [dict(lines[0], accountCode=1234), dict(lines[1], accountCode=7999)]  # 7999 is archived
    assert refused(BILLS, bill_payload(supplier, lineItems=unknown_code)) == {
        "lineItems[0].accountCode": "not_found",
        "lineItems[1].accountCode": "not_found",
    }
    bad_rate = [dict(lines[0], vatRateKey="0.2"), {k: v for k, v in lines[1].items() if k != "vatAmount"}]
    assert refused(BILLS, bill_payload(supplier, lineItems=bad_rate)) == {
        "lineItems[0].vatRateKey": "invalid_value",
        "lineItems[1].vatAmount": "required",
    }
    export = bill_payload(supplier, vatTreatment="GI")  # a non-UK treatment takes 0 or Manual only
    assert refused(BILLS, export) == {"lineItems[0].vatRateKey": "invalid_value"}
    assert refused(PURCHASE_CREDIT_NOTES, bill_payload(supplier)) == {"dateDue": "unknown_field"}
    assert refused(BILLS, {}) == {
        "date": "required",
        "supplierId": "required",
        "vatTreatment": "required",
        "lineItems": "required",
    }
    strings = [dict(lines[0], unitPrice="2.50", quantity=None)]
    assert refused(BILLS, bill_payload(supplier, lineItems=strings)) == {
        "lineItems[0].unitPrice": "invalid_type",
        "lineItems[0].quantity": "required",
    }
    assert refused(BILLS, bill_payload(supplier, dueDate="2026-12-01", date="01/12/2026")) == {
        "dueDate": "unknown_field",
        "date": "invalid_date",
    }
    negative = bill_payload(supplier, lineItems=[dict(lines[0], unitPrice=-1)])
    negative.pop("dateDue")
    assert refused(PURCHASE_CREDIT_NOTES, negative) == {"lineItems": "invalid_value"}
    not_json = api(sandbox, "POST", BILLS, token, data="{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()[0]["errorCode"] == "invalid_json"
    assert sandbox.bills() == [] and sandbox.purchase_credit_notes() == []


def test_suppliers_lookup_and_create(sandbox, demo):
    token = connect(sandbox)["access_token"]
    by_tnid = api(sandbox, "GET", SUPPLIERS, token, params={"externalId": "300501"}).json()
    assert [s["id"] for s in by_tnid] == [demo.supplier_by_tnid["300501"]]
    by_name = api(sandbox, "GET", SUPPLIERS, token, params={"name": DEMO_NAMED_SUPPLIER}).json()
    assert [s["id"] for s in by_name] == [demo.supplier_by_name_only] and by_name[0]["externalId"] is None
    assert api(sandbox, "GET", SUPPLIERS, token, params={"name": DEMO_NAMED_SUPPLIER.lower()}).json() == []
    created = api(
        sandbox, "POST", SUPPLIERS, token, json={"name": "Baltic Bunkers OU", "externalId": "300999"}
    )
    assert created.status_code == 201
    supplier = created.json()
    assert supplier["name"] == "Baltic Bunkers OU" and supplier["archived"] is False
    assert api(sandbox, "GET", f"{SUPPLIERS}/{supplier['id']}", token).json() == supplier
    assert api(sandbox, "GET", SUPPLIERS, token, params={"externalId": "300999"}).json() == [supplier]
    duplicate = api(sandbox, "POST", SUPPLIERS, token, json={"name": "Again", "externalId": "300999"})
    assert duplicate.status_code == 400 and duplicate.json()[0]["errorCode"] == "duplicate"
    nameless = api(sandbox, "POST", SUPPLIERS, token, json={"externalId": "1", "tradingName": "x"})
    assert {e["field"] for e in nameless.json()} == {"name", "tradingName"}
    assert [s["name"] for s in sandbox.suppliers()][-1] == "Baltic Bunkers OU"


def test_customers_carry_the_tnid(sandbox, demo):
    token = connect(sandbox)["access_token"]
    customers = api(sandbox, "GET", "/v1/accounting/customers", token).json()
    assert [c["customFields"].get(TNID_FIELD) for c in customers] == [str(t) for t in DEMO_BUYER_TNIDS] + [
        None
    ]
    one = api(sandbox, "GET", f"/v1/accounting/customers/{demo.customer_without_tnid}", token).json()
    assert one["externalId"] is None and one["customFields"] == {}


def test_attachments_are_raw_uploads(sandbox, demo):
    token = connect(sandbox)["access_token"]
    bill = sandbox.add_bill(demo.supplier_by_tnid["300501"], bill_payload(1)["lineItems"], date="2026-11-01")
    path = f"{BILLS}/{bill['id']}/attachments"
    content = b"%PDF-1.4 supplier invoice"
    answer = api(
        sandbox, "POST", f"{path}/SS-INV-9981.pdf", token, data=content,
        headers={"Content-Type": "application/octet-stream"},
    )  # fmt: skip
    assert answer.status_code == 201
    attachment = answer.json()
    assert set(attachment) == {"id", "name", "size", "dateUploaded"}
    assert (attachment["name"], attachment["size"]) == ("SS-INV-9981.pdf", len(content))
    assert api(sandbox, "GET", path, token).json() == [attachment]
    download = api(sandbox, "GET", f"{path}/{attachment['id']}", token)
    assert download.content == content
    [stored] = sandbox.attachments(bill["id"])
    assert (stored["content"], stored["documentId"], stored["type"]) == (content, bill["id"], "bills")
    multipart = api(sandbox, "POST", f"{path}/x.pdf", token, files={"file": ("x.pdf", content)})
    assert multipart.status_code == 400 and "not multipart" in multipart.json()[0]["errorMessage"]
    assert api(sandbox, "POST", f"{path}/x.pdf", token, data=b"").status_code == 400
    assert api(sandbox, "POST", f"{BILLS}/1/attachments/x.pdf", token, data=content).status_code == 404
    read_only = connect(sandbox, "accounting.purchases:read")["access_token"]
    assert api(sandbox, "POST", f"{path}/y.pdf", read_only, data=content).status_code == 403
    assert len(sandbox.attachments()) == 1


def test_account_codes_and_vat(sandbox):
    token = connect(sandbox)["access_token"]
    codes = {c["id"]: c for c in api(sandbox, "GET", "/v1/accounting/accountCodes", token).json()}
    assert {4000, 5000, 5100, 7500} <= set(codes)
    assert codes[4000]["sales"] and not codes[4000]["purchases"] and codes[5100]["purchases"]
    rates = api(sandbox, "GET", "/v1/accounting/vatRates/purchases", token, params={"vatTreatment": "UK"})
    assert {r["key"] for r in rates.json()} >= {"20", "0", "Manual"}
    assert next(r for r in exact(rates) if r["key"] == "20")["rate"] == Decimal("0.20")
    assert "X-Pagination-Total-Pages" not in rates.headers
    export = api(sandbox, "GET", "/v1/accounting/vatRates/sales", token, params={"vatTreatment": "GE"}).json()
    assert [r["key"] for r in export] == ["0", "Manual"]
    treatments = api(sandbox, "GET", "/v1/accounting/vatTreatments/purchases", token).json()
    assert {"key": "UK", "name": "Goods or services in the UK"} in treatments
    bad = api(sandbox, "GET", "/v1/accounting/vatRates/sales", token, params={"vatTreatment": "GI"})
    assert bad.status_code == 400


# -- seed, Python API ----------------------------------------------------------------------------------


def test_demo_books(sandbox):
    demo = sandbox.seed_demo_data(buyer_tnids=(555001, 555002), suppliers={777001: "Supplier A"})
    assert len(demo.invoice_ids) == 30 and len(demo.credit_note_ids) == 5 and len(demo.clean_ids) == 33
    invoices = {d["id"]: d for d in sandbox.sales_invoices()}
    customers = {c["id"]: c for c in sandbox.customers()}
    assert set(demo.customer_by_tnid) == {"555001", "555002"}
    for tnid, customer_id in demo.customer_by_tnid.items():
        assert customers[customer_id]["customFields"] == {TNID_FIELD: tnid}
        assert customers[customer_id]["externalId"] == tnid
    no_tnid = invoices[demo.broken["customer_without_tnid"]]
    assert no_tnid["customerId"] == demo.customer_without_tnid and no_tnid["reference"]
    assert invoices[demo.broken["missing_po"]]["reference"] == ""
    assert all(d["reference"] for i, d in invoices.items() if i != demo.broken["missing_po"])
    assert {d["customerId"] for i, d in invoices.items() if i not in demo.broken_ids} == set(
        demo.customer_by_tnid.values()
    )
    for note in sandbox.sales_credit_notes():
        invoice = invoices[note["linkedInvoiceId"]]
        assert demo.linked_invoice[note["id"]] == invoice["id"] and invoice["id"] not in demo.broken_ids
        assert note["customerId"] == invoice["customerId"] and note["reference"] == invoice["reference"]
        assert Decimal(0) < note["gross"] < invoice["gross"]
    assert 0 < len(demo.pdf_ids) < 35 and all(sandbox.pdf(i) for i in demo.pdf_ids)
    assert sandbox.suppliers()[0]["externalId"] == "777001"
    with ClearBooksSandbox() as other:  # deterministic: the same arguments, the same books
        again = other.seed_demo_data(buyer_tnids=(555001, 555002), suppliers={777001: "Supplier A"})
        assert again == demo and other.sales_invoices() == sandbox.sales_invoices()
        assert other.pdf(demo.pdf_ids[0]) == sandbox.pdf(demo.pdf_ids[0])


def test_python_api_validates_like_the_http_api(sandbox, demo):
    customer = demo.customer_by_tnid[str(DEMO_BUYER_TNIDS[0])]
    line = {
        "description": "Rope",
        "unitPrice": "10.005",
        "quantity": "3",
        "accountCode": 4000,
        "vatRateKey": "20",
    }
    invoice = sandbox.add_sales_invoice(customer, [line], date="2026-11-30", reference="PO-1", pdf=True)
    assert invoice["lineItems"][0]["net"] == Decimal("30.02")  # 30.015 half-up
    assert invoice["formattedDocumentNumber"] == "INV001031"
    with pytest.raises(Invalid) as refused:
        sandbox.add_sales_invoice(customer, [dict(line, accountCode=5555)], date="2026-11-30")
    assert refused.value.errors[0]["field"] == "lineItems[0].accountCode"
    with pytest.raises(Invalid):
        sandbox.add_sales_credit_note(
            customer, [line], date="2026-11-30", linked_invoice_id=demo.invoice_ids[1]
        )
    touched = sandbox.touch(invoice["id"], at="2026-12-01T10:00:00Z", status="voided")
    assert (touched["status"], touched["modifiedAt"]) == ("voided", "2026-12-01T10:00:00Z")
    with pytest.raises(KeyError):
        sandbox.touch(1)
    sandbox.reset()
    assert sandbox.sales_invoices() == [] and len(sandbox.account_codes()) > 0


# -- base plumbing --------------------------------------------------------------------------------------


def test_faults_and_rate_limit_via_the_base(sandbox):
    token = connect(sandbox)["access_token"]
    sandbox.inject_fault(method="GET", path=INVOICES, status=503, times=2)
    first = api(sandbox, "GET", INVOICES, token)
    assert first.status_code == 503 and first.json()[0]["errorCode"] == "service_unavailable"
    assert api(sandbox, "GET", INVOICES, token).status_code == 503
    assert api(sandbox, "GET", INVOICES, token).status_code == 200
    sandbox.inject_fault(method="POST", path="/oauth/token", status=500)
    assert (
        token_request(sandbox, grant_type="refresh_token", refresh_token="x").json()["error"]
        == "server_error"
    )
    lost = sandbox.inject_fault(method="POST", path=SUPPLIERS, status=502, after=True)
    assert api(sandbox, "POST", SUPPLIERS, token, json={"name": "Lost Answer Ltd"}).status_code == 502
    assert lost and [s["name"] for s in sandbox.suppliers()] == ["Lost Answer Ltd"]  # the partner acted
    sandbox.set_rate_limit(5)
    statuses = [api(sandbox, "GET", INVOICES, token).status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
    limited = api(sandbox, "GET", INVOICES, token)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.json()[0]["errorCode"] == "too_many_requests"
    assert any(r.get("rate_limited") for r in sandbox.requests)
    assert all(r["headers"].get("Authorization") in (None, "[redacted]") for r in sandbox.requests)


def test_every_scope_of_the_app_is_documented(sandbox):
    tokens = connect(sandbox)
    assert tokens["scope"].split() == list(SCOPES)
    sandbox.set_app_scopes("accounting.sales:read")
    assert connect(sandbox)["scope"] == "accounting.sales:read"
