"""A connector's credentials: accepted write-only, stored in Secrets Manager, never returned or logged.

A partner's configuration names its secrets (fields declared with `partners.spec.secret_name`); the
control plane chooses those names itself — `invoice-relay/<stage>/connectors/<connector id>/<side>/<field>`,
under the prefix the functions may read — and stores what a person types in as the secret's content.
Deleting a connector schedules the secrets under its own prefix for deletion with a recovery window
(secrets named by hand, possibly shared, are left alone).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import boto3

from ..partners.registry import REGISTRY
from ..partners.spec import secret_fields


@lru_cache(maxsize=1)
def secrets_client() -> Any:
    return boto3.client("secretsmanager")


@dataclass
class PreparedSide:
    """A side's configuration with its secret names filled in, and the secrets to store for it."""

    config: dict[str, Any]
    to_store: dict[str, dict[str, str]]  # secret name → content
    errors: list[dict[str, str]]


class ConnectorCredentials:
    def __init__(self, stage: str, client: Any | None = None):
        self.stage = stage
        self._client = client or secrets_client()

    def prefix(self, connector_id: str) -> str:
        return f"invoice-relay/{self.stage}/connectors/{connector_id}/"

    def name(self, connector_id: str, side: str, field: str) -> str:
        return f"{self.prefix(connector_id)}{side}/{field}"

    def prepare(
        self,
        connector_id: str,
        side: str,
        value: dict[str, Any],
        given: dict[str, Any] | None,
        existing: dict[str, Any] | None,
    ) -> PreparedSide:
        """Fill in the side's secret names (the existing connector's, or new ones) and check the
        credentials given for it. Errors name the field and say what is expected, never a value."""
        config = dict(value)
        errors: list[dict[str, str]] = []
        to_store: dict[str, dict[str, str]] = {}
        given = dict(given or {})
        side_spec = REGISTRY.side_config_spec(side, config.get("system"))
        fields = secret_fields(side_spec.config) if side_spec else {}
        for field in given:
            if field not in fields:
                errors.append(
                    {
                        "field": f"credentials.{side}.{field}",
                        "reason": f"not a credential of this {side}"
                        + (f"; its credentials are: {', '.join(fields)}" if fields else "; it takes none"),
                    }
                )
        for field, mark in fields.items():
            name = config.get(field) or (existing or {}).get(field)
            content = given.get(field)
            if content is not None:
                if mark["written_by"]:
                    errors.append(
                        {
                            "field": f"credentials.{side}.{field}",
                            "reason": f"written by {mark['written_by']}, not typed in",
                        }
                    )
                    continue
                problem = _check_content(content, mark)
                if problem:
                    errors.append({"field": f"credentials.{side}.{field}", "reason": problem})
                    continue
                name = name or self.name(connector_id, side, field)
                to_store[name] = {k: str(v) for k, v in content.items()}
            elif not name and (mark["required"]):
                name = self.name(connector_id, side, field)
            if name:
                config[field] = name
        return PreparedSide(config, to_store, errors)

    def store(self, name: str, content: dict[str, str]) -> None:
        body = json.dumps(content)
        try:
            self._client.put_secret_value(SecretId=name, SecretString=body)
        except self._client.exceptions.ResourceNotFoundException:
            self._client.create_secret(
                Name=name, SecretString=body, Description="Invoice Relay connector credentials"
            )
        except self._client.exceptions.InvalidRequestException:
            # Scheduled for deletion (a connector deleted and created again): bring it back, then write.
            self._client.restore_secret(SecretId=name)
            self._client.put_secret_value(SecretId=name, SecretString=body)

    def stored(self, name: str) -> bool:
        try:
            described = self._client.describe_secret(SecretId=name)
        except self._client.exceptions.ResourceNotFoundException:
            return False
        return "DeletedDate" not in described

    def status(self, config_side: Any, side: str) -> list[dict[str, Any]]:
        """For each secret of the side: its field, whether it is stored (never its content)."""
        side_spec = REGISTRY.side_config_spec(side, config_side.system)
        fields = secret_fields(side_spec.config) if side_spec else {}
        answer = []
        for field, mark in fields.items():
            name = getattr(config_side, field, None)
            answer.append(
                {
                    "side": side,
                    "field": field,
                    "stored": bool(name) and self.stored(name),
                    "written_by": mark["written_by"],
                }
            )
        return answer

    def schedule_deletion(self, connector_id: str, names: list[str], recovery_days: int) -> list[str]:
        """Schedule the connector's own secrets for deletion (recoverable for `recovery_days`)."""
        deleted = []
        for name in names:
            if not name.startswith(self.prefix(connector_id)):
                continue
            try:
                self._client.delete_secret(SecretId=name, RecoveryWindowInDays=recovery_days)
                deleted.append(name)
            except (
                self._client.exceptions.ResourceNotFoundException,
                self._client.exceptions.InvalidRequestException,  # already scheduled
            ):
                pass
        return deleted


def _check_content(content: Any, mark: dict[str, Any]) -> str | None:
    """Why the content does not fit the secret (which keys it needs), or None."""
    if not isinstance(content, dict) or not all(isinstance(v, str) and v for v in content.values()):
        return "an object of non-empty text values"
    accepted = [mark["keys"], *mark["alternatives"]]
    if any(set(content) == set(keys) for keys in accepted):
        return None
    return "expected the keys " + " or ".join("{" + ", ".join(keys) + "}" for keys in accepted)


def secret_names(config_side: Any, side: str) -> list[str]:
    side_spec = REGISTRY.side_config_spec(side, config_side.system)
    fields = secret_fields(side_spec.config) if side_spec else {}
    return [name for field in fields if (name := getattr(config_side, field, None))]
