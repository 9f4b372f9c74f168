"""The ServiceTrade client and source against the sandbox ServiceTrade API over real HTTP."""

from __future__ import annotations

import logging
import time
from decimal import Decimal

import pytest
import requests

from invoice_relay.connector import ServiceTradeSourceConfig
from invoice_relay.connectors.base import Outcome
from invoice_relay.connectors.servicetrade import (
    ServiceTradeClient,
    ServiceTradeCredentials,
    ServiceTradeSource,
    invoice_to_document,
)
from invoice_relay.errors import (
    AuthenticationError,
    ConfigurationError,
    MappingError,
    PermanentError,
    TransientError,
)
from invoice_relay.http import partner_session
from local.sandboxes.servicetrade import (
    INVOICE_ENTITY_TYPE,
    SESSION_COOKIE,
    ServiceTradeSandbox,
    sample_invoice,
)


def fast_session() -> requests.Session:
    """The production retry policy with tiny waits (Retry-After up to 2 s is still honoured)."""
    return partner_session(partner="servicetrade", backoff_factor=0.01, backoff_jitter=0, backoff_max=2)


@pytest.fixture(scope="module")
def server():
    with ServiceTradeSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server):
    server.reset()
    server.set_rate_limit(None)
    server.seed_demo_data(count=50)
    return server


@pytest.fixture
def client(sandbox):
    with ServiceTradeClient(
        sandbox.base_url, sandbox.username, sandbox.password, session=fast_session(), page_size=20
    ) as st:
        yield st


def logins(sandbox) -> int:
    return len(sandbox.find_requests("POST", "/api/auth"))


def test_pages_through_every_pending_invoice(sandbox, client):
    pages = list(client.pending_accounting_invoices())
    assert [(page, total, len(invoices)) for page, total, invoices in pages] == [
        (1, 3, 20),
        (2, 3, 20),
        (3, 3, 10),
    ]
    ids = [invoice["id"] for _, _, invoices in pages for invoice in invoices]
    assert ids == sorted(sandbox.demo.pending_ids)
    listing = sandbox.find_requests("GET", "/api/invoice")
    assert [r["query"] for r in listing] == [
        {"status": "pending_accounting", "page": str(page), "limit": "20"} for page in (1, 2, 3)
    ]
    assert logins(sandbox) == 1


def test_status_filter_excludes_other_statuses(sandbox, client):
    invoices = [inv for _, _, page in client.pending_accounting_invoices() for inv in page]
    assert {inv["status"] for inv in invoices} == {"pending_accounting"}
    assert not {inv["id"] for inv in invoices} & set(sandbox.demo.other_statuses)
    assert {"processed", "draft"} <= set(sandbox.demo.other_statuses.values())


def test_start_page_past_the_end_yields_one_empty_page(client):
    assert list(client.pending_accounting_invoices(start_page=7)) == [(7, 3, [])]


def test_session_expiry_mid_run_signs_in_again_and_carries_on(sandbox, client):
    ids = []
    for page, _, invoices in client.pending_accounting_invoices():
        ids += [invoice["id"] for invoice in invoices]
        if page == 1:
            assert sandbox.expire_sessions() == 1
    assert len(ids) == 50
    assert logins(sandbox) == 2
    page_two = sandbox.find_requests("GET", "/api/invoice")[1:3]
    assert [(r["query"]["page"], r["status"]) for r in page_two] == [("2", 401), ("2", 200)]


def test_idle_session_times_out_and_is_renewed():
    with ServiceTradeSandbox(session_ttl_seconds=0.2) as sandbox:
        sandbox.seed_demo_data(count=5)
        first = sandbox.demo.pending_ids[0]
        with ServiceTradeClient(
            sandbox.base_url, sandbox.username, sandbox.password, session=fast_session()
        ) as st:
            assert st.invoice(first)["id"] == first
            time.sleep(0.3)
            assert st.invoice(first)["id"] == first
        assert logins(sandbox) == 2


def test_429_with_retry_after_then_success(sandbox, client):
    sandbox.inject_fault(method="GET", path="/api/invoice", query={"page": "2"}, status=429, retry_after=1)
    pages = list(client.pending_accounting_invoices())
    assert len(pages) == 3
    assert [r["status"] for r in sandbox.find_requests("GET", "/api/invoice")] == [200, 429, 200, 200]


def test_server_errors_then_success(sandbox, client):
    invoice_id = sandbox.demo.clean_ids[0]
    sandbox.inject_fault(method="GET", path=r"/api/invoice/\d+", status=502, times=2)
    assert client.invoice(invoice_id)["id"] == invoice_id
    assert [r["status"] for r in sandbox.find_requests("GET", r"/api/invoice/\d+")] == [502, 502, 200]


def test_rate_limited_sandbox_is_followed_not_failed(sandbox, client):
    sandbox.set_rate_limit(3)
    assert len([inv for _, _, page in client.pending_accounting_invoices() for inv in page]) == 50
    assert any(r.get("rate_limited") for r in sandbox.requests)


def test_lasting_outage_is_a_transient_error(sandbox):
    sandbox.inject_fault(method="GET", path="/api/invoice", status=503, times=100)
    st = ServiceTradeClient(
        sandbox.base_url, sandbox.username, sandbox.password, session=partner_session(partner="x", retries=1)
    )
    with pytest.raises(TransientError, match=r"servicetrade is unavailable \(HTTP 503 on GET /api/invoice\)"):
        next(st.pending_accounting_invoices())


def test_wrong_password_is_an_authentication_error(sandbox):
    st = ServiceTradeClient(sandbox.base_url, sandbox.username, "not-the-password", session=fast_session())
    with pytest.raises(AuthenticationError) as caught:
        st.invoice(sandbox.demo.pending_ids[0])
    assert caught.value.reason == (
        "servicetrade refused our credentials (HTTP 403 on POST /api/auth): Invalid username or password"
    )
    assert "not-the-password" not in repr(caught.value) + repr(st)
    assert logins(sandbox) == 1  # a refusal is not retried
    st.close()
    assert sandbox.find_requests("DELETE", "/api/auth") == []  # never signed in, nothing to end


def test_session_refused_again_after_signing_in_is_an_authentication_error(sandbox, client):
    sandbox.inject_fault(method="GET", path=r"/api/invoice/\d+", status=401, times=2)
    with pytest.raises(AuthenticationError, match="HTTP 401 on GET /api/invoice/"):
        client.invoice(sandbox.demo.pending_ids[0])
    assert logins(sandbox) == 2  # signed in once more, not in a loop


def test_added_invoices_are_served_like_seeded_ones(sandbox, client):
    added = sandbox.add_invoice(sample_invoice(5000))
    assert added["uri"] == f"{sandbox.base_url}/api/invoice/5000"
    fetched = client.invoice(5000)
    assert fetched == added
    assert invoice_to_document(fetched).totals.total == Decimal("406.88")
    assert 5000 in [inv["id"] for _, _, page in client.pending_accounting_invoices() for inv in page]


def test_unknown_invoice_is_permanent(client):
    with pytest.raises(
        PermanentError, match=r"HTTP 404 on GET /api/invoice/99999\): Invoice 99999 not found"
    ):
        client.invoice(99999)


def test_mark_processed_with_the_accounting_number(sandbox, client):
    invoice_id = sandbox.demo.clean_ids[0]
    before = sandbox.invoice(invoice_id)
    updated = client.mark_processed(invoice_id, "INV-2026-0042")
    assert (updated["status"], updated["invoiceNumber"]) == ("processed", "INV-2026-0042")
    stored = sandbox.invoice(invoice_id)
    assert (stored["status"], stored["invoiceNumber"]) == ("processed", "INV-2026-0042")
    assert stored["updated"] > before["updated"]
    [put] = sandbox.find_requests("PUT", rf"/api/invoice/{invoice_id}")
    assert put["json"] == {"status": "processed", "invoiceNumber": "INV-2026-0042"}


def test_mark_processed_without_a_number_keeps_the_servicetrade_number(sandbox, client):
    invoice_id = sandbox.demo.clean_ids[1]
    client.mark_processed(invoice_id, None)
    assert sandbox.invoice(invoice_id)["invoiceNumber"] == str(invoice_id)
    assert sandbox.find_requests("PUT")[0]["json"] == {"status": "processed"}


def test_mark_processed_with_a_number_servicetrade_refuses(sandbox, client):
    with pytest.raises(PermanentError, match="invoiceNumber must be a string of 1 to 30 characters"):
        client.mark_processed(sandbox.demo.clean_ids[0], "X" * 31)
    assert sandbox.invoice(sandbox.demo.clean_ids[0])["status"] == "pending_accounting"


def test_mark_failed_adds_exactly_one_private_comment(sandbox, client):
    invoice_id = sandbox.demo.broken["no_customer"]
    reason = f"invoice {invoice_id} has no customer"
    client.mark_failed(invoice_id, reason)
    client.mark_failed(invoice_id, reason)  # a redelivered write-back adds nothing
    assert sandbox.invoice(invoice_id)["status"] == "failed"
    [comment] = sandbox.comments_for(invoice_id)
    assert comment["visibility"] == []
    assert comment["entityType"] == INVOICE_ENTITY_TYPE and comment["entityId"] == invoice_id
    assert comment["content"].endswith(reason)
    assert len(sandbox.find_requests("POST", "/api/comment")) == 1


def test_a_new_failure_reason_is_a_new_comment(sandbox, client):
    invoice_id = sandbox.demo.clean_ids[0]
    client.mark_failed(invoice_id, "first reason")
    client.mark_failed(invoice_id, "second reason")
    contents = [c["content"] for c in sandbox.comments_for(invoice_id)]
    assert len(contents) == 2
    assert contents[0].endswith(": first reason") and contents[1].endswith(": second reason")


def test_comment_post_is_not_retried_on_a_server_error(sandbox, client):
    sandbox.inject_fault(method="POST", path="/api/comment", status=500)
    with pytest.raises(TransientError):
        client.mark_failed(sandbox.demo.clean_ids[0], "whatever")
    assert len(sandbox.find_requests("POST", "/api/comment")) == 1
    assert sandbox.comments_for(sandbox.demo.clean_ids[0]) == []


def test_logout_at_the_end(sandbox):
    with ServiceTradeClient(
        sandbox.base_url, sandbox.username, sandbox.password, session=fast_session()
    ) as st:
        st.invoice(sandbox.demo.pending_ids[0])
        assert sandbox.active_sessions == 1
    [logout] = sandbox.find_requests("DELETE", "/api/auth")
    assert logout["status"] == 204
    assert sandbox.active_sessions == 0


def test_logout_failure_is_swallowed(sandbox, client, caplog):
    client.invoice(sandbox.demo.pending_ids[0])
    sandbox.inject_fault(method="DELETE", path="/api/auth", status=500, times=10)
    with caplog.at_level(logging.WARNING):
        client.logout()
    assert "logout answered HTTP 500" in caplog.text


def test_neither_password_nor_session_cookie_is_logged(sandbox, caplog):
    st = ServiceTradeClient(sandbox.base_url, sandbox.username, sandbox.password, session=fast_session())
    with caplog.at_level(logging.DEBUG), st:
        sandbox.expire_sessions()
        st.invoice(sandbox.demo.pending_ids[0])
        cookie = st.session.cookies.get(SESSION_COOKIE)
    assert cookie and cookie not in caplog.text
    assert sandbox.password not in caplog.text
    assert "signed in as" in caplog.text


# -- the Source the pipeline uses ------------------------------------------------------------------------


@pytest.fixture
def source(sandbox):
    credentials = ServiceTradeCredentials(
        base_url=sandbox.base_url + "/", username=sandbox.username, password=sandbox.password
    )
    st = ServiceTradeSource(credentials, session=fast_session(), page_size=20)
    yield st
    st.close()


def test_source_polls_fetches_and_acknowledges(sandbox, source):
    pages = list(source.poll())
    assert [(p.page, p.total_pages, p.next_page) for p in pages] == [(1, 3, 2), (2, 3, 3), (3, 3, None)]
    refs = [ref for page in pages for ref in page.refs]
    assert [int(ref.id) for ref in refs] == sorted(sandbox.demo.pending_ids)
    first = refs[0]
    assert first.version == str(sandbox.invoice(int(first.id))["updated"])
    assert first.number == sandbox.invoice(int(first.id))["invoiceNumber"]
    assert pages[0].raw[0]["id"] == int(first.id)

    good = next(ref for ref in refs if int(ref.id) in sandbox.demo.clean_ids)
    document, raw = source.fetch(good)
    assert document.ref("servicetrade").id == good.id and raw["id"] == int(good.id)
    assert source.current_ref(raw) == good
    source.acknowledge(good, Outcome.success(target_id="a-1", target_number="A-1001"))
    after = sandbox.invoice(int(good.id))
    assert (after["status"], after["invoiceNumber"]) == ("processed", "A-1001")
    assert source.current_ref(after) is None  # no longer ready

    broken = next(ref for ref in refs if int(ref.id) == sandbox.demo.broken["bad_transaction_date"])
    with pytest.raises(MappingError) as caught:
        source.fetch(broken)
    assert caught.value.raw["id"] == int(broken.id)
    source.acknowledge(broken, Outcome.failure(caught.value.reason))
    assert sandbox.invoice(int(broken.id))["status"] == "failed"
    [comment] = sandbox.comments_for(int(broken.id))
    assert "transactionDate '31/02/2026' is not a date" in comment["content"] and comment["visibility"] == []

    source.close()
    assert sandbox.find_requests("DELETE", "/api/auth")[-1]["status"] == 204


def test_source_from_connector_config(sandbox):
    config = ServiceTradeSourceConfig(
        system="servicetrade", base_url=sandbox.base_url, credentials_secret="s", page_size=25
    )
    st = ServiceTradeSource.from_config(config, {"username": sandbox.username, "password": sandbox.password})
    assert [p.page for p in st.poll()] == [1, 2]
    st.close()
    with pytest.raises(ConfigurationError, match="password") as caught:
        ServiceTradeSource.from_config(config, {"username": sandbox.username, "password": 12345})
    assert "12345" not in caught.value.reason


# -- the sandbox keeps to the documented API -------------------------------------------------------------


@pytest.fixture
def http(sandbox):
    session = requests.Session()
    session.post(
        f"{sandbox.base_url}/api/auth", json={"username": sandbox.username, "password": sandbox.password}
    )
    return session


def errors(response) -> list[str]:
    return response.json()["messages"]["error"]


def test_sandbox_requires_a_session(sandbox):
    response = requests.get(f"{sandbox.base_url}/api/invoice", timeout=5)
    assert (response.status_code, errors(response)) == (401, ["Authentication required"])


def test_sandbox_listing_limits(sandbox, http):
    url = f"{sandbox.base_url}/api/invoice"
    assert http.get(url, params={"limit": 501}).status_code == 400
    assert http.get(url, params={"limit": 500}).json()["data"]["totalPages"] == 1
    beyond = http.get(url, params={"status": "pending_accounting", "page": 9, "limit": 20}).json()["data"]
    assert beyond == {"totalPages": 3, "page": 9, "invoices": []}
    assert http.get(url, params={"status": "paid"}).status_code == 400


def test_sandbox_invoice_updates_are_validated(sandbox, http):
    url = f"{sandbox.base_url}/api/invoice/{sandbox.demo.pending_ids[0]}"
    response = http.put(url, json={"status": "archived", "total": 0})
    assert response.status_code == 400
    assert errors(response) == [
        "total cannot be updated",
        "status must be one of draft, ok, pending_accounting, processed, failed, void",
    ]
    assert http.put(url, json={"invoiceNumber": ""}).status_code == 400


def test_sandbox_comments_are_validated(sandbox, http):
    url = f"{sandbox.base_url}/api/comment"
    valid = {"entityType": INVOICE_ENTITY_TYPE, "entityId": sandbox.demo.pending_ids[0], "content": "hi"}
    assert "visibility is required" in errors(http.post(url, json=valid))[0]  # the default might be public
    assert http.post(url, json={**valid, "visibility": ["public"]}).status_code == 400
    assert http.post(url, json={**valid, "visibility": [], "content": "x" * 5001}).status_code == 400
    assert http.post(url, json={**valid, "visibility": [], "entityId": 1}).status_code == 404
    created = http.post(url, json={**valid, "visibility": ["tech"]})
    assert created.status_code == 200 and created.json()["data"]["visibility"] == ["tech"]
    listed = http.get(url, params={"entityType": INVOICE_ENTITY_TYPE, "entityId": valid["entityId"]})
    assert [c["content"] for c in listed.json()["data"]["comments"]] == ["hi"]


def test_sandbox_sessions_expire_on_demand_over_http(sandbox, http):
    assert http.post(f"{sandbox.base_url}/_sandbox/expire-sessions").json() == {"expired": 1}
    assert http.get(f"{sandbox.base_url}/api/invoice").status_code == 401
