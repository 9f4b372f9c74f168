"""Count every AWS call this process makes (all threads) while active, and what AWS would bill for it.

    from aws_usage import AwsUsage

    with AwsUsage() as usage:
        run_the_flow()
    print(usage.total_calls, usage.write_units, usage.calls[("dynamodb", "BatchWriteItem")])
    before = usage.snapshot(); ...; this_phase = usage.snapshot() - before

**Hook.** `botocore.client.BaseClient._make_request` is wrapped at class level while a counter is active, so
clients created earlier (the layer caches them with `lru_cache`) are counted too. That is the point where a
request goes over the wire: one call per API call (botocore's own retries happen inside it), *after* every
wrapper of `_make_api_call` (the chaos monkey crashes a function before or after `_make_api_call`, so a call
it stops before sending is not counted and one it "loses" after AWS acted is), and with the request already
serialized (DynamoDB's typed JSON, whether the caller used the client or the `Table` resource). A call that
answered with an error (`ClientError`: a failed conditional write) reached AWS and is counted; one that never
got an answer (connection refused) is not. Wrappers are restored in LIFO order: a counter that exits while
someone else's later wrapper is on top becomes a pass-through and is unlinked once it is on top again.

**DynamoDB units are computed here, not taken from the service.** moto 5.2 (the embedded AWS) answers
`ReturnConsumedCapacity` with a constant 1.0 (0.5 for GetItem) whatever the item size, and never reports
GSI writes (checked against moto/dynamodb/responses.py `include_consumed_capacity` and a 2.5 KB put with a
GSI key: moto says 1.0, DynamoDB charges 3 + 3). So the units follow DynamoDB's published rules:

- item size: "DynamoDB item sizes and formats",
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
  (name UTF-8 bytes + value: string UTF-8 bytes, number 1 byte per 2 significant digits + 1, binary raw
  bytes, null/boolean 1, list/map 3 + 1 per element + elements, sets the sum of their elements);
- writes: 1 unit per 1 KB (1024 bytes) rounded up, per item, at least 1; PutItem/UpdateItem cost the larger
  of the old and the new item, DeleteItem the old item; a failed conditional write still costs the larger of
  the existing item and the item sent (1 when neither exists); transactional writes (and ConditionChecks)
  cost 2x; items left in `UnprocessedItems` cost nothing;
- each GSI/LSI: a write that adds an index entry = 1 write of the entry, removes one = 1, changes an index
  key = 2 (delete + put), changes only projected attributes = 1, touches nothing projected = 0; the entry
  is the table key + index key + projected attributes (all of the item for `ALL`); a failed conditional
  write costs no index write;
- reads: 1 unit per 4 KB rounded up (per item for GetItem/BatchGetItem/TransactGetItems, over the total of
  the items *evaluated*, before any filter, for Query/Scan), at least 1, halved when eventually consistent,
  doubled for transactions.

To know the old and new item, a write is preceded by an uncounted, strongly consistent read of the items it
targets (GetItem / BatchGetItem on a private client), an UpdateItem gets `ReturnValues=ALL_NEW` injected
when the caller asked for nothing (stripped from the answer again), otherwise the new item is read after the
call (also uncounted). The table's key schema and indexes come from one uncounted DescribeTable per table.
Reads with a projection or a filter are re-run uncounted without them to size what DynamoDB evaluated.

**Limits.** Another writer changing the same item between the read-before and the write makes that write's
figure off (the benchmarks do not write one item from two threads at once). Number sizes are the guide's
approximation. Throttled attempts retried by botocore count once (DynamoDB does not bill them). PartiQL
(ExecuteStatement) is counted as a call with no units. `AwsUsage(units_from_service=True)` instead injects
`ReturnConsumedCapacity=INDEXES` and adds up what the service answers (use it against real AWS, where the
figures are right; a failed call's answer carries none). Only this process is seen: a child process needs
its own counter.

**S3** requests are split by the pricing classes of https://aws.amazon.com/s3/pricing/ ("PUT, COPY, POST,
LIST requests" vs "GET, SELECT, and all other requests"; DELETE and abort are free). **SQS** billed requests
follow https://aws.amazon.com/sqs/pricing/: every action is a request, and each 64 KB chunk of a payload
(a batch's messages together; received messages for ReceiveMessage) is one request.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

import boto3
from botocore.client import BaseClient
from botocore.config import Config

KB = 1024
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
SQS_CHUNK_BYTES = 64 * 1024

# S3 operations in the "PUT, COPY, POST, LIST" price class; DELETE/abort are free; the rest are GET class.
_S3_PUT_CLASS_PREFIXES = ("Put", "Copy", "Post", "List", "Create", "Complete", "Upload", "Restore")
_S3_FREE = frozenset({"DeleteObject", "DeleteObjects", "AbortMultipartUpload"})


# ---------------------------------------------------------------------------------------------- figures
@dataclass(frozen=True)
class UsageSnapshot:
    """What was counted up to one moment; `later - earlier` is what happened in between."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    write_units_by_table_index: Counter[str] = field(default_factory=Counter)
    read_units_by_table_index: Counter[str] = field(default_factory=Counter)
    s3_put_class_requests: int = 0
    s3_get_class_requests: int = 0
    s3_bytes_uploaded: int = 0
    sqs_requests: int = 0
    calls_by_function: Counter[str] = field(default_factory=Counter)
    # DynamoDB calls whose units could not be worked out (an unexpected request shape): should stay 0.
    dynamodb_unmeasured_calls: int = 0

    @property
    def total_calls(self) -> int:
        """Every AWS API call (a batch call counts once)."""
        return sum(self.calls.values())

    @property
    def write_units(self) -> float:
        """DynamoDB write request units: base tables and every index."""
        return float(sum(self.write_units_by_table_index.values()))

    @property
    def read_units(self) -> float:
        """DynamoDB read request units: base tables and every index."""
        return float(sum(self.read_units_by_table_index.values()))

    @property
    def secrets_api_calls(self) -> int:
        """Secrets Manager API calls (billed per 10,000)."""
        return self.by_service()["secretsmanager"]

    def by_service(self) -> Counter[str]:
        """Calls per service name (`dynamodb`, `s3`, `sqs`, `secretsmanager`, ...)."""
        services: Counter[str] = Counter()
        for (service, _operation), count in self.calls.items():
            services[service] += count
        return services

    def __sub__(self, other: UsageSnapshot) -> UsageSnapshot:
        return UsageSnapshot(
            calls=_difference(self.calls, other.calls),
            write_units_by_table_index=_difference(
                self.write_units_by_table_index, other.write_units_by_table_index
            ),
            read_units_by_table_index=_difference(
                self.read_units_by_table_index, other.read_units_by_table_index
            ),
            s3_put_class_requests=self.s3_put_class_requests - other.s3_put_class_requests,
            s3_get_class_requests=self.s3_get_class_requests - other.s3_get_class_requests,
            s3_bytes_uploaded=self.s3_bytes_uploaded - other.s3_bytes_uploaded,
            sqs_requests=self.sqs_requests - other.sqs_requests,
            calls_by_function=_difference(self.calls_by_function, other.calls_by_function),
            dynamodb_unmeasured_calls=self.dynamodb_unmeasured_calls - other.dynamodb_unmeasured_calls,
        )

    def summary(self) -> str:
        """A few readable lines: calls per operation and the billed quantities."""
        lines = [f"{self.total_calls} AWS calls"]
        lines += [
            f"  {count:6d}  {service}.{operation}"
            for (service, operation), count in sorted(self.calls.items())
        ]
        lines.append(f"DynamoDB write units {self.write_units:g}, read units {self.read_units:g}")
        lines += [f"  {units:8g}  {name}" for name, units in sorted(self.write_units_by_table_index.items())]
        lines.append(
            f"S3 PUT-class {self.s3_put_class_requests}, GET-class {self.s3_get_class_requests}, "
            f"{self.s3_bytes_uploaded} bytes uploaded; SQS billed requests {self.sqs_requests}; "
            f"Secrets Manager calls {self.secrets_api_calls}"
        )
        return "\n".join(lines)


def _difference[K](a: Counter[K], b: Counter[K]) -> Counter[K]:
    # Counter's own `-` drops non-positive results; a difference of snapshots must keep every key.
    return Counter(
        {key: a.get(key, 0) - b.get(key, 0) for key in a.keys() | b.keys() if a.get(key, 0) != b.get(key, 0)}
    )


# ---------------------------------------------------------------------------------------------- the hook
_hook_lock = threading.Lock()
_installed: list[tuple[AwsUsage, Callable[..., Any], Callable[..., Any]]] = []  # (owner, wrapper, replaced)
_bypass = threading.local()  # set while this module makes its own (uncounted) calls


def _current_function() -> str:
    try:
        from local.runtime.runner import current_function
    except ImportError:  # used outside the repository's local stack
        return ""
    return current_function() or ""


class AwsUsage:
    """Counts the AWS calls of this process while active (a context manager); thread-safe.

    `where`: an optional predicate called in the calling thread; only calls for which it returns True are
    counted (e.g. `lambda: current_function() is not None` for calls made inside function invocations).
    `units_from_service`: take DynamoDB units from `ReturnConsumedCapacity` (real AWS) instead of computing
    them (see the module docstring: moto's figures are wrong).
    """

    def __init__(self, *, where: Callable[[], bool] | None = None, units_from_service: bool = False) -> None:
        self._where = where
        self._units_from_service = units_from_service
        self._lock = threading.Lock()
        self._active = False
        self._tables = _TableCatalog()
        self.reset()

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Self:
        """Install the hook (counting starts now, from the figures already held)."""
        with _hook_lock:
            if self._active:
                return self
            replaced = BaseClient._make_request
            usage = self

            def make_request(
                client: BaseClient, operation_model: Any, request_dict: Any, request_context: Any
            ) -> Any:
                if not usage._active or getattr(_bypass, "on", False):
                    return replaced(client, operation_model, request_dict, request_context)
                return usage._observe(replaced, client, operation_model, request_dict, request_context)

            BaseClient._make_request = make_request  # type: ignore[method-assign]
            _installed.append((self, make_request, replaced))
            self._active = True
        return self

    def stop(self) -> None:
        """Stop counting and unhook (now, or as soon as the wrappers installed after this one are gone)."""
        with _hook_lock:
            self._active = False
            # LIFO: unlink every inactive wrapper of ours that is on top; one under someone else's later
            # wrapper stays as a pass-through until that wrapper is restored.
            while (
                _installed and not _installed[-1][0]._active and BaseClient._make_request is _installed[-1][1]
            ):
                _owner, _wrapper, replaced = _installed.pop()
                BaseClient._make_request = replaced  # type: ignore[method-assign]

    def reset(self) -> None:
        """Forget what was counted."""
        with self._lock:
            self._calls: Counter[tuple[str, str]] = Counter()
            self._write_units: Counter[str] = Counter()
            self._read_units: Counter[str] = Counter()
            self._s3_put = 0
            self._s3_get = 0
            self._s3_bytes = 0
            self._sqs_requests = 0
            self._by_function: Counter[str] = Counter()
            self._unmeasured = 0

    def snapshot(self) -> UsageSnapshot:
        """A frozen copy of the figures so far."""
        with self._lock:
            return UsageSnapshot(
                calls=Counter(self._calls),
                write_units_by_table_index=Counter(self._write_units),
                read_units_by_table_index=Counter(self._read_units),
                s3_put_class_requests=self._s3_put,
                s3_get_class_requests=self._s3_get,
                s3_bytes_uploaded=self._s3_bytes,
                sqs_requests=self._sqs_requests,
                calls_by_function=Counter(self._by_function),
                dynamodb_unmeasured_calls=self._unmeasured,
            )

    # ------------------------------------------------------------------ figures (of the snapshot now)
    @property
    def calls(self) -> Counter[tuple[str, str]]:
        return self.snapshot().calls

    @property
    def total_calls(self) -> int:
        return self.snapshot().total_calls

    @property
    def write_units(self) -> float:
        return self.snapshot().write_units

    @property
    def read_units(self) -> float:
        return self.snapshot().read_units

    @property
    def write_units_by_table_index(self) -> Counter[str]:
        return self.snapshot().write_units_by_table_index

    @property
    def read_units_by_table_index(self) -> Counter[str]:
        return self.snapshot().read_units_by_table_index

    @property
    def s3_put_class_requests(self) -> int:
        return self.snapshot().s3_put_class_requests

    @property
    def s3_get_class_requests(self) -> int:
        return self.snapshot().s3_get_class_requests

    @property
    def s3_bytes_uploaded(self) -> int:
        return self.snapshot().s3_bytes_uploaded

    @property
    def sqs_requests(self) -> int:
        return self.snapshot().sqs_requests

    @property
    def secrets_api_calls(self) -> int:
        return self.snapshot().secrets_api_calls

    @property
    def calls_by_function(self) -> Counter[str]:
        return self.snapshot().calls_by_function

    @property
    def dynamodb_unmeasured_calls(self) -> int:
        return self.snapshot().dynamodb_unmeasured_calls

    def by_service(self) -> Counter[str]:
        return self.snapshot().by_service()

    def summary(self) -> str:
        return self.snapshot().summary()

    # ------------------------------------------------------------------ one call
    def _observe(
        self,
        send: Callable[..., Any],
        client: BaseClient,
        operation_model: Any,
        request_dict: dict[str, Any],
        request_context: Any,
    ) -> Any:
        if self._where is not None and not self._where():
            return send(client, operation_model, request_dict, request_context)
        service = client.meta.service_model.service_name
        operation = operation_model.name
        dynamodb: _DynamoDBCall | None = None
        unmeasured = 0
        if service == "dynamodb":
            try:
                dynamodb = _DynamoDBCall(
                    self._tables, client, operation, request_dict, self._units_from_service
                )
                dynamodb.before()
            except Exception:  # measuring must never break the code under test
                dynamodb, unmeasured = None, 1
        s3_put = s3_get = s3_bytes = sqs = 0
        if service == "s3":  # before sending: the body is read to its end by then
            s3_put, s3_get, s3_bytes = _s3_request(operation, request_dict)
        http, parsed = send(client, operation_model, request_dict, request_context)
        write_units: Counter[str] = Counter()
        read_units: Counter[str] = Counter()
        if dynamodb is not None:
            try:
                write_units, read_units = dynamodb.after(http.status_code, parsed)
            except Exception:  # measuring must never break the code under test
                unmeasured = 1
        if service == "sqs":
            sqs = _sqs_billed_requests(operation, request_dict, parsed)
        function = _current_function()
        with self._lock:
            self._calls[(service, operation)] += 1
            self._write_units.update(write_units)
            self._read_units.update(read_units)
            self._s3_put += s3_put
            self._s3_get += s3_get
            self._s3_bytes += s3_bytes
            self._sqs_requests += sqs
            self._by_function[function] += 1
            self._unmeasured += unmeasured
        return http, parsed


# ---------------------------------------------------------------------------------------------- S3, SQS
def _s3_request(operation: str, request_dict: Mapping[str, Any]) -> tuple[int, int, int]:
    """(PUT-class requests, GET-class requests, bytes uploaded) of one S3 call."""
    if operation in _S3_FREE:
        return 0, 0, 0
    if operation.startswith(_S3_PUT_CLASS_PREFIXES):
        uploaded = _body_bytes(request_dict) if operation in ("PutObject", "UploadPart") else 0
        return 1, 0, uploaded
    return 0, 1, 0


def _body_bytes(request_dict: Mapping[str, Any]) -> int:
    headers = {str(k).lower(): v for k, v in (request_dict.get("headers") or {}).items()}
    for name in ("x-amz-decoded-content-length", "content-length"):  # aws-chunked bodies carry the first
        if name in headers:
            return int(headers[name])
    body = request_dict.get("body")
    if body is None:
        return 0
    if isinstance(body, str):
        return len(body.encode())
    if isinstance(body, bytes | bytearray | memoryview) or hasattr(body, "__len__"):
        return len(body)  # s3transfer's ReadFileChunk has a length (its seek() answers None)
    with contextlib.suppress(Exception):
        position = body.tell()
        end = body.seek(0, 2)
        body.seek(position)
        return int(end - position)
    return 0


def _sqs_billed_requests(operation: str, request_dict: Mapping[str, Any], parsed: Mapping[str, Any]) -> int:
    """Billed SQS requests of one call: 1, or one per 64 KB chunk of its payload."""
    if operation in ("SendMessage", "SendMessageBatch"):
        request = _json_body(request_dict)
        entries = request.get("Entries", []) if operation == "SendMessageBatch" else [request]
        payload = sum(_sqs_message_bytes(entry) for entry in entries)
    elif operation == "ReceiveMessage":
        payload = sum(_sqs_message_bytes(message) for message in parsed.get("Messages", []))
    else:
        return 1
    return max(1, math.ceil(payload / SQS_CHUNK_BYTES))


def _sqs_message_bytes(message: Mapping[str, Any]) -> int:
    size = len(str(message.get("MessageBody", message.get("Body", ""))).encode())
    for name, attribute in (message.get("MessageAttributes") or {}).items():
        size += len(name.encode()) + len(str(attribute.get("DataType", "")).encode())
        value = attribute.get("StringValue", attribute.get("BinaryValue", ""))
        size += len(value) if isinstance(value, bytes) else len(str(value).encode())
    return size


def _json_body(request_dict: Mapping[str, Any]) -> dict[str, Any]:
    body = request_dict.get("body") or b"{}"
    return json.loads(body.decode() if isinstance(body, bytes) else body)


# ---------------------------------------------------------------------------------------------- DynamoDB
def item_size(item: Mapping[str, Any] | None) -> int:
    """Bytes of a DynamoDB item in typed form (`{"name": {"S": "x"}}`), by the developer guide's rules."""
    if not item:
        return 0
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Mapping[str, Any]) -> int:
    (kind, content), *_ = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        return _number_size(content)
    if kind == "B":
        return _binary_length(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in content)
    if kind == "NS":
        return sum(_number_size(n) for n in content)
    if kind == "BS":
        return sum(_binary_length(b) for b in content)
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in content)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_size(element) for name, element in content.items())
    raise ValueError(f"not a DynamoDB attribute value type: {kind}")


def _number_size(number: str) -> int:
    digits = str(Decimal(number).normalize().copy_abs()).replace(".", "")
    if "E" in digits:  # 1E+3 after normalize: only the mantissa's digits are significant
        digits = digits.split("E")[0]
    significant = digits.strip("0") or "0"
    return math.ceil(len(significant) / 2) + 1


def _binary_length(value: str | bytes) -> int:
    return len(value) if isinstance(value, bytes | bytearray) else len(base64.b64decode(value))


def write_units_for(size: int) -> int:
    """Write units of one item of `size` bytes (1 per KB rounded up, at least 1)."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units_for(size: int, *, consistent: bool) -> float:
    """Read units of `size` bytes read at once (1 per 4 KB rounded up, at least 1; half if eventual)."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


@dataclass(frozen=True)
class _Index:
    name: str
    keys: tuple[str, ...]
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    included: tuple[str, ...]


@dataclass(frozen=True)
class _Table:
    name: str
    keys: tuple[str, ...]
    indexes: tuple[_Index, ...]

    def key_of(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self.keys}

    def index(self, name: str) -> _Index | None:
        return next((index for index in self.indexes if index.name == name), None)

    def entry(self, index: _Index, item: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The item's entry in `index`, or None when the item lacks an index key (not in the index)."""
        if not item or any(key not in item for key in index.keys):
            return None
        if index.projection == "ALL":
            return dict(item)
        kept = {*self.keys, *index.keys, *index.included}
        return {name: value for name, value in item.items() if name in kept}


class _TableCatalog:
    """Key schemas and indexes by (endpoint, table), from one uncounted DescribeTable each."""

    def __init__(self) -> None:
        self._tables: dict[tuple[str, str], _Table] = {}
        self._lock = threading.Lock()

    def get(self, raw: Any, table_name: str) -> _Table:
        cache_key = (raw.meta.endpoint_url, table_name)
        with self._lock:
            if cache_key in self._tables:
                return self._tables[cache_key]
        description = raw.describe_table(TableName=table_name)["Table"]
        indexes = []
        for index in [
            *description.get("GlobalSecondaryIndexes", []),
            *description.get("LocalSecondaryIndexes", []),
        ]:
            projection = index.get("Projection", {})
            indexes.append(
                _Index(
                    name=index["IndexName"],
                    keys=tuple(key["AttributeName"] for key in index["KeySchema"]),
                    projection=projection.get("ProjectionType", "ALL"),
                    included=tuple(projection.get("NonKeyAttributes", [])),
                )
            )
        table = _Table(
            name=table_name,
            keys=tuple(key["AttributeName"] for key in description["KeySchema"]),
            indexes=tuple(indexes),
        )
        with self._lock:
            self._tables[cache_key] = table
        return table


# botocore's own `_make_api_call`, to send this module's reads past every wrapper (the chaos monkey's too).
_PLAIN_API_CALL = BaseClient.__dict__["_make_api_call"]
if (
    getattr(_PLAIN_API_CALL, "__module__", "") != "botocore.client"
):  # already wrapped at import: go through it
    _PLAIN_API_CALL = BaseClient._make_api_call


class _RawDynamoDB:
    """The low-level calls this module makes for itself: uncounted and past every wrapper."""

    def __init__(self, client: BaseClient) -> None:
        self.client = client
        self.meta = client.meta

    def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
        operation = "".join(part.capitalize() for part in name.split("_"))

        def call(**params: Any) -> dict[str, Any]:
            with _uncounted():
                return _PLAIN_API_CALL(self.client, operation, params)

        return call


_raw_clients: dict[tuple[str, str], Any] = {}
_raw_clients_lock = threading.Lock()


def _raw_client(client: BaseClient) -> Any:
    """A plain low-level DynamoDB client to the same endpoint (no resource transforms, no retries)."""
    key = (client.meta.endpoint_url, client.meta.region_name)
    with _raw_clients_lock:
        if key not in _raw_clients:
            _raw_clients[key] = _RawDynamoDB(
                boto3.session.Session().client(
                    "dynamodb",
                    endpoint_url=client.meta.endpoint_url,
                    region_name=client.meta.region_name,
                    config=Config(retries={"max_attempts": 1, "mode": "standard"}),
                )
            )
        return _raw_clients[key]


@contextlib.contextmanager
def _uncounted() -> Iterator[None]:
    previous = getattr(_bypass, "on", False)
    _bypass.on = True
    try:
        yield
    finally:
        _bypass.on = previous


def _units_key(table: str, index: str | None = None) -> str:
    return table if index is None else f"{table}/{index}"


class _DynamoDBCall:
    """Units of one DynamoDB call: `before()` reads what it needs, `after()` computes from the answer."""

    def __init__(
        self,
        tables: _TableCatalog,
        client: BaseClient,
        operation: str,
        request_dict: dict[str, Any],
        reported: bool,
    ) -> None:
        self.tables = tables
        self.raw = _raw_client(client)
        self.operation = operation
        self.request_dict = request_dict
        self.request = _json_body(request_dict)
        self.reported = reported
        self.injected: set[str] = set()
        self.old: dict[tuple[str, str], dict[str, Any] | None] = {}  # (table, key json) → item before

    # ------------------------------------------------------------------ request side
    def before(self) -> None:
        if self.reported:
            if "ReturnConsumedCapacity" not in self.request and self.operation in _CAPACITY_OPERATIONS:
                self._inject("ReturnConsumedCapacity", "INDEXES")
            return
        with _uncounted():
            if self.operation in ("PutItem", "DeleteItem", "UpdateItem"):
                table = self.tables.get(self.raw, self.request["TableName"])
                key = (
                    table.key_of(self.request["Item"]) if self.operation == "PutItem" else self.request["Key"]
                )
                self._read_old([(table.name, key)])
                if self.operation == "UpdateItem" and self.request.get("ReturnValues", "NONE") == "NONE":
                    self._inject("ReturnValues", "ALL_NEW")
            elif self.operation == "BatchWriteItem":
                targets = []
                for table_name, requests in self.request.get("RequestItems", {}).items():
                    table = self.tables.get(self.raw, table_name)
                    for request in requests:
                        if "PutRequest" in request:
                            targets.append((table_name, table.key_of(request["PutRequest"]["Item"])))
                        else:
                            targets.append((table_name, request["DeleteRequest"]["Key"]))
                self._read_old(targets)
            elif self.operation == "TransactWriteItems":
                targets = []
                for action in self.request.get("TransactItems", []):
                    (kind, body), *_ = action.items()
                    table = self.tables.get(self.raw, body["TableName"])
                    key = table.key_of(body["Item"]) if kind == "Put" else body["Key"]
                    targets.append((table.name, key))
                self._read_old(targets)

    def _inject(self, name: str, value: str) -> None:
        self.request[name] = value
        self.injected.add(name)
        body = json.dumps(self.request).encode()
        self.request_dict["body"] = body
        headers = self.request_dict.get("headers")
        if headers is not None:
            for header in list(headers):
                if str(header).lower() == "content-length":
                    headers[header] = str(len(body))

    def _read_old(self, targets: list[tuple[str, dict[str, Any]]]) -> None:
        self.old.update(self._get_items(targets))

    def _get_items(
        self, targets: list[tuple[str, dict[str, Any]]]
    ) -> dict[tuple[str, str], dict[str, Any] | None]:
        """Current items by (table, key), read strongly consistent and uncounted."""
        found: dict[tuple[str, str], dict[str, Any] | None] = {
            (table, _key_json(key)): None for table, key in targets
        }
        pending = list({(table, _key_json(key)): (table, key) for table, key in targets}.values())
        while pending:
            chunk, pending = pending[:100], pending[100:]
            request: dict[str, Any] = {}
            for table, key in chunk:
                request.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(key)
            while request:
                answer = self.raw.batch_get_item(RequestItems=request)
                for table_name, items in answer.get("Responses", {}).items():
                    table = self.tables.get(self.raw, table_name)
                    for item in items:
                        found[(table_name, _key_json(table.key_of(item)))] = _typed(item)
                request = answer.get("UnprocessedKeys") or {}
        return found

    # ------------------------------------------------------------------ answer side
    def after(self, status: int, parsed: dict[str, Any]) -> tuple[Counter[str], Counter[str]]:
        """(write units, read units) by table/index; strips what was injected from the answer."""
        if self.reported:
            units = self._reported(parsed)
            if "ReturnConsumedCapacity" in self.injected:
                parsed.pop("ConsumedCapacity", None)
            return units
        failed = status >= 300
        error = (parsed.get("Error") or {}).get("Code", "") if failed else ""
        writes: Counter[str] = Counter()
        reads: Counter[str] = Counter()
        with _uncounted():
            if self.operation in ("PutItem", "UpdateItem", "DeleteItem"):
                if failed and error != "ConditionalCheckFailedException":
                    return writes, reads  # rejected before any write (validation, not found, ...)
                new_attributes = parsed.get("Attributes")
                if "ReturnValues" in self.injected:
                    parsed.pop("Attributes", None)
                writes = self._single_write(failed, new_attributes)
            elif self.operation == "BatchWriteItem" and not failed:
                writes = self._batch_write(parsed.get("UnprocessedItems") or {})
            elif self.operation == "TransactWriteItems" and (
                not failed or error == "TransactionCanceledException"
            ):
                writes = self._transact_write(failed)
            elif not failed:
                reads = self._reads(parsed)
        return writes, reads

    def _single_write(self, failed: bool, new_attributes: dict[str, Any] | None) -> Counter[str]:
        table = self.tables.get(self.raw, self.request["TableName"])
        key = table.key_of(self.request["Item"]) if self.operation == "PutItem" else self.request["Key"]
        old = self.old.get((table.name, _key_json(key)))
        if failed:
            sent = self.request.get("Item") if self.operation == "PutItem" else None
            return Counter({table.name: write_units_for(max(item_size(old), item_size(sent)))})
        if self.operation == "PutItem":
            new = self.request["Item"]
        elif self.operation == "DeleteItem":
            new = None
        elif "ReturnValues" in self.injected or self.request.get("ReturnValues") == "ALL_NEW":
            new = _typed(new_attributes) if new_attributes else None
        else:
            new = self._get_items([(table.name, key)])[(table.name, _key_json(key))]
        return _write_units(table, old, new)

    def _batch_write(self, unprocessed: Mapping[str, list[dict[str, Any]]]) -> Counter[str]:
        units: Counter[str] = Counter()
        for table_name, requests in self.request.get("RequestItems", {}).items():
            table = self.tables.get(self.raw, table_name)
            left = [
                json.dumps(request, sort_keys=True) for request in _typed(unprocessed.get(table_name, []))
            ]
            for request in requests:
                encoded = json.dumps(request, sort_keys=True)
                if encoded in left:
                    left.remove(encoded)
                    continue
                if "PutRequest" in request:
                    new = request["PutRequest"]["Item"]
                    key = table.key_of(new)
                else:
                    new, key = None, request["DeleteRequest"]["Key"]
                units.update(_write_units(table, self.old.get((table_name, _key_json(key))), new))
        return units

    def _transact_write(self, failed: bool) -> Counter[str]:
        units: Counter[str] = Counter()
        actions = []
        for action in self.request.get("TransactItems", []):
            (kind, body), *_ = action.items()
            table = self.tables.get(self.raw, body["TableName"])
            key = table.key_of(body["Item"]) if kind == "Put" else body["Key"]
            actions.append((kind, body, table, key))
        after = (
            {} if failed else self._get_items([(t.name, k) for kind, _b, t, k in actions if kind == "Update"])
        )
        for kind, body, table, key in actions:
            old = self.old.get((table.name, _key_json(key)))
            if failed or kind == "ConditionCheck":
                # A cancelled transaction or a condition check: the items' sizes, no index writes.
                sent = body.get("Item") if kind == "Put" else None
                units[table.name] += 2 * write_units_for(max(item_size(old), item_size(sent)))
                continue
            if kind == "Put":
                new = body["Item"]
            elif kind == "Delete":
                new = None
            else:
                new = after.get((table.name, _key_json(key)))
            for name, value in _write_units(table, old, new).items():
                units[name] += 2 * value
        return units

    def _reads(self, parsed: dict[str, Any]) -> Counter[str]:
        operation, request = self.operation, self.request
        units: Counter[str] = Counter()
        consistent = bool(request.get("ConsistentRead"))
        if operation == "GetItem":
            table = self.tables.get(self.raw, request["TableName"])
            item = parsed.get("Item")
            if item is not None and _is_projected(request):
                item = self._get_items([(table.name, request["Key"])])[
                    (table.name, _key_json(request["Key"]))
                ]
            units[table.name] += read_units_for(item_size(_typed(item)), consistent=consistent)
        elif operation == "BatchGetItem":
            unprocessed = parsed.get("UnprocessedKeys") or {}
            for table_name, wanted in request.get("RequestItems", {}).items():
                left = [_key_json(key) for key in _typed(unprocessed.get(table_name, {}).get("Keys", []))]
                keys = [key for key in wanted["Keys"] if _key_json(key) not in left]
                items = self._get_items([(table_name, key) for key in keys])
                for key in keys:
                    size = item_size(items[(table_name, _key_json(key))])
                    units[table_name] += read_units_for(size, consistent=bool(wanted.get("ConsistentRead")))
        elif operation == "TransactGetItems":
            targets = [
                (get["Get"]["TableName"], get["Get"]["Key"]) for get in request.get("TransactItems", [])
            ]
            items = self._get_items(targets)
            for table_name, key in targets:
                units[table_name] += 2 * read_units_for(
                    item_size(items[(table_name, _key_json(key))]), consistent=True
                )
        elif operation in ("Query", "Scan"):
            evaluated = parsed.get("Items")
            if (
                evaluated is None
                or _is_projected(request)
                or "FilterExpression" in request
                or "ScanFilter" in request
            ):
                evaluated = self._evaluated_items(operation, request)
            size = sum(item_size(_typed(item)) for item in evaluated)
            units[_units_key(request["TableName"], request.get("IndexName"))] += read_units_for(
                size, consistent=consistent
            )
        return units

    def _evaluated_items(self, operation: str, request: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The items a Query/Scan page evaluated (before filter and projection), read again uncounted."""
        shadow = {
            name: value
            for name, value in request.items()
            if name
            not in (
                "FilterExpression",
                "ScanFilter",
                "QueryFilter",
                "ProjectionExpression",
                "AttributesToGet",
                "Select",
                "ReturnConsumedCapacity",
                "ExpressionAttributeNames",
                "ExpressionAttributeValues",
            )
        }
        expressions = " ".join(str(request.get(name, "")) for name in ("KeyConditionExpression",))
        names = {k: v for k, v in (request.get("ExpressionAttributeNames") or {}).items() if k in expressions}
        values = {
            k: v for k, v in (request.get("ExpressionAttributeValues") or {}).items() if k in expressions
        }
        if names:
            shadow["ExpressionAttributeNames"] = names
        if values:
            shadow["ExpressionAttributeValues"] = values
        call = self.raw.query if operation == "Query" else self.raw.scan
        return [_typed(item) for item in call(**shadow).get("Items", [])]

    def _reported(self, parsed: Mapping[str, Any]) -> tuple[Counter[str], Counter[str]]:
        consumed = parsed.get("ConsumedCapacity") or []
        if isinstance(consumed, Mapping):
            consumed = [consumed]
        units: Counter[str] = Counter()
        for entry in consumed:
            table_name = entry.get("TableName", "")
            if "Table" in entry:
                units[table_name] += float(entry["Table"].get("CapacityUnits", 0))
                for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
                    for index, figures in (entry.get(kind) or {}).items():
                        units[_units_key(table_name, index)] += float(figures.get("CapacityUnits", 0))
            else:
                units[table_name] += float(entry.get("CapacityUnits", 0))
        if self.operation in _WRITE_OPERATIONS:
            return units, Counter()
        return Counter(), units


_WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
_CAPACITY_OPERATIONS = _WRITE_OPERATIONS | {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}


def _write_units(table: _Table, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> Counter[str]:
    """Write units of one successful item write (old → new; None = absent), base table and indexes."""
    units: Counter[str] = Counter({table.name: write_units_for(max(item_size(old), item_size(new)))})
    for index in table.indexes:
        before, after = table.entry(index, old), table.entry(index, new)
        if before is None and after is None:
            continue
        key = _units_key(table.name, index.name)
        if before is None:
            units[key] += write_units_for(item_size(after))
        elif after is None:
            units[key] += write_units_for(item_size(before))
        elif any(before[name] != after[name] for name in index.keys):
            units[key] += write_units_for(item_size(before)) + write_units_for(item_size(after))
        elif before != after:
            units[key] += write_units_for(max(item_size(before), item_size(after)))
    return units


def _is_projected(request: Mapping[str, Any]) -> bool:
    return (
        "ProjectionExpression" in request
        or "AttributesToGet" in request
        or request.get("Select")
        not in (
            None,
            "ALL_ATTRIBUTES",
            "ALL_PROJECTED_ATTRIBUTES",
        )
    )


def _typed(value: Any) -> Any:
    """Parsed answers carry binary as bytes; requests carry it as base64 text: compare them as text."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, Mapping):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return value


def _key_json(key: Mapping[str, Any]) -> str:
    return json.dumps(_typed(key), sort_keys=True)


__all__ = ["AwsUsage", "UsageSnapshot", "item_size", "read_units_for", "write_units_for"]
