"""`make api` (local.runtime.api_gateway): HTTP requests become API Gateway proxy events for the real
handlers, and their proxy responses come back as HTTP — signed webhooks end to end, over a socket."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from invoice_relay.pipeline import queue
from invoice_relay.pipeline.work import WorkItem
from local.runtime.api_gateway import LocalApi, api_routes, proxy_event
from local.runtime.template import load_template
from local.scenarios.fixtures import SHOP_CONNECTOR_ID as DEMO_CONNECTOR_ID
from local.scenarios.fixtures import WEBHOOK_SECRET as DEMO_WEBHOOK_SECRET
from local.scenarios.sample_events import resign, sample_events
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
    """POST a proxy event's request to the local API, as its sender would."""
    body = event["body"] or ""
    data = base64.b64decode(body) if event["isBase64Encoded"] else body.encode()
    headers = {k: v for k, v in event["headers"].items() if k.lower() != "host"}
    return requests.post(f"{api.url}{event['path']}", data=data, headers=headers, timeout=30)


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


def test_a_stale_committed_sample_is_rejected_until_resigned(api: LocalApi) -> None:
    stale = sample_events()["webhook_shop_payment_captured.json"]  # signed at a fixed time in the past

    response = send(api, stale)

    assert response.status_code == 401
    assert "tolerance" in response.json()["reason"]


def test_paths_and_methods_without_a_route_answer_like_api_gateway(api: LocalApi) -> None:
    unknown = requests.post(f"{api.url}/nowhere", data=b"{}", timeout=10)
    wrong_method = requests.get(f"{api.url}/webhooks/{DEMO_CONNECTOR_ID}", timeout=10)

    for response in (unknown, wrong_method):
        assert response.status_code == 403
        assert response.json() == {"message": "Missing Authentication Token"}


def test_a_handler_that_raises_is_a_502(api: LocalApi, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the handler crashed")

    monkeypatch.setattr(api.stack, "invoke", crash)

    response = send(api, resign(sample_events()["webhook_shop_order_created.json"], DEMO_WEBHOOK_SECRET))

    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}


def test_routes_come_from_the_template() -> None:
    routes = {(r.method, r.resource): r.logical_id for r in api_routes(load_template())}

    assert routes[("POST", "/webhooks/{connector_id}")] == "WebhookFunction"
    assert routes[("GET", "/oauth/{connector_id}/connect")] == "OAuthFunction"
    assert routes[("GET", "/oauth/{connector_id}/callback")] == "OAuthFunction"


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
