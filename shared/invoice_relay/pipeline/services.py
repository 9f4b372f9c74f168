"""Everything the flows talk to, built once per Lambda container (tests build their own or swap parts).

Every data-access object of the state table is here with its real type, and the partner registry: flows
reach partners only through `open(config, CAPABILITY)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from ..connector import ConnectorConfig
from ..partners.capabilities import Capability
from ..partners.context import PartnerContext
from ..partners.registry import REGISTRY, PartnerRegistry
from ..settings import Settings, settings
from ..storage.held import HeldWork
from ..storage.objects import DocumentBucket
from ..storage.runs import RunHistory, RunLog
from ..storage.state import (
    BundleLedger,
    ConnectorStore,
    CrossReferences,
    CursorStore,
    DocumentStates,
    Leases,
    OAuthStates,
)
from ..storage.table import state_table
from ..storage.webhooks import WebhookDeliveries
from .queue import DeliveryQueue

T = TypeVar("T")


@dataclass
class Services:
    settings: Settings
    table: Any  # the boto3 DynamoDB Table resource of the state table
    connectors: ConnectorStore
    cursors: CursorStore
    leases: Leases
    documents: DocumentStates
    xrefs: CrossReferences
    history: RunHistory
    bucket: DocumentBucket
    webhook_deliveries: WebhookDeliveries
    bundles: BundleLedger
    oauth_states: OAuthStates
    held: HeldWork
    queue: DeliveryQueue
    partners: PartnerRegistry = field(default=REGISTRY)
    secrets_client: Any = None  # Secrets Manager client for written secrets (OAuth tokens); None: default

    @classmethod
    def from_settings(cls, env: Settings) -> Services:
        table = state_table(env.table_name)
        return cls(
            settings=env,
            table=table,
            connectors=ConnectorStore(table),
            cursors=CursorStore(table),
            leases=Leases(table),
            documents=DocumentStates(table),
            xrefs=CrossReferences(table),
            history=RunHistory(table),
            bucket=DocumentBucket(env.bucket_name),
            webhook_deliveries=WebhookDeliveries(table),
            bundles=BundleLedger(table),
            oauth_states=OAuthStates(table),
            held=HeldWork(table),
            queue=DeliveryQueue(env.delivery_queue_url),
        )

    def run_log(self, connector_id: str, kind: str) -> RunLog:
        """A new run of `kind` for the connector (not started yet)."""
        return RunLog(self.table, connector_id, kind, self.settings.run_log_ttl_days)

    def context(self, connector_id: str) -> PartnerContext:
        """What a partner adapter of this connector may use."""
        return PartnerContext(
            connector_id=connector_id,
            leases=self.leases,
            bucket=self.bucket,
            secret_cache_seconds=self.settings.secret_cache_seconds,
            secrets_client=self.secrets_client,
        )

    def open(self, config: ConnectorConfig, capability: Capability[T]) -> T:
        """The connector's object with `capability` (ConfigurationError when it has none)."""
        return self.partners.open(config, capability, self.context(config.connector_id))


@lru_cache(maxsize=1)
def services() -> Services:
    """The container-wide services (lazy: importing a handler has no side effects)."""
    return Services.from_settings(settings())
