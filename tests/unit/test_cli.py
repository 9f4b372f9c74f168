"""The ops command line (cli/, `relay`) against a small real HTTP server on loopback that speaks the
management API contract (issue 10) and Cognito's InitiateAuth, with canned answers."""

from __future__ import annotations

import itertools
import json
import os
import re
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

try:
    from relay_cli.main import cli
except ModuleNotFoundError:  # not installed into the venv yet (make cli): import it from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "cli"))
    from relay_cli.main import cli

SECRET = "TOP-SECRET-client-secret-7731"
PASSWORD = "alice-Pa55word!"

RUN = {
    "run_id": "run-0045",
    "connector_id": "acme-st",
    "kind": "poll",
    "status": "succeeded",
    "started_at": "2025-03-01T10:15:00Z",
    "finished_at": "2025-03-01T10:15:04Z",
    "counts": {"polled": 12, "staged": 3},
    "reason": None,
    "export_file": None,
}


def connector(cid: str = "acme-st", **changes: Any) -> dict[str, Any]:
    base = {
        "connector_id": cid,
        "name": "Acme ServiceTrade to Sage",
        "status": "active",
        "paused_reason": None,
        "source": {
            "system": "servicetrade",
            "base_url": "https://api.servicetrade.test",
            "credentials_secret": f"invoice-relay/{cid}/source",
        },
        "target": {"system": "flatfile", "prefix": "acme"},
        "schedules": [
            {
                "run": "poll",
                "expression": "rate(15 minutes)",
                "timezone": "UTC",
                "state": "ENABLED",
                "name": f"{cid}--poll",
            },
            {
                "run": "export",
                "expression": "cron(0 18 * * ? *)",
                "timezone": "UTC",
                "state": "ENABLED",
                "name": f"{cid}--export",
            },
        ],
        "failure_limit": 5,
        "flows": ["poll, import file and write back"],
        "credentials": [{"side": "source", "field": "credentials_secret", "stored": True}],
        "health": {
            "last_run": RUN,
            "last_success_at": "2025-03-01T10:15:04Z",
            "failing_streak": 0,
            "documents_waiting": 3,
            "held": 1,
            "dead_letters": 2,
        },
        "created_at": "2025-02-01T09:00:00Z",
        "updated_at": "2025-03-01T10:15:04Z",
    }
    return base | changes


KIND = {
    "system": "servicetrade",
    "title": "ServiceTrade",
    "category": "field service",
    "connection": "API key or user name and password",
    "documents": ["invoice"],
    "docs": "https://api.servicetrade.com/api/docs",
    "notes": ["invoices are polled by updated time"],
    "sides": {
        "source": {
            "triggers": ["scheduled"],
            "capabilities": [{"name": "write_back", "description": "marks invoices exported"}],
            "schema": {
                "properties": {
                    "base_url": {"type": "string", "description": "API root"},
                    "page_size": {"type": "integer", "default": 100},
                },
                "required": ["base_url"],
            },
            "secrets": [
                {
                    "field": "credentials_secret",
                    "title": "API credentials",
                    "keys": ["client_id", "client_secret"],
                    "alternatives": [["username", "password"]],
                }
            ],
        },
        "target": None,
    },
    "pairs": [
        {
            "source": "servicetrade",
            "target": "flatfile",
            "flow": "poll, import file and write back",
            "runs": ["poll", "export"],
        }
    ],
}

EVENT = {
    "at": "2025-03-01T10:15:02Z",
    "level": "warning",
    "message": "invoice held: customer unknown",
    "source_id": "st-9001",
    "number": "1042",
    "details": {"customer": "C-77"},
}
DOCUMENT = {
    "connector_id": "acme-st",
    "source_id": "st-9001",
    "number": "1042",
    "state": "held",
    "version": 3,
    "updated_at": "2025-03-01T10:15:02Z",
    "reason": "customer unknown",
}


class FakeApi:
    """The contract's routes the CLI calls, plus Cognito under /cognito/; records every request."""

    def __init__(self) -> None:
        self.users = {"alice": (PASSWORD, ["admins"]), "vera": ("viewer-pw", ["viewers"])}
        self.new_password_users = {"newbie": "temporary-pw"}
        self.tokens: dict[str, str] = {}  # ID token -> user name
        self.refresh_tokens: dict[str, str] = {}
        self.serial = itertools.count(1)
        self.seen: list[dict[str, Any]] = []
        self.cognito_calls: list[dict[str, Any]] = []
        self.connectors = {"acme-st": connector(), "shop-ff": self._auto_paused()}
        self.runs = [RUN | {"run_id": f"run-{n:04d}"} for n in range(45, 0, -1)]
        self.busy = {"acme-st"}  # a run holds the lease: delete answers 409
        self.app = self._build()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @staticmethod
    def _auto_paused() -> dict[str, Any]:
        health = {
            "last_run": None,
            "last_success_at": None,
            "failing_streak": 5,
            "documents_waiting": 0,
            "held": 0,
            "dead_letters": 0,
        }
        return connector(
            "shop-ff",
            name="Shop orders to file",
            status="paused",
            paused_reason="auto-paused after 5 failed runs: HTTP 503",
            health=health,
        )

    # ------------------------------------------------------------------------------------ cognito
    def _issue(self, user: str, with_refresh: bool = True) -> dict[str, Any]:
        n = next(self.serial)
        result: dict[str, Any] = {
            "IdToken": f"id-{user}-{n}",
            "AccessToken": f"access-{n}",
            "ExpiresIn": 3600,
        }
        self.tokens[result["IdToken"]] = user
        if with_refresh:
            result["RefreshToken"] = f"refresh-{user}-{n}"
            self.refresh_tokens[result["RefreshToken"]] = user
        return {"AuthenticationResult": result, "ChallengeParameters": {}}

    def _cognito(self):
        body = json.loads(request.get_data())
        target = request.headers.get("X-Amz-Target", "")
        self.cognito_calls.append({"target": target, "content_type": request.content_type, "body": body})
        refused = (
            jsonify({"__type": "NotAuthorizedException", "message": "Incorrect username or password."}),
            400,
        )
        if (
            target == "AWSCognitoIdentityProviderService.InitiateAuth"
            and body["AuthFlow"] == "USER_PASSWORD_AUTH"
        ):
            user, password = body["AuthParameters"]["USERNAME"], body["AuthParameters"]["PASSWORD"]
            if self.new_password_users.get(user) == password:
                return jsonify({"ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": "challenge-1"})
            if self.users.get(user, (None,))[0] != password:
                return refused
            return jsonify(self._issue(user))
        if (
            target == "AWSCognitoIdentityProviderService.InitiateAuth"
            and body["AuthFlow"] == "REFRESH_TOKEN_AUTH"
        ):
            user = self.refresh_tokens.get(body["AuthParameters"]["REFRESH_TOKEN"])
            if user is None:
                return jsonify(
                    {"__type": "NotAuthorizedException", "message": "Refresh Token has expired"}
                ), 400
            return jsonify(self._issue(user, with_refresh=False))
        if target == "AWSCognitoIdentityProviderService.RespondToAuthChallenge":
            user = body["ChallengeResponses"]["USERNAME"]
            assert body["Session"] == "challenge-1" and body["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
            self.users[user] = (body["ChallengeResponses"]["NEW_PASSWORD"], ["viewers"])
            return jsonify(self._issue(user))
        return jsonify({"__type": "InvalidParameterException", "message": target}), 400

    # ---------------------------------------------------------------------------------------- api
    def _build(self) -> Flask:  # noqa: C901 - one route table
        app = Flask("fake-management-api")
        app.add_url_rule("/cognito/", "cognito", self._cognito, methods=["POST"])

        @app.before_request
        def authorize():
            if request.path.startswith(("/cognito", "/site/")) or request.path.endswith("/admin/config.json"):
                return None  # open routes (a wrong --api prefix gets Flask's HTML 404)
            self.seen.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "raw": request.environ.get("RAW_URI"),
                    "args": request.args.to_dict(),
                    "authorization": request.headers.get("Authorization"),
                    "body": request.get_json(silent=True),
                }
            )
            token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
            user = self.tokens.get(token)
            if user is None:
                return jsonify({"message": "Unauthorized"}), 401
            if request.method != "GET" and "admins" not in self.users[user][1]:
                return jsonify({"message": f"{user} may only read"}), 403
            return None

        @app.get("/admin/config.json")
        def config():
            return jsonify(
                {
                    "region": "us-east-1",
                    "cognito_endpoint": f"{self.url}/cognito",
                    "client_id": "client-123",
                    "user_pool_id": "us-east-1_pool",
                    "stage": "dev",
                }
            )

        @app.get("/site/<path:anything>")
        def web_page(anything):
            return "<html>not the API</html>"

        @app.get("/me")
        def me():
            user = self.tokens[request.headers["Authorization"].removeprefix("Bearer ")]
            groups = self.users[user][1]
            return jsonify(
                {"username": user, "groups": groups, "role": "admin" if "admins" in groups else "viewer"}
            )

        @app.get("/kinds")
        def kinds():
            flatfile = {
                "system": "flatfile",
                "title": "Flat file",
                "category": "file",
                "documents": ["invoice"],
                "sides": {"source": None, "target": {}},
            }
            return jsonify({"kinds": [KIND, flatfile]})

        @app.get("/kinds/<system>")
        def kind(system):
            return (
                jsonify(KIND)
                if system == "servicetrade"
                else (jsonify({"message": f"unknown kind {system!r}"}), 404)
            )

        def known(cid):
            if cid not in self.connectors:
                return None, (jsonify({"message": f"unknown connector {cid!r}"}), 404)
            return self.connectors[cid], None

        @app.get("/connectors")
        def connectors():
            return jsonify({"connectors": list(self.connectors.values())})

        @app.get("/connectors/<cid>")
        def show(cid):
            found, error = known(cid)
            return error or jsonify(found)

        def saved(cid, body):
            errors = []
            if not (body.get("source") or {}).get("base_url"):
                errors.append({"field": "source.base_url", "reason": "Field required"})
            if not body.get("name"):
                errors.append({"field": "name", "reason": "Field required"})
            if errors:
                return jsonify({"message": "invalid connector", "errors": errors}), 400
            stored = [
                {"side": side, "field": name, "stored": True}
                for side, secrets in (body.get("credentials") or {}).items()
                for name in secrets
            ]
            previous = self.connectors.get(cid) or connector(cid, status="paused", paused_reason=None)
            self.connectors[cid] = previous | {
                "name": body["name"],
                "source": body["source"],
                "target": body["target"],
                "credentials": stored or previous["credentials"],
            }
            return jsonify(self.connectors[cid])

        @app.post("/connectors")
        def create():
            body = request.get_json()
            if body.get("connector_id") in self.connectors:
                return jsonify({"message": f"connector {body['connector_id']!r} already exists"}), 409
            answer = saved(body.get("connector_id"), body)
            return answer if isinstance(answer, tuple) else (answer, 201)

        @app.put("/connectors/<cid>")
        def update(cid):
            _found, error = known(cid)
            return error or saved(cid, request.get_json())

        @app.delete("/connectors/<cid>")
        def delete(cid):
            _found, error = known(cid)
            if error:
                return error
            if cid in self.busy:
                return jsonify({"message": "a run holds the lease"}), 409
            del self.connectors[cid]
            return "", 204

        @app.post("/connectors/<cid>/<action>")
        def start_pause(cid, action):
            found, error = known(cid)
            if error:
                return error
            user = self.tokens[request.headers["Authorization"]]
            found.update(
                {"status": "active", "paused_reason": None}
                if action == "start"
                else {"status": "paused", "paused_reason": f"paused by {user}"}
            )
            return jsonify(found)

        @app.post("/connectors/<cid>/runs")
        def run(cid):
            found, error = known(cid)
            if error:
                return error
            if found["status"] == "paused":
                return jsonify({"message": f"{cid} is paused: start it first"}), 409
            kind = (request.get_json() or {}).get("kind", "poll")
            if kind == "bundle":
                return jsonify(
                    {"message": "invalid run", "errors": [{"field": "kind", "reason": "no bundle run"}]}
                ), 400
            return jsonify(
                {
                    "connector_id": cid,
                    "kind": kind,
                    "function": "invoice-relay-poll",
                    "requested_at": "2025-03-01T11:00:00Z",
                }
            ), 202

        @app.get("/connectors/<cid>/runs")
        def runs(cid):
            limit = int(request.args.get("limit", 20))
            start = int(request.args.get("cursor", "0").removeprefix("c"))
            page = self.runs[start : start + limit]
            more = start + limit < len(self.runs)
            return jsonify({"runs": page, "next": f"c{start + limit}" if more else None})

        @app.get("/runs/<run_id>")
        def run_logs(run_id):
            failed = RUN | {"run_id": run_id, "status": "partial", "reason": "1 invoice held"}
            return jsonify(
                {"run": failed, "events": [EVENT, EVENT | {"level": "info", "message": "page 1 polled"}]}
            )

        @app.get("/documents")
        def documents():
            number = request.args.get("number")
            return jsonify({"documents": [DOCUMENT] if number == "1042" else []})

        @app.get("/connectors/<cid>/documents/<source_id>")
        def document(cid, source_id):
            return jsonify({"document": DOCUMENT, "events": [EVENT | {"run_id": "run-0045", "kind": "poll"}]})

        @app.get("/connectors/<cid>/dead-letters")
        def dead_letters(cid):
            item = {
                "id": "dl-1",
                "reason": "HTTP 500 from Sage",
                "at": "2025-03-01T09:00:00Z",
                "attempts": 5,
                "work_key": "acme-st#st-9001",
                "summary": {"number": "1042"},
            }
            return jsonify({"items": [item]})

        @app.post("/connectors/<cid>/dead-letters/replay")
        def replay(cid):
            body = request.get_json()
            return jsonify({"replayed": len(body["ids"]) if "ids" in body else 7})

        @app.get("/connectors/<cid>/files")
        def files(cid):
            item = {
                "key": "exports/acme-st/2025-03-01/invoices-0045.csv",
                "name": "invoices-0045.csv",
                "run_id": "run-0045",
                "created_at": "2025-03-01T18:00:03Z",
                "size": 2048,
                "documents": ["1042", "1043"],
                "download_url": "https://bucket.s3.test/exports/invoices-0045.csv?X-Amz-Signature=abc",
                "expires_in": 3600,
            }
            return jsonify({"files": [item]})

        return app


@pytest.fixture
def api(tmp_path, monkeypatch):
    fake = FakeApi()
    fake.thread.start()
    monkeypatch.setenv("RELAY_SESSION_FILE", str(tmp_path / "session.json"))
    monkeypatch.setenv("RELAY_API", fake.url)
    for name in ("RELAY_USERNAME", "RELAY_PASSWORD", "RELAY_NEW_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    yield fake
    fake.server.shutdown()
    fake.thread.join(5)


def relay(*args: str, input: str | None = None):
    result = CliRunner(mix_stderr=False).invoke(cli, list(args), input=input, catch_exceptions=False)
    result.all = result.stdout + result.stderr
    return result


@pytest.fixture
def signed_in(api):
    result = relay("login", "--username", "alice", "--password", PASSWORD)
    assert result.exit_code == 0, result.all
    return api


def session_file() -> Path:
    return Path(os.environ["RELAY_SESSION_FILE"])


def cached(api: FakeApi) -> dict[str, Any]:
    return json.loads(session_file().read_text())["sessions"][api.url]


def cols(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


# ------------------------------------------------------------------------------------------ sign-in


def test_login_prompts_signs_in_and_caches_the_tokens_0600(api):
    result = relay("login", input=f"alice\n{PASSWORD}\n")

    assert result.exit_code == 0, result.all
    assert f"Signed in to {api.url} as alice (admin)." in result.stdout
    assert PASSWORD not in result.all  # the hidden prompt does not echo it
    (call,) = api.cognito_calls
    assert call["target"] == "AWSCognitoIdentityProviderService.InitiateAuth"
    assert call["content_type"] == "application/x-amz-json-1.1"
    assert call["body"] == {
        "AuthFlow": "USER_PASSWORD_AUTH",
        "ClientId": "client-123",
        "AuthParameters": {"USERNAME": "alice", "PASSWORD": PASSWORD},
    }
    assert stat.S_IMODE(session_file().stat().st_mode) == 0o600
    assert PASSWORD not in session_file().read_text()
    entry = cached(api)
    assert entry["id_token"] == "id-alice-1" and entry["refresh_token"] == "refresh-alice-1"
    assert entry["cognito_endpoint"] == f"{api.url}/cognito" and entry["username"] == "alice"
    assert entry["expires_at"] > time.time() + 3000
    assert api.seen[-1]["authorization"] == "id-alice-1"  # GET /me: the raw ID token


def test_login_default_session_file_under_home(api, tmp_path, monkeypatch):
    monkeypatch.delenv("RELAY_SESSION_FILE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert relay("login", "-u", "alice", "--password", PASSWORD).exit_code == 0
    path = tmp_path / "home/.config/invoice-relay/session.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["sessions"][api.url]["username"] == "alice"


def test_login_wrong_password_and_unreachable_api(api):
    result = relay("login", "-u", "alice", "--password", "wrong")
    assert result.exit_code == 1
    assert "sign-in failed: Incorrect username or password." in result.stderr
    assert not session_file().exists()

    result = relay("--api", "http://127.0.0.1:9", "login", "-u", "alice", "--password", PASSWORD)
    assert result.exit_code == 1
    assert "cannot reach the API at http://127.0.0.1:9" in result.stderr


def test_login_answers_new_password_challenge(api):
    result = relay("login", "-u", "newbie", "--password", "temporary-pw", input="Perm4nent!\nPerm4nent!\n")
    assert result.exit_code == 0, result.all
    assert "as newbie (viewer)" in result.stdout
    assert api.cognito_calls[-1]["body"]["ChallengeResponses"] == {
        "USERNAME": "newbie",
        "NEW_PASSWORD": "Perm4nent!",
    }
    assert "Perm4nent!" not in result.all


def test_logout_forgets_the_session(signed_in):
    assert relay("logout").stdout.strip() == f"Signed out of {signed_in.url}."
    assert not session_file().exists()
    result = relay("connectors", "list")
    assert result.exit_code == 1
    assert f"not signed in to {signed_in.url}: run relay login" in result.stderr
    assert relay("logout").stdout.strip() == f"Not signed in to {signed_in.url}."


def test_sessions_are_per_api_url(signed_in):
    other = "http://127.0.0.1:9/prod"
    result = relay("--api", other, "connectors", "list")
    assert result.exit_code == 1 and f"not signed in to {other}" in result.stderr
    assert relay("connectors", "list").exit_code == 0


def test_expired_token_is_refreshed_and_cached(signed_in):
    data = json.loads(session_file().read_text())
    data["sessions"][signed_in.url]["expires_at"] = int(time.time()) - 10
    session_file().write_text(json.dumps(data))

    result = relay("connectors", "list")

    assert result.exit_code == 0, result.all
    refresh = signed_in.cognito_calls[-1]["body"]
    assert refresh == {
        "AuthFlow": "REFRESH_TOKEN_AUTH",
        "ClientId": "client-123",
        "AuthParameters": {"REFRESH_TOKEN": "refresh-alice-1"},
    }
    assert signed_in.seen[-1]["authorization"] == "id-alice-2"
    entry = cached(signed_in)
    assert entry["id_token"] == "id-alice-2"
    assert entry["refresh_token"] == "refresh-alice-1"  # Cognito sends none on refresh: the old one is kept
    assert entry["expires_at"] > time.time() + 3000
    assert stat.S_IMODE(session_file().stat().st_mode) == 0o600


def test_token_the_api_refuses_is_refreshed_once(signed_in):
    signed_in.tokens.clear()  # e.g. revoked: the API answers 401, the CLI refreshes and retries
    result = relay("connectors", "show", "acme-st")
    assert result.exit_code == 0, result.all
    assert [s["authorization"] for s in signed_in.seen[-2:]] == ["id-alice-1", "id-alice-2"]


def test_401_with_a_dead_refresh_token_says_sign_in_again(signed_in):
    signed_in.tokens.clear()
    signed_in.refresh_tokens.clear()
    result = relay("connectors", "list")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Refresh Token has expired" in result.stderr
    assert "sign in again (relay login)" in result.stderr


def test_401_after_refresh_says_sign_in_again(signed_in, monkeypatch):
    refused = {"AuthenticationResult": {"IdToken": "not-accepted", "ExpiresIn": 3600}}
    monkeypatch.setattr(signed_in, "_issue", lambda user, with_refresh=True: refused)
    signed_in.tokens.clear()
    result = relay("connectors", "list")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: Unauthorized (HTTP 401): sign in again (relay login)"
    assert [s["authorization"] for s in signed_in.seen[-2:]] == ["id-alice-1", "not-accepted"]


# --------------------------------------------------------------------------------------- connectors


def test_connectors_list_table(signed_in):
    result = relay("connectors", "list")

    assert result.exit_code == 0, result.all
    header, first, second = result.stdout.rstrip("\n").split("\n")
    assert cols(header) == ["ID", "NAME", "STATUS", "LAST RUN", "LAST SUCCESS", "FAILING", "WAITING", "DLQ"]
    assert cols(first) == [
        "acme-st",
        "Acme ServiceTrade to Sage",
        "active",
        "poll succeeded 2025-03-01T10:15:04Z",
        "2025-03-01T10:15:04Z",
        "0",
        "3 (1 held)",
        "2",
    ]
    assert cols(second) == ["shop-ff", "Shop orders to file", "paused", "-", "-", "5", "0", "0"]
    assert header.index("STATUS") == first.index("active") == second.index("paused")  # aligned columns
    assert signed_in.seen[-1]["authorization"] == "id-alice-1"


@pytest.mark.parametrize("args", [["--json", "connectors", "list"], ["connectors", "list", "--json"]])
def test_json_prints_the_apis_json(signed_in, args):
    result = relay(*args)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"connectors": list(signed_in.connectors.values())}


def test_connectors_show_details_and_schedules(signed_in):
    result = relay("connectors", "show", "shop-ff")
    assert result.exit_code == 0, result.all
    out = result.stdout
    assert re.search(r"^Status\s+paused \(auto-paused after 5 failed runs: HTTP 503\)$", out, re.M)
    assert re.search(r"^Credentials\s+source\.credentials_secret stored$", out, re.M)
    assert re.search(r"^Source\s+system=servicetrade base_url=https://api\.servicetrade\.test ", out, re.M)
    assert re.search(r"^Failing streak\s+5$", out, re.M)
    lines = out.splitlines()
    at = lines.index(next(line for line in lines if line.startswith("RUN")))
    assert cols(lines[at]) == ["RUN", "SCHEDULE", "TIMEZONE", "STATE", "NAME"]
    assert cols(lines[at + 2]) == ["export", "cron(0 18 * * ? *)", "UTC", "ENABLED", "shop-ff--export"]


def test_unknown_connector_is_404(signed_in):
    result = relay("connectors", "show", "nope")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: unknown connector 'nope' (HTTP 404)"


def write(tmp_path: Path, name: str, data: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


NEW = {
    "connector_id": "globex-st",
    "name": "Globex",
    "source": {"system": "servicetrade", "base_url": "https://globex.servicetrade.test"},
    "target": {"system": "flatfile"},
    "schedules": {"poll": "rate(5 minutes)"},
}
CREDENTIALS = {"source": {"credentials_secret": {"client_id": "globex-app", "client_secret": SECRET}}}


@pytest.mark.parametrize("as_json", [False, True])
def test_create_sends_credentials_but_never_prints_them(signed_in, tmp_path, as_json):
    args = ["connectors", "create", write(tmp_path, "c.json", NEW)]
    args += ["--credentials", write(tmp_path, "creds.json", CREDENTIALS)] + (["--json"] if as_json else [])

    result = relay(*args)

    assert result.exit_code == 0, result.all
    sent = signed_in.seen[-1]
    assert (sent["method"], sent["path"]) == ("POST", "/connectors")
    assert sent["body"] == NEW | {"credentials": CREDENTIALS}
    assert SECRET not in result.all and "globex-app" not in result.all
    if as_json:
        assert json.loads(result.stdout)["credentials"] == [
            {"side": "source", "field": "credentials_secret", "stored": True}
        ]
    else:
        assert result.stdout.startswith(
            "Created connector globex-st (paused): relay connectors start globex-st\n"
        )
        assert re.search(r"^Credentials\s+source\.credentials_secret stored$", result.stdout, re.M)


def test_create_400_lists_the_field_errors_without_echoing_secrets(signed_in, tmp_path):
    bad = NEW | {"name": "", "source": {"system": "servicetrade"}}
    result = relay(
        "connectors",
        "create",
        write(tmp_path, "c.json", bad),
        "--credentials",
        write(tmp_path, "s.json", CREDENTIALS),
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: invalid connector (HTTP 400)",
        "  source.base_url: Field required",
        "  name: Field required",
    ]
    assert SECRET not in result.all


def test_create_existing_is_409_and_bad_files_are_told(signed_in, tmp_path):
    result = relay("connectors", "create", write(tmp_path, "c.json", NEW | {"connector_id": "acme-st"}))
    assert result.exit_code == 1
    assert "connector 'acme-st' already exists (HTTP 409)" in result.stderr

    broken = tmp_path / "creds.json"
    broken.write_text('{"source": {"credentials_secret": {"client_secret": "' + SECRET + '"')
    result = relay("connectors", "create", write(tmp_path, "c.json", NEW), "--credentials", str(broken))
    assert result.exit_code == 1
    assert f"{broken}: not valid JSON" in result.stderr and SECRET not in result.all
    assert [s["method"] for s in signed_in.seen].count("POST") == 1  # only the 409 one was sent


def test_update_puts_without_connector_id_and_keeps_credentials(signed_in, tmp_path):
    result = relay(
        "connectors", "update", "acme-st", write(tmp_path, "c.json", NEW | {"connector_id": "acme-st"})
    )
    assert result.exit_code == 0, result.all
    sent = signed_in.seen[-1]
    assert (sent["method"], sent["path"]) == ("PUT", "/connectors/acme-st")
    assert "connector_id" not in sent["body"] and "credentials" not in sent["body"]
    assert result.stdout.startswith("Updated connector acme-st.\n")

    result = relay("connectors", "update", "acme-st", write(tmp_path, "c.json", NEW))
    assert result.exit_code == 1 and "is connector 'globex-st', not 'acme-st'" in result.stderr


def test_start_pause_and_viewer_403(signed_in):
    result = relay("connectors", "pause", "acme-st")
    assert result.stdout.strip() == "Connector acme-st is paused (paused by alice)."
    assert relay("connectors", "start", "acme-st").stdout.strip() == "Connector acme-st is active."

    assert relay("login", "-u", "vera", "--password", "viewer-pw").exit_code == 0
    result = relay("connectors", "pause", "acme-st")
    assert result.exit_code == 1
    assert "vera may only read (HTTP 403): your account may only read" in result.stderr
    assert signed_in.connectors["acme-st"]["status"] == "active"


def test_delete_asks_and_409_while_a_run_holds_the_lease(signed_in):
    result = relay("connectors", "delete", "acme-st", input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.stderr
    assert signed_in.seen[-1]["method"] != "DELETE"

    result = relay("connectors", "delete", "acme-st", "--yes")
    assert result.exit_code == 1 and "a run holds the lease (HTTP 409)" in result.stderr

    result = relay("connectors", "delete", "shop-ff", input="y\n")
    assert result.exit_code == 0, result.all
    assert result.stdout.strip().endswith("Deleted connector shop-ff.")
    assert "shop-ff" not in signed_in.connectors
    assert (signed_in.seen[-1]["method"], signed_in.seen[-1]["path"]) == ("DELETE", "/connectors/shop-ff")

    signed_in.busy.clear()
    result = relay("--json", "connectors", "delete", "acme-st", "-y")
    assert json.loads(result.stdout) == {"connector_id": "acme-st", "deleted": True}


def test_run_now(signed_in):
    result = relay("connectors", "run", "acme-st", "--kind", "export")
    assert result.exit_code == 0, result.all
    assert signed_in.seen[-1]["body"] == {"kind": "export"}
    assert (
        result.stdout.strip()
        == "Requested a export run of acme-st at 2025-03-01T11:00:00Z: relay runs acme-st"
    )

    assert relay("connectors", "run", "acme-st").exit_code == 0
    assert signed_in.seen[-1]["body"] == {}  # the API picks the connector's first run

    result = relay("connectors", "run", "shop-ff")
    assert result.exit_code == 1 and "shop-ff is paused: start it first (HTTP 409)" in result.stderr
    result = relay("connectors", "run", "acme-st", "--kind", "bundle")
    assert result.exit_code == 1 and "kind: no bundle run" in result.stderr
    assert relay("connectors", "run", "acme-st", "--kind", "nonsense").exit_code == 2


# -------------------------------------------------------------------------------------- the rest


def test_kinds_list_and_one(signed_in):
    lines = relay("kinds").stdout.splitlines()
    assert cols(lines[0]) == ["SYSTEM", "TITLE", "CATEGORY", "SIDES", "DOCUMENTS"]
    assert cols(lines[1]) == ["servicetrade", "ServiceTrade", "field service", "source", "invoice"]
    assert cols(lines[2]) == ["flatfile", "Flat file", "file", "target", "invoice"]

    out = relay("kinds", "servicetrade").stdout
    assert re.search(r"^Connection\s+API key or user name and password$", out, re.M)
    assert re.search(r"^base_url\s+string\s+yes\s+-\s+API root$", out, re.M)
    assert re.search(r"^page_size\s+integer\s+no\s+100\s+-$", out, re.M)
    assert re.search(
        r"^credentials_secret\s+API credentials\s+client_id, client_secret \| username, password$", out, re.M
    )
    assert re.search(
        r"^servicetrade\s+flatfile\s+poll, import file and write back\s+poll, export$", out, re.M
    )
    assert relay("kinds", "nope").exit_code == 1


def test_runs_pages_and_all(signed_in):
    result = relay("runs", "acme-st", "--limit", "10")
    lines = result.stdout.splitlines()
    assert cols(lines[0]) == ["RUN", "KIND", "STATUS", "STARTED", "FINISHED", "COUNTS"]
    assert cols(lines[1]) == [
        "run-0045",
        "poll",
        "succeeded",
        "2025-03-01T10:15:00Z",
        "2025-03-01T10:15:04Z",
        "polled=12 staged=3",
    ]
    assert len(lines) == 1 + 10 + 2 and lines[-1] == "More runs: relay runs acme-st --all"
    assert signed_in.seen[-1]["args"] == {"limit": "10"}

    result = relay("--json", "runs", "acme-st", "--limit", "20", "--all")
    data = json.loads(result.stdout)
    assert [r["run_id"] for r in data["runs"]] == [f"run-{n:04d}" for n in range(45, 0, -1)]
    assert data["next"] is None
    assert [s["args"] for s in signed_in.seen[-3:]] == [
        {"limit": "20"},
        {"limit": "20", "cursor": "c20"},
        {"limit": "20", "cursor": "c40"},
    ]
    assert len(relay("runs", "acme-st", "--all").stdout.splitlines()) == 46
    assert relay("runs", "acme-st", "--limit", "101").exit_code == 2  # the API's page limit


def test_logs_of_a_run(signed_in):
    out = relay("logs", "run-0044").stdout
    assert re.search(r"^Status\s+partial$", out, re.M)
    assert re.search(r"^Reason\s+1 invoice held$", out, re.M)
    lines = out.splitlines()
    at = lines.index(next(line for line in lines if line.startswith("AT")))
    assert cols(lines[at]) == ["AT", "LEVEL", "NUMBER", "MESSAGE", "SOURCE", "DETAILS"]
    assert cols(lines[at + 1]) == [
        "2025-03-01T10:15:02Z",
        "warning",
        "1042",
        "invoice held: customer unknown",
        "st-9001",
        "customer=C-77",
    ]
    assert signed_in.seen[-1]["path"] == "/runs/run-0044"


def test_where_and_timeline(signed_in):
    lines = relay("where", "1042").stdout.splitlines()
    assert cols(lines[0]) == ["CONNECTOR", "SOURCE ID", "NUMBER", "STATE", "VERSION", "UPDATED", "REASON"]
    assert cols(lines[1]) == [
        "acme-st",
        "st-9001",
        "1042",
        "held",
        "3",
        "2025-03-01T10:15:02Z",
        "customer unknown",
    ]
    assert signed_in.seen[-1]["args"] == {"number": "1042"}
    assert relay("where", "9999").stdout.strip() == "No document numbered 9999 in any connector."

    lines = relay("timeline", "acme-st", "st-9001").stdout.splitlines()
    assert cols(lines[1])[:4] == ["acme-st", "st-9001", "1042", "held"]
    assert cols(lines[3]) == ["AT", "RUN", "KIND", "LEVEL", "NUMBER", "MESSAGE", "SOURCE", "DETAILS"]
    assert cols(lines[4])[:4] == ["2025-03-01T10:15:02Z", "run-0045", "poll", "warning"]
    assert signed_in.seen[-1]["path"] == "/connectors/acme-st/documents/st-9001"


def test_ids_are_quoted_into_the_path(signed_in):
    relay("timeline", "acme-st", "a/b c")
    assert signed_in.seen[-1]["raw"] == "/connectors/acme-st/documents/a%2Fb%20c"
    relay("logs", "../connectors")
    assert signed_in.seen[-1]["raw"] == "/runs/..%2Fconnectors"


def test_dlq_list_and_replay(signed_in):
    lines = relay("dlq", "list", "acme-st").stdout.splitlines()
    assert cols(lines[0]) == ["ID", "AT", "ATTEMPTS", "REASON", "WORK KEY", "SUMMARY"]
    assert cols(lines[1]) == [
        "dl-1",
        "2025-03-01T09:00:00Z",
        "5",
        "HTTP 500 from Sage",
        "acme-st#st-9001",
        "number=1042",
    ]

    result = relay("dlq", "replay", "acme-st", "dl-1", "dl-2")
    assert result.stdout.strip() == "Replayed 2 dead letter(s) of acme-st."
    assert signed_in.seen[-1]["body"] == {"ids": ["dl-1", "dl-2"]}
    assert (
        relay("dlq", "replay", "acme-st", "--all").stdout.strip() == "Replayed 7 dead letter(s) of acme-st."
    )
    assert signed_in.seen[-1]["body"] == {}

    count = len(signed_in.seen)
    assert relay("dlq", "replay", "acme-st").exit_code == 2
    assert relay("dlq", "replay", "acme-st", "dl-1", "--all").exit_code == 2
    assert len(signed_in.seen) == count


def test_files(signed_in):
    lines = relay("files", "acme-st").stdout.splitlines()
    assert cols(lines[0]) == ["NAME", "RUN", "CREATED", "SIZE", "DOCUMENTS", "KEY"]
    assert cols(lines[1]) == [
        "invoices-0045.csv",
        "run-0045",
        "2025-03-01T18:00:03Z",
        "2048",
        "2",
        "exports/acme-st/2025-03-01/invoices-0045.csv",
    ]
    assert "X-Amz-Signature" not in relay("files", "acme-st").stdout
    assert "X-Amz-Signature=abc" in relay("files", "acme-st", "--urls").stdout


def test_wrong_api_path_is_told(api):
    result = relay("--api", api.url + "/nowhere", "login", "-u", "alice", "--password", PASSWORD)
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: NOT FOUND (HTTP 404)"
    result = relay("--api", api.url + "/site", "login", "-u", "alice", "--password", PASSWORD)
    assert result.exit_code == 1
    assert (
        f"GET {api.url}/site/admin/config.json answered HTTP 200 without JSON: is --api right?"
        in result.stderr
    )
    assert api.cognito_calls == []
