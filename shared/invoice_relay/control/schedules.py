"""A connector's EventBridge Scheduler schedules: one per scheduled run it needs (poll, export, catalog,
bundle), in the stage's schedule group, named `<connector id>--<run>`.

Each schedule invokes the run's function with the input a run expects (`{"connector_id": ...}`), through
the template's scheduler role, with its retry policy and dead-letter queue. The schedules follow the
connector: `sync` creates, updates and deletes them from the connector's own schedule fields and time zone
(the runs it needs come from the partner registry); they are ENABLED while the connector is active and
DISABLED while it is paused; `delete_all` removes them with the connector.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import boto3

from ..connector import ConnectorConfig
from ..errors import ConfigurationError
from ..partners.registry import REGISTRY, RunKind

MAX_NAME = 64  # EventBridge Scheduler's limit on a schedule name
RUN_KINDS: tuple[RunKind, ...] = ("poll", "export", "catalog", "bundle")


@lru_cache(maxsize=1)
def scheduler_client() -> Any:
    return boto3.client("scheduler")


def schedule_name(connector_id: str, run: str) -> str:
    """`<connector id>--<run>`; a connector id too long for the limit is shortened with a hash of it."""
    name = f"{connector_id}--{run}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(connector_id.encode()).hexdigest()[:8]
    return f"{connector_id[: MAX_NAME - len(run) - 12]}-{digest}--{run}"


@dataclass(frozen=True)
class ScheduleTargets:
    """Where the schedules point: the function of each run kind, the role and the dead-letter queue."""

    group: str
    role_arn: str
    dead_letter_arn: str
    functions: dict[str, str]  # run kind → function ARN

    @classmethod
    def from_environment(cls, env: Mapping[str, str], *, group_only: bool = False) -> ScheduleTargets:
        """From the function's environment (template.yaml). `group_only`: a scheduled function's, which
        has the group (to disable its connector's schedules) but not the other functions' ARNs."""
        needed = (
            ("SCHEDULE_GROUP",)
            if group_only
            else ("SCHEDULE_GROUP", "SCHEDULER_ROLE_ARN", "SCHEDULE_DEAD_LETTER_QUEUE_ARN")
        )
        missing = [name for name in needed if not env.get(name)]
        if missing:
            raise ConfigurationError(f"schedules cannot be managed: {', '.join(missing)} not set")
        functions = {
            "poll": env.get("POLL_FUNCTION_ARN", ""),
            "export": env.get("EXPORT_FUNCTION_ARN", ""),
            "catalog": env.get("CATALOG_SYNC_FUNCTION_ARN", ""),
            "bundle": env.get("BUNDLE_FUNCTION_ARN", ""),
        }
        return cls(
            env["SCHEDULE_GROUP"],
            env.get("SCHEDULER_ROLE_ARN", ""),
            env.get("SCHEDULE_DEAD_LETTER_QUEUE_ARN", ""),
            {run: arn for run, arn in functions.items() if arn},
        )


@dataclass(frozen=True)
class ScheduleView:
    run: str
    name: str
    expression: str
    timezone: str
    state: str  # ENABLED | DISABLED | missing

    def to_dict(self) -> dict[str, str]:
        return {
            "run": self.run,
            "name": self.name,
            "expression": self.expression,
            "timezone": self.timezone,
            "state": self.state,
        }


class ConnectorSchedules:
    def __init__(self, targets: ScheduleTargets, client: Any | None = None):
        self.targets = targets
        self._client = client or scheduler_client()

    def runs(self, config: ConnectorConfig) -> list[RunKind]:
        """The scheduled runs the connector needs (from what its partners can do)."""
        return REGISTRY.scheduled_runs(config)

    def sync(self, config: ConnectorConfig) -> list[ScheduleView]:
        """Make the connector's schedules match its configuration: create or update one per run it needs
        (ENABLED if the connector is active), delete the others."""
        wanted = self.runs(config)
        for run in wanted:
            self._put(config, run)
        for run in RUN_KINDS:
            if run not in wanted:
                self._delete(schedule_name(config.connector_id, run))
        return self.describe(config)

    def set_enabled(self, config: ConnectorConfig, enabled: bool) -> None:
        """Enable (start) or disable (pause) every schedule of the connector, creating any missing one."""
        for run in self.runs(config):
            self._put(config, run, state="ENABLED" if enabled else "DISABLED")

    def disable_existing(self, connector_id: str) -> int:
        """Disable the connector's schedules as they are (the auto-pause of a scheduled run, which knows
        the group but not the other functions). Returns how many were enabled."""
        disabled = 0
        for run in RUN_KINDS:
            found = self._get(schedule_name(connector_id, run))
            if not found or found.get("State") != "ENABLED":
                continue
            keep = (
                "Name",
                "GroupName",
                "ScheduleExpression",
                "ScheduleExpressionTimezone",
                "Description",
                "FlexibleTimeWindow",
                "Target",
                "StartDate",
                "EndDate",
                "KmsKeyArn",
                "ActionAfterCompletion",
            )
            self._client.update_schedule(**{k: found[k] for k in keep if k in found}, State="DISABLED")
            disabled += 1
        return disabled

    def delete_all(self, connector_id: str) -> None:
        for run in RUN_KINDS:
            self._delete(schedule_name(connector_id, run))

    def describe(self, config: ConnectorConfig) -> list[ScheduleView]:
        """Each run's schedule as the scheduler has it (`missing` when it does not exist)."""
        views = []
        for run in self.runs(config):
            name = schedule_name(config.connector_id, run)
            found = self._get(name)
            views.append(
                ScheduleView(
                    run,
                    name,
                    found.get("ScheduleExpression", config.schedule_of(run))
                    if found
                    else config.schedule_of(run),
                    found.get("ScheduleExpressionTimezone", config.timezone) if found else config.timezone,
                    found.get("State", "missing") if found else "missing",
                )
            )
        return views

    # -- the scheduler's API ------------------------------------------------------------------------------

    def _put(self, config: ConnectorConfig, run: RunKind, state: str | None = None) -> None:
        function_arn = self.targets.functions.get(run)
        if not function_arn:
            raise ConfigurationError(f"no function is configured for {run} runs")
        name = schedule_name(config.connector_id, run)
        request: dict[str, Any] = {
            "Name": name,
            "GroupName": self.targets.group,
            "ScheduleExpression": config.schedule_of(run),
            "ScheduleExpressionTimezone": config.timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": state or ("ENABLED" if config.active else "DISABLED"),
            "Description": f"{run} run of connector {config.connector_id} ({config.name})"[:512],
            "Target": {
                "Arn": function_arn,
                "RoleArn": self.targets.role_arn,
                "Input": json.dumps({"connector_id": config.connector_id}),
                "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
                "DeadLetterConfig": {"Arn": self.targets.dead_letter_arn},
            },
        }
        try:
            self._client.update_schedule(**request)
        except self._client.exceptions.ResourceNotFoundException:
            self._client.create_schedule(**request)

    def _get(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self._client.get_schedule(Name=name, GroupName=self.targets.group))
        except self._client.exceptions.ResourceNotFoundException:
            return None

    def _delete(self, name: str) -> None:
        with contextlib.suppress(self._client.exceptions.ResourceNotFoundException):
            self._client.delete_schedule(Name=name, GroupName=self.targets.group)
