"""The ServiceTrade client and source against the sandbox ServiceTrade API over real HTTP: both ways of
signing in, the paged listing (type filter, limit, loop guard), write-backs, and the sandbox's own rules."""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from decimal import Decimal

import pytest
import requests

from invoice_relay.errors import (
    AuthenticationError,
    ConfigurationError,
    MappingError,
    PermanentError,
    TransientError,
)
from invoice_relay.http import ClientCredentialsAuth, Page, SessionLoginAuth, partner_session
from invoice_relay.models import DocumentKind
from invoice_relay.partners.capabilities import Outcome, SourceRef
from invoice_relay.partners.servicetrade.client import ServiceTradeClient, authenticator
from invoice_relay.partners.servicetrade.config import ServiceTradeSourceConfig
from invoice_relay.partners.servicetrade.source import ServiceTradeSource
from local.sandboxes.servicetrade import (
    INVOICE_ENTITY_TYPE,
    INVOICE_STATUSES,
    SESSION_COOKIE,
    TOKEN_PATH,
    TOKEN_TTL_SECONDS,
    ServiceTradeSandbox,
    sample_invoice,
)

LISTING = "/api/invoice"


def fast_session() -> requests.Session:
    """The production retry policy with tiny waits (Retry-After up to 2 s is still honoured)."""
    return partner_session(partner="servicetrade", backoff_factor=0.01, backoff_jitter=0, backoff_max=2)


def session_secret(sandbox: ServiceTradeSandbox) -> dict[str, str]:
    return {"username": sandbox.username, "password": sandbox.password}


@pytest.fixture(scope="module")
def server():
    with ServiceTradeSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server):
    server.reset()
    server.set_rate_limit(None)
    server.filters_by_type = True
    server.send_expires_in = True
    server.token_ttl_seconds = TOKEN_TTL_SECONDS
    server.seed_demo_data(count=50)
    return server


@pytest.fixture
def client(sandbox):
    """The preferred way: OAuth 2.0 client credentials."""
    with ServiceTradeClient.from_credentials(
        sandbox.base_url, sandbox.client_credentials(), session=fast_session(), page_size=20
    ) as st:
        yield st


@pytest.fixture
def session_client(sandbox):
    """The legacy way: a username/password session."""
    with ServiceTradeClient.from_credentials(
        sandbox.base_url, session_secret(sandbox), session=fast_session(), page_size=20
    ) as st:
        yield st


def logins(sandbox) -> int:
    return len(sandbox.find_requests("POST", "/api/auth"))


def token_requests(sandbox) -> list[dict]:
    return sandbox.find_requests("POST", TOKEN_PATH)


def listed_ids(pages) -> list[int]:
    return [invoice["id"] for page in pages for invoice in page.records]


# -- the listing ---------------------------------------------------------------------------------------------


def test_pages_through_every_pending_invoice(sandbox, client):
    pages = list(client.pending_accounting_invoices())
    assert all(isinstance(page, Page) for page in pages)
    assert [(p.number, p.total_pages, len(p.records)) for p in pages] == [(1, 3, 20), (2, 3, 20), (3, 3, 10)]
    assert listed_ids(pages) == sorted(sandbox.demo.pending_ids)
    listing = sandbox.find_requests("GET", LISTING)
    assert [r["query"] for r in listing] == [
        {"status": "pending_accounting", "type": "invoice", "page": str(page), "limit": "20"}
        for page in (1, 2, 3)
    ]
    assert len(token_requests(sandbox)) == 1 and logins(sandbox) == 0


def test_status_filter_excludes_other_statuses(sandbox, client):
    invoices = [inv for page in client.pending_accounting_invoices() for inv in page.records]
    assert {inv["status"] for inv in invoices} == {"pending_accounting"}
    assert not {inv["id"] for inv in invoices} & set(sandbox.demo.other_statuses)
    assert {"processed", "draft"} <= set(sandbox.demo.other_statuses.values())


def test_type_filter_leaves_out_vendor_bills_and_external_invoices(sandbox, client):
    demo = sandbox.seed_demo_data(count=50, vendor_bills=3, external_invoices=1)
    assert listed_ids(client.pending_accounting_invoices()) == sorted(demo.pending_ids)
    everything_pending = [i["id"] for i in sandbox.invoices() if i["status"] == "pending_accounting"]
    assert set(everything_pending) - set(demo.pending_ids) == set(demo.other_types)


def test_start_page_past_the_end_yields_one_empty_page(client):
    assert list(client.pending_accounting_invoices(start_page=7)) == [
        Page(records=[], number=7, total_pages=3)
    ]


def test_a_page_size_of_2000_is_one_page(sandbox):
    with ServiceTradeClient.from_credentials(
        sandbox.base_url, sandbox.client_credentials(), session=fast_session(), page_size=2000
    ) as st:
        [page] = list(st.pending_accounting_invoices())
    assert (page.number, page.total_pages, len(page.records)) == (1, 1, 50)
    assert sandbox.find_requests("GET", LISTING)[0]["query"]["limit"] == "2000"
    with pytest.raises(ConfigurationError, match=r"page size must be 1\.\.2000, got 2001"):
        ServiceTradeClient.from_credentials(sandbox.base_url, sandbox.client_credentials(), page_size=2001)
    with pytest.raises(ValueError, match="page_size"):
        ServiceTradeSourceConfig(system="servicetrade", credentials_secret="s", page_size=2001)


def test_a_listing_that_answers_the_same_page_again_is_stopped(sandbox, client):
    first_page = next(client.pending_accounting_invoices())
    sandbox.clear_requests()
    sandbox.inject_fault(
        method="GET",
        path=LISTING,
        query={"page": "2"},
        status=200,
        times=100,
        body={"data": {"totalPages": 3, "page": 1, "invoices": first_page.records}},
    )
    with pytest.raises(PermanentError, match=r"answered page 1 when asked for page 2 of invoices \(loop"):
        list(client.pending_accounting_invoices())
    assert [r["query"]["page"] for r in sandbox.find_requests("GET", LISTING)] == ["1", "2"]


def test_a_listing_whose_pages_never_end_is_stopped(sandbox):
    # A partner fault: every page claims there are a million, and never says which page it is.
    endless = {"data": {"totalPages": 1_000_000, "invoices": [sample_invoice(1)]}}
    sandbox.inject_fault(method="GET", path=LISTING, status=200, times=100, body=endless)
    st = ServiceTradeClient(
        sandbox.base_url,
        auth=authenticator(sandbox.base_url, sandbox.client_credentials()),
        session=fast_session(),
        max_pages=5,
    )
    with st, pytest.raises(PermanentError, match="servicetrade listed more than 5 pages of invoices"):
        list(st.pending_accounting_invoices())
    assert len(sandbox.find_requests("GET", LISTING)) == 5


def test_a_listing_without_the_documented_shape_is_permanent(sandbox, client):
    sandbox.inject_fault(method="GET", path=LISTING, status=200, body={"data": {"invoices": []}})
    with pytest.raises(PermanentError, match=r"page 1 without data\.totalPages and data\.invoices"):
        next(client.pending_accounting_invoices())
    sandbox.inject_fault(method="GET", path=LISTING, status=200, body={"invoices": []})
    with pytest.raises(PermanentError, match="without a data object"):
        next(client.pending_accounting_invoices())
    bad_page = {"data": {"totalPages": 1, "page": "one", "invoices": []}}
    sandbox.inject_fault(method="GET", path=LISTING, status=200, body=bad_page)
    with pytest.raises(PermanentError, match=r"with data\.page 'one'"):
        next(client.pending_accounting_invoices())


# -- OAuth 2.0 client credentials --------------------------------------------------------------------------


def test_client_credentials_token_is_fetched_once_and_sent_as_bearer(sandbox, client):
    list(client.pending_accounting_invoices())
    client.invoice(sandbox.demo.clean_ids[0])
    [token_request] = token_requests(sandbox)
    assert token_request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert sandbox.tokens_issued == 1
    api_calls = [r for r in sandbox.requests if r["path"] != TOKEN_PATH]
    assert len(api_calls) == 4 and {r["status"] for r in api_calls} == {200}
    assert all(r["headers"]["Authorization"] == "[redacted]" for r in api_calls)  # sent, never logged
    assert not any("Cookie" in r["headers"] for r in api_calls)
    assert isinstance(client.auth, ClientCredentialsAuth)
    assert client.auth.token_url == f"{sandbox.base_url}/api/oauth2/token"
    client.close()
    assert sandbox.find_requests("DELETE", "/api/auth") == []  # no session to end


def test_an_expired_token_is_replaced_once_and_the_request_repeated(sandbox, client):
    ids = []
    for page in client.pending_accounting_invoices():
        ids += [invoice["id"] for invoice in page.records]
        if page.number == 1:
            assert sandbox.expire_tokens() == 1
    assert len(ids) == 50
    assert sandbox.tokens_issued == 2
    calls = [(r["path"], r["query"].get("page"), r["status"]) for r in sandbox.requests]
    assert calls == [
        (TOKEN_PATH, None, 200),
        (LISTING, "1", 200),
        (LISTING, "2", 401),
        (TOKEN_PATH, None, 200),
        (LISTING, "2", 200),
        (LISTING, "3", 200),
    ]


def test_a_fresh_token_refused_again_is_an_authentication_error(sandbox, client):
    sandbox.inject_fault(method="GET", path=r"/api/invoice/\d+", status=401, times=2)
    with pytest.raises(AuthenticationError, match=r"servicetrade refused our credentials \(HTTP 401 on GET"):
        client.invoice(sandbox.demo.pending_ids[0])
    assert sandbox.tokens_issued == 2  # renewed once, not in a loop


def test_a_wrong_client_secret_is_an_authentication_error_without_the_secret(sandbox, caplog):
    secret = {"client_id": sandbox.client_id, "client_secret": "not-the-client-secret"}
    st = ServiceTradeClient.from_credentials(sandbox.base_url, secret, session=fast_session())
    with caplog.at_level(logging.DEBUG), st, pytest.raises(AuthenticationError) as caught:
        st.invoice(sandbox.demo.pending_ids[0])
    reason = caught.value.reason
    assert reason.startswith("servicetrade refused our") and "HTTP 401" in reason
    assert reason.endswith(": invalid_client; Client authentication failed")  # the partner's own words
    assert caught.value.status == 401
    assert "not-the-client-secret" not in repr(caught.value) + repr(st) + repr(st.auth) + caplog.text
    assert len(token_requests(sandbox)) == 1  # a refusal is not retried
    assert sandbox.find_requests("GET", r"/api/invoice/\d+") == []


def test_neither_client_secret_nor_access_token_is_logged_or_put_into_errors(sandbox, client, caplog):
    with caplog.at_level(logging.DEBUG):
        client.invoice(sandbox.demo.pending_ids[0])
        sandbox.expire_tokens()
        client.invoice(sandbox.demo.pending_ids[0])  # 401, new token, again
        token = client.auth.access_token()
        sandbox.inject_fault(method="GET", path=r"/api/invoice/\d+", status=401, times=2)
        with pytest.raises(AuthenticationError) as caught:
            client.invoice(sandbox.demo.pending_ids[0])
    assert sandbox.tokens_issued == 3
    assert token.count(".") == 2  # a JWT, as the official SDKs expect
    for secret in (sandbox.client_secret, token):
        assert secret not in caplog.text
        assert secret not in repr(caught.value) + caught.value.reason + repr(client)
    assert f"new access token for client {sandbox.client_id}" in caplog.text
    assert "access token refused, fetching a new one" in caplog.text


def test_the_token_lifetime_is_read_from_the_jwt_when_expires_in_is_absent(sandbox):
    """The SDKs take the lifetime from the token's `exp` claim; without `expires_in` we do too, and renew
    shortly before it instead of waiting for a 401."""
    sandbox.send_expires_in = False
    sandbox.token_ttl_seconds = 600
    assert set(token(sandbox).json()) == {"access_token", "token_type"}
    now = [1000.0]
    auth = ClientCredentialsAuth(
        f"{sandbox.base_url}{TOKEN_PATH}",
        sandbox.client_id,
        sandbox.client_secret,
        partner="servicetrade",
        clock=lambda: now[0],
    )
    with ServiceTradeClient(sandbox.base_url, auth=auth, session=fast_session()) as st:
        first = st.invoice(sandbox.demo.pending_ids[0])
        now[0] += 500  # within the lifetime less the margin: the same token
        st.invoice(sandbox.demo.pending_ids[0])
        assert sandbox.tokens_issued == 2  # ours and the one above
        now[0] += 50  # 550 s: less than the 60 s margin left of 600 s
        assert st.invoice(sandbox.demo.pending_ids[0]) == first
        assert sandbox.tokens_issued == 3
    assert not [r for r in sandbox.requests if r.get("status") == 401]  # renewed before, not after


def test_client_credentials_come_from_the_secret_shape(sandbox):
    assert isinstance(authenticator(sandbox.base_url, sandbox.client_credentials()), ClientCredentialsAuth)
    assert isinstance(authenticator(sandbox.base_url, session_secret(sandbox)), SessionLoginAuth)
    for secret, missing in (
        ({"client_id": "relay"}, "client_secret"),
        ({"client_secret": "s3cr3t-value"}, "client_id"),
        ({"client_id": "relay", "client_secret": ""}, "client_secret"),
        ({"username": "bookkeeper"}, "password"),
        ({}, "password, username"),
    ):
        with pytest.raises(ConfigurationError) as caught:
            authenticator(sandbox.base_url, secret)
        assert caught.value.reason == (
            f"servicetrade credentials are incomplete or invalid: {missing} (expected client_id and "
            "client_secret, or username and password)"
        )
        assert "s3cr3t-value" not in caught.value.reason


# -- the legacy username/password session ------------------------------------------------------------------


def test_legacy_session_pages_through_every_pending_invoice(sandbox, session_client):
    pages = list(session_client.pending_accounting_invoices())
    assert listed_ids(pages) == sorted(sandbox.demo.pending_ids)
    assert logins(sandbox) == 1 and token_requests(sandbox) == []
    listing = sandbox.find_requests("GET", LISTING)
    assert all(r["headers"]["Cookie"] == "[redacted]" for r in listing)
    assert not any("Authorization" in r["headers"] for r in listing)


def test_session_expiry_mid_run_signs_in_again_and_carries_on(sandbox, session_client):
    ids = []
    for page in session_client.pending_accounting_invoices():
        ids += [invoice["id"] for invoice in page.records]
        if page.number == 1:
            assert sandbox.expire_sessions() == 1
    assert len(ids) == 50
    assert logins(sandbox) == 2
    page_two = sandbox.find_requests("GET", LISTING)[1:3]
    assert [(r["query"]["page"], r["status"]) for r in page_two] == [("2", 401), ("2", 200)]


def test_idle_session_times_out_and_is_renewed():
    with ServiceTradeSandbox(session_ttl_seconds=0.2) as sandbox:
        sandbox.seed_demo_data(count=5)
        first = sandbox.demo.pending_ids[0]
        with ServiceTradeClient.from_credentials(
            sandbox.base_url, session_secret(sandbox), session=fast_session()
        ) as st:
            assert st.invoice(first)["id"] == first
            time.sleep(0.3)
            assert st.invoice(first)["id"] == first
        assert logins(sandbox) == 2


def test_wrong_password_is_an_authentication_error(sandbox):
    secret = {"username": sandbox.username, "password": "not-the-password"}
    st = ServiceTradeClient.from_credentials(sandbox.base_url, secret, session=fast_session())
    with pytest.raises(AuthenticationError) as caught:
        st.invoice(sandbox.demo.pending_ids[0])
    assert caught.value.reason == (
        "servicetrade refused our credentials (HTTP 403 on POST /api/auth): Invalid username or password"
    )
    assert "not-the-password" not in repr(caught.value) + repr(st)
    assert logins(sandbox) == 1  # a refusal is not retried
    st.close()
    assert sandbox.find_requests("DELETE", "/api/auth") == []  # never signed in, nothing to end


def test_session_refused_again_after_signing_in_is_an_authentication_error(sandbox, session_client):
    sandbox.inject_fault(method="GET", path=r"/api/invoice/\d+", status=401, times=2)
    with pytest.raises(AuthenticationError, match="HTTP 401 on GET /api/invoice/"):
        session_client.invoice(sandbox.demo.pending_ids[0])
    assert logins(sandbox) == 2  # signed in once more, not in a loop


def test_logout_at_the_end(sandbox):
    with ServiceTradeClient.from_credentials(
        sandbox.base_url, session_secret(sandbox), session=fast_session()
    ) as st:
        st.invoice(sandbox.demo.pending_ids[0])
        assert sandbox.active_sessions == 1
    [logout] = sandbox.find_requests("DELETE", "/api/auth")
    assert logout["status"] == 204
    assert sandbox.active_sessions == 0


def test_logout_failure_is_swallowed(sandbox, session_client, caplog):
    session_client.invoice(sandbox.demo.pending_ids[0])
    sandbox.inject_fault(method="DELETE", path="/api/auth", status=500, times=10)
    with caplog.at_level(logging.WARNING):
        session_client.close()
    assert "logout answered HTTP 500" in caplog.text
    assert sandbox.active_sessions == 1  # the sandbox's session ends with its idle timeout


def test_neither_password_nor_session_cookie_is_logged(sandbox, caplog):
    st = ServiceTradeClient.from_credentials(
        sandbox.base_url, session_secret(sandbox), session=fast_session()
    )
    with caplog.at_level(logging.DEBUG), st:
        sandbox.expire_sessions()
        st.invoice(sandbox.demo.pending_ids[0])
        cookie = st.session.cookies.get(SESSION_COOKIE)
    assert cookie and cookie not in caplog.text
    assert sandbox.password not in caplog.text
    assert "signed in as" in caplog.text


# -- failures of the partner -------------------------------------------------------------------------------


def test_429_with_retry_after_then_success(sandbox, client):
    sandbox.inject_fault(method="GET", path=LISTING, query={"page": "2"}, status=429, retry_after=1)
    pages = list(client.pending_accounting_invoices())
    assert len(pages) == 3
    assert [r["status"] for r in sandbox.find_requests("GET", LISTING)] == [200, 429, 200, 200]


def test_server_errors_then_success(sandbox, client):
    invoice_id = sandbox.demo.clean_ids[0]
    sandbox.inject_fault(method="GET", path=r"/api/invoice/\d+", status=502, times=2)
    assert client.invoice(invoice_id)["id"] == invoice_id
    assert [r["status"] for r in sandbox.find_requests("GET", r"/api/invoice/\d+")] == [502, 502, 200]


def test_rate_limited_sandbox_is_followed_not_failed(sandbox, client):
    sandbox.set_rate_limit(3)
    assert len([inv for page in client.pending_accounting_invoices() for inv in page.records]) == 50
    assert any(r.get("rate_limited") for r in sandbox.requests)


def test_lasting_outage_is_a_transient_error(sandbox):
    sandbox.inject_fault(method="GET", path=LISTING, status=503, times=100)
    st = ServiceTradeClient.from_credentials(
        sandbox.base_url, sandbox.client_credentials(), session=partner_session(partner="x", retries=1)
    )
    with (
        st,
        pytest.raises(TransientError, match=r"servicetrade is unavailable \(HTTP 503 on GET /api/invoice\)"),
    ):
        next(st.pending_accounting_invoices())


def test_token_endpoint_outage_is_a_transient_error(sandbox):
    sandbox.inject_fault(method="POST", path=TOKEN_PATH, status=503, times=100)
    st = ServiceTradeClient.from_credentials(
        sandbox.base_url, sandbox.client_credentials(), session=partner_session(partner="x", retries=1)
    )
    with st, pytest.raises(TransientError, match=r"HTTP 503 on POST /api/oauth2/token"):
        st.invoice(sandbox.demo.pending_ids[0])
    assert sandbox.find_requests("GET", r"/api/invoice/\d+") == []


# -- invoices and write-backs ------------------------------------------------------------------------------


def test_added_invoices_are_served_like_seeded_ones(sandbox, client):
    added = sandbox.add_invoice(sample_invoice(5000))
    assert added["uri"] == f"{sandbox.base_url}/api/invoice/5000"
    fetched = client.invoice(5000)
    assert fetched == added
    assert 5000 in listed_ids(client.pending_accounting_invoices())


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
    assert sandbox.invoice(invoice_id)["externalIds"] == {}


def test_mark_processed_writes_the_external_id(sandbox, client):
    invoice_id = sandbox.demo.clean_ids[0]
    sandbox.add_invoice({**sandbox.invoice(invoice_id), "externalIds": {"quickbooks": "QB-7"}})
    client.mark_processed(invoice_id, "A-1001", {"freshbooks": "fb-42"})
    [put] = sandbox.find_requests("PUT", rf"/api/invoice/{invoice_id}")
    assert put["json"] == {
        "status": "processed",
        "invoiceNumber": "A-1001",
        "externalIds": {"freshbooks": "fb-42"},
    }
    stored = sandbox.invoice(invoice_id)
    assert stored["status"] == "processed"
    assert stored["externalIds"] == {"quickbooks": "QB-7", "freshbooks": "fb-42"}  # merged, not replaced
    client.mark_processed(invoice_id, "A-1001", {"freshbooks": "fb-42"})  # a repeated write-back is fine
    assert sandbox.invoice(invoice_id)["externalIds"]["freshbooks"] == "fb-42"


def test_an_external_id_another_invoice_holds_is_refused(sandbox, client):
    first, second = sandbox.demo.clean_ids[:2]
    client.mark_processed(first, None, {"freshbooks": "fb-42"})
    with pytest.raises(
        PermanentError, match=re.escape(f"externalIds.freshbooks 'fb-42' is already used by invoice {first}")
    ):
        client.mark_processed(second, None, {"freshbooks": "fb-42"})
    assert sandbox.invoice(second)["status"] == "pending_accounting"


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


# -- the source the pipeline uses --------------------------------------------------------------------------


def source_config(sandbox, page_size: int = 20) -> ServiceTradeSourceConfig:
    return ServiceTradeSourceConfig(
        system="servicetrade", base_url=sandbox.base_url + "/", credentials_secret="s", page_size=page_size
    )


@pytest.fixture
def source(sandbox):
    st = ServiceTradeSource.from_config(
        source_config(sandbox), sandbox.client_credentials(), session=fast_session()
    )
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
    source.acknowledge(
        good, Outcome.success(target_id="fb-1", target_number="A-1001", target_system="freshbooks")
    )
    after = sandbox.invoice(int(good.id))
    assert (after["status"], after["invoiceNumber"], after["externalIds"]) == (
        "processed",
        "A-1001",
        {"freshbooks": "fb-1"},
    )
    assert source.current_ref(after) is None  # no longer ready

    broken = next(ref for ref in refs if int(ref.id) == sandbox.demo.broken["bad_transaction_date"])
    with pytest.raises(MappingError) as caught:
        source.fetch(broken)
    assert caught.value.raw == sandbox.invoice(int(broken.id))
    source.acknowledge(broken, Outcome.failure(caught.value.reason))
    assert sandbox.invoice(int(broken.id))["status"] == "failed"
    [comment] = sandbox.comments_for(int(broken.id))
    assert "transactionDate '31/02/2026' is not a date" in comment["content"] and comment["visibility"] == []


def test_source_acknowledges_without_an_external_id_when_the_target_has_none(sandbox, source):
    invoice_id = sandbox.demo.clean_ids[0]
    ref = SourceRef(id=str(invoice_id), version="1")
    source.acknowledge(ref, Outcome.success(target_number="A-7", target_system="flatfile"))
    [put] = sandbox.find_requests("PUT", rf"/api/invoice/{invoice_id}")
    assert put["json"] == {"status": "processed", "invoiceNumber": "A-7"}
    with pytest.raises(PermanentError, match="'x-1' is not a ServiceTrade invoice id"):
        source.acknowledge(SourceRef(id="x-1", version="1"), Outcome.success())


def test_source_maps_a_credit_to_a_credit_note(sandbox, source):
    credit_id = sandbox.demo.credit_ids[0]
    stored = sandbox.invoice(credit_id)
    assert stored["type"] == "invoice" and stored["totalPrice"] < 0
    document, _ = source.fetch(SourceRef(id=str(credit_id), version=str(stored["updated"])))
    assert document.kind is DocumentKind.CREDIT_NOTE
    assert document.totals.total == -Decimal(str(stored["totalPrice"])) > 0
    assert all(line.unit_price > 0 for line in document.lines)


def test_source_passes_over_vendor_bills_the_api_lists_anyway(sandbox, source, caplog):
    # If ServiceTrade ignores `type` (the public docs show no such filter), other types arrive too.
    demo = sandbox.seed_demo_data(count=50, vendor_bills=3, external_invoices=1)
    sandbox.filters_by_type = False
    sandbox.add_invoice({**sample_invoice(9000), "type": "quote"})
    with caplog.at_level(logging.INFO):
        pages = list(source.poll())
    listed = {record["id"] for page in pages for record in page.raw}
    refs = [ref for page in pages for ref in page.refs]
    assert set(demo.other_types) | {9000} <= listed  # listed...
    assert sorted(int(ref.id) for ref in refs) == sorted(demo.pending_ids)  # ...but passed over
    some_bill = min(demo.other_types)
    assert f"passing over 'vendorbill' record {some_bill} (not an invoice for accounting)" in caplog.text
    assert "passing over 'quote' record 9000 (not an invoice for accounting): unknown type" in caplog.text
    assert source.current_ref(sandbox.invoice(some_bill)) is None

    for ref in refs:
        source.acknowledge(ref, Outcome.success())
    written = {int(r["path"].rsplit("/", 1)[1]) for r in sandbox.find_requests("PUT", r"/api/invoice/\d+")}
    assert written == set(demo.pending_ids)  # never a vendor bill
    assert {sandbox.invoice(i)["status"] for i in demo.other_types} == {"pending_accounting"}


def test_source_skips_a_listed_record_without_an_id(sandbox, source, caplog):
    good = sandbox.invoice(sandbox.demo.clean_ids[0])
    body = {"data": {"totalPages": 1, "page": 1, "invoices": [{"invoiceNumber": "X-1"}, good]}}
    sandbox.inject_fault(method="GET", path=LISTING, status=200, body=body)
    with caplog.at_level(logging.INFO):
        [page] = list(source.poll())
    assert [ref.id for ref in page.refs] == [str(good["id"])] and len(page.raw) == 2
    assert "skipping an invoice without an id on page 1" in caplog.text


def test_source_from_connector_config_with_either_secret(sandbox):
    config = source_config(sandbox, page_size=25)
    for secret in (sandbox.client_credentials(), session_secret(sandbox)):
        st = ServiceTradeSource.from_config(config, secret)
        assert [p.page for p in st.poll()] == [1, 2]
        st.close()
    assert logins(sandbox) == 1 and sandbox.tokens_issued == 1
    with pytest.raises(ConfigurationError, match="password") as caught:
        ServiceTradeSource.from_config(config, {"username": sandbox.username, "password": 12345})
    assert "12345" not in caught.value.reason


# -- the sandbox keeps to the documented API ---------------------------------------------------------------


@pytest.fixture
def http(sandbox):
    session = requests.Session()
    session.post(f"{sandbox.base_url}/api/auth", json=session_secret(sandbox), timeout=5)
    return session


def errors(response) -> list[str]:
    return response.json()["messages"]["error"]


def token(sandbox, **form) -> requests.Response:
    body = {"grant_type": "client_credentials", **sandbox.client_credentials(), **form}
    return requests.post(f"{sandbox.base_url}{TOKEN_PATH}", data=body, timeout=5)


def test_sandbox_requires_a_session_or_a_token(sandbox):
    response = requests.get(f"{sandbox.base_url}{LISTING}", timeout=5)
    assert (response.status_code, errors(response)) == (401, ["Authentication required"])
    bad = requests.get(f"{sandbox.base_url}{LISTING}", headers={"Authorization": "Bearer forged"}, timeout=5)
    assert (bad.status_code, errors(bad)) == (401, ["Invalid or expired access token"])
    assert bad.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_sandbox_token_endpoint(sandbox):
    answer = token(sandbox)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    claims = json.loads(base64.urlsafe_b64decode(body["access_token"].split(".")[1] + "=="))
    assert claims["sub"] == sandbox.client_id and 3590 < claims["exp"] - time.time() <= 3601
    as_json = requests.post(
        f"{sandbox.base_url}{TOKEN_PATH}",
        json={"grant_type": "client_credentials", **sandbox.client_credentials()},
        timeout=5,
    )
    assert as_json.status_code == 200  # the Node SDK posts JSON
    headers = {"Authorization": f"Bearer {as_json.json()['access_token']}"}
    assert requests.get(f"{sandbox.base_url}{LISTING}", headers=headers, timeout=5).status_code == 200
    wrong = token(sandbox, client_secret="nope")
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    assert token(sandbox, client_id="someone-else").status_code == 401
    grant = token(sandbox, grant_type="password")
    assert (grant.status_code, grant.json()["error"]) == (400, "unsupported_grant_type")
    assert sandbox.tokens_issued == 2
    assert sandbox.find_requests("POST", TOKEN_PATH)[1]["json"]["client_secret"] == "[redacted]"


def test_sandbox_tokens_expire_on_demand_over_http(sandbox):
    headers = {"Authorization": f"Bearer {token(sandbox).json()['access_token']}"}
    assert requests.get(f"{sandbox.base_url}{LISTING}", headers=headers, timeout=5).status_code == 200
    assert requests.post(f"{sandbox.base_url}/_sandbox/expire-tokens", timeout=5).json() == {"expired": 1}
    assert requests.get(f"{sandbox.base_url}{LISTING}", headers=headers, timeout=5).status_code == 401


def test_sandbox_tokens_expire_with_their_lifetime():
    with ServiceTradeSandbox(token_ttl_seconds=0.2) as sandbox:
        headers = {"Authorization": f"Bearer {token(sandbox).json()['access_token']}"}
        assert requests.get(f"{sandbox.base_url}{LISTING}", headers=headers, timeout=5).status_code == 200
        time.sleep(0.3)
        assert requests.get(f"{sandbox.base_url}{LISTING}", headers=headers, timeout=5).status_code == 401


def test_sandbox_listing_limits(sandbox, http):
    url = f"{sandbox.base_url}{LISTING}"
    assert http.get(url, params={"limit": 2001}).status_code == 400
    assert http.get(url, params={"limit": 2000}).json()["data"]["totalPages"] == 1
    assert http.get(url, params={"limit": 0}).status_code == 400
    beyond = http.get(url, params={"status": "pending_accounting", "page": 9, "limit": 20}).json()["data"]
    assert beyond == {"totalPages": 3, "page": 9, "invoices": []}
    assert http.get(url, params={"status": "archived"}).status_code == 400
    none = http.get(url, params={"status": "paid"}).json()["data"]
    assert (none["totalPages"], none["invoices"]) == (0, [])


def test_sandbox_listing_filters_by_type(sandbox, http):
    demo = sandbox.seed_demo_data(count=10, vendor_bills=2, external_invoices=1)
    url = f"{sandbox.base_url}{LISTING}"

    def ids(**params) -> set[int]:
        return {i["id"] for i in http.get(url, params={"limit": 2000, **params}).json()["data"]["invoices"]}

    bills = {i for i, kind in demo.other_types.items() if kind == "vendorbill"}
    assert ids(status="pending_accounting", type="invoice") == set(demo.pending_ids)
    assert ids(type="vendorbill") == bills
    assert ids(type="vendorbill,external") == set(demo.other_types)
    assert ids(status="pending_accounting") == set(demo.pending_ids) | set(demo.other_types)
    refused = http.get(url, params={"type": "credit"})
    assert (refused.status_code, errors(refused)) == (
        400,
        ["unknown invoice type credit; expected invoice, vendorbill, external"],
    )


@pytest.mark.parametrize("status", INVOICE_STATUSES)
def test_sandbox_accepts_every_invoice_status(sandbox, http, status):
    invoice_id = sandbox.demo.pending_ids[0]
    response = http.put(f"{sandbox.base_url}/api/invoice/{invoice_id}", json={"status": status})
    assert response.status_code == 200 and response.json()["data"]["status"] == status
    listed = http.get(f"{sandbox.base_url}{LISTING}", params={"status": status, "limit": 2000})
    assert invoice_id in [i["id"] for i in listed.json()["data"]["invoices"]]


def test_sandbox_invoice_updates_are_validated(sandbox, http):
    url = f"{sandbox.base_url}/api/invoice/{sandbox.demo.pending_ids[0]}"
    response = http.put(url, json={"status": "archived", "total": 0})
    assert response.status_code == 400
    assert errors(response) == [
        "total cannot be updated",
        "status must be one of draft, ok, internal_review, pending_accounting, processed, failed, sent, "
        "paid, void",
    ]
    assert http.put(url, json={"invoiceNumber": ""}).status_code == 400
    assert http.put(url, json={"type": "vendorbill"}).status_code == 400
    assert http.put(f"{sandbox.base_url}/api/invoice/99999", json={"status": "ok"}).status_code == 404


def test_sandbox_external_ids_are_validated(sandbox, http):
    url = f"{sandbox.base_url}/api/invoice/{sandbox.demo.pending_ids[0]}"
    for external_ids, problem in (
        (["fb-1"], "externalIds must be an object of external system name to id"),
        ({"FreshBooks": "fb-1"}, "externalIds: 'FreshBooks' is not an external system name"),
        ({"1books": "fb-1"}, "externalIds: '1books' is not an external system name"),
        ({"freshbooks": ""}, "externalIds.freshbooks must be a string of 1 to 255 characters"),
        ({"freshbooks": 42}, "externalIds.freshbooks must be a string of 1 to 255 characters"),
    ):
        response = http.put(url, json={"externalIds": external_ids})
        assert response.status_code == 400, external_ids
        assert errors(response)[0].startswith(problem)
    assert sandbox.invoice(sandbox.demo.pending_ids[0])["externalIds"] == {}
    written = http.put(url, json={"externalIds": {"peachtree": "INV-123"}})
    assert written.json()["data"]["externalIds"] == {"peachtree": "INV-123"}


def test_sandbox_comments_are_validated(sandbox, http):
    url = f"{sandbox.base_url}/api/comment"
    valid = {"entityType": INVOICE_ENTITY_TYPE, "entityId": sandbox.demo.pending_ids[0], "content": "hi"}
    assert "visibility is required" in errors(http.post(url, json=valid))[0]  # the default might be public
    assert http.post(url, json={**valid, "visibility": ["customer"]}).status_code == 400
    assert http.post(url, json={**valid, "visibility": [], "content": "x" * 5001}).status_code == 400
    assert http.post(url, json={**valid, "visibility": [], "entityId": 1}).status_code == 404
    created = http.post(url, json={**valid, "visibility": ["billing"]})
    assert created.status_code == 200 and created.json()["data"]["visibility"] == ["billing"]
    listed = http.get(url, params={"entityType": INVOICE_ENTITY_TYPE, "entityId": valid["entityId"]})
    assert [c["content"] for c in listed.json()["data"]["comments"]] == ["hi"]


def test_sandbox_sessions_expire_on_demand_over_http(sandbox, http):
    assert http.post(f"{sandbox.base_url}/_sandbox/expire-sessions").json() == {"expired": 1}
    assert http.get(f"{sandbox.base_url}{LISTING}").status_code == 401
