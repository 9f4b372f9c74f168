"""The management API's logic: one object per container with the control plane and the read side, and the
connector view the API returns (configuration, schedules, credentials stored or not, health)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..connector import ConnectorConfig
from ..partners.registry import REGISTRY
from ..settings import settings
from ..storage.dead_letters import DeadLetter
from ..storage.objects import DocumentBucket
from ..storage.state import ConnectorHealth
from ..storage.table import state_table
from .history import ConnectorHistory, dead_letter_view
from .plane import ControlPlane
from .schedules import schedule_name


@dataclass
class Management:
    plane: ControlPlane
    history: ConnectorHistory

    def connector_view(
        self, config: ConnectorConfig, health: ConnectorHealth, *, full: bool = True
    ) -> dict[str, Any]:
        """What the API shows of a connector. Secret fields show the secret's name, never its content.
        `full`: with the live schedule states and credential checks (one connector's page), else the
        configuration's (the list: no scheduler/Secrets Manager call per connector)."""
        cid = config.connector_id
        if full:
            schedules = [view.to_dict() for view in self.plane.schedules.describe(config)]
            credentials = self.plane.credentials.status(
                config.source, "source"
            ) + self.plane.credentials.status(config.target, "target")
        else:
            state = "ENABLED" if config.active else "DISABLED"
            schedules = [
                {
                    "run": run,
                    "name": schedule_name(cid, run),
                    "expression": config.schedule_of(run),
                    "timezone": config.timezone,
                    "state": state,
                }
                for run in REGISTRY.scheduled_runs(config)
            ]
            credentials = []
        last_run = health.last_run
        return {
            "connector_id": cid,
            "name": config.name,
            "status": config.status.value,
            "paused_reason": config.paused_reason,
            "source": config.source.model_dump(mode="json"),
            "target": config.target.model_dump(mode="json"),
            "schedules": schedules,
            "timezone": config.timezone,
            "failure_limit": config.failure_limit,
            "flows": [flow.name for flow in REGISTRY.flows(config)],
            "credentials": credentials,
            "health": {
                "last_run": last_run,
                "last_success_at": health.last_success_at,
                "failing_streak": health.failing_streak,
                "documents_waiting": self.history.documents_waiting(cid),
                **self.history.counts(cid),
            },
            "created_at": health.created_at,
            "updated_at": health.updated_at,
        }

    def connectors(self) -> list[dict[str, Any]]:
        return [self.connector_view(c, h, full=False) for c, h in self.plane.connectors.list_with_health()]

    def connector(self, connector_id: str) -> dict[str, Any]:
        config, health = self.plane.get(connector_id)
        return self.connector_view(config, health)

    def release_held(self, connector_id: str) -> int:
        """Send the work held while the connector was paused back to the delivery queue."""
        from ..pipeline.held import release_held
        from ..pipeline.services import services

        return release_held(services(), connector_id)

    @staticmethod
    def dead_letter_view(letter: DeadLetter) -> dict[str, Any]:
        return dead_letter_view(letter)


@lru_cache(maxsize=1)
def management() -> Management:
    """The container's management logic (lazy: importing the handler touches nothing)."""
    env = settings()
    table = state_table(env.table_name)
    return Management(
        plane=ControlPlane.from_environment(table),
        history=ConnectorHistory(
            table,
            DocumentBucket(env.bucket_name),
            dead_letter_queue_url=os.environ.get("DELIVERY_DEAD_LETTER_QUEUE_URL"),
            delivery_queue_url=env.delivery_queue_url,
        ),
    )
