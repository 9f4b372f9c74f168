"""The flow-3 chaos scenario (`local.chaos.orders`) and the secrets search (`local.chaos.secrets`): the
scenario holds every invariant at a quick size, and its parts — the order generator, the sending plan, the
sender's retries, the operator's reconnect, the invariant checks, the secrets search — do what they say."""

from __future__ import annotations

import base64
import json
import random
import time
import uuid
from collections import Counter

import boto3
import pytest
import requests

from invoice_relay.storage.held import HeldWork
from invoice_relay.storage.table import state_table
from local.chaos import orders as chaos_orders
from local.chaos import secrets as chaos_secrets
from local.chaos.monkey import ChaosMonkey
from local.chaos.orders import CID, OrdersRun, WebhookSender, check_orders, plan_webhooks, run_orders
from local.chaos.report import ScenarioResult
from local.chaos.secrets import find_secrets, secret_forms
from local.commands.chaos import CRASH_RATE, CRITICAL_RATE, FAULT_RATE
from local.runtime import runner
from local.runtime.api_gateway import LocalApi
from local.runtime.platform import LocalPlatform
from local.sandboxes.shop import INVALID_ORDER_REASONS, ShopSandbox
from local.scenarios.stack import LocalStack


def test_the_orders_scenario_holds_every_invariant_under_faults_and_crashes():
    result = run_orders(
        orders=30, seed=20261201, fault_rate=FAULT_RATE, crash_rate=CRASH_RATE, critical_rate=CRITICAL_RATE
    )

    assert result.violations == []
    assert result.documents == 30
    assert result.faults > 0 and result.crashes > 0  # it was a chaos run, not a quiet one
    assert result.details["intake crashes (500, retried)"] > 0
    assert (result.duplicates, result.lost, result.stuck) == (0, 0, 0)
    assert (result.server_errors, result.secrets_found) == (0, 0)
    assert result.details["invalid orders"] == 4 and result.details["valid orders"] == 26


# -- the parts --------------------------------------------------------------------------------------------


def test_generated_orders_are_seeded_valid_or_invalid_with_their_reason_and_share_some_e_mails():
    from invoice_relay.partners.shop.mapping import order_to_document

    shop = ShopSandbox()
    seeded = shop.seed_orders(60, seed=3)

    assert ShopSandbox().seed_orders(60, seed=3) == seeded  # deterministic
    assert len(seeded.all_order_ids) == 60 and len(seeded.invalid) == 4
    assert sorted(seeded.invalid.values()) == sorted(INVALID_ORDER_REASONS.values())
    assert set(seeded.payment_by_order) <= set(seeded.order_ids)  # invalid orders are never paid
    assert len(seeded.payment_by_order) >= len(seeded.order_ids) // 2
    for order_id in seeded.order_ids:
        document = order_to_document(shop.order(order_id))
        assert str(document.totals.total) == shop.order(order_id)["total"]
    for order_id, payment_id in seeded.payment_by_order.items():
        assert shop.payment(payment_id)["amount"] == shop.order(order_id)["total"]
    for order_id, reason in seeded.invalid.items():
        if "unknown SKU" in reason:  # a valid order for the shop: FreshBooks does not know the SKU
            assert any(line["sku"] == "NOT-IN-CATALOG-1" for line in shop.order(order_id)["lineItems"])
            continue
        with pytest.raises(Exception, match=reason):
            order_to_document(shop.order(order_id))
    emails = Counter(shop.order(o)["customer"]["email"].casefold() for o in seeded.order_ids)
    assert seeded.shared_emails > 0
    assert any(n > 1 for n in emails.values())


def test_the_plan_sends_every_event_a_third_of_the_payments_first_with_duplicates_and_resends():
    shop = ShopSandbox()
    seeded = shop.seed_orders(90, seed=5)
    plan = plan_webhooks(shop, seeded, random.Random(5), tag="t")

    assert plan == plan_webhooks(shop, seeded, random.Random(5), tag="t")
    firsts = [p for p in plan if p.how in ("first", "duplicate")]
    assert sorted(p.webhook.label for p in firsts if p.webhook.event_type == "order.created") == sorted(
        seeded.all_order_ids
    )
    assert sorted(p.webhook.label for p in firsts if p.webhook.event_type == "payment.captured") == sorted(
        seeded.payment_by_order.values()
    )
    sent_at = {p.webhook.label: p.at for p in firsts}
    early = [o for o, p in seeded.payment_by_order.items() if sent_at[p] < sent_at[o]]
    assert len(early) == round(len(seeded.payment_by_order) / 3)
    kinds = Counter(p.how for p in plan)
    assert kinds["duplicate"] and kinds["re-signed"] and kinds["new id"]
    first_ids = {p.webhook.delivery_id for p in firsts}
    assert all(p.webhook.delivery_id in first_ids for p in plan if p.how == "re-signed")
    assert not any(p.webhook.delivery_id in first_ids for p in plan if p.how == "new id")


def test_the_sender_retries_an_unanswered_webhook_on_its_schedule_until_it_is_accepted(monkeypatch):
    monkeypatch.setattr(chaos_orders, "RETRY_DELAYS", (0.0, 30.0))
    shop = ShopSandbox()
    sender = WebhookSender(shop, "http://127.0.0.1:9/webhooks/x", ChaosMonkey(0.0))  # nobody listens
    hook = chaos_orders.Webhook("order.created", shop.order("ord_2001"), "msg_1", "ord_2001")

    sender.send(hook, copies=2)  # a duplicate delivery: one retry scheduled for both answers
    assert sender.pending == 1
    assert sender.retry_due() == 1  # the first retry is due at once, the next in 30 s
    assert sender.retry_due() == 0 and sender.pending == 1
    assert sender.next_retry is not None and sender.next_retry > time.monotonic() + 20

    assert sender.retried == 1 and sender.answers == Counter({599: 3})
    assert len(sender.server_errors) == 3 and sender.crashed == 0  # no crash explains them


@pytest.fixture
def shop_stack():
    with LocalStack(seed_demo=False) as local:
        local.add_shop_connector(CID)
        api = LocalApi(local, log_requests=False).start(port=0)
        local.shop.subscribe(f"{api.url}/webhooks/{CID}")
        local.api_url = api.url
        try:
            yield local
        finally:
            api.stop()


def orders_run(stack: LocalStack) -> OrdersRun:
    return OrdersRun(stack, stack.api_url, orders=1, seed=1, fault_rate=0, crash_rate=0, critical_rate=0)


def test_work_held_because_freshbooks_refuses_the_refresh_token_is_released_by_a_reconnect(shop_stack):
    stack = shop_stack
    stack.freshbooks.revoke_refresh_tokens()  # as after a crash that lost the new pair
    stack.freshbooks.expire_access_tokens()
    stack.shop.emit("order.created", stack.shop.order("ord_2001"))
    stack.drain_delivery_queue()
    held = HeldWork(state_table(stack.table_name))
    assert held.count(CID) == 1 and "refresh token" in held.items(CID)[0].reason

    run = orders_run(stack)
    run.reconnect_if_held()
    stack.drain_delivery_queue()

    assert run.counts["reconnects"] == 1 and held.count(CID) == 0
    assert run.oauth_answers == Counter({302: 1, 200: 1})
    assert [i["po_number"] for i in stack.freshbooks.invoices()] == ["shop order 1001"]
    run.reconnect_if_held()  # nothing held: no reconnect
    assert run.counts["reconnect attempts"] == 1


def test_the_checks_name_lost_and_duplicated_records_and_invalid_orders_without_a_reason(shop_stack):
    stack = shop_stack
    seeded = stack.shop.seed_orders(8, seed=2)
    for order_id in seeded.order_ids:
        stack.shop.emit("order.created", stack.shop.order(order_id))
    for payment_id in seeded.payment_by_order.values():
        stack.shop.emit("payment.captured", stack.shop.payment(payment_id))
    stack.drain_delivery_queue()
    clean = ScenarioResult("clean")
    check_orders(clean, stack, seeded)
    assert [v for v in clean.violations if "invalid order" not in v] == []
    assert clean.lost == len(seeded.invalid)  # never sent: no reason recorded for them

    email = stack.shop.order(seeded.order_ids[1])["customer"]["email"]
    stack.freshbooks.add_client(email=email.upper(), fname="Twin")  # a second client for one e-mail
    seeded = type(seeded)(
        (*seeded.order_ids, "ord_2002"), seeded.invalid, seeded.payment_by_order, seeded.shared_emails
    )  # an order the shop never sent
    result = ScenarioResult("broken")
    check_orders(result, stack, seeded)

    assert any("1 valid order(s) without an invoice: ord_2002" in v for v in result.violations)
    assert any("e-mail(s) with several clients" in v and email.casefold() in v for v in result.violations)
    assert any("e-mail(s) without a client" in v for v in result.violations)  # ord_2002's customer
    assert result.duplicates == 1 and result.lost == len(seeded.invalid) + 2


# -- secrets ------------------------------------------------------------------------------------------------


def test_secret_forms_cover_the_encodings_a_careless_line_would_use():
    forms = dict(secret_forms("whsec_a+b/c="))
    assert forms == {
        "as is": "whsec_a+b/c=",
        "base64": base64.b64encode(b"whsec_a+b/c=").decode(),
        "URL-encoded": "whsec_a%2Bb%2Fc%3D",
        "without its prefix": "a+b/c=",
    }
    assert dict(secret_forms('to"ken'))["JSON-escaped"] == 'to\\"ken'


@pytest.fixture
def platform():
    with LocalPlatform() as local:
        yield local


def test_find_secrets_searches_logs_state_objects_and_answers_never_showing_a_secret(platform, monkeypatch):
    since = time.time() - 1
    leaked, quiet, unused = (f"{name}-{uuid.uuid4().hex}" for name in ("leaked", "quiet", "unused"))
    assert find_secrets(platform, [leaked, quiet], responses=[], since=since) == []

    runner.LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = runner.LOG_DIR / f"zz-test-chaos-secrets-{uuid.uuid4().hex}.jsonl"
    log.write_text(json.dumps({"message": "ok"}) + "\n" + json.dumps({"message": f"token {leaked}"}) + "\n")
    state_table(platform.table_name).put_item(
        Item={"PK": "TEST#secrets", "SK": "1", "note": base64.b64encode(leaked.encode()).decode()}
    )
    monkeypatch.setattr(chaos_secrets, "S3_CHUNK_BYTES", 64)  # the secret straddles two chunks
    body = b"x" * 50 + f'{{"password": "{leaked}"}}'.encode() + b"y" * 100
    boto3.client("s3").put_object(Bucket=platform.bucket_name, Key="raw/test/secret.json", Body=body)
    answer = requests.Response()
    answer.status_code, answer._content = 200, json.dumps({"access": leaked}).encode()
    try:
        found = find_secrets(
            platform, [leaked, quiet], responses=[{"body": "nothing here"}, answer, unused], since=since
        )
    finally:
        log.unlink()

    shown = f"{leaked[:4]}…"
    assert sorted(found) == sorted(
        [
            f"log {log.name}:2: {shown} (as is)",
            f"table {platform.table_name} item TEST#secrets/1: {shown} (base64)",
            f"s3://{platform.bucket_name}/raw/test/secret.json: {shown} (as is)",
            f"response 2:4: {shown} (as is)",  # status and headers come first
        ]
    )
    assert not any(leaked in f for f in found)  # where and which, never the secret itself
    stale = find_secrets(platform, [leaked], responses=[], since=time.time() + 60)  # newer logs only
    assert not any(f.startswith("log ") for f in stale)
