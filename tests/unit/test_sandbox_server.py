"""local.sandboxes.base: the plumbing every sandbox partner API shares."""

from __future__ import annotations

import pytest
import requests
from flask import jsonify, request

from local.sandboxes.base import REDACTED, SandboxServer


class EchoSandbox(SandboxServer):
    name = "echo"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.app.add_url_rule("/api/echo", view_func=self._echo, methods=["GET", "POST"])

    def _echo(self):
        return jsonify({"method": request.method, "args": request.args.to_dict()})

    def error_body(self, status, message):
        return {"problem": {"status": status, "text": message}}


@pytest.fixture
def sandbox():
    with EchoSandbox() as server:
        yield server


def test_lifecycle():
    server = EchoSandbox()
    with pytest.raises(RuntimeError, match="not running"):
        server.base_url  # noqa: B018
    with server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert requests.get(f"{server.base_url}/api/echo", timeout=5).status_code == 200
        url = server.base_url
    assert not server.running
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/api/echo", timeout=1)
    server.stop()  # idempotent


def test_faults_from_python_in_order_then_gone(sandbox):
    sandbox.inject_fault(method="GET", path="/api/echo", status=503, times=2)
    sandbox.inject_fault(method="*", path="/api/.*", status=429, retry_after=7, body={"slow": "down"})
    first, second, third, fourth = (requests.get(f"{sandbox.base_url}/api/echo", timeout=5) for _ in range(4))
    assert (first.status_code, second.status_code) == (503, 503)
    assert first.json() == {"problem": {"status": 503, "text": "Injected fault: HTTP 503"}}  # partner's shape
    assert (third.status_code, third.headers["Retry-After"], third.json()) == (429, "7", {"slow": "down"})
    assert fourth.status_code == 200
    assert sandbox.faults == []
    assert [r.get("fault") for r in sandbox.requests] == [503, 503, 429, None]


def test_fault_matches_method_whole_path_and_query(sandbox):
    sandbox.inject_fault(method="POST", path="/api/echo", status=500)
    sandbox.inject_fault(method="GET", path="/api", status=500)
    sandbox.inject_fault(method="GET", path="/api/echo", query={"page": "2"}, status=500)
    assert requests.get(f"{sandbox.base_url}/api/echo", params={"page": 1}, timeout=5).status_code == 200
    assert requests.get(f"{sandbox.base_url}/api/echo", params={"page": 2}, timeout=5).status_code == 500
    assert len(sandbox.faults) == 2


def test_faults_over_http(sandbox):
    control = f"{sandbox.base_url}/_sandbox/faults"
    created = requests.post(control, json=[{"method": "get", "path": "/api/echo", "status": 502}], timeout=5)
    assert created.status_code == 201
    assert requests.get(control, timeout=5).json()["faults"][0]["method"] == "GET"
    assert requests.get(f"{sandbox.base_url}/api/echo", timeout=5).status_code == 502
    requests.post(control, json={"status": 500, "times": 3}, timeout=5)
    assert requests.delete(control, timeout=5).status_code == 204
    assert requests.get(f"{sandbox.base_url}/api/echo", timeout=5).status_code == 200
    bad = requests.post(control, json={"status": 500, "colour": "red"}, timeout=5)
    assert bad.status_code == 400 and "colour" in bad.json()["problem"]["text"]
    assert requests.post(control, json={"path": "/x"}, timeout=5).status_code == 400  # no status, no delay


def test_request_log_redacts_credentials(sandbox):
    requests.post(
        f"{sandbox.base_url}/api/echo?page=3",
        json={"username": "bob", "password": "hunter2", "nested": {"client_secret": "x"}},
        headers={"Authorization": "Bearer abc", "Cookie": "PHPSESSID=def"},
        timeout=5,
    )
    requests.get(f"{sandbox.base_url}/_sandbox/requests", timeout=5)  # control calls are not logged
    [entry] = sandbox.requests
    assert (entry["method"], entry["path"], entry["query"], entry["status"]) == (
        "POST",
        "/api/echo",
        {"page": "3"},
        200,
    )
    assert entry["json"] == {"username": "bob", "password": REDACTED, "nested": {"client_secret": REDACTED}}
    assert entry["headers"]["Authorization"] == REDACTED and entry["headers"]["Cookie"] == REDACTED
    over_http = requests.get(f"{sandbox.base_url}/_sandbox/requests", timeout=5).json()["requests"]
    assert over_http == [entry]
    assert "hunter2" not in str(over_http) and "def" not in entry["headers"]["Cookie"]
    assert sandbox.find_requests("post", r"/api/.*") == [entry]
    assert requests.delete(f"{sandbox.base_url}/_sandbox/requests", timeout=5).status_code == 204
    assert sandbox.requests == []


def test_rate_limit(sandbox):
    sandbox.set_rate_limit(3)
    codes = [requests.get(f"{sandbox.base_url}/api/echo", timeout=5) for _ in range(5)]
    assert [r.status_code for r in codes] == [200, 200, 200, 429, 429]
    assert codes[3].headers["Retry-After"] == "1"
    assert sandbox.requests[3]["rate_limited"] is True
    assert requests.post(f"{sandbox.base_url}/_sandbox/rate-limit", json={"per_second": None}, timeout=5).ok
    assert requests.get(f"{sandbox.base_url}/api/echo", timeout=5).status_code == 200


def test_unknown_routes_answer_in_the_partners_shape(sandbox):
    response = requests.get(f"{sandbox.base_url}/api/nothing", timeout=5)
    assert response.status_code == 404 and response.json()["problem"]["status"] == 404
    not_allowed = requests.delete(f"{sandbox.base_url}/api/echo", timeout=5)
    assert not_allowed.status_code == 405 and "GET" in not_allowed.headers["Allow"]
