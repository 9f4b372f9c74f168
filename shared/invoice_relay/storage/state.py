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
from .table import batch_get_all, expires_at, is_conditional_failure, iso, query_all, utc_now


class UnknownConnector(ConfigurationError):
    """No connector has this id."""


class ConnectorExists(ConfigurationError):
    """A connector with this id exists already."""


@dataclass(frozen=True)
class ConnectorHealth:
    """What the connector's scheduled runs left on its configuration item: the last run, the last success,
    and how many runs in a row failed (the auto-pause counts these)."""

    last_run: dict[str, Any] | None = None
    last_success_at: str | None = None
    failing_streak: int = 0
    created_at: str | None = None
    updated_at: str | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ConnectorHealth:
        last_run = item.get("last_run")
        return cls(
            last_run=json.loads(last_run) if isinstance(last_run, str) else None,
            last_success_at=item.get("last_success_at"),
            failing_streak=int(item.get("failing_streak", 0)),
            created_at=item.get("created_at"),
            updated_at=item.get("updated_at"),
        )


class ConnectorStore:
    """Connector configurations (one CONFIG item each, listed through GSI1) and their health.

    Writing a configuration never touches the health attributes beside it, and recording a run never
    touches the configuration: the two have different writers (the management API, the runs).
    """

    def __init__(self, table: Any):
        self._table = table

    def _key(self, connector_id: str) -> dict[str, str]:
        return {"PK": keys.connector_pk(connector_id), "SK": keys.CONFIG_SK}

    def get(self, connector_id: str) -> ConnectorConfig:
        return self.get_with_health(connector_id)[0]

    def get_with_health(self, connector_id: str) -> tuple[ConnectorConfig, ConnectorHealth]:
        item = self._table.get_item(Key=self._key(connector_id), ConsistentRead=True).get("Item")
        if item is None:
            raise UnknownConnector(f"unknown connector '{connector_id}'")
        return self._config(connector_id, item), ConnectorHealth.from_item(item)

    @staticmethod
    def _config(connector_id: str, item: dict[str, Any]) -> ConnectorConfig:
        try:
            return ConnectorConfig.model_validate(json.loads(item["config"]))
        except ValidationError as exc:
            raise ConfigurationError(
                f"connector '{connector_id}' has an invalid configuration: {validation_reason(exc)}"
            ) from None

    def put(self, config: ConnectorConfig, *, create: bool = False) -> None:
        """Store the configuration (create or replace it), keeping the health beside it. `create`: only if
        no connector has this id yet (ConnectorExists otherwise)."""
        now = iso(utc_now())
        condition = {"ConditionExpression": "attribute_not_exists(PK)"} if create else {}
        try:
            self._table.update_item(
                Key=self._key(config.connector_id),
                UpdateExpression="SET #config = :config, GSI1PK = :index, GSI1SK = :id, updated_at = :now, "
                "created_at = if_not_exists(created_at, :now)",
                ExpressionAttributeNames={"#config": "config"},
                ExpressionAttributeValues={
                    ":config": config.model_dump_json(),
                    ":index": keys.CONNECTORS_INDEX_PK,
                    ":id": config.connector_id,
                    ":now": now,
                },
                **condition,
            )
        except ClientError as exc:
            if create and is_conditional_failure(exc):
                raise ConnectorExists(f"connector '{config.connector_id}' exists already") from None
            raise

    def delete(self, connector_id: str) -> None:
        self._table.delete_item(Key=self._key(connector_id))

    def list(self) -> list[ConnectorConfig]:
        return [config for config, _ in self.list_with_health()]

    def list_with_health(self) -> list[tuple[ConnectorConfig, ConnectorHealth]]:
        items = query_all(
            self._table, IndexName="GSI1", KeyConditionExpression=Key("GSI1PK").eq(keys.CONNECTORS_INDEX_PK)
        )
        return [(self._config(i["GSI1SK"], i), ConnectorHealth.from_item(i)) for i in items]

    def record_run(self, connector_id: str, run: dict[str, Any], *, failed: bool) -> int | None:
        """Note a finished scheduled run on the connector: its summary, the last success, the failing
        streak (one more when it failed, zero when it did not). Returns the streak, None when the
        connector is gone (deleted while the run worked)."""
        now = iso(utc_now())
        if failed:
            update = "SET last_run = :run ADD failing_streak :one"
            values: dict[str, Any] = {":run": json.dumps(run, default=str), ":one": 1}
        else:
            update = "SET last_run = :run, last_success_at = :now, failing_streak = :zero"
            values = {":run": json.dumps(run, default=str), ":now": now, ":zero": 0}
        try:
            answer = self._table.update_item(
                Key=self._key(connector_id),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return None
            raise
        return int(answer.get("Attributes", {}).get("failing_streak", 0))

    def reset_failing_streak(self, connector_id: str) -> None:
        self._table.update_item(
            Key=self._key(connector_id),
            UpdateExpression="SET failing_streak = :zero",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":zero": 0},
        )


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

    def held(self, connector_id: str, name: str) -> bool:
        """Whether a live holder has the lease now (the management API refuses conflicting changes)."""
        item = self._table.get_item(
            Key={"PK": keys.connector_pk(connector_id), "SK": keys.lease_sk(name)}, ConsistentRead=True
        ).get("Item")
        return item is not None and int(item.get("lease_until", 0)) >= int(utc_now().timestamp())

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
    """Life of one source document (one version).

    File targets (flows 1+2):
    staged → done                   (in an import file and written back `processed`)
    staged → exported → done        (in an import file; its write-back waits for the next run)
    staged → rejected → failed      (could not be mapped or rendered; written back `failed` + comment)
    API targets: queued → done | failed (handed to the delivery queue).

    Only the states that wait for a write-back (`exported`, `rejected`) are in the state index (GSI1): the
    export finds its staged documents through the staged batches (`StagedBatches`), so the documents on
    the happy path never write the index.
    """

    QUEUED = "queued"
    STAGED = "staged"
    EXPORTED = "exported"
    REJECTED = "rejected"
    DONE = "done"
    FAILED = "failed"


TERMINAL_STATES = {DocumentState.DONE, DocumentState.FAILED}
INDEXED_STATES = {DocumentState.EXPORTED, DocumentState.REJECTED}


@dataclass
class DocumentRecord:
    connector_id: str
    source_id: str
    version: str
    state: DocumentState
    number: str | None = None
    raw_key: str | None = None  # the archived listing page (or payload) the document was read from
    reason: str | None = None
    export_file: str | None = None
    run_id: str | None = None
    target_id: str | None = None
    target_number: str | None = None
    write_back_attempted: bool = False  # a write-back was sent and its answer lost: check the source first
    writeback_error: str | None = None
    export_run_id: str | None = None
    exported_at: str | None = None
    staged_at: str = ""
    updated_at: str = ""

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> DocumentRecord:
        return cls(
            connector_id=item["connector_id"],
            source_id=item["source_id"],
            version=item["version"],
            state=DocumentState(item["state"]),
            number=item.get("number"),
            raw_key=item.get("raw_key"),
            reason=item.get("reason"),
            export_file=item.get("export_file"),
            run_id=item.get("run_id"),
            target_id=item.get("target_id"),
            target_number=item.get("target_number"),
            write_back_attempted=bool(item.get("write_back_attempted", False)),
            writeback_error=item.get("writeback_error"),
            export_run_id=item.get("export_run_id"),
            exported_at=item.get("exported_at"),
            staged_at=item.get("staged_at", ""),
            updated_at=item.get("updated_at", ""),
        )


class StageResult(StrEnum):
    NEW = "new"
    UNCHANGED = "unchanged"
    IN_FLIGHT = "in_flight"


class DocumentStates:
    """Per-document state: one small item per source document (id, version, state, where it went).

    Two ways to write it, and the rule that keeps them apart:
    - conditional single writes (`stage`, `transition`) wherever two functions could race for a document
      (a poll and a delivery; the rare re-staging of a changed document; failures);
    - unconditional batch writes (`put_many`, 25 items a call) for the bulk of a run, only by the run that
      holds the connector's lease for that kind *and* only on items no other function writes meanwhile:
      a poll writes new documents and terminal ones (nothing else writes those), an export writes the
      staged documents it exported (a poll leaves documents in flight alone, see `seen`).
    """

    def __init__(self, table: Any, terminal_ttl_days: int = 400):
        self._table = table
        self._terminal_ttl_days = terminal_ttl_days

    def _key(self, connector_id: str, source_id: str) -> dict[str, str]:
        return {"PK": keys.document_pk(connector_id), "SK": keys.document_sk(source_id)}

    def get(self, connector_id: str, source_id: str) -> DocumentRecord | None:
        item = self._table.get_item(Key=self._key(connector_id, source_id), ConsistentRead=True).get("Item")
        return DocumentRecord.from_item(item) if item else None

    def numbered(self, number: str, connector_id: str | None = None) -> list[DocumentRecord]:
        """The documents with this number (the number index, keys only), of one connector or of all."""
        found = query_all(
            self._table,
            IndexName="GSI2",
            KeyConditionExpression=Key("GSI2PK").eq(keys.document_number_index_pk(number)),
        )
        if connector_id is not None:
            found = [i for i in found if i["PK"] == keys.document_pk(connector_id)]
        items = batch_get_all(self._table, [{"PK": i["PK"], "SK": i["SK"]} for i in found])
        return [DocumentRecord.from_item(i) for i in items]

    def known(self, connector_id: str, source_ids: list[str]) -> dict[str, DocumentRecord]:
        """The current records of `source_ids` (strongly consistent; 100 to a `BatchGetItem`)."""
        item_keys = [self._key(connector_id, source_id) for source_id in dict.fromkeys(source_ids)]
        records = (
            DocumentRecord.from_item(i) for i in batch_get_all(self._table, item_keys, ConsistentRead=True)
        )
        return {record.source_id: record for record in records}

    @staticmethod
    def verdict(record: DocumentRecord | None, version: str) -> StageResult | None:
        """Whether a listed version needs work: None if it does, else why not. A document in flight
        (exported and waiting for its write-back, queued for delivery) is picked up again after that."""
        if record is None:
            return None
        if record.version == version:
            return StageResult.UNCHANGED
        if record.state in TERMINAL_STATES or record.state in {DocumentState.STAGED, DocumentState.REJECTED}:
            return None
        return StageResult.IN_FLIGHT

    def item(self, record: DocumentRecord) -> dict[str, Any]:
        """The whole item of a record as it is to be stored (index keys only for the indexed states)."""
        now = iso(utc_now())
        record.updated_at = now
        item: dict[str, Any] = {
            **self._key(record.connector_id, record.source_id),
            "connector_id": record.connector_id,
            "source_id": record.source_id,
            "version": record.version,
            "state": record.state.value,
            "number": record.number,
            "raw_key": record.raw_key,
            "reason": record.reason,
            "export_file": record.export_file,
            "run_id": record.run_id,
            "target_id": record.target_id,
            "target_number": record.target_number,
            "writeback_error": record.writeback_error,
            "export_run_id": record.export_run_id,
            "exported_at": record.exported_at,
            "staged_at": record.staged_at or now,
            "updated_at": now,
        }
        if record.write_back_attempted:
            item["write_back_attempted"] = True
        if record.number:
            item["GSI2PK"] = keys.document_number_index_pk(record.number)
            item["GSI2SK"] = keys.document_number_index_sk(record.connector_id, record.source_id)
        if record.state in INDEXED_STATES:
            item["GSI1PK"] = keys.document_state_index_pk(record.connector_id, record.state.value)
            item["GSI1SK"] = f"{now}#{record.source_id}"
        if record.state in TERMINAL_STATES:
            item["expires_at"] = expires_at(self._terminal_ttl_days)
        return {k: v for k, v in item.items() if v is not None and v != ""}

    def put_many(self, records: list[DocumentRecord]) -> None:
        """Store whole records without conditions, 25 to a `BatchWriteItem` (see the class docstring for
        when this is allowed)."""
        if not records:
            return
        with self._table.batch_writer() as batch:
            for record in records:
                batch.put_item(Item=self.item(record))

    def stage(self, record: DocumentRecord, *, replacing: DocumentRecord | None) -> StageResult:
        """Store a new version (`staged`, or `rejected` with its reason) if the stored one is still
        `replacing` (None: no item yet). The conditional path, for documents another function may write."""
        if replacing is None:
            condition = Attr("PK").not_exists()
        else:
            condition = Attr("version").eq(replacing.version) & Attr("state").eq(replacing.state.value)
        try:
            self._table.put_item(Item=self.item(record), ConditionExpression=condition)
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            current = self.get(record.connector_id, record.source_id)
            if current is not None and current.version == record.version:
                return StageResult.UNCHANGED
            return StageResult.IN_FLIGHT
        return StageResult.NEW

    def by_state(
        self, connector_id: str, state: DocumentState, limit: int | None = None
    ) -> list[DocumentRecord]:
        """The documents in an indexed state (`exported`, `rejected`), oldest first, checked against
        their items (the index is eventually consistent)."""
        if state not in INDEXED_STATES:
            raise ValueError(f"documents in state {state.value!r} are not indexed")
        items = query_all(
            self._table,
            IndexName="GSI1",
            KeyConditionExpression=Key("GSI1PK").eq(keys.document_state_index_pk(connector_id, state.value)),
        )
        ids = [i["source_id"] for i in items]
        fresh = self.known(connector_id, ids)
        current = [fresh[i] for i in ids if i in fresh and fresh[i].state is state]
        return current[:limit] if limit else current

    def unsettled(self, connector_id: str) -> list[DocumentRecord]:
        """Every document of the connector not in a final state (reads the connector's whole document
        range: for checks and tools, not for the pipeline)."""
        items = query_all(
            self._table,
            KeyConditionExpression=Key("PK").eq(keys.document_pk(connector_id))
            & Key("SK").begins_with(keys.document_sk("")),
            ConsistentRead=True,
        )
        records = [DocumentRecord.from_item(i) for i in items]
        return [r for r in records if r.state not in TERMINAL_STATES]

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
        values: dict[str, Any] = {**fields, "state": to.value, "updated_at": now}
        removed: list[str] = []
        if to in INDEXED_STATES:
            values["GSI1PK"] = keys.document_state_index_pk(record.connector_id, to.value)
            values["GSI1SK"] = f"{now}#{record.source_id}"
        else:
            removed = ["GSI1PK", "GSI1SK"]
        if to in TERMINAL_STATES:
            values["expires_at"] = expires_at(self._terminal_ttl_days)
        update = "SET " + ", ".join(f"#{k} = :{k}" for k in values)
        if removed:
            update += " REMOVE " + ", ".join(f"#{k}" for k in removed)
        try:
            self._table.update_item(
                Key=self._key(record.connector_id, record.source_id),
                UpdateExpression=update,
                ConditionExpression="#state = :expect AND #version = :version",
                ExpressionAttributeNames={
                    **{f"#{k}": k for k in (*values, *removed)},
                    "#version": "version",
                },
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


@dataclass(frozen=True)
class StagedBatch:
    """One page of staged documents: the archive in S3 that holds them (canonical JSON and the raw page).

    `confirmed`: the poll stored every archived document as `staged` (its states were written after the
    batch); `dirty`: something may have changed one of its documents since (an export gathered it, a later
    poll replaced one of them). Only a confirmed batch that is not dirty is exported without reading its
    documents' states again (see pipeline/export.py)."""

    sort_key: str
    archive_key: str
    documents: int
    run_id: str = ""
    staged_at: str = ""
    confirmed: bool = False
    dirty: bool = False

    @property
    def clean(self) -> bool:
        return self.confirmed and not self.dirty and bool(self.run_id and self.staged_at)

    def record(self, connector_id: str, source_id: str, entry: dict[str, Any]) -> DocumentRecord:
        """The `staged` record the poll stored for an archived document of a clean batch."""
        return DocumentRecord(
            connector_id,
            source_id,
            entry["version"],
            DocumentState.STAGED,
            number=entry.get("number"),
            raw_key=self.archive_key,
            run_id=self.run_id,
            staged_at=self.staged_at,
        )


class StagedBatches:
    """The export's work list: one item per archived page of staged documents, written by the poll *before*
    the documents' states (so no staged document lacks its batch), confirmed by it once they are all
    stored, deleted by the export once none of its documents is still staged in the version it archived."""

    def __init__(self, table: Any):
        self._table = table

    def add(
        self, connector_id: str, run_id: str, page: int, archive_key: str, documents: int, staged_at: str
    ) -> str:
        sort_key = keys.staged_batch_sk(staged_at, run_id, page)
        self._table.put_item(
            Item=self._item(connector_id, sort_key, archive_key, documents, run_id, staged_at)
        )
        return sort_key

    @staticmethod
    def _item(
        connector_id: str,
        sort_key: str,
        archive_key: str,
        documents: int,
        run_id: str,
        staged_at: str,
        **flags: bool,
    ) -> dict[str, Any]:
        return {
            "PK": keys.connector_pk(connector_id),
            "SK": sort_key,
            "archive_key": archive_key,
            "documents": documents,
            "run_id": run_id,
            "staged_at": staged_at,
            **{name: True for name, value in flags.items() if value},
        }

    def confirm(self, connector_id: str, sort_key: str) -> None:
        """Every document of the batch is stored `staged` as archived (an export that already took the
        batch, reading its states, may have removed it: then there is nothing to confirm)."""
        try:
            self._table.update_item(
                Key={"PK": keys.connector_pk(connector_id), "SK": sort_key},
                UpdateExpression="SET confirmed = :yes",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":yes": True},
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise

    def mark_dirty(self, connector_id: str, batches: list[StagedBatch]) -> None:
        """Their documents' states must be read again before they are exported (25 to a call)."""
        with self._table.batch_writer() as batch:
            for b in batches:
                if not b.dirty:
                    batch.put_item(
                        Item=self._item(
                            connector_id,
                            b.sort_key,
                            b.archive_key,
                            b.documents,
                            b.run_id,
                            b.staged_at,
                            confirmed=b.confirmed,
                            dirty=True,
                        )
                    )

    def mark_dirty_by_archive(self, connector_id: str, archive_keys: set[str]) -> None:
        """A poll replaced documents staged from these archives: their batches are read again on export."""
        if archive_keys:
            self.mark_dirty(
                connector_id, [b for b in self.pending(connector_id) if b.archive_key in archive_keys]
            )

    def pending(self, connector_id: str) -> list[StagedBatch]:
        """Oldest first."""
        items = query_all(
            self._table,
            KeyConditionExpression=Key("PK").eq(keys.connector_pk(connector_id))
            & Key("SK").begins_with(keys.STAGED_BATCH_PREFIX),
            ConsistentRead=True,
        )
        return [
            StagedBatch(
                i["SK"],
                i["archive_key"],
                int(i.get("documents", 0)),
                run_id=i.get("run_id", ""),
                staged_at=i.get("staged_at", ""),
                confirmed=bool(i.get("confirmed")),
                dirty=bool(i.get("dirty")),
            )
            for i in items
        ]

    def remove(self, connector_id: str, sort_keys: list[str]) -> None:
        if not sort_keys:
            return
        with self._table.batch_writer() as batch:
            for sort_key in sort_keys:
                batch.delete_item(Key={"PK": keys.connector_pk(connector_id), "SK": sort_key})


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
        item_keys = [
            {"PK": keys.connector_pk(connector_id), "SK": keys.bundled_entry_sk(e)} for e in entry_ids
        ]
        items = batch_get_all(self._table, item_keys, ProjectionExpression="entry_id, sent_at")
        return {i["entry_id"]: dt.datetime.fromisoformat(i["sent_at"].replace("Z", "+00:00")) for i in items}

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
