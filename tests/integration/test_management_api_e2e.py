"""The control plane end to end, as `make api` runs it: real Cognito tokens through the local API Gateway
(its Cognito authorizer), the management function, the local Lambda service for "Run now", the local
EventBridge Scheduler firing a connector's schedule, the delivery queue pump — and the ops command line
(`relay`) against it."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from relay_cli.main import cli

from local.runtime.api_gateway import LocalApi
from local.runtime.cognito import sign_in
from local.scenarios.stack import LocalStack


@pytest.fixture(scope="module")
def platform() -> Iterator[tuple[LocalStack, LocalApi]]:
    with LocalStack(seed_demo=False) as stack:
        stack.servicetrade.seed_demo_data(count=6, vendor_bills=0, external_invoices=0)
        api = LocalApi(stack, log_requests=False).start(port=0)
        # the scheduler is driven by the test (fire_due), the Lambda service and the queue pump run
        stack.start_background(schedules=False, log=False)
        try:
            yield stack, api
        finally:
            stack.stop_background()
            api.stop()


def token(stack: LocalStack, role: str) -> str:
    username, password = stack.demo_users[role]
    return sign_in(stack.cognito_endpoint, stack.user_pool_client_id, username, password)["IdToken"]


def connector_body(stack: LocalStack, connector_id: str) -> dict[str, Any]:
    return {
        "connector_id": connector_id,
        "name": "Acme (end to end)",
        "source": {"system": "servicetrade", "base_url": stack.servicetrade.base_url, "page_size": 3},
        "target": {"system": "flatfile"},
        "schedules": {"poll": "rate(1 minute)", "export": "cron(0 18 * * ? *)"},
        "credentials": {"source": {"credentials_secret": stack.servicetrade.client_credentials()}},
    }


def test_tokens_roles_and_a_scheduled_run(platform: tuple[LocalStack, LocalApi]) -> None:
    stack, api = platform
    admin, viewer = token(stack, "admin"), token(stack, "viewer")
    url = f"{api.url}/connectors"

    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": admin[:-4] + "AAAA"}, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": viewer}, timeout=10).status_code == 200
    me = requests.get(f"{api.url}/me", headers={"Authorization": f"Bearer {admin}"}, timeout=10).json()
    assert me == {"username": "demo-admin", "groups": ["admins"], "role": "admin"}

    body = connector_body(stack, "e2e-acme")
    refused = requests.post(url, json=body, headers={"Authorization": viewer}, timeout=10)
    assert refused.status_code == 403
    created = requests.post(url, json=body, headers={"Authorization": admin}, timeout=30)
    assert created.status_code == 201, created.text
    assert stack.servicetrade.client_credentials()["client_secret"] not in created.text
    started = requests.post(f"{url}/e2e-acme/start", headers={"Authorization": admin}, timeout=30)
    assert started.json()["status"] == "active"

    # The schedule the API created fires a poll when it is due (the scheduler's clock moved a minute on).
    from local.runtime.scheduler import LocalScheduler

    # the platform's scheduler, driven by the test's clock instead of its thread
    service = stack.lambda_service
    assert service is not None
    scheduler = LocalScheduler(
        stack.aws.client("scheduler"),
        stack.functions,
        lambda logical_id, event, source: service.submit(logical_id, event, source=source),
        log_firings=False,
    )
    # a rate schedule starts when it is created: it fires now, then a minute later
    now = dt.datetime.now(dt.UTC)
    fired = scheduler.fire_due(now) + scheduler.fire_due(now + dt.timedelta(seconds=61))
    ours = [f.name for f in fired if f.name.startswith("e2e-acme")]
    assert ours and set(ours) == {"e2e-acme--poll"}  # the daily export is not due
    assert stack.lambda_service is not None and stack.lambda_service.wait_idle(60)
    runs = requests.get(f"{url}/e2e-acme/runs", headers={"Authorization": viewer}, timeout=10).json()["runs"]
    assert [(r["kind"], r["status"]) for r in runs] == [("poll", "succeeded")] * len(ours)


def test_run_now_is_visible_within_seconds(platform: tuple[LocalStack, LocalApi]) -> None:
    stack, api = platform
    admin = token(stack, "admin")
    url = f"{api.url}/connectors"
    requests.post(url, json=connector_body(stack, "e2e-now"), headers={"Authorization": admin}, timeout=30)
    requests.post(f"{url}/e2e-now/start", headers={"Authorization": admin}, timeout=30)

    asked = time.monotonic()
    answer = requests.post(
        f"{url}/e2e-now/runs", json={"kind": "poll"}, headers={"Authorization": admin}, timeout=30
    )
    assert answer.status_code == 202
    while time.monotonic() - asked < 30:
        runs = requests.get(f"{url}/e2e-now/runs", headers={"Authorization": admin}, timeout=10).json()[
            "runs"
        ]
        if runs:
            break
        time.sleep(0.1)
    visible = time.monotonic() - asked
    assert runs and runs[0]["kind"] == "poll"
    print(f"run now → run visible in the API: {visible:.2f} s")
    assert visible < 30


def test_the_ops_command_line_against_the_api(platform: tuple[LocalStack, LocalApi], tmp_path: Path) -> None:
    stack, api = platform
    username, password = stack.demo_users["admin"]
    runner = CliRunner()
    env = {"RELAY_API": api.url, "RELAY_SESSION_FILE": str(tmp_path / "session.json")}

    def relay(*args: str, input: str | None = None) -> str:
        result = runner.invoke(cli, list(args), env=env, input=input, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    relay("login", "--username", username, "--password", password)
    definition = tmp_path / "connector.json"
    body = connector_body(stack, "e2e-cli")
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps(body.pop("credentials")))
    definition.write_text(json.dumps(body))
    created = relay("connectors", "create", str(definition), "--credentials", str(credentials))
    assert "e2e-cli" in created and stack.servicetrade.client_credentials()["client_secret"] not in created
    assert "e2e-cli" in relay("connectors", "list")
    relay("connectors", "start", "e2e-cli")
    relay("connectors", "run", "e2e-cli", "--kind", "poll")
    assert stack.lambda_service is not None and stack.lambda_service.wait_idle(60)
    runs = relay("runs", "e2e-cli")
    assert "poll" in runs and "succeeded" in runs
    run_id = json.loads(relay("--json", "runs", "e2e-cli"))["runs"][0]["run_id"]
    assert "poll run" in relay("logs", run_id)
    number = str(stack.servicetrade.invoices()[0]["invoiceNumber"])
    assert number in relay("where", number)
    relay("connectors", "pause", "e2e-cli")
    assert "paused" in relay("connectors", "show", "e2e-cli")
    relay("connectors", "delete", "e2e-cli", "--yes")
    gone = runner.invoke(cli, ["connectors", "show", "e2e-cli"], env=env)
    assert gone.exit_code == 1 and "unknown connector" in gone.output
