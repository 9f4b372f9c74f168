"""The embedded AWS: moto in server mode, in this process, with the resources of template.yaml.

Application code reaches it through the standard `AWS_ENDPOINT_URL` (see `EmbeddedAWS.env()`), so the
handlers and the layer have no local-only branches. Resources are created from the template's own
Properties (key schemas, GSIs, TTL, queue attributes, ...), never retyped here, so local and cloud agree.

moto keeps its state in module-level backends: every moto server (and `mock_aws`) in one process shares
it. Two EmbeddedAWS running at once therefore see the same resources; the state is dropped when the last
one stops.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
import urllib.request
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import boto3
from moto.s3.responses import S3Response
from moto.server import ThreadedMotoServer
from werkzeug.datastructures import ImmutableMultiDict

from local.runtime.cognito import create_cognito_resources
from local.runtime.template import (
    LOCAL_REGION,
    LOCAL_STACK_NAME,
    parameter_defaults,
    resolve,
    resolve_properties,
    resources_of_type,
)

_START_TIMEOUT_SECONDS = 10.0

# Dummy credentials: moto accepts anything, and real ones must never reach the local endpoint.
_LOCAL_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}

# CloudFormation AWS::SQS::Queue property → SQS attribute (values are sent as strings).
_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)
# Attributes that name other queues: set once every queue exists, so template order does not matter.
_QUEUE_LINK_ATTRIBUTES = ("RedrivePolicy", "RedriveAllowPolicy")


class EmbeddedAWS:
    """moto server on loopback plus helpers to create the template's resources in it.

    Use as a context manager (`with EmbeddedAWS() as aws: ...`) or call `start()` / `stop()`.
    """

    # Running instances in this process; they share moto's backends (see the module docstring).
    _running = 0
    _running_lock = threading.Lock()

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = LOCAL_REGION,
        name_prefix: str = LOCAL_STACK_NAME,
    ) -> None:
        """`port=0` picks a free port (see `endpoint_url` once started)."""
        self.host = host
        self.requested_port = port
        self.region = region
        self.name_prefix = name_prefix
        self.physical: dict[str, str] = {}
        self._server: ThreadedMotoServer | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        """Start the server and return once it accepts connections."""
        if self._server is not None:
            return self
        if self.requested_port and not _port_is_free(self.host, self.requested_port):
            # ThreadedMotoServer.start() would wait forever for a server that failed to bind.
            raise RuntimeError(f"cannot start the embedded AWS: {self.host}:{self.requested_port} is in use")
        _silence_request_logs()
        server = ThreadedMotoServer(ip_address=self.host, port=self.requested_port, verbose=False)
        server.start()
        self._server = server
        self._port = server.get_host_and_port()[1]
        with EmbeddedAWS._running_lock:
            EmbeddedAWS._running += 1
        self._wait_until_answering()
        return self

    def stop(self) -> None:
        """Stop the server; the last running instance in the process also drops moto's state."""
        if self._server is None:
            return
        with EmbeddedAWS._running_lock:
            last_one = EmbeddedAWS._running == 1
        if last_one:
            # Best effort: a server that no longer answers has nothing left to forget.
            with contextlib.suppress(OSError):
                self.reset()
        self._shutdown()

    def _shutdown(self) -> None:
        if self._server is not None:
            self._server.stop()
            with EmbeddedAWS._running_lock:
                EmbeddedAWS._running -= 1
        self._server = None
        self._port = None
        self.physical = {}

    def reset(self) -> None:
        """Forget every resource and item in this process's moto (its reset API); the server keeps running."""
        # Always http://<loopback>: the URL is built here, never taken from input.
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=_START_TIMEOUT_SECONDS) as response:  # noqa: S310
            response.read()
        self.physical = {}

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    endpoint_url = self.endpoint_url
                    self._shutdown()
                    raise RuntimeError(f"the embedded AWS did not answer on {endpoint_url}") from None
                time.sleep(0.05)

    # ------------------------------------------------------------------ connection details
    @property
    def port(self) -> int:
        """The port the server listens on (only known once started)."""
        if self._port is None:
            raise RuntimeError("the embedded AWS is not started")
        return self._port

    @property
    def endpoint_url(self) -> str:
        """Base URL every AWS service is reachable on, e.g. `http://127.0.0.1:51234`."""
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 (in this or a child process) at the embedded AWS."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": _LOCAL_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": _LOCAL_CREDENTIALS["aws_secret_access_key"],
            "AWS_SESSION_TOKEN": _LOCAL_CREDENTIALS["aws_session_token"],
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def client(self, service_name: str) -> Any:
        """A boto3 client for the embedded AWS, independent of os.environ."""
        return boto3.session.Session().client(
            service_name, endpoint_url=self.endpoint_url, region_name=self.region, **_LOCAL_CREDENTIALS
        )

    # ------------------------------------------------------------------ resources
    def physical_name(self, logical_id: str) -> str:
        """Local physical name of a resource: `invoice-relay-local-<logical id in lower case>`."""
        return f"{self.name_prefix}-{logical_id.lower()}"

    def create_resources(
        self, template: Mapping[str, Any], parameters: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Create the template's DynamoDB tables, S3 buckets, SQS queues, Cognito user pools (with their app
        clients and groups, see local.runtime.cognito) and EventBridge Scheduler schedule groups.

        Returns logical id → what `Ref` gives (table name, bucket name, queue URL, pool id, app client id,
        group name, schedule group name), also kept in `self.physical`. Resources that already exist (shared
        moto state) are reused. `parameters` override the template's parameter defaults. Other resource
        types (functions, alarms, schedules, ...) are not emulated, and resource `Condition`s are not
        evaluated: the resources here are unconditional.

        The Cognito endpoint is `endpoint_url` too; moto server answers browsers' CORS preflights itself
        (flask-cors, every origin), so a page on the local API can call InitiateAuth on it with fetch.
        """
        parameter_values = {**parameter_defaults(template), **(parameters or {})}
        self.physical.update(self._create_queues(template, parameter_values))
        for logical_id, resource in resources_of_type(template, "AWS::DynamoDB::Table").items():
            self.physical[logical_id] = self._create_table(logical_id, resource.get("Properties", {}))
        for logical_id, resource in resources_of_type(template, "AWS::S3::Bucket").items():
            self.physical[logical_id] = self._create_bucket(logical_id, resource.get("Properties", {}))
        self.physical.update(
            create_cognito_resources(
                self.client("cognito-idp"),
                template,
                parameter_values,
                physical=self.physical,
                region=self.region,
                name_prefix=self.name_prefix,
            )
        )
        self.physical.update(self._create_schedule_groups(template, parameter_values))
        return dict(self.physical)

    def _create_schedule_groups(
        self, template: Mapping[str, Any], parameters: Mapping[str, str]
    ) -> dict[str, str]:
        """Schedule groups (`Ref` = the group's Name): the management API creates connectors' schedules in
        them, and moto's CreateSchedule needs the group to exist."""
        scheduler = self.client("scheduler")
        names = {}
        for logical_id, resource in resources_of_type(template, "AWS::Scheduler::ScheduleGroup").items():
            properties = resolve_properties(
                resource.get("Properties", {}), self.physical, parameters, region=self.region
            )
            name = str(properties.get("Name") or self.physical_name(logical_id))
            try:
                scheduler.get_schedule_group(Name=name)  # made by another EmbeddedAWS: keep its schedules
            except scheduler.exceptions.ResourceNotFoundException:
                tags = [{"Key": t["Key"], "Value": t["Value"]} for t in properties.get("Tags", [])]
                scheduler.create_schedule_group(Name=name, Tags=tags)
            names[logical_id] = name
        return names

    def _create_table(self, logical_id: str, properties: Mapping[str, Any]) -> str:
        dynamodb = self.client("dynamodb")
        table_name = self.physical_name(logical_id)
        billing_mode = properties.get("BillingMode", "PROVISIONED")
        request: dict[str, Any] = {
            "TableName": table_name,
            "KeySchema": properties["KeySchema"],
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "BillingMode": billing_mode,
        }
        if billing_mode == "PROVISIONED":
            request["ProvisionedThroughput"] = properties["ProvisionedThroughput"]
        # The CloudFormation index shapes equal the API's, minus CloudFormation-only keys.
        index_keys = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
        for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if indexes := properties.get(index_kind):
                request[index_kind] = [
                    {k: v for k, v in index.items() if k in index_keys} for index in indexes
                ]
        if stream := properties.get("StreamSpecification"):
            request["StreamSpecification"] = {"StreamEnabled": True, **stream}
        if sse := properties.get("SSESpecification"):
            request["SSESpecification"] = {"Enabled": sse.get("SSEEnabled", False)} | (
                {"SSEType": sse["SSEType"]} if "SSEType" in sse else {}
            )
        try:
            dynamodb.create_table(**request)
        except dynamodb.exceptions.ResourceInUseException:
            return table_name  # made by another EmbeddedAWS in this process, from the same template
        dynamodb.get_waiter("table_exists").wait(TableName=table_name)

        if ttl := properties.get("TimeToLiveSpecification"):
            dynamodb.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": ttl["Enabled"]},
            )
        if properties.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
            dynamodb.update_continuous_backups(
                TableName=table_name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        return table_name

    def _create_bucket(self, logical_id: str, properties: Mapping[str, Any]) -> str:
        s3 = self.client("s3")
        bucket_name = self.physical_name(logical_id)
        request: dict[str, Any] = {"Bucket": bucket_name}
        if self.region != "us-east-1":  # us-east-1 rejects an explicit LocationConstraint
            request["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        # Everything below is a plain put, so re-applying it to an existing bucket is harmless.
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(**request)

        if encryption := properties.get("BucketEncryption"):
            s3.put_bucket_encryption(
                Bucket=bucket_name,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        _encryption_rule(rule) for rule in encryption["ServerSideEncryptionConfiguration"]
                    ]
                },
            )
        if public_access_block := properties.get("PublicAccessBlockConfiguration"):
            s3.put_public_access_block(Bucket=bucket_name, PublicAccessBlockConfiguration=public_access_block)
        if ownership := properties.get("OwnershipControls"):
            s3.put_bucket_ownership_controls(Bucket=bucket_name, OwnershipControls=ownership)
        if versioning := properties.get("VersioningConfiguration"):
            s3.put_bucket_versioning(
                Bucket=bucket_name, VersioningConfiguration={"Status": versioning["Status"]}
            )
        if lifecycle := properties.get("LifecycleConfiguration"):
            s3.put_bucket_lifecycle_configuration(
                Bucket=bucket_name,
                LifecycleConfiguration={"Rules": [_lifecycle_rule(rule) for rule in lifecycle["Rules"]]},
            )
        # Not applied: the AWS::S3::BucketPolicy (deny unless aws:SecureTransport). The local endpoint is
        # plain HTTP and moto does not evaluate bucket policies, so it would only misstate what is enforced.
        return bucket_name

    def _create_queues(self, template: Mapping[str, Any], parameters: Mapping[str, str]) -> dict[str, str]:
        sqs = self.client("sqs")
        queues = resources_of_type(template, "AWS::SQS::Queue")
        queue_urls: dict[str, str] = {}
        queue_attributes: dict[str, str] = {}  # "LogicalId.Arn" → the real ARN, for resolve()
        for logical_id, resource in queues.items():
            properties = resource.get("Properties", {})
            queue_name = self.physical_name(logical_id)
            if properties.get("FifoQueue"):
                queue_name += ".fifo"
            attributes = {
                name: _attribute_string(properties[name]) for name in _QUEUE_ATTRIBUTES if name in properties
            }
            queue_urls[logical_id] = sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
            queue_attributes[f"{logical_id}.Arn"] = sqs.get_queue_attributes(
                QueueUrl=queue_urls[logical_id], AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]

        # Second pass: the dead-letter target's ARN exists now, whatever the template order.
        resource_types = {lid: resource.get("Type", "") for lid, resource in template["Resources"].items()}
        for logical_id, resource in queues.items():
            properties = resource.get("Properties", {})
            links = {}
            for name in _QUEUE_LINK_ATTRIBUTES:
                if name not in properties:
                    continue
                policy = {
                    key: resolve(
                        value,
                        queue_urls,
                        parameters,
                        resource_types=resource_types,
                        attributes=queue_attributes,
                        region=self.region,
                    )
                    if isinstance(value, Mapping)  # an intrinsic such as !GetAtt Dlq.Arn
                    else value
                    for key, value in _json_object(properties[name]).items()
                }
                links[name] = json.dumps(policy)
            if links:
                sqs.set_queue_attributes(QueueUrl=queue_urls[logical_id], Attributes=links)
        return queue_urls

    # ------------------------------------------------------------------ secrets
    def create_secret(self, name: str, value: Mapping[str, Any]) -> str:
        """Store `value` as the JSON secret `name` (overwriting the current value); returns its ARN."""
        secretsmanager = self.client("secretsmanager")
        secret_string = json.dumps(value)
        try:
            return secretsmanager.create_secret(Name=name, SecretString=secret_string)["ARN"]
        except secretsmanager.exceptions.ResourceExistsException:
            return secretsmanager.put_secret_value(SecretId=name, SecretString=secret_string)["ARN"]


def _encryption_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """CloudFormation's `ServerSideEncryptionByDefault` is the API's `ApplyServerSideEncryptionByDefault`."""
    api_rule = {key: value for key, value in rule.items() if key != "ServerSideEncryptionByDefault"}
    if "ServerSideEncryptionByDefault" in rule:
        api_rule["ApplyServerSideEncryptionByDefault"] = rule["ServerSideEncryptionByDefault"]
    return api_rule


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """CloudFormation's flat lifecycle rule → the S3 API's nested one."""
    api_rule: dict[str, Any] = {"Status": rule["Status"]}
    if "Id" in rule:
        api_rule["ID"] = rule["Id"]
    prefix, tags = rule.get("Prefix", ""), list(rule.get("TagFilters") or [])
    if not tags:
        api_rule["Filter"] = {"Prefix": prefix}
    elif prefix or len(tags) > 1:
        api_rule["Filter"] = {"And": {**({"Prefix": prefix} if prefix else {}), "Tags": tags}}
    else:
        api_rule["Filter"] = {"Tag": tags[0]}
    expiration = {
        api_key: rule[cfn_key]
        for cfn_key, api_key in (
            ("ExpirationInDays", "Days"),
            ("ExpirationDate", "Date"),
            ("ExpiredObjectDeleteMarker", "ExpiredObjectDeleteMarker"),
        )
        if cfn_key in rule
    }
    if expiration:
        api_rule["Expiration"] = expiration
    if transitions := rule.get("Transitions"):
        api_rule["Transitions"] = [
            {"StorageClass": transition["StorageClass"], "Days": transition["TransitionInDays"]}
            for transition in transitions
        ]
    if noncurrent := rule.get("NoncurrentVersionExpiration"):
        api_rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": noncurrent["NoncurrentDays"]}
    if abort := rule.get("AbortIncompleteMultipartUpload"):
        api_rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": abort["DaysAfterInitiation"]}
    return api_rule


def _attribute_string(value: Any) -> str:
    """SQS attribute values are strings; YAML booleans must become "true"/"false", not "True"."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _json_object(value: str | Mapping[str, Any]) -> Mapping[str, Any]:
    """RedrivePolicy may be written as a JSON string or as a YAML mapping."""
    return json.loads(value) if isinstance(value, str) else value


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def _keep_form_encoded_object_bodies() -> None:
    """moto server stores an object PUT with `Content-Type: application/x-www-form-urlencoded` (an archived
    FreshBooks webhook) as 0 bytes — werkzeug parses the body as a form, `request.data` is then empty —
    or, when the form has `key` and `file` fields, as the `file` field (moto's browser-POST upload path).
    A PUT's body is never a form to S3: read it raw and give moto an empty form. Real S3 keeps every body
    as sent; so does the embedded one with this."""
    setup_class = S3Response.setup_class
    if getattr(setup_class, "keeps_form_bodies", False):
        return

    def keeping_form_bodies(
        self: S3Response, request: Any, full_url: Any = None, headers: Any = None
    ) -> None:
        if request.method == "PUT" and request.mimetype == "application/x-www-form-urlencoded":
            request.get_data(cache=True)
            request.__dict__["form"] = ImmutableMultiDict()  # werkzeug's cached_property: no parsing
            request.__dict__["files"] = ImmutableMultiDict()
        setup_class(self, request, full_url, headers)

    keeping_form_bodies.keeps_form_bodies = True  # type: ignore[attr-defined]
    S3Response.setup_class = keeping_form_bodies  # type: ignore[method-assign]


_keep_form_encoded_object_bodies()


def _silence_request_logs() -> None:
    """werkzeug logs every request at INFO; keep warnings and errors only."""
    werkzeug_logger = logging.getLogger("werkzeug")
    if werkzeug_logger.level < logging.WARNING:  # NOTSET too: werkzeug would then pick INFO itself
        werkzeug_logger.setLevel(logging.WARNING)
