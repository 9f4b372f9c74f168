"""The management API through its real handler on the local stack (embedded AWS from template.yaml, the
ServiceTrade sandbox): every route, the two roles, bad input, state conflicts, credentials never echoed,
the schedules in the embedded EventBridge Scheduler, auto-pause, held work released on start and dead
letters replayed exactly once.

Requests are the REST proxy events API Gateway sends after its Cognito authorizer accepted the token
(`requestContext.authorizer.claims`); the authorizer itself is tested with real tokens in
test_management_api_e2e.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.runtime.api_gateway import proxy_event
from local.scenarios.stack import LocalStack

ADMIN = {"cognito:username": "alice", "cognito:groups": "admins"}
VIEWER = {"cognito:username": "victor", "cognito:groups": "viewers"}
NOBODY = {"cognito:username": "mallory"}
SECRET_VALUE = "s3cr3t-value-never-shown"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(seed_demo=False) as local:
        local.servicetrade.seed_demo_data(count=12, vendor_bills=0, external_invoices=0)
        # "Run now" invokes asynchronously: the local Lambda service runs it (no scheduler, no queue pump:
        # the tests drive those themselves).
        local.start_background(schedules=False, delivery_queue=False, log=False)
        yield local


def call(
    stack: LocalStack,
    method: str,
    path: str,
    body: Any = None,
    *,
    claims: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> tuple[int, Any]:
    event = proxy_event(
        method=method,
        resource="/{proxy+}",
        path=path,
        path_parameters={"proxy": path.lstrip("/")},
        query=list((query or {}).items()),
        headers=[("Content-Type", "application/json")] if body is not None else [],
        body=json.dumps(body) if body is not None else None,
        content_type="application/json" if body is not None else None,
        authorizer={"claims": claims if claims is not None else ADMIN},
    )
    answer = stack.invoke("ManagementApiFunction", event)
    text = answer.get("body") or ""
    return answer["statusCode"], (json.loads(text) if text and text[0] in "{[" else text)


def servicetrade_connector(stack: LocalStack, connector_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "connector_id": connector_id,
        "name": f"Acme ServiceTrade {connector_id}",
        "source": {"system": "servicetrade", "base_url": stack.servicetrade.base_url, "page_size": 5},
        "target": {"system": "flatfile", "template": "generic_csv"},
        "schedules": {"poll": "rate(15 minutes)", "export": "cron(0 18 * * ? *)"},
        "timezone": "Europe/London",
        "credentials": {"source": {"credentials_secret": stack.servicetrade.client_credentials()}},
        **extra,
    }


def schedules_of(stack: LocalStack, connector_id: str) -> dict[str, dict[str, Any]]:
    client = boto3.client("scheduler")
    found = {}
    for summary in client.list_schedules(GroupName="invoice-relay-dev").get("Schedules", []):
        if summary["Name"].startswith(f"{connector_id}--"):
            found[summary["Name"]] = client.get_schedule(Name=summary["Name"], GroupName="invoice-relay-dev")
    return found


# -- kinds and roles -------------------------------------------------------------------------------------


def test_kinds_come_from_the_registry_with_secrets_apart(stack: LocalStack) -> None:
    status, body = call(stack, "GET", "/kinds", claims=VIEWER)
    assert status == 200
    kinds = {kind["system"]: kind for kind in body["kinds"]}
    assert {"servicetrade", "flatfile", "shop", "freshbooks", "clearnox", "dropzone"} <= set(kinds)
    source = kinds["servicetrade"]["sides"]["source"]
    assert "credentials_secret" not in source["schema"]["properties"]
    assert source["secrets"][0]["keys"] == ["client_id", "client_secret"]
    assert {
        "source": "servicetrade",
        "target": "flatfile",
        "flow": "poll, import file and write back",
        "runs": ["poll", "export"],
    } in kinds["servicetrade"]["pairs"]
    status, one = call(stack, "GET", "/kinds/flatfile", claims=VIEWER)
    assert status == 200 and one["system"] == "flatfile"
    assert call(stack, "GET", "/kinds/nope", claims=VIEWER)[0] == 404


def test_me_and_roles(stack: LocalStack) -> None:
    assert call(stack, "GET", "/me")[1] == {"username": "alice", "groups": ["admins"], "role": "admin"}
    assert call(stack, "GET", "/me", claims=VIEWER)[1]["role"] == "viewer"
    status, body = call(stack, "GET", "/connectors", claims=NOBODY)
    assert status == 403 and "neither" in body["message"]


def test_viewers_change_nothing(stack: LocalStack) -> None:
    status, body = call(
        stack, "POST", "/connectors", servicetrade_connector(stack, "viewer-try"), claims=VIEWER
    )
    assert status == 403 and "admins" in body["message"]
    for method, path in (
        ("POST", "/connectors/any/start"),
        ("POST", "/connectors/any/pause"),
        ("POST", "/connectors/any/runs"),
        ("DELETE", "/connectors/any"),
        ("POST", "/connectors/any/dead-letters/replay"),
    ):
        assert call(stack, method, path, {} if method == "POST" else None, claims=VIEWER)[0] == 403, path
    assert call(stack, "GET", "/connectors/viewer-try")[0] == 404


# -- create, read, update ----------------------------------------------------------------------------------


def test_create_stores_credentials_write_only_and_schedules_disabled(stack: LocalStack) -> None:
    status, body = call(stack, "POST", "/connectors", servicetrade_connector(stack, "acme-create"))
    assert status == 201, body
    assert body["status"] == "paused" and body["paused_reason"] == "created by alice"
    secret = body["source"]["credentials_secret"]
    assert secret == "invoice-relay/dev/connectors/acme-create/source/credentials_secret"
    assert body["credentials"] == [
        {"side": "source", "field": "credentials_secret", "stored": True, "written_by": None}
    ]
    stored = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"])
    assert stored == stack.servicetrade.client_credentials()
    assert stack.servicetrade.client_credentials()["client_secret"] not in json.dumps(body)
    assert {(s["run"], s["state"], s["timezone"]) for s in body["schedules"]} == {
        ("poll", "DISABLED", "Europe/London"),
        ("export", "DISABLED", "Europe/London"),
    }
    schedules = schedules_of(stack, "acme-create")
    assert set(schedules) == {"acme-create--poll", "acme-create--export"}
    poll = schedules["acme-create--poll"]
    assert poll["ScheduleExpression"] == "rate(15 minutes)" and poll["State"] == "DISABLED"
    assert json.loads(poll["Target"]["Input"]) == {"connector_id": "acme-create"}
    assert poll["Target"]["Arn"].endswith("invoice-relay-dev-poll")
    listed = call(stack, "GET", "/connectors", claims=VIEWER)[1]["connectors"]
    assert "acme-create" in [c["connector_id"] for c in listed]
    # the same id again: a conflict, and nothing changed
    status, body = call(stack, "POST", "/connectors", servicetrade_connector(stack, "acme-create"))
    assert status == 409 and "exists" in body["message"]


def test_bad_input_names_each_field(stack: LocalStack) -> None:
    request = servicetrade_connector(stack, "acme-bad")
    request["source"] = {**request["source"], "base_url": "ftp://nope", "page_size": 0}
    request["schedules"] = {"poll": "every day"}
    request["timezone"] = "Mars/Olympus"
    request["credentials"] = {"source": {"credentials_secret": {"client_id": SECRET_VALUE}}}
    status, body = call(stack, "POST", "/connectors", request)
    assert status == 400
    fields = {e["field"] for e in body["errors"]}
    assert {"source.base_url", "source.page_size", "credentials.source.credentials_secret"} <= fields
    assert SECRET_VALUE not in json.dumps(body)
    # once the sides are right, the schedule and time zone are checked too
    request = servicetrade_connector(stack, "acme-bad", timezone="Mars/Olympus")
    request["schedules"] = {"poll": "every day"}
    status, body = call(stack, "POST", "/connectors", request)
    assert status == 400 and {e["field"] for e in body["errors"]} == {"schedules.poll", "timezone"}
    # a pairing that cannot work, a bad id, a body that is not JSON
    status, body = call(
        stack,
        "POST",
        "/connectors",
        {
            **servicetrade_connector(stack, "acme-bad"),
            "target": {"system": "clearnox", "base_url": "http://x"},
        },
    )
    assert status == 400 and "cannot work" in body["message"]
    status, body = call(
        stack, "POST", "/connectors", {**servicetrade_connector(stack, "x"), "connector_id": "No Good"}
    )
    assert status == 400 and body["errors"][0]["field"] == "connector_id"
    assert call(stack, "GET", "/connectors/acme-bad")[0] == 404


def test_update_keeps_status_and_credentials(stack: LocalStack) -> None:
    call(stack, "POST", "/connectors", servicetrade_connector(stack, "acme-update"))
    change = servicetrade_connector(stack, "acme-update")
    del change["connector_id"], change["credentials"]
    change["schedules"] = {"poll": "rate(5 minutes)"}
    status, body = call(stack, "PUT", "/connectors/acme-update", change)
    assert status == 200, body
    assert body["status"] == "paused" and body["credentials"][0]["stored"] is True
    assert schedules_of(stack, "acme-update")["acme-update--poll"]["ScheduleExpression"] == "rate(5 minutes)"
    assert call(stack, "PUT", "/connectors/nope", change)[0] == 404


# -- start, pause, run now, delete -------------------------------------------------------------------------


def test_lifecycle_start_run_now_pause_delete(stack: LocalStack) -> None:
    call(stack, "POST", "/connectors", servicetrade_connector(stack, "acme-life"))
    status, body = call(stack, "POST", "/connectors/acme-life/runs", {"kind": "poll"})
    assert status == 409 and "paused" in body["message"]

    status, body = call(stack, "POST", "/connectors/acme-life/start")
    assert status == 200 and body["status"] == "active" and body["paused_reason"] is None
    assert {s["State"] for s in schedules_of(stack, "acme-life").values()} == {"ENABLED"}

    status, body = call(stack, "POST", "/connectors/acme-life/runs", {"kind": "bundle"})
    assert status == 400 and body["errors"][0]["field"] == "kind"
    status, requested = call(stack, "POST", "/connectors/acme-life/runs", {"kind": "poll"})
    assert status == 202 and requested["kind"] == "poll" and requested["function"].endswith("-poll")

    # The asynchronous invoke reached the poll function (the local Lambda service runs it)
    assert stack.lambda_service is not None and stack.lambda_service.wait_idle(60)
    runs = call(stack, "GET", "/connectors/acme-life/runs", claims=VIEWER)[1]["runs"]
    assert runs and runs[0]["kind"] == "poll" and runs[0]["status"] == "succeeded"

    # While a run holds the lease: run now and delete are conflicts
    from invoice_relay.storage.state import Leases
    from invoice_relay.storage.table import state_table

    with Leases(state_table(stack.table_name)).hold("acme-life", "export", 60):
        assert call(stack, "POST", "/connectors/acme-life/runs", {"kind": "export"})[0] == 409
        status, body = call(stack, "DELETE", "/connectors/acme-life")
        assert status == 409 and "in progress" in body["message"]

    status, body = call(stack, "POST", "/connectors/acme-life/pause")
    assert status == 200 and body["status"] == "paused" and body["paused_reason"] == "paused by alice"
    assert {s["State"] for s in schedules_of(stack, "acme-life").values()} == {"DISABLED"}

    secret = body["source"]["credentials_secret"]
    status, _ = call(stack, "DELETE", "/connectors/acme-life")
    assert status == 204
    assert schedules_of(stack, "acme-life") == {}
    assert "DeletedDate" in boto3.client("secretsmanager").describe_secret(SecretId=secret)
    assert call(stack, "GET", "/connectors/acme-life")[0] == 404
    # its history stays until its TTL
    assert call(stack, "GET", f"/runs/{runs[0]['run_id']}", claims=VIEWER)[0] == 200


# -- runs, logs, documents, files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def worked(stack: LocalStack) -> str:
    """A started connector that polled twice (pages of 5) and exported once."""
    call(stack, "POST", "/connectors", servicetrade_connector(stack, "acme-work"))
    call(stack, "POST", "/connectors/acme-work/start")
    for _ in range(2):
        assert stack.invoke("PollFunction", {"connector_id": "acme-work"})["status"] == "succeeded"
    health = call(stack, "GET", "/connectors/acme-work", claims=VIEWER)[1]["health"]
    # 12 invoices, two of them broken on purpose (failed and written back at once): 10 wait for the export
    assert health["documents_waiting"] == 10 and health["failing_streak"] == 0
    assert stack.invoke("ExportFunction", {"connector_id": "acme-work"})["status"] == "succeeded"
    health = call(stack, "GET", "/connectors/acme-work", claims=VIEWER)[1]["health"]
    assert health["documents_waiting"] == 0 and health["last_run"]["kind"] == "export"
    return "acme-work"


def test_runs_are_paged_newest_first(stack: LocalStack, worked: str) -> None:
    status, first = call(stack, "GET", f"/connectors/{worked}/runs", claims=VIEWER, query={"limit": "2"})
    assert status == 200 and len(first["runs"]) == 2 and first["next"]
    assert first["runs"][0]["kind"] == "export" and first["runs"][0]["export_file"]
    status, second = call(
        stack,
        "GET",
        f"/connectors/{worked}/runs",
        claims=VIEWER,
        query={"limit": "2", "cursor": first["next"]},
    )
    assert status == 200 and [r["kind"] for r in second["runs"]] == ["poll"]
    assert second["next"] is None
    seen = [r["run_id"] for r in first["runs"] + second["runs"]]
    assert len(set(seen)) == 3
    assert call(stack, "GET", f"/connectors/{worked}/runs", query={"limit": "0"})[0] == 400
    assert call(stack, "GET", f"/connectors/{worked}/runs", query={"cursor": "garbage!"})[0] == 400
    assert call(stack, "GET", "/connectors/nope/runs")[0] == 404


def test_run_log_and_document_timeline_and_number_search(stack: LocalStack, worked: str) -> None:
    runs = call(stack, "GET", f"/connectors/{worked}/runs", claims=VIEWER)[1]["runs"]
    poll = runs[-1]
    status, log = call(stack, "GET", f"/runs/{poll['run_id']}", claims=VIEWER)
    assert status == 200 and log["run"]["run_id"] == poll["run_id"]
    assert any("poll run" in e["message"] for e in log["events"])
    assert call(stack, "GET", "/runs/nope", claims=VIEWER)[0] == 404

    invoice = stack.servicetrade.invoices()[0]
    number = str(invoice["invoiceNumber"])
    status, found = call(stack, "GET", "/documents", claims=VIEWER, query={"number": number})
    assert status == 200
    match = [d for d in found["documents"] if d["connector_id"] == worked]
    assert len(match) == 1 and match[0]["state"] == "done"
    status, timeline = call(
        stack, "GET", f"/connectors/{worked}/documents/{match[0]['source_id']}", claims=VIEWER
    )
    assert status == 200 and timeline["document"]["number"] == number
    messages = [e["message"] for e in timeline["events"]]
    assert any("staged" in m for m in messages) and any("import file" in m for m in messages)
    assert call(stack, "GET", "/documents", claims=VIEWER)[0] == 400  # number is required
    assert call(stack, "GET", f"/connectors/{worked}/documents/nope", claims=VIEWER)[0] == 404


def test_import_files_with_fresh_download_links(stack: LocalStack, worked: str) -> None:
    import requests

    status, body = call(stack, "GET", f"/connectors/{worked}/files", claims=VIEWER)
    assert status == 200 and len(body["files"]) == 1
    file = body["files"][0]
    assert file["name"].endswith(".csv") and file["size"] > 0 and file["run_id"]
    download = requests.get(file["download_url"], timeout=10)
    assert download.status_code == 200 and len(download.content) == file["size"]


# -- health, auto-pause, held work, dead letters -------------------------------------------------------------


def test_connector_health_and_auto_pause_after_failures(stack: LocalStack) -> None:
    request = servicetrade_connector(stack, "acme-failing", failure_limit=2)
    request["credentials"] = {
        "source": {"credentials_secret": {"client_id": "wrong", "client_secret": "wrong"}}
    }
    call(stack, "POST", "/connectors", request)
    call(stack, "POST", "/connectors/acme-failing/start")
    first = stack.invoke("PollFunction", {"connector_id": "acme-failing"})
    assert first["status"] == "failed" and first["error_kind"] == "connector"
    body = call(stack, "GET", "/connectors/acme-failing", claims=VIEWER)[1]
    assert body["status"] == "active" and body["health"]["failing_streak"] == 1
    assert body["health"]["last_run"]["status"] == "failed"

    second = stack.invoke("PollFunction", {"connector_id": "acme-failing"})
    assert second["status"] == "failed"
    body = call(stack, "GET", "/connectors/acme-failing", claims=VIEWER)[1]
    assert body["status"] == "paused" and body["paused_reason"].startswith("auto-paused after 2 failed runs")
    assert {s["state"] for s in body["schedules"]} == {"DISABLED"}
    log = call(stack, "GET", f"/runs/{second['run_id']}", claims=VIEWER)[1]
    assert any("auto-paused" in e["message"] for e in log["events"])
    # a paused connector's scheduled runs do nothing
    assert stack.invoke("PollFunction", {"connector_id": "acme-failing"})["status"] == "skipped"

    # fixed credentials + start: the streak is cleared and the runs work again
    change = servicetrade_connector(stack, "acme-failing", failure_limit=2)
    del change["connector_id"]
    assert call(stack, "PUT", "/connectors/acme-failing", change)[0] == 200
    body = call(stack, "POST", "/connectors/acme-failing/start")[1]
    assert body["status"] == "active" and body["health"]["failing_streak"] == 0
    assert stack.invoke("PollFunction", {"connector_id": "acme-failing"})["status"] == "succeeded"
    body = call(stack, "GET", "/connectors/acme-failing", claims=VIEWER)[1]
    assert body["health"]["last_success_at"]


def work_item(connector_id: str, source_id: str) -> dict[str, Any]:
    """A polled document's delivery work, as a poll enqueues it."""
    return {
        "connector_id": connector_id,
        "source_system": "servicetrade",
        "event_type": "document.ready",
        "source_id": source_id,
        "version": "1",
        "payload": {},
        "received_at": "2026-12-02T08:00:00Z",
    }


def _queue_work(stack: LocalStack, connector_id: str, source_id: str) -> None:
    body = json.dumps(work_item(connector_id, source_id))
    boto3.client("sqs").send_message(QueueUrl=stack.delivery_queue_url, MessageBody=body)


def test_paused_connector_holds_work_and_start_releases_it(stack: LocalStack) -> None:
    from invoice_relay.storage.held import HeldWork
    from invoice_relay.storage.table import state_table

    call(stack, "POST", "/connectors", servicetrade_connector(stack, "acme-held"))
    _queue_work(stack, "acme-held", "held-1")
    stack.drain_delivery_queue()
    held = HeldWork(state_table(stack.table_name))
    assert held.count("acme-held") == 1
    assert call(stack, "GET", "/connectors/acme-held", claims=VIEWER)[1]["health"]["held"] == 1
    call(stack, "POST", "/connectors/acme-held/start")
    assert held.count("acme-held") == 0
    sqs = boto3.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=stack.delivery_queue_url, AttributeNames=["All"])
    assert int(attributes["Attributes"]["ApproximateNumberOfMessages"]) == 1  # back on the queue
    stack.drain_delivery_queue()


def test_dead_letters_listed_and_replayed_once(stack: LocalStack) -> None:
    call(stack, "POST", "/connectors", servicetrade_connector(stack, "acme-dead"))
    sqs = boto3.client("sqs")
    dlq = stack.physical["DeliveryDeadLetterQueue"]
    one = _dead(sqs, dlq, "acme-dead", "dead-1")
    _dead(sqs, dlq, "acme-dead", "dead-2")
    _dead(sqs, dlq, "other-connector", "dead-3")
    status, body = call(stack, "GET", "/connectors/acme-dead/dead-letters", claims=VIEWER)
    assert status == 200 and len(body["items"]) == 2
    assert {i["summary"] for i in body["items"]} == {"document.ready dead-1", "document.ready dead-2"}
    assert "crash or timeout" in body["items"][0]["reason"]
    status, body = call(stack, "POST", "/connectors/acme-dead/dead-letters/replay", {"ids": ["nope"]})
    assert status == 404
    first_id = next(
        i["id"]
        for i in call(stack, "GET", "/connectors/acme-dead/dead-letters")[1]["items"]
        if i["summary"].endswith("dead-1")
    )
    status, body = call(stack, "POST", "/connectors/acme-dead/dead-letters/replay", {"ids": [first_id]})
    assert status == 200 and body == {"replayed": 1}
    status, body = call(stack, "POST", "/connectors/acme-dead/dead-letters/replay", {})
    assert body == {"replayed": 1}
    assert call(stack, "POST", "/connectors/acme-dead/dead-letters/replay", {})[1] == {"replayed": 0}
    received = sqs.receive_message(QueueUrl=stack.delivery_queue_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(json.loads(m["Body"])["source_id"] for m in received) == ["dead-1", "dead-2"]
    assert json.loads(received[0]["Body"]).keys() == one.keys()
    for message in received:
        sqs.delete_message(QueueUrl=stack.delivery_queue_url, ReceiptHandle=message["ReceiptHandle"])


def _dead(sqs: Any, dlq: str, connector_id: str, source_id: str) -> dict[str, Any]:
    item = work_item(connector_id, source_id)
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(item))
    return item


def test_the_readme_example_connector_is_created_as_it_is(stack: LocalStack) -> None:
    from pathlib import Path

    example = json.loads(
        (Path(__file__).resolve().parents[2] / "tools" / "connector.example.json").read_text()
    )
    example["source"]["base_url"] = stack.servicetrade.base_url
    example["credentials"] = {"source": {"credentials_secret": stack.servicetrade.client_credentials()}}
    status, body = call(stack, "POST", "/connectors", example)
    assert status == 201, body
    assert (
        body["target"]["template"] == "example_legacy_header_detail" and body["timezone"] == "Europe/London"
    )


# -- webhooks held while paused, and dead letters delivered exactly once (shop → FreshBooks) ----------------


@pytest.fixture(scope="module")
def shop(stack: LocalStack) -> str:
    stack.add_shop_connector("acme-shop")
    return "acme-shop"


def _webhook(stack: LocalStack, connector_id: str, order: dict[str, Any]) -> dict[str, Any]:
    import datetime as dt

    from local.scenarios.sample_events import shop_webhook

    event = shop_webhook(
        "order.created",
        order,
        message_id=f"msg_{connector_id}_{order['id']}",
        sent=dt.datetime.now(dt.UTC),
        connector_id=connector_id,
    )
    return stack.invoke("WebhookFunction", event)


def test_a_paused_connectors_webhooks_are_held_then_delivered_on_start(stack: LocalStack, shop: str) -> None:
    freshbooks = stack.freshbooks
    assert freshbooks is not None and stack.shop is not None
    order = stack.shop.orders()[0]
    before = len(freshbooks.invoices())
    assert call(stack, "POST", f"/connectors/{shop}/pause")[1]["status"] == "paused"

    assert _webhook(stack, shop, order)["statusCode"] == 202  # accepted while paused...
    stack.drain_delivery_queue()
    assert len(freshbooks.invoices()) == before  # ...and held, not delivered, not dead-lettered
    health = call(stack, "GET", f"/connectors/{shop}", claims=VIEWER)[1]["health"]
    assert health["held"] == 1 and health["dead_letters"] == 0

    assert call(stack, "POST", f"/connectors/{shop}/start")[1]["health"]["held"] == 0
    stack.drain_delivery_queue()
    assert len(freshbooks.invoices()) == before + 1


def test_a_dead_letter_replayed_is_delivered_exactly_once(stack: LocalStack, shop: str) -> None:
    freshbooks = stack.freshbooks
    assert freshbooks is not None and stack.shop is not None
    order = stack.shop.orders()[1]
    sqs = boto3.client("sqs")
    dlq = stack.physical["DeliveryDeadLetterQueue"]
    # the intake queues the work; the queue gives up on it (as after five failed receives): in the DLQ twice
    assert _webhook(stack, shop, order)["statusCode"] == 202
    (message,) = sqs.receive_message(QueueUrl=stack.delivery_queue_url, MaxNumberOfMessages=10)["Messages"]
    sqs.delete_message(QueueUrl=stack.delivery_queue_url, ReceiptHandle=message["ReceiptHandle"])
    for _ in range(2):
        sqs.send_message(QueueUrl=dlq, MessageBody=message["Body"])
    before = len(freshbooks.invoices())

    letters = call(stack, "GET", f"/connectors/{shop}/dead-letters", claims=VIEWER)[1]["items"]
    assert [letter["summary"] for letter in letters] == [
        f"order.created {order['id']}"
    ]  # one work, one letter
    assert call(stack, "POST", f"/connectors/{shop}/dead-letters/replay", {})[1] == {"replayed": 1}
    stack.drain_delivery_queue()
    assert len(freshbooks.invoices()) == before + 1

    # the same work dead-lettered and replayed again (an operator's second try): still one invoice
    sqs.send_message(QueueUrl=dlq, MessageBody=message["Body"])
    assert call(stack, "POST", f"/connectors/{shop}/dead-letters/replay", {})[1] == {"replayed": 1}
    stack.drain_delivery_queue()
    assert len(freshbooks.invoices()) == before + 1
    assert call(stack, "GET", f"/connectors/{shop}/dead-letters", claims=VIEWER)[1]["items"] == []


def test_deliver_function_files_a_record_failing_on_its_last_attempt(stack: LocalStack) -> None:
    from invoice_relay.storage.dead_letters import DeadLetters
    from invoice_relay.storage.table import state_table
    from local.runtime.event_source import sqs_event

    call(stack, "POST", "/connectors", servicetrade_connector(stack, "acme-last"))
    body = json.dumps({"connector_id": "acme-last", "source_system": "servicetrade", "event_type": "x"})
    message = {"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": body}
    message["Attributes"] = {"ApproximateReceiveCount": "5"}  # the queue's maxReceiveCount: its last attempt
    event = sqs_event("arn:aws:sqs:us-east-1:123456789012:q", [message])
    # a batch whose every record failed fails the invocation (Powertools): SQS moves the record to the DLQ
    with pytest.raises(Exception, match="All records failed"):
        stack.invoke("DeliverFunction", event)
    (letter,) = DeadLetters(state_table(stack.table_name)).items("acme-last")
    assert "not a work item" in letter.reason and letter.attempts == 5


def test_a_filed_letter_and_its_dlq_copy_are_one_letter(stack: LocalStack) -> None:
    """DeliverFunction filed the malformed record above; the same message reaching the SQS DLQ is the same
    letter when the API sweeps the queue (one key for a body, readable or not), its reason kept."""
    body = json.dumps({"connector_id": "acme-last", "source_system": "servicetrade", "event_type": "x"})
    boto3.client("sqs").send_message(QueueUrl=stack.physical["DeliveryDeadLetterQueue"], MessageBody=body)
    letters = call(stack, "GET", "/connectors/acme-last/dead-letters", claims=VIEWER)[1]["items"]
    assert len(letters) == 1 and "not a work item" in letters[0]["reason"]
