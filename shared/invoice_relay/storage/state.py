"""Data access for everything the pipeline remembers between invocations (see keys.py for the layout).

Each class covers one kind of item. Writes that decide "who does the work" are conditional, so two
concurrent Lambdas or a re-run after a crash can never both do it.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError
from pydantic import ValidationError

from ..connector import ConnectorConfig
from ..errors import ConfigurationError, TransientError
from ..partners.payload import validation_reason
from . import keys
from .table import expires_at, is_conditional_failure, iso, query_all, utc_now


class UnknownConnector(ConfigurationError):
    """No connector has this id."""


class ConnectorStore:
    def __init__(self, table: Any):
        self._table = table

    def get(self, connector_id: str) -> ConnectorConfig:
        item = self._table.get_item(
            Key={"PK": keys.connector_pk(connector_id), "SK": keys.CONFIG_SK}, ConsistentRead=True
        ).get("Item")
        if item is None:
            raise UnknownConnector(f"unknown connector '{connector_id}'")
        try:
            return ConnectorConfig.model_validate(json.loads(item["config"]))
        except ValidationError as exc:
            raise ConfigurationError(
                f"connector '{connector_id}' has an invalid configuration: {validation_reason(exc)}"
            ) from None

    def put(self, config: ConnectorConfig) -> None:
        self._table.put_item(
            Item={
                "PK": keys.connector_pk(config.connector_id),
                "SK": keys.CONFIG_SK,
                "GSI1PK": keys.CONNECTORS_INDEX_PK,
                "GSI1SK": config.connector_id,
                "config": config.model_dump_json(),
                "updated_at": iso(utc_now()),
            }
        )

    def list(self) -> list[ConnectorConfig]:
        items = query_all(
            self._table, IndexName="GSI1", KeyConditionExpression=Key("GSI1PK").eq(keys.CONNECTORS_INDEX_PK)
        )
        return [ConnectorConfig.model_validate(json.loads(i["config"])) for i in items]


class CursorStore:
    """Checkpoints of paged listings, so a re-run resumes instead of starting over."""

    def __init__(self, table: Any):
        self._table = table

    def get(self, connector_id: str, name: str) -> dict[str, Any]:
        item = self._table.get_item(
            Key={"PK": keys.connector_pk(connector_id), "SK": keys.cursor_sk(name)}, ConsistentRead=True
        ).get("Item")
        return json.loads(item["cursor"]) if item else {}

    def save(self, connector_id: str, name: str, cursor: dict[str, Any]) -> None:
        self._table.put_item(
            Item={
                "PK": keys.connector_pk(connector_id),
                "SK": keys.cursor_sk(name),
                "cursor": json.dumps(cursor, sort_keys=True),
                "updated_at": iso(utc_now()),
            }
        )


class LeaseHeld(TransientError):
    """Another invocation holds the lease; this one should stop (and will be retried by its schedule)."""


class Leases:
    """Time-limited mutual exclusion per connector (one poll / one export at a time).

    A lease outlives its holder only until `seconds` have passed, so a crashed or timed-out Lambda cannot
    block the connector for longer than that.
    """

    def __init__(self, table: Any):
        self._table = table

    @contextmanager
    def hold(self, connector_id: str, name: str, seconds: int) -> Iterator[str]:
        owner = uuid.uuid4().hex
        now = int(utc_now().timestamp())
        key = {"PK": keys.connector_pk(connector_id), "SK": keys.lease_sk(name)}
        try:
            self._table.put_item(
                Item={
                    **key,
                    "owner": owner,
                    "lease_until": now + seconds,
                    "expires_at": now + seconds + 86400,
                },
                ConditionExpression=Attr("PK").not_exists() | Attr("lease_until").lt(now),
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise LeaseHeld(f"another {name} run for connector '{connector_id}' is in progress") from exc
            raise
        try:
            yield owner
        finally:
            try:
                self._table.delete_item(Key=key, ConditionExpression=Attr("owner").eq(owner))
            except ClientError as exc:
                if not is_conditional_failure(exc):
                    raise


class DocumentState(StrEnum):
    """Life of one source document (one version) on its way to a batch (file) target.

    staged → claimed → exported → done            (rendered into an import file, written back `processed`)
    staged → rejected → failed                    (could not be mapped/rendered, written back `failed`)
    claimed → staged                              (an export run died before its file was stored)
    queued → done | failed                        (API targets: handed to the delivery queue)
    """

    QUEUED = "queued"
    STAGED = "staged"
    CLAIMED = "claimed"
    EXPORTED = "exported"
    REJECTED = "rejected"
    DONE = "done"
    FAILED = "failed"


TERMINAL_STATES = {DocumentState.DONE, DocumentState.FAILED}
ACKNOWLEDGE_PENDING = {
    DocumentState.EXPORTED: DocumentState.DONE,
    DocumentState.REJECTED: DocumentState.FAILED,
}


@dataclass
class DocumentRecord:
    connector_id: str
    source_id: str
    version: str
    state: DocumentState
    number: str | None = None
    document_json: str | None = None
    raw_key: str | None = None
    reason: str | None = None
    export_file: str | None = None
    run_id: str | None = None
    target_id: str | None = None
    target_number: str | None = None
    write_back_attempted: bool = False  # a write-back was sent and its answer lost: check the source first
    updated_at: str = ""

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> DocumentRecord:
        return cls(
            connector_id=item["connector_id"],
            source_id=item["source_id"],
            version=item["version"],
            state=DocumentState(item["state"]),
            number=item.get("number"),
            document_json=item.get("document"),
            raw_key=item.get("raw_key"),
            reason=item.get("reason"),
            export_file=item.get("export_file"),
            run_id=item.get("run_id"),
            target_id=item.get("target_id"),
            target_number=item.get("target_number"),
            write_back_attempted=bool(item.get("write_back_attempted", False)),
            updated_at=item.get("updated_at", ""),
        )


class StageResult(StrEnum):
    NEW = "new"
    UNCHANGED = "unchanged"
    IN_FLIGHT = "in_flight"


class DocumentStates:
    """Per-document state with conditional transitions (the heart of exactly-once)."""

    def __init__(self, table: Any, terminal_ttl_days: int = 400):
        self._table = table
        self._terminal_ttl_days = terminal_ttl_days

    def _key(self, connector_id: str, source_id: str) -> dict[str, str]:
        return {"PK": keys.document_pk(connector_id), "SK": keys.document_sk(source_id)}

    def get(self, connector_id: str, source_id: str) -> DocumentRecord | None:
        item = self._table.get_item(Key=self._key(connector_id, source_id), ConsistentRead=True).get("Item")
        return DocumentRecord.from_item(item) if item else None

    def seen(self, connector_id: str, source_id: str, version: str) -> StageResult | None:
        """Whether this version needs work: None if it does, else why not."""
        record = self.get(connector_id, source_id)
        if record is None:
            return None
        if record.version == version:
            return StageResult.UNCHANGED
        if record.state in TERMINAL_STATES or record.state in {DocumentState.STAGED, DocumentState.REJECTED}:
            return None
        return StageResult.IN_FLIGHT

    def stage(
        self,
        connector_id: str,
        source_id: str,
        version: str,
        *,
        state: DocumentState,
        run_id: str,
        number: str | None,
        document_json: str | None,
        raw_key: str | None,
        reason: str | None = None,
    ) -> StageResult:
        """Record a new version as `staged` (or `rejected` with a reason) unless it is already known.

        Condition: no item yet, or the stored version differs and is not in flight (claimed/exported:
        an export is writing it right now; it is picked up again after that finishes).
        """
        now = iso(utc_now())
        item = {
            **self._key(connector_id, source_id),
            "connector_id": connector_id,
            "source_id": source_id,
            "version": version,
            "state": state.value,
            "number": number,
            "document": document_json,
            "raw_key": raw_key,
            "reason": reason,
            "run_id": run_id,
            "staged_at": now,
            "updated_at": now,
            "GSI1PK": keys.document_state_index_pk(connector_id, state.value),
            "GSI1SK": f"{now}#{source_id}",
        }
        item = {k: v for k, v in item.items() if v is not None}
        replaceable = [s.value for s in (*TERMINAL_STATES, DocumentState.STAGED, DocumentState.REJECTED)]
        try:
            self._table.put_item(
                Item=item,
                ConditionExpression=Attr("PK").not_exists()
                | (Attr("version").ne(version) & Attr("state").is_in(replaceable)),
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            current = self.get(connector_id, source_id)
            if current is not None and current.version == version:
                return StageResult.UNCHANGED
            return StageResult.IN_FLIGHT
        return StageResult.NEW

    def by_state(
        self, connector_id: str, state: DocumentState, limit: int | None = None
    ) -> list[DocumentRecord]:
        kwargs: dict[str, Any] = {
            "IndexName": "GSI1",
            "KeyConditionExpression": Key("GSI1PK").eq(
                keys.document_state_index_pk(connector_id, state.value)
            ),
        }
        items = query_all(self._table, **kwargs)
        records = [DocumentRecord.from_item(i) for i in items]
        # GSI reads are eventually consistent: re-check each against the base item.
        fresh = [self.get(connector_id, r.source_id) for r in records]
        current = [r for r in fresh if r is not None and r.state is state]
        return current[:limit] if limit else current

    def transition(
        self,
        record: DocumentRecord,
        to: DocumentState,
        *,
        expect: DocumentState | None = None,
        **fields: Any,
    ) -> bool:
        """Move one document from `expect` (default: its current state) to `to`, same version only.

        Returns False when another invocation moved it first (the condition failed).
        """
        expect = expect or record.state
        now = iso(utc_now())
        values: dict[str, Any] = {
            **fields,
            "state": to.value,
            "updated_at": now,
            "GSI1PK": keys.document_state_index_pk(record.connector_id, to.value),
            "GSI1SK": f"{now}#{record.source_id}",
        }
        if to in TERMINAL_STATES:
            values["expires_at"] = expires_at(self._terminal_ttl_days)
        sets = ", ".join(f"#{k} = :{k}" for k in values)
        try:
            self._table.update_item(
                Key=self._key(record.connector_id, record.source_id),
                UpdateExpression=f"SET {sets}",
                ConditionExpression="#state = :expect AND #version = :version",
                ExpressionAttributeNames={**{f"#{k}": k for k in values}, "#version": "version"},
                ExpressionAttributeValues={
                    **{f":{k}": v for k, v in values.items()},
                    ":expect": expect.value,
                    ":version": record.version,
                },
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        record.state = to
        for name, value in fields.items():
            if hasattr(record, name):
                setattr(record, name, value)
        return True


class CrossReferences:
    """External-id links: (connector, system, key) → the matching record in the other system."""

    def __init__(self, table: Any):
        self._table = table

    def put(self, connector_id: str, system: str, key: str, link: dict[str, str]) -> None:
        self._table.put_item(
            Item={
                "PK": keys.xref_pk(connector_id, system, key),
                "SK": keys.XREF_SK,
                "connector_id": connector_id,
                "system": system,
                "key": key,
                "link": link,
                "updated_at": iso(utc_now()),
            }
        )

    def get(self, connector_id: str, system: str, key: str) -> dict[str, str] | None:
        item = self._table.get_item(
            Key={"PK": keys.xref_pk(connector_id, system, key), "SK": keys.XREF_SK}, ConsistentRead=True
        ).get("Item")
        return dict(item["link"]) if item else None


class OAuthStates:
    """One-time `state` values of the OAuth authorization-code flow (CSRF protection), valid briefly."""

    def __init__(self, table: Any, ttl_seconds: int = 600):
        self._table = table
        self._ttl = ttl_seconds

    def issue(self, connector_id: str) -> str:
        state = uuid.uuid4().hex + uuid.uuid4().hex
        now = int(utc_now().timestamp())
        self._table.put_item(
            Item={
                "PK": keys.oauth_state_pk(state),
                "SK": keys.OAUTH_STATE_SK,
                "connector_id": connector_id,
                "valid_until": now + self._ttl,
                "expires_at": now + self._ttl + 3600,
            }
        )
        return state

    def redeem(self, connector_id: str, state: str) -> bool:
        """True exactly once for a state issued for `connector_id` and still valid."""
        now = int(utc_now().timestamp())
        try:
            self._table.delete_item(
                Key={"PK": keys.oauth_state_pk(state), "SK": keys.OAUTH_STATE_SK},
                ConditionExpression=Attr("connector_id").eq(connector_id) & Attr("valid_until").gte(now),
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True


class BundleLedger:
    """Which booking entry went out in which bundle, and when — so an entry is sent again only when the
    partner still reports it missing after a grace period (its import may simply not be visible yet)."""

    def __init__(self, table: Any, ttl_days: int = 400):
        self._table = table
        self._ttl_days = ttl_days

    def sent_at(self, connector_id: str, entry_ids: list[str]) -> dict[str, dt.datetime]:
        """When each of `entry_ids` was last sent (entries never sent are absent)."""
        found: dict[str, dt.datetime] = {}
        for start in range(0, len(entry_ids), 100):
            chunk = entry_ids[start : start + 100]
            request = {
                self._table.name: {
                    "Keys": [
                        {"PK": keys.connector_pk(connector_id), "SK": keys.bundled_entry_sk(e)} for e in chunk
                    ],
                    "ProjectionExpression": "entry_id, sent_at",
                }
            }
            while request:
                answer = self._table.meta.client.batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(self._table.name, []):
                    found[item["entry_id"]] = dt.datetime.fromisoformat(
                        item["sent_at"].replace("Z", "+00:00")
                    )
                request = answer.get("UnprocessedKeys") or {}
        return found

    def record_bundle(self, connector_id: str, bundle_id: str, run_id: str, **details: Any) -> None:
        self._table.put_item(
            Item={
                "PK": keys.connector_pk(connector_id),
                "SK": keys.bundle_sk(bundle_id),
                "GSI1PK": keys.run_index_pk(run_id),
                "GSI1SK": keys.bundle_sk(bundle_id),
                "bundle_id": bundle_id,
                "run_id": run_id,
                "recorded_at": iso(utc_now()),
                "expires_at": expires_at(self._ttl_days),
                **{k: v for k, v in details.items() if v is not None},
            }
        )

    def record_sent(self, connector_id: str, bundle_id: str, entries: dict[str, str]) -> None:
        """`entries`: booking entry id → the file name it has in the bundle."""
        now = iso(utc_now())
        with self._table.batch_writer() as batch:
            for entry_id, file_name in entries.items():
                batch.put_item(
                    Item={
                        "PK": keys.connector_pk(connector_id),
                        "SK": keys.bundled_entry_sk(entry_id),
                        "GSI1PK": keys.bundle_entries_index_pk(connector_id, bundle_id),
                        "GSI1SK": entry_id,
                        "entry_id": entry_id,
                        "bundle_id": bundle_id,
                        "file_name": file_name,
                        "sent_at": now,
                        "expires_at": expires_at(self._ttl_days),
                    }
                )

    def bundle(self, connector_id: str, bundle_id: str) -> dict[str, Any] | None:
        return self._table.get_item(
            Key={"PK": keys.connector_pk(connector_id), "SK": keys.bundle_sk(bundle_id)}, ConsistentRead=True
        ).get("Item")
