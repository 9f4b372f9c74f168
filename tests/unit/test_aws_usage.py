"""bench/aws_usage.py counts what reached AWS and what DynamoDB would bill, on the real embedded AWS.

The tables are the template's (StateTable has GSI1 with keys GSI1PK/GSI1SK and ALL projection), made by
EmbeddedAWS as the integration tests make them. Each test writes under its own partition key.
"""

from __future__ import annotations

import io
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from local.runtime.embedded_aws import EmbeddedAWS
from local.runtime.template import load_template

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from aws_usage import AwsUsage, UsageSnapshot, item_size, read_units_for, write_units_for  # noqa: E402


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAWS]:
    with EmbeddedAWS() as embedded_aws:
        embedded_aws.create_resources(load_template())
        yield embedded_aws


@pytest.fixture(scope="module")
def state_table(aws: EmbeddedAWS) -> str:
    return aws.physical["StateTable"]


@pytest.fixture
def table(aws: EmbeddedAWS, state_table: str) -> Any:
    """The layer's way in: a boto3 `Table` resource (Python values, converted inside botocore)."""
    return boto3.resource(
        "dynamodb", endpoint_url=aws.endpoint_url, region_name=aws.region, **_credentials()
    ).Table(state_table)


@pytest.fixture
def pk() -> str:
    return f"TEST#{uuid.uuid4().hex}"


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "aws_session_token": "testing",
    }


def padded(item: dict[str, Any], size: int) -> dict[str, Any]:
    """`item` plus a string attribute `pad` making its DynamoDB size exactly `size` bytes."""
    typed = {name: {"S": value} for name, value in item.items()}
    missing = size - item_size(typed) - len("pad")
    assert missing >= 0
    return {**item, "pad": "x" * missing}


def units(snapshot: UsageSnapshot, table: str) -> tuple[float, float]:
    """(base table, GSI1) write units."""
    return snapshot.write_units_by_table_index[table], snapshot.write_units_by_table_index[f"{table}/GSI1"]


# ---------------------------------------------------------------------------------------------- sizes


def test_item_size_follows_the_developer_guide() -> None:
    assert item_size({"id": {"S": "abc"}}) == 2 + 3
    assert item_size({"nom": {"S": "é"}}) == 3 + 2  # UTF-8 bytes
    assert item_size({"n": {"N": "12345"}}) == 1 + 3 + 1  # 5 significant digits → 3 bytes, + 1
    assert item_size({"n": {"N": "-0.00120"}}) == 1 + 1 + 1  # leading/trailing zeros trimmed: "12"
    assert item_size({"n": {"N": "1000"}}) == 1 + 1 + 1  # "1"
    assert item_size({"b": {"B": "AAECAw=="}}) == 1 + 4  # raw bytes, not base64 text
    assert item_size({"ok": {"BOOL": True}, "no": {"NULL": True}}) == (2 + 1) + (2 + 1)
    assert item_size({"m": {"M": {}}}) == 1 + 3
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size({"l": {"L": [{"S": "ab"}, {"N": "7"}]}}) == 1 + 3 + (1 + 2) + (1 + 2)
    assert item_size({"ss": {"SS": ["a", "bc"]}}) == 2 + 3


def test_units_round_up_per_kilobyte_and_four_kilobytes() -> None:
    assert [write_units_for(n) for n in (0, 1, 1024, 1025, 2560)] == [1, 1, 1, 2, 3]
    assert read_units_for(4096, consistent=True) == 1.0
    assert read_units_for(4097, consistent=True) == 2.0
    assert read_units_for(5000, consistent=False) == 1.0
    assert read_units_for(0, consistent=False) == 0.5


# ---------------------------------------------------------------------------------------------- writes


def test_a_put_with_gsi_keys_writes_the_table_and_the_index(table: Any, state_table: str, pk: str) -> None:
    item = padded({"PK": pk, "SK": "META", "GSI1PK": "G", "GSI1SK": "1"}, 600)
    with AwsUsage() as usage:
        table.put_item(Item=item)

    assert usage.calls == {("dynamodb", "PutItem"): 1}
    assert units(usage.snapshot(), state_table) == (1, 1)
    assert usage.write_units == 2


def test_a_put_without_gsi_keys_writes_only_the_table(table: Any, state_table: str, pk: str) -> None:
    with AwsUsage() as usage:
        table.put_item(Item={"PK": pk, "SK": "META", "GSI1PK": "only half of the index key"})

    assert units(usage.snapshot(), state_table) == (1, 0)


def test_a_2_5_kb_item_costs_3_units_in_the_table_and_3_in_the_index(
    table: Any, state_table: str, pk: str
) -> None:
    with AwsUsage() as usage:
        table.put_item(Item=padded({"PK": pk, "SK": "META"}, 2560))
        table.put_item(Item=padded({"PK": pk, "SK": "INDEXED", "GSI1PK": "G", "GSI1SK": "1"}, 2560))

    assert units(usage.snapshot(), state_table) == (3 + 3, 3)


def test_an_update_that_moves_the_gsi_key_is_a_delete_and_a_put_in_the_index(
    table: Any, state_table: str, pk: str
) -> None:
    table.put_item(Item={"PK": pk, "SK": "META", "GSI1PK": "G", "GSI1SK": "pending"})
    with AwsUsage() as usage:
        answer = table.update_item(
            Key={"PK": pk, "SK": "META"},
            UpdateExpression="SET GSI1SK = :done",
            ExpressionAttributeValues={":done": "done"},
        )

    assert units(usage.snapshot(), state_table) == (1, 2)
    assert "Attributes" not in answer  # the injected ReturnValues=ALL_NEW does not leak to the caller
    assert table.get_item(Key={"PK": pk, "SK": "META"})["Item"]["GSI1SK"] == "done"


def test_an_update_of_a_projected_attribute_is_one_index_write_and_removing_the_key_one_more(
    table: Any, state_table: str, pk: str
) -> None:
    table.put_item(Item={"PK": pk, "SK": "META", "GSI1PK": "G", "GSI1SK": "1", "note": "a"})
    key = {"PK": pk, "SK": "META"}
    with AwsUsage() as usage:
        table.update_item(Key=key, UpdateExpression="SET note = :b", ExpressionAttributeValues={":b": "b"})
        projected_only = usage.snapshot()
        answer = table.update_item(Key=key, UpdateExpression="REMOVE GSI1SK", ReturnValues="UPDATED_OLD")
        removed = usage.snapshot() - projected_only

    assert units(projected_only, state_table) == (1, 1)
    assert units(removed, state_table) == (1, 1)
    assert answer["Attributes"] == {"GSI1SK": "1"}  # the caller's own ReturnValues is left alone


def test_an_update_of_an_item_outside_the_index_writes_no_index(
    table: Any, state_table: str, pk: str
) -> None:
    table.put_item(Item={"PK": pk, "SK": "META", "n": 1})
    with AwsUsage() as usage:
        table.update_item(
            Key={"PK": pk, "SK": "META"}, UpdateExpression="ADD n :one", ExpressionAttributeValues={":one": 1}
        )

    assert units(usage.snapshot(), state_table) == (1, 0)


def test_an_update_costs_the_larger_of_the_old_and_new_item(table: Any, state_table: str, pk: str) -> None:
    table.put_item(Item=padded({"PK": pk, "SK": "META"}, 2100))  # 3 KB rounded up
    with AwsUsage() as usage:
        table.update_item(
            Key={"PK": pk, "SK": "META"},
            UpdateExpression="REMOVE #pad",
            ExpressionAttributeNames={"#pad": "pad"},
        )  # now tiny

    assert units(usage.snapshot(), state_table) == (3, 0)


def test_a_delete_costs_the_old_item_and_its_index_entry(table: Any, state_table: str, pk: str) -> None:
    table.put_item(Item=padded({"PK": pk, "SK": "META", "GSI1PK": "G", "GSI1SK": "1"}, 1500))
    with AwsUsage() as usage:
        table.delete_item(Key={"PK": pk, "SK": "META"})
        table.delete_item(Key={"PK": pk, "SK": "NEVER-THERE"})

    assert units(usage.snapshot(), state_table) == (2 + 1, 2)


def test_a_failed_conditional_write_still_costs_the_item_and_is_counted(
    table: Any, state_table: str, pk: str
) -> None:
    table.put_item(Item=padded({"PK": pk, "SK": "META", "GSI1PK": "G", "GSI1SK": "1"}, 2560))
    with AwsUsage() as usage:
        with pytest.raises(ClientError, match="ConditionalCheckFailed"):
            table.put_item(Item={"PK": pk, "SK": "META"}, ConditionExpression="attribute_not_exists(PK)")
        with pytest.raises(ClientError, match="ConditionalCheckFailed"):
            table.update_item(
                Key={"PK": pk, "SK": "META"},
                UpdateExpression="SET GSI1SK = :two",
                ConditionExpression="GSI1SK = :zero",
                ExpressionAttributeValues={":two": "2", ":zero": "0"},
            )
        with pytest.raises(ClientError, match="ConditionalCheckFailed"):
            table.put_item(Item={"PK": pk, "SK": "NEW"}, ConditionExpression="attribute_exists(PK)")

    assert usage.calls == {("dynamodb", "PutItem"): 2, ("dynamodb", "UpdateItem"): 1}
    # The existing 2.5 KB item twice, a missing item once (1 unit); never an index write.
    assert units(usage.snapshot(), state_table) == (3 + 3 + 1, 0)


def test_a_batch_write_of_25_items_is_one_call_and_25_units(
    aws: EmbeddedAWS, state_table: str, pk: str
) -> None:
    client = aws.client("dynamodb")  # the low-level client, as Powertools uses it
    requests = [
        {
            "PutRequest": {
                "Item": {
                    "PK": {"S": pk},
                    "SK": {"S": f"LINE#{n:02d}"},
                    "GSI1PK": {"S": "G"},
                    "GSI1SK": {"S": str(n)},
                }
            }
        }
        for n in range(25)
    ]
    with AwsUsage() as usage:
        answer = client.batch_write_item(RequestItems={state_table: requests})

    assert answer["UnprocessedItems"] == {}
    assert usage.total_calls == 1
    assert usage.calls == {("dynamodb", "BatchWriteItem"): 1}
    assert units(usage.snapshot(), state_table) == (25, 25)


def test_a_transaction_costs_twice(aws: EmbeddedAWS, table: Any, state_table: str, pk: str) -> None:
    client = aws.client("dynamodb")
    table.put_item(Item={"PK": pk, "SK": "CHECKED"})
    with AwsUsage() as usage:
        client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": state_table,
                        "Item": {
                            "PK": {"S": pk},
                            "SK": {"S": "A"},
                            "GSI1PK": {"S": "G"},
                            "GSI1SK": {"S": "1"},
                        },
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": state_table,
                        "Key": {"PK": {"S": pk}, "SK": {"S": "CHECKED"}},
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                },
            ]
        )

    assert usage.total_calls == 1
    assert units(usage.snapshot(), state_table) == (2 + 2, 2)


# ---------------------------------------------------------------------------------------------- reads


def test_reads_cost_per_4_kb_halved_when_eventually_consistent(table: Any, state_table: str, pk: str) -> None:
    table.put_item(Item=padded({"PK": pk, "SK": "A"}, 5000))
    table.put_item(Item=padded({"PK": pk, "SK": "B"}, 5000))
    with AwsUsage() as usage:
        table.get_item(Key={"PK": pk, "SK": "A"})  # 2 units, halved
        table.get_item(
            Key={"PK": pk, "SK": "A"}, ConsistentRead=True, ProjectionExpression="PK"
        )  # 2: whole item
        table.get_item(Key={"PK": pk, "SK": "MISSING"})  # 0.5
        # Both items are evaluated (10,000 bytes → 3 units, halved) though the filter returns none.
        answer = table.query(
            KeyConditionExpression="PK = :pk",
            FilterExpression="SK = :none",
            ExpressionAttributeValues={":pk": pk, ":none": "none"},
        )

    assert answer["Items"] == []
    assert usage.write_units == 0
    assert usage.read_units_by_table_index == {state_table: 1 + 2 + 0.5 + 1.5}


# ------------------------------------------------------------------------------------------- other services


def test_s3_requests_by_price_class_and_bytes_uploaded(aws: EmbeddedAWS) -> None:
    s3 = aws.client("s3")
    bucket = aws.physical["DocumentBucket"]
    with AwsUsage() as usage:
        s3.put_object(Bucket=bucket, Key="usage/a", Body=b"x" * 1000)
        s3.upload_fileobj(io.BytesIO(b"y" * 2500), bucket, "usage/b")
        s3.list_objects_v2(Bucket=bucket, Prefix="usage/")
        s3.get_object(Bucket=bucket, Key="usage/a")["Body"].read()
        s3.head_object(Bucket=bucket, Key="usage/b")
        s3.delete_object(Bucket=bucket, Key="usage/a")  # free

    assert usage.s3_put_class_requests == 3
    assert usage.s3_get_class_requests == 2
    assert usage.s3_bytes_uploaded == 3500
    assert usage.by_service() == {"s3": 6}


def test_sqs_bills_a_batch_once_and_each_64_kb_chunk(aws: EmbeddedAWS) -> None:
    sqs = aws.client("sqs")
    queue = sqs.create_queue(QueueName=f"usage-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    with AwsUsage() as usage:
        sqs.send_message_batch(
            QueueUrl=queue, Entries=[{"Id": str(n), "MessageBody": "small"} for n in range(10)]
        )
        before_big = usage.snapshot()
        sqs.send_message(QueueUrl=queue, MessageBody="z" * (200 * 1024))  # 4 chunks of 64 KB
        after_big = usage.snapshot()

    assert (before_big.sqs_requests, (after_big - before_big).sqs_requests) == (1, 4)
    assert usage.calls == {("sqs", "SendMessageBatch"): 1, ("sqs", "SendMessage"): 1}


def test_secrets_manager_calls(aws: EmbeddedAWS) -> None:
    name = f"usage/{uuid.uuid4().hex}"
    aws.create_secret(name, {"token": "t"})
    with AwsUsage() as usage:
        aws.client("secretsmanager").get_secret_value(SecretId=name)

    assert usage.secrets_api_calls == 1


# ---------------------------------------------------------------------------------------------- the hook


def test_counts_clients_made_before_and_calls_from_other_threads(aws: EmbeddedAWS, state_table: str) -> None:
    client = aws.client("dynamodb")  # made (and cached, as the layer does) before counting starts
    with AwsUsage() as usage:
        threads = [
            threading.Thread(target=client.describe_table, kwargs={"TableName": state_table})
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    client.describe_table(TableName=state_table)  # after the block: not counted

    assert usage.calls == {("dynamodb", "DescribeTable"): 8}


def test_calls_that_never_reached_aws_are_not_counted() -> None:
    unreachable = boto3.session.Session().client(
        "dynamodb",
        endpoint_url="http://127.0.0.1:9",  # discard port: connection refused
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
        **_credentials(),
    )
    with AwsUsage() as usage, pytest.raises(EndpointConnectionError):
        unreachable.list_tables()

    assert usage.total_calls == 0


def test_a_wrapper_that_stops_the_call_before_it_is_sent_hides_it(aws: EmbeddedAWS) -> None:
    """As the chaos monkey's `_make_api_call` wrapper does when it kills a function before a call."""

    class Crash(BaseException):
        pass

    real_call = BaseClient._make_api_call

    def crash_before(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        raise Crash

    client = aws.client("sqs")
    with AwsUsage() as usage:
        BaseClient._make_api_call = crash_before  # type: ignore[method-assign]
        try:
            with pytest.raises(Crash):
                client.list_queues()
        finally:
            BaseClient._make_api_call = real_call  # type: ignore[method-assign]
        client.list_queues()

    assert usage.total_calls == 1


def test_restores_only_what_it_replaced_in_lifo_order(aws: EmbeddedAWS) -> None:
    original = BaseClient._make_request
    client = aws.client("sqs")

    first = AwsUsage().start()
    replaced_by_first = BaseClient._make_request

    def someone_elses(self: BaseClient, *args: Any) -> Any:
        return replaced_by_first(self, *args)

    BaseClient._make_request = someone_elses  # type: ignore[method-assign]
    first.stop()  # someone else's wrapper is on top: it must stay
    assert BaseClient._make_request is someone_elses
    client.list_queues()
    assert first.total_calls == 0  # stopped: a pass-through from now on

    BaseClient._make_request = replaced_by_first  # type: ignore[method-assign]  # they restore theirs
    with AwsUsage() as second:
        client.list_queues()
    assert second.total_calls == 1
    assert BaseClient._make_request is original  # the dead wrapper under it was unlinked too


def test_where_selects_the_calls_to_count(aws: EmbeddedAWS) -> None:
    counting = threading.local()
    client = aws.client("sqs")
    with AwsUsage(where=lambda: getattr(counting, "on", False)) as usage:
        client.list_queues()
        counting.on = True
        client.list_queues()

    assert usage.total_calls == 1


def test_snapshots_subtract_and_reset_forgets(aws: EmbeddedAWS) -> None:
    client = aws.client("sqs")
    with AwsUsage() as usage:
        client.list_queues()
        first = usage.snapshot()
        client.list_queues()
        client.list_queues()
        phase = usage.snapshot() - first
        usage.reset()
        client.list_queues()

    assert phase.calls == {("sqs", "ListQueues"): 2}
    assert phase.sqs_requests == 2
    assert usage.total_calls == 1
    assert usage.dynamodb_unmeasured_calls == 0
