"""Flow 5 from the control plane, as an operator sets it up: the store lists ClearBooks and ShipServ with
their fields, an upload connector is created through the management API with its credentials (accepted
write-only), connected to ClearBooks through the connect link and callback, started, run now, read (runs,
a refused document found by its number with the network's reason), paused and deleted."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from local.scenarios.stack import LocalStack
from local.scenarios.trade_network import clearbooks_redirect_uri
from tests.integration.test_management_api import ADMIN, VIEWER, call

CID = "acme-upload"


@pytest.fixture(scope="module")
def stack():
    with LocalStack(seed_demo=False) as local:
        local.start_trade_network_sandboxes()
        local.start_background(schedules=False, delivery_queue=False, log=False)
        yield local


def test_the_store_lists_both_partners_with_the_fields_the_connector_guide_names(stack):
    status, kinds = call(stack, "GET", "/kinds", claims=VIEWER)
    assert status == 200
    systems = {k["system"]: k for k in kinds["kinds"]}
    assert {"clearbooks", "shipserv"} <= set(systems)
    status, shipserv = call(stack, "GET", "/kinds/shipserv", claims=VIEWER)
    assert status == 200
    text = json.dumps(shipserv)
    for field in ("tnid", "credentials_secret", "username", "password"):
        assert field in text
    status, clearbooks = call(stack, "GET", "/kinds/clearbooks", claims=VIEWER)
    text = json.dumps(clearbooks)
    for field in ("business_id", "buyer_tnid_from", "account_codes", "unmapped_lines", "oauth_app_secret"):
        assert field in text


def test_an_upload_connector_set_up_and_run_from_the_management_api(stack):
    shipserv, books, _ = stack.start_trade_network_sandboxes()
    kit = dict(shipserv.demo.supplier_credentials)
    tnid = kit.pop("tnid")
    app = books.client_credentials(clearbooks_redirect_uri(CID))
    request = {
        "connector_id": CID,
        "name": "Acme Marine — invoices to ShipServ",
        "source": {"system": "clearbooks", "api_url": books.base_url, "auth_url": books.base_url},
        "target": {"system": "shipserv", "api_url": shipserv.base_url, "tnid": tnid},
        "schedules": {"poll": "rate(15 minutes)"},
        "credentials": {"source": {"oauth_app_secret": app}, "target": {"credentials_secret": kit}},
    }
    status, created = call(stack, "POST", "/connectors", request)
    assert status == 201, created
    answer = json.dumps(created)
    assert kit["password"] not in answer and app["client_secret"] not in answer  # write-only
    assert created["status"] == "paused"

    # Connect ClearBooks: the connect link (OAuthFunction's route) → consent → callback with the code
    from invoice_relay.pipeline.oauth_connect import finish_connection, start_connection
    from invoice_relay.pipeline.services import services

    consent = start_connection(services(), CID)
    state = parse_qs(urlsplit(consent).query)["state"][0]
    redirected = books.authorize(clearbooks_redirect_uri(CID), state=state)
    code = parse_qs(urlsplit(redirected).query)["code"][0]
    assert finish_connection(services(), CID, code=code, state=state) == "ClearBooks"

    assert call(stack, "POST", f"/connectors/{CID}/start")[1]["status"] == "active"
    assert call(stack, "POST", f"/connectors/{CID}/runs", {"kind": "poll"})[0] == 202
    assert stack.lambda_service is not None and stack.lambda_service.wait_idle(60)
    stack.drain_delivery_queue()

    runs = call(stack, "GET", f"/connectors/{CID}/runs", claims=VIEWER)[1]["runs"]
    [poll] = [r for r in runs if r["kind"] == "poll"]
    assert poll["status"] == "succeeded" and poll["counts"]["queued"] == 35
    assert {r["status"] for r in runs if r["kind"] == "deliver"} <= {"succeeded", "partial"}
    sent = shipserv.documents(supplier_tnid=tnid)
    assert len(sent) == 33

    missing_po = books.sales_document(stack.clearbooks_supplier_demo.broken["missing_po"])
    status, found = call(stack, "GET", "/documents", query={"number": missing_po["formattedDocumentNumber"]})
    assert status == 200
    [document] = [d for d in found["documents"] if d["connector_id"] == CID]
    assert document["state"] == "failed" and "PO_REQUIRED" in document["reason"]

    assert call(stack, "POST", f"/connectors/{CID}/pause")[1]["status"] == "paused"
    assert call(stack, "POST", f"/connectors/{CID}/runs", {"kind": "poll"})[0] == 409
    assert call(stack, "POST", f"/connectors/{CID}/start", claims=VIEWER)[0] == 403
    assert call(stack, "DELETE", f"/connectors/{CID}", claims=ADMIN)[0] == 204
