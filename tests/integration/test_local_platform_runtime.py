"""The local platform running by itself (`LocalPlatform.start_background`, what `make api` starts): the Lambda
Invoke API answering boto3's `lambda` client as Lambda does, its async queue (retries, dead-letter queue),
the local EventBridge Scheduler firing the schedules kept in the embedded AWS (EventBridge cron, rate and
at expressions, timezones and DST), the delivery queue pump — and invocations that never overlap.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local.runtime import runner
from local.runtime.lambda_service import FunctionDirectory
from local.runtime.platform import STAGE, LocalPlatform
from local.runtime.scheduler import (
    Firing,
    LocalScheduler,
    UnsupportedScheduleExpression,
    next_fire,
    translate_cron,
)

UTC = dt.UTC
GROUP = f"invoice-relay-{STAGE}"  # ConnectorScheduleGroup's name
ROLE_ARN = "arn:aws:iam::123456789012:role/invoice-relay-local-schedulerrole"
# A function of the tests' own, added to the template: it invokes another function through boto3, as a
# handler of the project may.
CALLER = "LocalCallerFunction"
CALLER_CODE = """
import json

import boto3
from botocore.config import Config


def lambda_handler(event, context):
    # A short read timeout: a deadlock fails the test in seconds instead of hanging it.
    client = boto3.client("lambda", config=Config(read_timeout=30, retries={"max_attempts": 1}))
    answer = client.invoke(
        FunctionName=event["target"],
        InvocationType=event.get("type", "RequestResponse"),
        Payload=json.dumps(event["payload"]),
    )
    payload = answer["Payload"].read()
    return {
        "status_code": answer["StatusCode"],
        "function_error": answer.get("FunctionError"),
        "payload": json.loads(payload) if payload else None,
    }
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    code = tmp_path_factory.mktemp("caller")
    (code / "app.py").write_text(textwrap.dedent(CALLER_CODE))
    local = LocalPlatform()
    local.template["Resources"][CALLER] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "FunctionName": f"invoice-relay-{STAGE}-test-caller",
            "CodeUri": str(code),
            "Handler": "app.lambda_handler",
        },
    }
    with local:
        ensure_group(local)
        # Retries and redeliveries at once: the tests wait for them.
        local.start_background(retry_delays=(0.05, 0.05), queue_retry_after=0, log=False)
        yield local


def ensure_group(platform: LocalPlatform) -> None:
    """The connectors' schedule group (created from the template when it has ConnectorScheduleGroup)."""
    scheduler = platform.aws.client("scheduler")
    try:
        scheduler.get_schedule_group(Name=GROUP)
    except scheduler.exceptions.ResourceNotFoundException:
        scheduler.create_schedule_group(Name=GROUP)


@pytest.fixture(scope="module")
def lambda_client(platform: LocalPlatform) -> Any:
    assert platform.lambda_service is not None
    return boto3.session.Session().client(
        "lambda",
        endpoint_url=platform.lambda_service.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(read_timeout=120, retries={"max_attempts": 1}),
    )


def invoke(client: Any, function: str, payload: Any, **options: Any) -> tuple[dict[str, Any], Any]:
    answer = client.invoke(FunctionName=function, Payload=json.dumps(payload), **options)
    body = answer["Payload"].read()
    return answer, json.loads(body) if body else None


def service(platform: LocalPlatform) -> Any:
    assert platform.lambda_service is not None
    return platform.lambda_service


# -- the Lambda Invoke API ---------------------------------------------------------------------------------
def test_an_event_invoke_runs_the_real_handler_on_the_worker(
    platform: LocalPlatform, lambda_client: Any
) -> None:
    answer, payload = invoke(
        lambda_client, "invoice-relay-dev-poll", {"connector_id": "nope"}, InvocationType="Event"
    )

    assert answer["StatusCode"] == 202 and payload is None
    assert service(platform).wait_idle(120)
    outcome = service(platform).outcome(answer["ResponseMetadata"]["RequestId"])
    assert outcome is not None and outcome.succeeded and outcome.attempts == 1
    assert (outcome.logical_id, outcome.source) == ("PollFunction", "Invoke API")
    # The handler ran: an unknown connector is a failed run (not a failed invocation), with its reason.
    assert outcome.result["status"] == "failed"
    assert outcome.result["reason"] == "unknown connector 'nope'"


@pytest.mark.parametrize(
    "function",
    [
        "invoice-relay-dev-poll",
        "PollFunction",  # the logical id, as `sam local` takes it
        "arn:aws:lambda:us-east-1:123456789012:function:invoice-relay-dev-poll",
        "arn:aws:lambda:us-east-1:123456789012:function:invoice-relay-dev-poll:$LATEST",
        "123456789012:function:invoice-relay-dev-poll",
    ],
)
def test_request_response_returns_the_handlers_payload(lambda_client: Any, function: str) -> None:
    answer, payload = invoke(lambda_client, function, {"connector_id": "nope"})

    assert answer["StatusCode"] == 200
    assert answer["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in answer
    assert payload["connector_id"] == "nope" and payload["kind"] == "poll" and payload["status"] == "failed"


def test_a_handler_error_is_an_unhandled_function_error(lambda_client: Any) -> None:
    answer, payload = invoke(lambda_client, "invoice-relay-dev-poll", {"connector_id": "Not An Id"})

    assert answer["StatusCode"] == 200 and answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "InvalidScheduledEvent"
    assert "is not a connector id" in payload["errorMessage"]
    assert payload["stackTrace"] and payload["requestId"] == answer["ResponseMetadata"]["RequestId"]


@pytest.mark.parametrize(
    ("function", "qualifier", "named"),
    [
        ("nope", None, "arn:aws:lambda:us-east-1:123456789012:function:nope"),
        (
            "invoice-relay-dev-poll",
            "v2",
            "arn:aws:lambda:us-east-1:123456789012:function:invoice-relay-dev-poll:v2",
        ),
        (
            "arn:aws:lambda:eu-west-1:123456789012:function:invoice-relay-dev-poll",
            None,
            "arn:aws:lambda:eu-west-1:123456789012:function:invoice-relay-dev-poll",
        ),
    ],
)
def test_an_unknown_function_is_resource_not_found(
    lambda_client: Any, function: str, qualifier: str | None, named: str
) -> None:
    options = {"Qualifier": qualifier} if qualifier else {}

    with pytest.raises(ClientError) as raised:
        lambda_client.invoke(FunctionName=function, Payload=b"{}", **options)

    error = raised.value.response
    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert error["Error"]["Message"] == f"Function not found: {named}"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_dry_run_checks_the_function_and_runs_nothing(platform: LocalPlatform, lambda_client: Any) -> None:
    before = len(service(platform).outcomes)

    answer, payload = invoke(
        lambda_client, "ExportFunction", {"connector_id": "nope"}, InvocationType="DryRun"
    )

    assert answer["StatusCode"] == 204 and payload is None
    assert len(service(platform).outcomes) == before


def test_a_payload_that_is_not_json_is_refused(lambda_client: Any) -> None:
    with pytest.raises(ClientError) as raised:
        lambda_client.invoke(FunctionName="invoice-relay-dev-poll", Payload=b"{not json")

    assert raised.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_a_failing_event_is_retried_twice_then_dead_lettered(
    platform: LocalPlatform, lambda_client: Any
) -> None:
    event = {"connector_id": "Not An Id", "marker": str(uuid.uuid4())}

    answer, _ = invoke(lambda_client, "invoice-relay-dev-poll", event, InvocationType="Event")

    assert service(platform).wait_idle(120)
    request_id = answer["ResponseMetadata"]["RequestId"]
    outcome = service(platform).outcome(request_id)
    assert outcome is not None and not outcome.succeeded
    assert outcome.attempts == 3  # the first attempt and Lambda's two retries
    assert outcome.error is not None and outcome.error.startswith("InvalidScheduledEvent:")
    # PollFunction's DeadLetterQueue (template: ScheduleDeadLetterQueue) has the event, as Lambda sends it.
    dead_letters = platform.physical["ScheduleDeadLetterQueue"]
    assert outcome.dead_letter_queue_url == dead_letters
    message = next(m for m in receive_all(platform, dead_letters) if json.loads(m["Body"]) == event)
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes["RequestID"] == request_id and attributes["ErrorCode"] == "200"
    assert "is not a connector id" in attributes["ErrorMessage"]


def test_the_functions_get_the_service_as_their_lambda_endpoint(platform: LocalPlatform) -> None:
    lambda_service = service(platform)

    environment = platform.environment("PollFunction")

    assert environment["AWS_ENDPOINT_URL_LAMBDA"].startswith(lambda_service.url + "/")
    # Outside an invocation, the process's own clients get the plain endpoint.
    platform.invoke("PollFunction", {"connector_id": "nope"})
    assert lambda_service.wait_idle(60)
    assert boto3.session.Session().client("lambda").meta.endpoint_url == lambda_service.url


def test_the_function_arns_of_the_template_lead_to_their_functions(platform: LocalPlatform) -> None:
    directory = platform.functions
    for logical_id in ("PollFunction", "ExportFunction", "CatalogSyncFunction", "BundleFunction"):
        assert directory.logical_id(directory.arn(logical_id)) == logical_id
    if "ManagementApiFunction" not in platform.template["Resources"]:
        pytest.skip("no management function in template.yaml yet")
    environment = platform.environment("ManagementApiFunction")
    targets = {name: value for name, value in environment.items() if value.startswith("arn:aws:lambda:")}
    assert targets, "the management function names the scheduled functions by ARN"
    assert {name: arn for name, arn in targets.items() if directory.logical_id(arn) is None} == {}


# -- invoking from a handler, one at a time ------------------------------------------------------------------
def test_a_handler_invokes_another_function_synchronously_without_deadlock(
    platform: LocalPlatform, lambda_client: Any
) -> None:
    request = {"target": "invoice-relay-dev-poll", "payload": {"connector_id": "nope"}}

    direct = platform.invoke(CALLER, request)  # the caller holds the invocation lock on this thread
    _, through_api = invoke(lambda_client, CALLER, request)  # ... and on a thread of the Lambda API

    for answer in (direct, through_api):
        assert answer["status_code"] == 200 and answer["function_error"] is None
        assert answer["payload"]["status"] == "failed" and answer["payload"]["connector_id"] == "nope"


def test_a_handler_queues_an_event_invoke(platform: LocalPlatform) -> None:
    request = {"target": "PollFunction", "type": "Event", "payload": {"connector_id": "queued-by-handler"}}

    answer = platform.invoke(CALLER, request)

    assert answer == {"status_code": 202, "function_error": None, "payload": None}
    assert service(platform).wait_idle(120)
    assert any(
        o.logical_id == "PollFunction" and o.result and o.result["connector_id"] == "queued-by-handler"
        for o in service(platform).outcomes
    )


def test_invocations_never_overlap(
    platform: LocalPlatform, lambda_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    running, peak, count = [0], [0], [0]
    guard = threading.Lock()
    original = runner.invoke

    def counting(*args: Any, **kwargs: Any) -> Any:
        with guard:
            running[0] += 1
            count[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.02)  # widen the window an overlap would show in
            return original(*args, **kwargs)
        finally:
            with guard:
                running[0] -= 1

    monkeypatch.setattr(runner, "invoke", counting)
    event = {"connector_id": "nope"}
    callers: list[Callable[[], Any]] = [
        lambda: invoke(lambda_client, "invoice-relay-dev-poll", event),
        lambda: invoke(lambda_client, "invoice-relay-dev-export", event),
        lambda: invoke(lambda_client, "invoice-relay-dev-poll", event, InvocationType="Event"),
        lambda: invoke(lambda_client, "invoice-relay-dev-catalog-sync", event, InvocationType="Event"),
        lambda: platform.invoke("BundleFunction", event),
        lambda: platform.aws.client("sqs").send_message(
            QueueUrl=platform.delivery_queue_url, MessageBody='{"not": "a work item"}'
        ),
    ]
    threads = [threading.Thread(target=call) for call in callers * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert service(platform).wait_idle(120)
    assert platform.delivery_pump is not None and platform.delivery_pump.wait_idle(120)
    assert count[0] >= 10
    assert peak[0] == 1


# -- the delivery queue pump ---------------------------------------------------------------------------------
def test_the_queue_pump_feeds_the_delivery_queue_to_deliver_function(platform: LocalPlatform) -> None:
    pump = platform.delivery_pump
    assert pump is not None and pump.batch_size == 25  # the template's BatchSize
    sqs = platform.aws.client("sqs")
    body = json.dumps({"malformed": str(uuid.uuid4())})
    records_before = pump.counts["records"]

    # Delayed, and not a work item: DeliverFunction fails it on each receive until the queue's
    # maxReceiveCount (5) moves it to the dead-letter queue — delivered, never lost, nobody calling drain.
    sqs.send_message(QueueUrl=platform.delivery_queue_url, MessageBody=body, DelaySeconds=1)

    dead_letters = platform.physical["DeliveryDeadLetterQueue"]
    deadline = time.monotonic() + 90
    found: list[dict[str, Any]] = []
    while not found and time.monotonic() < deadline:
        found = [m for m in receive_all(platform, dead_letters) if m["Body"] == body]
        time.sleep(0.2)
    assert found, "the message never reached the dead-letter queue"
    assert int(found[0]["Attributes"]["ApproximateReceiveCount"]) >= 5
    assert pump.counts["records"] - records_before >= 5
    assert queue_depth(platform, platform.delivery_queue_url) == 0


# -- the scheduler, driven by the test's clock ---------------------------------------------------------------
Dispatched = list[tuple[str, Any, str]]


@pytest.fixture
def scheduler(platform: LocalPlatform) -> Iterator[tuple[LocalScheduler, Dispatched]]:
    """A scheduler of the test's own that records what it would invoke (the platform's runs on real time
    and never sees these schedules due: they start tomorrow)."""
    dispatched: Dispatched = []
    local = LocalScheduler(
        platform.aws.client("scheduler"),
        platform.functions,
        lambda logical_id, event, source: dispatched.append((logical_id, event, source)),
        sqs_client=platform.aws.client("sqs"),
        log_firings=False,
    )
    yield local, dispatched


@pytest.fixture
def schedules(platform: LocalPlatform) -> Iterator[Callable[..., str]]:
    """Creates schedules in the connectors' group (deleted after the test); returns their names."""
    client = platform.aws.client("scheduler")
    created: list[str] = []

    def create(expression: str, *, target: str | None = None, **options: Any) -> str:
        name = f"test-{uuid.uuid4().hex[:12]}"
        client.create_schedule(
            Name=name,
            GroupName=GROUP,
            ScheduleExpression=expression,
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={
                "Arn": target or platform.functions.arn("PollFunction"),
                "RoleArn": ROLE_ARN,
                "Input": json.dumps({"connector_id": "acme"}),
                "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
                "DeadLetterConfig": {"Arn": queue_arn(platform, "ScheduleDeadLetterQueue")},
            },
            **options,
        )
        created.append(name)
        return name

    yield create
    for name in created:
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_schedule(GroupName=GROUP, Name=name)


def tomorrow() -> dt.datetime:
    """A whole minute a day from now (schedules starting then never fire on the real clock here)."""
    return (dt.datetime.now(UTC) + dt.timedelta(days=1)).replace(second=0, microsecond=0)


def ours(firings: list[Firing], name: str) -> list[Firing]:
    return [f for f in firings if f.name == name]


def test_a_rate_schedule_fires_at_its_times_not_while_disabled_not_after_delete(
    platform: LocalPlatform, scheduler: tuple[LocalScheduler, Dispatched], schedules: Callable[..., str]
) -> None:
    local, dispatched = scheduler
    start = tomorrow()
    name = schedules("rate(1 minute)", StartDate=start)
    client = platform.aws.client("scheduler")
    minute = dt.timedelta(minutes=1)

    assert ours(local.fire_due(start - dt.timedelta(seconds=1)), name) == []
    (first,) = ours(local.fire_due(start), name)
    assert ours(local.fire_due(start + dt.timedelta(seconds=30)), name) == []
    (second,) = ours(local.fire_due(start + minute), name)

    assert (first.scheduled_time, second.scheduled_time) == (start, start + minute)
    assert (first.group, first.logical_id, first.event) == (GROUP, "PollFunction", {"connector_id": "acme"})
    assert dispatched.count(("PollFunction", {"connector_id": "acme"}, f"schedule {GROUP}/{name}")) == 2

    current = client.get_schedule(GroupName=GROUP, Name=name)
    update = {
        k: current[k] for k in ("Name", "GroupName", "ScheduleExpression", "FlexibleTimeWindow", "Target")
    }
    client.update_schedule(**update, StartDate=start, State="DISABLED")
    assert ours(local.fire_due(start + 2 * minute), name) == []

    client.update_schedule(**update, StartDate=start, State="ENABLED")
    (third,) = ours(local.fire_due(start + 3 * minute), name)
    assert third.scheduled_time == start + 3 * minute

    client.delete_schedule(GroupName=GROUP, Name=name)
    assert ours(local.fire_due(start + 4 * minute), name) == []


def test_a_changed_expression_takes_effect_at_once(
    platform: LocalPlatform, scheduler: tuple[LocalScheduler, Dispatched], schedules: Callable[..., str]
) -> None:
    local, _ = scheduler
    start = tomorrow()
    name = schedules("rate(1 minute)", StartDate=start)
    client = platform.aws.client("scheduler")
    assert len(ours(local.fire_due(start), name)) == 1

    current = client.get_schedule(GroupName=GROUP, Name=name)
    client.update_schedule(
        **{k: current[k] for k in ("Name", "GroupName", "FlexibleTimeWindow", "Target", "State")},
        ScheduleExpression="rate(1 hour)",
        StartDate=start,
    )

    assert ours(local.fire_due(start + dt.timedelta(minutes=1)), name) == []
    assert len(ours(local.fire_due(start + dt.timedelta(hours=1)), name)) == 1


def test_missed_fire_times_fire_once(
    scheduler: tuple[LocalScheduler, Dispatched], schedules: Callable[..., str]
) -> None:
    local, _ = scheduler
    start = tomorrow()
    name = schedules("rate(1 minute)", StartDate=start)

    assert len(ours(local.fire_due(start + dt.timedelta(minutes=10, seconds=5)), name)) == 1
    assert ours(local.fire_due(start + dt.timedelta(minutes=10, seconds=30)), name) == []
    assert len(ours(local.fire_due(start + dt.timedelta(minutes=11)), name)) == 1


def test_a_one_time_schedule_fires_once_and_is_deleted_after_completion(
    platform: LocalPlatform, scheduler: tuple[LocalScheduler, Dispatched], schedules: Callable[..., str]
) -> None:
    local, _ = scheduler
    when = tomorrow()
    wall = when.astimezone(ZoneInfo("Europe/Paris")).replace(tzinfo=None).isoformat()  # Paris clock time
    name = schedules(f"at({wall})", ScheduleExpressionTimezone="Europe/Paris", ActionAfterCompletion="DELETE")

    assert ours(local.fire_due(when - dt.timedelta(seconds=1)), name) == []
    (fired,) = ours(local.fire_due(when), name)
    assert fired.scheduled_time == when
    assert ours(local.fire_due(when + dt.timedelta(days=1)), name) == []
    client = platform.aws.client("scheduler")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_schedule(GroupName=GROUP, Name=name)


def test_a_cron_schedule_fires_in_its_timezone(
    platform: LocalPlatform, scheduler: tuple[LocalScheduler, Dispatched], schedules: Callable[..., str]
) -> None:
    local, _ = scheduler

    def client_view(name: str) -> dict[str, Any]:
        return platform.aws.client("scheduler").get_schedule(GroupName=GROUP, Name=name)

    start = tomorrow()
    name = schedules("cron(0 18 * * ? *)", ScheduleExpressionTimezone="America/New_York", StartDate=start)
    due = next_fire(client_view(name), start)
    assert due is not None and due.astimezone(ZoneInfo("America/New_York")).hour == 18

    assert ours(local.fire_due(due - dt.timedelta(seconds=1)), name) == []
    assert [f.scheduled_time for f in ours(local.fire_due(due), name)] == [due]


def test_a_target_that_is_not_a_function_is_dead_lettered(
    platform: LocalPlatform, scheduler: tuple[LocalScheduler, Dispatched], schedules: Callable[..., str]
) -> None:
    local, dispatched = scheduler
    start = tomorrow()
    target = "arn:aws:lambda:us-east-1:123456789012:function:someone-elses"
    name = schedules("rate(5 minutes)", StartDate=start, target=target)

    (fired,) = ours(local.fire_due(start), name)

    assert fired.logical_id is None and not [d for d in dispatched if d[2].endswith(name)]
    message = next(
        m
        for m in receive_all(platform, platform.physical["ScheduleDeadLetterQueue"])
        if "EXECUTION_ID" in m.get("MessageAttributes", {})
        and m["MessageAttributes"]["EXECUTION_ID"]["StringValue"] == fired.execution_id
    )
    assert json.loads(message["Body"]) == {"connector_id": "acme"}
    assert message["MessageAttributes"]["TARGET_ARN"]["StringValue"] == target


def test_an_unsupported_expression_never_fires_and_says_why(
    scheduler: tuple[LocalScheduler, Dispatched], schedules: Callable[..., str]
) -> None:
    local, _ = scheduler
    name = schedules("cron(0 9 LW * ? *)", StartDate=tomorrow())

    assert ours(local.fire_due(tomorrow() + dt.timedelta(days=60)), name) == []
    assert "LW" in local.refused[(GROUP, name)]


def test_the_platforms_scheduler_runs_the_target_on_the_lambda_worker(
    platform: LocalPlatform, schedules: Callable[..., str]
) -> None:
    assert platform.scheduler is not None
    start = tomorrow()
    name = schedules("rate(1 hour)", StartDate=start)

    (fired,) = ours(platform.scheduler.fire_due(start), name)

    assert fired.logical_id == "PollFunction"
    assert service(platform).wait_idle(120)
    outcome = next(o for o in reversed(service(platform).outcomes) if o.source == f"schedule {GROUP}/{name}")
    assert outcome.succeeded and outcome.result["connector_id"] == "acme"
    assert outcome.result["reason"] == "unknown connector 'acme'"


def test_schedule_groups_are_created_once(platform: LocalPlatform, schedules: Callable[..., str]) -> None:
    name = schedules("rate(1 hour)", StartDate=tomorrow())
    client = platform.aws.client("scheduler")

    # A second embedded-AWS resource pass (another platform in this process) keeps the group as it is:
    # moto replaces a group created again, schedules and all.
    platform.aws.create_resources(platform.template)

    assert platform.physical["ConnectorScheduleGroup"] == GROUP
    assert client.get_schedule(GroupName=GROUP, Name=name)["Name"] == name


# -- EventBridge expressions → fire times (no AWS) ----------------------------------------------------------
def at_utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def fires(expression: str, after: dt.datetime, count: int = 3, **schedule: Any) -> list[dt.datetime]:
    described = {"ScheduleExpression": expression, **schedule}
    times: list[dt.datetime] = []
    while len(times) < count:
        found = next_fire(described, times[-1] if times else after)
        if found is None:
            break
        times.append(found)
    return times


@pytest.mark.parametrize(
    ("eventbridge", "croniter_expression"),
    [
        ("0 18 * * ? *", "0 18 * * * 0 *"),
        ("0/15 8-17 ? * MON-FRI *", "0/15 8-17 * * 1-5 0 *"),
        ("0 9 ? * 2#1 *", "0 9 * * 1#1 0 *"),
        ("0 9 ? * 6L *", "0 9 * * L5 0 *"),
        ("0 9 ? * L *", "0 9 * * 6 0 *"),
        ("0 9 ? * 1,7 *", "0 9 * * 0,6 0 *"),
        ("0 9 L * ? *", "0 9 L * * 0 *"),
        ("0 9 15W * ? *", "0 9 15W * * 0 *"),
        ("30 6 1 JAN-MAR ? 2027-2029", "30 6 1 1-3 * 0 2027-2029"),
    ],
)
def test_eventbridge_cron_is_translated_for_croniter(eventbridge: str, croniter_expression: str) -> None:
    assert translate_cron(eventbridge) == croniter_expression


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("cron(0 9 LW * ? *)", "LW"),
        ("cron(0 9 * * * *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 9 ? * * ? *)", "6"),
        ("cron(0 9 ? * 2#1,4#3 *)", "'#'"),
        ("cron(0 9 ? * 1/2 *)", "'/'"),
        ("cron(0 9 1 * ? 2150)", "2099"),
        ("cron(0 24 * * ? *)", "hours"),
        ("cron(0 9 ? * FRI-MON *)", "backwards"),
        ("rate(0 minutes)", "at least 1"),
        ("rate(5 weeks)", "not a schedule expression"),
        ("every day", "not a schedule expression"),
    ],
)
def test_what_the_local_scheduler_cannot_evaluate_is_refused_clearly(expression: str, why: str) -> None:
    with pytest.raises(UnsupportedScheduleExpression, match=why.replace("(", r"\(")):
        next_fire({"ScheduleExpression": expression}, at_utc(2026, 12, 2))


def test_an_unknown_timezone_is_refused() -> None:
    with pytest.raises(UnsupportedScheduleExpression, match="IANA"):
        next_fire(
            {"ScheduleExpression": "cron(0 18 * * ? *)", "ScheduleExpressionTimezone": "Mars/Olympus"},
            at_utc(2026, 12, 2),
        )


def test_a_daily_cron_fires_every_day_at_its_time() -> None:
    assert fires("cron(0 18 * * ? *)", at_utc(2026, 12, 2, 8)) == [
        at_utc(2026, 12, 2, 18),
        at_utc(2026, 12, 3, 18),
        at_utc(2026, 12, 4, 18),
    ]


def test_every_quarter_hour_on_weekday_office_hours() -> None:
    # Friday 4 December 2026, 17:30: 17:45, then Monday 08:00.
    assert fires("cron(0/15 8-17 ? * MON-FRI *)", at_utc(2026, 12, 4, 17, 30)) == [
        at_utc(2026, 12, 4, 17, 45),
        at_utc(2026, 12, 7, 8, 0),
        at_utc(2026, 12, 7, 8, 15),
    ]


def test_the_first_monday_of_the_month() -> None:
    assert fires("cron(0 9 ? * 2#1 *)", at_utc(2026, 12, 8)) == [
        at_utc(2027, 1, 4, 9),
        at_utc(2027, 2, 1, 9),
        at_utc(2027, 3, 1, 9),
    ]


def test_last_and_nearest_weekday_days() -> None:
    assert fires("cron(0 9 ? * 6L *)", at_utc(2026, 12, 2), count=2) == [
        at_utc(2026, 12, 25, 9),
        at_utc(2027, 1, 29, 9),
    ]
    assert fires("cron(0 9 L * ? *)", at_utc(2027, 1, 31, 10), count=2) == [
        at_utc(2027, 2, 28, 9),
        at_utc(2027, 3, 31, 9),
    ]
    # 15 May 2027 is a Saturday: the nearest weekday is Friday the 14th.
    assert fires("cron(0 9 15W * ? *)", at_utc(2027, 5, 1), count=1) == [at_utc(2027, 5, 14, 9)]


def test_a_cron_in_europe_london_follows_the_clock_across_dst() -> None:
    london = {"ScheduleExpressionTimezone": "Europe/London"}
    # 18:00 on the London clock: 18:00Z in winter, 17:00Z in summer (the clocks go forward 28 March 2027).
    assert fires("cron(0 18 * * ? *)", at_utc(2027, 3, 27), **london) == [
        at_utc(2027, 3, 27, 18),
        at_utc(2027, 3, 28, 17),
        at_utc(2027, 3, 29, 17),
    ]
    # 01:30 does not exist on 28 March 2027 (01:00 → 02:00): that day does not fire.
    assert fires("cron(30 1 * * ? *)", at_utc(2027, 3, 27, 2), count=2, **london) == [
        at_utc(2027, 3, 29, 0, 30),
        at_utc(2027, 3, 30, 0, 30),
    ]
    # 01:30 happens twice on 31 October 2027 (02:00 → 01:00): it fires once, the first time.
    assert fires("cron(30 1 * * ? *)", at_utc(2027, 10, 30, 2), count=2, **london) == [
        at_utc(2027, 10, 31, 0, 30),
        at_utc(2027, 11, 1, 1, 30),
    ]


def test_a_rate_counts_elapsed_time_from_its_start() -> None:
    start = at_utc(2027, 3, 27, 12)
    assert fires(
        "rate(1 day)", at_utc(2027, 3, 20), StartDate=start, ScheduleExpressionTimezone="Europe/London"
    ) == [
        start,
        at_utc(2027, 3, 28, 12),  # 24 hours later, though the London clock shows 13:00 by then
        at_utc(2027, 3, 29, 12),
    ]
    assert fires("rate(5 minutes)", at_utc(2027, 1, 1, 0, 7), LastModificationDate=at_utc(2027, 1, 1)) == [
        at_utc(2027, 1, 1, 0, 10),
        at_utc(2027, 1, 1, 0, 15),
        at_utc(2027, 1, 1, 0, 20),
    ]


def test_start_and_end_dates_bound_a_recurring_schedule() -> None:
    bounded = {"StartDate": at_utc(2027, 1, 10, 12), "EndDate": at_utc(2027, 1, 12, 18)}
    assert fires("cron(0 18 * * ? *)", at_utc(2027, 1, 1), count=5, **bounded) == [
        at_utc(2027, 1, 10, 18),
        at_utc(2027, 1, 11, 18),  # the 12th's 18:00 is the end: fires are before it
    ]


def test_a_one_time_schedule_is_its_wall_time_in_its_timezone() -> None:
    schedule = {
        "ScheduleExpression": "at(2026-12-24T10:00:00)",
        "ScheduleExpressionTimezone": "Europe/London",
    }
    assert next_fire(schedule, at_utc(2026, 12, 2)) == at_utc(2026, 12, 24, 10)
    assert next_fire(schedule, at_utc(2026, 12, 24, 10)) is None
    summer = {"ScheduleExpression": "at(2027-07-01T10:00:00)", "ScheduleExpressionTimezone": "Europe/London"}
    assert next_fire(summer, at_utc(2026, 12, 2)) == at_utc(2027, 7, 1, 9)


def test_the_function_directory_takes_every_form_of_function_name() -> None:
    directory = FunctionDirectory({"PollFunction": "invoice-relay-dev-poll"})
    for reference in (
        "invoice-relay-dev-poll",
        "PollFunction",
        "invoice-relay-dev-poll:$LATEST",
        "123456789012:function:invoice-relay-dev-poll",
        "arn:aws:lambda:us-east-1:123456789012:function:invoice-relay-dev-poll",
    ):
        assert directory.logical_id(reference) == "PollFunction", reference
    for reference in (
        "invoice-relay-dev-export",
        "invoice-relay-dev-poll:live",
        "arn:aws:lambda:us-east-1:999999999999:function:invoice-relay-dev-poll",
        "arn:aws:sqs:us-east-1:123456789012:invoice-relay-dev-poll",
    ):
        assert directory.logical_id(reference) is None, reference


# -- helpers ---------------------------------------------------------------------------------------------
def receive_all(platform: LocalPlatform, queue_url: str) -> list[dict[str, Any]]:
    """Every visible message of a queue (left on it: they become visible again)."""
    sqs = platform.aws.client("sqs")
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
            VisibilityTimeout=1,
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)


def queue_depth(platform: LocalPlatform, queue_url: str) -> int:
    attributes = platform.aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def queue_arn(platform: LocalPlatform, logical_id: str) -> str:
    return platform.aws.client("sqs").get_queue_attributes(
        QueueUrl=platform.physical[logical_id], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
