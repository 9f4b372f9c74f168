"""template.yaml is the single source of truth for the local stack: these tests check that the embedded AWS
builds the same table, bucket and queues from it, and that the handlers get the environment SAM gives them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.runtime.embedded_aws import EmbeddedAWS
from local.runtime.template import (
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
    "DeliverFunction": ("functions/deliver", 120, 512),
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

    (gsi,) = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "GSI1"
    assert gsi["KeySchema"] == [
        {"AttributeName": "GSI1PK", "KeyType": "HASH"},
        {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
    ]
    assert gsi["Projection"] == {"ProjectionType": "ALL"}


def test_state_table_expires_items_on_expires_at(aws: EmbeddedAWS, physical: dict[str, str]) -> None:
    dynamodb = aws.client("dynamodb")

    ttl = dynamodb.describe_time_to_live(TableName=physical["StateTable"])["TimeToLiveDescription"]
    backups = dynamodb.describe_continuous_backups(TableName=physical["StateTable"])

    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"


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
    by_prefix = {rule["Filter"].get("Prefix", ""): rule for rule in rules}

    assert by_prefix["raw/"]["Expiration"] == {"Days": 400}
    for archived in ("exports/", "bundles/"):
        assert by_prefix[archived]["Transitions"] == [{"Days": 30, "StorageClass": "STANDARD_IA"}]
        assert by_prefix[archived]["Expiration"] == {"Days": 730}
    assert any(rule.get("AbortIncompleteMultipartUpload") == {"DaysAfterInitiation": 2} for rule in rules)


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


# ---------------------------------------------------------------------- functions and their environment


def test_deliver_function_consumes_the_delivery_queue_with_partial_batch_failures(
    template: dict[str, Any],
) -> None:
    (event,) = properties_of(template, "DeliverFunction")["Events"].values()
    queue_properties = properties_of(template, "DeliveryQueue")
    deliver_timeout = functions(template)["DeliverFunction"].timeout

    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["DeliveryQueue", "Arn"]}
    assert event["Properties"]["BatchSize"] == 10
    assert event["Properties"]["MaximumBatchingWindowInSeconds"] == 5
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue_properties["VisibilityTimeout"] == 6 * deliver_timeout


def test_the_api_routes_webhooks_and_oauth_to_their_functions(template: dict[str, Any]) -> None:
    routes = {
        (event["Properties"]["Method"], event["Properties"]["Path"]): (
            logical_id,
            event["Properties"]["RestApiId"],
        )
        for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items()
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "Api"
    }
    api = properties_of(template, "WebhookApi")

    assert routes == {
        ("post", "/webhooks/{connector_id}"): ("WebhookFunction", {"Ref": "WebhookApi"}),
        ("get", "/oauth/{connector_id}/connect"): ("OAuthFunction", {"Ref": "WebhookApi"}),
        ("get", "/oauth/{connector_id}/callback"): ("OAuthFunction", {"Ref": "WebhookApi"}),
    }
    assert api["StageName"] == {"Ref": "Stage"}
    (method_settings,) = api["MethodSettings"]
    assert {"ThrottlingRateLimit", "ThrottlingBurstLimit"} <= method_settings.keys()
    assert api["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["WebhookApiAccessLogGroup", "Arn"]}
    assert "RetentionInDays" in properties_of(template, "WebhookApiAccessLogGroup")
    assert template["Outputs"]["WebhookApiUrl"]["Value"] == {
        "Fn::Sub": "https://${WebhookApi}.execute-api.${AWS::Region}.amazonaws.com/${Stage}/webhooks/"
    }


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
