"""The HTTP kit's session and status mapping: retries, backoff, timeouts and error mapping, against a
real local HTTP server."""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests
from flask import jsonify, request
from urllib3.exceptions import ConnectTimeoutError

from invoice_relay.errors import AuthenticationError, ConfigurationError, PermanentError, TransientError
from invoice_relay.http import (
    PartnerRetry,
    partner_error_message,
    partner_session,
    raise_for_partner_status,
    transport_error,
)
from invoice_relay.http.session import IDEMPOTENT_METHODS, RETRY_STATUSES
from local.sandboxes.base import SandboxServer


@pytest.fixture(scope="module")
def server():
    sandbox = SandboxServer()

    @sandbox.app.route("/thing", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def thing():
        return jsonify({"ok": True, "method": request.method})

    with sandbox:
        yield sandbox


@pytest.fixture
def partner(server):
    server.reset()
    return server


def fast_session(**overrides):
    """Small waits so the tests stay fast; the policy is the production one."""
    options = {"backoff_factor": 0.01, "backoff_jitter": 0, "backoff_max": 2, "timeout": (1, 2)}
    return partner_session(partner="acme", **(options | overrides))


def statuses(sandbox, method="GET"):
    return [r["status"] for r in sandbox.find_requests(method, "/thing")]


def test_429_with_retry_after_is_waited_for_then_succeeds(partner):
    partner.inject_fault(method="GET", path="/thing", status=429, retry_after=1)
    started = time.monotonic()
    response = fast_session().get(f"{partner.base_url}/thing")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.9  # the partner's Retry-After, not our tiny backoff
    assert statuses(partner) == [429, 200]


def test_503_twice_then_200(partner):
    partner.inject_fault(method="GET", path="/thing", status=503, times=2)
    response = fast_session().get(f"{partner.base_url}/thing")
    assert response.status_code == 200
    assert statuses(partner) == [503, 503, 200]


def test_post_is_not_retried_on_500(partner):
    partner.inject_fault(method="POST", path="/thing", status=500)
    response = fast_session().post(f"{partner.base_url}/thing", json={"amount": 1})
    assert response.status_code == 500
    assert statuses(partner, "POST") == [500]
    with pytest.raises(TransientError):
        raise_for_partner_status(response, "acme")


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_non_idempotent_methods_are_retried_when_the_partner_refused_before_acting(partner, method):
    partner.inject_fault(method=method, path="/thing", status=429)
    response = fast_session().request(method, f"{partner.base_url}/thing", json={})
    assert response.status_code == 200
    assert statuses(partner, method) == [429, 200]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_503_after_a_post_is_not_repeated_it_may_have_been_acted_on(partner, method):
    # A gateway answers 503 when the service behind it timed out, possibly after creating the record.
    partner.inject_fault(method=method, path="/thing", status=503)
    response = fast_session().request(method, f"{partner.base_url}/thing", json={})
    assert response.status_code == 503
    assert statuses(partner, method) == [503]
    with pytest.raises(TransientError):
        raise_for_partner_status(response, "acme")


@pytest.mark.parametrize("status", [500, 502, 504])
def test_idempotent_put_is_retried_on_server_errors(partner, status):
    partner.inject_fault(method="PUT", path="/thing", status=status)
    assert fast_session().put(f"{partner.base_url}/thing", json={}).status_code == 200
    assert statuses(partner, "PUT") == [status, 200]


def test_when_retries_run_out_the_last_response_is_returned(partner):
    partner.inject_fault(method="GET", path="/thing", status=503, times=10)
    response = fast_session(retries=2).get(f"{partner.base_url}/thing")
    assert response.status_code == 503
    assert statuses(partner) == [503, 503, 503]


def test_a_retry_after_longer_than_backoff_max_is_not_slept_through(partner):
    partner.inject_fault(method="GET", path="/thing", status=429, retry_after=120)
    started = time.monotonic()
    response = fast_session(backoff_max=2).get(f"{partner.base_url}/thing")
    assert time.monotonic() - started < 1
    assert response.status_code == 429
    assert statuses(partner) == [429]
    with pytest.raises(TransientError, match="retry after 120 s"):
        raise_for_partner_status(response, "acme")


def test_read_timeout_is_retried_and_then_maps_to_a_transient_error(partner):
    partner.inject_fault(method="GET", path="/thing", delay=0.6, times=5)
    session = fast_session(retries=1, timeout=(1, 0.2))  # the default timeout: the call sets none
    with pytest.raises(requests.RequestException) as caught:
        session.get(f"{partner.base_url}/thing?token=s3cret")
    error = transport_error(caught.value, "acme")
    assert isinstance(error, TransientError)
    assert error.reason == "acme did not answer in time (GET /thing)"
    assert len(partner.find_requests("GET", "/thing")) == 2  # GET is idempotent: retried once


def test_post_read_timeout_is_not_retried(partner):
    partner.inject_fault(method="POST", path="/thing", delay=0.6, times=5)
    with pytest.raises(requests.ReadTimeout) as caught:
        fast_session(timeout=(1, 0.2)).post(f"{partner.base_url}/thing", json={})
    assert isinstance(transport_error(caught.value, "acme"), TransientError)
    time.sleep(0.5)  # let the held request reach the log before counting
    assert len(partner.find_requests("POST", "/thing")) == 1


def test_a_per_call_timeout_overrides_the_default(partner):
    partner.inject_fault(method="GET", path="/thing", delay=0.4)
    response = fast_session(retries=0, timeout=(1, 0.1)).get(f"{partner.base_url}/thing", timeout=3)
    assert response.status_code == 200


def test_connection_refused_is_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(requests.ConnectionError) as caught:
        fast_session(retries=1).get(f"http://127.0.0.1:{port}/thing")
    error = transport_error(caught.value, "acme")
    assert isinstance(error, TransientError)
    assert error.reason.startswith("acme could not be reached (GET /thing)")


def test_a_malformed_url_is_a_configuration_error():
    with pytest.raises(requests.RequestException) as caught:
        fast_session().get("http://")
    assert isinstance(transport_error(caught.value, "acme"), ConfigurationError)


def test_session_identifies_itself(partner):
    fast_session(user_agent="invoice-relay/test").get(f"{partner.base_url}/thing")
    headers = partner.find_requests("GET", "/thing")[0]["headers"]
    assert headers["User-Agent"] == "invoice-relay/test"
    assert headers["Accept"] == "application/json"


def test_backoff_doubles_from_the_first_retry_and_is_capped():
    retry = PartnerRetry(total=10, backoff_factor=0.5, backoff_jitter=0, backoff_max=3)
    waits = []
    for _ in range(5):
        retry = retry.increment("GET", "/thing", error=ConnectTimeoutError("no route"))
        waits.append(retry.get_backoff_time())
    assert waits == [0.5, 1.0, 2.0, 3, 3]
    jittery = PartnerRetry(total=3, backoff_factor=0.5, backoff_jitter=0.5).increment(
        "GET", "/", error=ConnectTimeoutError()
    )
    assert 0.5 <= jittery.get_backoff_time() <= 1.0
    assert PartnerRetry(total=3).get_backoff_time() == 0  # nothing failed yet


def test_which_answers_are_retried():
    retry = PartnerRetry(total=3, allowed_methods=IDEMPOTENT_METHODS, status_forcelist=RETRY_STATUSES)
    answers = (400, 404, 408, 429, 500, 502, 503, 504)
    assert [s for s in answers if retry.is_retry("GET", s)] == [429, 500, 502, 503, 504]
    assert [s for s in answers if retry.is_retry("PUT", s)] == [429, 500, 502, 503, 504]
    assert [s for s in answers if retry.is_retry("POST", s)] == [429]
    assert [s for s in answers if retry.is_retry("PATCH", s)] == [429]


# -- raise_for_partner_status -----------------------------------------------------------------------------


def fake_response(status, body=None, *, content_type="application/json", headers=None):
    response = requests.Response()
    response.status_code = status
    response.headers["Content-Type"] = content_type
    response.headers.update(headers or {})
    response._content = (json.dumps(body) if content_type == "application/json" else body or "").encode()
    response.request = requests.Request(
        "PUT",
        "https://api.example.com/api/invoice/1042?session=s3cret-query",
        headers={"Authorization": "Bearer s3cret-token", "Cookie": "PHPSESSID=s3cret-cookie"},
        json={"password": "s3cret-password"},
    ).prepare()
    return response


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthenticationError),
        (403, AuthenticationError),
        (408, TransientError),
        (429, TransientError),
        (500, TransientError),
        (502, TransientError),
        (503, TransientError),
        (504, TransientError),
        (400, PermanentError),
        (404, PermanentError),
        (409, PermanentError),
        (422, PermanentError),
    ],
)
def test_status_mapping(status, error):
    with pytest.raises(error) as caught:
        raise_for_partner_status(fake_response(status, {"messages": {"error": ["nope"]}}), "acme")
    assert type(caught.value) is error
    assert caught.value.partner == "acme" and caught.value.status == status
    assert f"HTTP {status} on PUT /api/invoice/1042" in caught.value.reason
    assert caught.value.reason.endswith(": nope")
    assert "s3cret" not in caught.value.reason


def test_success_passes_through():
    response = fake_response(200, {"data": {}})
    assert raise_for_partner_status(response, "acme") is response


def test_permanent_error_reason_reads_well():
    body = {"messages": {"error": ["invoiceNumber must be a string of 1 to 30 characters"]}}
    with pytest.raises(PermanentError) as caught:
        raise_for_partner_status(fake_response(400, body), "servicetrade")
    assert caught.value.reason == (
        "servicetrade rejected the request (HTTP 400 on PUT /api/invoice/1042): "
        "invoiceNumber must be a string of 1 to 30 characters"
    )


SERVICETRADE = {"messages": {"error": ["Invalid username or password"], "info": ["ignored"]}}
OAUTH = {"error": "invalid_grant", "error_description": "Refresh token expired"}
FRESHBOOKS = {"response": {"errors": [{"errno": 1001, "field": "email", "message": "Email is invalid"}]}}
PROBLEM_JSON = {"type": "about:blank", "title": "Conflict", "detail": "Order already invoiced"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (SERVICETRADE, "Invalid username or password"),
        (OAUTH, "invalid_grant; Refresh token expired"),
        (FRESHBOOKS, "Email is invalid"),
        (PROBLEM_JSON, "Conflict; Order already invoiced"),
        ({"error": {"code": 42, "message": "Bad SKU"}}, "Bad SKU"),
        ({"data": None}, None),
        ([], None),
    ],
)
def test_partner_error_message_shapes(body, message):
    assert partner_error_message(fake_response(400, body)) == message


def test_partner_error_message_from_text_and_html():
    assert (
        partner_error_message(fake_response(502, "upstream down", content_type="text/plain"))
        == "upstream down"
    )
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    assert partner_error_message(fake_response(502, html, content_type="text/html")) is None


def test_partner_error_message_is_shortened():
    message = partner_error_message(fake_response(400, {"message": "x" * 1000}))
    assert len(message) == 300 and message.endswith("…")
