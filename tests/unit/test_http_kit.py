"""The HTTP kit every partner client is built on: the request pipeline, the authenticators and the
paginators, against a real local HTTP server (no partner involved)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from flask import jsonify, request

from invoice_relay.errors import AuthenticationError, ConnectorError, PermanentError, TransientError
from invoice_relay.http import (
    ApiKeyAuth,
    ClientCredentialsAuth,
    CursorPaginator,
    Page,
    PageNumberPaginator,
    PartnerClient,
    SessionLoginAuth,
    partner_session,
)
from local.sandboxes.base import SandboxServer

API_KEY = "k-123"


class Partner:
    """A tiny partner: an API key route, a login session, a token endpoint, an enveloped resource."""

    def __init__(self) -> None:
        self.server = SandboxServer()
        self.tokens: dict[str, float] = {}
        self.sessions: set[str] = set()
        self.issued = 0
        self.logins = 0
        self.token_lifetime = 3600
        self.jwt_tokens = False
        app = self.server.app

        @app.route("/keyed")
        def keyed():
            if request.headers.get("X-Api-Key") != API_KEY:
                return jsonify({"error": {"message": "bad key"}}), 401
            return jsonify({"data": {"ok": True}})

        @app.route("/login", methods=["POST"])
        def login():
            body = request.get_json(silent=True) or {}
            if body != {"username": "ada", "password": "s3cret"}:
                return jsonify({"messages": {"error": ["wrong username or password"]}}), 403
            self.logins += 1
            session_id = f"sess-{self.logins}"
            self.sessions.add(session_id)
            response = jsonify({"data": {}})
            response.set_cookie("SID", session_id)
            return response

        @app.route("/login", methods=["DELETE"])
        def logout():
            self.sessions.discard(request.cookies.get("SID", ""))
            return "", 204

        @app.route("/session-thing")
        def session_thing():
            if request.cookies.get("SID") not in self.sessions:
                return jsonify({"messages": {"error": ["session expired"]}}), 401
            return jsonify({"data": {"session": request.cookies["SID"]}})

        self._add_bearer_routes(app)

    def _add_bearer_routes(self, app):
        @app.route("/token", methods=["POST"])
        def token():
            if (
                request.form.get("grant_type") != "client_credentials"
                or request.form.get("client_secret") != "cs"
            ):
                return jsonify({"error": "invalid_client", "error_description": "unknown client"}), 400
            self.issued += 1
            value = f"tok-{self.issued}"
            if self.jwt_tokens:
                claims = base64.urlsafe_b64encode(json.dumps({"exp": time.time() + 600}).encode()).decode()
                value = f"e30.{claims.rstrip('=')}.sig{self.issued}"
            self.tokens[value] = time.time() + self.token_lifetime
            answer = {"access_token": value, "token_type": "Bearer"}
            if not self.jwt_tokens:
                answer["expires_in"] = self.token_lifetime
            return jsonify(answer)

        @app.route("/bearer-thing")
        def bearer_thing():
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if self.tokens.get(token, 0) < time.time():
                return jsonify({"error": "invalid_token"}), 401
            return jsonify({"data": {"token": token}})

        @app.route("/broken")
        def broken():
            return jsonify({"error": {"message": "no such thing", "details": ["field x: bad"]}}), 422

        @app.route("/html")
        def html():
            return "<html>proxy error</html>", 200, {"Content-Type": "text/html"}


@pytest.fixture(scope="module")
def partner():
    p = Partner()
    with p.server:
        yield p


@pytest.fixture(autouse=True)
def fresh(partner):
    partner.server.reset()
    partner.tokens.clear()
    partner.sessions.clear()
    partner.token_lifetime = 3600
    partner.jwt_tokens = False


class Enveloped(PartnerClient):
    partner = "acme"

    def unwrap(self, body, method, path):
        if not isinstance(body, dict) or "data" not in body:
            raise self.unexpected("without data", method, path)
        return body["data"]

    def error_details(self, response):
        try:
            return "; ".join(response.json()["error"]["details"])
        except (ValueError, KeyError, TypeError):
            return ""


def session():
    return partner_session(
        partner="acme", backoff_factor=0.01, backoff_jitter=0, backoff_max=1, timeout=(1, 2)
    )


def test_api_key_auth_sends_the_key_and_the_envelope_is_unwrapped(partner):
    with Enveloped(
        partner.server.base_url, auth=ApiKeyAuth("X-Api-Key", API_KEY), session=session()
    ) as client:
        assert client.call("GET", "/keyed") == {"ok": True}
    assert "k-123" not in repr(client)


def test_a_refused_key_is_a_connector_error_and_is_not_retried(partner):
    client = Enveloped(partner.server.base_url, auth=ApiKeyAuth("X-Api-Key", "wrong"), session=session())
    with pytest.raises(AuthenticationError) as refused:
        client.call("GET", "/keyed")
    assert isinstance(refused.value, ConnectorError) and not isinstance(refused.value, PermanentError)
    assert len(partner.server.find_requests("GET", "/keyed")) == 1  # renewing a fixed key cannot help
    assert "wrong" not in refused.value.reason


def test_error_details_join_the_reason(partner):
    client = Enveloped(partner.server.base_url, session=session())
    with pytest.raises(PermanentError, match=r"HTTP 422 .*no such thing \(field x: bad\)"):
        client.call("GET", "/broken")


def test_session_login_signs_in_once_renews_after_401_and_signs_out(partner):
    auth = SessionLoginAuth(
        "/login", {"username": "ada", "password": "s3cret"}, logout_path="/login", who="ada"
    )
    client = Enveloped(partner.server.base_url, auth=auth, session=session())
    first = client.call("GET", "/session-thing")["session"]
    assert client.call("GET", "/session-thing")["session"] == first
    assert len(partner.server.find_requests("POST", "/login")) == 1
    partner.sessions.clear()  # the partner evicted our session
    second = client.call("GET", "/session-thing")["session"]
    assert second != first and len(partner.server.find_requests("POST", "/login")) == 2
    client.close()
    assert partner.sessions == set()
    assert "s3cret" not in repr(auth)


def test_session_login_with_wrong_credentials_is_an_authentication_error(partner):
    auth = SessionLoginAuth("/login", {"username": "ada", "password": "nope"})
    client = Enveloped(partner.server.base_url, auth=auth, session=session())
    with pytest.raises(AuthenticationError, match="wrong username or password") as refused:
        client.call("GET", "/session-thing")
    assert "nope" not in refused.value.reason


def test_client_credentials_token_is_reused_and_renewed_once_after_a_401(partner):
    auth = ClientCredentialsAuth(f"{partner.server.base_url}/token", "ci", "cs", partner="acme")
    client = Enveloped(partner.server.base_url, auth=auth, session=session())
    first = client.call("GET", "/bearer-thing")["token"]
    assert client.call("GET", "/bearer-thing")["token"] == first
    assert partner.issued == 1
    partner.tokens.clear()  # revoked at the partner
    assert client.call("GET", "/bearer-thing")["token"] != first
    assert partner.issued == 2
    token_requests = partner.server.find_requests("POST", "/token")
    assert all("cs" not in json.dumps(r.get("json") or {}) for r in token_requests)


def test_client_credentials_refused_is_an_authentication_error(partner):
    auth = ClientCredentialsAuth(f"{partner.server.base_url}/token", "ci", "wrong", partner="acme")
    client = Enveloped(partner.server.base_url, auth=auth, session=session())
    with pytest.raises(
        AuthenticationError, match=r"refused our client credentials.*unknown client"
    ) as refused:
        client.call("GET", "/bearer-thing")
    assert "wrong" not in refused.value.reason


def test_client_credentials_lifetime_comes_from_a_jwt_exp_when_expires_in_is_missing(partner):
    partner.jwt_tokens = True
    auth = ClientCredentialsAuth(
        f"{partner.server.base_url}/token", "ci", "cs", partner="acme", refresh_margin=60
    )
    auth.bind(Enveloped(partner.server.base_url, auth=auth, session=session()))
    auth.access_token()
    assert 500 < auth._renew_at - time.monotonic() <= 540  # exp in 600 s, renewed 60 s before


def test_page_number_paginator_walks_to_the_last_page_from_a_start_page():
    pages = {n: Page(records=[n], number=n, total_pages=4) for n in range(1, 5)}
    walked = [
        p.number for p in PageNumberPaginator(partner="acme", what="things").pages(pages.__getitem__, 2)
    ]
    assert walked == [2, 3, 4]


def test_page_number_paginator_stops_a_partner_that_answers_the_wrong_page():
    paginator = PageNumberPaginator(partner="acme", what="things")
    with pytest.raises(PermanentError, match=r"answered page 1 when asked for page 2.*loop detected"):
        list(paginator.pages(lambda n: Page(records=[1], number=1, total_pages=9)))


def test_page_number_paginator_has_a_page_limit():
    paginator = PageNumberPaginator(partner="acme", what="things", max_pages=5)
    with pytest.raises(PermanentError, match="more than 5 pages of things"):
        list(paginator.pages(lambda n: Page(records=[n], number=n, total_pages=10**6)))


def test_page_number_paginator_stops_at_an_empty_page():
    paginator = PageNumberPaginator(partner="acme", what="things")
    assert len(list(paginator.pages(lambda n: Page(records=[], number=n, total_pages=3)))) == 1


def test_cursor_paginator_follows_cursors_and_detects_a_repeated_one():
    chain = {None: "a", "a": "b", "b": None}
    walked = [p.records for p in CursorPaginator(partner="shop", what="products").pages(
        lambda c: Page(records=[c], next_cursor=chain[c]))]  # fmt: skip
    assert walked == [[None], ["a"], ["b"]]
    loop = {None: "a", "a": "b", "b": "a"}
    with pytest.raises(PermanentError, match=r"cursor 'a' twice.*loop detected"):
        list(
            CursorPaginator(partner="shop", what="products").pages(
                lambda c: Page(records=[], next_cursor=loop[c])
            )
        )


def test_a_2xx_without_json_is_transient(partner):
    with pytest.raises(TransientError, match="HTTP 200 but no JSON"):
        Enveloped(partner.server.base_url, session=session()).call("GET", "/html")


def test_password_grant_posts_the_user_and_a_refused_user_is_named_without_the_password():
    from invoice_relay.http.auth import PasswordGrantAuth

    grants: list[dict] = []
    server = SandboxServer()

    @server.app.route("/token", methods=["POST"])
    def token():
        grants.append(request.form.to_dict())
        if request.form.get("grant_type") != "password" or request.form.get("password") != "pw-ok":
            return jsonify({"error": "invalid_grant", "error_description": "Bad credentials"}), 400
        return jsonify({"access_token": f"tok-{len(grants)}", "token_type": "Bearer", "expires_in": 3600})

    with server:
        url = f"{server.base_url}/token"
        auth = PasswordGrantAuth(
            url, "ci", "cs", username="ada@example.com", password="pw-ok", partner="acme"
        )
        auth.bind(Enveloped(server.base_url, auth=auth, session=session()))
        assert auth.access_token() == auth.access_token() == "tok-1"  # reused
        assert grants[0] == {
            "grant_type": "password", "client_id": "ci", "client_secret": "cs",
            "username": "ada@example.com", "password": "pw-ok",
        }  # fmt: skip
        wrong = PasswordGrantAuth(
            url, "ci", "cs", username="ada@example.com", password="nope", partner="acme"
        )
        wrong.bind(Enveloped(server.base_url, auth=wrong, session=session()))
        with pytest.raises(
            AuthenticationError, match=r"refused the user ada@example.com.*Bad credentials"
        ) as no:
            wrong.access_token()
        assert "nope" not in no.value.reason and "cs" not in repr(wrong)
