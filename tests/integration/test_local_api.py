"""`make api` (local.runtime.api_gateway): HTTP requests become the events the template's API sends (an
HTTP API, payload format 2.0; REST API routes get the 1.0 proxy event) for the real handlers, and their
answers come back as that API maps them — signed webhooks and the OAuth routes end to end, over a socket."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import requests

from invoice_relay.pipeline import queue
from invoice_relay.pipeline.work import WorkItem
from local.runtime.api_gateway import (
    HTTP_API,
    REST_API,
    LocalApi,
    Route,
    api_routes,
    http_api_event,
    http_api_response,
    proxy_event,
    request_of,
)
from local.runtime.template import load_template
from local.scenarios.fixtures import FRESHBOOKS_ACCOUNT_ID
from local.scenarios.fixtures import SHOP_CONNECTOR_ID as DEMO_CONNECTOR_ID
from local.scenarios.fixtures import WEBHOOK_SECRET as DEMO_WEBHOOK_SECRET
from local.scenarios.sample_events import (
    freshbooks_callback,
    oauth_connect,
    post_samples,
    resign,
    sample_events,
)
from local.scenarios.stack import LocalStack


@pytest.fixture(scope="module")
def api() -> Iterator[LocalApi]:
    with LocalStack(seed_demo=False) as stack:
        queue.sqs_client.cache_clear()  # a client cached for an earlier stack points elsewhere
        stack.add_shop_connector(DEMO_CONNECTOR_ID)  # as in the demo stack: connected, callback known
        local_api = LocalApi(stack).start(port=0)
        try:
            yield local_api
        finally:
            local_api.stop()


def send(api: LocalApi, event: dict[str, Any]) -> requests.Response:
    """Send an API event's request to the local API, as its client would."""
    request = request_of(event)
    return requests.request(
        request.method,
        f"{api.url}{request.path}",
        data=request.body,
        headers=request.headers,
        allow_redirects=False,
        timeout=30,
    )


def queued(api: LocalApi) -> list[WorkItem]:
    sqs = api.stack.aws.client("sqs")
    url = api.stack.physical["DeliveryQueue"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [WorkItem.model_validate_json(m["Body"]) for m in messages]


def test_a_signed_webhook_posted_over_http_is_accepted(api: LocalApi) -> None:
    event = resign(sample_events()["webhook_shop_order_created.json"], DEMO_WEBHOOK_SECRET)

    response = send(api, event)

    assert response.status_code == 202
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"status": "accepted", "delivery_id": event["headers"]["webhook-id"]}
    (item,) = queued(api)
    assert (item.connector_id, item.event_type, item.source_id) == (
        DEMO_CONNECTOR_ID,
        "order.created",
        "ord_1001",
    )


def test_every_sample_event_is_answered_without_a_server_error(api: LocalApi) -> None:
    statuses = {
        name: send(api, resign(event, DEMO_WEBHOOK_SECRET)) for name, event in sample_events().items()
    }

    answers = {name: (r.status_code, r.json()["status"]) for name, r in statuses.items()}
    assert answers["webhook_shop_customer_updated.json"] == (202, "accepted")
    assert answers["webhook_shop_payment_captured.json"] == (202, "accepted")
    assert answers["webhook_freshbooks_payment_create.json"] == (202, "accepted")
    # FreshBooks (the sandbox) knows the demo callback: the handshake's verifier is confirmed.
    assert answers["webhook_freshbooks_callback_verify.json"] == (200, "verified")
    queued(api)


def test_the_samples_post_to_a_running_local_api(api: LocalApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert post_samples(api.url) == 0  # `python -m local.commands.sample_events --post <url>`
    answers = capsys.readouterr().out.splitlines()
    statuses = {line.split()[0]: int(line.split()[1]) for line in answers}  # "<file> <status> <body>"
    assert set(statuses) == set(sample_events()) and all(status < 500 for status in statuses.values())
    queued(api)


def test_a_stale_committed_sample_is_rejected_until_resigned(api: LocalApi) -> None:
    stale = sample_events()["webhook_shop_payment_captured.json"]  # signed at a fixed time in the past

    response = send(api, stale)

    assert response.status_code == 401
    assert "tolerance" in response.json()["reason"]


def test_the_form_encoded_freshbooks_callback_reaches_the_handler_as_its_exact_bytes(
    api: LocalApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []
    invoke = api.stack.invoke

    def spy(logical_id: str, event: dict[str, Any], **kwargs: Any) -> Any:
        seen.append(event)
        return invoke(logical_id, event, **kwargs)

    monkeypatch.setattr(api.stack, "invoke", spy)
    sample = freshbooks_callback(
        {"name": "payment.create", "object_id": "424242", "account_id": FRESHBOOKS_ACCOUNT_ID}
    )

    response = send(api, sample)

    assert (response.status_code, response.json()["status"]) == (202, "accepted")
    (event,) = seen
    # an HTTP API passes a form body in base64; the signature is over these bytes
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == request_of(sample).body
    assert event["headers"]["x-freshbooks-hmac-sha256"] == sample["headers"]["x-freshbooks-hmac-sha256"]
    assert event["routeKey"] == "POST /webhooks/{connector_id}"
    assert event["rawPath"] == f"/dev/webhooks/{DEMO_CONNECTOR_ID}"
    assert event["requestContext"]["http"]["method"] == "POST"
    queued(api)


def test_the_oauth_connect_link_redirects_to_the_partner_over_http(api: LocalApi) -> None:
    response = send(api, oauth_connect(DEMO_CONNECTOR_ID))

    assert response.status_code == 302
    assert response.headers["Location"].startswith(api.stack.freshbooks.base_url)
    assert "state=" in response.headers["Location"]


def test_the_oauth_callback_reads_the_query_string(api: LocalApi) -> None:
    base = f"{api.url}/oauth/{DEMO_CONNECTOR_ID}/callback"

    denied = requests.get(base, params={"error": "access_denied", "error_description": "no"}, timeout=30)
    incomplete = requests.get(base, params={"code": "abc"}, timeout=30)

    assert (denied.status_code, denied.json()) == (400, {"error": "authorization_denied", "reason": "no"})
    assert (incomplete.status_code, incomplete.json()["error"]) == (400, "bad_request")


def test_paths_and_methods_without_a_route_answer_like_the_http_api(api: LocalApi) -> None:
    unknown = requests.post(f"{api.url}/webhooks/{DEMO_CONNECTOR_ID}/nowhere", data=b"{}", timeout=10)
    wrong_method = requests.get(f"{api.url}/webhooks/{DEMO_CONNECTOR_ID}", timeout=10)

    for response in (unknown, wrong_method):
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found"}
    # Any other path belongs to the management API (REST, /{proxy+} behind Cognito): no token, 401.
    elsewhere = requests.post(f"{api.url}/nowhere", data=b"{}", timeout=10)
    assert (elsewhere.status_code, elsewhere.json()) == (401, {"message": "Unauthorized"})


def test_a_handler_that_raises_is_a_500(api: LocalApi, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the handler crashed")

    monkeypatch.setattr(api.stack, "invoke", crash)

    response = send(api, resign(sample_events()["webhook_shop_order_created.json"], DEMO_WEBHOOK_SECRET))

    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}


def test_routes_come_from_the_template() -> None:
    routes = {(r.method, r.resource): (r.logical_id, r.api) for r in api_routes(load_template())}

    assert routes[("POST", "/webhooks/{connector_id}")] == ("WebhookFunction", HTTP_API)
    assert routes[("GET", "/oauth/{connector_id}/connect")] == ("OAuthFunction", HTTP_API)
    assert routes[("GET", "/oauth/{connector_id}/callback")] == ("OAuthFunction", HTTP_API)


def test_http_api_routes_other_than_payload_2_0_with_a_path_are_refused() -> None:
    def template(properties: dict[str, Any]) -> dict[str, Any]:
        event = {"Type": "HttpApi", "Properties": properties}
        function = {"Type": "AWS::Serverless::Function", "Properties": {"Events": {"E": event}}}
        return {"Resources": {"Fn": function}}

    with pytest.raises(ValueError, match=r"payload format 2\.0"):
        api_routes(template({"Path": "/x", "Method": "get", "PayloadFormatVersion": "1.0"}))
    with pytest.raises(ValueError, match="with a Path"):
        api_routes(template({}))  # the $default route
    assert api_routes(template({"Path": "/x"})) == [Route("Fn", "ANY", "/x", HTTP_API)]


def test_http_api_event_has_the_payload_2_0_shape() -> None:
    event = http_api_event(
        method="post",
        resource="/webhooks/{connector_id}",
        path="/webhooks/demo-shop",
        headers=[
            ("Host", "abc123defg.execute-api.us-east-1.amazonaws.com"),
            ("Content-Type", "application/octet-stream"),
            ("X-Multi", "a"),
            ("x-multi", "b"),
            ("Cookie", "a=1; b=2"),
            ("User-Agent", "curl/8"),
        ],
        query=[("q", "1"), ("q", "2"), ("r", "x y")],
        path_parameters={"connector_id": "demo-shop"},
        body=b"\x00\xffbinary",
        source_ip="198.51.100.7",
    )

    assert (event["version"], event["routeKey"]) == ("2.0", "POST /webhooks/{connector_id}")
    assert event["rawPath"] == "/dev/webhooks/demo-shop"  # the stage is in the execute-api path
    assert event["rawQueryString"] == "q=1&q=2&r=x+y"
    assert event["queryStringParameters"] == {"q": "1,2", "r": "x y"}
    assert event["headers"]["x-multi"] == "a,b" and "X-Multi" not in event["headers"]
    assert event["cookies"] == ["a=1", "b=2"] and "cookie" not in event["headers"]
    assert event["pathParameters"] == {"connector_id": "demo-shop"}
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\x00\xffbinary"
    context = event["requestContext"]
    assert context["http"] == {
        "method": "POST",
        "path": "/dev/webhooks/demo-shop",
        "protocol": "HTTP/1.1",
        "sourceIp": "198.51.100.7",
        "userAgent": "curl/8",
    }
    assert (context["stage"], context["routeKey"], context["apiId"]) == (
        "dev",
        "POST /webhooks/{connector_id}",
        "abc123defg",
    )
    assert context["requestId"] and context["timeEpoch"] > 0 and context["time"].endswith("+0000")
    assert "multiValueHeaders" not in event and "httpMethod" not in event


@pytest.mark.parametrize(
    ("content_type", "as_text"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("text/plain", True),
        ("application/xml", True),
        ("application/javascript", True),
        ("application/x-www-form-urlencoded", False),  # unlike a REST API
        ("application/vnd.api+json", False),
        ("application/octet-stream", False),
        (None, False),
    ],
)
def test_http_api_passes_only_text_types_as_text(content_type: str | None, as_text: bool) -> None:
    headers = [("Content-Type", content_type)] if content_type else []
    event = http_api_event(method="POST", resource="/r", path="/r", headers=headers, body=b"a=1&b=2")

    assert event["isBase64Encoded"] is not as_text
    assert event["body"] == ("a=1&b=2" if as_text else base64.b64encode(b"a=1&b=2").decode())


def test_http_api_event_leaves_out_what_the_request_does_not_have() -> None:
    event = http_api_event(method="GET", resource="/r", path="/r", stage="$default")

    assert event["rawPath"] == "/r" and event["rawQueryString"] == ""
    assert event["isBase64Encoded"] is False
    assert not {"body", "cookies", "queryStringParameters", "pathParameters"} & event.keys()
    invalid_utf8 = http_api_event(
        method="POST", resource="/r", path="/r", body=b"\xff", content_type="application/json"
    )
    assert invalid_utf8["isBase64Encoded"] is True  # the bytes stay exact


def test_http_api_response_maps_the_answer_like_api_gateway() -> None:
    answer = http_api_response(
        {
            "statusCode": 302,
            "headers": {"Location": "https://example.com/consent", "X-Two": "a, b"},
            "cookies": ["s=1; Secure", "t=2"],
            "body": "",
        }
    )
    binary = http_api_response(
        {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}
    )
    inferred = http_api_response({"status": "ok"})  # no statusCode: 200, JSON
    text = http_api_response("Hello from Lambda!")
    nonsense = http_api_response({"statusCode": "two hundred"})

    assert answer.status_code == 302 and answer.headers["Location"] == "https://example.com/consent"
    assert answer.headers["X-Two"] == "a, b"
    assert answer.headers.getlist("Set-Cookie") == ["s=1; Secure", "t=2"]
    assert (binary.status_code, binary.get_data()) == (200, b"\x00\x01")
    assert (inferred.status_code, inferred.content_type, json.loads(inferred.get_data())) == (
        200,
        "application/json",
        {"status": "ok"},
    )
    assert (text.status_code, text.get_data()) == (200, b"Hello from Lambda!")
    assert nonsense.status_code == 500 and json.loads(nonsense.get_data()) == {
        "message": "Internal Server Error"
    }


def test_request_of_gives_back_the_clients_request() -> None:
    v2 = http_api_event(
        method="POST",
        resource="/webhooks/{connector_id}",
        path="/webhooks/x",
        headers=[("Host", "h"), ("Content-Length", "3"), ("Content-Type", "text/plain"), ("Cookie", "a=1")],
        query=[("q", "1")],
        body=b"abc",
    )
    rest = proxy_event(method="GET", resource="/r", path="/r", query=[("q", "1"), ("q", "2")])

    assert request_of(v2) == (
        "POST",
        "/webhooks/x?q=1",
        {"content-type": "text/plain", "cookie": "a=1"},
        b"abc",
    )
    assert request_of(rest) == ("GET", "/r?q=1&q=2", {}, b"")


class _RestStack:
    """A local platform whose template has one REST API route (what issue 10's management API will be)."""

    template: ClassVar[dict[str, Any]] = {
        "Resources": {
            "ManageFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Events": {
                        "Get": {"Type": "Api", "Properties": {"Path": "/manage/{id}", "Method": "get"}}
                    }
                },
            }
        }
    }

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, logical_id: str, event: dict[str, Any], **kwargs: Any) -> Any:
        self.events.append(event)
        if event["pathParameters"]["id"] == "crash":
            raise RuntimeError("crashed")
        return {"statusCode": 200, "multiValueHeaders": {"X-A": ["1", "2"]}, "body": '{"ok": true}'}


def test_rest_api_routes_still_get_the_proxy_event_and_rest_answers() -> None:
    stack = _RestStack()
    local_api = LocalApi(stack, log_requests=False).start(port=0)
    try:
        ok = requests.get(f"{local_api.url}/manage/7?q=1", timeout=10)
        crash = requests.get(f"{local_api.url}/manage/crash", timeout=10)
        unknown = requests.get(f"{local_api.url}/manage/7/nowhere", timeout=10)
    finally:
        local_api.stop()

    assert local_api.routes == [Route("ManageFunction", "GET", "/manage/{id}", REST_API)]
    assert (ok.status_code, ok.json(), ok.headers["X-A"]) == (200, {"ok": True}, "1, 2")
    event = stack.events[0]
    assert (event["httpMethod"], event["resource"], event["path"]) == ("GET", "/manage/{id}", "/manage/7")
    assert event["multiValueQueryStringParameters"] == {"q": ["1"]} and "version" not in event
    assert (crash.status_code, crash.json()) == (502, {"message": "Internal server error"})
    assert (unknown.status_code, unknown.json()) == (403, {"message": "Missing Authentication Token"})


def test_proxy_event_has_the_rest_api_shape() -> None:
    event = proxy_event(
        method="post",
        resource="/webhooks/{connector_id}",
        path="/webhooks/demo-shop",
        headers=[("Content-Type", "application/octet-stream"), ("X-Multi", "a"), ("X-Multi", "b")],
        query=[("q", "1"), ("q", "2")],
        path_parameters={"connector_id": "demo-shop"},
        body=b"\x00\xffbinary",
        content_type="application/octet-stream",
        source_ip="198.51.100.7",
    )

    assert event["httpMethod"] == "POST"
    assert event["headers"]["X-Multi"] == "b" and event["multiValueHeaders"]["X-Multi"] == ["a", "b"]
    assert event["queryStringParameters"] == {"q": "2"}
    assert event["multiValueQueryStringParameters"] == {"q": ["1", "2"]}
    assert event["pathParameters"] == {"connector_id": "demo-shop"}
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\x00\xffbinary"
    context = event["requestContext"]
    assert context["stage"] == "dev" and context["path"] == "/dev/webhooks/demo-shop"
    assert context["identity"]["sourceIp"] == "198.51.100.7" and context["requestId"]
    text = proxy_event(
        method="POST", resource="/r", path="/r", body=b'{"a": 1}', content_type="application/json"
    )
    assert (text["body"], text["isBase64Encoded"]) == ('{"a": 1}', False)
    assert json.loads(text["body"]) == {"a": 1}
