"""The FreshBooks target against the sandbox FreshBooks over real HTTP, with the embedded AWS for the token
secret (Secrets Manager) and the refresh lease (DynamoDB, resources from template.yaml)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, urlsplit

import boto3
import pytest
import requests
from aws_lambda_powertools.utilities import parameters

from invoice_relay.errors import (
    AuthenticationError,
    ConnectorError,
    MappingError,
    PermanentError,
    TransientError,
)
from invoice_relay.http import partner_session
from invoice_relay.models import Address, Customer, Document, Payment, Product
from invoice_relay.partners.capabilities import Delivered, DocumentSettled, NothingToDo
from invoice_relay.partners.context import PartnerContext
from invoice_relay.partners.freshbooks.callbacks import FreshBooksCallbacks
from invoice_relay.partners.freshbooks.config import FreshBooksTargetConfig
from invoice_relay.partners.freshbooks.oauth import SCOPES, connect_url
from invoice_relay.partners.freshbooks.oauth import connect as oauth_connect
from invoice_relay.partners.freshbooks.target import FreshBooksTarget
from invoice_relay.storage.objects import DocumentBucket
from invoice_relay.storage.state import Leases
from local.runtime.api_gateway import request_of
from local.runtime.embedded_aws import EmbeddedAWS
from local.runtime.template import REPO_ROOT, load_template
from local.sandboxes.freshbooks import SCOPE, SIGNATURE_HEADER, FreshBooksSandbox

ACCOUNTING = r"/accounting/account/\w+"
TOKEN_PATH = "/auth/oauth/token"


def fast_session(**options) -> requests.Session:
    """The production retry policy with tiny waits (Retry-After up to 2 s is still honoured)."""
    return partner_session(
        partner="freshbooks", backoff_factor=0.01, backoff_jitter=0, backoff_max=2, **options
    )


# -- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aws():
    with EmbeddedAWS() as embedded, pytest.MonkeyPatch.context() as env:
        embedded.create_resources(load_template())
        for name, value in embedded.env().items():
            env.setenv(name, value)
        parameters.clear_caches()  # Powertools' secrets provider must reach this embedded AWS
        yield embedded
        parameters.clear_caches()


@pytest.fixture(scope="module")
def server():
    with FreshBooksSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server):
    server.reset()
    server.set_rate_limit(None)
    server.set_app_scopes(SCOPE)
    server.events_in_background = False
    server.seed_demo_catalog()
    return server


@pytest.fixture(scope="module")
def leases(aws):
    dynamodb = boto3.session.Session().resource(
        "dynamodb", endpoint_url=aws.endpoint_url, region_name=aws.region
    )
    return Leases(dynamodb.Table(aws.physical["StateTable"]))


@dataclass
class Connector:
    connector_id: str
    config: FreshBooksTargetConfig


@pytest.fixture
def connector(sandbox, aws) -> Connector:
    connector_id = f"shop-fb-{uuid.uuid4().hex[:8]}"
    app_secret = f"invoice-relay/dev/{connector_id}/freshbooks-app"
    aws.create_secret(app_secret, sandbox.app_credentials())
    config = FreshBooksTargetConfig(
        system="freshbooks",
        api_url=sandbox.base_url,
        auth_url=sandbox.base_url,
        account_id=sandbox.account_id,
        oauth_app_secret=app_secret,
        token_secret=f"invoice-relay/dev/{connector_id}/freshbooks-tokens",
        due_offset_days=30,
    )
    return Connector(connector_id, config)


def connect(connector: Connector, aws: EmbeddedAWS, state: str = "csrf-7f3a"):
    """The authorization-code flow: the authorize page redirects like a user who clicked Allow."""
    answer = requests.get(connect_url(connector.config, state), allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == [state]
    return oauth_connect(
        connector.config,
        query["code"][0],
        secrets_client=aws.client("secretsmanager"),
        session=fast_session(),
    )


def make_target(connector: Connector, aws: EmbeddedAWS, leases: Leases, **options) -> FreshBooksTarget:
    options = {"session": fast_session(), "lease_wait_seconds": 5, "lease_poll_seconds": 0.05, **options}
    return FreshBooksTarget.from_config(
        connector.connector_id,
        connector.config,
        leases,
        secrets_client=aws.client("secretsmanager"),
        **options,
    )


@pytest.fixture
def target(connector, aws, leases) -> FreshBooksTarget:
    connect(connector, aws)
    return make_target(connector, aws, leases)


def stored_tokens(aws: EmbeddedAWS, connector: Connector) -> dict:
    secret = aws.client("secretsmanager").get_secret_value(SecretId=connector.config.token_secret)
    return json.loads(secret["SecretString"])


def expire_everywhere(sandbox: FreshBooksSandbox, aws: EmbeddedAWS, connector: Connector) -> dict:
    """The access token has expired at FreshBooks and by our own records (12 h have passed)."""
    sandbox.expire_access_tokens()
    tokens = {**stored_tokens(aws, connector), "expires_at": int(time.time()) - 60}
    aws.create_secret(connector.config.token_secret, tokens)
    return tokens


def statuses(sandbox: FreshBooksSandbox, method: str, path: str) -> list[int]:
    return [r["status"] for r in sandbox.find_requests(method, path)]


ADA = Customer(
    name="Ada Lovelace",
    first_name="Ada",
    last_name="Lovelace",
    email="ada@example.com",
    address=Address(line1="12 St James's Sq", city="London", postal_code="SW1Y 4JH", country="GB"),
)


def order(number: str = "1042", skus: tuple[str, ...] = ("TEE-BLK-M", "MUG-12OZ")) -> Document:
    lines = [
        {"position": n, "description": f"{sku} from the shop", "sku": sku, "quantity": n,
         "unit_price": "12.50", "tax_rate": "8.25"}
        for n, sku in enumerate(skus, start=1)
    ]  # fmt: skip
    return Document.model_validate(
        {
            "number": number,
            "issue_date": dt.date(2026, 3, 3),
            "currency": "USD",
            "buyer": {"name": "Ada Lovelace", "email": "ada@example.com"},
            "lines": lines,
        }
    )


def deliver(target: FreshBooksTarget, document: Document | None = None, **options) -> Delivered:
    document = document or order()
    options = {
        "customer": ADA,
        "marker": f"shop-order-{document.number}",
        "create_unknown_items": False,
        **options,
    }
    return target.deliver_invoice(document, **options)


# -- OAuth: connecting ------------------------------------------------------------------------------------


def test_authorization_code_exchange_stores_the_tokens_in_secrets_manager(sandbox, connector, aws, caplog):
    url = connect_url(connector.config, "csrf-7f3a")
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{sandbox.base_url}/oauth/authorize?")
    assert query == {
        "client_id": [sandbox.client_id],
        "response_type": ["code"],
        "redirect_uri": [sandbox.app_credentials()["redirect_uri"]],
        "state": ["csrf-7f3a"],
        "scope": [" ".join(SCOPES)],
    }
    with caplog.at_level(logging.DEBUG):
        tokens = connect(connector, aws)
    stored = stored_tokens(aws, connector)
    assert set(stored) == {"access_token", "refresh_token", "expires_at", "generation", "scope"}
    assert stored["access_token"] == tokens.access_token and sandbox.is_valid_access_token(
        stored["access_token"]
    )
    assert stored["generation"] == 1
    assert abs(stored["expires_at"] - (time.time() + 12 * 3600)) < 60
    # Our logs and the HTTP client's (botocore's own DEBUG wire log is out of scope: never DEBUG in Lambda).
    ours = "\n".join(
        r.getMessage()
        for r in caplog.records
        if r.name.startswith(("invoice-relay", "invoice_relay", "urllib3"))
    )
    assert "tokens stored in" in ours
    assert tokens.access_token not in ours and tokens.refresh_token not in ours
    assert tokens.access_token not in repr(tokens) and tokens.refresh_token not in repr(tokens)
    [grant] = sandbox.token_grants
    assert (grant["grant_type"], grant["status"]) == ("authorization_code", 200)

    again = connect(connector, aws)  # reconnecting overwrites (put_secret_value) and counts on
    assert stored_tokens(aws, connector)["generation"] == 2
    assert stored_tokens(aws, connector)["refresh_token"] == again.refresh_token


def test_an_authorization_code_works_once(sandbox, connector, aws):
    answer = requests.get(connect_url(connector.config, "s"), allow_redirects=False, timeout=5)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    secrets_client = aws.client("secretsmanager")
    oauth_connect(connector.config, code, secrets_client=secrets_client, session=fast_session())
    with pytest.raises(AuthenticationError, match=r"authorization code .* start again from the connect URL"):
        oauth_connect(connector.config, code, secrets_client=secrets_client, session=fast_session())


def test_a_connector_that_was_never_connected_says_so(connector, aws, leases):
    target = make_target(connector, aws, leases)
    with pytest.raises(AuthenticationError, match=r"FreshBooks is not connected .* connect URL"):
        target.invoice("1")


# -- OAuth: using and refreshing --------------------------------------------------------------------------


def test_calls_carry_the_bearer_token_and_the_api_version(sandbox, target):
    target.client.list_items()
    [listing] = sandbox.find_requests("GET", f"{ACCOUNTING}/items/items")
    assert listing["headers"]["Authorization"] == "[redacted]"  # sent, and never logged by the sandbox
    assert listing["headers"]["Api-Version"] == "alpha"
    assert sandbox.refresh_grants_used == 0


def test_an_expired_access_token_is_refreshed_once(sandbox, connector, aws, target):
    before = expire_everywhere(sandbox, aws, connector)
    assert len(target.client.list_items()) == 5
    assert len(target.client.list_items()) == 5
    assert sandbox.refresh_grants_used == 1
    after = stored_tokens(aws, connector)
    assert after["generation"] == before["generation"] + 1
    assert after["refresh_token"] != before["refresh_token"]
    assert after["access_token"] != before["access_token"] and sandbox.is_valid_access_token(
        after["access_token"]
    )
    assert statuses(sandbox, "GET", f"{ACCOUNTING}/items/items") == [200, 200]  # refreshed before calling


def test_a_401_mid_run_refreshes_once_and_retries_once(sandbox, connector, aws, target):
    target.client.list_items()
    sandbox.expire_access_tokens()  # FreshBooks drops the token while our records still call it valid
    assert len(target.client.list_items()) == 5
    assert statuses(sandbox, "GET", f"{ACCOUNTING}/items/items") == [200, 401, 200]
    assert sandbox.refresh_grants_used == 1
    assert stored_tokens(aws, connector)["generation"] == 2


def test_a_401_after_refreshing_is_an_authentication_error_not_a_loop(sandbox, target):
    sandbox.inject_fault(method="GET", path=f"{ACCOUNTING}/items/items", status=401, times=2)
    with pytest.raises(AuthenticationError, match=r"HTTP 401 on GET .*items.*reconnect FreshBooks"):
        target.client.list_items()
    assert sandbox.refresh_grants_used == 1
    assert statuses(sandbox, "GET", f"{ACCOUNTING}/items/items") == [401, 401]


def test_token_refresh_race_two_workers_one_refresh(sandbox, connector, aws, leases):
    """Two Lambdas (two token managers) both find the token expired at the same moment."""
    connect(connector, aws)
    before = expire_everywhere(sandbox, aws, connector)
    workers = [make_target(connector, aws, leases) for _ in range(2)]
    sandbox.inject_fault(method="POST", path=TOKEN_PATH, delay=0.5)  # a slow refresh widens the window
    start = threading.Barrier(len(workers))

    def work(target: FreshBooksTarget) -> int:
        start.wait()
        return len(target.client.list_items())

    with ThreadPoolExecutor(len(workers)) as pool:
        results = list(pool.map(work, workers))

    assert results == [5, 5]
    assert sandbox.refresh_grants_used == 1
    assert [g["grant_type"] for g in sandbox.token_grants] == ["authorization_code", "refresh_token"]
    after = stored_tokens(aws, connector)
    assert after["generation"] == before["generation"] + 1
    assert {w.client.auth.generation for w in workers} == {after["generation"]}
    assert statuses(sandbox, "GET", f"{ACCOUNTING}/items/items") == [200, 200]


def test_two_workers_rejected_with_the_same_token_share_one_refresh(sandbox, connector, aws, leases):
    connect(connector, aws)
    workers = [make_target(connector, aws, leases) for _ in range(3)]
    for worker in workers:
        worker.client.list_items()
    sandbox.expire_access_tokens()
    sandbox.inject_fault(method="POST", path=TOKEN_PATH, delay=0.3)
    start = threading.Barrier(len(workers))

    def work(target: FreshBooksTarget) -> int:
        start.wait()
        return len(target.client.list_items())

    with ThreadPoolExecutor(len(workers)) as pool:
        assert list(pool.map(work, workers)) == [5, 5, 5]
    assert sandbox.refresh_grants_used == 1
    assert [g["grant_type"] for g in sandbox.token_grants] == ["authorization_code", "refresh_token"]
    assert statuses(sandbox, "GET", f"{ACCOUNTING}/items/items").count(401) == 3  # each retried once


def test_a_refused_refresh_token_asks_the_operator_to_reconnect(sandbox, connector, aws, target):
    expired = expire_everywhere(sandbox, aws, connector)
    sandbox.revoke_refresh_tokens()  # the user disconnected the app in FreshBooks
    with pytest.raises(AuthenticationError) as caught:
        target.client.list_items()
    reason = caught.value.reason
    assert "invalid_grant" in reason and "reconnect FreshBooks" in reason and "connect URL" in reason
    assert expired["refresh_token"] not in reason and expired["access_token"] not in reason
    assert stored_tokens(aws, connector)["generation"] == expired["generation"]  # nothing stored


def test_app_credentials_rotated_since_they_were_cached_are_read_again_once(sandbox, connector, aws, leases):
    connect(connector, aws)
    target = make_target(connector, aws, leases)  # the app secret read (and cached) when tokens refresh
    expire_everywhere(sandbox, aws, connector)
    deliver(target)
    sandbox.client_secret = "rotated-" + uuid.uuid4().hex  # the operator rotates the app's secret...
    aws.create_secret(connector.config.oauth_app_secret, sandbox.app_credentials())  # ...and stores it
    expire_everywhere(sandbox, aws, connector)
    deliver(target, order("1043"))
    assert statuses(sandbox, "POST", TOKEN_PATH)[-2:] == [401, 200]  # cached secret refused, new one used
    assert len(sandbox.invoices()) == 2


def test_app_credentials_refused_after_reading_them_again_ask_to_check_them(sandbox, connector, aws, leases):
    connect(connector, aws)
    target = make_target(connector, aws, leases)
    sandbox.client_secret = "rotated-" + uuid.uuid4().hex  # rotated at FreshBooks, not stored here
    expire_everywhere(sandbox, aws, connector)
    with pytest.raises(AuthenticationError, match="invalid_client"):
        deliver(target)
    assert statuses(sandbox, "POST", TOKEN_PATH)[-1:] == [401]  # the same secret is not sent twice


def test_a_refresh_lease_held_too_long_is_transient(sandbox, connector, aws, leases):
    connect(connector, aws)
    expire_everywhere(sandbox, aws, connector)
    target = make_target(connector, aws, leases, lease_wait_seconds=0.3)
    hanging_worker = leases.hold(connector.connector_id, "freshbooks-oauth-refresh", 30)
    with hanging_worker, pytest.raises(TransientError, match="being refreshed by another worker"):
        target.client.list_items()
    assert sandbox.refresh_grants_used == 0
    assert len(target.client.list_items()) == 5  # the lease is free again: refresh and go on
    assert sandbox.refresh_grants_used == 1


def test_token_requests_are_form_encoded_with_the_redirect_uri_on_both_grants(
    sandbox, connector, aws, target
):
    expire_everywhere(sandbox, aws, connector)
    target.client.list_items()  # refreshes first
    exchange, refresh = sandbox.token_grants
    form = "application/x-www-form-urlencoded"  # as FreshBooks' Python SDK sends them
    assert (exchange["grant_type"], exchange["status"], exchange["content_type"]) == (
        "authorization_code",
        200,
        form,
    )
    assert exchange["fields"] == ["client_id", "client_secret", "code", "grant_type", "redirect_uri"]
    assert (refresh["grant_type"], refresh["status"], refresh["content_type"]) == ("refresh_token", 200, form)
    assert refresh["fields"] == ["client_id", "client_secret", "grant_type", "redirect_uri", "refresh_token"]


# -- OAuth: scopes ----------------------------------------------------------------------------------------


def test_the_connect_page_grants_our_scopes_and_a_refresh_keeps_them(sandbox, connector, aws, target):
    assert sorted(stored_tokens(aws, connector)["scope"].split()) == sorted(SCOPES)
    expire_everywhere(sandbox, aws, connector)
    target.client.list_items()
    refreshed = stored_tokens(aws, connector)
    assert refreshed["generation"] == 2 and sorted(refreshed["scope"].split()) == sorted(SCOPES)
    assert sorted(sandbox.token_scopes(refreshed["access_token"])) == sorted(SCOPES)


def test_a_missing_scope_is_a_connector_error_naming_insufficient_scope(sandbox, connector, aws, leases):
    """The app was set up without `user:payments:write`: reading payments works, recording one does not,
    and that is the connector's problem (reconnect with the scope), never the document's."""
    sandbox.set_app_scopes([s for s in SCOPES if s != "user:payments:write"])
    connect(connector, aws)
    target = make_target(connector, aws, leases)
    invoice_id = deliver(target).target_id
    payment = Payment(amount="40.59", currency="USD", date=dt.date(2026, 3, 4), transaction_id="PAY-9")
    with pytest.raises(AuthenticationError) as caught:
        target.record_payment(invoice_id, payment)
    error = caught.value
    assert isinstance(error, ConnectorError) and not isinstance(error, PermanentError)
    assert error.status == 403
    assert error.reason == (
        f"freshbooks refused POST /accounting/account/{sandbox.account_id}/payments/payments (HTTP 403, "
        "insufficient_scope): the connection lacks the scope user:payments:write; add it to the FreshBooks "
        "app, then reconnect FreshBooks for this connector via its connect URL"
    )
    assert statuses(sandbox, "GET", f"{ACCOUNTING}/payments/payments") == [200]  # read is granted
    assert statuses(sandbox, "POST", f"{ACCOUNTING}/payments/payments") == [403]  # not retried
    assert sandbox.payments() == [] and sandbox.refresh_grants_used == 0

    expire_everywhere(sandbox, aws, connector)  # a refreshed token gains no scope either
    with pytest.raises(AuthenticationError, match=r"insufficient_scope"):
        target.record_payment(invoice_id, payment)
    assert sandbox.refresh_grants_used == 1


def test_sandbox_scopes_guard_each_resource(sandbox):
    app = sandbox.app_credentials()
    code = sandbox.authorize(app["redirect_uri"], scope="user:profile:read user:clients:read")
    tokens = requests.post(
        f"{sandbox.base_url}{TOKEN_PATH}",
        data={**app, "grant_type": "authorization_code", "code": code},
        timeout=5,
    ).json()
    assert tokens["scope"] == "user:profile:read user:clients:read"
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {tokens['access_token']}"
    account = f"{sandbox.base_url}/accounting/account/{sandbox.account_id}"
    assert http.get(f"{account}/users/clients", timeout=5).status_code == 200
    refused = http.post(f"{account}/users/clients", json={"client": {"email": "a@b.example"}}, timeout=5)
    assert refused.status_code == 403
    assert refused.json() == {
        "message": "insufficient_scope: The request requires higher privileges than provided by the access "
        "token. Provided: ['user:profile:read user:clients:read']. Required: ['user:clients:write']."
    }
    required = {
        "items/items": "user:billable_items:read",
        "invoices/invoices": "user:invoices:read",
        "payments/payments/700001": "user:payments:read",
    }
    for path, scope in required.items():
        answer = http.get(f"{account}/{path}", timeout=5)
        assert answer.status_code == 403 and f"Required: ['{scope}']" in answer.json()["message"]
    callback = http.post(
        f"{sandbox.base_url}/events/account/{sandbox.account_id}/events/callbacks",
        json={"callback": {"event": "payment.create", "uri": "https://relay.example/hook"}},
        timeout=5,
    )  # a callback needs the scope of its events
    assert callback.status_code == 403 and "Required: ['user:payments:read']" in callback.json()["message"]
    assert sandbox.clients() == [] and sandbox.callbacks() == []


# -- clients ----------------------------------------------------------------------------------------------


def test_client_found_by_email(sandbox, target):
    existing = sandbox.add_client(fname="Ada", email="Ada@Example.com")
    assert target.ensure_client(ADA) == str(existing["id"])
    assert sandbox.find_requests("POST", f"{ACCOUNTING}/users/clients") == []
    [search] = sandbox.find_requests("GET", f"{ACCOUNTING}/users/clients")
    assert search["query"]["search[email]"] == "ada@example.com"


def test_client_created_when_missing(sandbox, target):
    client_id = target.ensure_client(ADA)
    [client] = sandbox.clients()
    assert str(client["id"]) == client_id
    assert (client["fname"], client["lname"], client["email"]) == ("Ada", "Lovelace", "ada@example.com")
    assert (client["p_street"], client["p_city"], client["p_code"], client["p_country"]) == (
        "12 St James's Sq",
        "London",
        "SW1Y 4JH",
        "GB",
    )
    assert target.ensure_client(ADA) == client_id  # the second time it is found
    assert len(sandbox.clients()) == 1


def test_duplicate_email_race_ends_with_the_existing_client(sandbox, target):
    """Another worker creates the client between our search and our create."""
    winner = sandbox.add_client(fname="Ada", email="ada@example.com")
    empty = {"response": {"result": {"clients": [], "page": 1, "pages": 0, "per_page": 100, "total": 0}}}
    sandbox.inject_fault(method="GET", path=f"{ACCOUNTING}/users/clients", status=200, body=empty)
    assert target.ensure_client(ADA) == str(winner["id"])
    assert statuses(sandbox, "POST", f"{ACCOUNTING}/users/clients") == [422]
    assert len(sandbox.clients()) == 1


def test_a_client_refused_for_another_reason_is_permanent(sandbox, target):
    with pytest.raises(PermanentError, match="Invalid email address"):
        target.ensure_client(Customer(name="Bad", email="not-an-email"))


def test_update_client(sandbox, target):
    client_id = target.ensure_client(ADA)
    moved = ADA.model_copy(
        update={"last_name": "King", "address": Address(line1="1 Ockham Park", city="Ockham")}
    )
    target.update_client(client_id, moved)
    [client] = sandbox.clients()
    assert (client["lname"], client["p_street"], client["p_city"], client["p_code"]) == (
        "King",
        "1 Ockham Park",
        "Ockham",
        "",
    )


def test_customer_without_email_cannot_be_delivered(target):
    with pytest.raises(MappingError, match="has no email"):
        target.ensure_client(Customer(name="Walk-in"))


# -- invoices ---------------------------------------------------------------------------------------------


def test_deliver_invoice(sandbox, target):
    delivered = deliver(target)
    invoice_id, number = delivered.target_id, delivered.number
    [invoice] = sandbox.invoices()
    assert (str(invoice["id"]), invoice["invoice_number"]) == (invoice_id, number) == (invoice_id, "0000001")
    assert delivered.notes == ()  # FreshBooks' total is the source's
    assert invoice["customerid"] == sandbox.clients()[0]["id"]
    assert (invoice["create_date"], invoice["due_date"]) == ("2026-03-03", "2026-04-02")  # + 30 days
    assert invoice["po_number"] == "shop-order-1042"
    assert [
        (ln["name"], ln["qty"], ln["unit_cost"], ln["taxName1"], ln["taxAmount1"]) for ln in invoice["lines"]
    ] == [
        ("Organic tee, black, M", "1", {"amount": "12.50", "code": "USD"}, "Tax", "8.25"),
        ("Ceramic mug 12 oz", "2", {"amount": "12.50", "code": "USD"}, "Tax", "8.25"),
    ]
    assert Decimal(invoice["amount"]["amount"]) == order().totals.total == Decimal("40.59")
    fetched = target.invoice(invoice_id)
    assert fetched["invoice_number"] == number and len(fetched["lines"]) == 2


def per_line_rounded_document() -> Document:
    """The source rounded tax per line (2 × 1.01 = 2.02); FreshBooks rounds it on the sum (2.03)."""
    lines = [
        {"position": n, "sku": sku, "quantity": 1, "unit_price": "12.30", "tax_rate": "8.25"}
        for n, sku in enumerate(("TEE-BLK-M", "MUG-12OZ"), start=1)
    ]
    document = Document.model_validate(
        {
            "number": "1050",
            "issue_date": dt.date(2026, 3, 3),
            "currency": "USD",
            "buyer": {"name": "Ada Lovelace", "email": "ada@example.com"},
            "lines": lines,
            "taxes": [{"rate": "8.25", "taxable_amount": "24.60", "amount": "2.02"}],
        }
    )
    assert document.totals.total == Decimal("26.62")
    return document


def test_a_rounding_difference_is_evened_out_with_an_adjustment_line_and_noted(sandbox, target):
    delivered = deliver(target, per_line_rounded_document())
    [invoice] = sandbox.invoices()
    assert invoice["amount"]["amount"] == "26.62"  # the source's total, to the cent
    adjustment = invoice["lines"][-1]
    assert (adjustment["name"], adjustment["unit_cost"]["amount"], adjustment["taxAmount1"]) == (
        "Rounding adjustment",
        "-0.01",
        "0",
    )
    assert delivered.notes == (
        "FreshBooks invoice 0000001: a rounding adjustment of -0.01 USD makes its total equal the source's "
        "26.62 (FreshBooks rounds tax per invoice)",
    )
    assert deliver(target, per_line_rounded_document()).notes == ()  # found again: nothing new to say


def test_without_adjustments_a_total_that_differs_from_the_source_is_a_note(sandbox, connector, aws, leases):
    connect(connector, aws)
    connector.config = connector.config.model_copy(update={"rounding_adjustment_limit": Decimal(0)})
    delivered = deliver(make_target(connector, aws, leases), per_line_rounded_document())
    [invoice] = sandbox.invoices()
    assert invoice["amount"]["amount"] == "26.63"
    assert delivered.notes == (
        "FreshBooks invoice 0000001 totals 26.63 USD but the source document 1050 totals 26.62",
    )


def test_unknown_sku_fails_naming_it_and_creates_nothing(sandbox, target):
    with pytest.raises(PermanentError) as caught:
        deliver(target, order(skus=("TEE-BLK-M", "HOODIE-XL")))
    assert caught.value.reason == "unknown SKU 'HOODIE-XL' on line 2: no FreshBooks item has this SKU"
    assert not isinstance(caught.value, TransientError)
    assert sandbox.invoices() == [] and sandbox.clients() == []


def test_create_unknown_items_creates_the_item(sandbox, target):
    invoice_id = deliver(target, order(skus=("HOODIE-XL",)), create_unknown_items=True).target_id
    [item] = [i for i in sandbox.items() if i["sku"] == "HOODIE-XL"]
    assert (item["name"], item["unit_cost"]) == (
        "HOODIE-XL from the shop",
        {"amount": "12.50", "code": "USD"},
    )
    assert sandbox.invoice(int(invoice_id))["lines"][0]["name"] == "HOODIE-XL from the shop"


def test_server_errors_then_success(sandbox, target):
    sandbox.inject_fault(method="GET", path=f"{ACCOUNTING}/items/items", status=502, times=2)
    sandbox.inject_fault(method="POST", path=f"{ACCOUNTING}/invoices/invoices", status=503)
    # A 503 after a POST is not resent at once (the invoice may exist): the delivery is retried, and
    # the retry looks the invoice up before creating it.
    with pytest.raises(TransientError):
        deliver(target)
    deliver(target)
    assert statuses(sandbox, "GET", f"{ACCOUNTING}/items/items")[:3] == [502, 502, 200]
    assert statuses(sandbox, "POST", f"{ACCOUNTING}/invoices/invoices") == [503, 200]
    assert len(sandbox.invoices()) == 1


def test_a_503_after_freshbooks_created_the_invoice_does_not_create_it_twice(sandbox, target):
    sandbox.inject_fault(method="POST", path=f"{ACCOUNTING}/invoices/invoices", status=503, after=True)
    with pytest.raises(TransientError):
        deliver(target)
    deliver(target)
    assert len(sandbox.find_requests("POST", f"{ACCOUNTING}/invoices/invoices")) == 1  # found, not re-sent
    assert len(sandbox.invoices()) == 1


def test_rate_limited_with_retry_after_then_success(sandbox, target):
    sandbox.inject_fault(method="GET", path=f"{ACCOUNTING}/users/clients", status=429, retry_after=1)
    started = time.monotonic()
    assert target.ensure_client(ADA)
    assert time.monotonic() - started >= 0.9  # Retry-After honoured
    assert statuses(sandbox, "GET", f"{ACCOUNTING}/users/clients")[:2] == [429, 200]


def test_a_lasting_outage_is_transient(sandbox, connector, aws, leases):
    connect(connector, aws)
    target = make_target(connector, aws, leases, session=partner_session(partner="freshbooks", retries=1))
    sandbox.inject_fault(method="GET", path=f"{ACCOUNTING}/users/clients", status=503, times=10)
    with pytest.raises(TransientError, match="freshbooks is unavailable"):
        deliver(target)


def test_an_invoice_number_collision_is_created_again(sandbox, target):
    sandbox.inject_fault(method="POST", path=f"{ACCOUNTING}/invoices/invoices", status=409)
    deliver(target)
    assert statuses(sandbox, "POST", f"{ACCOUNTING}/invoices/invoices") == [409, 200]
    assert len(sandbox.invoices()) == 1


def test_delivering_again_returns_the_same_invoice(sandbox, connector, aws, leases, target):
    """A run that crashed after creating the invoice, before recording it: a new container retries."""
    first = deliver(target)
    retry = make_target(connector, aws, leases)  # a fresh Lambda container
    assert deliver(retry) == first
    assert len(sandbox.invoices()) == 1
    assert len(sandbox.find_requests("POST", f"{ACCOUNTING}/invoices/invoices")) == 1
    [*_, lookup] = sandbox.find_requests("GET", f"{ACCOUNTING}/invoices/invoices")
    assert lookup["query"]["search[customerid]"] == str(sandbox.clients()[0]["id"])
    assert (lookup["query"]["search[date_min]"], lookup["query"]["search[date_max]"]) == (
        "2026-03-02",
        "2026-03-04",
    )


def test_invoice_created_but_the_answer_lost_is_not_created_twice(sandbox, connector, aws, leases):
    """FreshBooks creates the invoice but we time out waiting for its answer (a POST is not retried)."""
    connect(connector, aws)
    impatient = make_target(connector, aws, leases, session=fast_session(timeout=(3.05, 0.3)))
    sandbox.inject_fault(method="POST", path=f"{ACCOUNTING}/invoices/invoices", delay=0.8)
    with pytest.raises(TransientError, match="did not answer in time"):
        deliver(impatient)
    deadline = time.monotonic() + 5
    while not sandbox.invoices() and time.monotonic() < deadline:
        time.sleep(0.05)
    [created] = sandbox.invoices()
    assert deliver(make_target(connector, aws, leases)) == Delivered(
        str(created["id"]), created["invoice_number"]
    )
    assert len(sandbox.invoices()) == 1


def test_another_order_gets_its_own_invoice(sandbox, target):
    first = deliver(target, order("1042"))
    second = deliver(target, order("1043"))
    assert first != second and len(sandbox.invoices()) == 2


# -- payments ---------------------------------------------------------------------------------------------


def test_payment_is_recorded_once_per_transaction(sandbox, target):
    invoice_id = deliver(target).target_id
    payment = Payment(
        amount="40.59", currency="USD", date=dt.date(2026, 3, 4), method="paypal", transaction_id="PAY-9"
    )
    recorded_payment = target.record_payment(invoice_id, payment)
    assert target.record_payment(invoice_id, payment) == recorded_payment  # a redelivered payment.captured
    [recorded] = sandbox.payments(int(invoice_id))
    assert (str(recorded["id"]), recorded["type"], recorded["note"]) == (
        recorded_payment.target_id,
        "PayPal",
        "Transaction PAY-9",
    )
    assert recorded["amount"] == {"amount": "40.59", "code": "USD"} and recorded["date"] == "2026-03-04"
    invoice = sandbox.invoice(int(invoice_id))
    assert (invoice["v3_status"], invoice["payment_status"], invoice["status"]) == ("paid", "paid", 4)
    assert (invoice["paid"], invoice["outstanding"], invoice["date_paid"]) == (
        {"amount": "40.59", "code": "USD"},
        {"amount": "0.00", "code": "USD"},
        "2026-03-04",
    )
    assert len(sandbox.find_requests("POST", f"{ACCOUNTING}/payments/payments")) == 1


def test_partial_payments_with_different_transactions(sandbox, target):
    invoice_id = deliver(target).target_id
    seen = []
    for n, amount in enumerate(("20.00", "20.59"), start=1):
        payment = Payment(amount=amount, currency="USD", date=dt.date(2026, 3, 4), transaction_id=f"tx-{n}")
        target.record_payment(invoice_id, payment)
        invoice = target.invoice(invoice_id)  # as FreshBooks serves it
        seen.append((invoice["outstanding"]["amount"], invoice["paid"]["amount"], invoice["payment_status"]))
    assert [p["note"] for p in sandbox.payments(int(invoice_id))] == ["Transaction tx-1", "Transaction tx-2"]
    assert seen == [("20.59", "20.00", "partial"), ("0.00", "40.59", "paid")]


def test_payment_on_an_unknown_invoice_is_permanent(target):
    payment = Payment(amount=1, currency="USD", date=dt.date(2026, 3, 4), transaction_id="tx")
    with pytest.raises(PermanentError, match="Invoice not found"):
        target.record_payment("999999", payment)


# -- catalog ----------------------------------------------------------------------------------------------


def test_sync_product_created_updated_unchanged(sandbox, target):
    hoodie = Product(sku="HOODIE-XL", name="Hoodie XL", unit_price="49", currency="USD")
    item_id, outcome = target.sync_product(hoodie)
    assert outcome == "created"
    assert target.sync_product(hoodie) == (item_id, "unchanged")
    assert target.sync_product(hoodie.model_copy(update={"unit_price": Decimal("45.00")})) == (
        item_id,
        "updated",
    )
    [item] = [i for i in sandbox.items() if i["sku"] == "HOODIE-XL"]
    assert (str(item["id"]), item["unit_cost"]["amount"]) == (item_id, "45.00")
    mug = Product(sku="MUG-12OZ", name="Ceramic mug 12 oz", unit_price="14.50", currency="USD")
    assert target.sync_product(mug)[1] == "unchanged"  # seeded with the same values


def test_an_order_of_a_new_customer_searches_the_client_once(sandbox, target):
    deliver(target)
    assert len(sandbox.find_requests("GET", f"{ACCOUNTING}/users/clients")) == 1
    assert len(sandbox.find_requests("POST", f"{ACCOUNTING}/users/clients")) == 1
    deliver(target, order("1043"))  # the client exists now: found, then the marker check, then the create
    assert len(sandbox.find_requests("GET", f"{ACCOUNTING}/users/clients")) == 2
    assert len(sandbox.clients()) == 1 and len(sandbox.invoices()) == 2


def test_a_new_customer_created_concurrently_is_used_not_duplicated(sandbox, target):
    """Another worker creates the client between our search and our create: the refused create finds it."""
    winner = sandbox.add_client(fname="Ada", email="ada@example.com")
    empty = {"response": {"result": {"clients": [], "page": 1, "pages": 0, "per_page": 100, "total": 0}}}
    sandbox.inject_fault(method="GET", path=f"{ACCOUNTING}/users/clients", status=200, body=empty)
    deliver(target)
    [invoice] = sandbox.invoices()
    assert invoice["customerid"] == winner["id"] and len(sandbox.clients()) == 1


def test_known_items_spare_the_item_searches_of_the_next_orders(sandbox, target):
    deliver(target, order("1042", ("TEE-BLK-M", "MUG-12OZ")))
    deliver(target, order("1043", ("MUG-12OZ", "TEE-BLK-M")))
    deliver(target, order("1044", ("MUG-12OZ", "CAP-NAVY")))
    searched = [r["query"]["search[sku]"] for r in sandbox.find_requests("GET", f"{ACCOUNTING}/items/items")]
    assert searched == ["TEE-BLK-M", "MUG-12OZ", "CAP-NAVY"]
    assert [ln["name"] for ln in sandbox.invoices()[1]["lines"]] == [
        "Ceramic mug 12 oz",
        "Organic tee, black, M",
    ]


def test_an_unknown_sku_is_searched_again_every_time(sandbox, target):
    """Only found items are remembered: an item created meanwhile (by the catalog sync) is found."""
    for number in ("1042", "1043"):
        with pytest.raises(PermanentError, match="unknown SKU 'HOODIE-XL'"):
            deliver(target, order(number, ("HOODIE-XL",)))
    target.sync_product(Product(sku="HOODIE-XL", name="Hoodie XL", unit_price="49", currency="USD"))
    deliver(target, order("1044", ("HOODIE-XL",)))
    assert sandbox.invoices()[0]["lines"][0]["name"] == "Hoodie XL"


def test_syncing_a_product_forgets_the_known_item(sandbox, target):
    deliver(target, order("1042", ("MUG-12OZ",)))
    mug = Product(sku="MUG-12OZ", name="Stoneware mug 12 oz", unit_price="14.50", currency="USD")
    assert target.sync_product(mug)[1] == "updated"
    deliver(target, order("1043", ("MUG-12OZ",)))
    assert [i["lines"][0]["name"] for i in sandbox.invoices()] == ["Ceramic mug 12 oz", "Stoneware mug 12 oz"]
    target.forget_items()
    assert target.known_items == {}


def test_list_items_follows_every_page_and_filters_by_day(sandbox, target):
    for n in range(95):
        sandbox.add_item(f"BULK-{n:03d}", f"Bulk item {n}", "1.00")
    target.client.per_page = 40
    assert len(target.client.list_items()) == 100
    pages = [r["query"]["page"] for r in sandbox.find_requests("GET", f"{ACCOUNTING}/items/items")]
    assert pages == ["1", "2", "3"]
    assert len(target.client.list_items(updated_since=dt.datetime.now(dt.UTC))) == 100
    assert target.client.list_items(updated_since=dt.date.today() + dt.timedelta(days=2)) == []


# -- webhook callbacks ------------------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict]

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.server.received.append({"headers": dict(self.headers), "form": parse_qsl(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_callbacks_are_verified_and_events_signed(sandbox, target, receiver):
    uri = f"http://127.0.0.1:{receiver.server_port}/webhooks/shop-fb"
    callback = target.client.create_callback("invoice.create", uri)
    assert (callback["event"], callback["uri"], callback["verified"]) == ("invoice.create", uri, False)
    [verification] = receiver.received
    form = dict(verification["form"])
    assert form["name"] == "callback.verify" and form["object_id"] == str(callback["callbackid"])

    with pytest.raises(PermanentError, match="verifier does not match"):
        target.client.verify_callback(str(callback["callbackid"]), "wrong")
    verified = target.client.verify_callback(str(callback["callbackid"]), form["verifier"])
    assert verified["verified"] is True
    assert [c["verified"] for c in target.client.list_callbacks()] == [True]

    [delivery] = sandbox.send_event("invoice.create", 300001)
    assert delivery["status"] == 200
    event = receiver.received[-1]
    fields = dict(event["form"])
    assert fields["name"] == "invoice.create" and fields["object_id"] == "300001"
    # FreshBooks' documented check: base64(HMAC-SHA256(verifier, json.dumps(form))).
    assert event["headers"][SIGNATURE_HEADER] == sandbox.signature(form["verifier"], fields)
    expected = base64.b64encode(
        hmac.new(form["verifier"].encode(), json.dumps(fields).encode(), hashlib.sha256).digest()
    ).decode()
    assert event["headers"][SIGNATURE_HEADER] == expected
    assert sandbox.send_event("client.update", 101) == []  # not subscribed


@pytest.mark.parametrize(
    "event", ["invoice.paid", "Invoice Created!", "invoices.create", "invoice.sendbyemail"]
)
def test_callback_with_an_unknown_event_name_is_refused(sandbox, target, receiver, event):
    with pytest.raises(PermanentError, match="Unrecognized event") as caught:
        target.client.create_callback(event, f"http://127.0.0.1:{receiver.server_port}/")
    assert caught.value.status == 400
    assert sandbox.callbacks() == [] and receiver.received == []


def test_sandbox_refuses_an_unknown_event_as_freshbooks_does(sandbox, target):
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {target.client.auth.access_token()}"
    callbacks = f"{sandbox.base_url}/events/account/{sandbox.account_id}/events/callbacks"
    answer = http.post(
        callbacks,
        json={"callback": {"event": "invoice.paid", "uri": "https://relay.example/hook"}},
        timeout=5,
    )
    # The Python SDK's fixture create_callback_response__validation_error.json, mocked with status 400.
    assert answer.status_code == 400
    assert answer.json() == {
        "errno": 422,
        "message": "The request was well-formed but was unable to be followed due to semantic errors.",
        "details": ["event: Value error, Unrecognized event."],
    }
    missing = http.get(f"{callbacks}/9999", timeout=5)
    assert (missing.status_code, missing.json()) == (
        404,
        {"errno": 404, "message": "Requested resource could not be found."},
    )
    with pytest.raises(ValueError, match=r"no event 'invoice\.paid'"):
        sandbox.add_callback("invoice.paid", "https://relay.example/hook")
    with pytest.raises(ValueError, match=r"no event 'invoice\.paid'"):
        sandbox.send_event("invoice.paid", 300001)


@pytest.mark.parametrize("event", ["payment", "payment.create", "invoice.sendByEmail", "time_entry.delete"])
def test_freshbooks_event_names_are_accepted(sandbox, connector, aws, leases, receiver, event):
    code = sandbox.authorize(  # an app that also asked for time entries (time_entry events need it)
        sandbox.app_credentials()["redirect_uri"], scope=[*SCOPES, "user:time_entries:read"]
    )
    oauth_connect(connector.config, code, secrets_client=aws.client("secretsmanager"), session=fast_session())
    target = make_target(connector, aws, leases)
    callback = target.client.create_callback(event, f"http://127.0.0.1:{receiver.server_port}/")
    assert callback["event"] == event and callback["verified"] is False
    assert [dict(r["form"])["name"] for r in receiver.received] == ["callback.verify"]


@pytest.mark.parametrize("background", [False, True], ids=["before-answering", "in-background"])
def test_a_payment_sends_payment_create_to_its_subscribers(sandbox, target, receiver, background):
    sandbox.events_in_background = background
    uri = f"http://127.0.0.1:{receiver.server_port}/webhooks/shop-fb"
    subscribed = [
        sandbox.seed_demo_callback(uri=uri, verified=True),  # payment.create, demo verifier
        sandbox.add_callback("payment", uri, verifier="verifier-two", verified=True),  # all payment events
    ]
    sandbox.add_callback("invoice.create", uri, verifier="verifier-three", verified=True)
    sandbox.add_callback("payment.create", uri, verifier="verifier-four")  # never verified
    invoice_id = deliver(target).target_id
    assert sandbox.wait_for_events() == [] and receiver.received == []  # an invoice sends no payment event
    payment = Payment(amount="10.00", currency="USD", date=dt.date(2026, 3, 4), transaction_id="tx-1")
    payment_id = target.record_payment(invoice_id, payment).target_id
    if not background:
        assert len(receiver.received) == 2  # delivered before the payment was answered

    deliveries = sandbox.wait_for_events()
    assert sorted((d["callback_id"], d["status"], d["signed"]) for d in deliveries) == [
        (subscribed[0]["callbackid"], 200, True),
        (subscribed[1]["callbackid"], 200, True),
    ]
    signatures = set()
    for event in receiver.received:
        fields = dict(event["form"])
        assert fields == {
            "name": "payment.create",
            "object_id": payment_id,
            "account_id": sandbox.account_id,
            "business_id": "77001",
            "identity_id": "9001",
            "user_id": "1",
        }
        signatures.add(event["headers"][SIGNATURE_HEADER])
    verifiers = ("demo-freshbooks-verifier-2001", "verifier-two")
    assert signatures == {sandbox.signature(v, fields) for v in verifiers}


class _CallbackEndpoint(BaseHTTPRequestHandler):
    """Our webhook endpoint in miniature: FreshBooksCallbacks answers the handshake, verifies and decodes."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        callbacks: FreshBooksCallbacks = self.server.callbacks
        answer = callbacks.handshake(headers, body)
        if answer is None:
            delivery = callbacks.verify(headers, body, dt.datetime.now(dt.UTC))
            received_at = dt.datetime(2026, 3, 4, 12, 0, tzinfo=dt.UTC)
            self.server.work.append(callbacks.decode(delivery.event_type, delivery.payload, received_at))
        self.send_response(200 if answer is None else answer.status_code)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def callbacks_connector(connector, sandbox, aws) -> Connector:
    verifiers = f"invoice-relay/dev/{connector.connector_id}/freshbooks-callbacks"
    config = connector.config.model_copy(update={"callback_verifier_secret": verifiers})
    return Connector(connector.connector_id, config)


def open_callbacks(connector: Connector, aws: EmbeddedAWS, leases: Leases) -> FreshBooksCallbacks:
    """The WEBHOOK_SOURCE of the connector, in its own container (its own target and session)."""
    context = PartnerContext(
        connector_id=connector.connector_id,
        leases=leases,
        bucket=DocumentBucket(aws.physical["DocumentBucket"], client=aws.client("s3")),
        secrets_client=aws.client("secretsmanager"),
    )
    return FreshBooksCallbacks(connector.config, context, target=make_target(connector, aws, leases))


def test_payment_create_settles_the_invoice_once_nothing_is_outstanding(
    callbacks_connector, aws, leases, sandbox
):
    """The whole loop: register a callback, FreshBooks' handshake is confirmed, then each payment sends
    payment.create, which decodes to "settled" only when the invoice is fully paid."""
    sandbox.events_in_background = True  # as FreshBooks sends them: after answering the payment
    connector = callbacks_connector
    connect(connector, aws)
    target = make_target(connector, aws, leases)
    endpoint = ThreadingHTTPServer(("127.0.0.1", 0), _CallbackEndpoint)
    endpoint.callbacks, endpoint.work = open_callbacks(connector, aws, leases), []
    thread = threading.Thread(target=endpoint.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        callback = target.client.create_callback(
            "payment.create", f"http://127.0.0.1:{endpoint.server_port}/"
        )
        [registered] = sandbox.callbacks()
        assert registered["verified"] is True  # our endpoint confirmed it during the handshake
        stored = json.loads(
            aws.client("secretsmanager").get_secret_value(SecretId=connector.config.callback_verifier_secret)[
                "SecretString"
            ]
        )
        assert stored == {"verifiers": {str(callback["callbackid"]): registered["verifier"]}, "pending": {}}

        invoice_id = deliver(target).target_id  # 40.59
        payments = []
        for n, amount in enumerate(("20.00", "20.59"), start=1):
            payment = Payment(
                amount=amount, currency="USD", date=dt.date(2026, 3, 4), transaction_id=f"tx-{n}"
            )
            payments.append(target.record_payment(invoice_id, payment).target_id)
            sandbox.wait_for_events()
    finally:
        endpoint.shutdown()
        endpoint.server_close()
        endpoint.callbacks.close()

    part, full = endpoint.work
    assert part == NothingToDo(
        f"FreshBooks invoice 0000001 still has 20.59 outstanding after payment {payments[0]}"
    )
    assert full == DocumentSettled(
        target_document_id=invoice_id,
        paid_at=dt.datetime(2026, 3, 4, 12, 0, tzinfo=dt.UTC),
        reference=f"freshbooks-payment-{payments[1]}",
    )
    assert [d["status"] for d in sandbox.deliveries] == [200, 200, 200]  # handshake, two events


def test_decode_reads_the_payment_and_its_invoice(callbacks_connector, aws, leases, sandbox):
    connector = callbacks_connector
    connect(connector, aws)
    callbacks = open_callbacks(connector, aws, leases)
    target = callbacks.target
    invoice_id = deliver(target).target_id
    now = dt.datetime(2026, 3, 4, 12, 0, tzinfo=dt.UTC)
    part = target.record_payment(
        invoice_id, Payment(amount="40.00", currency="USD", date=dt.date(2026, 3, 4), transaction_id="tx-1")
    )
    assert callbacks.decode("payment.create", {"object_id": part.target_id}, now) == NothingToDo(
        f"FreshBooks invoice 0000001 still has 0.59 outstanding after payment {part.target_id}"
    )
    rest = target.record_payment(
        invoice_id, Payment(amount="0.59", currency="USD", date=dt.date(2026, 3, 5), transaction_id="tx-2")
    )
    settled = callbacks.decode("payment.create", {"object_id": rest.target_id}, now)
    assert settled == DocumentSettled(invoice_id, now, f"freshbooks-payment-{rest.target_id}")
    assert callbacks.decode("invoice.update", {"object_id": invoice_id}, now) == NothingToDo(
        "FreshBooks invoice.update needs nothing delivered"
    )
    with pytest.raises(PermanentError, match="Payment not found"):
        callbacks.decode("payment.create", {"object_id": "1"}, now)
    callbacks.close()


def test_the_sample_handshake_confirms_the_seeded_demo_callback(callbacks_connector, aws, leases, sandbox):
    """`events/webhook_freshbooks_callback_verify.json` (callback 2001) against a sandbox seeded for it."""
    connector = callbacks_connector
    connect(connector, aws)
    seeded = sandbox.seed_demo_callback()
    assert (seeded["callbackid"], seeded["event"], seeded["verified"]) == (2001, "payment.create", False)
    assert sandbox.deliveries == []  # the sample plays FreshBooks' verification request
    sample = json.loads((REPO_ROOT / "events" / "webhook_freshbooks_callback_verify.json").read_text())
    request = request_of(sample)  # an HTTP API event: the form body is base64 in it
    headers = {k.lower(): v for k, v in request.headers.items()}
    callbacks = open_callbacks(connector, aws, leases)
    answer = callbacks.handshake(headers, request.body)
    callbacks.close()
    assert (answer.status_code, answer.body) == (200, {"status": "verified", "callback_id": "2001"})
    [confirmed] = sandbox.callbacks()
    assert confirmed["verified"] is True and confirmed["verifier"] == "demo-freshbooks-verifier-2001"
    [put] = sandbox.find_requests("PUT", r"/events/account/\w+/events/callbacks/2001")
    assert put["status"] == 200
    assert callbacks.verifiers.confirmed() == ["demo-freshbooks-verifier-2001"]
    # The next callback FreshBooks registers gets a new id.
    assert sandbox.add_callback("invoice.create", "https://relay.example/hook")["callbackid"] == 2002


# -- the sandbox keeps to the documented API -------------------------------------------------------------


def test_sandbox_requires_a_bearer_token(sandbox):
    answer = requests.get(
        f"{sandbox.base_url}/accounting/account/{sandbox.account_id}/items/items", timeout=5
    )
    assert answer.status_code == 401
    assert answer.json() == {
        "errno": 401,
        "message": "invalid_token: The request token failed to authenticate or validate.",
        "details": [],
    }


def test_sandbox_refresh_tokens_are_single_use(sandbox):
    app = sandbox.app_credentials()
    code = sandbox.authorize(app["redirect_uri"])
    token_url = f"{sandbox.base_url}{TOKEN_PATH}"
    grant = {
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "redirect_uri": app["redirect_uri"],
    }
    first = requests.post(
        token_url, json={**grant, "grant_type": "authorization_code", "code": code}, timeout=5
    )  # JSON, as FreshBooks' Node SDK sends it
    assert first.status_code == 200 and first.json()["expires_in"] == 12 * 3600
    refresh = {**grant, "grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]}
    without_redirect = {k: v for k, v in refresh.items() if k != "redirect_uri"}
    refused = requests.post(token_url, data=without_redirect, timeout=5)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_request")
    assert "redirect_uri" in refused.json()["error_description"]
    elsewhere = requests.post(token_url, data={**refresh, "redirect_uri": "https://evil.example/"}, timeout=5)
    assert (elsewhere.status_code, elsewhere.json()["error"]) == (400, "invalid_grant")
    rotated = requests.post(token_url, data=refresh, timeout=5)  # form, as the Python SDK sends it; the
    # refused attempts did not burn the refresh token
    assert rotated.status_code == 200 and rotated.json()["refresh_token"] != refresh["refresh_token"]
    again = requests.post(token_url, json=refresh, timeout=5)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    wrong_secret = requests.post(token_url, json={**refresh, "client_secret": "nope"}, timeout=5)
    assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")
    assert sandbox.refresh_grants_used == 1
    assert [(g["content_type"], g["status"]) for g in sandbox.token_grants] == [
        ("application/json", 200),
        ("application/x-www-form-urlencoded", 400),
        ("application/x-www-form-urlencoded", 400),
        ("application/x-www-form-urlencoded", 200),
        ("application/json", 400),
        ("application/json", 401),
    ]


def test_sandbox_listing_errors_and_paging(sandbox, target):
    token = target.client.auth.access_token()
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    items = f"{sandbox.base_url}/accounting/account/{sandbox.account_id}/items/items"
    listed = http.get(items, params={"page": 0, "per_page": 500}, timeout=5).json()["response"]["result"]
    assert (listed["page"], listed["pages"], listed["per_page"], listed["total"]) == (1, 1, 100, 5)
    assert http.get(items, params={"page": "two"}, timeout=5).status_code == 400
    other_account = http.get(items.replace(sandbox.account_id, "nope"), timeout=5)
    assert other_account.status_code == 404
    missing = http.get(f"{items}/1", timeout=5)
    assert missing.status_code == 404
    assert missing.json()["response"]["errors"][0] == {
        "errno": 1012,
        "field": "itemid",
        "message": "Item not found.",
        "object": "item",
        "value": "1",
    }
    floats = http.post(
        items, json={"item": {"name": "x", "unit_cost": {"amount": 1.5, "code": "USD"}}}, timeout=5
    )
    assert floats.status_code == 422 and "not a float" in floats.json()["response"]["errors"][0]["message"]
    typo = http.post(items, json={"item": {"name": "x", "skuu": "X"}}, timeout=5)
    assert typo.status_code == 422 and typo.json()["response"]["errors"][0]["field"] == "skuu"


def test_sandbox_invoice_lines_are_checked(sandbox, target):
    client_id = int(target.ensure_client(ADA))
    bad_line = {
        "type": 0,
        "name": "x",
        "qty": 1,
        "unit_cost": {"amount": "5.00", "code": "EUR"},
        "taxAmount1": "825",
    }
    invoice = {
        "customerid": client_id,
        "create_date": "2026-03-03",
        "currency_code": "USD",
        "lines": [bad_line],
    }
    with pytest.raises(PermanentError) as caught:
        target.client.create_invoice(invoice)
    assert "unit_cost code must be the invoice currency USD" in caught.value.reason
    assert "taxAmount1 is a percentage" in caught.value.reason
    assert sandbox.invoices() == []
