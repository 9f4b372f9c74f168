"""`make invoke` (local.commands.invoke): every committed sample event succeeds on a fresh checkout — a
Standard Webhooks sample is signed again at invoke time — and a wrong function or event file is one clear
line, before any start-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.commands import invoke
from local.scenarios.stack import LocalStack

EVENTS = Path(__file__).resolve().parents[2] / "events"
# Every sample event and the function it is for (README: "make invoke FN=... EVENT=...").
SAMPLES = {
    "poll_schedule.json": "PollFunction",
    "poll_eventbridge_rule.json": "PollFunction",
    "poll_schedule_upload.json": "PollFunction",  # flow 5: ClearBooks → ShipServ
    "poll_schedule_download.json": "PollFunction",  # flow 5: ShipServ → ClearBooks
    "export_schedule.json": "ExportFunction",
    "catalog_sync_schedule.json": "CatalogSyncFunction",
    "bundle_schedule.json": "BundleFunction",
    "deliver_sqs_order_created.json": "DeliverFunction",
    "oauth_connect.json": "OAuthFunction",
    "webhook_shop_order_created.json": "WebhookFunction",
    "webhook_shop_customer_updated.json": "WebhookFunction",
    "webhook_shop_payment_captured.json": "WebhookFunction",
    "webhook_freshbooks_callback_verify.json": "WebhookFunction",
    "webhook_freshbooks_payment_create.json": "WebhookFunction",
    "management_list_connectors.json": "ManagementApiFunction",
    "management_run_now.json": "ManagementApiFunction",
}


def test_every_sample_event_has_its_function():
    assert set(SAMPLES) == {p.name for p in EVENTS.glob("*.json")}


@pytest.fixture(scope="module")
def stack():
    with LocalStack() as local:  # what `make invoke` starts: the demo stack, and its Lambda service
        local.start_background(schedules=False, delivery_queue=False, log=False)
        yield local


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_event_succeeds(stack, name):
    result = stack.invoke(SAMPLES[name], invoke.read_event(EVENTS / name))
    if "statusCode" in result:  # an API Gateway answer
        assert result["statusCode"] < 400, result
    elif "batchItemFailures" in result:  # an SQS batch
        assert result["batchItemFailures"] == []
    else:  # a scheduled run
        assert result["status"] in ("succeeded", "partial"), result


def test_an_unknown_function_is_one_line_before_any_start_up(capsys):
    assert invoke.main(["PolFunction", str(EVENTS / "poll_schedule.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("make invoke: no function 'PolFunction' in template.yaml; the functions are: ")
    assert "PollFunction" in err and "\n" not in err


def test_a_missing_or_broken_event_file_is_one_line(capsys, tmp_path):
    assert invoke.main(["PollFunction", str(tmp_path / "nope.json")]) == 2
    assert capsys.readouterr().err.strip() == f"make invoke: no event file {tmp_path / 'nope.json'}"
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert invoke.main(["PollFunction", str(broken)]) == 2
    assert "is not JSON" in capsys.readouterr().err


def test_a_shop_sample_is_signed_again_at_invoke_time():
    committed = json.loads((EVENTS / "webhook_shop_order_created.json").read_text())
    fresh = invoke.read_event(EVENTS / "webhook_shop_order_created.json")
    assert fresh["headers"]["webhook-id"] == committed["headers"]["webhook-id"]
    assert int(fresh["headers"]["webhook-timestamp"]) > int(committed["headers"]["webhook-timestamp"])
    assert fresh["body"] == committed["body"]


def test_stdout_is_the_result_alone_so_it_pipes_into_jq():
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "local.commands.invoke",
            "WebhookFunction",
            str(EVENTS / "webhook_shop_order_created.json"),
        ],
        cwd=EVENTS.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # nothing but the handler's answer on stdout
    assert result["statusCode"] == 202
    assert '"message":"webhook accepted"' in done.stderr  # the function's logs went to stderr
