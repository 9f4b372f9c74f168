"""The control plane's operations on connectors, each checked against the connector's state.

Create and update validate the configuration with the partner registry (each side by its partner's model,
then the pairing), store credentials write-only, store the configuration and bring the schedules in step.
Start enables the schedules and releases the work held while paused; pause disables them (webhooks keep
being accepted and are held, see pipeline/deliver.py); delete refuses while a run holds a lease, then
removes the schedules, schedules the connector's secrets for deletion and removes the configuration — its
runs, events and documents stay until their TTL. Run now invokes the run's function asynchronously with
the input its schedule sends.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import boto3
from pydantic import ValidationError

from ..connector import SCHEDULE_FIELDS, ConnectorConfig, ConnectorStatus
from ..errors import ConfigurationError
from ..partners.payload import validation_reason
from ..partners.registry import REGISTRY
from ..storage.dead_letters import DeadLetters
from ..storage.held import HeldWork
from ..storage.state import ConnectorExists, ConnectorHealth, ConnectorStore, Leases, UnknownConnector
from ..storage.table import iso, utc_now
from .credentials import ConnectorCredentials, secret_names
from .errors import Conflict, InvalidInput, NotFound
from .schedules import RUN_KINDS, ConnectorSchedules

LEASE_NAMES = RUN_KINDS  # a scheduled run holds the lease named after its kind


@lru_cache(maxsize=1)
def lambda_client() -> Any:
    return boto3.client("lambda")


@dataclass
class ControlPlane:
    connectors: ConnectorStore
    schedules: ConnectorSchedules
    credentials: ConnectorCredentials
    leases: Leases
    held: HeldWork
    dead_letters: DeadLetters
    run_functions: dict[str, str]  # run kind → function ARN (the schedules' targets)
    secret_recovery_days: int = 7
    invoker: Any = None  # the Lambda client (None: boto3's)

    # -- reading ------------------------------------------------------------------------------------------

    def get(self, connector_id: str) -> tuple[ConnectorConfig, ConnectorHealth]:
        try:
            return self.connectors.get_with_health(connector_id)
        except UnknownConnector:
            raise NotFound(f"unknown connector '{connector_id}'") from None

    # -- create and update --------------------------------------------------------------------------------

    def create(self, request: dict[str, Any], *, by: str) -> ConnectorConfig:
        """A new connector from an API request: paused until someone starts it."""
        config, secrets = self._validated(request, existing=None)
        config = config.model_copy(
            update={"status": ConnectorStatus.PAUSED, "paused_reason": f"created by {by}"}
        )
        self._store_secrets(secrets)
        try:
            self.connectors.put(config, create=True)
        except ConnectorExists as exc:
            raise Conflict(exc.reason) from None
        self.schedules.sync(config)
        return config

    def update(self, connector_id: str, request: dict[str, Any]) -> ConnectorConfig:
        """Replace the connector's configuration (its status and credentials left as they are unless new
        credentials are given) and bring its schedules in step."""
        existing, _ = self.get(connector_id)
        config, secrets = self._validated({**request, "connector_id": connector_id}, existing=existing)
        config = config.model_copy(
            update={"status": existing.status, "paused_reason": existing.paused_reason}
        )
        self._store_secrets(secrets)
        self.connectors.put(config)
        self.schedules.sync(config)
        return config

    def _validated(
        self, request: dict[str, Any], existing: ConnectorConfig | None
    ) -> tuple[ConnectorConfig, dict[str, dict[str, str]]]:
        """The connector a request describes, and the secrets to store for it; InvalidInput listing every
        field that is wrong (each side by its partner's model, the schedules, then the whole)."""
        connector_id = request.get("connector_id")
        if not isinstance(connector_id, str):
            raise InvalidInput([{"field": "connector_id", "reason": "required"}])
        fields: dict[str, Any] = {
            "connector_id": connector_id,
            "name": request.get("name"),
            "timezone": request.get("timezone") or "UTC",
        }
        if request.get("failure_limit") is not None:
            fields["failure_limit"] = request["failure_limit"]
        errors = self._schedules_into(fields, request.get("schedules") or {})
        to_store: dict[str, dict[str, str]] = {}
        for side in ("source", "target"):
            errors += self._side_into(fields, to_store, side, request, existing)
        if errors:
            raise InvalidInput(errors)
        try:
            return ConnectorConfig.model_validate(fields), to_store
        except ValidationError as exc:
            schedule_field = {v: f"schedules.{k}" for k, v in SCHEDULE_FIELDS.items()}
            raise InvalidInput(
                [
                    {**e, "field": schedule_field.get(e["field"], e["field"])}
                    for e in _field_errors(exc, prefix=None)
                ]
            ) from None

    @staticmethod
    def _schedules_into(fields: dict[str, Any], schedules: dict[str, Any]) -> list[dict[str, str]]:
        errors = []
        for run, expression in schedules.items():
            if run not in SCHEDULE_FIELDS:
                reason = f"not a run: one of {', '.join(SCHEDULE_FIELDS)}"
                errors.append({"field": f"schedules.{run}", "reason": reason})
            elif expression:
                fields[SCHEDULE_FIELDS[run]] = expression
        return errors

    def _side_into(
        self,
        fields: dict[str, Any],
        to_store: dict[str, dict[str, str]],
        side: Literal["source", "target"],
        request: dict[str, Any],
        existing: ConnectorConfig | None,
    ) -> list[dict[str, str]]:
        value = request.get(side)
        if not isinstance(value, dict) or not value.get("system"):
            return [{"field": f"{side}.system", "reason": "required: the partner system of this side"}]
        if REGISTRY.side_config_spec(side, value["system"]) is None:
            known = ", ".join(sorted(s.system for s in REGISTRY if s.side(side) is not None))
            return [
                {
                    "field": f"{side}.system",
                    "reason": f"{value['system']!r} cannot be a {side}: one of {known}",
                }
            ]
        before = None
        if existing is not None and getattr(existing, side).system == value["system"]:
            before = getattr(existing, side).model_dump()
        given = (request.get("credentials") or {}).get(side)
        prepared = self.credentials.prepare(fields["connector_id"], side, value, given, before)
        errors = list(prepared.errors)
        to_store.update(prepared.to_store)
        try:
            fields[side] = REGISTRY.side_config(side, prepared.config)
        except ValidationError as exc:
            errors.extend(_field_errors(exc, prefix=side))
        except ValueError as exc:
            errors.append({"field": side, "reason": str(exc)})
        return errors

    def _store_secrets(self, secrets: dict[str, dict[str, str]]) -> None:
        for name, content in secrets.items():
            self.credentials.store(name, content)

    # -- state changes ------------------------------------------------------------------------------------

    def start(self, connector_id: str) -> ConnectorConfig:
        """Enable the schedules, clear the failing streak, and send the work held while paused."""
        config, _ = self.get(connector_id)
        config = config.model_copy(update={"status": ConnectorStatus.ACTIVE, "paused_reason": None})
        self.connectors.put(config)
        self.connectors.reset_failing_streak(connector_id)
        self.schedules.set_enabled(config, True)
        return config

    def pause(self, connector_id: str, *, reason: str) -> ConnectorConfig:
        config, _ = self.get(connector_id)
        config = config.model_copy(update={"status": ConnectorStatus.PAUSED, "paused_reason": reason})
        self.connectors.put(config)
        self.schedules.set_enabled(config, False)
        return config

    def delete(self, connector_id: str) -> list[str]:
        """Remove the connector (409 while a run holds a lease). Returns the secrets it scheduled for
        deletion."""
        config, _ = self.get(connector_id)
        busy = [name for name in LEASE_NAMES if self.leases.held(connector_id, name)]
        if busy:
            raise Conflict(
                f"connector '{connector_id}' has a {busy[0]} run in progress; delete it when it ends"
            )
        self.schedules.delete_all(connector_id)
        names = secret_names(config.source, "source") + secret_names(config.target, "target")
        deleted = self.credentials.schedule_deletion(connector_id, names, self.secret_recovery_days)
        self.connectors.delete(connector_id)
        return deleted

    def run_now(self, connector_id: str, kind: str | None) -> dict[str, Any]:
        """Invoke the run's function asynchronously with its schedule's input (409 while that kind of run
        holds the lease or the connector is paused)."""
        config, _ = self.get(connector_id)
        runs = REGISTRY.scheduled_runs(config)
        if not runs:
            raise InvalidInput(
                [{"field": "kind", "reason": "this connector has no scheduled runs: it works on webhooks"}]
            )
        kind = kind or runs[0]
        if kind not in runs:
            raise InvalidInput([{"field": "kind", "reason": f"this connector's runs are: {', '.join(runs)}"}])
        if not config.active:
            raise Conflict(f"connector '{connector_id}' is paused; start it first")
        if self.leases.held(connector_id, kind):
            raise Conflict(f"a {kind} run of connector '{connector_id}' is in progress")
        function = self.run_functions.get(kind)
        if not function:
            raise ConfigurationError(f"no function is configured for {kind} runs")
        (self.invoker or lambda_client()).invoke(
            FunctionName=function,
            InvocationType="Event",
            Payload=json.dumps({"connector_id": connector_id}).encode(),
        )
        return {
            "connector_id": connector_id,
            "kind": kind,
            "function": function,
            "requested_at": iso(utc_now()),
        }

    @classmethod
    def from_environment(cls, table: Any) -> ControlPlane:
        from .schedules import ScheduleTargets

        env = dict(os.environ)
        targets = ScheduleTargets.from_environment(env)
        return cls(
            connectors=ConnectorStore(table),
            schedules=ConnectorSchedules(targets),
            credentials=ConnectorCredentials(env.get("STAGE", "dev")),
            leases=Leases(table),
            held=HeldWork(table),
            dead_letters=DeadLetters(table),
            run_functions=targets.functions,
            secret_recovery_days=int(env.get("SECRET_RECOVERY_DAYS", "7")),
        )


def _field_errors(exc: ValidationError, *, prefix: str | None) -> list[dict[str, str]]:
    """One error per field: a dotted path and pydantic's message."""
    answer = []
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"])
        field = ".".join(p for p in (prefix, path) if p) or (prefix or "body")
        message = error["msg"].removeprefix("Value error, ")
        answer.append({"field": field, "reason": message})
    return answer or [{"field": prefix or "body", "reason": validation_reason(exc)}]
