"""template.yaml is the single source of truth for the local stack: these tests check that the embedded AWS
builds the same table, bucket and queues from it, and that the handlers get the environment SAM gives them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.runtime.embedded_aws import EmbeddedAWS
from local.runtime.platform import sqs_batch_size
from local.runtime.template import (
    DEFAULT_TEMPLATE,
    REPO_ROOT,
    function_environment,
    functions,
    load_template,
    resolve,
    resources_of_type,
)

# What DESIGN.md promises and the application code relies on; a template edit that breaks it must fail here.
# logical id → (code folder, timeout seconds, memory MB)
EXPECTED_FUNCTIONS = {
    "PollFunction": ("functions/poll", 120, 512),
    "ExportFunction": ("functions/export", 120, 512),
    "WebhookFunction": ("functions/webhook", 10, 256),  # answers webhooks in milliseconds
    "DeliverFunction": ("functions/deliver", 120, 256),
    "CatalogSyncFunction": ("functions/catalog_sync", 120, 512),
    "OAuthFunction": ("functions/oauth", 15, 256),  # behind API Gateway (29 s at most)
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def aws(template: dict[str, Any]) -> Iterator[EmbeddedAWS]:
    # One moto server for the whole module keeps the tests fast; they only read what it created.
    with EmbeddedAWS() as embedded_aws:
        embedded_aws.create_resources(template)
        yield embedded_aws


@pytest.fixture(scope="module")
def physical(aws: EmbeddedAWS) -> dict[str, str]:
    return dict(aws.physical)


def properties_of(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]


# ---------------------------------------------------------------------- DynamoDB


def test_state_table_has_the_template_keys_and_gsi(
    aws: EmbeddedAWS, physical: dict[str, str], template: dict[str, Any]
) -> None:
    table = aws.client("dynamodb").describe_table(TableName=physical["StateTable"])["Table"]
    declared = properties_of(template, "StateTable")

    assert table["KeySchema"] == declared["KeySchema"]
    assert table["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        declared["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"

    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"GSI1", "GSI2"}
    assert indexes["GSI1"]["KeySchema"] == [
        {"AttributeName": "GSI1PK", "KeyType": "HASH"},
        {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
    ]
    assert indexes["GSI1"]["Projection"] == {"ProjectionType": "ALL"}
    # documents by number: keys only (an entry written once per document, never rewritten)
    assert indexes["GSI2"]["KeySchema"] == [
        {"AttributeName": "GSI2PK", "KeyType": "HASH"},
        {"AttributeName": "GSI2SK", "KeyType": "RANGE"},
    ]
    assert indexes["GSI2"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}


def test_state_table_expires_items_on_expires_at(aws: EmbeddedAWS, physical: dict[str, str]) -> None:
    dynamodb = aws.client("dynamodb")

    ttl = dynamodb.describe_time_to_live(TableName=physical["StateTable"])["TimeToLiveDescription"]
    backups = dynamodb.describe_continuous_backups(TableName=physical["StateTable"])

    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"


def test_both_tables_can_be_restored_to_a_point_in_time(aws: EmbeddedAWS, physical: dict[str, str]) -> None:
    # The idempotency records guard against repeated effects (a second invoice): they are restorable too.
    dynamodb = aws.client("dynamodb")

    for table in ("StateTable", "IdempotencyTable"):
        backups = dynamodb.describe_continuous_backups(TableName=physical[table])
        pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        assert pitr["PointInTimeRecoveryStatus"] == "ENABLED", table


def test_idempotency_table_uses_the_powertools_default_attributes(
    aws: EmbeddedAWS, physical: dict[str, str], template: dict[str, Any]
) -> None:
    # DynamoDBPersistenceLayer's defaults: partition key `id`, TTL attribute `expiration`.
    dynamodb = aws.client("dynamodb")
    table = dynamodb.describe_table(TableName=physical["IdempotencyTable"])["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=physical["IdempotencyTable"])["TimeToLiveDescription"]
    deliver = properties_of(template, "DeliverFunction")

    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}
    assert properties_of(template, "IdempotencyTable")["SSESpecification"] == {"SSEEnabled": True}
    assert deliver["Environment"]["Variables"]["IDEMPOTENCY_TABLE_NAME"] == {"Ref": "IdempotencyTable"}
    environment = function_environment(template, "DeliverFunction", physical, {"Stage": "dev"})
    assert environment["IDEMPOTENCY_TABLE_NAME"] == physical["IdempotencyTable"]


# ---------------------------------------------------------------------- S3


def test_document_bucket_is_encrypted_private_and_versioned(
    aws: EmbeddedAWS, physical: dict[str, str]
) -> None:
    s3 = aws.client("s3")
    bucket = physical["DocumentBucket"]

    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    public_access = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]

    algorithm = encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
    assert algorithm in {"AES256", "aws:kms"}
    assert public_access == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert ownership["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def test_document_bucket_lifecycle_follows_the_storage_prefixes(
    aws: EmbeddedAWS, physical: dict[str, str]
) -> None:
    rules = aws.client("s3").get_bucket_lifecycle_configuration(Bucket=physical["DocumentBucket"])["Rules"]
    by_id = {rule["ID"]: rule for rule in rules}

    assert by_id["ExpireRawWebhookBodies"]["Filter"] == {"Prefix": "raw/"}
    assert by_id["ExpireRawWebhookBodies"]["Expiration"] == {"Days": 400}
    for rule_id, archived in (("ArchiveExports", "exports/"), ("ArchiveBundles", "bundles/")):
        assert by_id[rule_id]["Filter"] == {"Prefix": archived}
        assert by_id[rule_id]["Transitions"] == [{"Days": 30, "StorageClass": "STANDARD_IA"}]
        assert by_id[rule_id]["Expiration"] == {"Days": 730}
    assert any(rule.get("AbortIncompleteMultipartUpload") == {"DaysAfterInitiation": 2} for rule in rules)


def test_bundles_never_uploaded_expire_after_a_week_the_others_are_kept(template: dict[str, Any]) -> None:
    # The bundler tags a stored bundle upload=pending and retags it upload=done after the upload; only the
    # ones a crashed run left pending may go early. Without the tag filter every bundle would expire.
    rules = {
        rule["Id"]: rule
        for rule in properties_of(template, "DocumentBucket")["LifecycleConfiguration"]["Rules"]
    }
    never_uploaded = rules["ExpireBundlesNeverUploaded"]
    bundle_policy = next(
        statement
        for policy in properties_of(template, "BundleFunction")["Policies"]
        for statement in policy.get("Statement", [])
        if statement.get("Sid") == "WriteAndReadBundles"
    )

    assert never_uploaded == {
        "Id": "ExpireBundlesNeverUploaded",
        "Status": "Enabled",
        "Prefix": "bundles/",
        "TagFilters": [{"Key": "upload", "Value": "pending"}],
        "ExpirationInDays": 7,
    }
    assert rules["ArchiveBundles"]["ExpirationInDays"] == 730  # uploaded bundles: kept as before
    assert {"s3:PutObjectTagging", "s3:GetObjectTagging"} <= set(bundle_policy["Action"])
    assert bundle_policy["Resource"] == {"Fn::Sub": "${DocumentBucket.Arn}/bundles/*"}


def test_embedded_bucket_expires_only_bundles_tagged_pending(
    aws: EmbeddedAWS, physical: dict[str, str]
) -> None:
    rules = aws.client("s3").get_bucket_lifecycle_configuration(Bucket=physical["DocumentBucket"])["Rules"]
    never_uploaded = next(rule for rule in rules if rule["ID"] == "ExpireBundlesNeverUploaded")

    assert never_uploaded["Filter"] == {
        "And": {"Prefix": "bundles/", "Tags": [{"Key": "upload", "Value": "pending"}]}
    }
    assert never_uploaded["Expiration"] == {"Days": 7}


@pytest.mark.parametrize(
    "body", [b"name=payment.create&object_id=12&account_id=ab3&user_id=1", b"key=a&file=b", b"%ZZ=\xff\xfe"]
)
def test_embedded_bucket_keeps_a_form_encoded_body_as_sent(
    aws: EmbeddedAWS, physical: dict[str, str], body: bytes
) -> None:
    # A FreshBooks webhook is archived with its own content type; moto server alone would store 0 bytes.
    s3 = aws.client("s3")
    key = "raw/c/freshbooks/webhooks/2026/12/02/fb_1.form"
    s3.put_object(
        Bucket=physical["DocumentBucket"], Key=key, Body=body, ContentType="application/x-www-form-urlencoded"
    )
    stored = s3.get_object(Bucket=physical["DocumentBucket"], Key=key)
    assert stored["Body"].read() == body
    assert stored["ContentType"] == "application/x-www-form-urlencoded"


# ---------------------------------------------------------------------- SQS


def test_delivery_queue_redrives_to_the_dead_letter_queue(aws: EmbeddedAWS, physical: dict[str, str]) -> None:
    sqs = aws.client("sqs")

    queue = sqs.get_queue_attributes(QueueUrl=physical["DeliveryQueue"], AttributeNames=["All"])["Attributes"]
    dead_letter_queue = sqs.get_queue_attributes(
        QueueUrl=physical["DeliveryDeadLetterQueue"], AttributeNames=["All"]
    )["Attributes"]

    redrive_policy = json.loads(queue["RedrivePolicy"])
    assert redrive_policy["deadLetterTargetArn"] == dead_letter_queue["QueueArn"]
    assert int(redrive_policy["maxReceiveCount"]) == 5
    assert queue["VisibilityTimeout"] == "720"
    assert queue["SqsManagedSseEnabled"] == "true"
    assert dead_letter_queue["MessageRetentionPeriod"] == "1209600"


def test_queue_visibility_timeout_covers_six_times_its_consumers_timeout(template: dict[str, Any]) -> None:
    # AWS guidance for SQS event sources: otherwise a message reappears while a consumer still works on it.
    queues = {
        logical_id: queue.get("Properties", {})
        for logical_id, queue in resources_of_type(template, "AWS::SQS::Queue").items()
    }
    consumers: dict[str, list[int]] = {}
    for logical_id, spec in functions(template).items():
        for event in (properties_of(template, logical_id).get("Events") or {}).values():
            if event.get("Type") == "SQS":
                queue = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                consumers.setdefault(queue, []).append(spec.timeout)

    assert set(consumers) == {"DeliveryQueue"}
    for queue, timeouts in consumers.items():
        assert queues[queue].get("VisibilityTimeout", 30) >= 6 * max(timeouts), queue


def test_asynchronously_invoked_functions_keep_failed_events_in_the_schedule_dead_letter_queue(
    template: dict[str, Any],
) -> None:
    # Scheduler (and an EventBridge rule) invoke asynchronously: Scheduler's own DLQ only sees invocations
    # that never reached Lambda; a run that fails after Lambda's retries needs the function's DLQ.
    resources = template["Resources"]
    scheduled = {
        schedule["Properties"]["Target"]["Arn"]["Fn::GetAtt"][0]
        for schedule in resources_of_type(template, "AWS::Scheduler::Schedule").values()
    }
    invoke_statement = next(
        statement
        for policy in properties_of(template, "SchedulerRole")["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if statement["Action"] == "lambda:InvokeFunction"
    )
    # Per-connector schedules made outside the stack use SchedulerRole: whatever it may invoke counts too.
    scheduled |= {arn["Fn::GetAtt"][0] for arn in invoke_statement["Resource"]}
    dead_letter_queue = {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}

    assert scheduled == {"PollFunction", "ExportFunction", "CatalogSyncFunction", "BundleFunction"}
    for logical_id in scheduled:
        assert properties_of(template, logical_id)["DeadLetterQueue"] == {
            "Type": "SQS",
            "TargetArn": dead_letter_queue,
        }, logical_id
    for schedule in resources_of_type(template, "AWS::Scheduler::Schedule").values():
        assert schedule["Properties"]["Target"]["DeadLetterConfig"] == {"Arn": dead_letter_queue}
    alarm = resources["ScheduleDeadLetterQueueAlarm"]["Properties"]
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "QueueName"]}}
    ]
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


# ---------------------------------------------------------------------- alarms


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_alarms_may_use(template: dict[str, Any]) -> None:
    # CloudWatch cannot publish to a topic under the AWS managed aws/sns key: the topic needs its own key
    # whose policy lets this account's alarms use it, or every alarm notification is silently dropped.
    topic = properties_of(template, "AlarmTopic")
    key_reference = topic["KmsMasterKeyId"]["Ref"]
    key = template["Resources"][key_reference]
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    by_principal = {json.dumps(statement["Principal"], sort_keys=True): statement for statement in statements}
    cloudwatch = by_principal[json.dumps({"Service": "cloudwatch.amazonaws.com"})]
    account_root = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}

    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert cloudwatch["Effect"] == "Allow"
    assert sorted(cloudwatch["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    # Without an administrator statement nobody could manage (or delete) the key after the stack made it.
    assert by_principal[json.dumps(account_root, sort_keys=True)]["Action"] == "kms:*"
    assert all(statement["Principal"] != "*" for statement in statements)


# ---------------------------------------------------------------------- functions and their environment


def test_deliver_function_consumes_the_delivery_queue_with_partial_batch_failures(
    template: dict[str, Any],
) -> None:
    (event,) = properties_of(template, "DeliverFunction")["Events"].values()
    queue_properties = properties_of(template, "DeliveryQueue")
    deliver_timeout = functions(template)["DeliverFunction"].timeout

    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["DeliveryQueue", "Arn"]}
    assert event["Properties"]["BatchSize"] == 25
    assert event["Properties"]["MaximumBatchingWindowInSeconds"] == 5
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue_properties["VisibilityTimeout"] == 6 * deliver_timeout


def test_the_local_event_source_mapping_uses_the_template_batch_size(template: dict[str, Any]) -> None:
    assert sqs_batch_size(template, "DeliverFunction") == 25
    assert sqs_batch_size(template, "PollFunction") == 10  # no SQS event: SAM's default


def test_the_http_api_routes_webhooks_and_oauth_to_their_functions(template: dict[str, Any]) -> None:
    events = [
        (logical_id, event)
        for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items()
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi"
    ]
    routes = {
        (event["Properties"]["Method"], event["Properties"]["Path"]): (
            logical_id,
            event["Type"],
            event["Properties"]["ApiId"],
            event["Properties"]["PayloadFormatVersion"],
        )
        for logical_id, event in events
    }
    resource = template["Resources"]["WebhookHttpApi"]
    api = resource["Properties"]

    # An HTTP API ($1.00 per million requests, not the REST API's $3.50), payload format 2.0: what the
    # handlers' APIGatewayHttpResolver reads.
    assert resource["Type"] == "AWS::Serverless::HttpApi"
    on_the_api = ("HttpApi", {"Ref": "WebhookHttpApi"}, "2.0")
    assert routes == {
        ("post", "/webhooks/{connector_id}"): ("WebhookFunction", *on_the_api),
        ("get", "/oauth/{connector_id}/connect"): ("OAuthFunction", *on_the_api),
        ("get", "/oauth/{connector_id}/callback"): ("OAuthFunction", *on_the_api),
    }
    assert api["StageName"] == {"Ref": "Stage"}
    assert api["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "WebhookThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "WebhookThrottlingBurstLimit"},
        "DetailedMetricsEnabled": True,
    }
    access_log = api["AccessLogSettings"]
    assert access_log["DestinationArn"] == {"Fn::GetAtt": ["WebhookApiAccessLogGroup", "Arn"]}
    fields = json.loads(access_log["Format"])  # one JSON object per request, HTTP API $context variables
    assert fields["requestId"] == "$context.requestId" and fields["routeKey"] == "$context.routeKey"
    assert fields["status"] == "$context.status"
    assert not any("resourcePath" in value for value in fields.values())  # a REST-only variable
    assert "RetentionInDays" in properties_of(template, "WebhookApiAccessLogGroup")
    # The alarm on the HTTP API's own metric (5xx by ApiId and Stage; REST's 5XXError by ApiName is gone).
    alarm = properties_of(template, "WebhookApiServerErrorsAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ApiGateway", "5xx")
    assert alarm["Dimensions"] == [
        {"Name": "ApiId", "Value": {"Ref": "WebhookHttpApi"}},
        {"Name": "Stage", "Value": {"Ref": "Stage"}},
    ]
    base = "https://${WebhookHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}"
    assert template["Outputs"]["WebhookApiUrl"]["Value"] == {"Fn::Sub": f"{base}/webhooks/"}
    assert template["Outputs"]["OAuthBaseUrl"]["Value"] == {"Fn::Sub": f"{base}/oauth/"}


def test_every_function_has_a_log_group_with_retention_and_alarms(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for logical_id in functions(template):
        log_group = properties_of(template, logical_id)["LoggingConfig"]["LogGroup"]["Ref"]
        assert resources[log_group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        for metric in ("Errors", "Throttles"):
            alarm = resources[f"{logical_id}{metric}Alarm"]["Properties"]
            assert alarm["MetricName"] == metric
            assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": logical_id}}]


def test_functions_are_read_with_globals_applied(template: dict[str, Any]) -> None:
    specs = functions(template)

    assert EXPECTED_FUNCTIONS.keys() <= specs.keys()
    for logical_id, (code_dir, timeout, memory) in EXPECTED_FUNCTIONS.items():
        spec = specs[logical_id]
        assert spec.runtime == "python3.13"
        assert spec.handler == "app.lambda_handler"
        assert spec.code_uri == REPO_ROOT / code_dir
        assert (spec.code_uri / "app.py").is_file()
        assert (spec.timeout, spec.memory_size) == (timeout, memory), logical_id
        assert spec.environment["TABLE_NAME"] == {"Ref": "StateTable"}


def test_function_environment_points_at_the_created_resources(
    template: dict[str, Any], physical: dict[str, str]
) -> None:
    for logical_id in EXPECTED_FUNCTIONS:
        environment = function_environment(template, logical_id, physical, {"Stage": "dev"})

        assert environment["TABLE_NAME"] == physical["StateTable"]
        assert environment["BUCKET_NAME"] == physical["DocumentBucket"]
        assert environment["DELIVERY_QUEUE_URL"] == physical["DeliveryQueue"]
        assert environment["STAGE"] == "dev"
        assert environment["POWERTOOLS_SERVICE_NAME"] == "invoice-relay"
        assert all(isinstance(value, str) for value in environment.values())


def test_application_code_reaches_the_embedded_aws_through_the_environment(
    aws: EmbeddedAWS, physical: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in aws.env().items():
        monkeypatch.setenv(name, value)

    # A plain client, as the layer creates it: no endpoint or credentials in code.
    queue_urls = boto3.client("sqs").list_queues()["QueueUrls"]

    assert physical["DeliveryQueue"] in queue_urls


def test_create_secret_stores_json_and_overwrites(aws: EmbeddedAWS) -> None:
    secretsmanager = aws.client("secretsmanager")

    first_arn = aws.create_secret("invoice-relay/dev/test-connector", {"api_key": "one"})
    second_arn = aws.create_secret("invoice-relay/dev/test-connector", {"api_key": "two"})

    assert first_arn == second_arn
    stored = secretsmanager.get_secret_value(SecretId="invoice-relay/dev/test-connector")["SecretString"]
    assert json.loads(stored) == {"api_key": "two"}


# ---------------------------------------------------------------------- checkov (`make checkov`)

# What checkov reads as a skip: `checkov:skip=<id>` anywhere, the reason after a colon being optional.
_ANY_CHECKOV_SKIP = re.compile(r"checkov:skip=")
_CHECKOV_SKIP = re.compile(r"^ {4}# checkov:skip=(?P<check>CKV2?_AWS_\d+):(?P<reason>\S.{9,})$")
_RESOURCE_KEY = re.compile(r"^ {2}(?P<logical_id>[A-Za-z0-9]+):$")


def checkov_skips(template_path: Path = DEFAULT_TEMPLATE) -> dict[str, dict[str, str]]:
    """logical id → {check id: reason} for every checkov skip in the template (comments and Metadata).

    Fails on a skip comment that is not `# checkov:skip=<id>:<reason>` on its own line inside a resource:
    checkov would take it, without the reason a reviewer needs.
    """
    skips: dict[str, dict[str, str]] = {}
    section = None
    logical_id = None
    for number, line in enumerate(template_path.read_text(encoding="utf-8").splitlines(), start=1):
        if line[:1].isalpha():
            section, logical_id = line.split(":", 1)[0], None
        elif section == "Resources" and (resource_key := _RESOURCE_KEY.match(line)):
            logical_id = resource_key["logical_id"]
        if not _ANY_CHECKOV_SKIP.search(line):
            continue
        skip = _CHECKOV_SKIP.match(line)
        if not (skip and logical_id):
            raise ValueError(f"template.yaml:{number}: a checkov skip needs its own line and a reason")
        skips.setdefault(logical_id, {})[skip["check"]] = skip["reason"]
    for logical_id, resource in load_template(template_path)["Resources"].items():
        for entry in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            if len(entry.get("comment", "")) < 10:
                raise ValueError(f"{logical_id}: checkov skip {entry.get('id')} without a reason")
            skips.setdefault(logical_id, {})[entry["id"]] = entry["comment"]
    return skips


def test_every_checkov_skip_gives_its_reason(tmp_path: Path) -> None:
    skips = checkov_skips()
    bare = tmp_path / "template.yaml"
    bare.write_text(
        "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    # checkov:skip=CKV_AWS_27\n", encoding="utf-8"
    )

    # A new kind of skip is a decision for review: add it here, with its reason in the template.
    assert {check for checks in skips.values() for check in checks} == {
        "CKV_AWS_18",  # S3 access logging
        "CKV_AWS_27",  # SQS: false positive (SSE-SQS)
        "CKV_AWS_115",  # reserved concurrency
        "CKV_AWS_116",  # DLQ on synchronously invoked functions
        "CKV_AWS_117",  # VPC
        "CKV_AWS_119",  # DynamoDB customer-managed key
        "CKV_AWS_120",  # API Gateway caching
        "CKV_AWS_158",  # log group customer-managed key
        "CKV_AWS_173",  # environment customer-managed key
    }
    assert sum(len(checks) for checks in skips.values()) == 45
    assert skips["DocumentBucket"]["CKV_AWS_18"].startswith("Access logs would need a second bucket")
    with pytest.raises(ValueError, match=r"template\.yaml:4: a checkov skip needs its own line and a reason"):
        checkov_skips(bare)


def test_checkov_skips_hold_for_the_resources_they_are_on(template: dict[str, Any]) -> None:
    # A skip's reason is a claim about the resource: keep the claims true when the resource changes.
    skips = checkov_skips()
    resources = template["Resources"]

    for logical_id, checks in skips.items():
        properties = resources[logical_id].get("Properties", {})
        if "CKV_AWS_27" in checks:  # the SQS false positive: SSE-SQS encrypts the queue
            assert properties.get("SqsManagedSseEnabled") is True, logical_id
        if "CKV_AWS_119" in checks:  # encrypted, with the AWS managed key
            assert properties["SSESpecification"] == {"SSEEnabled": True}, logical_id
        if "CKV_AWS_116" in checks:  # no DLQ: only synchronous callers (API Gateway, an SQS event source)
            event_types = {event["Type"] for event in properties.get("Events", {}).values()}
            assert event_types and event_types <= {"Api", "HttpApi", "SQS"}, logical_id
    # The concurrency skip on the consumer rests on this cap.
    (deliver_event,) = properties_of(template, "DeliverFunction")["Events"].values()
    assert deliver_event["Properties"]["ScalingConfig"]["MaximumConcurrency"] == 5
    assert skips["DeliverFunction"]["CKV_AWS_115"].startswith("Capped at 5")
    # The fixes are not skipped: PITR (CKV_AWS_28), SNS encryption (CKV_AWS_26), DLQs of scheduled functions.
    assert not any({"CKV_AWS_28", "CKV_AWS_26"} & checks.keys() for checks in skips.values())
    for scheduled in ("PollFunction", "ExportFunction", "CatalogSyncFunction", "BundleFunction"):
        assert "CKV_AWS_116" not in skips[scheduled]


# ---------------------------------------------------------------------- template reading (no AWS)


def test_loader_turns_short_form_tags_into_long_form(tmp_path: Path) -> None:
    template_path = tmp_path / "template.yaml"
    template_path.write_text(
        "Resources:\n"
        "  Thing:\n"
        "    Type: AWS::SQS::Queue\n"
        "    Properties:\n"
        "      A: !Ref Stage\n"
        "      B: !GetAtt Queue.Arn\n"
        "      C: !Sub '${AWS::StackName}-${Stage}'\n"
        "      D: !If [IsProd, !Join ['-', [a, b]], !Select [0, !Split [',', 'x,y']]]\n"
        "      E: !Not [!Equals [!Ref Stage, prod]]\n"
        "      F: !FindInMap [Map, !Condition IsProd, key]\n"
        "      G: !And [!Or [!Condition A, !Condition B], !Condition C]\n",
        encoding="utf-8",
    )

    properties = load_template(template_path)["Resources"]["Thing"]["Properties"]

    assert properties["A"] == {"Ref": "Stage"}
    assert properties["B"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert properties["C"] == {"Fn::Sub": "${AWS::StackName}-${Stage}"}
    assert properties["D"] == {
        "Fn::If": [
            "IsProd",
            {"Fn::Join": ["-", ["a", "b"]]},
            {"Fn::Select": [0, {"Fn::Split": [",", "x,y"]}]},
        ]
    }
    assert properties["E"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "Stage"}, "prod"]}]}
    assert properties["F"] == {"Fn::FindInMap": ["Map", {"Condition": "IsProd"}, "key"]}
    assert properties["G"] == {
        "Fn::And": [{"Fn::Or": [{"Condition": "A"}, {"Condition": "B"}]}, {"Condition": "C"}]
    }


def test_resolve_handles_sub_getatt_and_pseudo_parameters() -> None:
    physical = {"StateTable": "invoice-relay-local-statetable"}
    value = {
        "Fn::Sub": "${AWS::Partition}:${AWS::Region}:${AWS::AccountId}:${Stage}:${StateTable.Arn}:${!Literal}"
    }

    resolved = resolve(
        value,
        physical,
        {"Stage": "prod"},
        resource_types={"StateTable": "AWS::DynamoDB::Table"},
        region="eu-west-1",
    )

    assert resolved == (
        "aws:eu-west-1:123456789012:prod:"
        "arn:aws:dynamodb:eu-west-1:123456789012:table/invoice-relay-local-statetable:${Literal}"
    )
    assert resolve({"Ref": "AWS::StackName"}, physical, {}) == "invoice-relay-local"


def test_the_management_api_is_a_rest_api_behind_cognito(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    api = resources["ManagementApi"]
    assert api["Type"] == "AWS::Serverless::Api"
    auth = api["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] == "CognitoAuthorizer"
    assert auth["Authorizers"]["CognitoAuthorizer"]["UserPoolArn"] == {"Fn::GetAtt": ["UserPool", "Arn"]}
    events = resources["ManagementApiFunction"]["Properties"]["Events"]
    assert all(
        e["Type"] == "Api" and e["Properties"]["RestApiId"] == {"Ref": "ManagementApi"}
        for e in events.values()
    )
    # Only the page's shell, its files and the API docs load without a token; they carry no data.
    open_routes = {e["Properties"]["Path"] for e in events.values() if e["Properties"].get("Auth")}
    assert open_routes == {"/admin", "/admin/{asset+}", "/swagger"}
    assert all(
        e["Properties"]["Auth"] == {"Authorizer": "NONE"}
        for e in events.values()
        if e["Properties"].get("Auth")
    )
    assert events["Api"]["Properties"] == {
        "RestApiId": {"Ref": "ManagementApi"},
        "Path": "/{proxy+}",
        "Method": "any",
    }
    groups = {
        r["Properties"]["GroupName"]
        for r in resources_of_type(template, "AWS::Cognito::UserPoolGroup").values()
    }
    assert groups == {"admins", "viewers"}
    client = resources["UserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False
    assert set(client["ExplicitAuthFlows"]) == {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}
    assert resources["UserPool"]["Properties"]["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}


def test_schedules_are_the_connectors_own_in_one_group(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    # No schedule in the template: the management API creates one per connector and scheduled run.
    assert resources_of_type(template, "AWS::Scheduler::Schedule") == {}
    assert "DefaultConnectorId" not in template["Parameters"]
    group = resources["ConnectorScheduleGroup"]["Properties"]["Name"]
    assert group == {"Fn::Sub": "invoice-relay-${Stage}"}
    statements = {
        s["Sid"]: s
        for policy in resources["ManagementApiFunction"]["Properties"]["Policies"]
        if "Statement" in policy
        for s in policy["Statement"]
    }
    schedules = statements["ConnectorSchedules"]
    assert set(schedules["Action"]) == {
        "scheduler:CreateSchedule",
        "scheduler:UpdateSchedule",
        "scheduler:DeleteSchedule",
        "scheduler:GetSchedule",
    }
    assert schedules["Resource"]["Fn::Sub"].endswith(":schedule/${ConnectorScheduleGroup}/*")
    assert statements["SchedulesInvokeWithTheSchedulerRole"]["Resource"] == {
        "Fn::GetAtt": ["SchedulerRole", "Arn"]
    }


def test_business_alarms_and_the_dashboard(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for alarm in (
        "FailedRunsAlarm",
        "ConnectorAutoPausedAlarm",
        "WriteBackWaitAlarm",
        "DeliveryQueueAgeAlarm",
        "AbandonedRunsAlarm",
    ):
        assert resources[alarm]["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], alarm
    body = resources["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    for shown in (
        "runs_failed",
        "webhooks",
        "ApproximateAgeOfOldestMessage",
        "writeback_wait_seconds",
        "deliver_",
    ):
        assert shown in body
    assert template["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}
