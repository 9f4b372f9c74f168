"""The partner kit's seam, through the real handlers on the embedded AWS (no sandbox, no partner named):

- a fake polled source and a fake document target, added through the registry alone, run a poll →
  deliver → write-back cycle;
- a connector problem (the target refuses our credentials) fails no document, writes nothing back, and
  holds the work, which goes through once the connector works again;
- wrong pairings and runs that cannot work fail with a ConfigurationError naming the connector, the
  system and the capability; every run ends with a final status, whatever was raised;
- a queue message that cannot be read is logged with its message id and reason, and recorded.
"""

from __future__ import annotations

import json

import boto3
import pytest
from pydantic import ValidationError

from invoice_relay.connector import ConnectorConfig, ConnectorStatus
from invoice_relay.partners.registry import REGISTRY
from invoice_relay.storage.held import HeldWork
from invoice_relay.storage.runs import RunHistory
from invoice_relay.storage.state import ConnectorStore
from invoice_relay.storage.table import state_table
from local.runtime.event_source import sqs_event
from local.runtime.platform import LocalPlatform
from local.runtime.runner import LOG_DIR
from tests.fake_partner import BOOKS, BOOKS_SPEC, LEDGER_SPEC

CID = "fake-ledger-books"


@pytest.fixture(scope="module")
def platform():
    REGISTRY.register(LEDGER_SPEC)
    REGISTRY.register(BOOKS_SPEC)
    try:
        with LocalPlatform() as local:
            yield local
    finally:
        REGISTRY.unregister(LEDGER_SPEC.system)
        REGISTRY.unregister(BOOKS_SPEC.system)


@pytest.fixture
def connector(platform):
    BOOKS.reset()
    config = ConnectorConfig.model_validate(
        {
            "connector_id": CID,
            "name": "Fake ledger → fake books",
            "source": {"system": "fakeledger"},
            "target": {"system": "fakebooks", "prefix": "FB"},
        }
    )
    ConnectorStore(state_table(platform.table_name)).put(config)
    return config


def runs(platform: LocalPlatform, connector_id: str = CID) -> list[dict]:
    return RunHistory(state_table(platform.table_name)).recent_runs(connector_id, 200)


def test_a_fake_partner_added_through_the_registry_alone_runs_poll_deliver_and_write_back(
    platform, connector
):
    for source_id, total in (("1", "100.00"), ("2", "250.50"), ("3", "99999.00")):
        BOOKS.add(source_id, total)
    BOOKS.add("4", "10.00", customer=None)  # cannot be mapped: fails with its reason

    polled = platform.invoke("PollFunction", {"connector_id": CID})
    assert polled["status"] == "succeeded", polled
    assert polled["counts"]["queued"] == 4 and polled["counts"]["pages"] == 2
    platform.drain_delivery_queue()

    assert BOOKS.source["1"]["status"] == "done" and BOOKS.source["1"]["target_number"] == "FB-1"
    assert BOOKS.source["2"]["status"] == "done" and BOOKS.source["2"]["target_number"] == "FB-2"
    assert BOOKS.source["3"]["status"] == "failed"
    assert "refuses invoices over 10000" in BOOKS.source["3"]["comment"]
    assert BOOKS.source["4"]["status"] == "failed" and "has no customer" in BOOKS.source["4"]["comment"]
    assert len(BOOKS.target) == 2

    # one delivery run for the batch, each record's outcome in it; what failed says why
    (delivered,) = [r for r in runs(platform) if r["kind"] == "deliver"]
    assert delivered["status"] == "partial"
    outcomes = {o["id"]: o["status"] for o in delivered["details"]["records"]}
    assert outcomes == {"1": "delivered", "2": "delivered", "3": "failed", "4": "failed"}
    assert delivered["details"]["counts"] == {"delivered": 2, "failed": 2}
    assert "refuses invoices over 10000" in delivered["reason"] and "has no customer" in delivered["reason"]
    events = RunHistory(state_table(platform.table_name)).document_events(CID, "1")
    assert any(
        "fakebooks rounded nothing" in e.message for e in events
    )  # a target's note reaches the run log

    again = platform.invoke("PollFunction", {"connector_id": CID})
    assert again["counts"].get("queued", 0) == 0
    platform.drain_delivery_queue()
    assert len(BOOKS.target) == 2


def test_a_connector_problem_fails_no_document_and_holds_the_work_until_the_connector_works(
    platform, connector
):
    BOOKS.add("7", "70.00")
    BOOKS.add("8", "80.00")
    BOOKS.refuse_credentials = True

    platform.invoke("PollFunction", {"connector_id": CID})
    drained = platform.drain_delivery_queue()
    assert drained["failed"] == 0  # held, not retried into the DLQ
    assert {BOOKS.source[i]["status"] for i in ("7", "8")} == {"ready"}  # nothing written back
    assert BOOKS.target == {}
    held = HeldWork(state_table(platform.table_name))
    assert held.count(CID) == 2
    failed = [  # a run per batch, newest first
        r for r in runs(platform) if r["kind"] == "deliver" and "held" in r["details"]["counts"]
    ]
    assert {r["status"] for r in failed} == {"failed"}
    assert {r["reason"] for r in failed} == {
        "connector problem, nothing written back: fakebooks refused our credentials"
    }
    assert failed[0]["details"]["held"] == 2  # the run log says how much work is held
    assert sum(r["details"]["counts"]["held"] for r in failed) == 2

    BOOKS.refuse_credentials = False  # somebody fixed the credentials
    probe = platform.invoke("PollFunction", {"connector_id": CID})
    assert probe["status"] == "succeeded"  # a run that works releases one held item as a probe...
    assert held.count(CID) == 1
    platform.drain_delivery_queue()  # ...whose delivery releases the rest
    platform.drain_delivery_queue()
    assert held.count(CID) == 0
    assert {BOOKS.source[i]["status"] for i in ("7", "8")} == {"done"}
    assert len(BOOKS.target) == 2


def test_a_paused_connector_holds_its_deliveries(platform, connector):
    BOOKS.add("9", "90.00")
    platform.invoke("PollFunction", {"connector_id": CID})
    store = ConnectorStore(state_table(platform.table_name))
    store.put(connector.model_copy(update={"status": ConnectorStatus.PAUSED}))
    platform.drain_delivery_queue()
    assert BOOKS.source["9"]["status"] == "ready"
    assert HeldWork(state_table(platform.table_name)).count(CID) == 1
    assert platform.invoke("PollFunction", {"connector_id": CID})["status"] == "skipped"


def test_wrong_pairings_are_refused_when_the_connector_is_registered(platform):
    with pytest.raises(
        ValidationError, match=r"dropzone → fakebooks cannot work: dropzone provides a document drop zone"
    ):
        ConnectorConfig.model_validate(
            {
                "connector_id": "x-bad",
                "name": "bad",
                "source": {"system": "dropzone"},
                "target": {"system": "fakebooks"},
            }
        )
    with pytest.raises(ValidationError, match="source system 'fakebooks' is not one of"):
        ConnectorConfig.model_validate(
            {
                "connector_id": "x-bad",
                "name": "bad",
                "source": {"system": "fakebooks"},
                "target": {"system": "flatfile"},
            }
        )


def test_a_run_the_connector_cannot_do_fails_with_a_configuration_error_naming_it(platform, connector):
    for function in ("CatalogSyncFunction", "BundleFunction", "ExportFunction"):
        result = platform.invoke(function, {"connector_id": CID})
        assert result["status"] == "failed" and result["error_kind"] == "connector", result
        assert result["reason"].startswith(f"connector '{CID}' cannot do this: its ")
        assert "fakeledger" in result["reason"] or "fakebooks" in result["reason"]
    kinds = {r["kind"]: r for r in runs(platform) if r["kind"] in ("catalog", "bundle", "export")}
    assert {r["status"] for r in kinds.values()} == {"failed"}  # recorded, with a final status
    assert "does not provide a product catalog (catalog_source)" in kinds["catalog"]["reason"]


def test_an_unexpected_exception_still_closes_the_run(platform, connector, monkeypatch):
    from tests import fake_partner

    def explode(self, start_page=1, position=None):
        raise RuntimeError("the ledger exploded")
        yield  # pragma: no cover

    monkeypatch.setattr(fake_partner.FakeLedger, "poll", explode)
    with pytest.raises(RuntimeError, match="the ledger exploded"):
        platform.invoke("PollFunction", {"connector_id": CID})
    latest = next(r for r in runs(platform) if r["kind"] == "poll")
    assert latest["status"] == "failed"
    assert latest["reason"] == "internal error: RuntimeError: the ledger exploded"


def test_a_scheduled_event_without_a_connector_id_is_refused_in_one_clear_line(platform):
    with pytest.raises(
        ValueError, match=r"the scheduled event has no connector_id: set the schedule's Input"
    ):
        platform.invoke("PollFunction", {"source": "aws.scheduler"})
    with pytest.raises(ValueError, match="'Not An Id' is not a connector id"):
        platform.invoke("PollFunction", {"connector_id": "Not An Id"})


def test_a_malformed_queue_message_is_logged_recorded_and_left_for_the_dlq(platform, connector):
    BOOKS.add("5", "50.00")
    platform.invoke("PollFunction", {"connector_id": CID})
    good = boto3.client("sqs").receive_message(QueueUrl=platform.delivery_queue_url, AttributeNames=["All"])
    malformed = {
        "MessageId": "msg-malformed-1",
        "ReceiptHandle": "rh",
        "Body": json.dumps(
            {"connector_id": CID, "event_type": "order.created"}
        ),  # no source_id, version, ...
        "Attributes": {},
    }
    event = sqs_event("arn:aws:sqs:us-east-1:123456789012:q", [malformed, *good["Messages"]])
    response = platform.invoke("DeliverFunction", event)
    assert response == {
        "batchItemFailures": [{"itemIdentifier": "msg-malformed-1"}]
    }  # the good one went through
    assert BOOKS.source["5"]["status"] == "done"
    recorded = [r for r in runs(platform) if "malformed queue message" in r.get("reason", "")]
    assert recorded and "source_id: Field required" in recorded[0]["reason"]
    log = sorted(LOG_DIR.glob("*-DeliverFunction.jsonl"))[-1].read_text().splitlines()
    lines = [json.loads(line) for line in log if "malformed delivery queue message" in line]
    assert lines and lines[0]["message_id"] == "msg-malformed-1" and "source_id" in lines[0]["reason"]
    assert lines[0]["connector_id"] == CID and lines[0]["level"] == "ERROR"


def test_a_run_whose_function_died_is_closed_by_the_next_run_of_its_kind(platform, connector, monkeypatch):
    from tests import fake_partner

    class Died(BaseException):  # the Lambda's process died: nothing in the function can close the run
        pass

    def die(self, start_page=1, position=None):
        raise Died
        yield  # pragma: no cover

    monkeypatch.setattr(fake_partner.FakeLedger, "poll", die)
    with pytest.raises(Died):
        platform.invoke("PollFunction", {"connector_id": CID})
    assert next(r for r in runs(platform) if r["kind"] == "poll")["status"] == "running"
    monkeypatch.undo()

    platform.invoke("PollFunction", {"connector_id": CID})
    polls = [r for r in runs(platform) if r["kind"] == "poll"]
    assert polls[0]["status"] == "succeeded"
    assert polls[1]["status"] == "failed"
    assert polls[1]["reason"] == "the function stopped before closing this run (crash or timeout)"
