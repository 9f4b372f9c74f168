"""Poison documents and hostile webhook input, through the real handlers on the embedded AWS.

What is proven here: a ServiceTrade invoice the money model cannot hold (`subtotal: 1e30`), or with text
that is not valid Unicode, or values of the wrong type, fails alone — written back `failed` with the
reason — while the others go on; every hostile webhook kind is answered 4xx with a reason, nothing
queued; a hostile payload that passes the intake is one recorded failure in delivery, never retried, its
run closed; the seeded fuzz (`local.chaos.fuzz`) finds no violation; and the mappers and the shop's
`decode` turn whatever a record holds into its MappingError, never another exception.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from invoice_relay.errors import MappingError
from invoice_relay.partners.clearnox.models import booking_entry_from_payload
from invoice_relay.partners.shop.source import ShopSource
from invoice_relay.pipeline import queue
from invoice_relay.storage.runs import RunHistory
from invoice_relay.storage.table import state_table
from local.chaos import fuzz
from local.chaos.fuzz import KINDS, HostileRequests, run_fuzz
from local.sandboxes.servicetrade import sample_invoice
from local.scenarios import fixtures
from local.scenarios.stack import LocalStack

SHOP = fixtures.SHOP_CONNECTOR_ID
SERVICETRADE = "poison-servicetrade"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(seed_demo=False) as local:
        queue.sqs_client.cache_clear()
        local.add_servicetrade_connector(SERVICETRADE, template="generic_csv", page_size=20)
        local.add_shop_connector(SHOP)
        yield local


def queued(stack: LocalStack) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.physical["DeliveryQueue"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def dead_lettered(stack: LocalStack) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.physical["DeliveryDeadLetterQueue"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


# ---------------------------------------------------------------------- flow 1: a poison invoice fails alone


def test_a_poison_invoice_fails_alone_written_back_with_the_reason_and_the_others_go_on(stack):
    demo = stack.servicetrade.seed_demo_data(count=10, broken=0, credits=0)
    huge = {**sample_invoice(9001), "subtotal": 1e30}
    surrogate = sample_invoice(9002)
    surrogate["customer"]["name"] = "Acme \ud800 Facilities"
    wrong_type = sample_invoice(9003)
    wrong_type["items"][0]["price"] = {"amount": 125.0}
    overflow = sample_invoice(9004)
    overflow["items"][0].update(quantity=99_999_999_999_999, price=99_999_999_999_999, totalPrice=None)
    for poison in (huge, surrogate, wrong_type, overflow):
        stack.servicetrade.add_invoice(poison)

    polled = stack.invoke("PollFunction", {"connector_id": SERVICETRADE})
    exported = stack.invoke("ExportFunction", {"connector_id": SERVICETRADE})

    assert polled["status"] == "succeeded"  # the poll ran to its end: no decimal.InvalidOperation
    assert polled["counts"]["rejected"] == 4 and polled["counts"]["staged"] == 10
    assert exported["status"] == "succeeded" and exported["counts"]["exported"] == 10
    reasons = {f["source_id"]: f["reason"] for f in polled["failures"]}
    assert reasons["9001"].startswith("invoice 9001: subtotal 1e+30 is out of range (at most 15 digits")
    assert reasons["9002"] == "invoice 9002: name: text is not valid Unicode (a lone surrogate)"
    assert reasons["9003"].startswith("invoice 9003: item 1 (id 1) price {'amount': 125.0} is not a number")
    assert "is out of range" in reasons["9004"]
    for invoice_id, reason in reasons.items():
        assert stack.servicetrade.invoice(int(invoice_id))["status"] == "failed"
        (comment,) = stack.servicetrade.comments_for(int(invoice_id))
        assert reason in comment["content"] and comment["visibility"] == []
    assert {stack.servicetrade.invoice(i)["status"] for i in demo.pending_ids} == {"processed"}


# ---------------------------------------------------------------------- flow 3: hostile webhooks


HOSTILE_KINDS = sorted(
    kind
    for kind in KINDS
    if 400 <= getattr(HostileRequests(random.Random(0)), f"_{kind}")().expect.status_code < 500
)


def test_the_hostile_kinds_cover_what_the_issue_names():
    assert {
        "deep_nesting", "lone_surrogate", "invalid_utf8", "truncated_json", "binary_body", "empty_body",
        "huge_id", "control_characters_in_id", "nan_or_infinity", "huge_integer", "wrong_type_id",
        "wrong_type_version", "wrong_type_event", "oversize_body", "missing_signature", "garbled_signature",
        "wrong_secret", "stale_signature", "tampered_body",
    } <= set(HOSTILE_KINDS)  # fmt: skip


@pytest.mark.parametrize("kind", HOSTILE_KINDS)
def test_each_hostile_webhook_kind_is_a_4xx_with_a_reason_and_queues_nothing(stack, kind):
    requests = HostileRequests(random.Random(kind), nonce=f"k{abs(hash(kind)) % 10_000}")
    for _ in range(5):  # five shapes of the kind
        request = requests.make(kind)

        status, answer = fuzz.post(stack, SHOP, request)

        assert (status, answer["status"]) == (request.expect.status_code, "rejected"), answer
        assert 400 <= status < 500
        assert answer["reason"].strip() and len(answer["reason"]) <= 500
    assert queued(stack) == 0


def test_a_hostile_payload_that_passes_the_intake_is_one_recorded_failure_never_retried(stack):
    stack.drain_delivery_queue()
    requests = HostileRequests(random.Random(1), nonce="pass")
    order_1e30 = requests.order()
    order_1e30["total"] = 1e30
    order_list_status = requests.order()
    order_list_status["status"] = ["open"]
    dead_before = dead_lettered(stack)
    for order in (order_1e30, order_list_status):
        request = requests.signed("poison", requests.envelope("order.created", order), fuzz.POISON)
        assert fuzz.post(stack, SHOP, request)[0] == 202

    counts = stack.drain_delivery_queue()

    assert (counts["records"], counts["failed"]) == (2, 0)  # each received once, none back on the queue
    assert queued(stack) == 0 and dead_lettered(stack) == dead_before
    history = RunHistory(state_table(stack.table_name))
    expected = {
        order_1e30["id"]: f"shop order {order_1e30['number']}: total 1e+30 is out of range",
        order_list_status["id"]: f"shop order {order_list_status['number']}: status ['open'] is not one of",
    }
    for source_id, reason in expected.items():
        events = history.document_events(SHOP, source_id)
        errors = [e for e in events if e.level == "error"]
        assert len(errors) == 1 and reason in errors[0].message
        (run_id,) = {e.run_id for e in events}
        (run,) = [r for r in history.recent_runs(SHOP, limit=50) if r["run_id"] == run_id]
        assert run["status"] == "failed" and reason in run["reason"]  # closed, with the reason
    assert stack.drain_delivery_queue()["records"] == 0  # nothing comes back


def test_the_seeded_fuzz_finds_no_violation(stack):
    report = run_fuzz(stack, requests=500, seed=7)

    assert report.violations == [], report.summary()
    assert report.requests == 500 and report.by_class["5xx"] == 0 and not report.server_errors
    assert set(report.by_kind) == set(KINDS)  # every kind was drawn
    assert report.by_class["4xx"] > report.by_class["2xx"] > 0
    assert report.enqueued > 0 and report.enqueued_unsigned == 0
    assert report.deliveries["failed"] > 0 and report.deliveries["delivered"] > 0
    assert (report.poison, report.failed_receives, report.runs_not_closed) == (0, 0, 0)


# ---------------------------------------------------------------------- mappers: a MappingError, never more


def test_the_shop_decode_raises_nothing_but_mapping_errors_for_whatever_passed_the_intake():
    source = ShopSource(lambda: None)  # type: ignore[arg-type]  # decode needs no client
    requests = HostileRequests(random.Random(11), nonce="d")
    kinds = [kind for kind in KINDS if getattr(requests, f"_{kind}")().expect == fuzz.POISON]
    kinds.remove("freshbooks_unknown_payment")  # a FreshBooks callback: not the shop's to decode
    for _ in range(300):
        request = requests.make(requests.rng.choice(kinds))
        envelope = json.loads(request.body)
        with pytest.raises(MappingError) as caught:
            source.decode(envelope["type"], envelope["data"], None)  # type: ignore[arg-type]
        assert caught.value.reason and caught.value.raw == envelope["data"]


class FakeShopClient:
    def __init__(self, products: list[Any]):
        self._products = products

    def products(self, updated_since: Any = None) -> list[Any]:
        return self._products


def test_poison_products_each_come_with_their_problem_under_a_key_that_can_be_stored():
    good = {"sku": "MUG-12OZ", "name": "Mug", "price": "16.50", "currency": "USD"}
    source = ShopSource(lambda: FakeShopClient([  # type: ignore[arg-type, return-value]
        {**good, "sku": "S" * 3000},
        {**good, "price": 1e30},
        {**good, "sku": ["MUG"], "id": "prod_\x00"},
        good,
    ]))  # fmt: skip

    changes = list(source.products(None))

    assert [c.product is not None for c in changes] == [False, False, False, True]
    assert changes[0].key == "S" * 60 + "..." and "is longer than 200 characters" in changes[0].problem
    assert changes[1].key == "MUG-12OZ" and "price 1e+30 is out of range" in changes[1].problem
    assert changes[2].key == "prod_\\x00" and changes[2].problem == "shop product has no sku"


LISTED = {
    "id": "be_10001",
    "entry_reference": "AR-2026-0042",
    "invoice_number": "1042",
    "document_date": "2026-10-02",
    "amount": "511.25",
    "currency": "USD",
    "customer": {"id": "c_55", "name": "Acme Facilities", "number": "C-0055"},
}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"amount": "1e30"}, "clearnox booking entry be_10001 (invoice 1042): amount '1e30' is out of range"),
        ({"amount": 1e-9}, "amount 1e-09 has more than 6 decimal places"),
        ({"amount": ["511.25"]}, "amount ['511.25'] is not a number"),
        ({"customer": ["c_55"]}, "customer ['c_55'] is not a customer record"),
        ({"document_date": ["2026-10-02"]}, "document_date ['2026-10-02'] is not a date"),
        ({"id": "b" * 201}, "id 'bbbb"),
        ({"customer": {"id": "c_55", "name": {"first": "Acme"}}}, "has no customer.name"),
    ],
)
def test_a_poison_booking_entry_is_its_mapping_error(changes, reason):
    payload = {**copy.deepcopy(LISTED), **changes}
    with pytest.raises(MappingError) as caught:
        booking_entry_from_payload(payload)
    assert reason in caught.value.reason
    assert caught.value.raw is payload and caught.value.partner == "clearnox"


def test_an_unexpected_exception_in_a_booking_entry_is_its_mapping_error(monkeypatch):
    from invoice_relay.partners.clearnox import models

    def broken(*args: Any) -> Any:
        raise AttributeError("'list' object has no attribute 'strip'")

    monkeypatch.setattr(models, "_date", broken)
    with pytest.raises(MappingError) as caught:
        booking_entry_from_payload(copy.deepcopy(LISTED))
    assert caught.value.reason == (
        "clearnox booking entry be_10001 (invoice 1042): unexpected data "
        "(AttributeError: 'list' object has no attribute 'strip')"
    )
